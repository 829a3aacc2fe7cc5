/*
 * bench/loadgen.c — closed-loop HTTP/1.1 streaming load generator for the benchmark.
 *
 * Opens C connections to a Unix socket or a loopback host:port, and on each sends the
 * same request again and again (keep-alive) until a duration has passed or each
 * connection has done a number of requests.  For every response it measures the time
 * from sending the request to the first body byte, counts the chunks received (NDJSON
 * lines, or SSE "data:" events other than [DONE]), and checks that the response ended
 * properly: status 200, the last NDJSON line has "done":true / the last SSE event is
 * `data: [DONE]`, no in-band "error", and the HTTP framing completed.
 *
 * It can also sample the CPU time (utime+stime) of other processes over the run and
 * their VmRSS at start, at the moment the most streams were open at once (only with -n,
 * i.e. in "hold" runs against a trickling upstream), and at the end.
 *
 * usage: loadgen (-u SOCKET | -t 127.0.0.1:PORT) [-m METHOD] -p PATH [-b BODY]
 *                [-k BEARER_TOKEN] [-c CONNS] [-d SECONDS | -n REQUESTS_PER_CONN]
 *                [-T HARD_TIMEOUT_S] [-P PID[,PID...]] [-A PID[,PID...]] [-v]
 * Prints one line of key=value results on stdout; diagnostics on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 16384
#define LINE_MAX_KEEP 65536
#define SAMPLE_BODY 200

enum state { S_WAIT, S_CONNECTING, S_SENDING, S_HEAD, S_BODY, S_DONE };
enum bodymode { B_CHUNKED, B_LENGTH, B_CLOSE };
enum cstate { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_TRAILER };

struct conn {
    int fd;
    enum state st;
    uint64_t wake_at; /* S_WAIT: when to (re)connect */
    size_t sent;
    int reqs;
    /* response */
    char head[HEAD_MAX];
    size_t head_len;
    int status;
    bool sse, conn_close;
    enum bodymode bm;
    long long remaining; /* B_LENGTH */
    enum cstate cst;
    uint64_t csize;
    size_t tline;
    uint64_t t_sent, t_first;
    bool got_first;
    long chunks;
    bool last_done, inband, line_trunc;
    char *line;
    size_t line_len;
    char sample[SAMPLE_BODY + 1];
    size_t sample_len;
};

static struct {
    const char *unix_path;
    struct sockaddr_in tcp;
    bool is_tcp;
    char *req;
    size_t req_len;
    int conns;
    double duration;
    int per_conn;
    double hard_timeout;
    int pids[64], npids;
    int apids[64], napids;
    int verbose;
} opt = {.conns = 1, .duration = 0, .per_conn = 0, .hard_timeout = 0};

static struct {
    uint64_t t0, t_end, deadline, hard;
    unsigned long long ok, chunks, bytes;
    unsigned long long err_connect, err_conn, err_status, err_incomplete, err_inband,
        err_timeout, connect_retries, reconnects;
    uint64_t *ttfb;
    size_t nttfb, cap;
    int open_now, max_open, active;
    long rss_open_kb;
    int printed_errors;
} g;

static int ep;
static struct conn *conns;

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
    exit(2);
}

/* ---- /proc sampling ---- */

static long
proc_ticks(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    /* fields after ")": 3 state ... 14 utime 15 stime */
    unsigned long ut = 0, stt = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return -1;
    return (long)(ut + stt);
}

static long
sum_ticks(const int *pids, int n)
{
    long t = 0;
    for (int i = 0; i < n; i++) {
        long v = proc_ticks(pids[i]);
        if (v > 0)
            t += v;
    }
    return t;
}

static long
proc_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static long
sum_rss(void)
{
    long t = 0;
    for (int i = 0; i < opt.npids; i++) {
        long v = proc_rss_kb(opt.pids[i]);
        if (v > 0)
            t += v;
    }
    return t;
}

/* ---- connection handling ---- */

static void start_conn(struct conn *c);
static void send_request(struct conn *c);

static bool
running(void)
{
    return g.deadline == 0 || now_ns() < g.deadline;
}

static void
conn_drop_fd(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->st == S_BODY && c->got_first)
        g.open_now--;
}

static bool
wants_more(struct conn *c)
{
    if (opt.per_conn > 0 && c->reqs >= opt.per_conn)
        return false;
    return running();
}

static void
conn_finish(struct conn *c)
{
    conn_drop_fd(c);
    c->st = S_DONE;
    g.active--;
}

static void
report_error(struct conn *c, const char *kind, const char *detail)
{
    if (g.printed_errors >= 10 && !opt.verbose)
        return;
    g.printed_errors++;
    c->sample[c->sample_len] = 0;
    fprintf(stderr, "loadgen: %s (status %d, %ld chunks%s%s)%s%.200s\n", kind, c->status,
            c->chunks, detail ? ", " : "", detail ? detail : "", c->sample_len ? ": body: " : "",
            c->sample);
}

/* The connection failed outside a clean response: retry later if still running. */
static void
conn_failed(struct conn *c, const char *why, bool during_request)
{
    if (during_request) {
        g.err_conn++;
        report_error(c, "connection error", why);
        c->reqs++;
    }
    conn_drop_fd(c);
    if (wants_more(c)) {
        c->st = S_WAIT;
        c->wake_at = now_ns() + 10 * 1000000ull;
        g.reconnects++;
    } else {
        c->st = S_DONE;
        g.active--;
    }
}

static void
reset_response(struct conn *c)
{
    c->head_len = 0;
    c->status = 0;
    c->sse = c->conn_close = false;
    c->bm = B_CLOSE;
    c->remaining = 0;
    c->cst = C_SIZE;
    c->csize = 0;
    c->tline = 0;
    c->got_first = false;
    c->chunks = 0;
    c->last_done = c->inband = c->line_trunc = false;
    c->line_len = 0;
    c->sample_len = 0;
}

static void
response_done(struct conn *c)
{
    if (c->got_first)
        g.open_now--;
    c->reqs++;
    if (c->line_len > 0) {
        /* an unterminated last line: count it as incomplete */
        c->last_done = false;
    }
    if (c->status != 200) {
        g.err_status++;
        report_error(c, "bad status", NULL);
    } else if (c->inband) {
        g.err_inband++;
        report_error(c, "in-band error", NULL);
    } else if (!c->last_done) {
        g.err_incomplete++;
        report_error(c, "incomplete stream", "no done:true / [DONE] at the end");
    } else {
        g.ok++;
        g.chunks += (unsigned long long)c->chunks;
        if (c->got_first) {
            if (g.nttfb == g.cap) {
                g.cap = g.cap ? g.cap * 2 : 65536;
                g.ttfb = realloc(g.ttfb, g.cap * sizeof *g.ttfb);
                if (g.ttfb == NULL)
                    die("realloc");
            }
            g.ttfb[g.nttfb++] = c->t_first - c->t_sent;
        }
    }
    c->st = S_HEAD; /* not in S_BODY any more (open_now already adjusted) */
    if (!wants_more(c)) {
        conn_finish(c);
        return;
    }
    if (c->conn_close) {
        conn_drop_fd(c);
        g.reconnects++;
        start_conn(c);
        return;
    }
    send_request(c);
}

static void
handle_line(struct conn *c, const char *l, size_t n)
{
    if (n > 0 && l[n - 1] == '\r')
        n--;
    if (c->sse) {
        if (n >= 5 && memcmp(l, "data:", 5) == 0) {
            const char *v = l + 5;
            size_t vn = n - 5;
            if (vn > 0 && *v == ' ')
                v++, vn--;
            if (vn == 6 && memcmp(v, "[DONE]", 6) == 0) {
                c->last_done = true;
                return;
            }
            c->chunks++;
            c->last_done = false;
            if (memmem(v, vn, "\"error\"", 7) != NULL)
                c->inband = true;
        }
        return;
    }
    if (n == 0)
        return;
    c->chunks++;
    c->last_done = memmem(l, n, "\"done\":true", 11) != NULL;
    if (memmem(l, n, "\"error\"", 7) != NULL)
        c->inband = true;
}

static void
feed_body(struct conn *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (!c->got_first) {
        c->got_first = true;
        c->t_first = now_ns();
        g.open_now++;
        if (g.open_now > g.max_open) {
            g.max_open = g.open_now;
            /* RSS while the most streams were open at once (all C, in a hold run) */
            if (opt.npids > 0 && opt.per_conn > 0)
                g.rss_open_kb = sum_rss();
        }
    }
    g.bytes += n;
    if (c->sample_len < SAMPLE_BODY) {
        size_t k = n < SAMPLE_BODY - c->sample_len ? n : SAMPLE_BODY - c->sample_len;
        memcpy(c->sample + c->sample_len, p, k);
        c->sample_len += k;
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL) {
            size_t k = n;
            if (c->line_len + k > LINE_MAX_KEEP) {
                k = LINE_MAX_KEEP - c->line_len;
                c->line_trunc = true;
            }
            memcpy(c->line + c->line_len, p, k);
            c->line_len += k;
            return;
        }
        size_t seg = (size_t)(nl - p);
        if (c->line_len == 0) {
            handle_line(c, p, seg);
        } else {
            size_t k = seg;
            if (c->line_len + k > LINE_MAX_KEEP)
                k = LINE_MAX_KEEP - c->line_len;
            memcpy(c->line + c->line_len, p, k);
            c->line_len += k;
            handle_line(c, c->line, c->line_len);
            c->line_len = 0;
        }
        p = nl + 1;
        n -= seg + 1;
    }
}

static int
hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Returns bytes consumed; *done set when the chunked body ended; -1 on a framing error. */
static long
feed_chunked(struct conn *c, const char *p, size_t n, bool *done)
{
    size_t i = 0;
    while (i < n) {
        switch (c->cst) {
        case C_SIZE: {
            char ch = p[i++];
            int v = hexval(ch);
            if (v >= 0)
                c->csize = c->csize * 16 + (uint64_t)v;
            else if (ch == ';' || ch == ' ')
                c->cst = C_EXT;
            else if (ch == '\r')
                c->cst = C_SIZE_LF;
            else if (ch == '\n')
                goto after_size;
            else
                return -1;
            break;
        }
        case C_EXT:
            if (p[i++] == '\n')
                goto after_size;
            break;
        case C_SIZE_LF:
            if (p[i++] != '\n')
                return -1;
        after_size:
            if (c->csize == 0) {
                c->cst = C_TRAILER;
                c->tline = 0;
            } else
                c->cst = C_DATA;
            break;
        case C_DATA: {
            size_t k = n - i;
            if (k > c->csize)
                k = (size_t)c->csize;
            feed_body(c, p + i, k);
            i += k;
            c->csize -= k;
            if (c->csize == 0)
                c->cst = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            if (p[i] == '\r') {
                i++;
                c->cst = C_DATA_LF;
            } else if (p[i] == '\n') {
                i++;
                c->cst = C_SIZE;
            } else
                return -1;
            break;
        case C_DATA_LF:
            if (p[i++] != '\n')
                return -1;
            c->cst = C_SIZE;
            c->csize = 0;
            break;
        case C_TRAILER: {
            char ch = p[i++];
            if (ch == '\n') {
                if (c->tline == 0) {
                    *done = true;
                    return (long)i;
                }
                c->tline = 0;
            } else if (ch != '\r')
                c->tline++;
            break;
        }
        }
    }
    return (long)i;
}

static bool
parse_head(struct conn *c)
{
    c->head[c->head_len] = 0;
    if (sscanf(c->head, "HTTP/1.%*d %d", &c->status) != 1)
        return false;
    bool http10 = strncmp(c->head, "HTTP/1.0", 8) == 0;
    c->conn_close = http10;
    c->bm = B_CLOSE;
    bool have_len = false;
    char *line = strstr(c->head, "\r\n");
    while (line != NULL) {
        line += 2;
        char *e = strstr(line, "\r\n");
        if (e == NULL || e == line)
            break;
        size_t hl = (size_t)(e - line);
        if (hl > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
            c->remaining = strtoll(line + 15, NULL, 10);
            have_len = true;
        } else if (hl > 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            if (memmem(line, hl, "chunked", 7))
                c->bm = B_CHUNKED;
        } else if (hl > 11 && strncasecmp(line, "Connection:", 11) == 0) {
            if (memmem(line, hl, "close", 5))
                c->conn_close = true;
            else if (memmem(line, hl, "keep-alive", 10))
                c->conn_close = false;
        } else if (hl > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
            c->sse = memmem(line, hl, "event-stream", 12) != NULL;
        }
        line = e;
    }
    if (c->bm != B_CHUNKED && have_len)
        c->bm = B_LENGTH;
    if (c->bm == B_CLOSE)
        c->conn_close = true;
    return true;
}

/* Process received bytes.  Returns false if the connection was dropped/reused. */
static bool
on_data(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        if (c->st == S_HEAD) {
            size_t k = n;
            if (c->head_len + k > HEAD_MAX - 1)
                k = HEAD_MAX - 1 - c->head_len;
            memcpy(c->head + c->head_len, p, k);
            size_t old = c->head_len;
            c->head_len += k;
            c->head[c->head_len] = 0;
            size_t from = old >= 3 ? old - 3 : 0;
            char *e = strstr(c->head + from, "\r\n\r\n");
            if (e == NULL) {
                if (c->head_len >= HEAD_MAX - 1) {
                    conn_failed(c, "response head too large", true);
                    return false;
                }
                return true;
            }
            size_t hlen = (size_t)(e - c->head) + 4;
            size_t used = hlen - old;
            p += used;
            n -= used;
            c->head_len = hlen;
            if (!parse_head(c)) {
                conn_failed(c, "malformed response head", true);
                return false;
            }
            if (c->status >= 100 && c->status < 200) { /* 100 Continue */
                c->head_len = 0;
                continue;
            }
            c->st = S_BODY;
            if (c->bm == B_LENGTH && c->remaining == 0) {
                response_done(c);
                return false;
            }
            continue;
        }
        if (c->st != S_BODY) {
            conn_failed(c, "unexpected data", true);
            return false;
        }
        if (c->bm == B_CHUNKED) {
            bool done = false;
            long used = feed_chunked(c, p, n, &done);
            if (used < 0) {
                conn_failed(c, "bad chunked framing", true);
                return false;
            }
            p += used;
            n -= (size_t)used;
            if (done) {
                if (n > 0) {
                    conn_failed(c, "bytes after the response", true);
                    return false;
                }
                response_done(c);
                return false;
            }
        } else if (c->bm == B_LENGTH) {
            size_t k = n;
            if ((long long)k > c->remaining)
                k = (size_t)c->remaining;
            feed_body(c, p, k);
            c->remaining -= (long long)k;
            p += k;
            n -= k;
            if (c->remaining == 0) {
                response_done(c);
                return false;
            }
        } else {
            feed_body(c, p, n);
            n = 0;
        }
    }
    return true;
}

static void
set_events(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl mod");
}

static void
try_send(struct conn *c)
{
    while (c->sent < opt.req_len) {
        ssize_t n = write(c->fd, opt.req + c->sent, opt.req_len - c->sent);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                set_events(c, EPOLLIN | EPOLLOUT);
                return;
            }
            conn_failed(c, strerror(errno), true);
            return;
        }
        c->sent += (size_t)n;
    }
    if (c->st == S_SENDING) {
        c->st = S_HEAD;
        set_events(c, EPOLLIN);
    }
}

static void
send_request(struct conn *c)
{
    reset_response(c);
    c->sent = 0;
    c->st = S_SENDING;
    c->t_sent = now_ns();
    try_send(c);
}

static void
start_conn(struct conn *c)
{
    int fd;
    int rc;
    if (opt.is_tcp) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        rc = connect(fd, (struct sockaddr *)&opt.tcp, sizeof opt.tcp);
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", opt.unix_path);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0 && errno == EAGAIN && !opt.is_tcp) {
        /* the listen backlog is full: a blocking client would wait; retry soon */
        close(fd);
        g.connect_retries++;
        c->fd = -1;
        c->st = S_WAIT;
        c->wake_at = now_ns() + 1000000ull;
        return;
    }
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        c->fd = -1;
        g.err_connect++;
        if (g.printed_errors++ < 10 || opt.verbose)
            fprintf(stderr, "loadgen: connect: %s\n", strerror(e));
        c->reqs++;
        if (wants_more(c)) {
            c->st = S_WAIT;
            c->wake_at = now_ns() + 10 * 1000000ull;
        } else {
            c->st = S_DONE;
            g.active--;
        }
        return;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl add");
    if (rc == 0) {
        send_request(c);
    } else {
        c->st = S_CONNECTING;
        c->t_sent = now_ns(); /* the request waits on the connect: count that time */
    }
}

static char rbuf[256 * 1024];

static void
on_event(struct conn *c, uint32_t events)
{
    if (c->st == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            g.err_connect++;
            if (g.printed_errors++ < 10 || opt.verbose)
                fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
            c->reqs++;
            conn_failed(c, strerror(err), false);
            return;
        }
        uint64_t t = c->t_sent;
        send_request(c);
        c->t_sent = t;
        return;
    }
    if ((events & EPOLLOUT) && c->st == S_SENDING) {
        try_send(c);
        if (c->fd < 0)
            return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            ssize_t n = read(c->fd, rbuf, sizeof rbuf);
            if (n > 0) {
                if (!on_data(c, rbuf, (size_t)n))
                    return; /* finished a response: the next one starts from epoll */
                if ((size_t)n < sizeof rbuf)
                    return;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return;
            if (n == 0 && c->st == S_BODY && c->bm == B_CLOSE) {
                response_done(c);
                return;
            }
            bool mid = c->st == S_SENDING || c->st == S_HEAD || c->st == S_BODY;
            conn_failed(c, n == 0 ? "connection closed by peer" : strerror(errno), mid);
            return;
        }
    }
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double
pct(double p)
{
    if (g.nttfb == 0)
        return 0;
    size_t i = (size_t)(p * (double)(g.nttfb - 1) + 0.5);
    return (double)g.ttfb[i] / 1000.0;
}

static int
parse_pids(const char *s, int *out)
{
    int n = 0;
    while (*s && n < 64) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s)
            break;
        if (v > 0)
            out[n++] = (int)v;
        s = *e == ',' ? e + 1 : e;
    }
    return n;
}

static void
usage(void)
{
    fprintf(stderr, "usage: loadgen (-u SOCKET | -t 127.0.0.1:PORT) [-m METHOD] -p PATH "
                    "[-b BODY] [-k BEARER_TOKEN] [-c CONNS] [-d SECONDS | -n REQS_PER_CONN] [-T TIMEOUT_S] "
                    "[-P PIDS] [-A PIDS] [-v]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *method = "POST", *path = NULL, *body = "", *hostport = NULL, *token = NULL;
    int c;
    while ((c = getopt(argc, argv, "u:t:m:p:b:k:c:d:n:T:P:A:v")) != -1) {
        switch (c) {
        case 'u': opt.unix_path = optarg; break;
        case 't': hostport = optarg; break;
        case 'm': method = optarg; break;
        case 'p': path = optarg; break;
        case 'b': body = optarg; break;
        case 'k': token = optarg; break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'n': opt.per_conn = atoi(optarg); break;
        case 'T': opt.hard_timeout = atof(optarg); break;
        case 'P': opt.npids = parse_pids(optarg, opt.pids); break;
        case 'A': opt.napids = parse_pids(optarg, opt.apids); break;
        case 'v': opt.verbose++; break;
        default: usage();
        }
    }
    if (path == NULL || (opt.unix_path == NULL) == (hostport == NULL) || opt.conns < 1 ||
        (opt.duration <= 0 && opt.per_conn <= 0))
        usage();
    char host[64] = "localhost";
    if (hostport != NULL) {
        const char *colon = strrchr(hostport, ':');
        if (colon == NULL || (size_t)(colon - hostport) >= sizeof host)
            usage();
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = 0;
        opt.is_tcp = true;
        opt.tcp.sin_family = AF_INET;
        opt.tcp.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &opt.tcp.sin_addr) != 1 ||
            (ntohl(opt.tcp.sin_addr.s_addr) >> 24) != 127) {
            fprintf(stderr, "loadgen: only numeric loopback addresses (127.x.x.x)\n");
            return 2;
        }
    }
    size_t blen = strlen(body);
    size_t cap = strlen(path) + strlen(method) + blen + (token ? strlen(token) : 0) + 512;
    opt.req = malloc(cap);
    if (opt.req == NULL)
        die("malloc");
    bool with_body = blen > 0 || strcmp(method, "POST") == 0;
    char lenhdr[96] = "";
    if (with_body)
        snprintf(lenhdr, sizeof lenhdr,
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    int rl = snprintf(opt.req, cap,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: careti-bench-loadgen\r\n"
                      "Accept: */*\r\n%s%s%s%s\r\n%s",
                      method, path, hostport ? hostport : "localhost",
                      token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "",
                      lenhdr, body);
    opt.req_len = (size_t)rl;

    struct rlimit rlim;
    if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 && rlim.rlim_cur < rlim.rlim_max) {
        rlim.rlim_cur = rlim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rlim);
    }
    signal(SIGPIPE, SIG_IGN);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    conns = calloc((size_t)opt.conns, sizeof *conns);
    if (conns == NULL)
        die("calloc");

    long rss_start = opt.npids ? sum_rss() : 0;
    long ticks0 = sum_ticks(opt.pids, opt.npids), aticks0 = sum_ticks(opt.apids, opt.napids);
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    g.t0 = now_ns();
    if (opt.duration > 0)
        g.deadline = g.t0 + (uint64_t)(opt.duration * 1e9);
    double hard = opt.hard_timeout > 0 ? opt.hard_timeout : opt.duration + 30;
    g.hard = g.t0 + (uint64_t)(hard * 1e9);
    g.active = opt.conns;
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].line = malloc(LINE_MAX_KEEP);
        if (conns[i].line == NULL)
            die("malloc");
        start_conn(&conns[i]);
    }

    struct epoll_event evs[512];
    while (g.active > 0) {
        uint64_t now = now_ns();
        if (now >= g.hard) {
            for (int i = 0; i < opt.conns; i++) {
                struct conn *k = &conns[i];
                if (k->st == S_SENDING || k->st == S_HEAD || k->st == S_BODY ||
                    k->st == S_CONNECTING) {
                    g.err_timeout++;
                    report_error(k, "timeout", "no complete response before the hard timeout");
                }
            }
            break;
        }
        uint64_t next = g.hard;
        bool waiting = false;
        for (int i = 0; i < opt.conns; i++)
            if (conns[i].st == S_WAIT) {
                waiting = true;
                if (conns[i].wake_at < next)
                    next = conns[i].wake_at;
            }
        if (g.deadline && g.deadline > now && g.deadline < next)
            next = g.deadline;
        int timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        int n = epoll_wait(ep, evs, 512, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *k = evs[i].data.ptr;
            if (k->fd >= 0)
                on_event(k, evs[i].events);
        }
        if (waiting) {
            now = now_ns();
            for (int i = 0; i < opt.conns; i++) {
                struct conn *k = &conns[i];
                if (k->st == S_WAIT && k->wake_at <= now) {
                    if (wants_more(k))
                        start_conn(k);
                    else {
                        k->st = S_DONE;
                        g.active--;
                    }
                }
            }
        }
    }
    g.t_end = now_ns();
    long ticks1 = sum_ticks(opt.pids, opt.npids), aticks1 = sum_ticks(opt.apids, opt.napids);
    long rss_end = opt.npids ? sum_rss() : 0;
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    double self_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                      (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                      (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double secs = (double)(g.t_end - g.t0) / 1e9;
    double tick = (double)sysconf(_SC_CLK_TCK);
    double cpu_s = (double)(ticks1 - ticks0) / tick;
    double acpu_s = (double)(aticks1 - aticks0) / tick;
    qsort(g.ttfb, g.nttfb, sizeof *g.ttfb, cmp_u64);
    unsigned long long errors = g.err_connect + g.err_conn + g.err_status + g.err_incomplete +
                                g.err_inband + g.err_timeout;
    printf("conns=%d secs=%.3f requests=%llu chunks=%llu bytes=%llu errors=%llu "
           "req_per_s=%.1f chunks_per_s=%.1f chunks_per_req=%.2f "
           "ttfb_p50_us=%.1f ttfb_p90_us=%.1f ttfb_p99_us=%.1f ttfb_max_us=%.1f "
           "cpu_s=%.3f cpu_us_per_chunk=%.3f aux_cpu_s=%.3f self_cpu_s=%.3f "
           "rss_start_kb=%ld rss_open_kb=%ld rss_end_kb=%ld max_open=%d "
           "err_connect=%llu err_conn=%llu err_status=%llu err_incomplete=%llu "
           "err_inband=%llu err_timeout=%llu connect_retries=%llu reconnects=%llu\n",
           opt.conns, secs, g.ok, g.chunks, g.bytes, errors, (double)g.ok / secs,
           (double)g.chunks / secs, g.ok ? (double)g.chunks / (double)g.ok : 0.0, pct(0.50),
           pct(0.90), pct(0.99), g.nttfb ? (double)g.ttfb[g.nttfb - 1] / 1000.0 : 0.0, cpu_s,
           g.chunks ? cpu_s * 1e6 / (double)g.chunks : 0.0, acpu_s, self_cpu, rss_start,
           g.rss_open_kb, rss_end, g.max_open, g.err_connect, g.err_conn, g.err_status,
           g.err_incomplete, g.err_inband, g.err_timeout, g.connect_retries, g.reconnects);
    return errors ? 1 : 0;
}
