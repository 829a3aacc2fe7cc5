/*
 * upstream: a request to a model server, whichever transport carries it.
 * Owns each request's life: the caller's callbacks, the first-byte and
 * idle timers, cancellation and the one completion.  The transports sit
 * behind one table (upstream_int.h) and report through one sink; which
 * carries a request is decided in pick_transport, by the URL's scheme:
 * http:// over our own HTTP/1.1 client (upstream_http.c), https://
 * through libcurl (upstream_curl.c), loaded only when a configuration
 * names such a server, so a daemon that talks to local servers never maps
 * libcurl and its TLS stack.  Never calls a caller back from inside
 * upstream_start or upstream_resume.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/log.h"
#include "careti/core/xmalloc.h"
#include "careti/upstream/upstream.h"
#include "upstream_int.h"

/* Every transport, tried in order against a request's URL. */
static const struct upstream_transport *const transports[] = {
    &upstream_http_transport,
    &upstream_curl_transport,
};
#define N_TRANSPORTS (sizeof transports / sizeof transports[0])

struct upstream {
    uv_loop_t *loop;
    /* Each transport's instance, made when its first request comes. */
    void *inst[N_TRANSPORTS];
    struct upstream_req *reqs;
    size_t active;
    bool closing;
    /* Inside upstream_start or upstream_resume: completions wait for the
     * loop, so the caller is never called back from its own call. */
    int in_caller;
};

/*
 * One request as its caller sees it.  Its transport's state for it (X)
 * lives while the transport works for it: the transport lets go by
 * reporting done, or when told to abort, so either side may end first.
 */
struct upstream_req {
    struct upstream *up;
    const struct upstream_callbacks *cb;
    void *arg;
    const struct upstream_transport *tp;
    void *x; /* NULL once the transport let go */
    uv_timer_t timer; /* first byte, then idle; also a deferred failure */
    long first_byte_ms, idle_ms;
    /* The idle timer is armed once per quiet spell, not per chunk: when
     * it fires it compares with the last data and re-arms if needed. */
    bool idle_armed;
    uint64_t last_data_ms;
    int status; /* known once the transport has the head */
    char content_type[128];
    bool head_sent;
    bool paused;
    bool cancelled;
    bool finished;
    bool deferred; /* an outcome to report from the loop */
    enum upstream_failure deferred_failure;
    struct cerr deferred_err;
    struct upstream_req *prev, *next;
};

static void on_head(struct upstream_req *req, int status, const char *content_type);
static enum upstream_delivery on_data(struct upstream_req *req, const char *data, size_t len);
static void on_done(struct upstream_req *req, enum upstream_failure failure, const char *why);
static void on_req_timer(uv_timer_t *t);
static void done_soon(struct upstream_req *req, enum upstream_failure failure, const char *why);

static const struct upstream_sink sink = {on_head, on_data, on_done};

struct upstream *
upstream_new(uv_loop_t *loop)
{
    struct upstream *up = xcalloc(1, sizeof *up);
    up->loop = loop;
    return up;
}

static void
on_req_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Unlink REQ and free it once libuv has closed its timer: until then a
 * transport callback that just delivered to it may still read it. */
static void
release(struct upstream_req *req)
{
    struct upstream *up = req->up;
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        up->reqs = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    up->active--;
    uv_close((uv_handle_t *)&req->timer, on_req_timer_closed);
}

/* Make the transport let go of REQ now; it reports nothing afterwards. */
static void
detach(struct upstream_req *req)
{
    void *x = req->x;
    req->x = NULL;
    if (x != NULL)
        req->tp->abort(x);
}

void
upstream_close(struct upstream *up)
{
    if (up == NULL)
        return;
    up->closing = true;
    while (up->reqs != NULL) {
        struct upstream_req *req = up->reqs;
        req->finished = true;
        detach(req);
        release(req);
    }
    for (size_t i = 0; i < N_TRANSPORTS; i++)
        if (up->inst[i] != NULL)
            transports[i]->close(up->inst[i]);
    free(up);
}

bool
upstream_load_https(struct cerr *err)
{
    return upstream_curl_transport.load(err) == 0;
}

size_t
upstream_active(const struct upstream *up)
{
    return up->active;
}

static void
send_head(struct upstream_req *req)
{
    req->head_sent = true;
    req->cb->on_head(req->status, req->content_type[0] ? req->content_type : NULL, req->arg);
}

static void
arm(struct upstream_req *req, long ms)
{
    uv_timer_stop(&req->timer);
    if (ms > 0)
        uv_timer_start(&req->timer, on_req_timer, (uint64_t)ms, 0);
}

/* The sink's head: kept until the first body bytes or the end, when the
 * caller hears of it. */
static void
on_head(struct upstream_req *req, int status, const char *content_type)
{
    req->status = status;
    snprintf(req->content_type, sizeof req->content_type, "%s",
             content_type != NULL ? content_type : "");
}

/* The sink's data: hand body bytes to the caller, sending the head first
 * if it has not gone yet. */
static enum upstream_delivery
on_data(struct upstream_req *req, const char *data, size_t len)
{
    if (req->cancelled)
        return UPSTREAM_CANCELLED;
    if (!req->head_sent) {
        send_head(req);
        if (req->cancelled)
            return UPSTREAM_CANCELLED;
    }
    if (!req->cb->writable(req->arg)) {
        req->paused = true;
        req->idle_armed = false;
        uv_timer_stop(&req->timer);
        return UPSTREAM_PAUSED;
    }
    req->last_data_ms = uv_now(req->up->loop);
    if (!req->idle_armed) {
        arm(req, req->idle_ms);
        req->idle_armed = true;
    }
    req->cb->on_data(data, len, req->arg);
    return req->cancelled ? UPSTREAM_CANCELLED : UPSTREAM_TAKEN;
}

/* The sink's done, and the timers' failures: report FAILURE (with WHY
 * when not UPSTREAM_OK) and free REQ, from the loop when this runs
 * inside the caller's own call.  The transport has let go of REQ. */
static void
on_done(struct upstream_req *req, enum upstream_failure failure, const char *why)
{
    req->x = NULL;
    if (req->finished)
        return;
    if (req->up->in_caller > 0) {
        /* Inside the caller's upstream_start or upstream_resume, which
         * must return before it is called back. */
        done_soon(req, failure, why);
        return;
    }
    req->finished = true;
    if (failure == UPSTREAM_OK && !req->head_sent)
        send_head(req); /* a response with an empty body */
    if (!req->cancelled) {
        struct cerr err = {0};
        if (failure != UPSTREAM_OK)
            cerr_set(&err, -EIO, 502, "%s", why != NULL && *why ? why : "transfer failed");
        req->cb->on_done(failure, failure == UPSTREAM_OK ? NULL : &err, req->arg);
    }
    release(req);
}

static void
done_soon(struct upstream_req *req, enum upstream_failure failure, const char *why)
{
    req->deferred = true;
    req->deferred_failure = failure;
    cerr_set(&req->deferred_err, -EIO, 502, "%s", why != NULL ? why : "");
    uv_timer_stop(&req->timer);
    uv_timer_start(&req->timer, on_req_timer, 0, 0);
}

static void
on_req_timer(uv_timer_t *t)
{
    struct upstream_req *req = t->data;
    if (req->finished)
        return;
    if (req->deferred) {
        on_done(req, req->deferred_failure, req->deferred_err.msg);
        return;
    }
    if (req->idle_armed) {
        uint64_t quiet = uv_now(req->up->loop) - req->last_data_ms;
        if (quiet < (uint64_t)req->idle_ms) {
            uv_timer_start(&req->timer, on_req_timer, (uint64_t)req->idle_ms - quiet, 0);
            return;
        }
    }
    detach(req);
    if (req->head_sent)
        on_done(req, UPSTREAM_IDLE_TIMEOUT, "the answer stalled for longer than idle_s");
    else
        on_done(req, UPSTREAM_FIRST_BYTE_TIMEOUT, "no answer within first_byte_s");
}

/* The one place that decides which transport carries a request to URL,
 * and says so at debug level: the index of its entry in TRANSPORTS, or
 * -EINVAL when none carries such URLs. */
static int
pick_transport(const char *method, const char *url)
{
    for (size_t i = 0; i < N_TRANSPORTS; i++) {
        const char *scheme = transports[i]->scheme;
        if (strncmp(url, scheme, strlen(scheme)) == 0) {
            log_debug("upstream %s %s: over %s", method, url, transports[i]->name);
            return (int)i;
        }
    }
    return -EINVAL;
}

struct upstream_req *
upstream_start(struct upstream *up, const struct upstream_opts *opts,
               const struct upstream_callbacks *cb, void *arg)
{
    struct upstream_req *req = xcalloc(1, sizeof *req);
    req->up = up;
    req->cb = cb;
    req->arg = arg;
    req->first_byte_ms = opts->first_byte_timeout_ms;
    req->idle_ms = opts->idle_timeout_ms;
    uv_timer_init(up->loop, &req->timer);
    req->timer.data = req;
    req->next = up->reqs;
    if (up->reqs != NULL)
        up->reqs->prev = req;
    up->reqs = req;
    up->active++;
    arm(req, req->first_byte_ms);

    up->in_caller++;
    int i = pick_transport(opts->method, opts->url);
    struct cerr err = {0};
    if (i < 0) {
        on_done(req, UPSTREAM_OTHER, "the URL is neither http:// nor https://");
    } else if (up->inst[i] == NULL &&
               (up->inst[i] = transports[i]->new(up->loop, &sink, &err)) == NULL) {
        on_done(req, UPSTREAM_OTHER, err.msg);
    } else {
        req->tp = transports[i];
        req->x = req->tp->start(up->inst[i], req, opts);
    }
    up->in_caller--;
    return req;
}

void
upstream_cancel(struct upstream_req *req)
{
    if (req->finished || req->cancelled)
        return;
    req->cancelled = true;
    req->finished = true;
    detach(req);
    release(req);
}

void
upstream_resume(struct upstream_req *req)
{
    if (!req->paused || req->finished || req->cancelled)
        return;
    req->paused = false;
    req->last_data_ms = uv_now(req->up->loop);
    arm(req, req->idle_ms);
    req->idle_armed = true;
    struct upstream *up = req->up;
    up->in_caller++;
    if (req->x != NULL)
        req->tp->resume(req->x);
    up->in_caller--;
}
