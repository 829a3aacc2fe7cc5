/*
 * bench/upstream.c — a fake model server for the benchmark: Ollama's wire format and
 * the OpenAI-compatible one of llama.cpp's server and LM Studio, side by side.
 *
 * Single-threaded epoll HTTP/1.1 server on 127.0.0.1 that speaks just enough of both
 * for caretid (and nginx) to proxy it:
 *
 *   GET  /api/tags  -> one model, "bench:latest"
 *   POST /api/chat  -> 200, application/x-ndjson, chunked: N lines
 *                      {"model":..,"message":{"role":"assistant","content":"tok "},"done":false}
 *                      then a final "done":true line with counts.  Each line is its own
 *                      HTTP chunk; by default all of them go out in one write (an upstream
 *                      that "answers instantly").
 *   GET  /v1/models -> one model, "bench-sse"
 *   POST /v1/chat/completions
 *                   -> 200, text/event-stream, chunked, as llama-server sends it: a role
 *                      event, S content events {"delta":{"content":"tok "}}, a finish
 *                      event, a usage event when the request has "include_usage":true,
 *                      then data: [DONE].  Each event is its own HTTP chunk, all in one
 *                      write.
 *
 * The request body may carry directives anywhere in it (normally in the message content):
 *   bench_n=NUM         lines before the final one (default -n)
 *   bench_delay_ms=NUM  trickle: one line every NUM ms, so streams stay open (RSS runs)
 *
 * GET /bench/stats answers {"connections":accepted,"requests":served,"lines":sent,"open":now}
 * (requests counts every request, /bench/stats included).
 *
 * Keep-alive, pipelining, Content-Length or chunked request bodies, Expect: 100-continue.
 *
 * usage: upstream [-p PORT] [-n CHUNKS] [-s SSE_CHUNKS] [--port-file FILE]
 *        upstream --free-port      print a free loopback TCP port and exit
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD (64 * 1024)
#define MAX_BODY (16 * 1024 * 1024)
#define MODEL "bench:latest"
#define SSE_MODEL "bench-sse"
#define CREATED "2026-01-01T00:00:00Z"

struct buf {
    char *p;
    size_t len, off, cap;
};

struct conn {
    int fd;
    struct buf in, out;
    bool want_out;     /* EPOLLOUT armed */
    bool close_after;  /* close once out is flushed */
    bool sent_continue;
    /* trickling response */
    bool trickling;
    int t_left, t_total;
    uint64_t t_delay_ns, t_due;
    struct conn *tprev, *tnext;
};

static int g_ep;
static int g_default_n = 32;
static int g_default_sse = 16;
static char *g_instant;      /* precomputed body for the default N */
static size_t g_instant_len;
static struct conn *g_trickle; /* list of trickling connections */
static unsigned long long g_requests, g_lines, g_accepted, g_open;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
    perror(what);
    exit(1);
}

static void
buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap)
            return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (b->p == NULL)
        die("realloc");
    b->cap = cap;
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void
buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* One NDJSON line wrapped as one HTTP chunk. */
static void
add_chunk_line(struct buf *b, const char *line)
{
    size_t n = strlen(line);
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "%zx\r\n", n + 1);
    buf_reserve(b, (size_t)h + n + 3);
    memcpy(b->p + b->len, hdr, (size_t)h);
    b->len += (size_t)h;
    memcpy(b->p + b->len, line, n);
    b->len += n;
    memcpy(b->p + b->len, "\n\r\n", 3);
    b->len += 3;
}

static const char TOKEN_LINE[] =
    "{\"model\":\"" MODEL "\",\"created_at\":\"" CREATED "\",\"message\":{\"role\":\"assistant\","
    "\"content\":\"tok \"},\"done\":false}";

static void
add_final(struct buf *b, int n)
{
    char line[512];
    snprintf(line, sizeof line,
             "{\"model\":\"" MODEL "\",\"created_at\":\"" CREATED "\",\"message\":{\"role\":"
             "\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
             "\"total_duration\":1,\"load_duration\":1,\"prompt_eval_count\":1,"
             "\"prompt_eval_duration\":1,\"eval_count\":%d,\"eval_duration\":1}",
             n);
    add_chunk_line(b, line);
    buf_add(b, "0\r\n\r\n", 5);
}

static const char CHAT_HEAD[] = "HTTP/1.1 200 OK\r\n"
                                "Content-Type: application/x-ndjson\r\n"
                                "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n";

static void
build_instant(void)
{
    struct buf b = {0};
    buf_add(&b, CHAT_HEAD, sizeof CHAT_HEAD - 1);
    for (int i = 0; i < g_default_n; i++)
        add_chunk_line(&b, TOKEN_LINE);
    add_final(&b, g_default_n);
    g_instant = b.p;
    g_instant_len = b.len;
}

/* ---- the OpenAI-compatible stream (llama-server's shape and order) ---- */

#define SSE_EVENT_HEAD                                                                       \
    "data: {\"id\":\"chatcmpl-bench0000000000000000000000\",\"object\":"                    \
    "\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"" SSE_MODEL "\","         \
    "\"system_fingerprint\":\"b0000-bench\",\"choices\":["

static const char SSE_ROLE[] = SSE_EVENT_HEAD
    "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},"
    "\"finish_reason\":null}]}\n\n";
static const char SSE_TOKEN[] = SSE_EVENT_HEAD
    "{\"index\":0,\"delta\":{\"content\":\"tok \"},\"finish_reason\":null}]}\n\n";
static const char SSE_FINISH[] = SSE_EVENT_HEAD
    "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";

static const char SSE_HEAD[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\n"
                               "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";

static char *g_sse[2]; /* precomputed answers for the default count: without, with usage */
static size_t g_sse_len[2];

/* One SSE event (text ending in a blank line) wrapped as one HTTP chunk. */
static void
add_chunk_event(struct buf *b, const char *ev, size_t n)
{
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "%zx\r\n", n);
    buf_add(b, hdr, (size_t)h);
    buf_add(b, ev, n);
    buf_add(b, "\r\n", 2);
}

static void
add_sse_answer(struct buf *b, long n, bool usage)
{
    buf_add(b, SSE_HEAD, sizeof SSE_HEAD - 1);
    add_chunk_event(b, SSE_ROLE, sizeof SSE_ROLE - 1);
    for (long i = 0; i < n; i++)
        add_chunk_event(b, SSE_TOKEN, sizeof SSE_TOKEN - 1);
    add_chunk_event(b, SSE_FINISH, sizeof SSE_FINISH - 1);
    if (usage) {
        char ev[512];
        int len = snprintf(ev, sizeof ev,
                           SSE_EVENT_HEAD "],\"usage\":{\"completion_tokens\":%ld,"
                                          "\"prompt_tokens\":1,\"total_tokens\":%ld},"
                                          "\"timings\":{\"prompt_n\":1,\"prompt_ms\":0.1,"
                                          "\"predicted_n\":%ld,\"predicted_ms\":0.1}}\n\n",
                           n, n + 1, n);
        add_chunk_event(b, ev, (size_t)len);
    }
    static const char done[] = "data: [DONE]\n\n";
    add_chunk_event(b, done, sizeof done - 1);
    buf_add(b, "0\r\n\r\n", 5);
}

static void
build_sse(void)
{
    for (int u = 0; u < 2; u++) {
        struct buf b = {0};
        add_sse_answer(&b, g_default_sse, u == 1);
        g_sse[u] = b.p;
        g_sse_len[u] = b.len;
    }
}

static void
arm(struct conn *c, bool out)
{
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl mod");
    c->want_out = out;
}

static void
trickle_unlink(struct conn *c)
{
    if (!c->trickling)
        return;
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        g_trickle = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    c->tprev = c->tnext = NULL;
    c->trickling = false;
}

static void
conn_close(struct conn *c)
{
    g_open--;
    trickle_unlink(c);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
}

/* Returns false if the connection was closed. */
static bool
flush(struct conn *c)
{
    while (c->out.off < c->out.len) {
        ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                arm(c, true);
                return true;
            }
            conn_close(c);
            return false;
        }
        c->out.off += (size_t)n;
    }
    c->out.off = c->out.len = 0;
    arm(c, false);
    if (c->close_after && !c->trickling) {
        conn_close(c);
        return false;
    }
    return true;
}

static long
directive(const char *body, size_t len, const char *key, long dflt)
{
    const char *p = memmem(body, len, key, strlen(key));
    if (p == NULL)
        return dflt;
    return strtol(p + strlen(key), NULL, 10);
}

/* Whether an OpenAI request body says "include_usage": true (any spacing). */
static bool
wants_usage(const char *body, size_t len)
{
    const char *p = memmem(body, len, "\"include_usage\"", 15);
    if (p == NULL)
        return false;
    const char *end = body + len;
    for (p += 15; p < end && (*p == ' ' || *p == ':' || *p == '\t'); p++)
        ;
    return end - p >= 4 && memcmp(p, "true", 4) == 0;
}

static void
respond_simple(struct conn *c, int status, const char *reason, const char *ctype,
               const char *body)
{
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n%s", status,
               reason, ctype, strlen(body), c->close_after ? "Connection: close\r\n" : "",
               body);
}

static void
handle(struct conn *c, const char *method, const char *path, const char *body, size_t blen)
{
    g_requests++;
    if (strcmp(path, "/api/tags") == 0 && strcmp(method, "GET") == 0) {
        respond_simple(c, 200, "OK", "application/json; charset=utf-8",
                       "{\"models\":[{\"name\":\"" MODEL "\",\"model\":\"" MODEL "\","
                       "\"modified_at\":\"" CREATED "\",\"size\":1,\"digest\":\"0\","
                       "\"details\":{\"format\":\"gguf\",\"family\":\"bench\","
                       "\"parameter_size\":\"1B\",\"quantization_level\":\"Q4_K_M\"}}]}");
        return;
    }
    if (strcmp(path, "/bench/stats") == 0) {
        char s[160];
        snprintf(s, sizeof s, "{\"connections\":%llu,\"requests\":%llu,\"lines\":%llu,\"open\":%llu}",
                 g_accepted, g_requests, g_lines, g_open);
        respond_simple(c, 200, "OK", "application/json", s);
        return;
    }
    if (strcmp(path, "/v1/models") == 0 && strcmp(method, "GET") == 0) {
        respond_simple(c, 200, "OK", "application/json; charset=utf-8",
                       "{\"object\":\"list\",\"data\":[{\"id\":\"" SSE_MODEL "\","
                       "\"object\":\"model\",\"created\":1767225600,\"owned_by\":\"bench\"}]}");
        return;
    }
    if (strcmp(path, "/v1/chat/completions") == 0 && strcmp(method, "POST") == 0) {
        long n = directive(body, blen, "bench_n=", g_default_sse);
        /* caretid asks for usage on its clients' behalf; llama-server
         * sends it only then. */
        bool usage = wants_usage(body, blen);
        if (n < 0)
            n = 0;
        if (n == g_default_sse)
            buf_add(&c->out, g_sse[usage], g_sse_len[usage]);
        else
            add_sse_answer(&c->out, n, usage);
        g_lines += (unsigned long long)n + 2 + usage;
        return;
    }
    if (strcmp(path, "/api/version") == 0) {
        respond_simple(c, 200, "OK", "application/json; charset=utf-8",
                       "{\"version\":\"0.0.0-bench\"}");
        return;
    }
    if (strcmp(path, "/api/chat") == 0 && strcmp(method, "POST") == 0) {
        long n = directive(body, blen, "bench_n=", g_default_n);
        long delay = directive(body, blen, "bench_delay_ms=", 0);
        if (n < 0)
            n = 0;
        if (delay <= 0 && n == g_default_n) {
            buf_add(&c->out, g_instant, g_instant_len);
            g_lines += (unsigned long long)n + 1;
            return;
        }
        buf_add(&c->out, CHAT_HEAD, sizeof CHAT_HEAD - 1);
        if (delay <= 0) {
            for (long i = 0; i < n; i++)
                add_chunk_line(&c->out, TOKEN_LINE);
            add_final(&c->out, (int)n);
            g_lines += (unsigned long long)n + 1;
            return;
        }
        /* trickle: first line now, the rest one per delay */
        c->t_total = (int)n;
        c->t_left = (int)n;
        c->t_delay_ns = (uint64_t)delay * 1000000ull;
        if (c->t_left > 0) {
            add_chunk_line(&c->out, TOKEN_LINE);
            c->t_left--;
            g_lines++;
        }
        c->t_due = now_ns() + c->t_delay_ns;
        c->trickling = true;
        c->tprev = NULL;
        c->tnext = g_trickle;
        if (g_trickle)
            g_trickle->tprev = c;
        g_trickle = c;
        return;
    }
    respond_simple(c, 404, "Not Found", "application/json; charset=utf-8",
                   "{\"error\":\"not found\"}");
}

/* Decode a chunked body starting at p (len bytes available).  Returns the number of
 * bytes the encoded body spans, 0 if incomplete, -1 if malformed.  Decoded bytes are
 * written to out (which may alias nothing in p). */
static long
dechunk(const char *p, size_t len, struct buf *out)
{
    size_t i = 0;
    for (;;) {
        const char *eol = memmem(p + i, len - i, "\r\n", 2);
        if (eol == NULL)
            return 0;
        char *end;
        unsigned long sz = strtoul(p + i, &end, 16);
        if (end == p + i)
            return -1;
        i = (size_t)(eol - p) + 2;
        if (sz == 0) {
            /* trailers until an empty line */
            for (;;) {
                const char *e2 = memmem(p + i, len - i, "\r\n", 2);
                if (e2 == NULL)
                    return 0;
                bool empty = e2 == p + i;
                i = (size_t)(e2 - p) + 2;
                if (empty)
                    return (long)i;
            }
        }
        if (sz > MAX_BODY || len - i < sz + 2)
            return sz > MAX_BODY ? -1 : 0;
        buf_add(out, p + i, sz);
        i += sz + 2;
    }
}

/* Parse and answer every complete request in c->in.  Returns false if closed. */
static bool
process(struct conn *c)
{
    while (!c->trickling) {
        char *start = c->in.p + c->in.off;
        size_t avail = c->in.len - c->in.off;
        if (avail == 0)
            break;
        char *hend = memmem(start, avail, "\r\n\r\n", 4);
        if (hend == NULL) {
            if (avail > MAX_HEAD) {
                c->close_after = true;
                respond_simple(c, 431, "Request Header Fields Too Large", "text/plain", "");
                c->in.off = c->in.len;
            }
            break;
        }
        size_t head_len = (size_t)(hend - start) + 4;
        /* request line */
        char method[16], path[1024];
        char *sp1 = memchr(start, ' ', head_len);
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', head_len - (size_t)(sp1 + 1 - start)) : NULL;
        if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - start) >= sizeof method ||
            (size_t)(sp2 - sp1 - 1) >= sizeof path) {
            c->close_after = true;
            respond_simple(c, 400, "Bad Request", "text/plain", "");
            c->in.off = c->in.len;
            break;
        }
        memcpy(method, start, (size_t)(sp1 - start));
        method[sp1 - start] = 0;
        memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
        path[sp2 - sp1 - 1] = 0;
        char *q = strchr(path, '?');
        if (q)
            *q = 0;
        bool http10 = memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
        /* headers */
        long long clen = 0;
        bool chunked = false, conn_close = http10, expect = false;
        char *line = memchr(start, '\n', head_len);
        while (line != NULL && line + 1 < hend) {
            char *h = line + 1;
            char *e = memchr(h, '\n', (size_t)(hend + 2 - h));
            size_t hl = e ? (size_t)(e - h) : 0;
            if (hl >= 15 && strncasecmp(h, "Content-Length:", 15) == 0)
                clen = strtoll(h + 15, NULL, 10);
            else if (hl >= 18 && strncasecmp(h, "Transfer-Encoding:", 18) == 0)
                chunked = memmem(h, hl, "chunked", 7) != NULL;
            else if (hl >= 11 && strncasecmp(h, "Connection:", 11) == 0) {
                if (memmem(h, hl, "close", 5) != NULL)
                    conn_close = true;
                else if (memmem(h, hl, "keep-alive", 10) != NULL)
                    conn_close = false;
            } else if (hl >= 7 && strncasecmp(h, "Expect:", 7) == 0)
                expect = true;
            line = e;
        }
        struct buf decoded = {0};
        const char *body = start + head_len;
        size_t blen;
        size_t total;
        if (chunked) {
            long span = dechunk(start + head_len, avail - head_len, &decoded);
            if (span < 0) {
                free(decoded.p);
                c->close_after = true;
                respond_simple(c, 400, "Bad Request", "text/plain", "");
                c->in.off = c->in.len;
                break;
            }
            if (span == 0) {
                free(decoded.p);
                if (expect && !c->sent_continue) {
                    buf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    c->sent_continue = true;
                }
                break;
            }
            body = decoded.p ? decoded.p : "";
            blen = decoded.len;
            total = head_len + (size_t)span;
        } else {
            if (clen < 0 || clen > MAX_BODY) {
                c->close_after = true;
                respond_simple(c, 413, "Payload Too Large", "text/plain", "");
                c->in.off = c->in.len;
                break;
            }
            if (avail - head_len < (size_t)clen) {
                if (expect && !c->sent_continue) {
                    buf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    c->sent_continue = true;
                }
                break;
            }
            blen = (size_t)clen;
            total = head_len + blen;
        }
        c->close_after = conn_close;
        c->sent_continue = false;
        handle(c, method, path, body, blen);
        free(decoded.p);
        c->in.off += total;
        if (c->close_after)
            break;
    }
    if (c->in.off == c->in.len)
        c->in.off = c->in.len = 0;
    return flush(c);
}

static void
on_readable(struct conn *c)
{
    for (;;) {
        buf_reserve(&c->in, 16384);
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            if (c->in.len - c->in.off > MAX_HEAD + MAX_BODY) {
                conn_close(c);
                return;
            }
            continue;
        }
        if (n == 0) {
            conn_close(c);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            break;
        conn_close(c);
        return;
    }
    process(c);
}

/* Advance trickling responses; returns ms until the next is due (-1 if none). */
static int
run_trickle(void)
{
    uint64_t now = now_ns();
    uint64_t next = UINT64_MAX;
    struct conn *c = g_trickle;
    while (c != NULL) {
        struct conn *nx = c->tnext;
        if (c->t_due <= now) {
            if (c->t_left > 0) {
                add_chunk_line(&c->out, TOKEN_LINE);
                c->t_left--;
                g_lines++;
                c->t_due = now + c->t_delay_ns;
            } else {
                add_final(&c->out, c->t_total);
                g_lines++;
                trickle_unlink(c);
            }
            if (flush(c) && !c->trickling && c->in.len > c->in.off)
                process(c); /* a pipelined request was waiting */
        }
        c = nx;
    }
    for (c = g_trickle; c != NULL; c = c->tnext)
        if (c->t_due < next)
            next = c->t_due;
    if (next == UINT64_MAX)
        return -1;
    now = now_ns();
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static int
listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind");
    if (listen(fd, 4096) != 0)
        die("listen");
    return fd;
}

static int
bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("getsockname");
    return ntohs(a.sin_port);
}

static volatile sig_atomic_t g_stop;
static void
on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int
main(int argc, char **argv)
{
    int port = 0;
    const char *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            g_default_n = atoi(argv[++i]);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            g_default_sse = atoi(argv[++i]);
        else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
            port_file = argv[++i];
        else if (strcmp(argv[i], "--free-port") == 0) {
            int fd = listen_on(0);
            printf("%d\n", bound_port(fd));
            close(fd);
            return 0;
        } else {
            fprintf(stderr, "usage: upstream [-p PORT] [-n CHUNKS] [-s SSE_CHUNKS] [--port-file FILE] | "
                            "--free-port\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    build_instant();
    build_sse();

    int lfd = listen_on(port);
    port = bound_port(lfd);
    if (port_file != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0)
            die(port_file);
    } else {
        printf("%d\n", port);
        fflush(stdout);
    }

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev) != 0)
        die("epoll_ctl");

    struct epoll_event evs[256];
    int timeout = -1;
    while (!g_stop) {
        int n = epoll_wait(g_ep, evs, 256, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    if (c == NULL)
                        die("calloc");
                    c->fd = fd;
                    g_accepted++;
                    g_open++;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) != 0)
                        die("epoll_ctl add");
                }
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT) {
                if (!flush(c))
                    continue;
                if (!c->trickling && c->in.len > c->in.off && !process(c))
                    continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
        timeout = g_trickle ? run_trickle() : -1;
    }
    fprintf(stderr, "upstream: %llu requests, %llu lines\n", g_requests, g_lines);
    return 0;
}
