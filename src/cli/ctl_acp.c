/*
 * caretictl acp: the daemon's coding agent for editors, over the Agent
 * Client Protocol v1 (JSON-RPC 2.0, one message per line on stdin and
 * stdout; logs go to stderr only).  Each ACP call becomes a request to the
 * daemon's HTTP API on its socket; a prompt is the agent turn's SSE stream,
 * read with curl's multi interface beside stdin, so a cancel or a
 * permission answer can arrive while it runs.  The bridge keeps no agent
 * state: sessions, modes, approvals and history are the daemon's; it only
 * remembers which requests of its own await an answer.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"
#include "ctl_acp.h"

/* Command output kept for a call's live view: the tail, like a terminal. */
#define ACP_OUTPUT_MAX (64 * 1024)
/* How long a request waits for a daemon that went away to come back. */
#define ACP_RECONNECT_S 5.0

/* A prompt in progress: one agent turn's SSE stream. */
struct acp_prompt {
    struct acp_bridge *b;
    json_t *rpc_id; /* the session/prompt request's id */
    char session[64];
    char *workspace;
    CURL *h;
    struct ctl_conn conn;
    struct curl_slist *headers;
    char *body;
    char errbuf[CURL_ERROR_SIZE];
    long status;
    char *line;
    size_t line_len, line_cap;
    char *err_body;
    size_t err_len;
    char event[32];
    bool done, cancelled, failed_write;
    bool said;  /* some of the agent's message was sent */
    int trail;  /* newlines ending it (0, 1, or 2 for more) */
    bool asked; /* a question event was shown as the agent's message */
    char *stop_reason, *turn_status, *error;
    json_t *calls;   /* call id -> tool name, for results */
    json_t *outputs; /* call id -> command output so far */
    struct acp_prompt *next;
};

/* A session/request_permission we sent and the client has not answered. */
struct acp_pending {
    long long id;
    char session[64];
    char call[128];
    char category[16];
    struct acp_pending *next;
};

struct acp_bridge {
    const struct ctl_ctx *ctx;
    const char *model; /* -m: the model of the sessions it creates */
    CURLM *multi;
    bool initialized;
    bool seen_daemon; /* a request reached the daemon: later failures may be a restart */
    bool quit;
    long long next_id;
    struct acp_prompt *prompts;
    struct acp_pending *pending;
    char *in;
    size_t in_len, in_cap;
    bool skipping; /* discarding an over-long line up to its newline */
};

typedef void (*acp_handler)(struct acp_bridge *b, const json_t *id, const json_t *params);

static void on_initialize(struct acp_bridge *b, const json_t *id, const json_t *params);
static void on_authenticate(struct acp_bridge *b, const json_t *id, const json_t *params);
static void on_session_new(struct acp_bridge *b, const json_t *id, const json_t *params);
static void on_session_load(struct acp_bridge *b, const json_t *id, const json_t *params);
static void on_session_prompt(struct acp_bridge *b, const json_t *id, const json_t *params);
static void on_set_mode(struct acp_bridge *b, const json_t *id, const json_t *params);
static void on_set_config_option(struct acp_bridge *b, const json_t *id, const json_t *params);

static const struct acp_method {
    const char *name;
    acp_handler fn;
} acp_methods[] = {
    {"initialize", on_initialize},
    {"authenticate", on_authenticate},
    {"session/new", on_session_new},
    {"session/load", on_session_load},
    {"session/prompt", on_session_prompt},
    {"session/set_mode", on_set_mode},
    {"session/set_config_option", on_set_config_option},
};

/* Make room for one more byte (and a NUL) in *BUF of *LEN bytes and
 * capacity *CAP, growing it geometrically. */
static void
grow(char **buf, size_t len, size_t *cap)
{
    if (len + 2 <= *cap)
        return;
    *cap = *cap ? *cap * 2 : 256;
    *buf = xrealloc(*buf, *cap);
}

/* ---- writing ---------------------------------------------------------- */

/* Write MSG (taken) as one line on stdout.  A client that went away ends
 * the bridge. */
static void
send_take(struct acp_bridge *b, json_t *msg)
{
    if (msg == NULL) {
        fprintf(stderr, "caretictl acp: could not build a message (invalid UTF-8?)\n");
        return;
    }
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (s == NULL)
        return;
    if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
        fprintf(stderr, "caretictl acp: the client closed stdout (%s); stopping\n",
                strerror(errno));
        b->quit = true;
    }
    free(s);
}

/* Answer request ID (NULL: JSON null) with a JSON-RPC error. */
static void
send_error(struct acp_bridge *b, const json_t *id, int code, const char *message)
{
    send_take(b, acp_error(id, code, message));
}

/* Send UPDATE (taken) as a session/update notification of SESSION. */
static void
send_update_take(struct acp_bridge *b, const char *session, json_t *update)
{
    send_take(b, acp_notification_take("session/update", json_pack("{s:s, s:o}", "sessionId",
                                                                   session, "update", update)));
}

/* Send TEXT as a text chunk of KIND (agent_message_chunk, ...); nothing when
 * TEXT is NULL or empty. */
static void
send_chunk(struct acp_bridge *b, const char *session, const char *kind, const char *text)
{
    if (text == NULL || *text == '\0')
        return;
    send_update_take(b, session,
                     json_pack("{s:s, s:{s:s, s:s}}", "sessionUpdate", kind, "content", "type",
                               "text", "text", text));
}

/* ---- the daemon ------------------------------------------------------- */

/*
 * METHOD PATH with BODY (may be NULL) to the daemon; the answer's JSON in
 * *OUT (new reference, may be NULL).  Returns the HTTP status, or a
 * negative CTL exit code with WHY saying what to do.  A daemon that was
 * reached before and is gone now may be restarting: it is retried for a
 * few seconds, which is how the bridge reconnects.
 */
static int
daemon_call(struct acp_bridge *b, const char *method, const char *path, const json_t *body,
            json_t **out, char *why, size_t why_len)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    double deadline = ctl_now_s() + ACP_RECONNECT_S;
    int status;
    for (;;) {
        status = ctl_request(b->ctx, method, path, text, out);
        if (status != -CTL_EXIT_NO_DAEMON || !b->seen_daemon || ctl_now_s() > deadline)
            break;
        /* A restarting daemon takes a moment to listen again. */
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(text);
    if (status == -CTL_EXIT_NO_DAEMON)
        snprintf(why, why_len,
                 "no caretid running on %s; start it with `systemctl --user start caretid` "
                 "(or `caretid &`), then try again",
                 b->ctx->socket);
    else if (status < 0)
        snprintf(why, why_len,
                 "caretictl could not talk to caretid on %s (its log on stderr says why); "
                 "`caretictl doctor` checks the setup",
                 b->ctx->socket);
    else
        b->seen_daemon = true;
    if (status >= 400) {
        json_t *err = json_object_get(*out, "error");
        const char *msg = json_string_value(json_object_get(err, "message"));
        snprintf(why, why_len, "%s", msg ? msg : "caretid answered an error without a message");
    }
    return status;
}

/* Answer ID with the failure of a daemon call: not found is ACP's
 * resource-not-found, anything else an internal error saying what to do. */
static void
send_daemon_error(struct acp_bridge *b, const json_t *id, int status, const char *why)
{
    send_error(b, id, status == 404 ? ACP_RESOURCE_NOT_FOUND : ACP_INTERNAL_ERROR, why);
}

/* The daemon's path of SESSION (escaped) followed by TAIL, in OUT. */
static void
session_path(char *out, size_t len, const char *session, const char *tail)
{
    char *e = ctl_escape(session);
    snprintf(out, len, "/careti/v1/sessions/%s%s", e, tail);
    free(e);
}

/* ---- modes, models and commands --------------------------------------- */

/* The session's modes for ACP (new reference): act and plan, and chat when
 * the session is a plain conversation. */
static json_t *
mode_state(const char *current)
{
    json_t *modes = json_pack(
        "[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "id", "act", "name", "Act", "description",
        "The agent reads, edits and runs commands in the workspace, asking as its approvals say",
        "id", "plan", "name", "Plan", "description",
        "Read-only: the agent studies the workspace and answers with a plan");
    if (current != NULL && strcmp(current, "chat") == 0)
        json_array_append_new(modes, json_pack("{s:s, s:s, s:s}", "id", "chat", "name", "Chat",
                                               "description", "A plain conversation, no tools"));
    return json_pack("{s:s, s:o}", "currentModeId", current ? current : "act", "availableModes",
                     modes);
}

/* The model selector: "default" (the session's model unset: the config's
 * defaults.model), then every model and alias the daemon lists. */
static json_t *
config_options(struct acp_bridge *b, const char *current)
{
    char why[512];
    json_t *ans = NULL, *opts = json_array();
    bool have_current = current == NULL;
    json_array_append_new(opts, json_pack("{s:s, s:s, s:s}", "value", "default", "name", "Default",
                                          "description", "defaults.model in caretid's config"));
    int status = daemon_call(b, "GET", "/v1/models", NULL, &ans, why, sizeof why);
    if (status == 200) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(ans, "data"), i, m)
        {
            const char *name = json_string_value(json_object_get(m, "id"));
            if (name == NULL || i >= 500)
                continue;
            const char *provider = json_string_value(json_object_get(m, "provider"));
            json_t *o = json_pack("{s:s, s:s}", "value", name, "name", name);
            if (provider != NULL)
                json_object_set_new(o, "description", json_string(provider));
            json_array_append_new(opts, o);
            have_current = have_current || strcmp(name, current) == 0;
        }
    }
    json_decref(ans);
    if (!have_current)
        json_array_append_new(opts, json_pack("{s:s, s:s}", "value", current, "name", current));
    return json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:o}]", "id", "model", "name", "Model",
                     "description", "The model the session's turns use", "category", "model",
                     "type", "select", "currentValue", current ? current : "default", "options",
                     opts);
}

/* Tell the client the prompt commands the bridge knows. */
static void
send_commands(struct acp_bridge *b, const char *session)
{
    send_update_take(b, session,
                     json_pack("{s:s, s:[{s:s, s:s}]}", "sessionUpdate",
                               "available_commands_update", "availableCommands", "name", "undo",
                               "description", "undo the agent's last file change"));
}

/* ---- initialize, authenticate ----------------------------------------- */

/* initialize: our protocol version and capabilities. */
static void
on_initialize(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    if (!json_is_integer(json_object_get(params, "protocolVersion"))) {
        send_error(b, id, ACP_INVALID_PARAMS, "initialize needs an integer protocolVersion");
        return;
    }
    b->initialized = true;
    /* Version 1 is the one we speak; a client asking for another gets ours
     * and decides. */
    send_take(b, acp_result_take(
                     id, json_pack("{s:i, s:{s:b, s:{s:b, s:b, s:b}}, s:{s:s, s:s, s:s}, s:[]}",
                                   "protocolVersion", 1, "agentCapabilities", "loadSession", 1,
                                   "promptCapabilities", "image", 0, "audio", 0, "embeddedContext",
                                   1, "agentInfo", "name", "caretid", "title", "caretid", "version",
                                   CARETI_VERSION, "authMethods")));
}

/* authenticate: always done. */
static void
on_authenticate(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    (void)params;
    /* The daemon's socket is the user's own: there is nothing to log in to. */
    send_take(b, acp_result_take(id, json_object()));
}

/* ---- sessions --------------------------------------------------------- */

/* The sessionId of PARAMS, or NULL after answering ID with an error. */
static const char *
session_id_param(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    const char *s = json_string_value(json_object_get(params, "sessionId"));
    if (s == NULL || *s == '\0' || strlen(s) > 63) {
        send_error(b, id, ACP_INVALID_PARAMS, "sessionId must be a session's id");
        return NULL;
    }
    return s;
}

/* session/new: an act session on the client's cwd. */
static void
on_session_new(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    char why[512];
    const char *cwd = json_string_value(json_object_get(params, "cwd"));
    if (cwd == NULL || cwd[0] != '/') {
        send_error(b, id, ACP_INVALID_PARAMS, "session/new needs cwd, an absolute path");
        return;
    }
    if (json_array_size(json_object_get(params, "mcpServers")) > 0)
        fprintf(stderr, "caretictl acp: MCP servers are not supported; the agent has its own "
                        "tools, and those given are ignored\n");
    json_t *req = json_pack("{s:s, s:s}", "mode", "act", "workspace", cwd);
    if (b->model != NULL)
        json_object_set_new(req, "model", json_string(b->model));
    json_t *s = NULL;
    int status = daemon_call(b, "POST", "/careti/v1/sessions", req, &s, why, sizeof why);
    json_decref(req);
    const char *sid = json_string_value(json_object_get(s, "id"));
    if (status != 201 || sid == NULL) {
        send_daemon_error(b, id, status, status == 201 ? "caretid answered without an id" : why);
        json_decref(s);
        return;
    }
    const char *mode = json_string_value(json_object_get(s, "mode"));
    const char *model = json_string_value(json_object_get(s, "model"));
    send_take(b, acp_result_take(id, json_pack("{s:s, s:o, s:o}", "sessionId", sid, "modes",
                                               mode_state(mode ? mode : "act"), "configOptions",
                                               config_options(b, model))));
    send_commands(b, sid);
    json_decref(s);
}

/* The text a tool the bridge does not show as a call stands for: the
 * question, the result, or the plan. */
static const char *
unshown_text(const char *tool, const json_t *arguments)
{
    static const char *const keys[] = {"question", "result", "response"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *t = json_string_value(json_object_get(arguments, keys[i]));
        if (t != NULL)
            return t;
    }
    (void)tool;
    return NULL;
}

/* A tool call's locations (new reference): PATH made absolute, or none. */
static json_t *
locations(const char *workspace, const char *path)
{
    char *abs = acp_abs_path(workspace, path);
    json_t *l = abs ? json_pack("[{s:s}]", "path", abs) : json_array();
    free(abs);
    return l;
}

/* A tool call content block holding TEXT (new reference). */
static json_t *
text_content(const char *text)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "content", "content", "type", "text", "text",
                     text ? text : "");
}

/* The tool_call update that shows one call of TOOL. */
static json_t *
tool_call_update(const char *call, const char *tool, const json_t *arguments, const char *workspace)
{
    char *title = acp_tool_title(tool, arguments);
    json_t *u = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:O}", "sessionUpdate", "tool_call", "toolCallId", call,
        "title", title, "kind", acp_tool_kind(tool), "status", "pending", "locations",
        locations(workspace, json_string_value(json_object_get(arguments, "path"))), "rawInput",
        arguments ? arguments : json_null());
    free(title);
    return u;
}

/* Replay one stored message of SESSION as session/update notifications.
 * CALLS maps call ids to tool names; CHANGES change ids to their diffs. */
static void
replay_message(struct acp_bridge *b, const char *session, const char *workspace, const json_t *m,
               json_t *calls, const json_t *changes)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    const char *content = json_string_value(json_object_get(m, "content"));
    const json_t *agent = json_object_get(m, "agent");
    if (role == NULL)
        return;
    if (strcmp(role, "user") == 0) {
        if (!json_is_true(json_object_get(agent, "correction")))
            send_chunk(b, session, "user_message_chunk", content);
        return;
    }
    if (strcmp(role, "assistant") == 0) {
        send_chunk(b, session, "agent_thought_chunk",
                   json_string_value(json_object_get(m, "thinking")));
        send_chunk(b, session, "agent_message_chunk", content);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(m, "tool_calls"), i, c)
        {
            const char *call = json_string_value(json_object_get(c, "id"));
            const char *tool = json_string_value(json_object_get(c, "name"));
            const json_t *args = json_object_get(c, "arguments");
            if (call == NULL || tool == NULL)
                continue;
            json_object_set_new(calls, call, json_string(tool));
            if (!acp_tool_shown(tool)) {
                const char *text = unshown_text(tool, args);
                send_chunk(b, session, "agent_message_chunk", text);
                if (strcmp(tool, "plan_mode_respond") == 0 && text != NULL)
                    send_update_take(b, session,
                                     json_pack("{s:s, s:o}", "sessionUpdate", "plan", "entries",
                                               acp_plan_entries(text)));
                continue;
            }
            send_update_take(b, session, tool_call_update(call, tool, args, workspace));
        }
        return;
    }
    if (strcmp(role, "tool") == 0) {
        const char *call = json_string_value(json_object_get(m, "tool_call_id"));
        const char *tool = json_string_value(json_object_get(calls, call ? call : ""));
        if (call == NULL || tool == NULL || !acp_tool_shown(tool))
            return;
        const char *summary = json_string_value(json_object_get(agent, "summary"));
        json_t *change = json_object_get(agent, "change");
        json_t *items = json_array();
        const json_t *ch = NULL;
        if (change != NULL) {
            char key[32];
            snprintf(key, sizeof key, "%lld", json_integer_value(change));
            ch = json_object_get(changes, json_is_string(change) ? json_string_value(change) : key);
        }
        json_t *diff = NULL;
        if (ch != NULL) {
            char *abs = acp_abs_path(workspace, json_string_value(json_object_get(ch, "path")));
            diff = abs ? acp_diff_block(abs, json_string_value(json_object_get(ch, "diff"))) : NULL;
            free(abs);
        }
        if (diff != NULL)
            json_array_append_new(items, diff);
        else if (strcmp(acp_tool_kind(tool), "execute") == 0 && content != NULL)
            json_array_append_new(items, text_content(content));
        else
            json_array_append_new(items, text_content(summary ? summary : content));
        send_update_take(
            b, session,
            json_pack("{s:s, s:s, s:s, s:o}", "sessionUpdate", "tool_call_update", "toolCallId",
                      call, "status",
                      json_is_false(json_object_get(agent, "ok")) ? "failed" : "completed",
                      "content", items));
    }
}

/* Change id -> change, from GET .../changes (an empty object when the
 * session has none or the daemon cannot say). */
static json_t *
changes_by_id(struct acp_bridge *b, const char *session)
{
    char path[160], why[512];
    json_t *ans = NULL, *byid = json_object();
    session_path(path, sizeof path, session, "/changes");
    if (daemon_call(b, "GET", path, NULL, &ans, why, sizeof why) == 200) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(ans, "changes"), i, c)
        {
            json_t *cid = json_object_get(c, "id");
            char key[32];
            if (json_is_integer(cid))
                snprintf(key, sizeof key, "%lld", json_integer_value(cid));
            else if (json_is_string(cid))
                snprintf(key, sizeof key, "%s", json_string_value(cid));
            else
                continue;
            json_object_set(byid, key, c);
        }
    }
    json_decref(ans);
    return byid;
}

/* session/load: replay the stored session, then answer its modes and options. */
static void
on_session_load(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    char path[160], why[512];
    const char *sid = session_id_param(b, id, params);
    if (sid == NULL)
        return;
    json_t *s = NULL;
    session_path(path, sizeof path, sid, "");
    int status = daemon_call(b, "GET", path, NULL, &s, why, sizeof why);
    if (status != 200) {
        send_daemon_error(b, id, status, why);
        json_decref(s);
        return;
    }
    const char *full = json_string_value(json_object_get(s, "id"));
    if (full == NULL || strcmp(full, sid) != 0) {
        /* The daemon matched a prefix; the client must use the id it gave. */
        snprintf(why, sizeof why, "no session \"%s\" (did you mean %s?)", sid, full ? full : "?");
        send_error(b, id, ACP_RESOURCE_NOT_FOUND, why);
        json_decref(s);
        return;
    }
    const char *workspace = json_string_value(json_object_get(s, "workspace"));
    json_t *calls = json_object();
    json_t *changes = changes_by_id(b, sid);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(s, "messages"), i, m)
        replay_message(b, sid, workspace, m, calls, changes);
    json_decref(calls);
    json_decref(changes);
    const char *mode = json_string_value(json_object_get(s, "mode"));
    send_take(
        b,
        acp_result_take(
            id, json_pack("{s:o, s:o}", "modes", mode_state(mode ? mode : "chat"), "configOptions",
                          config_options(b, json_string_value(json_object_get(s, "model"))))));
    send_commands(b, sid);
    json_decref(s);
}

/* session/set_mode: the session's mode, on the daemon. */
static void
on_set_mode(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    char path[160], why[512];
    const char *sid = session_id_param(b, id, params);
    const char *mode = json_string_value(json_object_get(params, "modeId"));
    if (sid == NULL)
        return;
    if (mode == NULL ||
        (strcmp(mode, "act") != 0 && strcmp(mode, "plan") != 0 && strcmp(mode, "chat") != 0)) {
        send_error(b, id, ACP_INVALID_PARAMS, "modeId must be act or plan");
        return;
    }
    json_t *req = json_pack("{s:s}", "mode", mode), *ans = NULL;
    session_path(path, sizeof path, sid, "");
    int status = daemon_call(b, "PATCH", path, req, &ans, why, sizeof why);
    json_decref(req);
    json_decref(ans);
    if (status != 200)
        send_daemon_error(b, id, status, why);
    else
        send_take(b, acp_result_take(id, json_object()));
}

/* session/set_config_option: the model is the only option. */
static void
on_set_config_option(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    char path[160], why[512];
    const char *sid = session_id_param(b, id, params);
    const char *config = json_string_value(json_object_get(params, "configId"));
    const char *value = json_string_value(json_object_get(params, "value"));
    if (sid == NULL)
        return;
    if (config == NULL || strcmp(config, "model") != 0 || value == NULL || *value == '\0') {
        send_error(b, id, ACP_INVALID_PARAMS,
                   "the only config option is \"model\", and its value is a model's name");
        return;
    }
    bool deflt = strcmp(value, "default") == 0;
    json_t *req = json_pack("{s:o}", "model", deflt ? json_null() : json_string(value));
    json_t *ans = NULL;
    session_path(path, sizeof path, sid, "");
    int status = daemon_call(b, "PATCH", path, req, &ans, why, sizeof why);
    json_decref(req);
    json_decref(ans);
    if (status != 200) {
        send_daemon_error(b, id, status, why);
        return;
    }
    send_take(b, acp_result_take(id, json_pack("{s:o}", "configOptions",
                                               config_options(b, deflt ? NULL : value))));
}

/* ---- prompts ---------------------------------------------------------- */

/* The prompt of ours running in SESSION, or NULL. */
static struct acp_prompt *
find_prompt(struct acp_bridge *b, const char *session)
{
    for (struct acp_prompt *p = b->prompts; p; p = p->next)
        if (strcmp(p->session, session) == 0)
            return p;
    return NULL;
}

/* Ask the daemon to cancel SESSION's turn; a turn already over is fine. */
static void
cancel_turn(struct acp_bridge *b, const char *session)
{
    char path[160], why[512];
    json_t *ans = NULL;
    session_path(path, sizeof path, session, "/cancel");
    int status = daemon_call(b, "POST", path, NULL, &ans, why, sizeof why);
    if (status != 200 && status != 409)
        fprintf(stderr, "caretictl acp: cancelling %s: %s\n", session, why);
    json_decref(ans);
}

/* Forget our permission requests in SESSION (for CALL only, unless NULL). */
static void
drop_pending(struct acp_bridge *b, const char *session, const char *call)
{
    for (struct acp_pending **pp = &b->pending; *pp;) {
        struct acp_pending *q = *pp;
        if (strcmp(q->session, session) == 0 && (call == NULL || strcmp(q->call, call) == 0)) {
            *pp = q->next;
            free(q);
        } else {
            pp = &q->next;
        }
    }
}

/* Note the end of TEXT, sent as the agent's message. */
static void
note_text(struct acp_prompt *p, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n == 0)
        return;
    p->said = true;
    if (text[n - 1] != '\n')
        p->trail = 0;
    else if (n >= 2 && text[n - 2] == '\n')
        p->trail = 2;
    else
        p->trail = p->trail >= 1 && n == 1 ? 2 : 1;
}

/* Send TEXT as a paragraph of its own in the agent's message. */
static void
message_text(struct acp_prompt *p, const char *text)
{
    if (text == NULL || *text == '\0')
        return;
    if (p->said && p->trail < 2)
        send_chunk(p->b, p->session, "agent_message_chunk", p->trail == 1 ? "\n" : "\n\n");
    send_chunk(p->b, p->session, "agent_message_chunk", text);
    note_text(p, text);
}

/* approval: ask the client, and remember the request until it answers. */
static void
on_approval(struct acp_prompt *p, const json_t *d)
{
    struct acp_bridge *b = p->b;
    const char *call = json_string_value(json_object_get(d, "call"));
    const char *tool = json_string_value(json_object_get(d, "tool"));
    const char *category = json_string_value(json_object_get(d, "category"));
    const json_t *args = json_object_get(d, "arguments");
    if (call == NULL || strlen(call) >= sizeof b->pending->call)
        return;
    json_t *tc = tool_call_update(call, tool, args, p->workspace);
    json_object_del(tc, "sessionUpdate");
    const char *path = json_string_value(json_object_get(d, "path"));
    const char *diff = json_string_value(json_object_get(d, "diff"));
    char *abs =
        acp_abs_path(p->workspace, path ? path : json_string_value(json_object_get(args, "path")));
    json_t *block = abs && diff ? acp_diff_block(abs, diff) : NULL;
    if (block != NULL)
        json_object_set_new(tc, "content", json_pack("[o]", block));
    free(abs);
    struct acp_pending *q = xcalloc(1, sizeof *q);
    q->id = ++b->next_id;
    snprintf(q->session, sizeof q->session, "%s", p->session);
    snprintf(q->call, sizeof q->call, "%s", call);
    snprintf(q->category, sizeof q->category, "%s", category ? category : "");
    q->next = b->pending;
    b->pending = q;
    /* The option ids are the kinds, so an answer names what to do. */
    send_take(
        b, acp_request_take(
               q->id, "session/request_permission",
               json_pack("{s:s, s:o, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, "
                         "{s:s, s:s, s:s}]}",
                         "sessionId", p->session, "toolCall", tc, "options", "optionId",
                         "allow_once", "name", "Allow once", "kind", "allow_once", "optionId",
                         "allow_always", "name", "Always allow", "kind", "allow_always", "optionId",
                         "reject_once", "name", "Reject", "kind", "reject_once", "optionId",
                         "reject_always", "name", "Always reject", "kind", "reject_always")));
}

/* approval_decision: the call runs, or it failed and why. */
static void
on_approval_decision(struct acp_prompt *p, const json_t *d)
{
    const char *call = json_string_value(json_object_get(d, "call"));
    const char *decision = json_string_value(json_object_get(d, "decision"));
    const char *feedback = json_string_value(json_object_get(d, "feedback"));
    if (call == NULL || decision == NULL)
        return;
    /* Answered here or elsewhere: a later answer to our request is moot. */
    drop_pending(p->b, p->session, call);
    json_t *u = json_pack("{s:s, s:s}", "sessionUpdate", "tool_call_update", "toolCallId", call);
    if (strcmp(decision, "allow_once") == 0 || strcmp(decision, "allow_always") == 0 ||
        strcmp(decision, "auto") == 0) {
        json_object_set_new(u, "status", json_string("in_progress"));
    } else {
        char text[600];
        snprintf(text, sizeof text, "%s%s%.400s",
                 strcmp(decision, "deny") == 0      ? "Denied by the session's approval policy"
                 : strcmp(decision, "timeout") == 0 ? "Nobody answered the approval in time"
                                                    : "Rejected",
                 feedback ? ": " : "", feedback ? feedback : "");
        json_object_set_new(u, "status", json_string("failed"));
        json_object_set_new(u, "content", json_pack("[o]", text_content(text)));
    }
    send_update_take(p->b, p->session, u);
}

/* tool_output: the command's output so far, as the call's content. */
static void
on_tool_output(struct acp_prompt *p, const json_t *d)
{
    const char *call = json_string_value(json_object_get(d, "call"));
    const char *piece = json_string_value(json_object_get(d, "content"));
    if (call == NULL || piece == NULL)
        return;
    const char *so_far = json_string_value(json_object_get(p->outputs, call));
    size_t a = so_far ? strlen(so_far) : 0, n = strlen(piece);
    char *all = xmalloc(a + n + 1);
    memcpy(all, so_far ? so_far : "", a);
    memcpy(all + a, piece, n + 1);
    const char *tail = all;
    if (a + n > ACP_OUTPUT_MAX) {
        tail = all + (a + n - ACP_OUTPUT_MAX);
        while (((unsigned char)*tail & 0xC0) == 0x80)
            tail++;
    }
    json_object_set_new(p->outputs, call, json_string(tail));
    free(all);
    send_update_take(p->b, p->session,
                     json_pack("{s:s, s:s, s:s, s:[o]}", "sessionUpdate", "tool_call_update",
                               "toolCallId", call, "status", "in_progress", "content",
                               text_content(json_string_value(json_object_get(p->outputs, call)))));
}

/* tool_result: the call's end, with its diff, its output or its summary. */
static void
on_tool_result(struct acp_prompt *p, const json_t *d)
{
    const char *call = json_string_value(json_object_get(d, "call"));
    const char *tool = json_string_value(json_object_get(d, "tool"));
    if (call == NULL)
        return;
    if (tool == NULL)
        tool = json_string_value(json_object_get(p->calls, call));
    if (tool != NULL && !acp_tool_shown(tool))
        return;
    const char *summary = json_string_value(json_object_get(d, "summary"));
    const char *path = json_string_value(json_object_get(d, "path"));
    const char *diff = json_string_value(json_object_get(d, "diff"));
    const char *output = json_string_value(json_object_get(p->outputs, call));
    char *abs = acp_abs_path(p->workspace, path);
    json_t *content = json_array();
    json_t *block = abs && diff ? acp_diff_block(abs, diff) : NULL;
    if (block != NULL)
        json_array_append_new(content, block);
    else if (output != NULL && *output != '\0') {
        json_array_append_new(content, text_content(output));
        /* A command that failed: its output alone does not say how ("exit
         * 2", "timed out"), and the editor shows only the content. */
        if (json_is_false(json_object_get(d, "ok")) && summary != NULL)
            json_array_append_new(content, text_content(summary));
    } else
        json_array_append_new(content, text_content(summary ? summary : ""));
    json_t *raw = json_deep_copy(d);
    json_object_del(raw, "diff");
    json_t *u =
        json_pack("{s:s, s:s, s:s, s:o, s:o}", "sessionUpdate", "tool_call_update", "toolCallId",
                  call, "status", json_is_false(json_object_get(d, "ok")) ? "failed" : "completed",
                  "content", content, "rawOutput", raw);
    if (abs != NULL)
        json_object_set_new(u, "locations", locations(NULL, abs));
    free(abs);
    send_update_take(p->b, p->session, u);
}

/* One SSE event of the turn, as ACP updates. */
static void
on_event(struct acp_prompt *p, const char *event, const json_t *d)
{
    struct acp_bridge *b = p->b;
    if (strcmp(event, "delta") == 0) {
        const char *t = json_string_value(json_object_get(d, "content"));
        send_chunk(b, p->session, "agent_message_chunk", t);
        note_text(p, t);
    } else if (strcmp(event, "thinking") == 0) {
        send_chunk(b, p->session, "agent_thought_chunk",
                   json_string_value(json_object_get(d, "content")));
    } else if (strcmp(event, "tool_call") == 0) {
        const char *call = json_string_value(json_object_get(d, "id"));
        const char *tool = json_string_value(json_object_get(d, "name"));
        if (call == NULL || tool == NULL)
            return;
        json_object_set_new(p->calls, call, json_string(tool));
        if (acp_tool_shown(tool))
            send_update_take(
                b, p->session,
                tool_call_update(call, tool, json_object_get(d, "arguments"), p->workspace));
    } else if (strcmp(event, "approval") == 0) {
        on_approval(p, d);
    } else if (strcmp(event, "approval_decision") == 0) {
        on_approval_decision(p, d);
    } else if (strcmp(event, "tool_output") == 0) {
        on_tool_output(p, d);
    } else if (strcmp(event, "tool_result") == 0) {
        on_tool_result(p, d);
    } else if (strcmp(event, "question") == 0) {
        const char *q = json_string_value(json_object_get(d, "question"));
        message_text(p, q);
        p->asked = true;
        json_t *opts = json_object_get(d, "options");
        if (json_array_size(opts) > 0) {
            size_t i;
            json_t *o;
            send_chunk(b, p->session, "agent_message_chunk", "\n");
            json_array_foreach(opts, i, o)
            {
                char line[1024];
                snprintf(line, sizeof line, "\n- %s",
                         json_string_value(o) ? json_string_value(o) : "");
                send_chunk(b, p->session, "agent_message_chunk", line);
            }
            p->trail = 0;
        }
    } else if (strcmp(event, "completion") == 0) {
        const char *text = json_string_value(json_object_get(d, "result"));
        if (json_is_true(json_object_get(d, "plan")) && text != NULL)
            send_update_take(b, p->session,
                             json_pack("{s:s, s:o}", "sessionUpdate", "plan", "entries",
                                       acp_plan_entries(text)));
        message_text(p, text);
    } else if (strcmp(event, "error") == 0) {
        const char *m = json_string_value(json_object_get(d, "message"));
        free(p->error);
        p->error = xstrdup(m ? m : "the turn failed");
    } else if (strcmp(event, "done") == 0) {
        const char *sr = json_string_value(json_object_get(d, "stop_reason"));
        const char *st = json_string_value(json_object_get(d, "status"));
        const char *reason = json_string_value(json_object_get(d, "reason"));
        p->done = true;
        /* Why the turn stopped for the user (an approval not answered, the
         * step limit) is said as the agent's message, unless it asked. */
        if (reason != NULL && !p->asked && sr != NULL &&
            (strcmp(sr, "needs_user") == 0 || strcmp(sr, "max_steps") == 0))
            message_text(p, reason);
        free(p->stop_reason);
        free(p->turn_status);
        p->stop_reason = sr ? xstrdup(sr) : NULL;
        p->turn_status = st ? xstrdup(st) : NULL;
    } else if (strcmp(event, "truncated") == 0) {
        fprintf(stderr, "caretictl acp: %s: %lld older messages left out to fit the window\n",
                p->session, json_integer_value(json_object_get(d, "dropped_messages")));
    }
    /* message, step and usage say nothing ACP v1 shows. */
}

/* One line of the turn's SSE stream: an event name, or its data. */
static void
on_sse_line(struct acp_prompt *p, const char *line, size_t len)
{
    if (len >= 7 && strncmp(line, "event: ", 7) == 0) {
        snprintf(p->event, sizeof p->event, "%.*s", (int)(len - 7), line + 7);
        return;
    }
    if (len < 6 || strncmp(line, "data: ", 6) != 0)
        return;
    json_t *d = json_loadb(line + 6, len - 6, 0, NULL);
    if (d != NULL)
        on_event(p, p->event, d);
    json_decref(d);
}

/* curl's write callback for a turn: its lines, or an error body.  Never
 * calls curl. */
static size_t
on_prompt_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct acp_prompt *p = userdata;
    size_t n = size * nmemb;
    if (p->status == 0)
        curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &p->status);
    if (p->status >= 400) {
        if (p->err_len + n > 1024 * 1024)
            return 0;
        p->err_body = xrealloc(p->err_body, p->err_len + n + 1);
        memcpy(p->err_body + p->err_len, ptr, n);
        p->err_len += n;
        p->err_body[p->err_len] = '\0';
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] != '\n') {
            if (p->line_len + 1 > ACP_MAX_LINE)
                return 0;
            grow(&p->line, p->line_len, &p->line_cap);
            p->line[p->line_len++] = ptr[i];
            continue;
        }
        grow(&p->line, p->line_len, &p->line_cap);
        p->line[p->line_len] = '\0';
        on_sse_line(p, p->line, p->line_len);
        p->line_len = 0;
    }
    return n;
}

/* Free P and its transfer (out of the multi handle already).  NULL-safe. */
static void
prompt_free(struct acp_prompt *p)
{
    if (p == NULL)
        return;
    json_decref(p->rpc_id);
    curl_easy_cleanup(p->h);
    curl_slist_free_all(p->headers);
    free(p->body);
    free(p->workspace);
    free(p->line);
    free(p->err_body);
    free(p->stop_reason);
    free(p->turn_status);
    free(p->error);
    json_decref(p->calls);
    json_decref(p->outputs);
    free(p);
}

/* Answer the prompt whose stream ended with RES. */
static void
prompt_finish(struct acp_prompt *p, CURLcode res)
{
    struct acp_bridge *b = p->b;
    char why[1024];
    drop_pending(b, p->session, NULL);
    if (p->status >= 400) {
        json_t *j = p->err_body ? json_loadb(p->err_body, p->err_len, 0, NULL) : NULL;
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        snprintf(why, sizeof why, "%s", m ? m : "caretid refused the prompt");
        json_decref(j);
        send_daemon_error(b, p->rpc_id, (int)p->status, why);
        return;
    }
    if (p->cancelled) {
        /* ACP: a cancelled prompt answers "cancelled", never an error. */
        send_take(b, acp_result_take(p->rpc_id, json_pack("{s:s}", "stopReason", "cancelled")));
        return;
    }
    if (res != CURLE_OK && p->status == 0) {
        int code = ctl_conn_failed(&p->conn, p->h, res, p->errbuf);
        snprintf(why, sizeof why,
                 code == -CTL_EXIT_NO_DAEMON
                     ? "no caretid running on %s; start it with `systemctl --user start "
                       "caretid` (or `caretid &`), then send the prompt again"
                     : "caretictl could not talk to caretid on %s (its log on stderr says why)",
                 b->ctx->socket);
        send_error(b, p->rpc_id, ACP_INTERNAL_ERROR, why);
        return;
    }
    if (!p->done) {
        snprintf(why, sizeof why,
                 "caretid closed the turn's stream before the turn ended (%s; was it restarted?). "
                 "What the agent did is kept in session %s: load it, or send the prompt again",
                 res != CURLE_OK ? (*p->errbuf ? p->errbuf : curl_easy_strerror(res))
                                 : "no done event",
                 p->session);
        send_error(b, p->rpc_id, ACP_INTERNAL_ERROR, why);
        return;
    }
    const char *stop = acp_stop_reason(p->stop_reason, p->turn_status);
    if (stop == NULL) {
        snprintf(why, sizeof why, "the turn failed: %s",
                 p->error ? p->error
                          : "no reason given; `caretictl doctor` checks the daemon and models");
        send_error(b, p->rpc_id, ACP_INTERNAL_ERROR, why);
        return;
    }
    if (strcmp(stop, "cancelled") == 0) {
        /* Not this editor's cancel: another client's, or a daemon that is
         * stopping (as for a restart).  Say so rather than look cancelled. */
        snprintf(why, sizeof why,
                 "the turn was stopped outside this editor (another client cancelled it, or "
                 "caretid stopped or restarted); what was done is kept in session %s: load it, "
                 "or send the prompt again",
                 p->session);
        send_error(b, p->rpc_id, ACP_INTERNAL_ERROR, why);
        return;
    }
    send_take(b, acp_result_take(p->rpc_id, json_pack("{s:s}", "stopReason", stop)));
}

/* The session's workspace (caller frees; NULL when it has none or the
 * daemon failed: *STATUS and WHY say which), for absolute paths. */
static char *
session_workspace(struct acp_bridge *b, const char *session, int *status, char *why, size_t why_len)
{
    char path[160];
    json_t *s = NULL;
    session_path(path, sizeof path, session, "");
    *status = daemon_call(b, "GET", path, NULL, &s, why, why_len);
    const char *w = json_string_value(json_object_get(s, "workspace"));
    char *out = *status == 200 && w ? xstrdup(w) : NULL;
    json_decref(s);
    return out;
}

/* "/undo": the daemon's undo of the last file change, told as a message. */
static void
prompt_undo(struct acp_bridge *b, const json_t *id, const char *session)
{
    char path[160], why[512], text[2048];
    json_t *ans = NULL;
    session_path(path, sizeof path, session, "/undo");
    json_t *req = json_object();
    int status = daemon_call(b, "POST", path, req, &ans, why, sizeof why);
    json_decref(req);
    if (status != 200) {
        snprintf(text, sizeof text, "Nothing undone: %s", why);
    } else {
        size_t i, used = 0;
        json_t *u;
        used += (size_t)snprintf(text, sizeof text, "Undone:");
        json_array_foreach(json_object_get(ans, "undone"), i, u)
        {
            if (used >= sizeof text - 1)
                break;
            used += (size_t)snprintf(text + used, sizeof text - used, "\n- %s (%s)",
                                     json_string_value(json_object_get(u, "path")),
                                     json_string_value(json_object_get(u, "action")));
        }
    }
    json_decref(ans);
    send_chunk(b, session, "agent_message_chunk", text);
    send_take(b, acp_result_take(id, json_pack("{s:s}", "stopReason", "end_turn")));
}

/* session/prompt: start the turn's stream; drain_finished answers it. */
static void
on_session_prompt(struct acp_bridge *b, const json_t *id, const json_t *params)
{
    char path[160], why[512];
    const char *sid = session_id_param(b, id, params);
    const char *bad = NULL;
    if (sid == NULL)
        return;
    char *text = acp_prompt_text(json_object_get(params, "prompt"), &bad);
    if (text == NULL) {
        send_error(b, id, ACP_INVALID_PARAMS, bad);
        return;
    }
    if (find_prompt(b, sid) != NULL) {
        send_error(b, id, ACP_INVALID_REQUEST,
                   "a prompt is already running in this session; cancel it (session/cancel) or "
                   "wait for its answer");
        free(text);
        return;
    }
    if (strcmp(text, "/undo") == 0) {
        prompt_undo(b, id, sid);
        free(text);
        return;
    }
    int status;
    char *workspace = session_workspace(b, sid, &status, why, sizeof why);
    if (status != 200) {
        send_daemon_error(b, id, status, why);
        free(text);
        return;
    }
    struct acp_prompt *p = xcalloc(1, sizeof *p);
    p->b = b;
    p->rpc_id = json_deep_copy(id);
    snprintf(p->session, sizeof p->session, "%s", sid);
    p->workspace = workspace;
    p->calls = json_object();
    p->outputs = json_object();
    json_t *req = json_pack("{s:s}", "content", text);
    p->body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    free(text);
    p->h = curl_easy_init();
    if (p->h == NULL || ctl_conn_setup(&p->conn, p->h, b->ctx->socket) != 0) {
        send_error(b, id, ACP_INTERNAL_ERROR,
                   "caretictl refuses the daemon's socket (its log on stderr says why)");
        prompt_free(p);
        return;
    }
    char url[256];
    session_path(path, sizeof path, sid, "/messages");
    snprintf(url, sizeof url, "http://localhost%s", path);
    p->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(p->h, CURLOPT_URL, url);
    curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(p->h, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_prompt_data);
    curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(p->h, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(p->h, CURLOPT_PRIVATE, p);
    curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
    /* The multi handle would reuse a kept-alive connection, whose peer
     * ctl_conn_setup never checked: each stream gets its own. */
    curl_easy_setopt(p->h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(p->h, CURLOPT_FORBID_REUSE, 1L);
    curl_multi_add_handle(b->multi, p->h);
    p->next = b->prompts;
    b->prompts = p;
}

/* Answers of streams that ended, taken out of the multi handle here,
 * never inside a curl callback. */
static void
drain_finished(struct acp_bridge *b)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *h = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct acp_prompt *p = NULL;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&p);
        curl_multi_remove_handle(b->multi, h);
        if (p == NULL)
            continue;
        if (p->line_len > 0) {
            grow(&p->line, p->line_len, &p->line_cap);
            p->line[p->line_len] = '\0';
            on_sse_line(p, p->line, p->line_len);
            p->line_len = 0;
        }
        for (struct acp_prompt **pp = &b->prompts; *pp; pp = &(*pp)->next)
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        prompt_finish(p, res);
        prompt_free(p);
    }
}

/* ---- answers to our requests, and notifications ----------------------- */

/* reject_always: the session's policy for CATEGORY becomes "deny".
 * PATCH replaces settings whole, so the current ones are read first. */
static void
deny_category(struct acp_bridge *b, const char *session, const char *category)
{
    char path[160], why[512];
    json_t *s = NULL, *ans = NULL;
    if (*category == '\0')
        return;
    session_path(path, sizeof path, session, "");
    if (daemon_call(b, "GET", path, NULL, &s, why, sizeof why) != 200) {
        fprintf(stderr, "caretictl acp: reading %s's settings: %s\n", session, why);
        json_decref(s);
        return;
    }
    json_t *settings = json_deep_copy(json_object_get(s, "settings"));
    if (!json_is_object(settings)) {
        json_decref(settings);
        settings = json_object();
    }
    json_t *approvals = json_object_get(settings, "approvals");
    if (!json_is_object(approvals)) {
        approvals = json_object();
        json_object_set_new(settings, "approvals", approvals);
    }
    json_object_set_new(approvals, category, json_string("deny"));
    json_t *req = json_pack("{s:o}", "settings", settings);
    if (daemon_call(b, "PATCH", path, req, &ans, why, sizeof why) != 200)
        fprintf(stderr, "caretictl acp: setting %s's %s approvals to deny: %s\n", session, category,
                why);
    json_decref(req);
    json_decref(ans);
    json_decref(s);
}

/* An answer to one of our permission requests: the decision goes to the
 * daemon's approval route. */
static void
on_response(struct acp_bridge *b, const struct acp_msg *m)
{
    struct acp_pending *q = NULL, **pp;
    char path[200], why[512];
    for (pp = &b->pending; *pp; pp = &(*pp)->next)
        if (json_is_integer(m->id) && (*pp)->id == json_integer_value(m->id)) {
            q = *pp;
            *pp = q->next;
            break;
        }
    if (q == NULL) {
        fprintf(stderr, "caretictl acp: an answer to no request of ours (id %s); ignored\n",
                json_is_integer(m->id) ? "integer" : "other");
        return;
    }
    const json_t *outcome = json_object_get(m->result, "outcome");
    const char *kind = json_string_value(json_object_get(outcome, "outcome"));
    const char *option = json_string_value(json_object_get(outcome, "optionId"));
    const char *decision = "reject";
    const char *feedback = NULL;
    if (m->error != NULL) {
        feedback = "the editor could not ask the user";
    } else if (kind != NULL && strcmp(kind, "cancelled") == 0) {
        struct acp_prompt *p = find_prompt(b, q->session);
        if (p != NULL)
            p->cancelled = true;
        cancel_turn(b, q->session);
        free(q);
        return;
    } else if (option != NULL && strcmp(option, "allow_once") == 0) {
        decision = "allow_once";
    } else if (option != NULL && strcmp(option, "allow_always") == 0) {
        decision = "allow_always";
    } else if (option != NULL && strcmp(option, "reject_always") == 0) {
        deny_category(b, q->session, q->category);
    }
    json_t *req = json_pack("{s:s}", "decision", decision), *ans = NULL;
    if (feedback != NULL)
        json_object_set_new(req, "feedback", json_string(feedback));
    char *ecall = ctl_escape(q->call);
    char tail[160];
    snprintf(tail, sizeof tail, "/approvals/%s", ecall);
    free(ecall);
    session_path(path, sizeof path, q->session, tail);
    int status = daemon_call(b, "POST", path, req, &ans, why, sizeof why);
    if (status != 200)
        fprintf(stderr, "caretictl acp: answering approval %s: %s\n", q->call, why);
    json_decref(req);
    json_decref(ans);
    free(q);
}

/* session/cancel: stop our turn in that session. */
static void
on_cancel(struct acp_bridge *b, const json_t *params)
{
    const char *sid = json_string_value(json_object_get(params, "sessionId"));
    struct acp_prompt *p = sid ? find_prompt(b, sid) : NULL;
    if (p == NULL)
        return; /* nothing of ours runs there: a late cancel is no error */
    p->cancelled = true;
    drop_pending(b, sid, NULL);
    cancel_turn(b, sid);
}

/* Handle one line of input; every request gets exactly one answer. */
static void
dispatch(struct acp_bridge *b, const char *line, size_t len)
{
    struct acp_msg m;
    acp_msg_parse(line, len, &m);
    switch (m.kind) {
    case ACP_MSG_INVALID:
        send_error(b, m.id, m.err_code, m.err_msg);
        break;
    case ACP_MSG_RESPONSE:
        on_response(b, &m);
        break;
    case ACP_MSG_NOTIFICATION:
        if (strcmp(m.method, "session/cancel") == 0)
            on_cancel(b, m.params);
        else
            fprintf(stderr, "caretictl acp: notification %s ignored\n", m.method);
        break;
    case ACP_MSG_REQUEST: {
        const struct acp_method *found = NULL;
        for (size_t i = 0; i < sizeof acp_methods / sizeof acp_methods[0]; i++)
            if (strcmp(acp_methods[i].name, m.method) == 0)
                found = &acp_methods[i];
        if (strcmp(m.method, "session/cancel") == 0) {
            /* A notification in ACP; a client that sends it as a request
             * gets it done, and an answer. */
            on_cancel(b, m.params);
            send_take(b, acp_result_take(m.id, NULL));
        } else if (found == NULL) {
            char why[200];
            snprintf(why, sizeof why, "method not found: %.120s", m.method);
            send_error(b, m.id, ACP_METHOD_NOT_FOUND, why);
        } else if (!b->initialized && found->fn != on_initialize) {
            send_error(b, m.id, ACP_INVALID_REQUEST, "call initialize first");
        } else if (m.params == NULL && found->fn != on_authenticate) {
            send_error(b, m.id, ACP_INVALID_PARAMS, "params must be an object");
        } else {
            found->fn(b, m.id, m.params);
        }
        break;
    }
    }
    acp_msg_clear(&m);
}

/* Read what stdin has (poll said it is readable) and handle each whole
 * line.  EOF ends the bridge. */
static void
read_input(struct acp_bridge *b)
{
    char buf[65536];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (b->in_len > 0 && !b->skipping)
            dispatch(b, b->in, b->in_len);
        b->in_len = 0;
        b->quit = true;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            if (b->skipping)
                b->skipping = false;
            else if (b->in_len > 0 && !(b->in_len == 1 && b->in[0] == '\r'))
                dispatch(b, b->in, b->in_len);
            b->in_len = 0;
            continue;
        }
        if (b->skipping)
            continue;
        if (b->in_len >= ACP_MAX_LINE) {
            send_error(b, NULL, ACP_PARSE_ERROR, "message too long; it was skipped");
            b->skipping = true;
            b->in_len = 0;
            continue;
        }
        grow(&b->in, b->in_len, &b->in_cap);
        b->in[b->in_len++] = buf[i];
    }
}

/* caretictl acp [-m MODEL]: serve stdin until it ends.  Returns the exit code. */
static int
run_acp(struct ctl_ctx *ctx, int argc, char **argv)
{
    struct acp_bridge b = {.ctx = ctx};
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) {
            b.model = argv[++i];
        } else {
            fprintf(stderr, "usage: caretictl acp [-m MODEL]\n");
            return CTL_EXIT_USAGE;
        }
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "caretictl acp: speaking ACP on stdin/stdout; an editor starts this "
                        "(see caretictl(1)). Ctrl-D ends it.\n");
    /* A client that closed stdout is seen as a write error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    b.multi = curl_multi_init();
    while (!b.quit) {
        int running = 0;
        curl_multi_perform(b.multi, &running);
        drain_finished(&b);
        if (b.quit)
            break;
        struct curl_waitfd w = {.fd = STDIN_FILENO, .events = CURL_WAIT_POLLIN};
        curl_multi_poll(b.multi, &w, 1, 1000, NULL);
        struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
        /* POLLHUP counts too: read() then sees the end. */
        while (!b.quit && poll(&pf, 1, 0) > 0) {
            read_input(&b);
            if (b.prompts != NULL)
                break; /* let the streams run between lines */
        }
    }
    /* The editor left: its turns would go on unwatched, so stop them. */
    while (b.prompts != NULL) {
        struct acp_prompt *p = b.prompts;
        b.prompts = p->next;
        curl_multi_remove_handle(b.multi, p->h);
        if (!p->done)
            cancel_turn(&b, p->session);
        prompt_free(p);
    }
    while (b.pending != NULL) {
        struct acp_pending *q = b.pending;
        b.pending = q->next;
        free(q);
    }
    curl_multi_cleanup(b.multi);
    free(b.in);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_acp_entry = {
    "acp",
    NULL,
    "[-m MODEL]",
    "serve the agent to an editor over the Agent Client Protocol (stdin/stdout)",
    0,
    2,
    run_acp,
};
