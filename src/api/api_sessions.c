/*
 * api_sessions: the agent-state routes under /careti/v1/sessions.  A
 * posted message starts a turn of the turn engine (src/agent/turn.c);
 * this room only turns what the turn reports into server-sent events for
 * the client that asked and into /careti/v1/events for everyone.  A turn
 * belongs to the daemon, not to its client: a client that leaves does not
 * stop it (POST .../cancel does).  Holds request ids, never pointers,
 * across every asynchronous hop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "careti/agent/command.h"
#include "careti/agent/turn.h"
#include "careti/agent/undo.h"
#include "careti/api/api_sessions.h"
#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"
#include "careti/http/router.h"

#define SESSIONS_PREFIX "/careti/v1/sessions"

struct session_turn;

/* Sessions recently used, with their messages, so the next turn is
 * planned from memory (this daemon is the database's only writer, so the
 * copy stays true).  Keyed by full id. */
#define SESSION_CACHE_SIZE 8

struct cached_session {
    json_t *session;
    uint64_t used;
};

struct sessions_api {
    struct cached_session cache[SESSION_CACHE_SIZE];
    uint64_t cache_clock;
    struct http_server *srv;
    struct store *store;
    struct events *events;
    struct turn_env env; /* what turns run on, the config in force among it */
    struct session_turn *turns;
    void (*idle_cb)(void *arg); /* waits for the last turn to end */
    void *idle_arg;
    bool stopping;
};

enum op_kind {
    OP_CREATE,
    OP_LIST,
    OP_GET,
    OP_PATCH,
    OP_DELETE,
    OP_EXPORT,
    OP_MESSAGE,
    OP_UNDO,
    OP_CHANGES,
    OP_ALWAYS,
};

/* A request waiting for the store. */
struct op {
    struct sessions_api *api;
    uint64_t request_id;
    enum op_kind kind;
    json_t *body;
    char format[8];
};

/* A turn in progress, as this room sees it: the turn, and the client
 * that asked (NULL once it left; the turn goes on). */
struct session_turn {
    struct sessions_api *api;
    struct session_turn *next;
    struct turn *turn;
    char session_id[32];
    struct http_request *req;
    int64_t reply_id;
};

/* ---- helpers ---- */

static struct http_request *
find_req(struct sessions_api *api, uint64_t id)
{
    return http_server_find_request(api->srv, id);
}

/* "/careti/v1/sessions/ID/..." -> ID in OUT; answers 400 and returns false
 * when the path has no usable id. */
static bool
path_session_id(struct http_request *req, char *out, size_t outlen)
{
    const char *p = http_request_path(req) + strlen(SESSIONS_PREFIX);
    size_t n = *p == '/' ? strcspn(p + 1, "/") : 0;
    if (n == 0 || n >= outlen) {
        router_respond_error(req, 400, "the session id in the path is missing or too long");
        return false;
    }
    memcpy(out, p + 1, n);
    out[n] = '\0';
    return true;
}

/* Whether REQ may change sessions: not when it comes from a command the
 * agent runs, which could otherwise approve its own calls or loosen its
 * session's policy.  Answers 403 when it may not. */
static bool
not_from_command(struct http_request *req)
{
    pid_t pid = http_request_peer_pid(req);
    if (pid == 0 || !command_runs_pid(pid))
        return true;
    router_respond_error(req, 403,
                         "a command run by the agent cannot change sessions or answer "
                         "approvals: only the user can");
    return false;
}

static bool
store_usable(struct sessions_api *api, struct http_request *req)
{
    /* While the store is still opening, requests queue behind the open
     * (the first request of a socket-activated daemon arrives then). */
    if (!store_failed(api->store))
        return true;
    router_respond_error(req, 503, "%s; model routes keep working", store_error(api->store));
    return false;
}

static void
respond_store_error(struct sessions_api *api, struct http_request *req, const struct cerr *err)
{
    if (store_failed(api->store))
        router_respond_error(req, 503, "%s; model routes keep working", store_error(api->store));
    else
        router_respond_error(req, err->http_status ? err->http_status : 500, "%s", err->msg);
}

static struct session_turn *
find_turn(struct sessions_api *api, const char *id_prefix)
{
    for (struct session_turn *t = api->turns; t != NULL; t = t->next)
        if (strncmp(t->session_id, id_prefix, strlen(id_prefix)) == 0)
            return t;
    return NULL;
}

static const char *
session_id_of(const json_t *session)
{
    return jfield_str(session, "id");
}

/* The cached session with exactly ID; borrowed, or NULL. */
static json_t *
cache_get(struct sessions_api *api, const char *id)
{
    for (size_t i = 0; i < SESSION_CACHE_SIZE; i++) {
        json_t *s = api->cache[i].session;
        if (s != NULL && strcmp(session_id_of(s), id) == 0) {
            api->cache[i].used = ++api->cache_clock;
            return s;
        }
    }
    return NULL;
}

static void
cache_drop(struct sessions_api *api, const char *id)
{
    for (size_t i = 0; i < SESSION_CACHE_SIZE; i++) {
        json_t *s = api->cache[i].session;
        if (s != NULL && strcmp(session_id_of(s), id) == 0) {
            json_decref(s);
            api->cache[i].session = NULL;
        }
    }
}

/* Keep SESSION (a reference is taken), evicting the least recently used. */
static void
cache_put(struct sessions_api *api, json_t *session)
{
    cache_drop(api, session_id_of(session));
    size_t victim = 0;
    for (size_t i = 0; i < SESSION_CACHE_SIZE; i++) {
        if (api->cache[i].session == NULL) {
            victim = i;
            break;
        }
        if (api->cache[i].used < api->cache[victim].used)
            victim = i;
    }
    json_decref(api->cache[victim].session);
    api->cache[victim].session = json_incref(session);
    api->cache[victim].used = ++api->cache_clock;
}

/* Add MSG (a reference is taken) to the cached copy of session ID. */
static void
cache_append(struct sessions_api *api, const char *id, json_t *msg)
{
    json_t *s = cache_get(api, id);
    if (s != NULL)
        json_array_append(json_object_get(s, "messages"), msg);
    json_decref(msg);
}

/* A turn's own view of a session: the message list is copied (shallowly)
 * so appends to the cache do not show up in it. */
static json_t *
session_snapshot(const json_t *session)
{
    json_t *copy = json_copy((json_t *)session);
    json_object_set_new(copy, "messages", json_copy(json_object_get(session, "messages")));
    return copy;
}

static void
sse(struct session_turn *t, const char *event, json_t *data)
{
    if (t->req != NULL) {
        struct sbuf b = {0};
        sbuf_adds(&b, "event: ");
        sbuf_adds(&b, event);
        sbuf_adds(&b, "\ndata: ");
        sbuf_add_json(&b, data);
        sbuf_adds(&b, "\n\n");
        http_response_write(t->req, b.s, b.len);
        sbuf_free(&b);
    }
    json_decref(data);
}

static void
publish(struct sessions_api *api, const char *type, json_t *data)
{
    events_publish(api->events, type, data);
    json_decref(data);
}

static struct op *
op_new(struct sessions_api *api, struct http_request *req, enum op_kind kind)
{
    struct op *o = xcalloc(1, sizeof *o);
    o->api = api;
    o->request_id = http_request_id(req);
    o->kind = kind;
    return o;
}

static void
op_free(struct op *o)
{
    json_decref(o->body);
    free(o);
}

/* Parse an optional JSON object body; answers 400 and returns false when
 * it is not one. */
static bool
parse_object(struct http_request *req, bool required, json_t **out)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    *out = NULL;
    if (len == 0) {
        if (required)
            router_respond_error(req, 400, "missing request body: send a JSON object");
        else
            *out = json_object();
        return !required;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        router_respond_error(req, 400, "the body must be a JSON object (%s)",
                             j == NULL ? jerr.text : "not an object");
        return false;
    }
    *out = j;
    return true;
}

/* settings.approvals: categories read, edit, command; auto, ask, deny. */
static bool
approvals_ok(const json_t *ap)
{
    if (!json_is_object(ap))
        return false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ap, key, v)
    {
        if (strcmp(key, "read") != 0 && strcmp(key, "edit") != 0 && strcmp(key, "command") != 0)
            return false;
        if (config_approval_policy_parse(json_string_value(v)) < 0)
            return false;
    }
    return true;
}

/* Session fields a client may set: names and types checked. */
static bool
check_session_fields(struct http_request *req, const json_t *body)
{
    static const char *const strings[] = {"title", "model", "provider", "workspace"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
            if (strcmp(key, strings[i]) == 0) {
                known = true;
                if (!json_is_string(v) && !(json_is_null(v) && strcmp(key, "title") != 0)) {
                    router_respond_error(req, 400, "%s must be a string%s", key,
                                         strcmp(key, "title") != 0 ? " or null" : "");
                    return false;
                }
            }
        }
        if (strcmp(key, "mode") == 0) {
            known = true;
            const char *m = json_string_value(v);
            if (m == NULL || (strcmp(m, "chat") != 0 && strcmp(m, "act") != 0 &&
                              strcmp(m, "plan") != 0)) {
                router_respond_error(req, 400, "mode must be chat, act or plan");
                return false;
            }
        }
        if (strcmp(key, "settings") == 0) {
            known = true;
            json_t *ap = json_object_get(v, "approvals");
            if (ap != NULL && !approvals_ok(ap)) {
                router_respond_error(req, 400,
                                     "settings.approvals must be an object with read, edit "
                                     "and command, each auto, ask or deny");
                return false;
            }
            json_t *cl = json_object_get(v, "context_length");
            if (!json_is_object(v) || (cl != NULL && (!json_is_integer(cl) ||
                                                      json_integer_value(cl) < 512))) {
                router_respond_error(req, 400,
                                     "settings must be an object; settings.context_length an "
                                     "integer of at least 512");
                return false;
            }
        }
        if (!known) {
            router_respond_error(req, 400,
                                 "unknown field \"%s\"; sessions take title, model, provider, "
                                 "workspace, mode and settings",
                                 key);
            return false;
        }
    }
    return true;
}

/* ---- export ---- */

static char *
export_markdown(const json_t *s)
{
    struct sbuf b = {0};
    const char *title = jfield_str(s, "title");
    sbuf_adds(&b, "# ");
    sbuf_adds(&b, title && *title ? title : "(untitled session)");
    sbuf_adds(&b, "\n\n");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(s, "messages"), i, m)
    {
        const char *role = jfield_str(m, "role");
        const char *status = jfield_str(m, "status");
        sbuf_adds(&b, "## ");
        sbuf_adds(&b, role ? role : "?");
        if (jfield_str(m, "model")) {
            sbuf_adds(&b, " (");
            sbuf_adds(&b, jfield_str(m, "model"));
            sbuf_adds(&b, ")");
        }
        if (status != NULL && strcmp(status, "complete") != 0) {
            sbuf_adds(&b, " [");
            sbuf_adds(&b, status);
            sbuf_adds(&b, "]");
        }
        sbuf_adds(&b, "\n\n");
        const char *content = jfield_str(m, "content");
        if (content != NULL && *content != '\0') {
            sbuf_adds(&b, content);
            sbuf_adds(&b, "\n\n");
        }
        size_t j;
        json_t *call;
        json_array_foreach(json_object_get(m, "tool_calls"), j, call)
        {
            /* Stored calls are {id, name, arguments}; older rows kept
             * Ollama's {function: {name, arguments}}. */
            const json_t *fn = json_object_get(call, "function") ? json_object_get(call, "function")
                                                                 : call;
            char *args = json_dumps(json_object_get(fn, "arguments"),
                                    JSON_COMPACT | JSON_ENCODE_ANY);
            sbuf_adds(&b, "Tool call: `");
            sbuf_adds(&b, jfield_str(fn, "name") ? jfield_str(fn, "name") : "?");
            sbuf_adds(&b, "` `");
            sbuf_adds(&b, args ? args : "{}");
            sbuf_adds(&b, "`\n\n");
            free(args);
        }
        const char *error = jfield_str(m, "error");
        if (error != NULL && *error != '\0') {
            sbuf_adds(&b, "Error: ");
            sbuf_adds(&b, error);
            sbuf_adds(&b, "\n\n");
        }
    }
    return b.s;
}

/* ---- store callbacks for plain routes ---- */

/* An agent session's live state, for GET: whether a turn runs, the
 * approval it waits for, and how the last turn ended. */
static void
add_agent_state(struct sessions_api *api, json_t *session)
{
    const char *mode = jfield_str(session, "mode");
    if (mode == NULL || strcmp(mode, "chat") == 0)
        return;
    struct session_turn *t = find_turn(api, session_id_of(session));
    const json_t *pending = t != NULL ? turn_pending_approval(t->turn) : NULL;
    const char *stop = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(session, "messages"), i, m)
    {
        const char *r = jfield_str(json_object_get(m, "agent"), "stop_reason");
        if (r != NULL)
            stop = r;
    }
    /* The policy in force: the session's, else the config's. */
    json_t *given = json_object_get(json_object_get(session, "settings"), "approvals");
    json_t *policy = json_object();
    for (int c = 0; c < APPROVAL_CATEGORIES; c++) {
        const char *name = config_approval_category_name((enum approval_category)c);
        const char *p = jfield_str(given, name);
        if (p == NULL || config_approval_policy_parse(p) < 0)
            p = config_approval_policy_name(api->env.cfg->agent.approvals[c]);
        json_object_set_new(policy, name, json_string(p));
    }
    json_object_set_new(session, "agent",
                        json_pack("{s:b, s:s?, s:O?, s:o}", "running", t != NULL, "stop_reason",
                                  stop, "pending_approval", pending, "approvals", policy));
}

static void
on_op_done(json_t *result, const struct cerr *err, void *arg)
{
    struct op *o = arg;
    struct sessions_api *api = o->api;
    struct http_request *req = o->kind == OP_ALWAYS ? NULL : find_req(api, o->request_id);
    if (o->kind == OP_ALWAYS && err != NULL) {
        log_error("allow_always could not be stored: %s", err->msg);
    } else if (o->kind == OP_ALWAYS) {
        cache_drop(api, session_id_of(result));
        publish(api, "session.updated", json_incref(result));
    } else if (req != NULL && err != NULL) {
        respond_store_error(api, req, err);
    } else if (req != NULL) {
        switch (o->kind) {
        case OP_CREATE:
            publish(api, "session.created", json_incref(result));
            http_respond_json_take(req, 201, json_incref(result));
            break;
        case OP_PATCH:
            cache_drop(api, session_id_of(result));
            publish(api, "session.updated", json_incref(result));
            http_respond_json_take(req, 200, json_incref(result));
            break;
        case OP_DELETE:
            cache_drop(api, jfield_str(result, "deleted"));
            publish(api, "session.deleted",
                    json_pack("{s:O}", "id", json_object_get(result, "deleted")));
            http_respond_json_take(req, 200, json_incref(result));
            break;
        case OP_EXPORT:
            if (strcmp(o->format, "md") == 0) {
                char *md = export_markdown(result);
                http_respond(req, 200, "text/markdown; charset=utf-8", NULL, md, strlen(md));
                free(md);
            } else {
                http_respond_json_take(req, 200, json_incref(result));
            }
            break;
        case OP_GET:
            add_agent_state(api, result);
            http_respond_json_take(req, 200, json_incref(result));
            break;
        case OP_ALWAYS:
        case OP_LIST:
        case OP_MESSAGE:
        case OP_UNDO:
        case OP_CHANGES:
            http_respond_json_take(req, 200, json_incref(result));
            break;
        }
    }
    json_decref(result);
    op_free(o);
}

static void patch_checked(struct op *o, const json_t *session);

/* PATCH and DELETE name a session by prefix: find its full id first. */
static void
on_op_session_found(json_t *session, const struct cerr *err, void *arg)
{
    struct op *o = arg;
    struct sessions_api *api = o->api;
    struct http_request *req = find_req(api, o->request_id);
    const char *id = jfield_str(session, "id");
    if (req == NULL || err != NULL) {
        if (req != NULL)
            respond_store_error(api, req, err);
        json_decref(session);
        op_free(o);
        return;
    }
    if (o->kind == OP_DELETE && find_turn(api, id) != NULL) {
        router_respond_error(req, 409, "session %s is answering; cancel it first", id);
        json_decref(session);
        op_free(o);
        return;
    }
    if (o->kind == OP_UNDO && find_turn(api, id) != NULL) {
        router_respond_error(req, 409, "session %s is answering; undo once its turn is over",
                             id);
        json_decref(session);
        op_free(o);
        return;
    }
    if (o->kind == OP_PATCH) {
        patch_checked(o, session);
        json_decref(session);
        return;
    }
    if (o->kind == OP_DELETE)
        store_delete_session(api->store, id, on_op_done, o);
    else if (o->kind == OP_CHANGES)
        store_list_changes(api->store, id, on_op_done, o);
    else if (o->kind == OP_UNDO)
        agent_undo(api->env.loop, api->store, id, jfield_str(session, "workspace"),
                   json_integer_value(json_object_get(o->body, "to")), on_op_done, o);
    else
        store_update_session(api->store, id, o->body, on_op_done, o);
    json_decref(session);
}

/* ---- the turn, as events ---- */

static void
on_turn_user_stored(void *arg, const json_t *msg)
{
    struct session_turn *st = arg;
    cache_append(st->api, st->session_id, json_copy((json_t *)msg));
    publish(st->api, "message.created",
            json_pack("{s:s, s:O}", "session", st->session_id, "message", msg));
    sse(st, "message", json_incref((json_t *)msg));
}

static void
on_turn_reply_started(void *arg, const json_t *msg)
{
    struct session_turn *st = arg;
    st->reply_id = (int64_t)json_integer_value(json_object_get(msg, "id"));
    publish(st->api, "message.created",
            json_pack("{s:s, s:O}", "session", st->session_id, "message", msg));
}

static void
on_turn_truncated(void *arg, const json_t *info)
{
    sse(arg, "truncated", json_incref((json_t *)info));
}

static void
on_turn_thinking(void *arg, const char *text)
{
    sse(arg, "thinking", json_pack("{s:s}", "content", text));
}

static void
on_turn_delta(void *arg, const char *text)
{
    struct session_turn *st = arg;
    sse(st, "delta", json_pack("{s:s}", "content", text));
    publish(st->api, "message.delta",
            json_pack("{s:s, s:I, s:s}", "session", st->session_id, "message",
                      (json_int_t)st->reply_id, "content", text));
}

static void
on_turn_tool_call(void *arg, const json_t *call)
{
    struct session_turn *st = arg;
    sse(st, "tool_call", json_incref((json_t *)call));
    publish(st->api, "message.tool_call",
            json_pack("{s:s, s:I, s:O}", "session", st->session_id, "message",
                      (json_int_t)st->reply_id, "call", call));
}

static void
on_turn_agent_event(void *arg, const char *event, const json_t *data)
{
    struct session_turn *st = arg;
    if (strcmp(event, "step") == 0)
        st->reply_id = (int64_t)json_integer_value(json_object_get(data, "message_id"));
    sse(st, event, json_incref((json_t *)data));
    char type[48];
    snprintf(type, sizeof type, "agent.%s", event);
    json_t *ev = json_deep_copy(data);
    json_object_set_new(ev, "session", json_string(st->session_id));
    publish(st->api, type, ev);
}

static void
turn_unlink(struct session_turn *st)
{
    for (struct session_turn **pp = &st->api->turns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            return;
        }
    }
}

static void
on_turn_done(void *arg, const json_t *reply)
{
    struct session_turn *st = arg;
    struct sessions_api *api = st->api;
    json_int_t id = json_integer_value(json_object_get(reply, "id"));
    const char *status = jfield_str(reply, "status");
    const char *error = jfield_str(reply, "error");
    const char *stop_reason = jfield_str(reply, "stop_reason");
    if (stop_reason != NULL)
        cache_drop(api, st->session_id); /* many rows changed: read again next time */
    else if (id != 0)
        cache_append(api, st->session_id, json_copy((json_t *)reply));
    if (strcmp(status, "complete") == 0 && json_object_get(reply, "prompt_tokens") != NULL)
        sse(st, "usage", json_pack("{s:O, s:O, s:O?, s:O?}", "prompt_tokens",
                                   json_object_get(reply, "prompt_tokens"), "completion_tokens",
                                   json_object_get(reply, "completion_tokens"), "ttft_ms",
                                   json_object_get(reply, "ttft_ms"), "tokens_per_s",
                                   json_object_get(reply, "tokens_per_s")));
    if (error != NULL)
        sse(st, "error", json_pack("{s:s}", "message", error));
    json_t *done = json_pack("{s:I, s:s}", "message_id", id, "status", status);
    if (stop_reason != NULL) {
        json_object_set_new(done, "stop_reason", json_string(stop_reason));
        jfield_copy(done, "reason", reply, "reason");
        jfield_copy(done, "steps", reply, "steps");
        jfield_copy(done, "files_changed", reply, "files_changed");
    }
    json_t *watch = json_pack("{s:s, s:I, s:s}", "session", st->session_id, "message", id,
                              "status", status);
    if (stop_reason != NULL)
        json_object_set_new(watch, "stop_reason", json_string(stop_reason));
    sse(st, "done", done);
    publish(api, "message.done", watch);
    /* Its title (first message), totals and update time have changed. */
    publish(api, "session.updated", json_pack("{s:s}", "id", st->session_id));
    if (st->req != NULL) {
        http_request_on_abort(st->req, NULL, NULL);
        http_response_end(st->req);
    }
    turn_unlink(st);
    free(st);
    if (api->turns == NULL && api->idle_cb != NULL) {
        void (*cb)(void *) = api->idle_cb;
        api->idle_cb = NULL;
        cb(api->idle_arg);
    }
}

static const struct turn_observer turn_events = {
    .user_stored = on_turn_user_stored,
    .reply_started = on_turn_reply_started,
    .truncated = on_turn_truncated,
    .thinking = on_turn_thinking,
    .delta = on_turn_delta,
    .tool_call = on_turn_tool_call,
    .agent_event = on_turn_agent_event,
    .done = on_turn_done,
};

static void
on_turn_client_gone(struct http_request *req, void *arg)
{
    struct session_turn *st = arg;
    (void)req;
    st->req = NULL; /* the reply goes on and is stored */
}

static void
on_turn_session(json_t *session, const struct cerr *err, void *arg)
{
    struct op *o = arg;
    struct sessions_api *api = o->api;
    struct http_request *req = find_req(api, o->request_id);
    const char *id = jfield_str(session, "id");
    if (req == NULL || err != NULL || find_turn(api, id) != NULL) {
        if (req != NULL && err != NULL)
            respond_store_error(api, req, err);
        else if (req != NULL)
            router_respond_error(req, 409,
                                 "session %s is already answering a message; wait for it or "
                                 "POST .../cancel",
                                 id);
        json_decref(session);
        op_free(o);
        return;
    }
    struct session_turn *st = xcalloc(1, sizeof *st);
    st->api = api;
    snprintf(st->session_id, sizeof st->session_id, "%s", id);
    if (session != cache_get(api, id))
        cache_put(api, session);
    json_t *snapshot = session_snapshot(session);
    json_decref(session);
    st->req = req;
    st->next = api->turns;
    api->turns = st;
    http_request_on_abort(req, on_turn_client_gone, st);
    http_response_start(req, 200, "text/event-stream", "Cache-Control: no-cache\r\n");
    st->turn = turn_start(&api->env, st->session_id, snapshot, jfield_str(o->body, "model"),
                          jfield_str(o->body, "content"), &turn_events, st);
    json_decref(snapshot);
    op_free(o);
}

/* allow_always: the session's settings.approvals.CATEGORY becomes auto,
 * read from the store so a PATCH made meanwhile is kept. */
struct always {
    struct sessions_api *api;
    char category[16];
};

static void
on_always_session(json_t *session, const struct cerr *err, void *arg)
{
    struct always *a = arg;
    struct sessions_api *api = a->api;
    if (err != NULL) {
        log_error("allow_always could not be stored: %s", err->msg);
        json_decref(session);
        free(a);
        return;
    }
    json_t *settings = json_deep_copy(json_object_get(session, "settings"));
    if (!json_is_object(settings)) {
        json_decref(settings);
        settings = json_object();
    }
    json_t *ap = json_object_get(settings, "approvals");
    if (!json_is_object(ap)) {
        ap = json_object();
        json_object_set_new(settings, "approvals", ap);
    }
    json_object_set_new(ap, a->category, json_string("auto"));
    json_t *patch = json_pack("{s:o}", "settings", settings);
    struct op *o = xcalloc(1, sizeof *o);
    o->api = api;
    o->kind = OP_ALWAYS;
    store_update_session(api->store, session_id_of(session), patch, on_op_done, o);
    json_decref(patch);
    json_decref(session);
    free(a);
}

static void
remember_always(struct sessions_api *api, const char *id, const char *category)
{
    struct always *a = xcalloc(1, sizeof *a);
    a->api = api;
    snprintf(a->category, sizeof a->category, "%s", category);
    store_get_session(api->store, id, false, on_always_session, a);
}

/* ---- route handlers ---- */

/* A workspace is stored as its real path, and must be a directory: it
 * is checked off the loop, then the create or PATCH goes on. */
struct workspace_check {
    uv_fs_t fs;
    struct op *o;
    char *id; /* PATCH: the session */
};

static void
workspace_checked_go(struct workspace_check *c)
{
    struct op *o = c->o;
    if (o->kind == OP_CREATE)
        store_create_session(o->api->store, o->body, on_op_done, o);
    else
        store_update_session(o->api->store, c->id, o->body, on_op_done, o);
    free(c->id);
    free(c);
}

static void
workspace_refuse(struct workspace_check *c, const char *why)
{
    struct http_request *req = find_req(c->o->api, c->o->request_id);
    if (req != NULL)
        router_respond_error(req, 400, "workspace \"%s\" %s; give an existing directory",
                             jfield_str(c->o->body, "workspace"), why);
    op_free(c->o);
    free(c->id);
    free(c);
}

static void
on_workspace_stat(uv_fs_t *fs)
{
    struct workspace_check *c = fs->data;
    bool dir = fs->result == 0 && S_ISDIR(fs->statbuf.st_mode);
    int result = (int)fs->result;
    uv_fs_req_cleanup(fs);
    if (!dir) {
        workspace_refuse(c, result < 0 ? uv_strerror(result) : "is not a directory");
        return;
    }
    workspace_checked_go(c);
}

static void
on_workspace_realpath(uv_fs_t *fs)
{
    struct workspace_check *c = fs->data;
    if (fs->result < 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot be used (%s)", uv_strerror((int)fs->result));
        uv_fs_req_cleanup(fs);
        workspace_refuse(c, why);
        return;
    }
    json_object_set_new(c->o->body, "workspace", json_string((const char *)fs->ptr));
    uv_fs_req_cleanup(fs);
    c->fs.data = c;
    if (uv_fs_stat(c->o->api->env.loop, &c->fs, jfield_str(c->o->body, "workspace"),
                   on_workspace_stat) != 0)
        workspace_refuse(c, "cannot be checked");
}

static bool
mode_is_agent(const char *mode)
{
    return mode != NULL && (strcmp(mode, "act") == 0 || strcmp(mode, "plan") == 0);
}

/* Go on with O (its body checked; ID the session's full id for a PATCH)
 * once the workspace it gives is a real directory, when AGENT (a chat
 * session's workspace is only kept for clients). */
static void
check_workspace_then(struct op *o, const char *id, bool agent)
{
    const char *ws = agent ? jfield_str(o->body, "workspace") : NULL;
    struct workspace_check *c = xcalloc(1, sizeof *c);
    c->o = o;
    c->id = id ? xstrdup(id) : NULL;
    if (ws == NULL) {
        workspace_checked_go(c);
        return;
    }
    c->fs.data = c;
    if (uv_fs_realpath(o->api->env.loop, &c->fs, ws, on_workspace_realpath) != 0)
        workspace_refuse(c, "cannot be checked");
}

static void
on_create(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    json_t *body;
    if (!store_usable(api, req) || !parse_object(req, false, &body))
        return;
    if (!check_session_fields(req, body)) {
        json_decref(body);
        return;
    }
    const char *mode = jfield_str(body, "mode");
    if (mode != NULL && strcmp(mode, "chat") != 0 && jfield_str(body, "workspace") == NULL) {
        router_respond_error(req, 400,
                             "mode %s needs a workspace: the directory the agent works in", mode);
        json_decref(body);
        return;
    }
    struct op *o = op_new(api, req, OP_CREATE);
    o->body = body;
    check_workspace_then(o, NULL, mode_is_agent(mode));
}

/* A PATCH, once the session is found: an agent session (by the PATCH or
 * already) needs a workspace, and a new one is checked. */
static void
patch_checked(struct op *o, const json_t *session)
{
    struct http_request *req = find_req(o->api, o->request_id);
    const char *mode = jfield_str(o->body, "mode");
    if (mode == NULL)
        mode = jfield_str(session, "mode");
    json_t *given = json_object_get(o->body, "workspace");
    const char *ws = given != NULL ? json_string_value(given) : jfield_str(session, "workspace");
    if (mode_is_agent(mode) && ws == NULL) {
        router_respond_error(req, 400,
                             "mode %s needs a workspace: the directory the agent works in; "
                             "give \"workspace\" too",
                             mode);
        op_free(o);
        return;
    }
    /* A chat session's workspace was kept unchecked: one becoming an
     * agent's is checked too. */
    if (mode_is_agent(mode) && given == NULL)
        json_object_set_new(o->body, "workspace", json_string(ws));
    check_workspace_then(o, session_id_of(session), mode_is_agent(mode));
}

static void
on_list(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    char q[512] = "", limit[16] = "";
    if (!store_usable(api, req))
        return;
    http_request_query_param(req, "q", q, sizeof q);
    http_request_query_param(req, "limit", limit, sizeof limit);
    long n = limit[0] ? strtol(limit, NULL, 10) : 50;
    if (n < 1 || n > 1000) {
        router_respond_error(req, 400, "limit must be a number from 1 to 1000");
        return;
    }
    store_list_sessions(api->store, q, (int)n, on_op_done, op_new(api, req, OP_LIST));
}

static void
on_get(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    char id[64];
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id))
        return;
    store_get_session(api->store, id, true, on_op_done, op_new(api, req, OP_GET));
}

static void
on_patch(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    char id[64];
    json_t *body;
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id) ||
        !parse_object(req, true, &body))
        return;
    if (!check_session_fields(req, body)) {
        json_decref(body);
        return;
    }
    struct op *o = op_new(api, req, OP_PATCH);
    o->body = body;
    store_get_session(api->store, id, false, on_op_session_found, o);
}

static void
on_delete(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    char id[64];
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id))
        return;
    store_get_session(api->store, id, false, on_op_session_found, op_new(api, req, OP_DELETE));
}

static void
on_export(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    char id[64], format[8] = "md";
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id))
        return;
    http_request_query_param(req, "format", format, sizeof format);
    if (strcmp(format, "md") != 0 && strcmp(format, "json") != 0) {
        router_respond_error(req, 400, "format must be md or json");
        return;
    }
    struct op *o = op_new(api, req, OP_EXPORT);
    snprintf(o->format, sizeof o->format, "%s", format);
    store_get_session(api->store, id, true, on_op_done, o);
}

static void
on_message(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    char id[64];
    json_t *body;
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id) ||
        !parse_object(req, true, &body))
        return;
    json_t *content = json_object_get(body, "content");
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(content) || *json_string_value(content) == '\0' ||
        (model != NULL && !json_is_string(model))) {
        json_decref(body);
        router_respond_error(req, 400, "%s",
                             !json_is_string(content) || *json_string_value(content) == '\0'
                                 ? "content must be a non-empty string"
                                 : "model must be a string");
        return;
    }
    if (api->stopping) {
        json_decref(body);
        router_respond_error(req, 503, "the daemon is stopping");
        return;
    }
    /* Cheap early answer for the common case; the authoritative check is
     * made once the prefix is resolved to a full id. */
    if (find_turn(api, id) != NULL) {
        json_decref(body);
        router_respond_error(req, 409,
                             "session %s is already answering a message; wait for it or POST "
                             ".../cancel",
                             id);
        return;
    }
    struct op *o = op_new(api, req, OP_MESSAGE);
    o->body = body;
    json_t *cached = cache_get(api, id);
    if (cached != NULL) {
        /* Planned from memory: no database read before the model is asked. */
        on_turn_session(json_incref(cached), NULL, o);
        return;
    }
    store_get_session(api->store, id, true, on_turn_session, o);
}

static void
on_cancel(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    char id[64];
    if (!path_session_id(req, id, sizeof id))
        return;
    struct session_turn *t = find_turn(api, id);
    size_t matches = 0;
    for (struct session_turn *u = api->turns; u != NULL; u = u->next)
        matches += strncmp(u->session_id, id, strlen(id)) == 0;
    if (matches > 1) {
        router_respond_error(req, 400, "session id \"%s\" matches several replies in progress; "
                                       "give more characters", id);
        return;
    }
    if (t == NULL || turn_finishing(t->turn)) {
        router_respond_error(req, 409, "session %s has no reply in progress%s", id,
                             t != NULL ? " (its last reply is being saved)" : "");
        return;
    }
    turn_cancel(t->turn);
    http_respond_json_take(req, 200, json_pack("{s:s, s:s}", "session", t->session_id, "status",
                                          "interrupted"));
}

static void
on_approval(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    char id[64], call[128];
    json_t *body;
    if (!path_session_id(req, id, sizeof id) || !parse_object(req, true, &body))
        return;
    const char *p = strstr(http_request_path(req), "/approvals/");
    snprintf(call, sizeof call, "%s", p ? p + strlen("/approvals/") : "");
    const char *decision = jfield_str(body, "decision");
    json_t *feedback = json_object_get(body, "feedback");
    if (decision == NULL || (feedback != NULL && !json_is_string(feedback))) {
        router_respond_error(req, 400, "the body is {\"decision\": \"allow_once\" | "
                                       "\"allow_always\" | \"reject\", \"feedback\": \"...\"}");
        json_decref(body);
        return;
    }
    struct session_turn *t = find_turn(api, id);
    const char *category = NULL;
    int rc = t != NULL ? turn_answer_approval(t->turn, call, decision,
                                              json_string_value(feedback), &category)
                       : -ENOENT;
    if (rc == -EINVAL)
        router_respond_error(req, 400, "decision must be allow_once, allow_always or reject");
    else if (rc != 0)
        router_respond_error(req, 404, "session %s waits for no approval of call \"%s\"",
                             t != NULL ? t->session_id : id, call);
    else {
        http_respond_json_take(req, 200, json_pack("{s:s, s:s, s:s}", "session", t->session_id,
                                                   "call", call, "decision", decision));
        if (strcmp(decision, "allow_always") == 0 && category != NULL)
            remember_always(api, t->session_id, category);
    }
    json_decref(body);
}

static void
on_undo(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (!not_from_command(req))
        return;
    char id[64];
    json_t *body;
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id) ||
        !parse_object(req, false, &body))
        return;
    json_t *to = json_object_get(body, "to");
    if (to != NULL && (!json_is_integer(to) || json_integer_value(to) < 1)) {
        router_respond_error(req, 400, "to must be a message seq (an integer from 1)");
        json_decref(body);
        return;
    }
    struct op *o = op_new(api, req, OP_UNDO);
    o->body = body;
    store_get_session(api->store, id, false, on_op_session_found, o);
}

static void
on_changes(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    char id[64];
    if (!store_usable(api, req) || !path_session_id(req, id, sizeof id))
        return;
    store_get_session(api->store, id, false, on_op_session_found, op_new(api, req, OP_CHANGES));
}

static void
on_events(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    if (api->stopping) {
        router_respond_error(req, 503, "the daemon is stopping");
        return;
    }
    events_subscribe(api->events, req);
}

struct sessions_api *
sessions_api_new(uv_loop_t *loop, struct http_server *srv, struct store *store,
                 struct lookup *lookup, struct events *events, struct upstream *up,
                 struct providers *providers, struct metrics *metrics)
{
    struct sessions_api *api = xcalloc(1, sizeof *api);
    api->srv = srv;
    api->store = store;
    api->events = events;
    api->env = (struct turn_env){
        .loop = loop,
        .store = store,
        .lookup = lookup,
        .up = up,
        .providers = providers,
        .metrics = metrics,
    };
    return api;
}

void
sessions_api_set_config(struct sessions_api *api, const struct config *cfg)
{
    api->env.cfg = cfg;
}

void
sessions_api_register(struct sessions_api *api, struct router *r)
{
    static const struct {
        const char *method, *path;
        route_handler_cb fn;
    } routes[] = {
        {"POST", SESSIONS_PREFIX, on_create},
        {"GET", SESSIONS_PREFIX, on_list},
        {"GET", SESSIONS_PREFIX "/*", on_get},
        {"PATCH", SESSIONS_PREFIX "/*", on_patch},
        {"DELETE", SESSIONS_PREFIX "/*", on_delete},
        {"POST", SESSIONS_PREFIX "/*/messages", on_message},
        {"POST", SESSIONS_PREFIX "/*/cancel", on_cancel},
        {"POST", SESSIONS_PREFIX "/*/approvals/*", on_approval},
        {"POST", SESSIONS_PREFIX "/*/undo", on_undo},
        {"GET", SESSIONS_PREFIX "/*/changes", on_changes},
        {"GET", SESSIONS_PREFIX "/*/export", on_export},
        {"GET", "/careti/v1/events", on_events},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        router_add(r, routes[i].method, routes[i].path, routes[i].fn, api);
}

void
sessions_api_stop(struct sessions_api *api)
{
    api->stopping = true;
    events_end_all(api->events);
}

void
sessions_api_abort_turns(struct sessions_api *api)
{
    /* Replies still running when the grace period ends are kept as they
     * are, marked interrupted. */
    struct session_turn *next;
    for (struct session_turn *t = api->turns; t != NULL; t = next) {
        next = t->next;
        turn_cancel(t->turn);
    }
}

void
sessions_api_when_idle(struct sessions_api *api, void (*cb)(void *arg), void *arg)
{
    if (api->turns == NULL) {
        cb(arg);
        return;
    }
    api->idle_cb = cb;
    api->idle_arg = arg;
}

void
sessions_api_free(struct sessions_api *api)
{
    if (api == NULL)
        return;
    for (size_t i = 0; i < SESSION_CACHE_SIZE; i++)
        json_decref(api->cache[i].session);
    free(api);
}
