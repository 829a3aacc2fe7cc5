/*
 * turn: the turn engine, an explicit state machine.  Each state waits for
 * one thing (a store write, the model lookup, the model's answer); the
 * function named after what arrives makes the one transition out of it.
 * The turn owns itself from turn_start to its done event, with at most
 * one operation in flight: a cancel that comes while one is pending is
 * kept and acted on when it returns, so nothing is freed under a
 * callback.  Never writes to a client: everything goes to the observer.
 *
 * An agent session's turn (mode act or plan) is a loop of steps through
 * the same states; what is the agent's own (tools, approvals, results) is
 * in agent_loop.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/context.h"
#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/xmalloc.h"
#include "turn_int.h"

/* What a model lookup calls back with.  Lookups cannot be stopped, so a
 * turn cancelled meanwhile lets go of its ticket and ends at once; the
 * late answer then finds no turn and only frees the ticket. */
struct lookup_ticket {
    struct turn *t;
};

static void turn_end(struct turn *t, const char *status, const char *error);

/* Checkpoints and token counts have nobody waiting; a failure (disk
 * full, read-only) must still be seen, once: a store that has become
 * unusable has said so itself (ARG is the store). */
static void
on_write_logged(json_t *result, const struct cerr *err, void *arg)
{
    if (err != NULL && !store_failed(arg))
        log_error("%s", err->msg);
    json_decref(result);
}

void
turn_hold(struct turn *t, enum held_kind kind, const char *name, json_t *data)
{
    struct held *h = xcalloc(1, sizeof *h);
    h->kind = kind;
    h->name = name ? xstrdup(name) : NULL;
    h->data = data;
    *t->held_tail = h;
    t->held_tail = &h->next;
}

/* Tell what was held, in order, and stop holding. */
void
turn_release_held(struct turn *t)
{
    t->holding = false;
    struct held *h = t->held;
    t->held = NULL;
    t->held_tail = &t->held;
    while (h != NULL) {
        struct held *next = h->next;
        switch (h->kind) {
        case HELD_DELTA:
            TELL_NOW(t, delta, json_string_value(h->data));
            break;
        case HELD_THINKING:
            TELL_NOW(t, thinking, json_string_value(h->data));
            break;
        case HELD_TOOL_CALL:
            TELL_NOW(t, tool_call, h->data);
            break;
        case HELD_TRUNCATED:
            TELL_NOW(t, truncated, h->data);
            break;
        case HELD_STARTED:
            TELL_NOW(t, reply_started, h->data);
            break;
        case HELD_AGENT:
            TELL_NOW(t, agent_event, h->name, h->data);
            break;
        }
        json_decref(h->data);
        free(h->name);
        free(h);
        h = next;
    }
}

/* Forget what was held: its step failed to be written. */
void
turn_drop_held(struct turn *t)
{
    t->holding = false;
    for (struct held *h = t->held, *next; h != NULL; h = next) {
        next = h->next;
        json_decref(h->data);
        free(h->name);
        free(h);
    }
    t->held = NULL;
    t->held_tail = &t->held;
}

static void
on_checkpoint(uv_timer_t *timer)
{
    struct turn *t = timer->data;
    if (t->content.len == t->checkpointed_len)
        return;
    t->checkpointed_len = t->content.len;
    json_t *f =
        json_pack("{s:s, s:s}", "content", t->content.s ? t->content.s : "", "status", "streaming");
    if (t->thinking.len > 0)
        json_object_set_new(f, "thinking", json_string(t->thinking.s));
    store_update_message(t->env->store, t->reply_id, f, on_write_logged, t->env->store);
    json_decref(f);
}

/* ---- the model's answer (TURN_STREAMING) ---- */

static void
on_stream_thinking(void *arg, const char *text)
{
    struct turn *t = arg;
    if (t->first_token_ns == 0)
        t->first_token_ns = uv_hrtime();
    sbuf_adds(&t->thinking, text);
    TELL_TEXT(t, thinking, HELD_THINKING, text);
}

static void
on_stream_delta(void *arg, const char *text)
{
    struct turn *t = arg;
    if (t->first_token_ns == 0)
        t->first_token_ns = uv_hrtime();
    if (t->agent) {
        if (!t->step_over)
            toolcall_parser_feed(t->parser, text, strlen(text));
        return;
    }
    sbuf_adds(&t->content, text);
    TELL(t, delta, text);
}

static void
on_stream_tool_call(void *arg, const json_t *call)
{
    struct turn *t = arg;
    if (t->first_token_ns == 0)
        t->first_token_ns = uv_hrtime();
    if (t->agent) {
        agent_on_native_call(t, call);
        return;
    }
    json_array_append(t->tool_calls, (json_t *)call);
    TELL(t, tool_call, call);
}

static void
on_stream_end(void *arg, const struct model_stream_end *end)
{
    struct turn *t = arg;
    t->stream = NULL;
    t->counts = *end;
    if (t->agent) {
        if (t->kick_started)
            uv_timer_stop(&t->kick);
        if (end->error != NULL && !t->step_over) {
            agent_finish(t, "error", end->error);
            return;
        }
        if (!t->step_over) {
            toolcall_parser_finish(t->parser);
            t->step_over = true;
        }
        agent_step_done(t);
        return;
    }
    turn_end(t, end->error == NULL ? "complete" : "error", end->error);
}

static const struct model_stream_events stream_events = {
    on_stream_delta,
    on_stream_thinking,
    on_stream_tool_call,
    on_stream_end,
};

/* ---- TURN_STORING_PLACEHOLDER -> TURN_STREAMING ---- */

/* Whether stored message M may go to the model: complete, or cut off
 * after it had said something. */
static bool
reply_usable(const json_t *m)
{
    const char *status = jfield_str(m, "status");
    const char *text = jfield_str(m, "content");
    return status == NULL || strcmp(status, "complete") == 0 ||
           (strcmp(status, "interrupted") == 0 && text != NULL && *text != '\0');
}

/* The model's window for this turn (also what Ollama gets as num_ctx). */
json_int_t
turn_window(struct turn *t)
{
    json_t *settings = json_object_get(t->session, "settings");
    json_int_t window = json_integer_value(json_object_get(settings, "context_length"));
    /* OpenAI-compatible servers fix the window when they load the model:
     * their catalogue says how large it is (LM Studio's loaded context). */
    if (window <= 0)
        window =
            lookup_loaded_context(t->env->lookup, t->res.cand[0].provider, t->res.cand[0].model);
    if (window <= 0)
        window = t->res.context_length;
    t->res.context_length = window;
    return window;
}

/* The request for the model: the history that fits the window, oldest
 * turns left out first.  NULL when even the new message does not fit
 * (WHY says so). */
static json_t *
plan_request(struct turn *t, char *why, size_t whylen)
{
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
    json_int_t window = turn_window(t);
    struct context_plan plan;
    const char *system = jfield_str(settings, "system");
    int64_t budget = context_budget(window) - (system ? context_estimate(system) : 0);
    context_plan(items, n, budget, keep, &plan);
    if (plan.dropped_messages > 0) {
        json_t *info = json_pack("{s:I, s:I, s:I, s:I, s:I}", "dropped_messages",
                                 (json_int_t)plan.dropped_messages, "dropped_turns",
                                 (json_int_t)plan.dropped_turns, "tokens", (json_int_t)plan.tokens,
                                 "budget", (json_int_t)plan.budget, "context_length", window);
        TELL(t, truncated, info);
        json_decref(info);
    }
    json_t *messages = json_array();
    if (system != NULL)
        json_array_append_new(messages,
                              json_pack("{s:s, s:s}", "role", "system", "content", system));
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        json_t *m = i + 1 < n ? json_array_get(history, i) : t->user_message;
        /* A reply that failed, or was cut before it said anything, is not
         * the model's to build on; and the question of a turn that got no
         * such reply is not asked again with the next one. */
        if (!reply_usable(m))
            continue;
        const char *role = jfield_str(m, "role");
        if (i + 1 < n && role != NULL && strcmp(role, "user") == 0) {
            json_t *next = i + 2 < n ? json_array_get(history, i + 1) : t->user_message;
            const char *next_role = jfield_str(next, "role");
            if (next_role == NULL || strcmp(next_role, "assistant") != 0 || !reply_usable(next))
                continue;
        }
        json_t *out = json_pack("{s:O, s:O}", "role", json_object_get(m, "role"), "content",
                                json_object_get(m, "content"));
        json_t *calls = history_request_tool_calls(json_object_get(m, "tool_calls"));
        if (calls != NULL)
            json_object_set_new(out, "tool_calls", calls);
        jfield_copy(out, "tool_call_id", m, "tool_call_id");
        json_array_append_new(messages, out);
    }
    t->others_tokens = plan.tokens - items[n - 1].tokens + (system ? context_estimate(system) : 0);
    free(items);
    free(keep);
    if (!plan.fits) {
        snprintf(why, whylen,
                 "this message and the task need %lld tokens but the model's window leaves "
                 "%lld; shorten the message or raise settings.context_length",
                 (long long)plan.tokens, (long long)plan.budget);
        json_decref(messages);
        return NULL;
    }
    json_t *body =
        json_pack("{s:s, s:o, s:b}", "model", t->res.name, "messages", messages, "stream", 1);
    if (json_is_object(json_object_get(settings, "options")))
        json_object_set(body, "options", json_object_get(settings, "options"));
    return body;
}

static void
turn_on_placeholder_stored(json_t *msg, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    t->reply_id = (int64_t)json_integer_value(json_object_get(msg, "id"));
    json_decref(msg);
    if (err != NULL) {
        t->reply_id = 0;
        turn_end(t, "error", store_error_text(t->env->store, err));
        return;
    }
    t->reply_open = t->agent;
    if (t->cancelled) {
        turn_end(t, "interrupted", NULL);
        return;
    }
    turn_step_started(t);
}

/* The reply's row (the step's) exists: ask the model. */
void
turn_step_started(struct turn *t)
{
    json_t *started = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)t->reply_id, "role",
                                "assistant", "status", "streaming", "model", t->res.name);
    TELL_JSON(t, reply_started, HELD_STARTED, started);
    json_decref(started);
    char why[256];
    json_t *body;
    if (t->agent) {
        t->step++;
        body = agent_request(t, why, sizeof why);
        json_t *ev = json_pack("{s:i, s:I}", "n", t->step, "message_id", (json_int_t)t->reply_id);
        if (t->step_end_ns != 0)
            json_object_set_new(
                ev, "overhead_us",
                json_integer((json_int_t)((uv_hrtime() - t->step_end_ns - t->excluded_ns) / 1000)));
        agent_tell(t, "step", json_incref(ev));
        json_decref(ev);
        if (body == NULL) {
            agent_finish(t, "error", why);
            return;
        }
    } else {
        body = plan_request(t, why, sizeof why);
        if (body == NULL) {
            turn_end(t, "error", why);
            return;
        }
    }
    struct relay_spec spec = {
        .what = "session turn",
        .up = t->env->up,
        .providers = t->env->providers,
        .res = &t->res,
        .body = body,
        .config_path = t->env->cfg->path,
        .metrics = t->env->metrics,
    };
    if (!t->timer_started) {
        uv_timer_init(t->env->loop, &t->checkpoint);
        t->checkpoint.data = t;
        t->timer_started = true;
    }
    uv_timer_start(&t->checkpoint, on_checkpoint, TURN_CHECKPOINT_MS, TURN_CHECKPOINT_MS);
    t->state = TURN_STREAMING;
    t->stream = model_stream_start(&spec, &stream_events, t);
    json_decref(body);
}

/* ---- TURN_LOOKING_UP -> TURN_STORING_PLACEHOLDER ---- */

static void
turn_on_looked_up(int status, const struct resolution *res, const char *error, void *arg)
{
    struct lookup_ticket *ticket = arg;
    struct turn *t = ticket->t;
    free(ticket);
    (void)status;
    if (t == NULL)
        return; /* cancelled, and ended, meanwhile */
    t->ticket = NULL;
    if (error != NULL && *error != '\0') {
        turn_end(t, "error", error);
        return;
    }
    t->res = *res;
    /* Borrowed from the config, which a reload may free before the model
     * is asked: the turn keeps its own reference. */
    t->res.options = json_incref((json_t *)res->options);
    t->native = res->native_tools;
    turn_store_placeholder(t);
}

/* The empty row of a reply (of the agent's next step). */
json_t *
turn_placeholder(const struct turn *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "role", "assistant", "content", "", "status",
                     "streaming", "model", t->res.name, "provider", t->res.cand[0].provider);
}

/* The row of the reply (of the agent's next step) is made. */
void
turn_store_placeholder(struct turn *t)
{
    json_t *msg = turn_placeholder(t);
    t->state = TURN_STORING_PLACEHOLDER;
    store_add_message(t->env->store, t->session_id, msg, turn_on_placeholder_stored, t);
    json_decref(msg);
}

/* ---- TURN_STORING_USER -> TURN_LOOKING_UP ---- */

void
turn_on_user_stored(json_t *msg, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    if (err != NULL) {
        json_decref(msg);
        turn_end(t, "error", store_error_text(t->env->store, err));
        return;
    }
    t->user_message = msg;
    if (t->agent)
        json_array_append(t->history, msg);
    TELL(t, user_stored, msg);
    if (t->cancelled) {
        turn_end(t, "interrupted", NULL);
        return;
    }
    t->state = TURN_LOOKING_UP;
    t->ticket = xcalloc(1, sizeof *t->ticket);
    t->ticket->t = t;
    lookup_model(t->env->lookup, t->model, turn_on_looked_up, t->ticket);
}

struct turn *
turn_start(const struct turn_env *env, const char *session_id, json_t *session, const char *model,
           const char *content, const struct turn_observer *obs, void *arg)
{
    struct turn *t = xcalloc(1, sizeof *t);
    t->env = env;
    t->obs = obs;
    t->obs_arg = arg;
    snprintf(t->session_id, sizeof t->session_id, "%s", session_id);
    t->session = json_incref(session);
    if (model == NULL || *model == '\0')
        model = jfield_str(session, "model");
    t->model = xstrdup(model ? model : "");
    t->tool_calls = json_array();
    t->held_tail = &t->held;
    t->start_ns = uv_hrtime();
    const char *mode = jfield_str(session, "mode");
    if (mode != NULL && (strcmp(mode, "act") == 0 || strcmp(mode, "plan") == 0)) {
        agent_start(t, content);
        return t;
    }
    json_t *msg = json_pack("{s:s, s:s}", "role", "user", "content", content);
    t->state = TURN_STORING_USER;
    store_add_message(env->store, session_id, msg, turn_on_user_stored, t);
    json_decref(msg);
    return t;
}

/* ---- the end: -> TURN_STORING_REPLY -> done ---- */

/* The reply's last fields: what it said, how it ended, the counts. */
json_t *
turn_reply_fields(struct turn *t, const char *status, const char *error)
{
    const char *content = t->content.s ? t->content.s : "";
    json_int_t duration_ms = (json_int_t)((uv_hrtime() - t->start_ns) / 1000000);
    json_t *f = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I}", "id", (json_int_t)t->reply_id, "role",
                          "assistant", "content", content, "status", status, "duration_ms",
                          duration_ms, "tokens", (json_int_t)context_estimate(content));
    if (t->thinking.len > 0)
        json_object_set_new(f, "thinking", json_string(t->thinking.s));
    if (json_array_size(t->tool_calls) > 0)
        json_object_set(f, "tool_calls", t->tool_calls);
    if (error != NULL)
        json_object_set_new(f, "error", json_string(error));
    const struct model_stream_end *c = &t->counts;
    if (c->counted) {
        json_object_set_new(f, "prompt_tokens", json_integer(c->prompt_tokens));
        json_object_set_new(f, "completion_tokens", json_integer(c->completion_tokens));
        json_object_set_new(f, "tokens", json_integer(c->completion_tokens));
        json_object_set_new(f, "load_ms", json_integer(c->load_duration_ns / 1000000));
        if (c->eval_duration_ns > 0)
            json_object_set_new(
                f, "tokens_per_s",
                json_real((double)c->completion_tokens * 1e9 / (double)c->eval_duration_ns));
    }
    if (t->first_token_ns != 0)
        json_object_set_new(
            f, "ttft_ms", json_integer((json_int_t)((t->first_token_ns - t->start_ns) / 1000000)));
    return f;
}

void
turn_on_reply_stored(json_t *result, const struct cerr *err, void *arg)
{
    struct turn *t = arg;
    json_decref(result);
    json_t *reply = t->final;
    t->final = NULL;
    if (err != NULL) {
        char why[600];
        snprintf(why, sizeof why, "the reply could not be saved: %s",
                 store_error_text(t->env->store, err));
        log_error("session %s: %s", t->session_id, why);
        json_object_set_new(reply, "status", json_string("error"));
        json_object_set_new(reply, "error", json_string(why));
    }
    turn_done(t, reply);
}

/* The turn is over: store how the reply ended, then tell, so that
 * nothing is reported saved before it is on disk. */
static void
turn_end(struct turn *t, const char *status, const char *error)
{
    if (t->agent) {
        agent_finish(t,
                     strcmp(status, "interrupted") == 0 ? "cancelled"
                     : strcmp(status, "error") == 0     ? "error"
                                                        : "completed",
                     error);
        return;
    }
    if (t->timer_started)
        uv_timer_stop(&t->checkpoint);
    json_t *reply = turn_reply_fields(t, status, error);
    if (t->reply_id == 0) {
        turn_done(t, reply);
        return;
    }
    /* The server counted the whole prompt: what it counted beyond the
     * rest is the new message's true size, kept for later plans. */
    json_int_t user_tokens = t->counts.prompt_tokens - t->others_tokens;
    if (t->counts.counted && t->counts.prompt_tokens > 0 && user_tokens > 0 &&
        t->user_message != NULL) {
        json_int_t user_id = json_integer_value(json_object_get(t->user_message, "id"));
        json_t *uf = json_pack("{s:I}", "tokens", user_tokens);
        store_update_message(t->env->store, user_id, uf, on_write_logged, t->env->store);
        json_decref(uf);
        json_object_set_new(t->user_message, "tokens", json_integer(user_tokens));
    }
    t->state = TURN_STORING_REPLY;
    t->final = reply;
    store_update_message(t->env->store, t->reply_id, reply, turn_on_reply_stored, t);
}

/* The turn is its timers' memory: it goes with the last one closed. */
static int
handles_open(const struct turn *t)
{
    return t->timer_started + t->kick_started + t->approval_timer_started;
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct turn *t = h->data;
    if (h == (uv_handle_t *)&t->checkpoint)
        t->timer_started = false;
    else if (h == (uv_handle_t *)&t->kick)
        t->kick_started = false;
    else
        t->approval_timer_started = false;
    if (handles_open(t) == 0)
        free(t);
}

void
turn_done(struct turn *t, json_t *reply)
{
    TELL(t, done, reply);
    json_decref(reply);
    sbuf_free(&t->content);
    sbuf_free(&t->thinking);
    json_decref(t->tool_calls);
    json_decref(t->session);
    json_decref(t->user_message);
    json_decref((json_t *)t->res.options);
    free(t->model);
    free(t->content_in);
    free(t->environment);
    workspace_free(t->ws);
    json_decref(t->history);
    json_decref(t->last_call);
    json_decref(t->call);
    free(t->call_error);
    json_decref(t->approval);
    json_decref(t->decision);
    json_decref(t->pending_step);
    turn_drop_held(t);
    toolcall_parser_free(t->parser);
    tool_job_free(t->job);
    if (handles_open(t) == 0) {
        free(t);
        return;
    }
    if (t->timer_started)
        uv_close((uv_handle_t *)&t->checkpoint, on_timer_closed);
    if (t->kick_started)
        uv_close((uv_handle_t *)&t->kick, on_timer_closed);
    if (t->approval_timer_started)
        uv_close((uv_handle_t *)&t->approval_timer, on_timer_closed);
}

static void
on_cancelled_lookup(uv_timer_t *timer)
{
    turn_end(timer->data, "interrupted", NULL);
}

void
turn_cancel(struct turn *t)
{
    switch (t->state) {
    case TURN_STREAMING:
        if (t->stream != NULL) {
            model_stream_cancel(t->stream);
            t->stream = NULL;
            if (t->agent)
                agent_finish(t, "cancelled", NULL);
            else
                turn_end(t, "interrupted", NULL);
        }
        return;
    case TURN_RUNNING_COMMAND:
    case TURN_AWAITING:
    case TURN_OPENING:
    case TURN_STORING_STEP:
    case TURN_RUNNING_TOOL:
    case TURN_STORING_RESULT:
        agent_cancel(t);
        return;
    case TURN_STORING_END:
        return;
    case TURN_LOOKING_UP:
        if (t->ticket != NULL && !t->timer_started) {
            /* The lookup may take a catalogue's timeout: do not wait for
             * it.  The end goes through the loop, as every event does. */
            t->ticket->t = NULL;
            t->ticket = NULL;
            t->cancelled = true;
            uv_timer_init(t->env->loop, &t->checkpoint);
            t->checkpoint.data = t;
            t->timer_started = true;
            uv_timer_start(&t->checkpoint, on_cancelled_lookup, 0, 0);
        }
        return;
    case TURN_STORING_USER:
    case TURN_STORING_PLACEHOLDER:
        t->cancelled = true; /* acted on when the pending operation returns */
        return;
    case TURN_STORING_REPLY:
        return;
    }
}

const char *
turn_session_id(const struct turn *t)
{
    return t->session_id;
}

bool
turn_finishing(const struct turn *t)
{
    return t->state == TURN_STORING_REPLY || t->state == TURN_STORING_END || t->cancelled;
}
