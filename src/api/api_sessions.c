/*
 * api_sessions: the agent-state routes under /careti/v1/sessions and the
 * turn that runs when a message is posted.  Owns the turns in progress
 * (one per session at most).  A turn belongs to the daemon, not to the
 * client that started it: the user message is committed before the model
 * is asked, the reply is checkpointed while it streams, and a client that
 * leaves does not stop it (POST .../cancel does).  Holds request ids,
 * never pointers, across every asynchronous hop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/context.h"
#include "careti/api/api_sessions.h"
#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"
#include "careti/http/router.h"
#include "careti/models/relay.h"

#define SESSIONS_PREFIX "/careti/v1/sessions"
/* How often a streaming reply is written to disk. */
#define CHECKPOINT_MS 1000

struct turn;

/* Sessions recently used, with their messages, so the next turn is
 * planned from memory (this daemon is the database's only writer, so the
 * copy stays true).  Keyed by full id. */
#define SESSION_CACHE_SIZE 8

struct cached_session {
    json_t *session;
    uint64_t used;
};

struct sessions_api {
    struct metrics *metrics;
    struct cached_session cache[SESSION_CACHE_SIZE];
    uint64_t cache_clock;
    uv_loop_t *loop;
    struct http_server *srv;
    struct store *store;
    struct gateway *gw;
    struct events *events;
    struct upstream *up;
    struct providers *providers;
    const struct config *cfg;
    struct turn *turns;
    bool stopping;
};

enum op_kind { OP_CREATE, OP_LIST, OP_GET, OP_PATCH, OP_DELETE, OP_EXPORT, OP_MESSAGE };

/* A request waiting for the store. */
struct op {
    struct sessions_api *api;
    uint64_t request_id;
    enum op_kind kind;
    json_t *body;
    char format[8];
};

struct turn {
    struct sessions_api *api;
    struct turn *next;
    char session_id[32];
    struct http_request *req; /* the client that asked; NULL once it left */
    json_t *session;          /* with its messages, as loaded */
    json_t *user_message;
    char *model;
    struct resolution res;
    struct relay *relay;
    int64_t assistant_id;
    struct sbuf line;
    struct sbuf content;
    struct sbuf thinking;
    size_t checkpointed_len;
    uv_timer_t checkpoint;
    bool timer_started;
    bool got_done;
    bool finished;
    char error[512];
    json_t *final; /* the reply's last fields, while they are being written */
    uint64_t start_ns, first_token_ns;
    json_int_t prompt_tokens, completion_tokens, eval_duration_ns, load_duration_ns;
    int64_t others_tokens; /* what the rest of the prompt was counted as */
    /* One for the turn itself, one per callback in flight (store writes,
     * model resolution): a turn cancelled while one is pending is freed
     * only when the last comes back. */
    int refs;
};

static void turn_finish(struct turn *t, const char *status, const char *error);
static void turn_release(struct turn *t);

/* Checkpoints and final writes have no client waiting on them; a failure
 * (disk full, read-only) must still be seen. */
static void
on_write_logged(json_t *result, const struct cerr *err, void *arg)
{
    (void)arg;
    if (err != NULL)
        log_error("%s", err->msg);
    json_decref(result);
}

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

/* A store error for a client: once the store has become unusable (its
 * database deleted, replaced or damaged), the store's whole reason and
 * fix, which ERR's message may have had to cut. */
static const char *
store_error_text(struct sessions_api *api, const struct cerr *err)
{
    return store_failed(api->store) ? store_error(api->store) : err->msg;
}

static void
respond_store_error(struct sessions_api *api, struct http_request *req, const struct cerr *err)
{
    if (store_failed(api->store))
        router_respond_error(req, 503, "%s; model routes keep working", store_error(api->store));
    else
        router_respond_error(req, err->http_status ? err->http_status : 500, "%s", err->msg);
}

static struct turn *
find_turn(struct sessions_api *api, const char *id_prefix)
{
    for (struct turn *t = api->turns; t != NULL; t = t->next)
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
sse(struct turn *t, const char *event, json_t *data)
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
        if (strcmp(key, "settings") == 0) {
            known = true;
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
                                 "workspace and settings",
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
        sbuf_adds(&b, jfield_str(m, "content"));
        sbuf_adds(&b, "\n\n");
    }
    return b.s;
}

/* ---- store callbacks for plain routes ---- */

static void
on_op_done(json_t *result, const struct cerr *err, void *arg)
{
    struct op *o = arg;
    struct sessions_api *api = o->api;
    struct http_request *req = find_req(api, o->request_id);
    if (req != NULL && err != NULL) {
        respond_store_error(api, req, err);
    } else if (req != NULL) {
        switch (o->kind) {
        case OP_CREATE:
            publish(api, "session.created", json_incref(result));
            http_respond_json(req, 201, json_incref(result));
            break;
        case OP_PATCH:
            cache_drop(api, session_id_of(result));
            publish(api, "session.updated", json_incref(result));
            http_respond_json(req, 200, json_incref(result));
            break;
        case OP_DELETE:
            cache_drop(api, jfield_str(result, "deleted"));
            publish(api, "session.deleted",
                    json_pack("{s:O}", "id", json_object_get(result, "deleted")));
            http_respond_json(req, 200, json_incref(result));
            break;
        case OP_EXPORT:
            if (strcmp(o->format, "md") == 0) {
                char *md = export_markdown(result);
                http_respond(req, 200, "text/markdown; charset=utf-8", NULL, md, strlen(md));
                free(md);
            } else {
                http_respond_json(req, 200, json_incref(result));
            }
            break;
        case OP_LIST:
        case OP_GET:
        case OP_MESSAGE:
            http_respond_json(req, 200, json_incref(result));
            break;
        }
    }
    json_decref(result);
    op_free(o);
}

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
    if (o->kind == OP_DELETE)
        store_delete_session(api->store, id, on_op_done, o);
    else
        store_update_session(api->store, id, o->body, on_op_done, o);
    json_decref(session);
}

/* ---- the turn ---- */

static void
on_checkpoint(uv_timer_t *timer)
{
    struct turn *t = timer->data;
    if (t->assistant_id == 0 || t->content.len == t->checkpointed_len)
        return;
    t->checkpointed_len = t->content.len;
    json_t *f = json_pack("{s:s, s:s}", "content", t->content.s ? t->content.s : "", "status",
                          "streaming");
    if (t->thinking.len > 0)
        json_object_set_new(f, "thinking", json_string(t->thinking.s));
    store_update_message(t->api->store, t->assistant_id, f, on_write_logged, NULL);
    json_decref(f);
}

static void
turn_line(struct turn *t, const char *line, size_t len)
{
    json_t *j = json_loadb(line, len, 0, NULL);
    if (j == NULL)
        return; /* the relay has already judged the stream */
    const char *err = jfield_str(j, "error");
    if (err != NULL) {
        snprintf(t->error, sizeof t->error, "%s", err);
        json_decref(j);
        return;
    }
    json_t *msg = json_object_get(j, "message");
    const char *content = jfield_str(msg, "content");
    const char *thinking = jfield_str(msg, "thinking");
    if ((content && *content) || (thinking && *thinking)) {
        if (t->first_token_ns == 0)
            t->first_token_ns = uv_hrtime();
    }
    if (thinking != NULL && *thinking != '\0') {
        sbuf_adds(&t->thinking, thinking);
        sse(t, "thinking", json_pack("{s:s}", "content", thinking));
    }
    if (content != NULL && *content != '\0') {
        sbuf_adds(&t->content, content);
        sse(t, "delta", json_pack("{s:s}", "content", content));
        publish(t->api, "message.delta",
                json_pack("{s:s, s:I, s:s}", "session", t->session_id, "message",
                          (json_int_t)t->assistant_id, "content", content));
    }
    if (json_is_true(json_object_get(j, "done"))) {
        t->got_done = true;
        t->prompt_tokens = json_integer_value(json_object_get(j, "prompt_eval_count"));
        t->completion_tokens = json_integer_value(json_object_get(j, "eval_count"));
        t->eval_duration_ns = json_integer_value(json_object_get(j, "eval_duration"));
        t->load_duration_ns = json_integer_value(json_object_get(j, "load_duration"));
    }
    json_decref(j);
}

static void
sink_start(void *arg, const char *content_type)
{
    (void)arg;
    (void)content_type;
}

static bool
sink_writable(void *arg)
{
    (void)arg;
    /* The turn is the daemon's: it never waits for a slow client, whose
     * connection the server drops at its write limit instead. */
    return true;
}

static void
sink_write(void *arg, const char *data, size_t len)
{
    struct turn *t = arg;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            sbuf_add(&t->line, data + i, 1);
            continue;
        }
        if (t->line.len > 0)
            turn_line(t, t->line.s, t->line.len);
        sbuf_reset(&t->line);
    }
}

static void
sink_end(void *arg, const char *body, size_t len)
{
    struct turn *t = arg;
    (void)body;
    (void)len;
    t->relay = NULL;
    if (t->got_done && t->error[0] == '\0')
        turn_finish(t, "complete", NULL);
    else
        turn_finish(t, "error", t->error[0] ? t->error : "the answer ended before it was complete");
}

static void
sink_fail(void *arg, int status, const char *msg)
{
    struct turn *t = arg;
    (void)status;
    t->relay = NULL;
    turn_finish(t, "error", msg);
}

static const struct relay_sink turn_sink = {
    sink_start, sink_writable, sink_write, sink_end, sink_fail,
};

static void
on_turn_timer_closed(uv_handle_t *h)
{
    struct turn *t = h->data;
    sbuf_free(&t->line);
    sbuf_free(&t->content);
    sbuf_free(&t->thinking);
    json_decref(t->session);
    json_decref(t->user_message);
    free(t->model);
    free(t);
}

static void
turn_unlink(struct turn *t)
{
    for (struct turn **pp = &t->api->turns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            return;
        }
    }
}

static void
on_turn_client_gone(struct http_request *req, void *arg)
{
    struct turn *t = arg;
    (void)req;
    t->req = NULL; /* the reply goes on and is stored */
}

static void turn_announce_end(struct turn *t, json_t *final);
static void on_final_stored(json_t *result, const struct cerr *err, void *arg);

/* The turn is over: store the outcome, then tell the client and
 * watchers, so that nothing is reported saved before it is on disk. */
static void
turn_finish(struct turn *t, const char *status, const char *error)
{
    if (t->finished)
        return;
    /* Still listed until the outcome is told: the session takes no new
     * message while its last reply is being saved. */
    t->finished = true;
    if (t->timer_started)
        uv_timer_stop(&t->checkpoint);
    struct sessions_api *api = t->api;
    uint64_t now = uv_hrtime();
    json_int_t duration_ms = (json_int_t)((now - t->start_ns) / 1000000);
    if (t->assistant_id == 0) {
        json_t *f = json_pack("{s:s}", "status", status);
        if (error != NULL)
            json_object_set_new(f, "error", json_string(error));
        turn_announce_end(t, f);
        return;
    }
    json_t *f = json_pack("{s:s, s:s, s:I, s:I}", "content", t->content.s ? t->content.s : "",
                          "status", status, "duration_ms", duration_ms, "tokens",
                          (json_int_t)context_estimate(t->content.s ? t->content.s : ""));
    if (t->thinking.len > 0)
        json_object_set_new(f, "thinking", json_string(t->thinking.s));
    if (error != NULL)
        json_object_set_new(f, "error", json_string(error));
    if (t->got_done) {
        json_object_set_new(f, "prompt_tokens", json_integer(t->prompt_tokens));
        json_object_set_new(f, "completion_tokens", json_integer(t->completion_tokens));
        json_object_set_new(f, "tokens", json_integer(t->completion_tokens));
        json_object_set_new(f, "load_ms", json_integer(t->load_duration_ns / 1000000));
        if (t->eval_duration_ns > 0)
            json_object_set_new(f, "tokens_per_s", json_real((double)t->completion_tokens * 1e9 /
                                                             (double)t->eval_duration_ns));
    }
    if (t->first_token_ns != 0)
        json_object_set_new(
            f, "ttft_ms",
            json_integer((json_int_t)((t->first_token_ns - t->start_ns) / 1000000)));
    /* The server counted the whole prompt: what it counted beyond the
     * rest is the new message's true size, kept for later plans. */
    json_int_t user_tokens = t->prompt_tokens - t->others_tokens;
    if (t->got_done && t->prompt_tokens > 0 && user_tokens > 0 && t->user_message != NULL) {
        json_int_t user_id = json_integer_value(json_object_get(t->user_message, "id"));
        json_t *uf = json_pack("{s:I}", "tokens", user_tokens);
        store_update_message(api->store, user_id, uf, on_write_logged, NULL);
        json_decref(uf);
        json_object_set_new(t->user_message, "tokens", json_integer(user_tokens));
    }
    t->final = f;
    store_update_message(api->store, t->assistant_id, f, on_final_stored, t);
}

/* The reply's last write came back: only now is its outcome told.  A
 * write that failed turns a complete reply into an error that says so. */
static void
on_final_stored(json_t *result, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    json_decref(result);
    json_t *f = t->final;
    t->final = NULL;
    if (err != NULL) {
        char why[600];
        snprintf(why, sizeof why, "the reply could not be saved: %s", err->msg);
        log_error("session %s: %s", t->session_id, why);
        json_object_set_new(f, "status", json_string("error"));
        json_object_set_new(f, "error", json_string(why));
    }
    turn_announce_end(t, f);
}

/* Tell the client and watchers how the turn ended (FINAL, stolen, holds
 * its status and error), end the request and let the turn go. */
static void
turn_announce_end(struct turn *t, json_t *final)
{
    struct sessions_api *api = t->api;
    const char *status = json_string_value(json_object_get(final, "status"));
    const char *error = json_string_value(json_object_get(final, "error"));
    if (t->assistant_id != 0) {
        json_t *cached = json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)t->assistant_id,
                                   "role", "assistant", "content",
                                   t->content.s ? t->content.s : "", "status", status, "tokens",
                                   json_integer_value(json_object_get(final, "tokens")));
        cache_append(api, t->session_id, cached);
        if (t->got_done && strcmp(status, "complete") == 0)
            sse(t, "usage", json_pack("{s:I, s:I, s:O?, s:O?}", "prompt_tokens", t->prompt_tokens,
                                      "completion_tokens", t->completion_tokens, "ttft_ms",
                                      json_object_get(final, "ttft_ms"), "tokens_per_s",
                                      json_object_get(final, "tokens_per_s")));
    }
    if (error != NULL)
        sse(t, "error", json_pack("{s:s}", "message", error));
    sse(t, "done", json_pack("{s:I, s:s}", "message_id", (json_int_t)t->assistant_id, "status",
                             status));
    publish(api, "message.done",
            json_pack("{s:s, s:I, s:s}", "session", t->session_id, "message",
                      (json_int_t)t->assistant_id, "status", status));
    /* Its title (first message), totals and update time have changed. */
    publish(api, "session.updated", json_pack("{s:s}", "id", t->session_id));
    if (t->req != NULL) {
        http_request_on_abort(t->req, NULL, NULL);
        http_response_end(t->req);
        t->req = NULL;
    }
    json_decref(final);
    turn_unlink(t);
    turn_release(t);
}

static void
turn_release(struct turn *t)
{
    if (--t->refs > 0)
        return;
    if (t->timer_started) {
        uv_close((uv_handle_t *)&t->checkpoint, on_turn_timer_closed);
    } else {
        t->checkpoint.data = t;
        on_turn_timer_closed((uv_handle_t *)&t->checkpoint);
    }
}

/* A callback the turn was waiting for came back: drop its reference.
 * True when the turn has ended meanwhile (the callback must stop). */
static bool
turn_callback_done(struct turn *t)
{
    bool ended = t->finished;
    turn_release(t);
    return ended;
}

static void
on_assistant_stored(json_t *msg, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    struct sessions_api *api = t->api;
    int64_t id = (int64_t)json_integer_value(json_object_get(msg, "id"));
    json_decref(msg);
    if (turn_callback_done(t)) {
        /* Cancelled while the placeholder was being written. */
        if (err == NULL) {
            json_t *f = json_pack("{s:s}", "status", "interrupted");
            store_update_message(api->store, id, f, on_write_logged, NULL);
            json_decref(f);
        }
        return;
    }
    if (err != NULL || api->stopping) {
        t->assistant_id = err == NULL ? id : 0;
        turn_finish(t, err ? "error" : "interrupted",
                    err ? store_error_text(api, err) : "the daemon is stopping");
        return;
    }
    t->assistant_id = id;
    publish(api, "message.created",
            json_pack("{s:s, s:{s:I, s:s, s:s}}", "session", t->session_id, "message", "id",
                      (json_int_t)id, "role", "assistant", "status", "streaming"));
    /* Build the request from the history that fits the window. */
    json_t *history = json_object_get(t->session, "messages");
    size_t n = json_array_size(history) + 1;
    struct context_item *items = xcalloc(n, sizeof *items);
    bool *keep = xcalloc(n, sizeof *keep);
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *m = json_array_get(history, i);
        items[i].role = jfield_str(m, "role");
        items[i].tokens = json_integer_value(json_object_get(m, "tokens"));
    }
    items[n - 1].role = "user";
    items[n - 1].tokens = json_integer_value(json_object_get(t->user_message, "tokens"));
    json_t *settings = json_object_get(t->session, "settings");
    json_int_t window = json_integer_value(json_object_get(settings, "context_length"));
    /* OpenAI-compatible servers fix the window when they load the model:
     * their catalogue says how large it is (LM Studio's loaded context). */
    if (window <= 0)
        window = gateway_loaded_context(api->gw, t->res.cand[0].provider, t->res.cand[0].model);
    if (window <= 0)
        window = t->res.context_length;
    struct context_plan plan;
    const char *system = jfield_str(settings, "system");
    int64_t budget = context_budget(window) - (system ? context_estimate(system) : 0);
    context_plan(items, n, budget, keep, &plan);
    if (plan.dropped_messages > 0)
        sse(t, "truncated", json_pack("{s:I, s:I, s:I, s:I, s:I}", "dropped_messages",
                                      (json_int_t)plan.dropped_messages, "dropped_turns",
                                      (json_int_t)plan.dropped_turns, "tokens",
                                      (json_int_t)plan.tokens, "budget", (json_int_t)plan.budget,
                                      "context_length", window));
    json_t *messages = json_array();
    if (system != NULL)
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "system", "content", system));
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        json_t *m = i + 1 < n ? json_array_get(history, i) : t->user_message;
        const char *status = jfield_str(m, "status");
        /* A reply that failed, or was cut before it said anything, is not
         * the model's to build on. */
        const char *text = jfield_str(m, "content");
        if (status != NULL && strcmp(status, "complete") != 0 &&
            (strcmp(status, "interrupted") != 0 || text == NULL || *text == '\0'))
            continue;
        json_t *out = json_pack("{s:O, s:O}", "role", json_object_get(m, "role"), "content",
                                json_object_get(m, "content"));
        jfield_copy(out, "tool_calls", m, "tool_calls");
        jfield_copy(out, "tool_call_id", m, "tool_call_id");
        json_array_append_new(messages, out);
    }
    t->others_tokens = plan.tokens - items[n - 1].tokens +
                       (system ? context_estimate(system) : 0);
    free(items);
    free(keep);
    if (!plan.fits) {
        char why[256];
        snprintf(why, sizeof why,
                 "this message and the task need %lld tokens but the model's window leaves "
                 "%lld; shorten the message or raise settings.context_length",
                 (long long)plan.tokens, (long long)plan.budget);
        json_decref(messages);
        turn_finish(t, "error", why);
        return;
    }
    json_t *body = json_pack("{s:s, s:o, s:b}", "model", t->res.name, "messages", messages,
                             "stream", 1);
    if (json_is_object(json_object_get(settings, "options")))
        json_object_set(body, "options", json_object_get(settings, "options"));
    struct resolution res = t->res;
    if (window > 0)
        res.context_length = window;
    struct relay_spec spec = {
        .what = "session turn",
        .up = api->up,
        .providers = api->providers,
        .res = &res,
        .ep = EP_CHAT,
        .client = WIRE_OLLAMA,
        .client_stream = true,
        .body = body,
        .config_path = api->cfg->path,
        .metrics = api->metrics,
    };
    uv_timer_init(api->loop, &t->checkpoint);
    t->checkpoint.data = t;
    t->timer_started = true;
    uv_timer_start(&t->checkpoint, on_checkpoint, CHECKPOINT_MS, CHECKPOINT_MS);
    t->relay = relay_new(&spec, &turn_sink, t);
    json_decref(body);
    relay_go(t->relay);
}

static void
on_turn_resolved(int status, const struct resolution *res, const char *error, void *arg)
{
    struct turn *t = arg;
    (void)status;
    if (turn_callback_done(t))
        return;
    if (error != NULL && *error != '\0') {
        turn_finish(t, "error", error);
        return;
    }
    t->res = *res;
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s}", "role", "assistant", "content", "", "status",
                            "streaming", "model", res->name);
    json_object_set_new(msg, "provider", json_string(res->cand[0].provider));
    t->refs++;
    store_add_message(t->api->store, t->session_id, msg, on_assistant_stored, t);
    json_decref(msg);
}

static void
on_user_stored(json_t *msg, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    if (turn_callback_done(t)) {
        json_decref(msg);
        return;
    }
    if (err != NULL) {
        turn_finish(t, "error", store_error_text(t->api, err));
        json_decref(msg);
        return;
    }
    t->user_message = msg;
    cache_append(t->api, t->session_id, json_incref(msg));
    publish(t->api, "message.created",
            json_pack("{s:s, s:O}", "session", t->session_id, "message", msg));
    sse(t, "message", json_incref(msg));
    t->refs++;
    gateway_resolve(t->api->gw, t->model, on_turn_resolved, t);
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
    struct turn *t = xcalloc(1, sizeof *t);
    t->api = api;
    snprintf(t->session_id, sizeof t->session_id, "%s", id);
    if (o->kind == OP_MESSAGE && session != cache_get(api, id))
        cache_put(api, session);
    t->session = session_snapshot(session);
    json_decref(session);
    t->req = req;
    t->start_ns = uv_hrtime();
    const char *model = jfield_str(o->body, "model");
    if (model == NULL)
        model = jfield_str(session, "model");
    t->model = xstrdup(model ? model : "");
    t->next = api->turns;
    api->turns = t;
    http_request_on_abort(req, on_turn_client_gone, t);
    http_response_start(req, 200, "text/event-stream", "Cache-Control: no-cache\r\n");
    const char *content = jfield_str(o->body, "content");
    json_t *msg = json_pack("{s:s, s:s}", "role", "user", "content", content);
    t->refs = 2; /* the turn, and the store write below */
    store_add_message(api->store, id, msg, on_user_stored, t);
    json_decref(msg);
    op_free(o);
}

/* ---- route handlers ---- */

static void
on_create(struct http_request *req, void *arg)
{
    struct sessions_api *api = arg;
    json_t *body;
    if (!store_usable(api, req) || !parse_object(req, false, &body))
        return;
    if (!check_session_fields(req, body)) {
        json_decref(body);
        return;
    }
    struct op *o = op_new(api, req, OP_CREATE);
    store_create_session(api->store, body, on_op_done, o);
    json_decref(body);
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
    char id[64];
    if (!path_session_id(req, id, sizeof id))
        return;
    struct turn *t = find_turn(api, id);
    size_t matches = 0;
    for (struct turn *u = api->turns; u != NULL; u = u->next)
        matches += strncmp(u->session_id, id, strlen(id)) == 0;
    if (matches > 1) {
        router_respond_error(req, 400, "session id \"%s\" matches several replies in progress; "
                                       "give more characters", id);
        return;
    }
    if (t == NULL || t->finished) {
        router_respond_error(req, 409, "session %s has no reply in progress%s", id,
                             t != NULL ? " (its last reply is being saved)" : "");
        return;
    }
    if (t->relay != NULL) {
        relay_cancel(t->relay);
        t->relay = NULL;
    }
    char sid[32];
    snprintf(sid, sizeof sid, "%s", t->session_id);
    turn_finish(t, "interrupted", NULL);
    http_respond_json(req, 200, json_pack("{s:s, s:s}", "session", sid, "status", "interrupted"));
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
                 struct gateway *gw, struct events *events, struct upstream *up,
                 struct providers *providers, struct metrics *metrics)
{
    struct sessions_api *api = xcalloc(1, sizeof *api);
    api->metrics = metrics;
    api->loop = loop;
    api->srv = srv;
    api->store = store;
    api->gw = gw;
    api->events = events;
    api->up = up;
    api->providers = providers;
    return api;
}

void
sessions_api_set_config(struct sessions_api *api, const struct config *cfg)
{
    api->cfg = cfg;
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
    struct turn *next;
    for (struct turn *t = api->turns; t != NULL; t = next) {
        next = t->next;
        if (t->finished)
            continue; /* its outcome is being saved */
        if (t->relay != NULL) {
            relay_cancel(t->relay);
            t->relay = NULL;
        }
        turn_finish(t, "interrupted", NULL);
    }
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
