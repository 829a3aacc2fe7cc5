/*
 * http_server: HTTP/1.1 over libuv streams.  Owns listeners, connections,
 * the request being served on each, and every byte queued for writing.
 * Sole includer of http_parser.h.  Never blocks, never grows a buffer
 * without a bound: request heads, bodies, pipelined input and queued
 * output each have a ceiling, and a client over one is answered or closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <http_parser.h>

#include "careti/core/log.h"
#include "careti/core/sbuf.h"
#include "careti/core/text.h"
#include "careti/core/xmalloc.h"
#include "careti/http/http_server.h"
#include "careti/wire/chunked.h"

/* A request head larger than this is refused with 431. */
#define HTTP_MAX_HEAD_BYTES (32 * 1024)
#define HTTP_MAX_HEADERS 100
/* Pending connections the kernel queues: bursts of hundreds of clients
 * (an editor opening many streams) must not see "try again". */
#define HTTP_LISTEN_BACKLOG 511
/* Input read ahead of the request being served (pipelining); reading
 * pauses beyond it, so a client cannot queue unbounded requests. */
#define HTTP_MAX_PENDING_INPUT (64 * 1024)
#define HTTP_READ_CHUNK (64 * 1024)
/* Output queued for a slow reader: under HIGH the writer may keep going;
 * at LOW it is told to resume; a client with more than HARD still unread
 * when a write comes is dropped.  One write may exceed HARD: a large
 * answer to a client that reads is served whole. */
#define HTTP_WRITE_HIGH_WATER (1024 * 1024)
#define HTTP_WRITE_LOW_WATER (256 * 1024)
#define HTTP_WRITE_HARD_LIMIT (16 * 1024 * 1024)
/* Unread output of all clients together: past it, a whole answer larger
 * than HIGH is refused with 503, and a stream whose client has more than
 * HIGH unread is dropped, so many clients that do not read cannot make
 * the daemon hold a large answer once each. */
#define HTTP_WRITE_TOTAL_LIMIT (256 * 1024 * 1024)
/* A batch buffer up to this size is kept for the connection's next one;
 * a larger one (a big JSON answer) is freed, so idle keep-alive
 * connections hold little. */
#define HTTP_BATCH_KEEP (16 * 1024)
/* Requests a handler owns, by id: handlers that wait (for a catalogue, a
 * database) find theirs again on every request, with hundreds open. */
#define HTTP_ID_BUCKETS 256

enum conn_state {
    CONN_IDLE,    /* between requests */
    CONN_HEADERS, /* reading a request head */
    CONN_BODY,    /* reading a request body */
    CONN_ACTIVE,  /* a handler owns the request */
};

/* Where a header's name and value start in its request's HEAD_TEXT, which
 * holds them all as NUL-terminated strings: one buffer for the whole head
 * instead of two growing strings a header. */
struct header {
    size_t name;
    size_t value; /* HTTP_NO_VALUE until the value's first bytes */
};
#define HTTP_NO_VALUE SIZE_MAX

struct http_request {
    struct conn *conn;
    uint64_t id;
    char method[16];
    char *url;
    size_t url_len;
    char *path;
    char *query;
    struct header *headers;
    size_t n_headers, headers_cap;
    struct sbuf head_text;
    bool last_was_value;
    struct sbuf body;
    bool keep_alive;
    bool head_only;
    bool http10;
    bool started;
    bool chunked;
    bool body_begun; /* a streamed body's first bytes went out */
    bool dispatched;  /* listed in srv->dispatched, found by id */
    struct http_request *dispatched_next;
    http_abort_cb abort_cb;
    void *abort_arg;
    http_drain_cb drain_cb;
    void *drain_arg;
};

union stream_handle {
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
};

struct conn {
    union stream_handle h; /* first, so a handle pointer is the conn */
    uv_timer_t timer;
    int open_handles;
    struct http_server *srv;
    bool tcp;
    pid_t peer_pid; /* the Unix socket peer's, at connect; 0 over TCP */
    http_parser parser;
    enum conn_state state;
    struct http_request *req;
    size_t head_bytes;
    int reject_status; /* set by a parser callback that refuses the request */
    char reject_msg[256];
    bool message_complete;
    /* A chunked request body is decoded here, not by http-parser, which
     * lets a chunk's data go without its CRLF: the request's end would
     * then be where a smuggler wants it. */
    bool chunked_body;
    struct chunked chunks;
    char *input;
    size_t input_len;
    bool reading;
    bool in_dispatch;
    bool closing;
    /* Over the hard limit: writes are refused and the loop's next flush
     * pass closes it, never the writer's own call (its caller still holds
     * the request). */
    bool overflowed;
    bool close_when_flushed;
    bool lingering; /* refused a request: discard input until closed */
    uv_shutdown_t shutdown_req;
    size_t queued_bytes; /* in the batch and in writes libuv holds */
    size_t unsent_at_arm; /* conn_unsent when the timer was last set */
    /* Output of this loop turn, written as one batch before the loop next
     * waits: a stream relayed line by line then costs one write per
     * upstream read, not one per line. */
    struct sbuf batch;
    struct conn *batch_prev, *batch_next;
    bool in_batch_list;
    struct conn *prev, *next;
};

struct http_listener {
    union stream_handle h;
    struct http_server *srv;
    bool tcp;
    bool unlink_on_free;
    char *name;
    struct http_listener *next;
};

/* The part of a batch the socket did not take at once. */
struct write_req {
    uv_write_t w;
    struct conn *conn;
    size_t len;
    char *data;
};

struct http_server {
    uv_loop_t *loop;
    http_handler_cb handler;
    void *handler_arg;
    http_error_body_cb error_body;
    struct http_server_limits limits;
    char *tcp_token;
    char **allowed_hosts;
    size_t n_allowed_hosts;
    char **allowed_origins;
    size_t n_allowed_origins;
    struct http_listener *listeners;
    struct conn *conns;
    size_t n_conns;
    uint64_t next_request_id;
    struct http_request *dispatched[HTTP_ID_BUCKETS];
    uint64_t requests_served;
    bool draining;
    http_server_closed_cb closed_cb;
    void *closed_arg;
    char read_buf[HTTP_READ_CHUNK];
    bool read_buf_busy;
    /* Batches are written after the I/O callbacks (check) and after the
     * timers (prepare), so none waits for the next poll. */
    uv_prepare_t flush_before_poll;
    uv_check_t flush_after_poll;
    struct conn *batch_head, *batch_tail;
    size_t n_batched;
    /* Clients the last pass of flush_batches wrote to: more than one
     * means the loop is busy serving several at once. */
    size_t last_pass_clients;
    /* Refused connections are logged once a second with a count, so a
     * flood of them cannot flood the log. */
    size_t queued_total; /* the sum of every connection's queued_bytes */
    uint64_t refusal_logged_ms;
    unsigned long refusals_unlogged;
    uv_timer_t refusal_timer; /* tells the count at the second's end */
};

static void conn_close(struct conn *c);
static void conn_dequeued(struct conn *c, size_t n);
static bool conn_still_reading(struct conn *c);
static void conn_process(struct conn *c);
static void conn_send_error(struct conn *c, int status, const char *message);
static void on_conn_timer(uv_timer_t *t);
static void conn_start_reading(struct conn *c);
static void conn_linger(struct conn *c);
static void request_free(struct http_request *req);
static int on_body(http_parser *p, const char *at, size_t len);
static void listener_close(struct http_listener *l);
static void on_connection(uv_stream_t *server, int status);

static const http_parser_settings parser_settings;

struct http_server *
http_server_new(uv_loop_t *loop, http_handler_cb handler, void *arg,
                http_error_body_cb error_body)
{
    struct http_server *srv = xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->handler = handler;
    srv->handler_arg = arg;
    srv->error_body = error_body;
    srv->limits.max_body_bytes = 64u << 20;
    srv->limits.header_timeout_ms = 10000;
    srv->limits.idle_timeout_ms = 60000;
    srv->limits.max_connections = 1024;
    uv_prepare_init(loop, &srv->flush_before_poll);
    uv_check_init(loop, &srv->flush_after_poll);
    uv_timer_init(loop, &srv->refusal_timer);
    srv->refusal_timer.data = srv;
    uv_unref((uv_handle_t *)&srv->refusal_timer);
    srv->flush_before_poll.data = srv;
    srv->flush_after_poll.data = srv;
    return srv;
}

void
http_server_set_limits(struct http_server *srv, const struct http_server_limits *limits)
{
    srv->limits = *limits;
}

static void
strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **
strings_dup(char *const *v, size_t n)
{
    char **copy = xcalloc(n + 1, sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(v[i]);
    return copy;
}

void
http_server_set_tcp_policy(struct http_server *srv, const struct http_tcp_policy *policy)
{
    free(srv->tcp_token);
    strings_free(srv->allowed_hosts, srv->n_allowed_hosts);
    strings_free(srv->allowed_origins, srv->n_allowed_origins);
    const char *token = policy->token;
    srv->tcp_token = token != NULL && *token != '\0' ? xstrdup(token) : NULL;
    srv->allowed_hosts = strings_dup(policy->allowed_hosts, policy->n_allowed_hosts);
    srv->n_allowed_hosts = policy->n_allowed_hosts;
    srv->allowed_origins = strings_dup(policy->allowed_origins, policy->n_allowed_origins);
    srv->n_allowed_origins = policy->n_allowed_origins;
}

static struct http_listener *
listener_add(struct http_server *srv, bool tcp, const char *name)
{
    struct http_listener *l = xcalloc(1, sizeof *l);
    l->srv = srv;
    l->tcp = tcp;
    l->name = xstrdup(name);
    l->h.stream.data = l;
    /* Keep configured order, so status lists listeners as written. */
    struct http_listener **tail = &srv->listeners;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = l;
    return l;
}

static void
listener_unlink(struct http_server *srv, struct http_listener *l)
{
    for (struct http_listener **pp = &srv->listeners; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            return;
        }
    }
}

static void
on_listener_closed(uv_handle_t *h)
{
    struct http_listener *l = h->data;
    if (l->unlink_on_free)
        unlink(l->name);
    free(l->name);
    free(l);
}

static void
listener_close(struct http_listener *l)
{
    listener_unlink(l->srv, l);
    uv_close((uv_handle_t *)&l->h, on_listener_closed);
}

int
http_server_listen_unix(struct http_server *srv, const char *path, struct cerr *err)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return cerr_set(err, -EEXIST, 500,
                            "error binding %s (a file that is not a socket is in the way; "
                            "remove it or choose another --socket)",
                            path);
        unlink(path); /* stale: our caller holds the instance lock */
    }
    struct http_listener *l = listener_add(srv, false, path);
    int rc = uv_pipe_init(srv->loop, &l->h.pipe, 0);
    if (rc != 0) {
        listener_unlink(srv, l);
        free(l->name);
        free(l);
        return cerr_set(err, rc, 500, "error creating socket for %s (%s)", path,
                        uv_strerror(rc));
    }
    /* Bind under a tight umask so the socket is never briefly reachable
     * by others, as a chmod after bind would allow. */
    mode_t old = umask(0177);
    rc = uv_pipe_bind(&l->h.pipe, path);
    umask(old);
    if (rc == 0) {
        l->unlink_on_free = true;
        rc = uv_listen(&l->h.stream, HTTP_LISTEN_BACKLOG, on_connection);
    }
    if (rc != 0) {
        cerr_set(err, rc, 500, "error listening on %s (%s)", path, uv_strerror(rc));
        listener_close(l);
        return rc;
    }
    return 0;
}

int
http_server_adopt_unix(struct http_server *srv, int fd, const char *path, struct cerr *err)
{
    struct http_listener *l = listener_add(srv, false, path);
    int rc = uv_pipe_init(srv->loop, &l->h.pipe, 0);
    if (rc == 0)
        rc = uv_pipe_open(&l->h.pipe, fd);
    if (rc == 0)
        rc = uv_listen(&l->h.stream, HTTP_LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        cerr_set(err, rc, 500, "error using the inherited socket %s (%s)", path,
                 uv_strerror(rc));
        listener_close(l);
        return rc;
    }
    return 0;
}

int
http_server_listen_tcp(struct http_server *srv, const char *host, int port,
                       struct http_listener **out, struct cerr *err)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } addr;
    const char *numeric = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (uv_ip4_addr(numeric, port, &addr.in4) != 0 && uv_ip6_addr(numeric, port, &addr.in6) != 0)
        return cerr_set(err, -EINVAL, 500, "error listening on %s:%d (not a numeric address)",
                        host, port);
    struct http_listener *l = listener_add(srv, true, host);
    int rc = uv_tcp_init(srv->loop, &l->h.tcp);
    if (rc != 0) {
        listener_unlink(srv, l);
        free(l->name);
        free(l);
        return cerr_set(err, rc, 500, "error creating TCP socket (%s)", uv_strerror(rc));
    }
    rc = uv_tcp_bind(&l->h.tcp, &addr.sa, 0);
    if (rc == 0)
        rc = uv_listen(&l->h.stream, HTTP_LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        cerr_set(err, rc, 500, "error listening on %s:%d (%s)", host, port, uv_strerror(rc));
        listener_close(l);
        return rc;
    }
    int len = sizeof addr;
    char ip[64];
    uv_tcp_getsockname(&l->h.tcp, &addr.sa, &len);
    free(l->name);
    if (addr.sa.sa_family == AF_INET6) {
        uv_ip6_name(&addr.in6, ip, sizeof ip);
        l->name = xasprintf("[%s]:%d", ip, ntohs(addr.in6.sin6_port));
    } else {
        uv_ip4_name(&addr.in4, ip, sizeof ip);
        l->name = xasprintf("%s:%d", ip, ntohs(addr.in4.sin_port));
    }
    if (out != NULL)
        *out = l;
    return 0;
}

void
http_server_close_listener(struct http_listener *l)
{
    if (l != NULL)
        listener_close(l);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    /* One shared buffer suffices: libuv hands it back in the read
     * callback before asking again, and we copy out of it there. */
    if (c->srv->read_buf_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    c->srv->read_buf_busy = true;
    buf->base = c->srv->read_buf;
    buf->len = sizeof c->srv->read_buf;
}

static void
on_conn_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->lingering) {
        conn_close(c);
        return;
    }
    switch (c->state) {
    case CONN_IDLE:
        if (conn_still_reading(c))
            return;
        log_debug("closing idle connection");
        conn_close(c);
        return;
    case CONN_HEADERS:
        log_info("dropping a client that did not send its request head within %llu ms",
                 (unsigned long long)c->srv->limits.header_timeout_ms);
        conn_send_error(c, 408, "request head not received in time; send the whole request "
                                "head at once");
        return;
    case CONN_BODY:
        log_info("dropping a client whose request body stalled");
        conn_send_error(c, 408, "request body stalled; send the body without pauses");
        return;
    case CONN_ACTIVE:
        /* Answered, closing once written, and the client stopped taking it. */
        if (c->req == NULL && c->close_when_flushed && !conn_still_reading(c)) {
            log_debug("closing a client that stopped reading its last answer");
            conn_close(c);
        }
        return;
    }
}

/* Bytes of answers the client has not taken yet: in the batch and in
 * libuv's write queue, which shrinks as the socket takes them. */
static size_t
conn_unsent(struct conn *c)
{
    return c->batch.len + uv_stream_get_write_queue_size(&c->h.stream);
}

static void
conn_set_timeout(struct conn *c, uint64_t ms)
{
    c->unsent_at_arm = conn_unsent(c);
    uv_timer_stop(&c->timer);
    if (ms > 0)
        uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

/* The idle timer fired while answers were still going out: a client
 * that took some since the timer was set is reading, only slowly, and
 * gets another period. */
static bool
conn_still_reading(struct conn *c)
{
    size_t unsent = conn_unsent(c);
    if (unsent == 0 || unsent >= c->unsent_at_arm)
        return false;
    conn_set_timeout(c, c->srv->limits.idle_timeout_ms);
    return true;
}

static void
conn_enter_idle(struct conn *c)
{
    c->state = CONN_IDLE;
    conn_set_timeout(c, c->srv->limits.idle_timeout_ms);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (buf->base == c->srv->read_buf)
        c->srv->read_buf_busy = false;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* EOF or error: a client that half-closes after sending a request
         * still gets its answer only if it waits; most don't, and an
         * in-flight upstream must stop as soon as they go. */
        conn_close(c);
        return;
    }
    if (c->lingering)
        return;
    c->input = xrealloc(c->input, c->input_len + (size_t)nread);
    memcpy(c->input + c->input_len, buf->base, (size_t)nread);
    c->input_len += (size_t)nread;
    /* Whatever the state: a client whose answers wait for it to read must
     * not be able to queue requests without bound meanwhile. */
    if (c->input_len >= HTTP_MAX_PENDING_INPUT && c->reading) {
        uv_read_stop(s);
        c->reading = false;
    }
    conn_process(c);
}

static void
conn_start_reading(struct conn *c)
{
    if (c->reading || c->closing)
        return;
    if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
        c->reading = true;
}

static void
on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (c->queued_bytes > 0)
        conn_dequeued(c, c->queued_bytes); /* the batch that never went */
    free(c->input);
    sbuf_free(&c->batch);
    free(c);
}

/* Draining is over: no connection is left to write, so the flushers go. */
static void
server_drained(struct http_server *srv)
{
    if (!uv_is_closing((uv_handle_t *)&srv->flush_before_poll)) {
        uv_close((uv_handle_t *)&srv->flush_before_poll, NULL);
        uv_close((uv_handle_t *)&srv->flush_after_poll, NULL);
        uv_close((uv_handle_t *)&srv->refusal_timer, NULL);
    }
    if (srv->closed_cb != NULL) {
        http_server_closed_cb cb = srv->closed_cb;
        srv->closed_cb = NULL;
        cb(srv, srv->closed_arg);
    }
}

static void
batch_unlink(struct conn *c)
{
    struct http_server *srv = c->srv;
    if (!c->in_batch_list)
        return;
    c->in_batch_list = false;
    if (c->batch_prev != NULL)
        c->batch_prev->batch_next = c->batch_next;
    else
        srv->batch_head = c->batch_next;
    if (c->batch_next != NULL)
        c->batch_next->batch_prev = c->batch_prev;
    else
        srv->batch_tail = c->batch_prev;
    c->batch_prev = c->batch_next = NULL;
    srv->n_batched--;
}

static void
conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct http_server *srv = c->srv;
    if (c->req != NULL) {
        struct http_request *req = c->req;
        c->req = NULL;
        if (req->abort_cb != NULL && c->state == CONN_ACTIVE)
            req->abort_cb(req, req->abort_arg);
        request_free(req);
    }
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->n_conns--;
    /* The last answer of a connection closed at once (a drain, a client
     * that stops reading) gets the one try its write would have had. */
    if (c->batch.len > 0) {
        uv_buf_t buf = uv_buf_init(c->batch.s, (unsigned)c->batch.len);
        (void)uv_try_write(&c->h.stream, &buf, 1);
    }
    batch_unlink(c);
    sbuf_free(&c->batch);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->h, on_conn_handle_closed);
    if (srv->draining && srv->n_conns == 0)
        server_drained(srv);
}

/* N of C's queued bytes left its queue, written or dropped. */
static void
conn_dequeued(struct conn *c, size_t n)
{
    c->queued_bytes -= n;
    c->srv->queued_total -= n;
}

/* N queued bytes reached the socket. */
static void
conn_wrote(struct conn *c, size_t n)
{
    size_t before = c->queued_bytes;
    conn_dequeued(c, n);
    if (c->closing)
        return;
    if (c->close_when_flushed && c->queued_bytes == 0) {
        if (c->lingering)
            conn_linger(c);
        else
            conn_close(c);
        return;
    }
    if (before < HTTP_WRITE_LOW_WATER || c->queued_bytes >= HTTP_WRITE_LOW_WATER)
        return;
    if (c->req != NULL && c->req->drain_cb != NULL) {
        http_drain_cb cb = c->req->drain_cb;
        c->req->drain_cb = NULL;
        cb(c->req, c->req->drain_arg);
    } else if (c->state != CONN_ACTIVE) {
        conn_process(c);
    }
}

static void
on_write_done(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct conn *c = wr->conn;
    size_t len = wr->len;
    free(wr->data);
    free(wr);
    if (status < 0) {
        conn_dequeued(c, len);
        if (!c->closing) {
            log_debug("write to client failed (%s)", uv_strerror(status));
            conn_close(c);
        }
        return;
    }
    conn_wrote(c, len);
}

/* Hand C's batch to the socket: what it does not take at once is queued
 * with libuv, which keeps the order with earlier queued writes.  Sets
 * *WRITTEN to what the socket took now; the caller accounts for it.  On
 * an error the batch stays and the error is returned: closing runs the
 * request's abort callback, which only the loop may do. */
static int
conn_flush(struct conn *c, size_t *written)
{
    size_t len = c->batch.len;
    *written = 0;
    if (len == 0 || c->closing)
        return 0;
    uv_buf_t buf = uv_buf_init(c->batch.s, (unsigned)len);
    int n = uv_try_write(&c->h.stream, &buf, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        return n;
    size_t done = (size_t)n;
    if (done < len) {
        struct write_req *wr = xmalloc(sizeof *wr);
        wr->conn = c;
        wr->len = len - done;
        memmove(c->batch.s, c->batch.s + done, wr->len);
        wr->data = c->batch.s;
        c->batch = (struct sbuf){0};
        buf = uv_buf_init(wr->data, (unsigned)wr->len);
        int rc = uv_write(&wr->w, &c->h.stream, &buf, 1, on_write_done);
        if (rc != 0) {
            /* Only when the stream is not writable: the bytes are moot. */
            free(wr->data);
            free(wr);
            return rc;
        }
    } else if (c->batch.cap > HTTP_BATCH_KEEP) {
        sbuf_free(&c->batch); /* an idle connection keeps no large buffer */
    } else {
        sbuf_reset(&c->batch);
    }
    *written = done;
    return 0;
}

/* Write the batches queued so far.  Those queued while this runs (a
 * drained writer resuming) wait for the next phase, so a fast client
 * cannot keep the loop here. */
static void
flush_batches(struct http_server *srv)
{
    srv->last_pass_clients = srv->n_batched;
    for (size_t n = srv->n_batched; n > 0 && srv->batch_head != NULL; n--) {
        struct conn *c = srv->batch_head;
        batch_unlink(c);
        if (c->overflowed) {
            conn_close(c);
            continue;
        }
        size_t written;
        int rc = conn_flush(c, &written);
        if (rc < 0) {
            log_debug("write to client failed (%s)", uv_strerror(rc));
            conn_close(c);
        } else if (written > 0) {
            conn_wrote(c, written);
        }
    }
    if (srv->batch_head == NULL) {
        uv_prepare_stop(&srv->flush_before_poll);
        uv_check_stop(&srv->flush_after_poll);
    }
}

static void
on_flush_before_poll(uv_prepare_t *h)
{
    flush_batches(h->data);
}

static void
on_flush_after_poll(uv_check_t *h)
{
    flush_batches(h->data);
}

static void
batch_link(struct conn *c)
{
    struct http_server *srv = c->srv;
    if (c->in_batch_list)
        return;
    c->in_batch_list = true;
    c->batch_next = NULL;
    c->batch_prev = srv->batch_tail;
    if (srv->batch_tail != NULL)
        srv->batch_tail->batch_next = c;
    else
        srv->batch_head = c;
    srv->batch_tail = c;
    if (srv->n_batched++ == 0) {
        uv_prepare_start(&srv->flush_before_poll, on_flush_before_poll);
        uv_check_start(&srv->flush_after_poll, on_flush_after_poll);
    }
}

static void
on_shutdown(uv_shutdown_t *sr, int status)
{
    (void)sr;
    (void)status;
}

/* The refusal is written; close our side for writing and drain what the
 * client is still sending for a moment.  Closing at once with unread
 * input makes TCP reset the connection, and the client would lose the
 * answer that says why. */
static void
conn_linger(struct conn *c)
{
    if (uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    conn_start_reading(c);
    uv_timer_start(&c->timer, on_conn_timer, 2000, 0);
}

/* Add up to three buffers to C's batch.  Returns 0, or UV_ENOBUFS when
 * the client is over the hard limit (then closed by the next flush pass,
 * so the caller's request stays valid until it returns). */
static int
conn_write3(struct conn *c, const void *a, size_t alen, const void *b, size_t blen,
            const void *d, size_t dlen)
{
    if (c->closing)
        return UV_EPIPE;
    if (c->overflowed)
        return UV_ENOBUFS;
    size_t len = alen + blen + dlen;
    if (c->queued_bytes > HTTP_WRITE_HARD_LIMIT ||
        (c->srv->queued_total > HTTP_WRITE_TOTAL_LIMIT && c->queued_bytes > HTTP_WRITE_HIGH_WATER)) {
        log_warn("closing a client that stopped reading (%zu bytes queued, %zu for all clients)",
                 c->queued_bytes, c->srv->queued_total);
        c->overflowed = true;
        batch_link(c);
        return UV_ENOBUFS;
    }
    sbuf_add(&c->batch, a, alen);
    sbuf_add(&c->batch, b, blen);
    sbuf_add(&c->batch, d, dlen);
    c->queued_bytes += len;
    c->srv->queued_total += len;
    batch_link(c);
    return 0;
}

/* Answer a request the server itself refuses, then close: after a
 * framing error or an unread body the byte stream cannot be trusted. */
static void
conn_send_error(struct conn *c, int status, const char *message)
{
    if (c->closing)
        return;
    const char *path = c->req != NULL && c->req->path != NULL ? c->req->path : "";
    json_t *body = c->srv->error_body(path, status, message);
    struct sbuf text = {0};
    /* NULL when a string in it was not UTF-8: a client's bytes must never
     * take the server down, so a plain body goes out instead. */
    if (body != NULL)
        sbuf_add_json(&text, body);
    else
        sbuf_adds(&text, "{\"error\":\"bad request\"}");
    json_decref(body);
    size_t tlen = text.len;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     status, http_status_text(status), tlen + 1,
                     status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
    uv_timer_stop(&c->timer);
    if (c->req != NULL) {
        request_free(c->req);
        c->req = NULL;
    }
    c->state = CONN_IDLE;
    c->close_when_flushed = true;
    /* From now on input is discarded, so the rest of an oversized body
     * is never buffered. */
    c->lingering = true;
    c->input_len = 0;
    if (conn_write3(c, head, (size_t)n, text.s, tlen, "\n", 1) == 0 && c->queued_bytes == 0)
        conn_close(c);
    sbuf_free(&text);
}

static void
request_free(struct http_request *req)
{
    if (req == NULL)
        return;
    if (req->dispatched) {
        struct http_request **p = &req->conn->srv->dispatched[req->id % HTTP_ID_BUCKETS];
        while (*p != req)
            p = &(*p)->dispatched_next;
        *p = req->dispatched_next;
    }
    free(req->headers);
    sbuf_free(&req->head_text);
    free(req->url);
    free(req->path);
    free(req->query);
    sbuf_free(&req->body);
    free(req);
}

static struct conn *
parser_conn(http_parser *p)
{
    return p->data;
}

/* Refuse the request being parsed; the parser is paused and the refusal
 * is sent once http_parser_execute returns. */
static int
parser_reject(struct conn *c, int status, const char *msg)
{
    c->reject_status = status;
    snprintf(c->reject_msg, sizeof c->reject_msg, "%s", msg);
    http_parser_pause(&c->parser, 1);
    return 0;
}

static int
on_message_begin(http_parser *p)
{
    struct conn *c = parser_conn(p);
    request_free(c->req);
    c->req = xcalloc(1, sizeof *c->req);
    c->req->conn = c;
    c->req->id = ++c->srv->next_request_id;
    c->head_bytes = 0;
    c->state = CONN_HEADERS;
    conn_set_timeout(c, c->srv->limits.header_timeout_ms);
    return 0;
}

static bool
head_grow(struct conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes <= HTTP_MAX_HEAD_BYTES)
        return true;
    parser_reject(c, 431, "request head too large (limit 32 KiB); send fewer or shorter headers");
    return false;
}

static void
append(char **s, size_t *len, const char *data, size_t n)
{
    *s = xrealloc(*s, *len + n + 1);
    memcpy(*s + *len, data, n);
    *len += n;
    (*s)[*len] = '\0';
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = parser_conn(p);
    if (!head_grow(c, len))
        return 0;
    append(&c->req->url, &c->req->url_len, at, len);
    return 0;
}

/* Start a new string in REQ's head text; returns where it starts. */
static size_t
head_text_begin(struct http_request *req)
{
    size_t at = req->head_text.len;
    sbuf_add(&req->head_text, "", 1);
    return at;
}

/* Add bytes to the last string of REQ's head text: the parser may hand a
 * name or value over in pieces. */
static void
head_text_extend(struct http_request *req, const char *at, size_t len)
{
    req->head_text.len--; /* its NUL moves to the new end */
    sbuf_add(&req->head_text, at, len);
    sbuf_add(&req->head_text, "", 1);
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = parser_conn(p);
    struct http_request *req = c->req;
    if (!head_grow(c, len))
        return 0;
    if (req->n_headers == 0 || req->last_was_value) {
        if (req->n_headers == HTTP_MAX_HEADERS)
            return parser_reject(c, 431, "too many request headers (limit 100)");
        if (req->n_headers == req->headers_cap) {
            req->headers_cap = req->headers_cap ? req->headers_cap * 2 : 16;
            req->headers = xrealloc(req->headers, req->headers_cap * sizeof *req->headers);
        }
        req->headers[req->n_headers++] =
            (struct header){.name = head_text_begin(req), .value = HTTP_NO_VALUE};
        req->last_was_value = false;
    }
    head_text_extend(req, at, len);
    return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = parser_conn(p);
    struct http_request *req = c->req;
    if (!head_grow(c, len))
        return 0;
    if (req->n_headers == 0)
        return parser_reject(c, 400, "header value without a name");
    struct header *h = &req->headers[req->n_headers - 1];
    if (h->value == HTTP_NO_VALUE)
        h->value = head_text_begin(req);
    head_text_extend(req, at, len);
    req->last_was_value = true;
    return 0;
}

static bool
token_equal(const char *a, const char *b)
{
    return a != NULL && strcasecmp(a, b) == 0;
}

static bool
tcp_authorized(struct conn *c)
{
    if (!c->tcp || c->srv->tcp_token == NULL)
        return true;
    const char *auth = http_request_header(c->req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    const char *want = c->srv->tcp_token;
    size_t gl = strlen(given), wl = strlen(want);
    /* Compare in constant time for the token's length, so response
     * timing does not reveal how much of a guess was right. */
    unsigned char diff = gl != wl;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static bool
in_list(char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncasecmp(list[i], s, len) == 0)
            return true;
    return false;
}

/* A Host a web page cannot make a browser send to us through DNS
 * rebinding: an IP literal (no DNS involved), localhost and its
 * subdomains (browsers resolve those to loopback themselves), or a name
 * the configuration allows.  HOST is "name[:port]". */
/* ":port" with 1 to 5 digits up to 65535, or nothing. */
static bool
port_suffix_ok(const char *p)
{
    if (*p == '\0')
        return true;
    size_t digits = strlen(p + 1);
    if (*p != ':' || digits == 0 || digits > 5 || strspn(p + 1, "0123456789") != digits)
        return false;
    return strtol(p + 1, NULL, 10) <= 65535;
}

static bool
host_allowed(const struct http_server *srv, const char *host)
{
    size_t len;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (end == NULL)
            return false;
        char v6[64];
        size_t n = (size_t)(end - host - 1);
        if (n >= sizeof v6)
            return false;
        memcpy(v6, host + 1, n);
        v6[n] = '\0';
        unsigned char addr[16];
        return inet_pton(AF_INET6, v6, addr) == 1 && port_suffix_ok(end + 1);
    }
    const char *colon = strchr(host, ':');
    len = colon != NULL ? (size_t)(colon - host) : strlen(host);
    if (!port_suffix_ok(host + len))
        return false;
    char name[256];
    if (len == 0 || len >= sizeof name)
        return false;
    memcpy(name, host, len);
    name[len] = '\0';
    unsigned char addr[4];
    if (inet_pton(AF_INET, name, addr) == 1)
        return true;
    if (strcasecmp(name, "localhost") == 0 ||
        (len > 10 && strcasecmp(name + len - 10, ".localhost") == 0))
        return true;
    return in_list(srv->allowed_hosts, srv->n_allowed_hosts, name, len);
}

/* Browsers say where a request comes from: Origin on every cross-origin
 * request and on every POST, Sec-Fetch-Site on everything.  A request
 * that a page made is refused unless its origin is allowed; one a
 * program made carries neither header. */
static const char *
browser_refusal(const struct http_server *srv, const struct http_request *req, char *msg,
                size_t cap)
{
    const char *origin = http_request_header(req, "Origin");
    if (origin != NULL) {
        if (in_list(srv->allowed_origins, srv->n_allowed_origins, origin, strlen(origin)))
            return NULL;
        snprintf(msg, cap,
                 "cross-origin request from %.80s refused: web pages may not call caretid "
                 "(add the origin to daemon.allowed_origins to trust it)",
                 origin);
        return msg;
    }
    const char *site = http_request_header(req, "Sec-Fetch-Site");
    if (site != NULL && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0) {
        snprintf(msg, cap, "request from a %.20s web page refused: web pages may not call caretid",
                 site);
        return msg;
    }
    return NULL;
}

/* The TCP listener's checks, in the order that tells a browser least:
 * its Host, its origin, then the token.  False when refused (the
 * refusal is set with parser_reject). */
static bool
tcp_admitted(struct conn *c, const http_parser *p)
{
    struct http_request *req = c->req;
    const char *host = http_request_header(req, "Host");
    char msg[256];
    size_t hosts = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        hosts += strcasecmp(req->head_text.s + req->headers[i].name, "Host") == 0;
    if (hosts > 1) {
        parser_reject(c, 400, "more than one Host header");
        return false;
    }
    if (host == NULL) {
        if (p->http_major == 1 && p->http_minor >= 1) {
            parser_reject(c, 400, "missing Host header (HTTP/1.1 requires one)");
            return false;
        }
    } else if (!host_allowed(c->srv, host)) {
        snprintf(msg, sizeof msg,
                 "Host \"%.80s\" refused: over TCP caretid answers requests for localhost or "
                 "an IP address (add the name to daemon.allowed_hosts to use it)",
                 host);
        parser_reject(c, 403, msg);
        return false;
    }
    if (browser_refusal(c->srv, req, msg, sizeof msg) != NULL) {
        parser_reject(c, 403, msg);
        return false;
    }
    if (!tcp_authorized(c)) {
        parser_reject(c, 401,
                      "missing or wrong bearer token; send Authorization: Bearer <token> "
                      "(caretictl status shows it)");
        return false;
    }
    return true;
}

/* RFC 9112 refuses what http-parser lets through by default: a header
 * name with white space or other non-token bytes ("Transfer-Encoding :"
 * would otherwise be a different header, and the body read another way
 * by a proxy in front), and transfer codings other than a lone chunked.
 * False when refused (set with parser_reject). */
static bool
framing_acceptable(struct conn *c)
{
    struct http_request *req = c->req;
    int chunked = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->head_text.s + req->headers[i].name;
        for (const char *n = name; *n != '\0'; n++) {
            if (!text_is_tchar((unsigned char)*n)) {
                char msg[160];
                snprintf(msg, sizeof msg, "invalid character 0x%02x in header name \"%.60s\"",
                         (unsigned)(unsigned char)*n, name);
                parser_reject(c, 400, msg);
                return false;
            }
        }
        if (strcasecmp(name, "Transfer-Encoding") != 0 || req->headers[i].value == HTTP_NO_VALUE)
            continue;
        const char *v = req->head_text.s + req->headers[i].value;
        while (*v != '\0') {
            v += strspn(v, " \t,");
            size_t len = strcspn(v, " \t,;");
            if (len == 0)
                break;
            if (len == 7 && strncasecmp(v, "chunked", 7) == 0) {
                chunked++;
            } else {
                char msg[160];
                snprintf(msg, sizeof msg,
                         "transfer coding \"%.*s\" is not supported; send the body as it is, "
                         "with Content-Length or Transfer-Encoding: chunked",
                         (int)(len > 40 ? 40 : len), v);
                parser_reject(c, 501, msg);
                return false;
            }
            v += len;
            v += strcspn(v, ","); /* parameters */
        }
    }
    if (chunked > 1) {
        parser_reject(c, 400, "Transfer-Encoding names chunked more than once");
        return false;
    }
    return true;
}

static int
on_headers_complete(http_parser *p)
{
    struct conn *c = parser_conn(p);
    struct http_request *req = c->req;
    text_copy(req->method, sizeof req->method, http_method_str(p->method));
    if (req->url == NULL || req->url[0] != '/')
        return parser_reject(c, 400, "request target must be an absolute path such as /v1/models");
    char *q = strchr(req->url, '?');
    req->path = q ? xstrndup(req->url, (size_t)(q - req->url)) : xstrdup(req->url);
    req->query = xstrdup(q ? q + 1 : "");
    req->keep_alive = http_should_keep_alive(p) != 0;
    req->http10 = p->http_major == 1 && p->http_minor == 0;
    req->head_only = p->method == HTTP_HEAD;
    if (!framing_acceptable(c) || (c->tcp && !tcp_admitted(c, p)))
        return 0;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->limits.max_body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "request body of %llu bytes is over the limit of %llu bytes "
                 "(daemon.max_body_bytes)",
                 (unsigned long long)p->content_length,
                 (unsigned long long)c->srv->limits.max_body_bytes);
        return parser_reject(c, 413, msg);
    }
    if (token_equal(http_request_header(req, "Expect"), "100-continue"))
        conn_write3(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL, 0, NULL, 0);
    c->state = CONN_BODY;
    conn_set_timeout(c, c->srv->limits.idle_timeout_ms);
    if (p->flags & F_CHUNKED) {
        /* http-parser ends the message here (1: no body); conn_process
         * reads the chunks. */
        c->chunked_body = true;
        chunked_init(&c->chunks);
        return 1;
    }
    return 0;
}

/* Body bytes of a chunked request, from chunked_decode. */
static int
on_chunk_piece(void *arg, const char *at, size_t len)
{
    struct conn *c = arg;
    return on_body(&c->parser, at, len) != 0 || c->reject_status != 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = parser_conn(p);
    struct http_request *req = c->req;
    if (req->body.len + len > c->srv->limits.max_body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "request body is over the limit of %llu bytes (daemon.max_body_bytes)",
                 (unsigned long long)c->srv->limits.max_body_bytes);
        return parser_reject(c, 413, msg);
    }
    sbuf_add(&req->body, at, len);
    /* The body may take as long as it likes while bytes keep coming. */
    conn_set_timeout(c, c->srv->limits.idle_timeout_ms);
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct conn *c = parser_conn(p);
    c->message_complete = !c->chunked_body;
    /* Pause so one request is served at a time; the rest of the input
     * waits in c->input until the response ends. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void
conn_dispatch(struct conn *c)
{
    struct http_request *req = c->req;
    c->state = CONN_ACTIVE;
    uv_timer_stop(&c->timer);
    sbuf_add(&req->body, "", 0); /* handlers always get a string */
    struct http_request **bucket = &c->srv->dispatched[req->id % HTTP_ID_BUCKETS];
    req->dispatched_next = *bucket;
    *bucket = req;
    req->dispatched = true;
    c->in_dispatch = true;
    c->srv->handler(req, c->srv->handler_arg);
    c->in_dispatch = false;
}

/* Decode buffered input as the current request's chunked body, and
 * dispatch the request once it is whole.  False when the connection was
 * refused (413, or 400 naming what is wrong with the framing). */
static bool
conn_read_chunks(struct conn *c)
{
    size_t used;
    enum chunked_status st =
        chunked_decode(&c->chunks, c->input, c->input_len, &used, on_chunk_piece, c);
    memmove(c->input, c->input + used, c->input_len - used);
    c->input_len -= used;
    switch (st) {
    case CHUNKED_MORE:
        return true;
    case CHUNKED_STOPPED:
        c->chunked_body = false;
        conn_send_error(c, c->reject_status, c->reject_msg);
        return false;
    case CHUNKED_ERROR: {
        char msg[160];
        snprintf(msg, sizeof msg, "malformed chunked request body (%s)", chunked_error(&c->chunks));
        c->chunked_body = false;
        conn_send_error(c, 400, msg);
        return false;
    }
    case CHUNKED_DONE:
        c->chunked_body = false;
        conn_dispatch(c);
        return true;
    }
    return true;
}

/* Feed buffered input to the parser and serve complete requests, one at
 * a time, until input runs out, a handler keeps its request pending, or
 * the client has a megabyte of answers unread: pipelined requests wait
 * for it to read (conn_wrote resumes them), so their answers never pile
 * up past the slow-reader limit. */
static void
conn_process(struct conn *c)
{
    while (!c->closing && !c->overflowed && c->state != CONN_ACTIVE && !c->in_dispatch &&
           c->input_len > 0 && c->queued_bytes < HTTP_WRITE_HIGH_WATER) {
        if (c->chunked_body) {
            if (!conn_read_chunks(c))
                return;
            continue;
        }
        size_t n = http_parser_execute(&c->parser, &parser_settings, c->input, c->input_len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        memmove(c->input, c->input + n, c->input_len - n);
        c->input_len -= n;
        if (c->reject_status != 0) {
            conn_send_error(c, c->reject_status, c->reject_msg);
            return;
        }
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            char msg[200];
            snprintf(msg, sizeof msg, "malformed HTTP request (%s)", http_errno_description(e));
            conn_send_error(c, e == HPE_HEADER_OVERFLOW ? 431 : 400, msg);
            return;
        } else if (n == 0) {
            break;
        }
        if (c->message_complete) {
            c->message_complete = false;
            conn_dispatch(c);
        }
    }
    if (!c->closing && !c->overflowed && c->input_len < HTTP_MAX_PENDING_INPUT)
        conn_start_reading(c);
}

/* C's stream is open: give it its timer and parser and count it. */
static void
conn_attach(struct http_server *srv, struct conn *c, bool tcp)
{
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->srv = srv;
    c->tcp = tcp;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
}

static void
on_refusal_timer(uv_timer_t *t)
{
    struct http_server *srv = t->data;
    if (srv->refusals_unlogged > 0)
        log_warn("%lu more connections refused in the last second, for the same reasons",
                 srv->refusals_unlogged);
    srv->refusals_unlogged = 0;
}

/* Log a refused connection, unless one was logged less than a second
 * ago: then it is counted, and the count is logged when the second ends,
 * so a flood of refusals cannot flood the log. */
static void
log_refusal(struct http_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
log_refusal(struct http_server *srv, const char *fmt, ...)
{
    uint64_t now = uv_now(srv->loop);
    if (srv->refusal_logged_ms != 0 && now - srv->refusal_logged_ms < 1000) {
        if (srv->refusals_unlogged++ == 0)
            uv_timer_start(&srv->refusal_timer, on_refusal_timer,
                           1000 - (now - srv->refusal_logged_ms), 0);
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("%s", msg);
    srv->refusal_logged_ms = now;
}

static void
accept_one(struct http_listener *l)
{
    struct http_server *srv = l->srv;
    struct conn *c = xcalloc(1, sizeof *c);
    int rc = l->tcp ? uv_tcp_init(srv->loop, &c->h.tcp) : uv_pipe_init(srv->loop, &c->h.pipe, 0);
    if (rc != 0) {
        log_warn("cannot accept a connection (%s)", uv_strerror(rc));
        free(c);
        return;
    }
    c->h.stream.data = c;
    c->open_handles = 1;
    rc = uv_accept(&l->h.stream, &c->h.stream);
    if (rc != 0) {
        /* EMFILE and friends: libuv keeps a spare fd to shed the client;
         * the daemon stays up and says why. */
        log_refusal(srv, "error accepting a connection on %s (%s)", l->name, uv_strerror(rc));
        uv_close((uv_handle_t *)&c->h, on_conn_handle_closed);
        return;
    }
    conn_attach(srv, c, l->tcp);
    if (l->tcp) {
        /* Stream chunks are small and must go out as they come. */
        uv_tcp_nodelay(&c->h.tcp, 1);
    } else {
        uv_os_fd_t fd;
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (uv_fileno((uv_handle_t *)&c->h, &fd) == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            c->peer_pid = cred.pid;
        if (c->peer_pid != 0 && cred.uid != geteuid()) {
            log_refusal(srv, "refused a connection from uid %u on %s (only uid %u may connect)",
                        (unsigned)cred.uid, l->name, (unsigned)geteuid());
            conn_send_error(c, 403, "this daemon serves only its own user; run your own caretid");
            return;
        }
    }
    if (srv->n_conns > srv->limits.max_connections) {
        log_refusal(srv, "too many connections (%zu); refusing one (daemon.max_connections)",
                    srv->n_conns - 1);
        conn_send_error(c, 503, "too many open connections; retry shortly");
        return;
    }
    conn_enter_idle(c);
    conn_start_reading(c);
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct http_listener *l = server->data;
    if (status < 0) {
        log_warn("error on listener %s (%s)", l->name, uv_strerror(status));
        return;
    }
    if (l->srv->draining)
        return;
    accept_one(l);
}

int
http_server_serve_fd(struct http_server *srv, int fd)
{
    struct conn *c = xcalloc(1, sizeof *c);
    int rc = uv_pipe_init(srv->loop, &c->h.pipe, 0);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->h.stream.data = c;
    c->open_handles = 1;
    rc = uv_pipe_open(&c->h.pipe, fd);
    if (rc != 0) {
        uv_close((uv_handle_t *)&c->h, on_conn_handle_closed);
        return rc;
    }
    conn_attach(srv, c, false);
    conn_enter_idle(c);
    conn_start_reading(c);
    return 0;
}

/* The response for the current request is complete: keep the connection
 * for the next request, or close it once written. */
static void
request_finish(struct http_request *req)
{
    struct conn *c = req->conn;
    bool keep = req->keep_alive && !c->srv->draining;
    c->req = NULL;
    request_free(req);
    c->srv->requests_served++;
    if (c->overflowed)
        return; /* the flush pass closes it */
    if (!keep) {
        c->close_when_flushed = true;
        if (c->queued_bytes == 0)
            conn_close(c);
        else
            conn_set_timeout(c, c->srv->limits.idle_timeout_ms);
        return;
    }
    conn_enter_idle(c);
    if (!c->in_dispatch)
        conn_process(c);
}

/* A response head being built; what would not fit is cut (our own
 * heads are far smaller). */
struct head_text {
    char s[1024];
    size_t len;
};

static void
head_add(struct head_text *h, const char *text)
{
    size_t n = strlen(text);
    if (n > sizeof h->s - h->len)
        n = sizeof h->s - h->len;
    memcpy(h->s + h->len, text, n);
    h->len += n;
}

/* The head of REQ's response; FRAMING_NAME (Content-Length, Transfer-
 * Encoding), when not NULL, with FRAMING_VALUE. */
static void
write_head(struct http_request *req, int status, const char *content_type,
           const char *extra_headers, const char *framing_name, const char *framing_value)
{
    struct conn *c = req->conn;
    bool keep = req->keep_alive && !c->srv->draining;
    /* By hand, as the chunk sizes are: every response has a head. */
    struct head_text h = {.len = 0};
    char code[TEXT_U64_MAX + 1];
    text_u64(code, (uint64_t)status);
    head_add(&h, "HTTP/1.1 ");
    head_add(&h, code);
    head_add(&h, " ");
    head_add(&h, http_status_text(status));
    head_add(&h, "\r\n");
    if (content_type != NULL) {
        head_add(&h, "Content-Type: ");
        head_add(&h, content_type);
        head_add(&h, "\r\n");
    }
    if (framing_name != NULL) {
        head_add(&h, framing_name);
        head_add(&h, ": ");
        head_add(&h, framing_value);
        head_add(&h, "\r\n");
    }
    head_add(&h, keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    req->keep_alive = keep;
    conn_write3(c, h.s, h.len, extra_headers, extra_headers ? strlen(extra_headers) : 0, "\r\n",
                2);
}

void
http_respond(struct http_request *req, int status, const char *content_type,
             const char *extra_headers, const void *body, size_t len)
{
    struct http_server *srv = req->conn->srv;
    if (len > HTTP_WRITE_HIGH_WATER && srv->queued_total + len > HTTP_WRITE_TOTAL_LIMIT) {
        log_warn("refusing a %zu-byte answer: %zu bytes of answers are unread by their clients",
                 len, srv->queued_total);
        json_t *err = srv->error_body(req->path, 503,
                                      "the daemon holds too many unread answers to queue this "
                                      "one; retry when clients have read theirs");
        struct sbuf text = {0};
        sbuf_add_json(&text, err);
        sbuf_add(&text, "\n", 1);
        json_decref(err);
        http_respond(req, 503, "application/json", NULL, text.s, text.len);
        sbuf_free(&text);
        return;
    }
    char length[TEXT_U64_MAX + 1];
    text_u64(length, len);
    write_head(req, status, content_type, extra_headers, "Content-Length", length);
    if (!req->head_only && len > 0)
        conn_write3(req->conn, body, len, NULL, 0, NULL, 0);
    request_finish(req);
}

void
http_respond_json_take(struct http_request *req, int status, json_t *body)
{
    http_respond_json_with_take(req, status, NULL, body);
}

void
http_respond_json_with_take(struct http_request *req, int status, const char *extra_headers,
                            json_t *body)
{
    struct sbuf text = {0};
    sbuf_add_json(&text, body);
    sbuf_add(&text, "\n", 1);
    json_decref(body);
    http_respond(req, status, "application/json", extra_headers, text.s, text.len);
    sbuf_free(&text);
}

int
http_response_start(struct http_request *req, int status, const char *content_type,
                    const char *extra_headers)
{
    if (req->conn->closing || req->conn->overflowed)
        return UV_EPIPE;
    req->started = true;
    /* HTTP/1.0 has no chunked coding: the body ends when we close. */
    req->chunked = !req->http10;
    if (!req->chunked)
        req->keep_alive = false;
    write_head(req, status, content_type, extra_headers, req->chunked ? "Transfer-Encoding" : NULL,
               "chunked");
    return req->conn->closing || req->conn->overflowed ? UV_EPIPE : 0;
}

int
http_response_write(struct http_request *req, const void *data, size_t len)
{
    if (len == 0 || req->head_only)
        return 0;
    int rc;
    if (!req->chunked) {
        rc = conn_write3(req->conn, data, len, NULL, 0, NULL, 0);
    } else {
        /* By hand: this runs for every chunk of every stream. */
        char size_line[24];
        char *p = size_line + sizeof size_line;
        *--p = '\n';
        *--p = '\r';
        for (size_t v = len; v > 0; v >>= 4)
            *--p = "0123456789abcdef"[v & 15];
        size_t n = (size_t)(size_line + sizeof size_line - p);
        rc = conn_write3(req->conn, p, n, data, len, "\r\n", 2);
    }
    /* The first token is what a user waits for: it goes out now, with
     * the head, not after the rest of what the upstream sent with it.
     * Unless the loop is busy with other clients: then it goes out at
     * the end of the turn, with their writes.  A write of its own costs
     * a system call and a wakeup of the client per answer, which a busy
     * daemon pays in throughput (README), for microseconds of waiting. */
    if (rc == 0 && !req->body_begun) {
        req->body_begun = true;
        if (req->conn->srv->last_pass_clients > 1)
            return 0;
        /* Only the count: the caller is mid-write, so no drain or close
         * callback may run from here. */
        size_t written;
        if (conn_flush(req->conn, &written) < 0)
            batch_link(req->conn); /* the loop closes it */
        else
            conn_dequeued(req->conn, written);
    }
    return rc;
}

bool
http_response_writable(const struct http_request *req)
{
    return !req->conn->closing && !req->conn->overflowed &&
           req->conn->queued_bytes < HTTP_WRITE_HIGH_WATER;
}

void
http_request_on_drain(struct http_request *req, http_drain_cb cb, void *arg)
{
    req->drain_cb = cb;
    req->drain_arg = arg;
}

void
http_request_on_abort(struct http_request *req, http_abort_cb cb, void *arg)
{
    req->abort_cb = cb;
    req->abort_arg = arg;
}

void
http_response_end(struct http_request *req)
{
    if (req->chunked && !req->head_only)
        conn_write3(req->conn, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
    request_finish(req);
}

const char *
http_request_method(const struct http_request *req)
{
    return req->method;
}

const char *
http_request_path(const struct http_request *req)
{
    return req->path;
}

const char *
http_request_query(const struct http_request *req)
{
    return req->query;
}

bool
http_request_query_param(const struct http_request *req, const char *name, char *out,
                         size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *p = req->query; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t o = 0;
            for (size_t i = nlen + 1; i < plen && o + 1 < outlen; i++) {
                if (p[i] == '+') {
                    out[o++] = ' ';
                } else if (p[i] == '%' && i + 2 < plen && text_hex_digit(p[i + 1]) >= 0 &&
                           text_hex_digit(p[i + 2]) >= 0) {
                    out[o++] =
                        (char)(text_hex_digit(p[i + 1]) * 16 + text_hex_digit(p[i + 2]));
                    i += 2;
                } else {
                    out[o++] = p[i];
                }
            }
            out[o] = '\0';
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
    const char *text = req->head_text.s;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(text + req->headers[i].name, name) == 0)
            return req->headers[i].value == HTTP_NO_VALUE ? "" : text + req->headers[i].value;
    return NULL;
}

const char *
http_request_body(const struct http_request *req, size_t *len)
{
    if (len != NULL)
        *len = req->body.len;
    return req->body.s;
}

bool
http_request_via_tcp(const struct http_request *req)
{
    return req->conn->tcp;
}

pid_t
http_request_peer_pid(const struct http_request *req)
{
    return req->conn->peer_pid;
}

uint64_t
http_request_id(const struct http_request *req)
{
    return req->id;
}

struct http_request *
http_server_find_request(struct http_server *srv, uint64_t id)
{
    for (struct http_request *r = srv->dispatched[id % HTTP_ID_BUCKETS]; r != NULL;
         r = r->dispatched_next)
        if (r->id == id)
            return r;
    return NULL;
}

void
http_server_shutdown(struct http_server *srv, http_server_closed_cb done, void *arg)
{
    srv->draining = true;
    srv->closed_cb = done;
    srv->closed_arg = arg;
    while (srv->listeners != NULL)
        listener_close(srv->listeners);
    struct conn *c = srv->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->state != CONN_ACTIVE)
            conn_close(c);
        c = next;
    }
    if (srv->n_conns == 0)
        server_drained(srv);
}

void
http_server_close_all(struct http_server *srv)
{
    while (srv->conns != NULL)
        conn_close(srv->conns);
}

void
http_server_free(struct http_server *srv)
{
    if (srv == NULL)
        return;
    free(srv->tcp_token);
    strings_free(srv->allowed_hosts, srv->n_allowed_hosts);
    strings_free(srv->allowed_origins, srv->n_allowed_origins);
    free(srv);
}

json_t *
http_server_listeners_json(const struct http_server *srv)
{
    json_t *arr = json_array();
    for (const struct http_listener *l = srv->listeners; l != NULL; l = l->next) {
        if (l->tcp)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "type", "tcp", "address",
                                                 l->name, "token_required",
                                                 srv->tcp_token != NULL));
        else
            json_array_append_new(arr, json_pack("{s:s, s:s}", "type", "unix", "path", l->name));
    }
    return arr;
}

size_t
http_server_open_connections(const struct http_server *srv)
{
    return srv->n_conns;
}

uint64_t
http_server_requests_served(const struct http_server *srv)
{
    return srv->requests_served;
}

const char *
http_status_text(int status)
{
    static const struct {
        int status;
        const char *text;
    } table[] = {
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {499, "Client Closed Request"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].status == status)
            return table[i].text;
    return "Unknown";
}
