/*
 * upstream: libcurl multi_socket on the libuv loop.  Owns the CURLM, one
 * uv_poll_t per socket curl watches, one timer for curl and one per
 * transfer (first-byte and idle timeouts).  Sole includer of curl/curl.h.
 * Never removes a handle from inside a curl callback: cancellations made
 * there are finished from the loop (STYLE.md section 6).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "careti/upstream.h"
#include "careti/xmalloc.h"

/* Easy handles kept for the next transfers: a handle carries its receive
 * buffer and parsed state, which every request would otherwise allocate
 * and free again.  A few cover a workstation's usual concurrency. */
#define UPSTREAM_SPARE_EASY 8
/* Idle connections curl keeps for reuse.  Its default, four per transfer
 * running at that moment, closes pooled connections whenever a burst of
 * requests thins out, and the next burst pays a connect for each. */
#define UPSTREAM_IDLE_CONNECTIONS 512

struct upstream {
    uv_loop_t *loop;
    CURLM *multi;
    CURL *spare[UPSTREAM_SPARE_EASY];
    size_t n_spare;
    uv_timer_t timer;
    size_t active;
    int in_curl; /* depth of our calls into curl that may run callbacks */
    bool closing;
    struct upstream_req *reqs;
    struct sock_ctx **ctx_by_fd; /* the poll of every socket we watch */
    size_t ctx_cap;
};

/*
 * A socket's poll handle.  A connection socket (opened by open_socket)
 * keeps its handle from open to close: between transfers curl forgets it
 * (CURL_POLL_REMOVE) but the next request usually takes the same
 * connection, and libuv restarting a poll costs two epoll_ctl calls.  So
 * it stays parked, still watched, and is only stopped if the server
 * speaks (or hangs up) while no transfer uses it.  Other sockets (the
 * resolver's) may be closed without a callback: they go at REMOVE.
 */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct upstream *up;
    int events; /* what the poll watches now */
    bool parked;
    bool connection; /* opened by open_socket, so closed by close_socket */
};

struct upstream_req {
    struct upstream *up;
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    char content_type[128];
    const struct upstream_callbacks *cb;
    void *arg;
    uv_timer_t timer;
    long first_byte_ms, idle_ms;
    /* The idle timer is armed once per quiet spell, not per chunk: when
     * it fires it compares with the last data and re-arms if needed. */
    bool idle_armed;
    uint64_t last_data_ms;
    bool head_sent;
    bool paused;
    bool cancelled;
    bool finished;
    bool start_failed;
    bool pending_add; /* started from inside a curl callback: added from the loop */
    enum upstream_failure timed_out;
    struct upstream_req *prev, *next;
};

static void drain(struct upstream *up);
static void finish(struct upstream_req *req, CURLcode res);
static void on_req_timer(uv_timer_t *t);
static void add_to_multi(struct upstream_req *req);

static void
on_timer_closed_free_up(uv_handle_t *h)
{
    struct upstream *up = h->data;
    free(up->ctx_by_fd);
    free(up);
}

static void
on_ctx_closed(uv_handle_t *h)
{
    free(h->data);
}

static struct sock_ctx *
ctx_lookup(struct upstream *up, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < up->ctx_cap ? up->ctx_by_fd[fd] : NULL;
}

static struct sock_ctx *
ctx_new(struct upstream *up, curl_socket_t fd, bool connection)
{
    struct sock_ctx *ctx = xcalloc(1, sizeof *ctx);
    if (uv_poll_init_socket(up->loop, &ctx->poll, fd) != 0) {
        free(ctx);
        return NULL;
    }
    ctx->fd = fd;
    ctx->up = up;
    ctx->connection = connection;
    ctx->poll.data = ctx;
    if ((size_t)fd >= up->ctx_cap) {
        size_t cap = up->ctx_cap ? up->ctx_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        up->ctx_by_fd = xrealloc(up->ctx_by_fd, cap * sizeof *up->ctx_by_fd);
        memset(up->ctx_by_fd + up->ctx_cap, 0, (cap - up->ctx_cap) * sizeof *up->ctx_by_fd);
        up->ctx_cap = cap;
    }
    up->ctx_by_fd[fd] = ctx;
    return ctx;
}

/* Stop watching CTX's socket and free it: before the socket is closed,
 * so libuv never holds a descriptor number that may be reused. */
static void
ctx_forget(struct sock_ctx *ctx)
{
    ctx->up->ctx_by_fd[ctx->fd] = NULL;
    uv_poll_stop(&ctx->poll);
    uv_close((uv_handle_t *)&ctx->poll, on_ctx_closed);
}

static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct upstream *up = clientp;
    (void)purpose;
    curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    struct sock_ctx *stale = ctx_lookup(up, fd);
    if (stale != NULL)
        ctx_forget(stale); /* closed behind our back: its number is back */
    if (ctx_new(up, fd, true) == NULL) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    return fd;
}

static int
close_socket(void *clientp, curl_socket_t fd)
{
    struct sock_ctx *ctx = ctx_lookup(clientp, fd);
    if (ctx != NULL)
        ctx_forget(ctx);
    return close(fd);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *ctx = h->data;
    struct upstream *up = ctx->up;
    int flags = 0;
    int running;
    if (ctx->parked) {
        /* Nothing is expected on an idle connection: most likely the
         * server closed it.  curl finds out when it next picks it. */
        uv_poll_stop(&ctx->poll);
        ctx->events = 0;
        return;
    }
    if (status < 0)
        flags = CURL_CSELECT_IN | CURL_CSELECT_OUT | CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    up->in_curl++;
    curl_multi_socket_action(up->multi, ctx->fd, flags, &running);
    up->in_curl--;
    drain(up);
}

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct upstream *up = userp;
    struct sock_ctx *ctx = ctx_lookup(up, s);
    (void)easy; /* may be curl-internal: never read its PRIVATE here */
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ctx == NULL)
            return 0;
        if (ctx->connection && !up->closing)
            ctx->parked = true;
        else
            ctx_forget(ctx);
        return 0;
    }
    if (up->closing)
        return 0;
    if (ctx == NULL && (ctx = ctx_new(up, s, false)) == NULL)
        return -1;
    ctx->parked = false;
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    /* uv_poll_start re-registers the descriptor even when nothing changed. */
    if (events != ctx->events) {
        uv_poll_start(&ctx->poll, events, on_poll);
        ctx->events = events;
    }
    return 0;
}

static void
on_curl_timer(uv_timer_t *t)
{
    struct upstream *up = t->data;
    int running;
    up->in_curl++;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    up->in_curl--;
    drain(up);
}

static int
on_curl_timeout(CURLM *multi, long ms, void *userp)
{
    struct upstream *up = userp;
    (void)multi;
    /* 0 means "act now": a 0 ms timer fires on the next loop iteration,
     * outside this callback, without the millisecond a 1 ms timer costs
     * every request. */
    if (ms < 0)
        uv_timer_stop(&up->timer);
    else
        uv_timer_start(&up->timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

struct upstream *
upstream_new(uv_loop_t *loop)
{
    struct upstream *up = xcalloc(1, sizeof *up);
    up->loop = loop;
    up->multi = curl_multi_init();
    if (up->multi == NULL) {
        fprintf(stderr, "caretid: cannot initialise libcurl\n");
        abort();
    }
    uv_timer_init(loop, &up->timer);
    up->timer.data = up;
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_IDLE_CONNECTIONS);
    return up;
}

static void
on_req_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
release(struct upstream_req *req)
{
    struct upstream *up = req->up;
    if (req->easy != NULL) {
        curl_multi_remove_handle(up->multi, req->easy);
        if (up->n_spare < UPSTREAM_SPARE_EASY && !up->closing) {
            curl_easy_reset(req->easy);
            up->spare[up->n_spare++] = req->easy;
        } else {
            curl_easy_cleanup(req->easy);
        }
        req->easy = NULL;
    }
    curl_slist_free_all(req->headers);
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        up->reqs = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    up->active--;
    uv_close((uv_handle_t *)&req->timer, on_req_timer_closed);
}

void
upstream_close(struct upstream *up)
{
    if (up == NULL)
        return;
    up->closing = true;
    while (up->reqs != NULL) {
        up->reqs->finished = true;
        release(up->reqs);
    }
    while (up->n_spare > 0)
        curl_easy_cleanup(up->spare[--up->n_spare]);
    /* May still call the socket callback with REMOVE: polls close then. */
    curl_multi_cleanup(up->multi);
    up->multi = NULL;
    for (size_t fd = 0; fd < up->ctx_cap; fd++)
        if (up->ctx_by_fd[fd] != NULL)
            ctx_forget(up->ctx_by_fd[fd]);
    uv_close((uv_handle_t *)&up->timer, on_timer_closed_free_up);
}

size_t
upstream_active(const struct upstream *up)
{
    return up->active;
}

static void
send_head(struct upstream_req *req)
{
    long status = 0;
    req->head_sent = true;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    req->cb->on_head((int)status, req->content_type[0] ? req->content_type : NULL, req->arg);
}

static void
arm(struct upstream_req *req, long ms)
{
    uv_timer_stop(&req->timer);
    if (ms > 0)
        uv_timer_start(&req->timer, on_req_timer, (uint64_t)ms, 0);
}

static size_t
on_header(char *buf, size_t size, size_t n, void *userdata)
{
    struct upstream_req *req = userdata;
    size_t len = size * n;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0)
        req->content_type[0] = '\0'; /* a new response (after 100 Continue) */
    if (len > 13 && strncasecmp(buf, "Content-Type:", 13) == 0) {
        const char *v = buf + 13;
        size_t vl = len - 13;
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof req->content_type)
            vl = sizeof req->content_type - 1;
        memcpy(req->content_type, v, vl);
        req->content_type[vl] = '\0';
    }
    return len;
}

static size_t
on_write(char *data, size_t size, size_t n, void *userdata)
{
    struct upstream_req *req = userdata;
    size_t len = size * n;
    if (req->cancelled)
        return 0;
    if (!req->head_sent) {
        send_head(req);
        if (req->cancelled)
            return 0;
    }
    if (!req->cb->writable(req->arg)) {
        /* curl keeps the bytes and hands them back after CONT. */
        req->paused = true;
        req->idle_armed = false;
        uv_timer_stop(&req->timer);
        return CURL_WRITEFUNC_PAUSE;
    }
    req->last_data_ms = uv_now(req->up->loop);
    if (!req->idle_armed) {
        arm(req, req->idle_ms);
        req->idle_armed = true;
    }
    req->cb->on_data(data, len, req->arg);
    return req->cancelled ? 0 : len;
}

static enum upstream_failure
classify(struct upstream_req *req, CURLcode res)
{
    if (req->timed_out != UPSTREAM_OK)
        return req->timed_out;
    switch (res) {
    case CURLE_OK:
        return UPSTREAM_OK;
    case CURLE_COULDNT_CONNECT:
        return UPSTREAM_CONNECT_REFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return UPSTREAM_DNS;
    case CURLE_OPERATION_TIMEDOUT:
        return req->head_sent ? UPSTREAM_IDLE_TIMEOUT : UPSTREAM_CONNECT_TIMEOUT;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        return UPSTREAM_DROPPED;
    default:
        return UPSTREAM_OTHER;
    }
}

static void
finish(struct upstream_req *req, CURLcode res)
{
    if (req->finished)
        return;
    req->finished = true;
    if (req->cancelled) {
        release(req);
        return;
    }
    enum upstream_failure failure = classify(req, res);
    struct cerr err = {0};
    if (failure == UPSTREAM_OK && !req->head_sent)
        send_head(req); /* a response with an empty body */
    if (failure != UPSTREAM_OK) {
        const char *why = req->errbuf[0] ? req->errbuf : curl_easy_strerror(res);
        if (failure == UPSTREAM_FIRST_BYTE_TIMEOUT)
            why = "no answer within first_byte_s";
        else if (failure == UPSTREAM_IDLE_TIMEOUT)
            why = "the answer stalled for longer than idle_s";
        cerr_set(&err, -EIO, 502, "%s", why);
    }
    if (!req->cancelled)
        req->cb->on_done(failure, failure == UPSTREAM_OK ? NULL : &err, req->arg);
    release(req);
}

static void
drain(struct upstream *up)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(up->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* Copy out before finish() removes the handle and frees msg. */
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct upstream_req *req = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
        if (req != NULL)
            finish(req, res);
    }
}

static void
on_req_timer(uv_timer_t *t)
{
    struct upstream_req *req = t->data;
    if (req->finished)
        return;
    if (req->cancelled) {
        req->finished = true;
        release(req);
        return;
    }
    if (req->start_failed) {
        finish(req, CURLE_FAILED_INIT);
        return;
    }
    if (req->pending_add) {
        add_to_multi(req);
        return;
    }
    if (req->idle_armed) {
        uint64_t quiet = uv_now(req->up->loop) - req->last_data_ms;
        if (quiet < (uint64_t)req->idle_ms) {
            uv_timer_start(&req->timer, on_req_timer, (uint64_t)req->idle_ms - quiet, 0);
            return;
        }
    }
    req->timed_out = req->head_sent ? UPSTREAM_IDLE_TIMEOUT : UPSTREAM_FIRST_BYTE_TIMEOUT;
    finish(req, CURLE_OPERATION_TIMEDOUT);
}

static void
add_to_multi(struct upstream_req *req)
{
    req->pending_add = false;
    arm(req, req->first_byte_ms);
    CURLMcode rc = curl_multi_add_handle(req->up->multi, req->easy);
    if (rc != CURLM_OK) {
        req->start_failed = true;
        snprintf(req->errbuf, sizeof req->errbuf, "cannot start the transfer (%s)",
                 curl_multi_strerror(rc));
        uv_timer_start(&req->timer, on_req_timer, 0, 0);
    }
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

    CURL *e = up->n_spare > 0 ? up->spare[--up->n_spare] : curl_easy_init();
    req->easy = e;
    if (e == NULL) {
        req->start_failed = true;
        snprintf(req->errbuf, sizeof req->errbuf, "cannot create a curl handle");
        uv_timer_start(&req->timer, on_req_timer, 0, 0);
        return req;
    }
    curl_easy_setopt(e, CURLOPT_URL, opts->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, up);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, up);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Model servers are usually on this machine; a proxy in the
     * environment must not capture loopback traffic. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    req->headers = curl_slist_append(req->headers, "Expect:");
    req->headers = curl_slist_append(req->headers, "Accept: application/json, text/event-stream, application/x-ndjson");
    if (opts->api_key != NULL && *opts->api_key != '\0') {
        char *auth = xasprintf("Authorization: Bearer %s", opts->api_key);
        req->headers = curl_slist_append(req->headers, auth);
        free(auth);
    }
    if (opts->body != NULL) {
        req->headers = curl_slist_append(req->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opts->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, opts->body);
    }
    if (strcmp(opts->method, "GET") != 0 && opts->body == NULL)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, opts->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    if (up->in_curl > 0) {
        /* curl refuses new handles from inside its callbacks (a slot freed
         * by a finished transfer starts the next one): add from the loop. */
        req->pending_add = true;
        uv_timer_start(&req->timer, on_req_timer, 0, 0);
    } else {
        add_to_multi(req);
    }
    return req;
}

void
upstream_cancel(struct upstream_req *req)
{
    if (req->finished || req->cancelled)
        return;
    req->cancelled = true;
    if (req->up->in_curl > 0) {
        /* Inside curl: finish from the loop, at once. */
        uv_timer_stop(&req->timer);
        uv_timer_start(&req->timer, on_req_timer, 0, 0);
        return;
    }
    req->finished = true;
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
    req->up->in_curl++;
    curl_easy_pause(req->easy, CURLPAUSE_CONT);
    req->up->in_curl--;
}
