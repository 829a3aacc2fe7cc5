/*
 * upstream_curl: https:// requests through libcurl's multi_socket
 * interface on the libuv loop.  libcurl is opened with dlopen when the
 * first https:// request starts: linking it would map it and its TLS,
 * LDAP, Kerberos and SSH libraries into every daemon, about 6 MiB that a
 * daemon talking only to local servers never uses.  The daemon loads it
 * off the loop when its configuration names an https:// server
 * (upstream_load_https); otherwise the first such request does.  Owns the
 * CURLM, one
 * uv_poll_t per socket curl watches, and curl's timer.  Sole includer of
 * curl/curl.h in the daemon.  Never removes a handle from inside a curl
 * callback: such removals are finished from the loop (STYLE.md 6).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "careti/core/xmalloc.h"
#include "upstream_int.h"

#define UCURL_LIBRARY "libcurl.so.4"
/* Easy handles kept for the next transfers: a handle carries its receive
 * buffer and parsed state, which every request would otherwise allocate
 * and free again.  A few cover a workstation's usual concurrency. */
#define UCURL_SPARE_EASY 8
/* Idle connections curl keeps for reuse.  Its default, four per transfer
 * running at that moment, closes pooled connections whenever a burst of
 * requests thins out, and the next burst pays a connect for each. */
#define UCURL_IDLE_CONNECTIONS 512

/* The libcurl functions we call, found with dlsym. */
struct curl_api {
    CURLcode (*global_init)(long flags);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption option, ...);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_cleanup)(CURLM *m);
    const char *(*multi_strerror)(CURLMcode code);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *e, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    void (*easy_reset)(CURL *e);
    void (*easy_cleanup)(CURL *e);
    const char *(*easy_strerror)(CURLcode code);
    CURLcode (*easy_pause)(CURL *e, int bitmask);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
};

static const struct {
    const char *symbol;
    size_t offset;
} curl_symbols[] = {
    {"curl_global_init", offsetof(struct curl_api, global_init)},
    {"curl_multi_init", offsetof(struct curl_api, multi_init)},
    {"curl_multi_setopt", offsetof(struct curl_api, multi_setopt)},
    {"curl_multi_socket_action", offsetof(struct curl_api, multi_socket_action)},
    {"curl_multi_add_handle", offsetof(struct curl_api, multi_add_handle)},
    {"curl_multi_remove_handle", offsetof(struct curl_api, multi_remove_handle)},
    {"curl_multi_info_read", offsetof(struct curl_api, multi_info_read)},
    {"curl_multi_cleanup", offsetof(struct curl_api, multi_cleanup)},
    {"curl_multi_strerror", offsetof(struct curl_api, multi_strerror)},
    {"curl_easy_init", offsetof(struct curl_api, easy_init)},
    {"curl_easy_setopt", offsetof(struct curl_api, easy_setopt)},
    {"curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo)},
    {"curl_easy_reset", offsetof(struct curl_api, easy_reset)},
    {"curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup)},
    {"curl_easy_strerror", offsetof(struct curl_api, easy_strerror)},
    {"curl_easy_pause", offsetof(struct curl_api, easy_pause)},
    {"curl_slist_append", offsetof(struct curl_api, slist_append)},
    {"curl_slist_free_all", offsetof(struct curl_api, slist_free_all)},
};

/* libcurl, once loaded: by whichever thread asks first, for the daemon's
 * life (curl keeps global state, its TLS library's, that a dlclose would
 * not undo). */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static struct curl_api curl_loaded;
static char curl_load_error[300];
static atomic_bool curl_load_tried; /* set once curl_once has run */

struct ucurl {
    uv_loop_t *loop;
    const struct upstream_sink *sink;
    struct curl_api api;
    CURLM *multi;
    CURL *spare[UCURL_SPARE_EASY];
    size_t n_spare;
    uv_timer_t timer;    /* curl's own timeouts */
    uv_timer_t deferred; /* work curl forbids inside its callbacks */
    int open_timers;
    int in_curl; /* depth of our calls into curl that may run callbacks */
    bool closing;
    struct ucurl_xfer *pending; /* to add to the multi from the loop */
    struct ucurl_xfer *doomed;  /* aborted inside a callback: to remove */
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
    struct ucurl *c;
    int events; /* what the poll watches now */
    bool parked;
    bool connection; /* opened by open_socket, so closed by close_socket */
};

/* One transfer.  REQ is NULL once the request let go (aborted). */
struct ucurl_xfer {
    struct ucurl *c;
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    struct upstream_req *req;
    struct upstream_head head; /* of the response being read */
    bool head_known; /* the status was read and the head reported */
    bool body_begun; /* body bytes went to the request */
    struct ucurl_xfer *next; /* in PENDING or DOOMED */
};

static void drain(struct ucurl *c);
static int ucurl_load(struct cerr *err);
static void *ucurl_new(uv_loop_t *loop, const struct upstream_sink *sink, struct cerr *err);
static void ucurl_close(void *t);
static void *ucurl_start(void *t, struct upstream_req *req, const struct upstream_opts *opts);
static void ucurl_abort(void *x);
static void ucurl_resume(void *x);

const struct upstream_transport upstream_curl_transport = {
    .name = "curl",
    .scheme = "https://",
    .load = ucurl_load,
    .new = ucurl_new,
    .close = ucurl_close,
    .start = ucurl_start,
    .abort = ucurl_abort,
    .resume = ucurl_resume,
};

static void
on_closed_free_ctx(uv_handle_t *h)
{
    free(h->data);
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct ucurl *c = h->data;
    if (--c->open_timers == 0) {
        free(c->ctx_by_fd);
        free(c);
    }
}

static struct sock_ctx *
ctx_lookup(struct ucurl *c, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < c->ctx_cap ? c->ctx_by_fd[fd] : NULL;
}

static struct sock_ctx *
ctx_new(struct ucurl *c, curl_socket_t fd, bool connection)
{
    struct sock_ctx *ctx = xcalloc(1, sizeof *ctx);
    if (uv_poll_init_socket(c->loop, &ctx->poll, fd) != 0) {
        free(ctx);
        return NULL;
    }
    ctx->fd = fd;
    ctx->c = c;
    ctx->connection = connection;
    ctx->poll.data = ctx;
    if ((size_t)fd >= c->ctx_cap) {
        size_t cap = c->ctx_cap ? c->ctx_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        c->ctx_by_fd = xrealloc(c->ctx_by_fd, cap * sizeof *c->ctx_by_fd);
        memset(c->ctx_by_fd + c->ctx_cap, 0, (cap - c->ctx_cap) * sizeof *c->ctx_by_fd);
        c->ctx_cap = cap;
    }
    c->ctx_by_fd[fd] = ctx;
    return ctx;
}

/* Stop watching CTX's socket and free it: before the socket is closed,
 * so libuv never holds a descriptor number that may be reused. */
static void
ctx_forget(struct sock_ctx *ctx)
{
    ctx->c->ctx_by_fd[ctx->fd] = NULL;
    uv_poll_stop(&ctx->poll);
    uv_close((uv_handle_t *)&ctx->poll, on_closed_free_ctx);
}

static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct ucurl *c = clientp;
    (void)purpose;
    curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    struct sock_ctx *stale = ctx_lookup(c, fd);
    if (stale != NULL)
        ctx_forget(stale); /* closed behind our back: its number is back */
    if (ctx_new(c, fd, true) == NULL) {
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
    struct ucurl *c = ctx->c;
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
    c->in_curl++;
    c->api.multi_socket_action(c->multi, ctx->fd, flags, &running);
    c->in_curl--;
    drain(c);
}

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct ucurl *c = userp;
    struct sock_ctx *ctx = ctx_lookup(c, s);
    (void)easy; /* may be curl-internal: never read its PRIVATE here */
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ctx == NULL)
            return 0;
        if (ctx->connection && !c->closing)
            ctx->parked = true;
        else
            ctx_forget(ctx);
        return 0;
    }
    if (c->closing)
        return 0;
    if (ctx == NULL && (ctx = ctx_new(c, s, false)) == NULL)
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
    struct ucurl *c = t->data;
    int running;
    c->in_curl++;
    c->api.multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->in_curl--;
    drain(c);
}

static int
on_curl_timeout(CURLM *multi, long ms, void *userp)
{
    struct ucurl *c = userp;
    (void)multi;
    /* 0 means "act now": a 0 ms timer fires on the next loop iteration,
     * outside this callback, without the millisecond a 1 ms timer costs
     * every request. */
    if (ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

/* Take XFER out of the multi and free it; its handle is kept for reuse. */
static void
xfer_free(struct ucurl_xfer *xfer)
{
    struct ucurl *c = xfer->c;
    if (xfer->easy != NULL) {
        c->api.multi_remove_handle(c->multi, xfer->easy);
        if (c->n_spare < UCURL_SPARE_EASY && !c->closing) {
            c->api.easy_reset(xfer->easy);
            c->spare[c->n_spare++] = xfer->easy;
        } else {
            c->api.easy_cleanup(xfer->easy);
        }
    }
    c->api.slist_free_all(xfer->headers);
    free(xfer);
}

/* XFER's request ends with FAILURE: both let go, then it is told. */
static void
xfer_end(struct ucurl_xfer *xfer, enum upstream_failure failure, const char *why)
{
    struct upstream_req *req = xfer->req;
    const struct upstream_sink *sink = xfer->c->sink;
    xfer->req = NULL;
    xfer_free(xfer);
    sink->done(req, failure, why);
}

static void
unlink_from(struct ucurl_xfer **list, struct ucurl_xfer *xfer)
{
    for (struct ucurl_xfer **p = list; *p != NULL; p = &(*p)->next) {
        if (*p == xfer) {
            *p = xfer->next;
            return;
        }
    }
}

static void
on_deferred(uv_timer_t *t)
{
    struct ucurl *c = t->data;
    while (c->doomed != NULL) {
        struct ucurl_xfer *xfer = c->doomed;
        c->doomed = xfer->next;
        xfer_free(xfer);
    }
    while (c->pending != NULL) {
        struct ucurl_xfer *xfer = c->pending;
        c->pending = xfer->next;
        CURLMcode rc = c->api.multi_add_handle(c->multi, xfer->easy);
        if (rc != CURLM_OK) {
            char why[160];
            snprintf(why, sizeof why, "cannot start the transfer (%s)", c->api.multi_strerror(rc));
            xfer_end(xfer, UPSTREAM_OTHER, why);
        }
    }
}

static void
defer(struct ucurl *c)
{
    if (!uv_is_active((uv_handle_t *)&c->deferred))
        uv_timer_start(&c->deferred, on_deferred, 0, 0);
}

static void
load_curl(void)
{
    void *lib = dlopen(UCURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(curl_load_error, sizeof curl_load_error,
                 "https:// servers need libcurl, which cannot be loaded (%s): install the "
                 "libcurl4 package",
                 dlerror());
        return;
    }
    struct curl_api api;
    for (size_t i = 0; i < sizeof curl_symbols / sizeof curl_symbols[0]; i++) {
        void *fn = dlsym(lib, curl_symbols[i].symbol);
        if (fn == NULL) {
            snprintf(curl_load_error, sizeof curl_load_error,
                     "%s has no %s: install a libcurl4 of 7.66 or later", UCURL_LIBRARY,
                     curl_symbols[i].symbol);
            dlclose(lib);
            return;
        }
        memcpy((char *)&api + curl_symbols[i].offset, &fn, sizeof fn);
    }
    api.global_init(CURL_GLOBAL_DEFAULT);
    curl_loaded = api;
}

static void *
load_curl_thread(void *arg)
{
    (void)arg;
    pthread_once(&curl_once, load_curl);
    curl_load_tried = true;
    return NULL;
}

/* The transport's load: see struct upstream_transport. */
static int
ucurl_load(struct cerr *err)
{
    /* Loaded in a thread of its own that then ends: OpenSSL keeps state
     * for each thread that initialises it, freed only when that thread
     * exits, and libuv's pool threads never do.  pthread_join, or the
     * atomic flag, orders that thread's writes before our reads. */
    pthread_t t;
    if (!curl_load_tried) {
        if (pthread_create(&t, NULL, load_curl_thread, NULL) == 0)
            pthread_join(t, NULL);
        else
            load_curl_thread(NULL);
    }
    if (curl_loaded.multi_init == NULL) {
        cerr_set(err, -ENOENT, 502, "%s", curl_load_error);
        return -ENOENT;
    }
    return 0;
}

/* The transport's new: NULL, with ERR set, when libcurl cannot be loaded
 * or initialised. */
static void *
ucurl_new(uv_loop_t *loop, const struct upstream_sink *sink, struct cerr *err)
{
    if (ucurl_load(err) != 0)
        return NULL;
    struct ucurl *c = xcalloc(1, sizeof *c);
    c->api = curl_loaded;
    c->loop = loop;
    c->sink = sink;
    c->multi = c->api.multi_init();
    if (c->multi == NULL) {
        cerr_set(err, -ENOMEM, 502, "cannot initialise libcurl");
        free(c);
        return NULL;
    }
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->deferred);
    c->timer.data = c->deferred.data = c;
    c->open_timers = 2;
    c->api.multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    c->api.multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    c->api.multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    c->api.multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    c->api.multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)UCURL_IDLE_CONNECTIONS);
    return c;
}

/* The transport's close: see struct upstream_transport. */
static void
ucurl_close(void *t)
{
    struct ucurl *c = t;
    c->closing = true;
    uv_timer_stop(&c->deferred);
    on_deferred(&c->deferred); /* the core let go of every request first */
    while (c->n_spare > 0)
        c->api.easy_cleanup(c->spare[--c->n_spare]);
    /* May still call the socket callback with REMOVE: polls close then. */
    c->api.multi_cleanup(c->multi);
    c->multi = NULL;
    for (size_t fd = 0; fd < c->ctx_cap; fd++)
        if (c->ctx_by_fd[fd] != NULL)
            ctx_forget(c->ctx_by_fd[fd]);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->deferred, on_timer_closed);
}

/* curl hands over each header line whole, with its CRLF. */
static size_t
on_header(char *buf, size_t size, size_t n, void *userdata)
{
    struct ucurl_xfer *xfer = userdata;
    struct upstream_head *head = &xfer->head;
    size_t len = size * n;
    if (xfer->req == NULL)
        return 0;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0)
        upstream_head_reset(head); /* a new response (after 100 Continue) */
    if (len > 9 && strncasecmp(buf, "Location:", 9) == 0) {
        head->location[0] = '\0';
        head->location_cut = false;
        upstream_head_add_location(head, buf + 9, len - 9);
    }
    if (len > 13 && strncasecmp(buf, "Content-Type:", 13) == 0) {
        head->content_type[0] = '\0';
        upstream_head_add_type(head, buf + 13, len - 13);
    }
    return len;
}

/* The final response's status, once curl has its head; a redirect's head
 * is not reported: finish() names it. */
static void
read_status(struct ucurl_xfer *xfer)
{
    long status = 0;
    xfer->c->api.easy_getinfo(xfer->easy, CURLINFO_RESPONSE_CODE, &status);
    xfer->head.status = (int)status;
    xfer->head_known = true;
    if (!upstream_is_redirect(xfer->head.status))
        xfer->c->sink->head(xfer->req, xfer->head.status, upstream_head_type(&xfer->head));
}

static size_t
on_write(char *data, size_t size, size_t n, void *userdata)
{
    struct ucurl_xfer *xfer = userdata;
    size_t len = size * n;
    if (xfer->req == NULL)
        return 0;
    if (!xfer->head_known)
        read_status(xfer);
    /* A redirect's body is not the answer: the transfer stops and
     * finish() names the redirect. */
    if (upstream_is_redirect(xfer->head.status))
        return 0;
    xfer->body_begun = true;
    switch (xfer->c->sink->data(xfer->req, data, len)) {
    case UPSTREAM_TAKEN:
        return len;
    case UPSTREAM_PAUSED:
        return CURL_WRITEFUNC_PAUSE; /* curl hands the bytes back after CONT */
    case UPSTREAM_CANCELLED:
        break;
    }
    return 0;
}

static enum upstream_failure
classify(const struct ucurl_xfer *xfer, CURLcode res)
{
    switch (res) {
    case CURLE_OK:
        return UPSTREAM_OK;
    case CURLE_COULDNT_CONNECT:
        return UPSTREAM_CONNECT_REFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return UPSTREAM_DNS;
    case CURLE_OPERATION_TIMEDOUT:
        return xfer->body_begun ? UPSTREAM_IDLE_TIMEOUT : UPSTREAM_CONNECT_TIMEOUT;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        return UPSTREAM_DROPPED;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
        return UPSTREAM_TLS;
    default:
        return UPSTREAM_OTHER;
    }
}

/* XFER's transfer ended with RES: tell its request, if it still has one. */
static void
finish(struct ucurl_xfer *xfer, CURLcode res)
{
    if (xfer->req == NULL)
        return; /* aborted inside a callback: on_deferred frees it */
    enum upstream_failure failure = classify(xfer, res);
    char why[CURL_ERROR_SIZE];
    snprintf(why, sizeof why, "%s",
             xfer->errbuf[0] ? xfer->errbuf : xfer->c->api.easy_strerror(res));
    if (!xfer->head_known)
        read_status(xfer);
    /* Whether its body was cut short (on_write) or there was none. */
    if (upstream_is_redirect(xfer->head.status)) {
        failure = UPSTREAM_OTHER;
        upstream_redirect_why(&xfer->head, why, sizeof why);
    }
    xfer_end(xfer, failure, why);
}

static void
drain(struct ucurl *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = c->api.multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* Copy out before finish() removes the handle and frees msg. */
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct ucurl_xfer *xfer = NULL;
        c->api.easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&xfer);
        if (xfer != NULL)
            finish(xfer, res);
    }
}

/* The transport's start: see struct upstream_transport.  The transfer
 * is added to curl from the loop, so nothing is reported from here but a
 * failure to make a handle. */
static void *
ucurl_start(void *t, struct upstream_req *req, const struct upstream_opts *opts)
{
    struct ucurl *c = t;
    CURL *e = c->n_spare > 0 ? c->spare[--c->n_spare] : c->api.easy_init();
    if (e == NULL) {
        c->sink->done(req, UPSTREAM_OTHER, "cannot create a curl handle");
        return NULL;
    }
    struct ucurl_xfer *xfer = xcalloc(1, sizeof *xfer);
    xfer->c = c;
    xfer->easy = e;
    xfer->req = req;
    const struct curl_api *api = &c->api;
    api->easy_setopt(e, CURLOPT_URL, opts->url);
    api->easy_setopt(e, CURLOPT_PRIVATE, xfer);
    api->easy_setopt(e, CURLOPT_ERRORBUFFER, xfer->errbuf);
    api->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    api->easy_setopt(e, CURLOPT_WRITEDATA, xfer);
    api->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    api->easy_setopt(e, CURLOPT_HEADERDATA, xfer);
    api->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    api->easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    api->easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    api->easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    api->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms);
    api->easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (opts->ca_file != NULL && *opts->ca_file != '\0')
        api->easy_setopt(e, CURLOPT_CAINFO, opts->ca_file);
    /* Model servers are usually on this machine; a proxy in the
     * environment must not capture loopback traffic. */
    api->easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    xfer->headers = api->slist_append(xfer->headers, "Expect:");
    xfer->headers = api->slist_append(
        xfer->headers, "Accept: application/json, text/event-stream, application/x-ndjson");
    if (opts->api_key != NULL && *opts->api_key != '\0') {
        char *auth = xasprintf("Authorization: Bearer %s", opts->api_key);
        xfer->headers = api->slist_append(xfer->headers, auth);
        free(auth);
    }
    if (opts->body != NULL) {
        xfer->headers = api->slist_append(xfer->headers, "Content-Type: application/json");
        api->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opts->body_len);
        api->easy_setopt(e, CURLOPT_COPYPOSTFIELDS, opts->body);
    }
    if (strcmp(opts->method, "GET") != 0 && opts->body == NULL)
        api->easy_setopt(e, CURLOPT_CUSTOMREQUEST, opts->method);
    api->easy_setopt(e, CURLOPT_HTTPHEADER, xfer->headers);
    /* Added from the loop, never here: a request may start from inside a
     * curl callback (a finished transfer frees a slot), and curl refuses
     * new handles there. */
    xfer->next = c->pending;
    c->pending = xfer;
    defer(c);
    return xfer;
}

static void
ucurl_abort(void *x)
{
    struct ucurl_xfer *xfer = x;
    struct ucurl *c = xfer->c;
    xfer->req = NULL;
    unlink_from(&c->pending, xfer);
    if (c->in_curl > 0) {
        /* Inside curl: the write callback now fails the transfer, and
         * the handle is removed from the loop, at once. */
        xfer->next = c->doomed;
        c->doomed = xfer;
        defer(c);
        return;
    }
    xfer_free(xfer);
}

static void
ucurl_resume(void *x)
{
    struct ucurl_xfer *xfer = x;
    struct ucurl *c = xfer->c;
    c->in_curl++;
    c->api.easy_pause(xfer->easy, CURLPAUSE_CONT);
    c->in_curl--;
}
