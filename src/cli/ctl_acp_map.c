/*
 * ctl_acp_map: the daemon's agent vocabulary in ACP v1 terms: tool kinds
 * and titles, edit diffs as `diff` blocks, stop reasons, plan entries, and
 * an ACP prompt as the text the daemon takes.  Pure functions over
 * strings and jansson values; ctl_acp.c does the I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/xmalloc.h"
#include "ctl_acp.h"

/* One row per agent tool: its ACP kind, whether it is shown as a tool
 * call, the verb of its title and the argument the title names. */
struct acp_tool_row {
    const char *tool, *kind;
    bool shown;
    const char *verb, *arg;
};

static const struct acp_tool_row acp_tools[] = {
    {"read_file", "read", true, "Read", "path"},
    {"list_files", "search", true, "List", "path"},
    {"search_files", "search", true, "Search", "regex"},
    {"write_to_file", "edit", true, "Write", "path"},
    {"replace_in_file", "edit", true, "Edit", "path"},
    {"execute_command", "execute", true, "Run", "command"},
    /* Shown as the agent's message (and plan), not as calls. */
    {"ask_followup_question", "other", false, "Ask", "question"},
    {"attempt_completion", "think", false, "Complete", "result"},
    {"plan_mode_respond", "think", false, "Plan", "response"},
};

/* Bytes of a tool call's title before it is cut. */
#define ACP_TITLE_MAX 120

static const struct acp_tool_row *
tool_row(const char *tool)
{
    for (size_t i = 0; tool != NULL && i < sizeof acp_tools / sizeof acp_tools[0]; i++)
        if (strcmp(acp_tools[i].tool, tool) == 0)
            return &acp_tools[i];
    return NULL;
}

const char *
acp_tool_kind(const char *tool)
{
    const struct acp_tool_row *r = tool_row(tool);
    return r ? r->kind : "other";
}

bool
acp_tool_shown(const char *tool)
{
    const struct acp_tool_row *r = tool_row(tool);
    return r ? r->shown : true;
}

char *
acp_tool_title(const char *tool, const json_t *arguments)
{
    const struct acp_tool_row *r = tool_row(tool);
    const char *arg = r ? json_string_value(json_object_get(arguments, r->arg)) : NULL;
    char buf[4096];
    if (r == NULL)
        snprintf(buf, sizeof buf, "%s", tool ? tool : "tool");
    else if (arg == NULL || *arg == '\0')
        snprintf(buf, sizeof buf, "%s", r->verb);
    else if (strcmp(r->arg, "command") == 0)
        snprintf(buf, sizeof buf, "%s `%s`", r->verb, arg);
    else if (strcmp(r->arg, "regex") == 0) {
        const char *in = json_string_value(json_object_get(arguments, "path"));
        snprintf(buf, sizeof buf, "Search '%s'%s%s", arg, in ? " in " : "", in ? in : "");
    } else
        snprintf(buf, sizeof buf, "%s %s", r->verb, arg);
    /* Titles are one short line; cut at a UTF-8 character's start. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(buf);
    if (n > ACP_TITLE_MAX) {
        n = ACP_TITLE_MAX;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf + n, "...", 4);
    }
    return xstrdup(buf);
}

char *
acp_abs_path(const char *workspace, const char *path)
{
    if (path == NULL || *path == '\0')
        return NULL;
    if (path[0] == '/' || workspace == NULL || *workspace == '\0')
        return xstrdup(path);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    size_t wl = strlen(workspace);
    bool slash = wl > 0 && workspace[wl - 1] == '/';
    size_t len = wl + 1 + strlen(path) + 1;
    char *out = xmalloc(len);
    snprintf(out, len, "%s%s%s", workspace, slash ? "" : "/", strcmp(path, ".") ? path : "");
    return out;
}

/* Append LEN bytes of S and a newline to the growing buffer *BUF. */
static void
append_line(char **buf, size_t *len, const char *s, size_t n)
{
    *buf = xrealloc(*buf, *len + n + 2);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
}

json_t *
acp_diff_block(const char *abs_path, const char *diff)
{
    char *old = xstrdup(""), *new = xstrdup("");
    size_t old_len = 0, new_len = 0;
    bool in_hunk = false, any_hunk = false, created = false, no_nl_old = false, no_nl_new = false;
    char last = 0; /* the last line's side, for "\ No newline at end of file" */

    for (const char *p = diff ? diff : ""; *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n >= 2 && strncmp(p, "@@", 2) == 0) {
            /* A new file's diff is one hunk from -0,0. */
            created = !any_hunk && n >= 9 && strncmp(p, "@@ -0,0 ", 8) == 0;
            in_hunk = any_hunk = true;
        } else if (!in_hunk) {
            /* the ---/+++ header */
        } else if (n > 0 && p[0] == ' ') {
            append_line(&old, &old_len, p + 1, n - 1);
            append_line(&new, &new_len, p + 1, n - 1);
            last = ' ';
        } else if (n > 0 && p[0] == '-') {
            append_line(&old, &old_len, p + 1, n - 1);
            last = '-';
        } else if (n > 0 && p[0] == '+') {
            append_line(&new, &new_len, p + 1, n - 1);
            last = '+';
        } else if (n > 0 && p[0] == '\\') {
            no_nl_old = no_nl_old || last == '-' || last == ' ';
            no_nl_new = no_nl_new || last == '+' || last == ' ';
        } else if (n == 0) {
            /* An empty context line whose leading space was stripped. */
            append_line(&old, &old_len, "", 0);
            append_line(&new, &new_len, "", 0);
        }
        p += n + (eol ? 1 : 0);
    }
    json_t *block = NULL;
    if (any_hunk) {
        if (no_nl_old && old_len > 0)
            old[--old_len] = '\0';
        if (no_nl_new && new_len > 0)
            new[--new_len] = '\0';
        block = json_pack("{s:s, s:s, s:o, s:s}", "type", "diff", "path", abs_path, "oldText",
                          created ? json_null() : json_string(old), "newText", new);
    }
    free(old);
    free(new);
    return block;
}

const char *
acp_stop_reason(const char *stop_reason, const char *status)
{
    static const struct {
        const char *daemon, *acp;
    } map[] = {
        {"completed", "end_turn"},
        {"needs_user", "end_turn"},
        {"max_steps", "max_turn_requests"},
        {"cancelled", "cancelled"},
        {"error", NULL},
    };
    if (stop_reason != NULL) {
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcmp(map[i].daemon, stop_reason) == 0)
                return map[i].acp;
        return NULL;
    }
    /* A chat session's turn has only its status. */
    if (status != NULL && strcmp(status, "complete") == 0)
        return "end_turn";
    if (status != NULL && strcmp(status, "interrupted") == 0)
        return "cancelled";
    return NULL;
}

/* The text of a list item ("- x", "* x", "+ x", "12. x", "3) x") without
 * its marker, or NULL when LINE is not one. */
static const char *
list_item(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if ((*line == '-' || *line == '*' || *line == '+') && line[1] == ' ')
        return line + 2;
    const char *p = line;
    while (isdigit((unsigned char)*p))
        p++;
    if (p > line && (*p == '.' || *p == ')') && p[1] == ' ')
        return p + 2;
    return NULL;
}

json_t *
acp_plan_entries(const char *plan)
{
    json_t *entries = json_array();
    for (const char *p = plan ? plan : ""; *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char *line = xmalloc(n + 1);
        memcpy(line, p, n);
        line[n] = '\0';
        const char *item = list_item(line);
        if (item != NULL && *item != '\0')
            json_array_append_new(entries, json_pack("{s:s, s:s, s:s}", "content", item, "priority",
                                                     "medium", "status", "pending"));
        free(line);
        p += n + (eol ? 1 : 0);
    }
    if (json_array_size(entries) == 0 && plan != NULL && *plan != '\0')
        json_array_append_new(entries, json_pack("{s:s, s:s, s:s}", "content", plan, "priority",
                                                 "medium", "status", "pending"));
    return entries;
}

char *
acp_prompt_text(const json_t *blocks, const char **why)
{
    char *out = xstrdup("");
    size_t len = 0;
    size_t i;
    const json_t *b;

    *why = "the prompt must be an array of content blocks";
    if (!json_is_array(blocks))
        goto fail;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        const char *piece = NULL, *uri = NULL;
        if (type == NULL) {
            *why = "each prompt block needs a \"type\"";
            goto fail;
        }
        if (strcmp(type, "text") == 0) {
            piece = json_string_value(json_object_get(b, "text"));
        } else if (strcmp(type, "resource_link") == 0) {
            uri = json_string_value(json_object_get(b, "uri"));
        } else if (strcmp(type, "resource") == 0) {
            const json_t *r = json_object_get(b, "resource");
            uri = json_string_value(json_object_get(r, "uri"));
            piece = json_string_value(json_object_get(r, "text"));
            if (piece == NULL) {
                *why = "only text resources can be embedded (no blobs)";
                goto fail;
            }
        } else {
            /* initialize said no to images and audio. */
            *why = "only text, resource_link and text resource blocks are supported";
            goto fail;
        }
        char head[600] = "";
        if (uri != NULL && piece != NULL)
            snprintf(head, sizeof head, "%s%.500s:\n```\n", len ? "\n\n" : "", uri);
        else if (uri != NULL)
            snprintf(head, sizeof head, "%s@%.500s", len ? " " : "", uri);
        else if (piece != NULL && len > 0)
            snprintf(head, sizeof head, "\n\n");
        size_t hl = strlen(head), pl = piece ? strlen(piece) : 0;
        const char *tail = uri != NULL && piece != NULL ? "\n```" : "";
        out = xrealloc(out, len + hl + pl + strlen(tail) + 1);
        memcpy(out + len, head, hl);
        if (pl)
            memcpy(out + len + hl, piece, pl);
        memcpy(out + len + hl + pl, tail, strlen(tail) + 1);
        len += hl + pl + strlen(tail);
    }
    if (len == 0) {
        *why = "the prompt has no text";
        goto fail;
    }
    *why = NULL;
    return out;
fail:
    free(out);
    return NULL;
}
