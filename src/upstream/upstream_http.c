/*
 * upstream_http: HTTP/1.1 requests to http:// model servers over libuv TCP
 * handles, response heads parsed by http-parser and chunked bodies by
 * chunked.c.  Owns every connection: those connecting, those carrying a
 * request, and the idle ones pooled per host:port for the next request.
 * An idle connection keeps reading, so a server closing it is noticed at
 * once rather than on the next request.
 * Reads go into one buffer shared by all connections; bytes the caller
 * cannot take yet are copied aside.  Never blocks: names are resolved on
 * libuv's thread pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "careti/core/sbuf.h"
#include "careti/core/text.h"
#include "careti/core/xmalloc.h"
#include "careti/wire/chunked.h"
#include "upstream_int.h"

/* Idle connections kept for reuse, over all servers. */
#define UHTTP_MAX_IDLE 512
/* One read's worth: a model's tokens come in far smaller pieces. */
#define UHTTP_READ_BUF 65536
/* An idle connection keeps at most this much buffer memory. */
#define UHTTP_KEEP_BUF 16384
#define UHTTP_KEEPALIVE_S 60

enum conn_state { CONN_RESOLVING, CONN_CONNECTING, CONN_OPEN, CONN_IDLE, CONN_CLOSING };

struct uhttp {
    uv_loop_t *loop;
    const struct upstream_sink *sink;
    struct uhttp_conn *idle; /* most recently used first */
    struct uhttp_conn *idle_tail;
    size_t n_idle;
    size_t n_conns; /* not yet freed */
    bool closing;
    http_parser_settings settings;
    char readbuf[UHTTP_READ_BUF];
};

struct uhttp_conn {
    struct uhttp *h;
    enum conn_state state;
    char *host; /* with PORT, the pool's key; no brackets around IPv6 */
    unsigned port;
    uv_tcp_t tcp;
    bool tcp_open;
    uv_timer_t connect_timer;
    uv_getaddrinfo_t resolver;
    bool resolving;
    struct addrinfo *addrs, *next_addr;
    /* A numeric host needs no resolver: its one address lives here. */
    struct addrinfo numeric;
    struct sockaddr_storage numeric_addr;
    long connect_timeout_ms;
    uv_connect_t connecting;
    uv_write_t writing;
    bool write_pending; /* OUT is in use until the write completes */
    int open_handles; /* freed when this is 0 and no resolver runs */
    struct upstream_req *req; /* the request carried, or NULL */
    struct sbuf out; /* the request, as written */
    http_parser parser;
    struct upstream_head head; /* of the response being read */
    bool reused;     /* this request went on a pooled connection */
    bool answered;   /* bytes of a response arrived for this request */
    bool retried;
    bool interim;    /* the response being parsed is a 1xx */
    bool redirected; /* the answer is a 3xx: the request fails, unfollowed */
    bool complete;   /* the whole response arrived */
    bool held_back;  /* the caller said wait: body bytes go to HELD */
    bool spoiled;    /* bytes followed the answer: not reusable */
    bool body_begun; /* the answer's first body bytes went to the caller */
    /* A chunked body is decoded by chunked.c once http-parser has read the
     * head (see on_headers_complete). */
    bool chunked;
    struct chunked dechunk;
    /* Body bytes the caller has not taken: while it said wait, or, within
     * one read, those after its first piece (see on_body). */
    struct sbuf held;
    char field[16];
    size_t field_len;
    bool in_value;
    enum { VALUE_OTHER, VALUE_TYPE, VALUE_LOCATION } value_of;
    struct uhttp_conn *prev, *next; /* in the idle list */
};

static void conn_connect_next(struct uhttp_conn *conn);
static void conn_resolve(struct uhttp_conn *conn);
static void on_connect_timeout(uv_timer_t *t);
static void *uhttp_new(uv_loop_t *loop, const struct upstream_sink *sink, struct cerr *err);
static void uhttp_close(void *t);
static void *uhttp_start(void *t, struct upstream_req *req, const struct upstream_opts *opts);
static void uhttp_abort(void *x);
static void uhttp_resume(void *x);

const struct upstream_transport upstream_http_transport = {
    .name = "http/1.1",
    .scheme = "http://",
    .load = NULL,
    .new = uhttp_new,
    .close = uhttp_close,
    .start = uhttp_start,
    .abort = uhttp_abort,
    .resume = uhttp_resume,
};

static void
maybe_free_conn(struct uhttp_conn *conn)
{
    if (conn->open_handles > 0 || conn->resolving)
        return;
    struct uhttp *h = conn->h;
    if (conn->addrs != NULL)
        uv_freeaddrinfo(conn->addrs);
    sbuf_free(&conn->out);
    sbuf_free(&conn->held);
    free(conn->host);
    free(conn);
    if (--h->n_conns == 0 && h->closing)
        free(h);
}

static void
on_handle_closed(uv_handle_t *handle)
{
    struct uhttp_conn *conn = handle->data;
    conn->open_handles--;
    maybe_free_conn(conn);
}

static void
idle_unlink(struct uhttp_conn *conn)
{
    struct uhttp *h = conn->h;
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        h->idle = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    else
        h->idle_tail = conn->prev;
    conn->prev = conn->next = NULL;
    h->n_idle--;
}

/* Close CONN's socket (the server sees us leave) and free it once libuv
 * is done with its handles.  CONN must no longer serve a request. */
static void
conn_close(struct uhttp_conn *conn)
{
    if (conn->state == CONN_CLOSING)
        return;
    if (conn->state == CONN_IDLE)
        idle_unlink(conn);
    conn->state = CONN_CLOSING;
    if (conn->resolving)
        uv_cancel((uv_req_t *)&conn->resolver); /* its callback still runs */
    if (conn->tcp_open) {
        conn->tcp_open = false;
        uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    }
    uv_close((uv_handle_t *)&conn->connect_timer, on_handle_closed);
}

/* The request on CONN ended: the connection lets go of it. */
static struct upstream_req *
conn_unbind(struct uhttp_conn *conn)
{
    struct upstream_req *req = conn->req;
    conn->req = NULL;
    return req;
}

static void
fail(struct uhttp_conn *conn, enum upstream_failure failure, const char *why)
{
    struct upstream_req *req = conn_unbind(conn);
    conn_close(conn);
    if (req != NULL)
        conn->h->sink->done(req, failure, why);
}

/* Put CONN in the pool, or close it when the pool is full. */
static void
conn_park(struct uhttp_conn *conn)
{
    struct uhttp *h = conn->h;
    if (h->closing) {
        conn_close(conn);
        return;
    }
    conn->state = CONN_IDLE;
    if (conn->out.cap > UHTTP_KEEP_BUF)
        sbuf_free(&conn->out);
    if (conn->held.cap > UHTTP_KEEP_BUF)
        sbuf_free(&conn->held);
    conn->next = h->idle;
    conn->prev = NULL;
    if (h->idle != NULL)
        h->idle->prev = conn;
    else
        h->idle_tail = conn;
    h->idle = conn;
    if (++h->n_idle > UHTTP_MAX_IDLE)
        conn_close(h->idle_tail);
}

/* The response is complete and the caller has all of it. */
static void
conn_finish(struct uhttp_conn *conn)
{
    /* A server may answer before reading the whole request (an early
     * error): the connection is then in no state to take another. */
    bool keep = http_should_keep_alive(&conn->parser) && !conn->write_pending && !conn->spoiled;
    struct upstream_req *req = conn_unbind(conn);
    if (keep)
        conn_park(conn);
    else
        conn_close(conn);
    if (req != NULL)
        conn->h->sink->done(req, UPSTREAM_OK, NULL);
}

/* Give body bytes to the caller, or keep them while it cannot take them.
 * Returns 0, or -ECANCELED when the caller cancelled. */
static int
deliver(struct uhttp_conn *conn, const char *at, size_t len)
{
    if (conn->held_back) {
        sbuf_add(&conn->held, at, len);
        return 0;
    }
    switch (conn->h->sink->data(conn->req, at, len)) {
    case UPSTREAM_TAKEN:
        return 0;
    case UPSTREAM_PAUSED:
        /* The rest of this read is parsed into HELD too, and no more is
         * read until the caller resumes. */
        conn->held_back = true;
        sbuf_add(&conn->held, at, len);
        uv_read_stop((uv_stream_t *)&conn->tcp);
        return 0;
    case UPSTREAM_CANCELLED:
        break;
    }
    return -ECANCELED; /* the connection is already closing */
}

static int
on_message_begin(http_parser *p)
{
    struct uhttp_conn *conn = p->data;
    conn->field_len = 0;
    conn->in_value = false;
    conn->value_of = VALUE_OTHER;
    upstream_head_reset(&conn->head);
    return 0;
}

/* Header names may arrive in pieces: only Content-Type and Location
 * matter. */
static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    struct uhttp_conn *conn = p->data;
    if (conn->in_value) {
        conn->in_value = false;
        conn->field_len = 0;
    }
    if (conn->field_len + len < sizeof conn->field) {
        memcpy(conn->field + conn->field_len, at, len);
        conn->field_len += len;
    } else {
        conn->field_len = sizeof conn->field; /* longer than any name we want */
    }
    return 0;
}

/* Of a repeated header, the last value counts. */
static int
on_header_value(http_parser *p, const char *at, size_t len)
{
    struct uhttp_conn *conn = p->data;
    struct upstream_head *head = &conn->head;
    if (!conn->in_value) {
        conn->in_value = true;
        conn->value_of = VALUE_OTHER;
        if (conn->field_len == 12 && strncasecmp(conn->field, "Content-Type", 12) == 0) {
            conn->value_of = VALUE_TYPE;
            head->content_type[0] = '\0';
        } else if (conn->field_len == 8 && strncasecmp(conn->field, "Location", 8) == 0) {
            conn->value_of = VALUE_LOCATION;
            head->location[0] = '\0';
            head->location_cut = false;
        }
    }
    if (conn->value_of == VALUE_TYPE)
        upstream_head_add_type(head, at, len);
    else if (conn->value_of == VALUE_LOCATION)
        upstream_head_add_location(head, at, len);
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct uhttp_conn *conn = p->data;
    /* 100 Continue and friends precede the real response. */
    conn->interim = p->status_code >= 100 && p->status_code < 200;
    conn->head.status = p->status_code;
    if (!conn->interim && upstream_is_redirect(p->status_code)) {
        /* Nothing of it goes to the caller: conn_parse fails the request
         * once the parser stops here. */
        conn->redirected = true;
        http_parser_pause(p, 1);
        return 0;
    }
    if (!conn->interim && conn->req != NULL)
        conn->h->sink->head(conn->req, p->status_code, upstream_head_type(&conn->head));
    if (conn->interim || !(p->flags & F_CHUNKED))
        return 0;
    /* A chunked body: http-parser is told there is none, stops after the
     * head (on_message_complete), and chunked.c reads the body. */
    conn->chunked = true;
    chunked_init(&conn->dechunk);
    return 1;
}

/* Body bytes of the answer.  Its first go to the caller at once: time to
 * first token is what a user waits for.  Later pieces are gathered and
 * handed over once the read is parsed (flush_gathered): a server that
 * sends many chunks in one write then costs the caller one call, not one
 * per chunk.  Returns 0, or -ECANCELED when the caller cancelled. */
static int
take_body(void *arg, const char *at, size_t len)
{
    struct uhttp_conn *conn = arg;
    if (conn->body_begun) {
        sbuf_add(&conn->held, at, len);
        return 0;
    }
    conn->body_begun = true;
    return deliver(conn, at, len);
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct uhttp_conn *conn = p->data;
    if (conn->interim || conn->req == NULL)
        return 0;
    return take_body(conn, at, len);
}

/* Hand over what on_body gathered during this read.  Returns -ECANCELED
 * when the caller cancelled (the connection is closing), else 0; a caller
 * that says wait keeps the bytes in HELD until it resumes. */
static int
flush_gathered(struct uhttp_conn *conn)
{
    if (conn->held_back || conn->held.len == 0)
        return 0;
    switch (conn->h->sink->data(conn->req, conn->held.s, conn->held.len)) {
    case UPSTREAM_TAKEN:
        sbuf_reset(&conn->held);
        return 0;
    case UPSTREAM_PAUSED:
        conn->held_back = true;
        uv_read_stop((uv_stream_t *)&conn->tcp);
        return 0;
    case UPSTREAM_CANCELLED:
        break;
    }
    return -ECANCELED;
}

static int
on_message_complete(http_parser *p)
{
    struct uhttp_conn *conn = p->data;
    if (conn->interim) {
        conn->interim = false;
        return 0;
    }
    /* Stop here: whatever follows belongs to no request of ours, or, for
     * a chunked answer, only the head is done and chunked.c goes on. */
    conn->complete = !conn->chunked;
    http_parser_pause(p, 1);
    return 0;
}

/* Feed LEN bytes (0 at end of stream) to the parser and act on what it
 * found.  The caller's callbacks run inside. */
static void
conn_parse(struct uhttp_conn *conn, const char *data, size_t len)
{
    size_t used = 0;
    enum chunked_status cs = CHUNKED_MORE;
    if (!conn->chunked)
        used = http_parser_execute(&conn->parser, &conn->h->settings, data, len);
    /* The rest of a chunked body, whose head this read or an earlier one
     * ended. */
    if (conn->chunked && conn->req != NULL && used < len) {
        size_t taken;
        cs = chunked_decode(&conn->dechunk, data + used, len - used, &taken, take_body, conn);
        used += taken;
        conn->complete = cs == CHUNKED_DONE;
    }
    if (conn->req == NULL || flush_gathered(conn) < 0)
        return; /* cancelled by the caller meanwhile */
    if (conn->redirected) {
        /* Its body is left unread, so the connection goes too. */
        char why[256];
        upstream_redirect_why(&conn->head, why, sizeof why);
        fail(conn, UPSTREAM_OTHER, why);
        return;
    }
    if (conn->complete) {
        conn->spoiled = used < len;
        if (!conn->held_back)
            conn_finish(conn);
        return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
    if (cs == CHUNKED_ERROR || (!conn->chunked && (e != HPE_OK || used != len))) {
        char why[160];
        snprintf(why, sizeof why, "the answer is not valid HTTP/1.1 (%s)",
                 cs == CHUNKED_ERROR ? chunked_error(&conn->dechunk) : http_errno_description(e));
        /* Once body bytes went, the caller has seen the head: the
         * answer it is reading was dropped. */
        fail(conn, conn->body_begun ? UPSTREAM_DROPPED : UPSTREAM_OTHER, why);
        return;
    }
    if (len == 0) {
        /* The server closed the connection before the answer was whole. */
        fail(conn, UPSTREAM_DROPPED, conn->answered ? "the server closed the connection"
                                                    : "the server closed the connection "
                                                      "without answering");
    }
}

static void
on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct uhttp_conn *conn = handle->data;
    (void)suggested;
    /* Each read is parsed before the next is made, so one buffer serves
     * every connection. */
    buf->base = conn->h->readbuf;
    buf->len = sizeof conn->h->readbuf;
}

static void
on_retry_closed(uv_handle_t *handle)
{
    struct uhttp_conn *conn = handle->data;
    conn->open_handles--;
    if (conn->state == CONN_CLOSING) {
        maybe_free_conn(conn);
        return;
    }
    /* Resolved afresh, as for a new connection. */
    if (conn->addrs != NULL)
        uv_freeaddrinfo(conn->addrs);
    conn->addrs = conn->next_addr = NULL;
    conn_resolve(conn);
}

/* A pooled connection the server closed before it answered anything: the
 * request was not seen, so it goes again once on a fresh socket, as curl
 * does.  The connection object stays the request's: only its socket is
 * replaced, once libuv has closed the old one. */
static bool
retry_elsewhere(struct uhttp_conn *conn)
{
    if (!conn->reused || conn->answered || conn->retried || conn->h->closing)
        return false;
    conn->reused = false;
    conn->retried = true;
    /* Not open: a late write completion or read for the old socket is
     * ignored. */
    conn->state = CONN_CONNECTING;
    conn->tcp_open = false;
    uv_close((uv_handle_t *)&conn->tcp, on_retry_closed);
    if (conn->connect_timeout_ms > 0)
        uv_timer_start(&conn->connect_timer, on_connect_timeout,
                       (uint64_t)conn->connect_timeout_ms, 0);
    return true;
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct uhttp_conn *conn = stream->data;
    if (nread == 0)
        return;
    if (conn->state != CONN_OPEN) {
        /* An idle connection heard from: the server is closing it, or
         * sent what no request asked for.  Either way it is unusable. */
        conn_close(conn);
        return;
    }
    if (nread > 0) {
        conn->answered = true;
        conn_parse(conn, buf->base, (size_t)nread);
        return;
    }
    if (retry_elsewhere(conn))
        return;
    if (nread == UV_EOF) {
        conn_parse(conn, NULL, 0);
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "%s", uv_strerror((int)nread));
    fail(conn, UPSTREAM_DROPPED, why);
}

static void
on_written(uv_write_t *w, int status)
{
    struct uhttp_conn *conn = w->data;
    conn->write_pending = false;
    if (status == 0 || conn->state != CONN_OPEN || conn->req == NULL)
        return;
    if (retry_elsewhere(conn))
        return;
    char why[128];
    snprintf(why, sizeof why, "cannot send the request: %s", uv_strerror(status));
    fail(conn, UPSTREAM_DROPPED, why);
}

/* Write the request; what the socket does not take at once is queued. */
static void
conn_send(struct uhttp_conn *conn)
{
    conn->writing.data = conn;
    uv_buf_t b = uv_buf_init(conn->out.s, (unsigned)conn->out.len);
    int n = uv_try_write((uv_stream_t *)&conn->tcp, &b, 1);
    if (n == (int)conn->out.len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        on_written(&conn->writing, n);
        return;
    }
    if (n > 0) {
        b.base += n;
        b.len -= (size_t)n;
    }
    conn->write_pending = true;
    int rc = uv_write(&conn->writing, (uv_stream_t *)&conn->tcp, &b, 1, on_written);
    if (rc != 0)
        on_written(&conn->writing, rc);
}

static void
conn_opened(struct uhttp_conn *conn)
{
    uv_timer_stop(&conn->connect_timer);
    conn->state = CONN_OPEN;
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_tcp_keepalive(&conn->tcp, 1, UHTTP_KEEPALIVE_S);
    uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    conn_send(conn);
}

static void
connect_failed(struct uhttp_conn *conn, int status)
{
    char why[160];
    snprintf(why, sizeof why, "cannot connect to %s port %u: %s", conn->host, conn->port,
             uv_strerror(status));
    fail(conn, UPSTREAM_CONNECT_REFUSED, why);
}

static void
on_attempt_closed(uv_handle_t *handle)
{
    struct uhttp_conn *conn = handle->data;
    conn->open_handles--;
    if (conn->state == CONN_CLOSING)
        maybe_free_conn(conn);
    else
        conn_connect_next(conn);
}

static void
on_connected(uv_connect_t *c, int status)
{
    struct uhttp_conn *conn = c->data;
    if (conn->state != CONN_CONNECTING)
        return; /* closed meanwhile: status is UV_ECANCELED */
    if (status == 0) {
        conn_opened(conn);
        return;
    }
    if (conn->next_addr != NULL) {
        /* A failed connect leaves the handle unusable: the next address
         * gets a fresh one once this has closed. */
        conn->tcp_open = false;
        uv_close((uv_handle_t *)&conn->tcp, on_attempt_closed);
        return;
    }
    connect_failed(conn, status);
}

/* Connect to the next resolved address of CONN's server. */
static void
conn_connect_next(struct uhttp_conn *conn)
{
    struct addrinfo *ai = conn->next_addr;
    conn->next_addr = ai->ai_next;
    conn->state = CONN_CONNECTING;
    uv_tcp_init(conn->h->loop, &conn->tcp);
    conn->tcp.data = conn;
    conn->tcp_open = true;
    conn->open_handles++;
    conn->connecting.data = conn;
    int rc = uv_tcp_connect(&conn->connecting, &conn->tcp, ai->ai_addr, on_connected);
    if (rc != 0) {
        if (conn->next_addr != NULL) {
            conn->tcp_open = false;
            uv_close((uv_handle_t *)&conn->tcp, on_attempt_closed);
        } else {
            connect_failed(conn, rc);
        }
    }
}

static void
on_resolved(uv_getaddrinfo_t *r, int status, struct addrinfo *res)
{
    struct uhttp_conn *conn = r->data;
    conn->resolving = false;
    conn->addrs = res;
    conn->next_addr = res;
    if (conn->state == CONN_CLOSING) {
        maybe_free_conn(conn);
        return;
    }
    if (status != 0 || res == NULL) {
        char why[160];
        snprintf(why, sizeof why, "%s", uv_strerror(status ? status : UV_EAI_NONAME));
        fail(conn, UPSTREAM_DNS, why);
        return;
    }
    conn_connect_next(conn);
}

static void
on_connect_timeout(uv_timer_t *t)
{
    struct uhttp_conn *conn = t->data;
    char why[160];
    snprintf(why, sizeof why, "no connection to %s port %u within connect_s", conn->host,
             conn->port);
    fail(conn, UPSTREAM_CONNECT_TIMEOUT, why);
}

/* A new connection to HOST:PORT, its connect_s clock running; the caller
 * goes on with conn_resolve.  Never NULL. */
static struct uhttp_conn *
conn_new(struct uhttp *h, const char *host, unsigned port, long connect_timeout_ms)
{
    struct uhttp_conn *conn = xcalloc(1, sizeof *conn);
    conn->h = h;
    conn->host = xstrdup(host);
    conn->port = port;
    conn->connect_timeout_ms = connect_timeout_ms;
    h->n_conns++;
    uv_timer_init(h->loop, &conn->connect_timer);
    conn->connect_timer.data = conn;
    conn->open_handles++;
    if (connect_timeout_ms > 0)
        uv_timer_start(&conn->connect_timer, on_connect_timeout, (uint64_t)connect_timeout_ms,
                       0);
    return conn;
}

/* True when CONN's host is an IP address, which is then its only one. */
static bool
numeric_host(struct uhttp_conn *conn)
{
    int port = (int)conn->port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&conn->numeric_addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&conn->numeric_addr;
    if (uv_ip4_addr(conn->host, port, v4) == 0)
        conn->numeric.ai_addrlen = sizeof *v4;
    else if (uv_ip6_addr(conn->host, port, v6) == 0)
        conn->numeric.ai_addrlen = sizeof *v6;
    else
        return false;
    conn->numeric.ai_addr = (struct sockaddr *)&conn->numeric_addr;
    conn->numeric.ai_next = NULL;
    conn->next_addr = &conn->numeric;
    return true;
}

static void
conn_resolve(struct uhttp_conn *conn)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    if (numeric_host(conn)) {
        conn_connect_next(conn);
        return;
    }
    conn->state = CONN_RESOLVING;
    conn->resolver.data = conn;
    conn->resolving = true;
    char service[8];
    snprintf(service, sizeof service, "%u", conn->port);
    int rc = uv_getaddrinfo(conn->h->loop, &conn->resolver, on_resolved, conn->host, service,
                            &hints);
    if (rc != 0) {
        conn->resolving = false;
        char why[160];
        snprintf(why, sizeof why, "%s", uv_strerror(rc));
        fail(conn, UPSTREAM_DNS, why);
    }
}

/* An idle connection to HOST:PORT, taken out of the pool, or NULL. */
static struct uhttp_conn *
pool_take(struct uhttp *h, const char *host, unsigned port)
{
    for (struct uhttp_conn *c = h->idle; c != NULL; c = c->next) {
        if (c->port == port && strcmp(c->host, host) == 0) {
            idle_unlink(c);
            c->state = CONN_OPEN;
            return c;
        }
    }
    return NULL;
}

static void
build_request(struct sbuf *out, const struct upstream_opts *opts, const char *authority,
              const char *target)
{
    sbuf_reset(out);
    sbuf_adds(out, opts->method);
    sbuf_add(out, " ", 1);
    sbuf_adds(out, target);
    sbuf_adds(out, " HTTP/1.1\r\nHost: ");
    sbuf_adds(out, authority);
    sbuf_adds(out, "\r\nAccept: application/json, text/event-stream, application/x-ndjson\r\n");
    if (opts->api_key != NULL && *opts->api_key != '\0') {
        sbuf_adds(out, "Authorization: Bearer ");
        sbuf_adds(out, opts->api_key);
        sbuf_adds(out, "\r\n");
    }
    if (opts->body != NULL) {
        sbuf_adds(out, "Content-Type: application/json\r\nContent-Length: ");
        sbuf_add_int(out, (int64_t)opts->body_len);
        sbuf_adds(out, "\r\n");
    } else if (strcmp(opts->method, "GET") != 0) {
        sbuf_adds(out, "Content-Length: 0\r\n");
    }
    sbuf_adds(out, "\r\n");
    if (opts->body != NULL)
        sbuf_add(out, opts->body, opts->body_len);
}

/* The transport's start: see struct upstream_transport.  The connection
 * is the request's state: it stays the same object, a retry included,
 * until the request ends. */
static void *
uhttp_start(void *t, struct upstream_req *req, const struct upstream_opts *opts)
{
    struct uhttp *h = t;
    const char *url = opts->url;
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 || !(u.field_set & (1 << UF_HOST)) ||
        u.field_data[UF_HOST].len == 0 || u.field_data[UF_HOST].len > 255) {
        h->sink->done(req, UPSTREAM_OTHER, "the server's URL is not valid");
        return NULL;
    }
    char host[256];
    memcpy(host, url + u.field_data[UF_HOST].off, u.field_data[UF_HOST].len);
    host[u.field_data[UF_HOST].len] = '\0';
    unsigned port = u.field_set & (1 << UF_PORT) ? u.port : 80u;
    if (u.field_set & (1 << UF_USERINFO)) {
        /* curl would have sent them as Basic credentials; we would not,
         * and the server's 401 would not say why. */
        h->sink->done(req, UPSTREAM_OTHER,
                      "a user name or password in base_url is not supported; put the "
                      "server's key in api_key");
        return NULL;
    }
    const char *target = (u.field_set & (1 << UF_PATH)) ? url + u.field_data[UF_PATH].off : "/";
    /* "[" host "]" ":" port: the host is at most 255 bytes. */
    char host_header[256 + 3 + TEXT_U64_MAX + 1];
    size_t used = 0;
    bool ipv6 = strchr(host, ':') != NULL;
    if (ipv6)
        host_header[used++] = '[';
    memcpy(host_header + used, host, u.field_data[UF_HOST].len);
    used += u.field_data[UF_HOST].len;
    if (ipv6)
        host_header[used++] = ']';
    if (u.field_set & (1 << UF_PORT)) {
        host_header[used++] = ':';
        used += text_u64(host_header + used, port);
    }
    host_header[used] = '\0';

    struct uhttp_conn *conn = pool_take(h, host, port);
    bool reused = conn != NULL;
    if (conn == NULL)
        conn = conn_new(h, host, port, opts->connect_timeout_ms);
    conn->req = req;
    conn->reused = reused;
    conn->answered = false;
    conn->retried = false;
    conn->complete = false;
    conn->interim = false;
    conn->redirected = false;
    conn->held_back = false;
    conn->spoiled = false;
    conn->body_begun = false;
    conn->chunked = false;
    sbuf_reset(&conn->held);
    build_request(&conn->out, opts, host_header, target);
    http_parser_init(&conn->parser, HTTP_RESPONSE);
    conn->parser.data = conn;
    if (reused)
        conn_send(conn);
    else
        conn_resolve(conn);
    /* A failure to connect or send may have ended the request already;
     * CONN is then closing, but not yet freed. */
    return conn->req == req ? conn : NULL;
}

static void
uhttp_abort(void *x)
{
    struct uhttp_conn *conn = x;
    conn_unbind(conn);
    conn_close(conn);
}

static void
uhttp_resume(void *x)
{
    struct uhttp_conn *conn = x;
    if (!conn->held_back)
        return;
    switch (conn->h->sink->data(conn->req, conn->held.s, conn->held.len)) {
    case UPSTREAM_TAKEN:
        break;
    case UPSTREAM_PAUSED:
    case UPSTREAM_CANCELLED:
        return;
    }
    sbuf_reset(&conn->held);
    conn->held_back = false;
    /* Reading resumes even when the answer is whole: a pooled connection
     * must keep reading to notice the server closing it. */
    uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    if (conn->complete)
        conn_finish(conn);
}

/* The transport's new: never fails. */
static void *
uhttp_new(uv_loop_t *loop, const struct upstream_sink *sink, struct cerr *err)
{
    struct uhttp *h = xcalloc(1, sizeof *h);
    (void)err;
    h->loop = loop;
    h->sink = sink;
    h->settings.on_message_begin = on_message_begin;
    h->settings.on_header_field = on_header_field;
    h->settings.on_header_value = on_header_value;
    h->settings.on_headers_complete = on_headers_complete;
    h->settings.on_body = on_body;
    h->settings.on_message_complete = on_message_complete;
    return h;
}

/* The transport's close: idle connections close now; the others were
 * let go of (abort), and the last to be freed frees H. */
static void
uhttp_close(void *t)
{
    struct uhttp *h = t;
    h->closing = true;
    while (h->idle != NULL)
        conn_close(h->idle);
    if (h->n_conns == 0)
        free(h);
}
