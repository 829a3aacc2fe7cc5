/*
 * libFuzzer harness for src/upstream/upstream_http.c, the hand-written
 * HTTP/1.1 client, on its own: no upstream.c, the harness is its sink.
 * The input's first byte picks how the caller behaves (takes everything,
 * pauses every other delivery, cancels at some delivery, or never sees
 * the server close); the rest is what the server answers, written over a
 * real loopback TCP connection in pieces split at each 0xff byte, the
 * loop running between pieces, then the server closes.  Whatever comes,
 * the request reports its head at most once and before any body, never
 * more body bytes than were sent, and ends exactly once (or not at all
 * once cancelled).  Everything is closed and freed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "../../src/upstream/upstream_int.h"

#define FUZZ_MAX_INPUT (64 * 1024)
/* Loop turns allowed for what must happen without waiting on anyone. */
#define FUZZ_MAX_TURNS 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum mode {
    MODE_TAKE,   /* take every delivery */
    MODE_PAUSE,  /* say wait to every other delivery; resume after each turn */
    MODE_CANCEL, /* cancel at delivery number CANCEL_AT */
    MODE_STAY,   /* the server never closes: the caller cancels at the end */
};

/* What the sink saw of the one request.  REQ is a token: the transport
 * only hands it back. */
static struct {
    enum mode mode;
    int cancel_at;
    void *x; /* the transport's state for the request, until done or abort */
    int heads, deliveries, dones;
    bool paused, cancelled;
    size_t body;
} seen;
static struct upstream_req *const token = (struct upstream_req *)&seen;

static void
check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_upstream_http: %s\n", what);
        abort();
    }
}

static void
sink_head(struct upstream_req *req, int status, const char *content_type)
{
    check(req == token, "head for another request");
    check(!seen.cancelled && seen.dones == 0, "head after the end");
    check(seen.deliveries == 0, "head after body bytes");
    check(status >= 0 && status <= 999 && (status < 100 || status >= 200) &&
              !upstream_is_redirect(status),
          "head of an interim answer or a redirect");
    check(content_type == NULL || strlen(content_type) < 128, "content type too long");
    seen.heads++;
    check(seen.heads == 1, "two heads");
}

static enum upstream_delivery
sink_data(struct upstream_req *req, const char *data, size_t len)
{
    check(req == token, "data for another request");
    check(!seen.cancelled && seen.dones == 0, "data after the end");
    check(seen.heads == 1, "data before the head");
    check(len > 0 && data != NULL, "empty delivery");
    seen.deliveries++;
    if (seen.mode == MODE_PAUSE && seen.deliveries % 2 == 1) {
        seen.paused = true;
        return UPSTREAM_PAUSED;
    }
    if (seen.mode == MODE_CANCEL && seen.deliveries == seen.cancel_at) {
        /* As upstream_cancel does: the transport lets go at once. */
        seen.cancelled = true;
        upstream_http_transport.abort(seen.x);
        seen.x = NULL;
        return UPSTREAM_CANCELLED;
    }
    seen.body += len;
    return UPSTREAM_TAKEN;
}

static void
sink_done(struct upstream_req *req, enum upstream_failure failure, const char *why)
{
    check(req == token, "done for another request");
    check(!seen.cancelled, "done after cancel");
    check(failure == UPSTREAM_OK || (why != NULL && *why != '\0'), "a failure without words");
    seen.dones++;
    check(seen.dones == 1, "done twice");
    seen.x = NULL;
}

static const struct upstream_sink sink = {sink_head, sink_data, sink_done};

static int listen_fd = -1;
static char url[64];

/* One listening loopback socket for every run, nonblocking. */
static void
listen_once(void)
{
    if (listen_fd >= 0)
        return;
    signal(SIGPIPE, SIG_IGN);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    check(listen_fd >= 0 && bind(listen_fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(listen_fd, 16) == 0 &&
              getsockname(listen_fd, (struct sockaddr *)&a, &alen) == 0,
          "cannot listen on the loopback");
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/chat", (unsigned)ntohs(a.sin_port));
}

/* Run the loop once without waiting; resume a caller that said wait. */
static void
turn(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT);
    if (seen.paused && seen.x != NULL) {
        seen.paused = false;
        upstream_http_transport.resume(seen.x);
    }
}

/* The server's side of the connection, once the whole request came. */
static int
accept_request(uv_loop_t *loop)
{
    int fd = -1;
    for (int i = 0; i < FUZZ_MAX_TURNS && fd < 0; i++) {
        turn(loop);
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    }
    check(fd >= 0, "the client never connected");
    /* A GET: the request ends with its head. */
    char req[2048];
    size_t len = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < FUZZ_MAX_TURNS && (len < 4 || memcmp(req + len - 4, "\r\n\r\n", 4)); i++) {
        turn(loop);
        ssize_t n = read(fd, req + len, sizeof req - len);
        if (n > 0)
            len += (size_t)n;
        check(n != 0 && len < sizeof req, "the request is cut short or too long");
    }
    check(len >= 4 && memcmp(req + len - 4, "\r\n\r\n", 4) == 0, "the request never came");
    return fd;
}

/* Write LEN bytes at P to FD, the loop running while the socket is full. */
static bool
send_piece(uv_loop_t *loop, int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno != EAGAIN)
            return false; /* the client closed: the rest goes nowhere */
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
        turn(loop);
    }
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    listen_once();
    memset(&seen, 0, sizeof seen);
    seen.mode = (enum mode)(data[0] & 3);
    seen.cancel_at = 1 + (data[0] >> 4);
    uv_loop_t loop;
    check(uv_loop_init(&loop) == 0, "uv_loop_init");
    struct cerr err = {0};
    void *h = upstream_http_transport.new(&loop, &sink, &err);
    struct upstream_opts opts = {
        .method = "GET",
        .url = url,
        .connect_timeout_ms = 10000,
    };
    seen.x = upstream_http_transport.start(h, token, &opts);
    check(seen.x != NULL, "the start failed");
    int fd = accept_request(&loop);
    size_t start = 1;
    for (size_t i = 1; i <= size; i++) {
        if (i == size || data[i] == 0xff) {
            if (i > start && !send_piece(&loop, fd, data + start, i - start))
                break;
            turn(&loop);
            start = i + 1;
        }
    }
    if (seen.mode == MODE_STAY) {
        for (int i = 0; i < 4; i++)
            turn(&loop);
        if (seen.x != NULL) {
            seen.cancelled = true;
            upstream_http_transport.abort(seen.x);
            seen.x = NULL;
        }
    }
    /* The server closes: whatever was missing never comes. */
    close(fd);
    for (int i = 0; i < FUZZ_MAX_TURNS && !seen.cancelled && seen.dones == 0; i++)
        turn(&loop);
    check(seen.cancelled || seen.dones == 1, "the request never ended");
    check(seen.body <= size, "more body than was sent");
    upstream_http_transport.close(h);
    uv_run(&loop, UV_RUN_DEFAULT);
    check(uv_loop_close(&loop) == 0, "handles left open");
    return 0;
}
