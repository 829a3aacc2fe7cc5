/*
 * tools: the agent's tool table (names and parameters as Cline's, so
 * that models trained on its format feel at home), its native schemas,
 * and the file tools run on the thread pool.  Owns only constant tables
 * and each job's buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/tools.h"
#include "careti/core/worker.h"
#include "careti/core/xmalloc.h"

#define REQ TOOLCALL_PARAM_REQUIRED
#define VERB TOOLCALL_PARAM_VERBATIM

static const struct toolcall_param p_read[] = {{"path", REQ}, {"start_line", 0}, {"end_line", 0}};
static const struct toolcall_param p_list[] = {{"path", REQ}, {"recursive", 0}};
static const struct toolcall_param p_search[] = {
    {"path", REQ}, {"regex", REQ}, {"file_pattern", 0}};
static const struct toolcall_param p_write[] = {{"path", REQ}, {"content", REQ | VERB}};
static const struct toolcall_param p_replace[] = {{"path", REQ}, {"diff", REQ | VERB}};
static const struct toolcall_param p_command[] = {{"command", REQ}, {"requires_approval", 0}};
static const struct toolcall_param p_ask[] = {{"question", REQ}, {"options", 0}};
static const struct toolcall_param p_completion[] = {{"result", REQ}};
static const struct toolcall_param p_plan[] = {{"response", REQ}};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct toolcall_tool table[TOOL_COUNT] = {
    [TOOL_READ_FILE] = {"read_file", p_read, N(p_read)},
    [TOOL_LIST_FILES] = {"list_files", p_list, N(p_list)},
    [TOOL_SEARCH_FILES] = {"search_files", p_search, N(p_search)},
    [TOOL_WRITE_TO_FILE] = {"write_to_file", p_write, N(p_write)},
    [TOOL_REPLACE_IN_FILE] = {"replace_in_file", p_replace, N(p_replace)},
    [TOOL_EXECUTE_COMMAND] = {"execute_command", p_command, N(p_command)},
    [TOOL_ASK_FOLLOWUP_QUESTION] = {"ask_followup_question", p_ask, N(p_ask)},
    [TOOL_ATTEMPT_COMPLETION] = {"attempt_completion", p_completion, N(p_completion)},
    [TOOL_PLAN_MODE_RESPOND] = {"plan_mode_respond", p_plan, N(p_plan)},
};

static const enum tool_category categories[TOOL_COUNT] = {
    [TOOL_READ_FILE] = TOOL_CATEGORY_READ,
    [TOOL_LIST_FILES] = TOOL_CATEGORY_READ,
    [TOOL_SEARCH_FILES] = TOOL_CATEGORY_READ,
    [TOOL_WRITE_TO_FILE] = TOOL_CATEGORY_EDIT,
    [TOOL_REPLACE_IN_FILE] = TOOL_CATEGORY_EDIT,
    [TOOL_EXECUTE_COMMAND] = TOOL_CATEGORY_COMMAND,
    [TOOL_ASK_FOLLOWUP_QUESTION] = TOOL_CATEGORY_NONE,
    [TOOL_ATTEMPT_COMPLETION] = TOOL_CATEGORY_NONE,
    [TOOL_PLAN_MODE_RESPOND] = TOOL_CATEGORY_NONE,
};

/* One line a tool for the native schemas; the prompt has the longer
 * words, and these never change. */
static const char *const summaries[TOOL_COUNT] = {
    [TOOL_READ_FILE] = "Read a file (optionally lines start_line..end_line).",
    [TOOL_LIST_FILES] = "List a directory (recursive: true for its whole tree).",
    [TOOL_SEARCH_FILES] = "Search file contents with a regular expression.",
    [TOOL_WRITE_TO_FILE] = "Create or replace a whole file.",
    [TOOL_REPLACE_IN_FILE] = "Edit a file with SEARCH/REPLACE blocks.",
    [TOOL_EXECUTE_COMMAND] = "Run a shell command in the workspace.",
    [TOOL_ASK_FOLLOWUP_QUESTION] = "Ask the user a question.",
    [TOOL_ATTEMPT_COMPLETION] = "Say the task is done, with a short result.",
    [TOOL_PLAN_MODE_RESPOND] = "Give your plan.",
};

int
agent_tool_find(const char *name)
{
    for (int i = 0; i < TOOL_COUNT; i++)
        if (name != NULL && strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

const char *
agent_tool_name(enum agent_tool tool)
{
    return table[tool].name;
}

enum tool_category
agent_tool_category(enum agent_tool tool)
{
    return categories[tool];
}

const char *
agent_tool_category_name(enum tool_category c)
{
    static const char *const names[] = {"read", "edit", "command", "none"};
    return names[c];
}

const struct toolcall_tool *
agent_tools_for_parser(size_t *n)
{
    *n = TOOL_COUNT;
    return table;
}

static bool
param_is_bool(const char *name)
{
    return strcmp(name, "recursive") == 0 || strcmp(name, "requires_approval") == 0;
}

json_t *
agent_tools_schemas(enum agent_mode mode)
{
    json_t *tools = json_array();
    for (int i = 0; i < TOOL_COUNT; i++) {
        if (!agent_tool_offered(mode, table[i].name))
            continue;
        json_t *props = json_object();
        json_t *required = json_array();
        for (size_t k = 0; k < table[i].n_params; k++) {
            const struct toolcall_param *p = &table[i].params[k];
            const char *type = param_is_bool(p->name)                  ? "boolean"
                               : strstr(p->name, "_line") != NULL       ? "integer"
                               : strcmp(p->name, "options") == 0        ? "array"
                                                                        : "string";
            json_t *prop = json_pack("{s:s}", "type", type);
            if (strcmp(type, "array") == 0)
                json_object_set_new(prop, "items", json_pack("{s:s}", "type", "string"));
            json_object_set_new(props, p->name, prop);
            if (p->flags & REQ)
                json_array_append_new(required, json_string(p->name));
        }
        json_array_append_new(
            tools, json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:o, s:o}}}", "type", "function",
                             "function", "name", table[i].name, "description", summaries[i],
                             "parameters", "type", "object", "properties", props, "required",
                             required));
    }
    return tools;
}

const char *
agent_tool_arg(const json_t *args, const char *name, char *buf, size_t buflen)
{
    json_t *v = json_object_get(args, name);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v)) {
        snprintf(buf, buflen, "%s", json_is_true(v) ? "true" : "false");
        return buf;
    }
    if (json_is_integer(v)) {
        snprintf(buf, buflen, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

bool
agent_tool_args_ok(enum agent_tool tool, const json_t *args, char *why, size_t whylen)
{
    for (size_t k = 0; k < table[tool].n_params; k++) {
        const struct toolcall_param *p = &table[tool].params[k];
        char b[32];
        if ((p->flags & REQ) && agent_tool_arg(args, p->name, b, sizeof b) == NULL) {
            snprintf(why, whylen, "%s needs the parameter <%s>; call it again with it",
                     table[tool].name, p->name);
            return false;
        }
    }
    return true;
}

static bool
arg_true(const json_t *args, const char *name)
{
    char b[8];
    const char *v = agent_tool_arg(args, name, b, sizeof b);
    return v != NULL && strcmp(v, "true") == 0;
}

static long
arg_long(const json_t *args, const char *name)
{
    char b[32];
    const char *v = agent_tool_arg(args, name, b, sizeof b);
    return v ? strtol(v, NULL, 10) : 0;
}

static void
on_tool_work(uv_work_t *w)
{
    worker_background();
    struct tool_job *j = w->data;
    const json_t *a = j->args;
    char b[32];
    const char *path = agent_tool_arg(a, "path", b, sizeof b);
    switch (j->tool) {
    case TOOL_READ_FILE:
        j->rc = file_tools_read(j->ws, path, arg_long(a, "start_line"), arg_long(a, "end_line"),
                                &j->out);
        return;
    case TOOL_LIST_FILES:
        j->rc = file_tools_list(j->ws, path, arg_true(a, "recursive"), &j->out);
        return;
    case TOOL_SEARCH_FILES: {
        char rb[32], gb[32];
        j->rc = file_tools_search(j->ws, path, agent_tool_arg(a, "regex", rb, sizeof rb),
                                  agent_tool_arg(a, "file_pattern", gb, sizeof gb), &j->out);
        return;
    }
    case TOOL_WRITE_TO_FILE:
    case TOOL_REPLACE_IN_FILE:
        if (!j->apply_only) {
            /* A number or a boolean (native calls) is written as its text,
             * as the model would have written it in the text form. */
            char tb[32];
            const char *text = agent_tool_arg(a, j->tool == TOOL_WRITE_TO_FILE ? "content" : "diff",
                                              tb, sizeof tb);
            if (text == NULL)
                text = "";
            j->rc = j->tool == TOOL_WRITE_TO_FILE
                        ? file_tools_prepare_write(j->ws, path, text, strlen(text), &j->edit,
                                                   &j->out)
                        : file_tools_prepare_replace(j->ws, path, text, &j->edit, &j->out);
            if (j->rc != 0 || j->prepare_only)
                return;
        }
        j->rc = file_tools_apply(j->ws, j->edit, &j->out);
        return;
    default:
        j->rc = -EINVAL;
        sbuf_adds(&j->out, "not a file tool");
        return;
    }
}

static void
on_tool_done(uv_work_t *w, int status)
{
    struct tool_job *j = w->data;
    if (status != 0 && j->rc == 0) {
        j->rc = status;
        sbuf_adds(&j->out, "the tool could not run");
    }
    j->cb(j);
}

int
tool_job_queue(uv_loop_t *loop, struct tool_job *job)
{
    job->work.data = job;
    return uv_queue_work(loop, &job->work, on_tool_work, on_tool_done);
}

void
tool_job_free(struct tool_job *job)
{
    if (job == NULL)
        return;
    json_decref(job->args);
    file_tools_edit_free(job->edit);
    sbuf_free(&job->out);
    free(job);
}
