/*
 * upstream: a request to a model server, whichever transport carries it.
 * Owns each request's life: the caller's callbacks, the first-byte and
 * idle timers, cancellation and the one completion.  http:// requests go
 * over our own HTTP/1.1 connections (upstream_http.c); https:// ones
 * through libcurl (upstream_curl.c), loaded only when a configuration
 * names such a server, so a daemon that talks to local servers never
 * maps libcurl and its TLS stack.  Never calls a caller back from inside
 * upstream_start or upstream_resume.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/xmalloc.h"
#include "careti/upstream/upstream.h"
#include "upstream_int.h"

struct upstream *
upstream_new(uv_loop_t *loop)
{
    struct upstream *up = xcalloc(1, sizeof *up);
    up->loop = loop;
    up->http = uhttp_new(loop);
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
    if (req->conn != NULL)
        uhttp_abort(req);
    if (req->xfer != NULL)
        ucurl_abort(req);
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
    uhttp_close(up->http);
    if (up->curl != NULL)
        ucurl_close(up->curl);
    free(up);
}

bool
upstream_load_https(struct cerr *err)
{
    return ucurl_load(err);
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

static void on_req_timer(uv_timer_t *t);

static void
arm(struct upstream_req *req, long ms)
{
    uv_timer_stop(&req->timer);
    if (ms > 0)
        uv_timer_start(&req->timer, on_req_timer, (uint64_t)ms, 0);
}

enum upstream_take
upstream_req_data(struct upstream_req *req, const char *data, size_t len)
{
    if (req->cancelled)
        return UPSTREAM_DROPPED_BY_CALLER;
    if (!req->head_sent) {
        send_head(req);
        if (req->cancelled)
            return UPSTREAM_DROPPED_BY_CALLER;
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
    return req->cancelled ? UPSTREAM_DROPPED_BY_CALLER : UPSTREAM_TAKEN;
}

bool
upstream_is_redirect(int status)
{
    return status >= 300 && status < 400;
}

void
upstream_req_add_location(struct upstream_req *req, const char *at, size_t len)
{
    size_t used = strlen(req->location);
    size_t room = sizeof req->location - 1 - used;
    if (len > room) {
        len = room;
        req->location_cut = true;
    }
    memcpy(req->location + used, at, len);
    req->location[used + len] = '\0';
}

void
upstream_redirect_why(const struct upstream_req *req, char *why, size_t whylen)
{
    const char *loc = req->location;
    size_t len = strlen(loc);
    while (len > 0 && strchr(" \t", *loc) != NULL)
        loc++, len--;
    while (len > 0 && strchr(" \t\r\n", loc[len - 1]) != NULL)
        len--;
    if (len > 0)
        snprintf(why, whylen,
                 "answered HTTP %d, a redirect to %.*s%s, which caretid does not follow: point "
                 "base_url at the final address",
                 req->status, (int)len, loc, req->location_cut ? "..." : "");
    else
        snprintf(why, whylen,
                 "answered HTTP %d, a redirect without a Location, which caretid does not "
                 "follow: point base_url at the final address",
                 req->status);
}

static void done_soon(struct upstream_req *req, enum upstream_failure failure, const char *why);

void
upstream_req_done(struct upstream_req *req, enum upstream_failure failure, const char *why)
{
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
        upstream_req_done(req, req->deferred_failure, req->deferred_err.msg);
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
        upstream_req_done(req, UPSTREAM_IDLE_TIMEOUT, "the answer stalled for longer than idle_s");
    else
        upstream_req_done(req, UPSTREAM_FIRST_BYTE_TIMEOUT, "no answer within first_byte_s");
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
    if (strncmp(opts->url, "http://", 7) == 0) {
        uhttp_start(up->http, req, opts);
    } else if (strncmp(opts->url, "https://", 8) == 0) {
        struct cerr err = {0};
        if (up->curl == NULL && (up->curl = ucurl_new(up->loop, &err)) == NULL)
            upstream_req_done(req, UPSTREAM_OTHER, err.msg);
        else
            ucurl_start(up->curl, req, opts);
    } else {
        upstream_req_done(req, UPSTREAM_OTHER, "the URL is neither http:// nor https://");
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
    if (req->conn != NULL)
        uhttp_resume(req);
    else if (req->xfer != NULL)
        ucurl_resume(req);
    up->in_caller--;
}
