/*
 * agent_loop: the coding agent's steps inside the turn engine.  A step
 * asks the model (through turn.c), stops it at the first complete tool
 * call, stores the step, runs the tool under the approval policy (a file
 * tool on the thread pool, a command through command.c), stores the
 * result and asks again, until the model completes the task, asks the
 * user, or a limit is reached.  Every step and result is committed before
 * what follows it is told.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "careti/agent/context.h"
#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/xmalloc.h"
#include "careti/core/worker.h"
#include "turn_int.h"

/* TEXT (LEN bytes) as a JSON string; bytes that are not UTF-8 become '?'
 * (a command's output, a Latin-1 file), since JSON cannot carry them. */
static json_t *
json_text(const char *text, size_t len)
{
    json_t *j = json_stringn(text, len);
    if (j != NULL)
        return j;
    char *copy = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
    copy[len] = '\0';
    j = json_stringn(copy, len);
    free(copy);
    return j ? j : json_string("");
}

void
agent_tell(struct turn *t, const char *event, json_t *data)
{
    if (t->holding) {
        turn_hold(t, HELD_AGENT, event, data);
        return;
    }
    TELL(t, agent_event, event, data);
    json_decref(data);
}

static const char *
call_id(const struct turn *t)
{
    return jfield_str_or(t->call, "id", "");
}

/* The policy for CATEGORY: the session's settings.approvals, else
 * agent.approvals, as read when the turn began (or an allow_always). */
static enum approval_policy
policy_for(const struct turn *t, enum tool_category c)
{
    return c == TOOL_CATEGORY_NONE ? APPROVAL_AUTO : t->policy[c];
}

static void
init_policy(struct turn *t)
{
    json_t *given = json_object_get(json_object_get(t->session, "settings"), "approvals");
    for (int c = 0; c < APPROVAL_CATEGORIES; c++) {
        t->policy[c] = t->env->cfg->agent.approvals[c];
        int p = config_approval_policy_parse(
            jfield_str(given, config_approval_category_name((enum approval_category)c)));
        if (p >= 0)
            t->policy[c] = (enum approval_policy)p;
    }
}

/* -- parsing the step's text -- */

static void
on_parser_event(void *arg, const struct toolcall_event *ev)
{
    struct turn *t = arg;
    switch (ev->kind) {
    case TOOLCALL_EV_TEXT: {
        sbuf_add(&t->content, ev->text, ev->len);
        json_t *piece = json_text(ev->text, ev->len);
        TELL_TEXT(t, delta, HELD_DELTA, json_string_value(piece));
        json_decref(piece);
        return;
    }
    case TOOLCALL_EV_THINKING: {
        sbuf_add(&t->thinking, ev->text, ev->len);
        json_t *piece = json_text(ev->text, ev->len);
        TELL_TEXT(t, thinking, HELD_THINKING, json_string_value(piece));
        json_decref(piece);
        return;
    }
    case TOOLCALL_EV_CALL: {
        sbuf_add(&t->content, ev->text, ev->len);
        char id[40];
        snprintf(id, sizeof id, "call_%lld", (long long)t->reply_id);
        t->call =
            json_pack("{s:s, s:s, s:O}", "id", id, "name", ev->name, "arguments", ev->arguments);
        agent_call_found(t);
        return;
    }
    case TOOLCALL_EV_ERROR:
        /* A call cut for its size is kept as its head: whole, it would
         * leave no room in the window to tell the model what was wrong. */
        if (ev->len > AGENT_BAD_CALL_KEPT) {
            size_t kept = AGENT_BAD_CALL_KEPT;
            while (kept > 0 && ((unsigned char)ev->text[kept] & 0xC0) == 0x80)
                kept--; /* never half a UTF-8 character */
            sbuf_add(&t->content, ev->text, kept);
            sbuf_addf(&t->content, "\n[... %zu more bytes of this call left out]", ev->len - kept);
        } else {
            sbuf_add(&t->content, ev->text, ev->len);
        }
        t->call_error = xstrdup(ev->error);
        agent_call_found(t);
        return;
    }
}

static void
on_kick(uv_timer_t *timer)
{
    struct turn *t = timer->data;
    if (t->stream == NULL)
        return;
    model_stream_cancel(t->stream);
    t->stream = NULL;
    agent_step_done(t);
}

/* The step has its call (or a malformed one): the model is stopped from
 * the loop, not from inside the stream's own callback. */
void
agent_call_found(struct turn *t)
{
    t->step_over = true;
    if (t->call != NULL) {
        json_array_append(t->tool_calls, t->call);
        TELL_JSON(t, tool_call, HELD_TOOL_CALL, t->call);
    }
    if (!t->kick_started) {
        uv_timer_init(t->env->loop, &t->kick);
        t->kick.data = t;
        t->kick_started = true;
    }
    uv_timer_start(&t->kick, on_kick, 0, 0);
}

/* -- the request -- */

json_t *
agent_request(struct turn *t, char *why, size_t whylen)
{
    json_t *settings = json_object_get(t->session, "settings");
    json_int_t window = turn_window(t);
    const char *prompt = agent_prompt(t->mode, t->native);
    const char *extra = jfield_str(settings, "system");
    struct sbuf system = {0};
    sbuf_adds(&system, prompt);
    if (extra != NULL && *extra != '\0')
        sbuf_addf(&system, "\n%s\n", extra);
    int64_t budget = context_budget(window);
    struct history_plan plan;
    json_int_t user_id = json_integer_value(json_object_get(t->user_message, "id"));
    json_t *messages =
        history_messages(t->history, system.s, t->native, user_id, budget, &t->trim, &plan);
    sbuf_free(&system);
    if (plan.trimmed) {
        json_t *info =
            json_pack("{s:I, s:I, s:I, s:I, s:I}", "dropped_messages", (json_int_t)plan.dropped,
                      "elided_results", (json_int_t)plan.elided, "tokens", (json_int_t)plan.tokens,
                      "budget", (json_int_t)budget, "context_length", window);
        TELL_JSON(t, truncated, HELD_TRUNCATED, info);
        json_decref(info);
    }
    if (!plan.fits) {
        snprintf(why, whylen,
                 "the task and the last step need %lld tokens but the model's window leaves "
                 "%lld; raise settings.context_length or start a new session",
                 (long long)plan.tokens, (long long)budget);
        json_decref(messages);
        return NULL;
    }
    t->step_prompt_tokens = plan.tokens;
    json_t *body =
        json_pack("{s:s, s:o, s:b}", "model", t->res.name, "messages", messages, "stream", 1);
    if (json_is_object(json_object_get(settings, "options")))
        json_object_set(body, "options", json_object_get(settings, "options"));
    if (t->native)
        json_object_set_new(body, "tools", agent_tools_schemas(t->mode));
    return body;
}

/* -- a step's answer is stored -- */

static void agent_handle_call(struct turn *t);
static void agent_next(struct turn *t);
static void agent_step_reset(struct turn *t);
static void agent_store_result(struct turn *t, bool ok, const char *text, const char *summary,
                               const struct store_change *change, json_t *extra);

static void
agent_on_correction_stored(json_t *msg, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    if (err != NULL) {
        json_decref(msg);
        agent_finish(t, "error", store_error_text(t->env->store, err));
        return;
    }
    json_array_append_new(t->history, msg);
    agent_next(t);
}

/* A step without a valid call: the model is told, once a step, what went
 * wrong and how a call is written; it counts as a mistake. */
static void
agent_correct(struct turn *t, const char *what)
{
    t->mistakes++;
    struct sbuf b = {0};
    sbuf_addf(&b, "[ERROR] %s\n", what);
    if (t->native)
        sbuf_adds(&b, "Call exactly one of the tools in each message. When the task is done, "
                      "call attempt_completion; to ask the user, ask_followup_question.");
    else
        sbuf_adds(&b, "Use exactly one tool in each message, written as XML, for example:\n"
                      "<read_file>\n<path>src/main.c</path>\n</read_file>\n"
                      "When the task is done, use attempt_completion; to ask the user, "
                      "ask_followup_question.");
    if (t->mistakes >= AGENT_MISTAKES_MAX) {
        snprintf(t->reason, sizeof t->reason, "%d mistakes in a row; the last: %s", t->mistakes,
                 what);
        t->stop_reason = "needs_user";
    }
    json_t *msg =
        json_pack("{s:s, s:s, s:{s:b}}", "role", "user", "content", b.s, "agent", "correction", 1);
    sbuf_free(&b);
    t->state = TURN_STORING_RESULT;
    store_add_message(t->env->store, t->session_id, msg, agent_on_correction_stored, t);
    json_decref(msg);
}

static void
agent_on_step_stored(json_t *result, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    json_decref(result);
    json_t *step = t->final;
    t->final = NULL;
    if (err != NULL) {
        json_decref(step);
        agent_finish(t, "error", store_error_text(t->env->store, err));
        return;
    }
    t->reply_open = false;
    json_array_append_new(t->history, step);
    if (t->cancelled) {
        agent_finish(t, "cancelled", NULL);
        return;
    }
    if (t->call_error != NULL) {
        char what[600];
        snprintf(what, sizeof what, "Your tool call could not be read: %s.", t->call_error);
        agent_correct(t, what);
    } else if (t->call == NULL) {
        agent_correct(t, "You answered without using a tool.");
    } else {
        agent_handle_call(t);
    }
}

/* A tool runs, or an approval is awaited: not the daemon's time. */
static void
time_out(struct turn *t)
{
    t->out_since_ns = uv_hrtime();
}

static void
time_back(struct turn *t)
{
    if (t->out_since_ns != 0)
        t->excluded_ns += uv_hrtime() - t->out_since_ns;
    t->out_since_ns = 0;
}

/* Whether the step's call reads without asking: then nothing is done
 * before its result is stored, and the step goes with it. */
static bool
step_only_reads(const struct turn *t)
{
    if (t->call == NULL || t->call_error != NULL || t->cancelled)
        return false;
    int tool = agent_tool_find(jfield_str(t->call, "name"));
    return tool >= 0 && agent_tool_category((enum agent_tool)tool) == TOOL_CATEGORY_READ &&
           agent_tool_offered(t->mode, jfield_str(t->call, "name")) &&
           t->policy[TOOL_CATEGORY_READ] == APPROVAL_AUTO;
}

void
agent_step_done(struct turn *t)
{
    t->step_end_ns = uv_hrtime();
    t->excluded_ns = 0;
    t->out_since_ns = 0;
    t->state = TURN_STORING_STEP;
    if (t->timer_started)
        uv_timer_stop(&t->checkpoint);
    json_t *f = turn_reply_fields(t, "complete", NULL);
    bool estimated = !t->counts.counted;
    if (estimated) {
        int64_t made = context_estimate(t->content.s ? t->content.s : "") +
                       context_estimate(t->thinking.s ? t->thinking.s : "");
        json_object_set_new(f, "completion_tokens", json_integer(made));
        json_object_set_new(f, "tokens", json_integer(made));
        /* The session's totals count the step too, as estimated. */
        json_object_set_new(f, "prompt_tokens", json_integer(t->step_prompt_tokens));
    }
    json_object_set_new(f, "agent",
                        json_pack("{s:s, s:i, s:b}", "form",
                                  t->call != NULL && t->native &&
                                          strstr(t->content.s ? t->content.s : "", "<") == NULL
                                      ? "native"
                                      : "text",
                                  "step", t->step, "usage_estimated", estimated));
    json_t *usage = json_pack("{s:i, s:O?, s:O?, s:b}", "step", t->step, "prompt_tokens",
                              json_object_get(f, "prompt_tokens"), "completion_tokens",
                              json_object_get(f, "completion_tokens"), "estimated", estimated);
    agent_tell(t, "usage", usage);
    if (step_only_reads(t)) {
        t->pending_step = f;
        json_array_append(t->history, f);
        agent_handle_call(t);
        return;
    }
    t->final = f;
    json_incref(f);
    store_update_message(t->env->store, t->reply_id, f, agent_on_step_stored, t);
    json_decref(f);
}

/* -- results -- */

/* Tell the tool_result of MSG (the stored result, taken into the
 * history), with EXTRA's fields (taken; may be NULL). */
static void
result_told(struct turn *t, json_t *msg, json_t *extra)
{
    json_t *agent = json_object_get(msg, "agent");
    json_t *ev =
        json_pack("{s:s, s:s, s:O, s:O, s:O}", "call", call_id(t), "tool",
                  jfield_str_or(t->call, "name", ""), "ok", json_object_get(agent, "ok"), "summary",
                  json_object_get(agent, "summary"), "message_id", json_object_get(msg, "id"));
    if (json_object_get(agent, "change") != NULL) {
        json_object_set(ev, "change", json_object_get(agent, "change"));
        t->files_changed++;
    }
    if (extra != NULL)
        json_object_update_missing(ev, extra);
    json_decref(extra);
    agent_tell(t, "tool_result", ev);
    json_array_append_new(t->history, msg);
}

/* The next step's row is NEXT_ID: ask the model. */
static void
next_step_begins(struct turn *t, int64_t next_id)
{
    agent_step_reset(t);
    t->reply_id = next_id;
    t->reply_open = true;
    if (t->cancelled) {
        agent_finish(t, "cancelled", NULL);
        return;
    }
    turn_step_started(t);
}

static void
agent_on_result_stored(json_t *result, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    json_t *extra = t->final;
    t->final = NULL;
    if (err != NULL) {
        json_decref(result);
        json_decref(extra);
        agent_finish(t, "error", store_error_text(t->env->store, err));
        return;
    }
    if (t->pending_step != NULL) {
        json_decref(t->pending_step);
        t->pending_step = NULL;
        t->reply_open = false;
    }
    json_t *added = json_object_get(result, "added");
    json_t *msg = json_incref(json_array_get(added, 0));
    json_t *next = json_array_get(added, 1);
    int64_t next_id = next ? (int64_t)json_integer_value(json_object_get(next, "id")) : 0;
    json_decref(result);
    result_told(t, msg, extra);
    if (next_id == 0)
        agent_next(t);
    else
        next_step_begins(t, next_id);
}

/* The result and the next step's row are written; what the next step
 * told meanwhile can be told now. */
static void
agent_on_pipelined_stored(json_t *result, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    json_decref(result);
    if (err == NULL) {
        turn_release_held(t);
        return;
    }
    turn_drop_held(t);
    /* Streaming: stop the step that followed.  Elsewhere the turn's next
     * write fails the same way and ends it. */
    if (t->state == TURN_STREAMING && t->stream != NULL) {
        model_stream_cancel(t->stream);
        t->stream = NULL;
        agent_finish(t, "error", store_error_text(t->env->store, err));
    }
}

/* The tool's result is known and the loop goes on: the result, the step
 * it answers (when it only read) and the next step's row are written in
 * one transaction, and the next request goes out at once, without
 * waiting for the disk; what the next step tells is held until the
 * write is done (the store runs its writes in order, so every later
 * write of this turn comes after it).  MSG is taken; EXTRA too. */
static void
agent_pipeline(struct turn *t, json_t *msg, int64_t result_id, int64_t next_id, json_t *extra)
{
    json_object_set_new(msg, "id", json_integer(result_id));
    json_t *next = turn_placeholder(t);
    json_object_set_new(next, "id", json_integer(next_id));
    json_t *writes = json_pack("{s:[O, o]}", "add", msg, next);
    if (t->pending_step != NULL) {
        json_object_set_new(
            writes, "update",
            json_pack("[{s:I, s:O}]", "id", (json_int_t)t->reply_id, "fields", t->pending_step));
        json_decref(t->pending_step);
        t->pending_step = NULL;
    }
    t->holding = true;
    store_write_step(t->env->store, t->session_id, writes, NULL, agent_on_pipelined_stored, t);
    json_decref(writes);
    result_told(t, msg, extra);
    next_step_begins(t, next_id);
}

/* Store the result of the step's call: TEXT for the model, a one-line
 * SUMMARY for people, CHANGE (may be NULL) for undo, EXTRA (taken; may be
 * NULL) more fields for the tool_result event. */
static void
agent_store_result(struct turn *t, bool ok, const char *text, const char *summary,
                   const struct store_change *change, json_t *extra)
{
    json_t *content = json_text(text, strlen(text));
    json_t *sum = json_text(summary, strlen(summary));
    json_t *msg = json_pack("{s:s, s:o, s:s, s:{s:s, s:b, s:o}}", "role", "tool", "content",
                            content, "tool_call_id", call_id(t), "agent", "tool",
                            jfield_str_or(t->call, "name", ""), "ok", ok, "summary", sum);
    if (t->decision != NULL)
        json_object_set(json_object_get(msg, "agent"), "approval", t->decision);
    bool go_on = t->stop_reason == NULL && !t->cancelled && t->step < t->env->cfg->agent.max_steps;
    if (go_on && change == NULL && !t->holding) {
        int64_t rid = store_reserve_message_id(t->env->store);
        int64_t pid = rid ? store_reserve_message_id(t->env->store) : 0;
        if (pid != 0) {
            agent_pipeline(t, msg, rid, pid, extra);
            return;
        }
    }
    json_t *writes = json_pack("{s:[o]}", "add", msg);
    if (t->pending_step != NULL)
        json_object_set_new(
            writes, "update",
            json_pack("[{s:I, s:O}]", "id", (json_int_t)t->reply_id, "fields", t->pending_step));
    /* The next step's row goes in the same transaction. */
    if (t->stop_reason == NULL && !t->cancelled && t->step < t->env->cfg->agent.max_steps)
        json_array_append_new(json_object_get(writes, "add"), turn_placeholder(t));
    t->final = extra;
    t->state = TURN_STORING_RESULT;
    store_write_step(t->env->store, t->session_id, writes, change, agent_on_result_stored, t);
    json_decref(writes);
}

/* A failed call the model must fix: it counts as a mistake. */
static void
agent_fail_call(struct turn *t, const char *text, json_t *extra)
{
    t->mistakes++;
    if (t->mistakes >= AGENT_MISTAKES_MAX && t->stop_reason == NULL) {
        snprintf(t->reason, sizeof t->reason, "%d mistakes in a row; the last: %.200s", t->mistakes,
                 text);
        t->stop_reason = "needs_user";
    }
    char summary[160];
    snprintf(summary, sizeof summary, "%.150s", text);
    char *nl = strchr(summary, '\n');
    if (nl != NULL)
        *nl = '\0';
    agent_store_result(t, false, text, summary, NULL, extra);
}

/* -- file tools -- */

static void agent_ask(struct turn *t, enum tool_category category);
static void agent_run_file_tool(struct turn *t, enum agent_tool tool, bool prepare_only);

/* The first line of TEXT, cut, for a summary. */
static void
first_line(char *out, size_t outlen, const char *text)
{
    snprintf(out, outlen, "%s", text ? text : "");
    char *nl = strchr(out, '\n');
    if (nl != NULL)
        *nl = '\0';
}

static void
agent_on_tool_done(struct tool_job *job)
{
    struct turn *t = job->arg;
    t->job = NULL;
    time_back(t);
    const char *out = job->out.s ? job->out.s : "";
    char summary[200];
    if (job->rc != 0) {
        json_t *extra = NULL;
        agent_fail_call(t, out, extra); /* OUT is the job's: free it after */
        tool_job_free(job);
        return;
    }
    t->mistakes = 0;
    if (job->edit == NULL) {
        char b[32];
        const char *path =
            agent_tool_arg(json_object_get(t->call, "arguments"), "path", b, sizeof b);
        snprintf(summary, sizeof summary, "%s %s (%zu bytes)",
                 job->tool == TOOL_READ_FILE    ? "read"
                 : job->tool == TOOL_LIST_FILES ? "listed"
                                                : "searched",
                 path ? path : ".", job->out.len);
        agent_store_result(t, true, out, summary, NULL, NULL);
        tool_job_free(job);
        return;
    }
    size_t added, removed, after_len;
    file_tools_edit_counts(job->edit, &added, &removed);
    const struct workspace_file *before = file_tools_edit_before(job->edit);
    const char *after = file_tools_edit_after(job->edit, &after_len);
    struct store_change change = {
        .path = (char *)file_tools_edit_path(job->edit),
        .existed = before->exists,
        .before = before->data,
        .before_len = before->len,
        .before_mode = before->mode,
        .after = (char *)after,
        .after_len = after_len,
        .diff = (char *)file_tools_edit_diff(job->edit),
        .added = added,
        .removed = removed,
    };
    first_line(summary, sizeof summary, out);
    const char *diff = file_tools_edit_diff(job->edit);
    json_t *extra = json_pack("{s:s, s:o, s:I, s:I}", "path", change.path, "diff",
                              json_text(diff, strlen(diff)), "added", (json_int_t)added, "removed",
                              (json_int_t)removed);
    agent_store_result(t, true, out, summary, &change, extra);
    tool_job_free(job);
}

static void
agent_on_prepared(struct tool_job *job)
{
    struct turn *t = job->arg;
    time_back(t);
    if (job->rc != 0) {
        t->job = NULL;
        char *text = xstrdup(job->out.s ? job->out.s : "the edit failed");
        tool_job_free(job);
        agent_fail_call(t, text, NULL);
        free(text);
        return;
    }
    if (t->cancelled) {
        t->job = NULL;
        tool_job_free(job);
        agent_store_result(t, false, "(not written: the turn was cancelled)", "cancelled", NULL,
                           NULL);
        return;
    }
    if (policy_for(t, TOOL_CATEGORY_EDIT) == APPROVAL_ASK) {
        agent_ask(t, TOOL_CATEGORY_EDIT);
        return;
    }
    t->decision = json_pack("{s:s}", "decision", "auto");
    agent_run_file_tool(t, job->tool, false); /* T's job: its edit is written */
}

/* Run TOOL's job (T's, when an edit was prepared: then it is written). */
static void
agent_run_file_tool(struct turn *t, enum agent_tool tool, bool prepare_only)
{
    struct tool_job *job = t->job ? t->job : xcalloc(1, sizeof *job);
    if (t->job == NULL) {
        job->ws = t->ws;
        job->tool = tool;
        job->args = json_incref(json_object_get(t->call, "arguments"));
        job->arg = t;
    }
    job->prepare_only = prepare_only;
    job->apply_only = job->edit != NULL;
    job->cb = prepare_only ? agent_on_prepared : agent_on_tool_done;
    t->job = job;
    t->state = TURN_RUNNING_TOOL;
    time_out(t);
    if (tool_job_queue(t->env->loop, job) != 0) {
        t->job = NULL;
        tool_job_free(job);
        agent_fail_call(t, "the tool could not be queued", NULL);
    }
}

/* -- commands -- */

static void
on_command_output(struct command *cmd, const char *data, size_t len, void *arg)
{
    (void)cmd;
    struct turn *t = arg;
    if (t->output_streamed >= AGENT_OUTPUT_STREAM_MAX)
        return;
    t->output_streamed += len;
    agent_tell(t, "tool_output",
               json_pack("{s:s, s:o}", "call", call_id(t), "content", json_text(data, len)));
    if (t->output_streamed >= AGENT_OUTPUT_STREAM_MAX)
        agent_tell(t, "tool_output",
                   json_pack("{s:s, s:s}", "call", call_id(t), "content",
                             "\n[more output not shown here; the model gets its first and "
                             "last lines]\n"));
}

static void
on_command_done(struct command *cmd, const struct command_result *r, void *arg)
{
    (void)cmd;
    struct turn *t = arg;
    t->cmd = NULL;
    time_back(t);
    struct sbuf b = {0};
    char summary[160];
    if (r->timed_out)
        sbuf_addf(&b, "The command timed out after %llu s and was stopped.\n",
                  (unsigned long long)(t->env->cfg->agent.command_timeout_s));
    else if (r->cancelled)
        sbuf_adds(&b, "The command was cancelled.\n");
    else if (r->exited)
        sbuf_addf(&b, "Exit code: %d\n", r->exit_code);
    else
        sbuf_addf(&b, "Killed by signal %d\n", r->signal);
    if (r->note != NULL)
        sbuf_addf(&b, "Note: %s\n", r->note);
    sbuf_adds(&b, "Output:\n");
    if (r->output_len == 0)
        sbuf_adds(&b, "(none)\n");
    /* A NUL would end the text the model is given there. */
    for (size_t i = 0; i < r->output_len; i++)
        sbuf_add(&b, r->output[i] != '\0' ? &r->output[i] : "?", 1);
    bool ok = r->exited && r->exit_code == 0 && !r->timed_out && !r->cancelled;
    if (r->timed_out)
        snprintf(summary, sizeof summary, "timed out after %ld s (agent.command_timeout_s)",
                 t->env->cfg->agent.command_timeout_s);
    else if (r->cancelled)
        snprintf(summary, sizeof summary, "cancelled");
    else if (r->exited)
        snprintf(summary, sizeof summary, "exit %d, %llu line%s", r->exit_code,
                 (unsigned long long)r->total_lines, r->total_lines == 1 ? "" : "s");
    else
        snprintf(summary, sizeof summary, "killed by signal %d", r->signal);
    json_t *extra = json_pack("{s:b}", "sandboxed", r->sandboxed);
    if (r->exited)
        json_object_set_new(extra, "exit_code", json_integer(r->exit_code));
    if (ok)
        t->mistakes = 0;
    agent_store_result(t, ok, b.s, summary, NULL, extra);
    sbuf_free(&b);
}

static void
agent_run_command(struct turn *t)
{
    char b[32]; /* a number as a command: all its digits */
    const char *command =
        agent_tool_arg(json_object_get(t->call, "arguments"), "command", b, sizeof b);
    struct command_opts o = {
        .command = command,
        .workspace = workspace_root(t->ws),
        .timeout_ms = (uint64_t)t->env->cfg->agent.command_timeout_s * 1000,
        .sandbox = t->env->cfg->agent.sandbox ? COMMAND_SANDBOX_LANDLOCK : COMMAND_SANDBOX_OFF,
        .on_output = on_command_output,
        .on_done = on_command_done,
        .arg = t,
    };
    t->state = TURN_RUNNING_COMMAND;
    time_out(t);
    t->output_streamed = 0;
    int rc = command_start(t->env->loop, &o, &t->cmd);
    if (rc != 0) {
        char why[200];
        snprintf(why, sizeof why, "the command could not be started: %s", strerror(-rc));
        agent_store_result(t, false, why, why, NULL, NULL);
    }
}

/* -- approvals -- */

static void
agent_run_approved(struct turn *t)
{
    enum agent_tool tool = (enum agent_tool)agent_tool_find(jfield_str(t->call, "name"));
    if (tool == TOOL_EXECUTE_COMMAND)
        agent_run_command(t);
    else
        agent_run_file_tool(t, tool, false);
}

static void
on_approval_timeout(uv_timer_t *timer)
{
    struct turn *t = timer->data;
    if (t->state != TURN_AWAITING)
        return;
    json_decref(t->approval);
    t->approval = NULL;
    t->decision = json_pack("{s:s}", "decision", "timeout");
    json_t *ev = json_pack("{s:s, s:s}", "call", call_id(t), "decision", "timeout");
    agent_tell(t, "approval_decision", ev);
    snprintf(t->reason, sizeof t->reason,
             "the approval of %s was not answered within agent.approval_timeout_s (%ld s)",
             jfield_str_or(t->call, "name", "a tool"), t->env->cfg->agent.approval_timeout_s);
    t->stop_reason = "needs_user";
    agent_store_result(t, false, "(not run: nobody answered the approval)", "not approved", NULL,
                       NULL);
}

static void
agent_ask(struct turn *t, enum tool_category category)
{
    json_t *args = json_object_get(t->call, "arguments");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:O}", "call", call_id(t), "tool",
                           jfield_str_or(t->call, "name", ""), "category",
                           agent_tool_category_name(category), "arguments", args);
    jfield_copy(ev, "path", args, "path");
    jfield_copy(ev, "command", args, "command");
    jfield_copy(ev, "requires_approval", args, "requires_approval");
    if (t->job != NULL && t->job->edit != NULL) {
        size_t added, removed;
        const char *diff = file_tools_edit_diff(t->job->edit);
        file_tools_edit_counts(t->job->edit, &added, &removed);
        json_object_set_new(ev, "path", json_string(file_tools_edit_path(t->job->edit)));
        json_object_set_new(ev, "diff", json_text(diff, strlen(diff)));
        json_object_set_new(ev, "added", json_integer((json_int_t)added));
        json_object_set_new(ev, "removed", json_integer((json_int_t)removed));
    }
    t->approval = ev;
    t->state = TURN_AWAITING;
    time_out(t);
    TELL(t, agent_event, "approval", ev);
    if (!t->approval_timer_started) {
        uv_timer_init(t->env->loop, &t->approval_timer);
        t->approval_timer.data = t;
        t->approval_timer_started = true;
    }
    uv_timer_start(&t->approval_timer, on_approval_timeout,
                   (uint64_t)t->env->cfg->agent.approval_timeout_s * 1000, 0);
}

int
turn_answer_approval(struct turn *t, const char *call, const char *decision, const char *feedback,
                     const char **category)
{
    if (t->state != TURN_AWAITING || t->approval == NULL || call == NULL ||
        strcmp(call, call_id(t)) != 0 || t->cancelled)
        return -ENOENT;
    bool once = strcmp(decision, "allow_once") == 0;
    bool always = strcmp(decision, "allow_always") == 0;
    bool reject = strcmp(decision, "reject") == 0;
    if (!once && !always && !reject)
        return -EINVAL;
    enum agent_tool tool = (enum agent_tool)agent_tool_find(jfield_str(t->call, "name"));
    enum tool_category c = agent_tool_category(tool);
    *category = agent_tool_category_name(c);
    uv_timer_stop(&t->approval_timer);
    time_back(t);
    json_decref(t->approval);
    t->approval = NULL;
    t->decision = json_pack("{s:s}", "decision", decision);
    if (feedback != NULL && *feedback != '\0')
        json_object_set_new(t->decision, "feedback", json_string(feedback));
    json_t *ev = json_deep_copy(t->decision);
    json_object_set_new(ev, "call", json_string(call_id(t)));
    agent_tell(t, "approval_decision", ev);
    if (reject) {
        struct sbuf b = {0};
        sbuf_addf(&b, "The user rejected this %s.", jfield_str_or(t->call, "name", "call"));
        if (feedback != NULL && *feedback != '\0')
            sbuf_addf(&b, " Their feedback: %s", feedback);
        if (t->job != NULL) {
            tool_job_free(t->job);
            t->job = NULL;
        }
        agent_store_result(t, false, b.s, "rejected", NULL, NULL);
        sbuf_free(&b);
        return 0;
    }
    if (always && c != TOOL_CATEGORY_NONE)
        t->policy[c] = APPROVAL_AUTO;
    agent_run_approved(t);
    return 0;
}

const json_t *
turn_pending_approval(const struct turn *t)
{
    return t->state == TURN_AWAITING ? t->approval : NULL;
}

/* -- the call -- */

static void
agent_handle_call(struct turn *t)
{
    const char *name = jfield_str(t->call, "name");
    json_t *args = json_object_get(t->call, "arguments");
    int found = agent_tool_find(name);
    char why[300];
    json_decref(t->decision);
    t->decision = NULL;
    if (found < 0 || !agent_tool_offered(t->mode, name)) {
        snprintf(why, sizeof why, "%s is not available in %s mode%s", name ? name : "?",
                 t->mode == AGENT_MODE_PLAN ? "plan" : "act",
                 t->mode == AGENT_MODE_PLAN ? "; only reading, searching, questions and "
                                              "plan_mode_respond are"
                                            : "");
        agent_fail_call(t, why, NULL);
        return;
    }
    enum agent_tool tool = (enum agent_tool)found;
    if (!agent_tool_args_ok(tool, args, why, sizeof why)) {
        agent_fail_call(t, why, NULL);
        return;
    }
    json_t *this_call = json_pack("{s:s, s:O}", "name", name, "arguments", args);
    t->same_calls =
        t->last_call != NULL && json_equal(t->last_call, this_call) ? t->same_calls + 1 : 1;
    json_decref(t->last_call);
    t->last_call = this_call;
    if (t->same_calls >= AGENT_SAME_CALL_MAX) {
        snprintf(t->reason, sizeof t->reason,
                 "the model made the same %s call %d times in a row: a loop", name, t->same_calls);
        t->stop_reason = "needs_user";
        agent_store_result(t, false, "(not run: the same call again; the user was asked)", "loop",
                           NULL, NULL);
        return;
    }
    char b[32];
    switch (tool) {
    case TOOL_ATTEMPT_COMPLETION:
    case TOOL_PLAN_MODE_RESPOND: {
        const char *result = agent_tool_arg(
            args, tool == TOOL_ATTEMPT_COMPLETION ? "result" : "response", b, sizeof b);
        agent_tell(t, "completion",
                   json_pack("{s:s, s:s, s:b}", "call", call_id(t), "result", result, "plan",
                             tool == TOOL_PLAN_MODE_RESPOND));
        t->stop_reason = "completed";
        agent_store_result(t, true, "(the user has seen this)", "completed", NULL, NULL);
        return;
    }
    case TOOL_ASK_FOLLOWUP_QUESTION: {
        const char *question = agent_tool_arg(args, "question", b, sizeof b);
        json_t *options = json_object_get(args, "options");
        json_t *list = json_is_array(options)    ? json_incref(options)
                       : json_is_string(options) ? json_loads(json_string_value(options), 0, NULL)
                                                 : NULL;
        if (!json_is_array(list)) {
            json_decref(list);
            list = json_array();
        }
        agent_tell(t, "question",
                   json_pack("{s:s, s:s, s:o}", "call", call_id(t), "question", question, "options",
                             list));
        snprintf(t->reason, sizeof t->reason, "the model asked: %.250s", question);
        t->stop_reason = "needs_user";
        agent_store_result(t, true,
                           "(the question was shown to the user; their answer is the next "
                           "message)",
                           "asked the user", NULL, NULL);
        return;
    }
    default:
        break;
    }
    enum tool_category category = agent_tool_category(tool);
    enum approval_policy policy = policy_for(t, category);
    if (policy == APPROVAL_DENY) {
        snprintf(why, sizeof why,
                 "not run: the approval policy for %s is deny (settings.approvals.%s, or "
                 "agent.approvals.%s in the config)",
                 agent_tool_category_name(category), agent_tool_category_name(category),
                 agent_tool_category_name(category));
        t->decision = json_pack("{s:s}", "decision", "deny");
        agent_store_result(t, false, why, "denied by policy", NULL, NULL);
        return;
    }
    if (category == TOOL_CATEGORY_EDIT) {
        /* Prepared first: an approval shows the diff. */
        agent_run_file_tool(t, tool, true);
        return;
    }
    if (policy == APPROVAL_ASK) {
        agent_ask(t, category);
        return;
    }
    t->decision = json_pack("{s:s}", "decision", "auto");
    if (tool == TOOL_EXECUTE_COMMAND)
        agent_run_command(t);
    else
        agent_run_file_tool(t, tool, false);
}

/* -- between steps, and the end -- */

static void
agent_next(struct turn *t)
{
    if (t->stop_reason != NULL) {
        agent_finish(t, t->stop_reason, NULL);
        return;
    }
    if (t->cancelled) {
        agent_finish(t, "cancelled", NULL);
        return;
    }
    if (t->step >= t->env->cfg->agent.max_steps) {
        snprintf(t->reason, sizeof t->reason,
                 "%d steps, the limit (agent.max_steps); send another message to go on", t->step);
        agent_finish(t, "max_steps", NULL);
        return;
    }
    agent_step_reset(t);
    turn_store_placeholder(t);
}

/* Forget the last step's answer, for the next. */
static void
agent_step_reset(struct turn *t)
{
    sbuf_reset(&t->content);
    sbuf_reset(&t->thinking);
    json_array_clear(t->tool_calls);
    json_decref(t->call);
    t->call = NULL;
    free(t->call_error);
    t->call_error = NULL;
    t->step_over = false;
    t->first_token_ns = 0;
    memset(&t->counts, 0, sizeof t->counts);
    t->checkpointed_len = 0;
    toolcall_parser_reset(t->parser);
}

/* The turn's outcome, on its user message: how it ended and where the
 * history was cut, which the next turn starts from. */
static void
agent_store_end(struct turn *t, json_t *reply)
{
    const char *status = jfield_str_or(reply, "status", "complete");
    json_t *agent = json_deep_copy(json_object_get(t->user_message, "agent"));
    if (!json_is_object(agent)) {
        json_decref(agent);
        agent = json_object();
    }
    json_object_set_new(agent, "stop_reason", json_string(t->stop_reason));
    json_object_set_new(agent, "trim",
                        json_pack("{s:I, s:I}", "elide_before", (json_int_t)t->trim.elide_before,
                                  "drop_before", (json_int_t)t->trim.drop_before));
    json_t *f = json_pack("{s:s, s:o}", "status",
                          strcmp(status, "interrupted") == 0 ? "interrupted"
                          : strcmp(status, "error") == 0     ? "error"
                                                             : "complete",
                          "agent", agent);
    json_int_t user_id = json_integer_value(json_object_get(t->user_message, "id"));
    t->final = reply;
    t->state = TURN_STORING_END;
    store_update_message(t->env->store, user_id, f, turn_on_reply_stored, t);
    json_decref(f);
}

static json_t *
agent_reply(struct turn *t, const char *status, const char *error)
{
    json_t *r = json_pack("{s:I, s:s, s:s, s:i, s:i}", "id", (json_int_t)t->reply_id, "status",
                          status, "stop_reason", t->stop_reason, "steps", t->step, "files_changed",
                          t->files_changed);
    if (t->reason[0] != '\0')
        json_object_set_new(r, "reason", json_string(t->reason));
    if (error != NULL)
        json_object_set_new(r, "error", json_string(error));
    return r;
}

static void
agent_on_cut_step_stored(json_t *result, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    json_decref(result);
    json_t *fields = t->final;
    t->final = NULL;
    const char *status = jfield_str_or(fields, "status", "error");
    const char *error = jfield_str(fields, "error");
    json_t *reply = agent_reply(t, status, err ? store_error_text(t->env->store, err) : error);
    json_decref(fields);
    if (t->user_message == NULL) {
        turn_done(t, reply);
        return;
    }
    agent_store_end(t, reply);
}

/* The agent's turn is over (STOP_REASON, and ERROR for "error"): a step
 * still open is stored as it was cut, then the turn's message. */
void
agent_finish(struct turn *t, const char *stop_reason, const char *error)
{
    if (t->timer_started)
        uv_timer_stop(&t->checkpoint);
    if (t->kick_started)
        uv_timer_stop(&t->kick);
    if (t->approval_timer_started)
        uv_timer_stop(&t->approval_timer);
    t->stop_reason = stop_reason;
    const char *status = strcmp(stop_reason, "cancelled") == 0 ? "interrupted"
                         : strcmp(stop_reason, "error") == 0   ? "error"
                                                               : "complete";
    if (t->reply_open && t->reply_id != 0) {
        t->reply_open = false;
        json_t *f = turn_reply_fields(t, status, error);
        t->final = f;
        json_incref(f);
        t->state = TURN_STORING_REPLY;
        store_update_message(t->env->store, t->reply_id, f, agent_on_cut_step_stored, t);
        json_decref(f);
        return;
    }
    json_t *reply = agent_reply(t, status, error);
    if (t->user_message == NULL) {
        turn_done(t, reply);
        return;
    }
    agent_store_end(t, reply);
}

/* -- the start: the workspace, and the environment for a first turn -- */

struct open_job {
    uv_work_t work;
    struct turn *t;
    char *dir;
    bool want_environment;
    struct workspace *ws;
    char *environment;
    struct cerr err;
};

static void
on_open_work(uv_work_t *w)
{
    worker_background();
    struct open_job *o = w->data;
    o->ws = workspace_open(o->dir, &o->err);
    if (o->ws == NULL || !o->want_environment)
        return;
    struct sbuf list = {0};
    file_tools_list(o->ws, ".", false, &list);
    struct utsname u;
    bool have_uname = uname(&u) == 0;
    struct sbuf b = {0};
    sbuf_addf(&b, "<environment>\nWorkspace: %s\nSystem: %s %s\nShell: /bin/sh\n",
              workspace_root(o->ws), have_uname ? u.sysname : "Linux", have_uname ? u.release : "");
    sbuf_adds(&b, "Files at the top of the workspace:\n");
    const char *p = list.s ? list.s : "";
    for (int line = 0; *p != '\0' && line < AGENT_ENV_FILES; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        sbuf_add(&b, p, len);
        p += len;
        if (line + 1 == AGENT_ENV_FILES && *p != '\0')
            sbuf_adds(&b, "(more not shown)\n");
    }
    sbuf_adds(&b, "</environment>");
    sbuf_free(&list);
    /* A file name that is not UTF-8 loses its odd bytes, not the block. */
    json_t *valid = json_text(b.s, b.len);
    o->environment = xstrdup(json_string_value(valid));
    json_decref(valid);
    sbuf_free(&b);
}

static void
on_open_done(uv_work_t *w, int status)
{
    struct open_job *o = w->data;
    struct turn *t = o->t;
    t->ws = o->ws;
    t->environment = o->environment;
    if (status != 0 && o->err.code == 0)
        cerr_set(&o->err, status, 500, "the workspace could not be opened");
    free(o->dir);
    char why[300];
    snprintf(why, sizeof why, "%s", o->err.msg);
    bool failed = t->ws == NULL;
    free(o);
    if (failed) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "the session's workspace cannot be used: %s; PATCH the session's workspace", why);
        t->stop_reason = "error";
        turn_done(t, agent_reply(t, "error", msg));
        return;
    }
    if (t->cancelled) {
        t->stop_reason = "cancelled";
        turn_done(t, agent_reply(t, "interrupted", NULL));
        return;
    }
    json_t *msg = json_pack("{s:s, s:s, s:s}", "role", "user", "content", t->content_in, "status",
                            "streaming");
    if (t->environment != NULL)
        json_object_set_new(msg, "agent", json_pack("{s:s}", "environment", t->environment));
    t->state = TURN_STORING_USER;
    store_add_message(t->env->store, t->session_id, msg, turn_on_user_stored, t);
    json_decref(msg);
}

/* Whether SESSION's stored history already has the environment. */
static bool
has_environment(const json_t *session)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(session, "messages"), i,
                       m) if (jfield_str(json_object_get(m, "agent"), "environment") !=
                              NULL) return true;
    return false;
}

/* Start an agent turn: the workspace first, then the message. */
void
agent_start(struct turn *t, const char *content)
{
    const char *mode = jfield_str(t->session, "mode");
    t->agent = true;
    t->mode = strcmp(mode, "plan") == 0 ? AGENT_MODE_PLAN : AGENT_MODE_ACT;
    t->content_in = xstrdup(content);
    t->history = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(t->session, "messages"), i, m)
    {
        json_array_append(t->history, m);
        json_t *trim = json_object_get(json_object_get(m, "agent"), "trim");
        if (trim != NULL) {
            t->trim.elide_before = json_integer_value(json_object_get(trim, "elide_before"));
            t->trim.drop_before = json_integer_value(json_object_get(trim, "drop_before"));
        }
    }
    init_policy(t);
    size_t n_tools;
    const struct toolcall_tool *tools = agent_tools_for_parser(&n_tools);
    t->parser = toolcall_parser_new(tools, n_tools, 0, on_parser_event, t, NULL);
    const char *dir = jfield_str(t->session, "workspace");
    struct open_job *o = xcalloc(1, sizeof *o);
    o->t = t;
    o->dir = xstrdup(dir ? dir : "");
    o->want_environment = !has_environment(t->session);
    o->work.data = o;
    t->state = TURN_OPENING;
    if (uv_queue_work(t->env->loop, &o->work, on_open_work, on_open_done) != 0) {
        cerr_set(&o->err, -EAGAIN, 500, "no worker to open the workspace");
        on_open_done(&o->work, -EAGAIN);
    }
}

/* Whether the model's call id ID can name the call: a client answers
 * its approval by it in a URL, so it must be short and plain, and it
 * must be new in the session (servers that send none get "call_0" on
 * every step, and a late answer would then approve the wrong call). */
static bool
call_id_usable(const struct turn *t, const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && strchr("_-.", id[i]) == NULL)
            return false;
    size_t i;
    json_t *m;
    json_array_foreach(t->history, i, m)
    {
        const char *used = jfield_str(m, "tool_call_id");
        if (used != NULL && strcmp(used, id) == 0)
            return false;
    }
    return true;
}

void
agent_on_native_call(struct turn *t, const json_t *call)
{
    /* One tool a step: the first call wins, the model is stopped. */
    if (t->step_over)
        return;
    const char *name = jfield_str(call, "name");
    if (agent_tool_find(name) < 0) {
        char why[160];
        snprintf(why, sizeof why, "there is no tool named \"%.60s\"", name ? name : "");
        t->call_error = xstrdup(why);
    } else if (!json_is_object(json_object_get(call, "arguments"))) {
        char why[160];
        snprintf(why, sizeof why, "the arguments of %.60s are not a JSON object", name);
        t->call_error = xstrdup(why);
    } else {
        const char *id = jfield_str(call, "id");
        char made[40];
        if (!call_id_usable(t, id)) {
            snprintf(made, sizeof made, "call_%lld", (long long)t->reply_id);
            id = made;
        }
        t->call = json_pack("{s:s, s:s, s:O}", "id", id, "name", name, "arguments",
                            json_object_get(call, "arguments"));
    }
    agent_call_found(t);
}

void
agent_cancel(struct turn *t)
{
    switch (t->state) {
    case TURN_RUNNING_COMMAND:
        t->cancelled = true;
        command_cancel(t->cmd); /* its end stores the result, then the turn ends */
        return;
    case TURN_AWAITING:
        t->cancelled = true;
        uv_timer_stop(&t->approval_timer);
        json_decref(t->approval);
        t->approval = NULL;
        t->decision = json_pack("{s:s}", "decision", "cancelled");
        agent_tell(t, "approval_decision",
                   json_pack("{s:s, s:s}", "call", call_id(t), "decision", "cancelled"));
        if (t->job != NULL) {
            tool_job_free(t->job);
            t->job = NULL;
        }
        agent_store_result(t, false, "(not run: the turn was cancelled)", "cancelled", NULL, NULL);
        return;
    case TURN_OPENING:
    case TURN_STORING_STEP:
    case TURN_RUNNING_TOOL:
    case TURN_STORING_RESULT:
        t->cancelled = true; /* acted on when the pending operation returns */
        return;
    default:
        return;
    }
}
