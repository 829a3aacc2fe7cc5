/* Unit tests for src/http/http_server.c: the server is driven over a socketpair
 * by a test that writes raw bytes and reads raw answers, so request
 * parsing edge cases are checked byte for byte. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/http/http_server.c"

static uv_loop_t loop;
static struct http_server *srv;
static int client_fd = -1;
static int aborted;
static int drained;
static struct http_request *held;

static json_t *
error_body(const char *path, int status, const char *message)
{
    return json_pack("{s:s, s:i, s:s}", "path", path, "status", status, "error", message);
}

static void
on_test_abort(struct http_request *req, void *arg)
{
    (void)req;
    (void)arg;
    aborted++;
    held = NULL;
}

static void
on_test_drain(struct http_request *req, void *arg)
{
    (void)arg;
    drained++;
    http_response_end(req);
}

/* What the client could read at once, while a handler runs. */
static char in_handler[2][4096];

static void
read_now(char *out, size_t cap)
{
    ssize_t n = read(client_fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

static void
handler(struct http_request *req, void *arg)
{
    (void)arg;
    const char *path = http_request_path(req);
    if (strcmp(path, "/tokens") == 0) {
        /* A relay's burst: many small writes in one callback. */
        http_response_start(req, 200, "application/x-ndjson", NULL);
        http_response_write(req, "t000\n", 5);
        read_now(in_handler[0], sizeof in_handler[0]);
        char tok[8];
        for (int i = 1; i < 200; i++) {
            snprintf(tok, sizeof tok, "t%03d\n", i);
            http_response_write(req, tok, 5);
        }
        read_now(in_handler[1], sizeof in_handler[1]);
        http_response_end(req);
        return;
    }
    if (strcmp(path, "/hold") == 0) {
        held = req;
        http_request_on_abort(req, on_test_abort, NULL);
        return;
    }
    if (strcmp(path, "/big") == 0 || strcmp(path, "/mb") == 0) {
        /* A whole answer larger than (or, repeated, adding up past) the
         * slow-reader limit. */
        size_t n = path[1] == 'b' ? HTTP_WRITE_HARD_LIMIT + 4 * 1024 * 1024 : 1024 * 1024;
        char *big = malloc(n);
        memset(big, 'b', n);
        http_respond(req, 200, "text/plain", NULL, big, n);
        free(big);
        return;
    }
    if (strcmp(path, "/flood") == 0) {
        /* A writer that ignores http_response_writable. */
        held = req;
        http_request_on_abort(req, on_test_abort, NULL);
        http_response_start(req, 200, "text/plain", NULL);
        char *chunk = malloc(1024 * 1024);
        memset(chunk, 'f', 1024 * 1024);
        int rc = 0;
        for (int i = 0; i < 64 && rc == 0; i++)
            rc = http_response_write(req, chunk, 1024 * 1024);
        free(chunk);
        ck_assert_int_eq(rc, UV_ENOBUFS);
        /* Refused, but not closed under us: REQ is still ours. */
        ck_assert_int_eq(aborted, 0);
        ck_assert(!http_response_writable(req));
        ck_assert_int_eq(http_response_write(req, "x", 1), UV_ENOBUFS);
        return;
    }
    if (strcmp(path, "/stream") == 0) {
        /* Write until the server says stop, then finish on drain. */
        http_response_start(req, 200, "text/plain", NULL);
        char chunk[4096];
        memset(chunk, 'x', sizeof chunk);
        int n = 0;
        while (http_response_writable(req) && n < 100000) {
            http_response_write(req, chunk, sizeof chunk);
            n++;
        }
        ck_assert_msg(!http_response_writable(req), "the writer was never told to stop");
        http_request_on_drain(req, on_test_drain, NULL);
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    const char *x = http_request_header(req, "x-test");
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s}", "method", http_request_method(req),
                          "path", path, "query", http_request_query(req), "body_len",
                          (json_int_t)len, "x_test", x, "body", body);
    http_respond_json_take(req, 200, j);
}

static void
setup(void)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uv_loop_init(&loop);
    srv = http_server_new(&loop, handler, NULL, error_body);
    struct http_server_limits limits = {
        .max_body_bytes = 1024 * 1024,
        .header_timeout_ms = 200,
        .idle_timeout_ms = 5000,
        .max_connections = 16,
    };
    http_server_set_limits(srv, &limits);
    ck_assert_int_eq(http_server_serve_fd(srv, sv[0]), 0);
    client_fd = sv[1];
    fcntl(client_fd, F_SETFL, O_NONBLOCK);
    aborted = drained = 0;
    held = NULL;
}

static void
on_closed(struct http_server *s, void *arg)
{
    (void)s;
    (void)arg;
}

static void
teardown(void)
{
    if (client_fd >= 0)
        close(client_fd);
    http_server_shutdown(srv, on_closed, NULL);
    http_server_close_all(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    http_server_free(srv);
}

static void
send_all(const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(client_fd, data, len);
        if (n < 0 && errno == EAGAIN) {
            uv_run(&loop, UV_RUN_NOWAIT);
            continue;
        }
        ck_assert_int_gt(n, 0);
        data += n;
        len -= (size_t)n;
    }
}

static void
send_str(const char *s)
{
    send_all(s, strlen(s));
}

/* Run the loop and collect output until WANT responses are complete, the
 * server closes, or MS milliseconds pass.  Caller frees. */
static char *
collect(int want, int ms, bool *closed)
{
    static char buf[1 << 20];
    size_t len = 0;
    uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)ms;
    *closed = false;
    while (uv_hrtime() / 1000000 < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = read(client_fd, buf + len, sizeof buf - 1 - len);
        if (n == 0) {
            *closed = true;
            break;
        }
        if (n > 0) {
            len += (size_t)n;
            buf[len] = '\0';
        } else {
            struct pollfd p = {.fd = client_fd, .events = POLLIN};
            poll(&p, 1, 1);
        }
        int complete = 0;
        const char *at = buf;
        while ((at = strstr(at, "HTTP/1.1 ")) != NULL) {
            const char *end = strstr(at, "\r\n\r\n");
            const char *cl = strstr(at, "Content-Length: ");
            if (end == NULL || cl == NULL || cl > end)
                break;
            size_t body = strtoul(cl + 16, NULL, 10);
            if ((size_t)(buf + len - (end + 4)) < body)
                break;
            complete++;
            at = end + 4 + body;
        }
        if (complete >= want && want > 0)
            break;
    }
    buf[len] = '\0';
    return strdup(buf);
}

START_TEST(test_simple_get_keeps_alive)
{
    bool closed;
    send_str("GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\n\r\n");
    char *out = collect(1, 2000, &closed);
    ck_assert(!closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Connection: keep-alive"));
    ck_assert_ptr_nonnull(strstr(out, "\"path\":\"/a/b\""));
    ck_assert_ptr_nonnull(strstr(out, "\"query\":\"x=1\""));
    ck_assert_ptr_nonnull(strstr(out, "\"x_test\":\"yes\""));
    free(out);
    ck_assert_uint_eq(http_server_requests_served(srv), 1);
}
END_TEST

/* The first bytes of a streamed body go out at once, with the head; the
 * writes after them wait for the end of the loop turn and go out as one
 * batch, chunked framing intact. */
START_TEST(test_burst_is_batched_after_first_token)
{
    bool closed;
    send_str("GET /tokens HTTP/1.1\r\nHost: h\r\n\r\n");
    char *out = collect(0, 300, &closed);
    ck_assert(!closed);
    ck_assert_ptr_nonnull(strstr(in_handler[0], "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(in_handler[0], "\r\n\r\n5\r\nt000\n\r\n"));
    ck_assert_str_eq(in_handler[1], ""); /* nothing more before the turn ends */
    /* The rest: 199 chunks in order, then the last chunk. */
    const char *at = out;
    for (int i = 1; i < 200; i++) {
        char want[24];
        snprintf(want, sizeof want, "5\r\nt%03d\n\r\n", i);
        ck_assert_msg(strncmp(at, want, strlen(want)) == 0, "chunk %d: %.20s", i, at);
        at += strlen(want);
    }
    ck_assert_str_eq(at, "0\r\n\r\n");
    free(out);
}
END_TEST

/* Answers to several clients in one loop turn mark the loop busy: the
 * next answer's first token then waits for the end of its turn, with the
 * rest, instead of costing a write of its own; once a turn serves one
 * client again, the first token goes out at once again. */
START_TEST(test_busy_loop_batches_first_token_too)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(http_server_serve_fd(srv, sv[0]), 0);
    int other = sv[1];
    const char *req = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    ck_assert_int_eq(write(other, req, strlen(req)), (ssize_t)strlen(req));
    send_str(req);
    bool closed;
    char *out = collect(1, 2000, &closed); /* both answered in the turn that read both */
    free(out);
    char other_out[4096];
    ck_assert_int_gt(read(other, other_out, sizeof other_out), 0);
    ck_assert_uint_eq(srv->last_pass_clients, 2);

    send_str("GET /tokens HTTP/1.1\r\nHost: h\r\n\r\n");
    out = collect(0, 300, &closed);
    ck_assert_str_eq(in_handler[0], ""); /* not even the head at once */
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\n5\r\nt000\n\r\n5\r\nt001\n\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "5\r\nt199\n\r\n0\r\n\r\n"));
    free(out);

    send_str("GET /tokens HTTP/1.1\r\nHost: h\r\n\r\n");
    out = collect(0, 300, &closed);
    ck_assert_ptr_nonnull(strstr(in_handler[0], "\r\n\r\n5\r\nt000\n\r\n"));
    free(out);
    close(other);
}
END_TEST

START_TEST(test_pipelined_requests_in_order)
{
    bool closed;
    const char *reqs = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                       "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    send_all(reqs, strlen(reqs));
    char *out = collect(3, 2000, &closed);
    char *one = strstr(out, "/one"), *two = strstr(out, "/two"), *three = strstr(out, "/three");
    ck_assert(one && two && three && one < two && two < three);
    ck_assert_ptr_nonnull(strstr(out, "\"body\":\"abc\""));
    free(out);
    out = collect(0, 500, &closed);
    ck_assert_msg(closed, "Connection: close was not honoured");
    free(out);
}
END_TEST

START_TEST(test_bytes_split_one_by_one)
{
    bool closed;
    const char *req = "POST /split HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
    for (size_t i = 0; req[i] != '\0'; i++) {
        send_all(req + i, 1);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    char *out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "\"body\":\"Wikipedia\""));
    ck_assert_ptr_nonnull(strstr(out, "\"body_len\":9"));
    free(out);
}
END_TEST

START_TEST(test_malformed_is_400_and_closed)
{
    bool closed;
    send_str("GET /x HTTP/1.1\r\nHost h\r\n\r\n");
    char *out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 400 Bad Request"));
    ck_assert_ptr_nonnull(strstr(out, "malformed HTTP request"));
    ck_assert_ptr_nonnull(strstr(out, "Connection: close"));
    free(out);
    out = collect(0, 3000, &closed);
    ck_assert(closed);
    free(out);
}
END_TEST

/* Send REQ and expect one refusal with STATUS whose body holds WHY, and
 * the connection closed. */
static void
expect_refusal(const char *req, const char *status, const char *why)
{
    bool closed;
    send_str(req);
    char *out = collect(1, 2000, &closed);
    ck_assert_msg(strncmp(out, status, strlen(status)) == 0, "got: %.200s", out);
    ck_assert_msg(strstr(out, why) != NULL, "no \"%s\" in: %.300s", why, out);
    ck_assert_ptr_null(strstr(out, "HTTP/1.1 200"));
    free(out);
    out = collect(0, 1000, &closed);
    ck_assert(closed);
    free(out);
}

START_TEST(test_space_before_colon_is_400)
{
    expect_refusal("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n"
                   "5\r\nhello\r\n0\r\n\r\n",
                   "HTTP/1.1 400", "invalid character 0x20 in header name");
}
END_TEST

START_TEST(test_unknown_transfer_coding_is_501)
{
    expect_refusal("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                   "5\r\nhello\r\n0\r\n\r\n",
                   "HTTP/1.1 501", "transfer coding \\\"gzip\\\" is not supported");
}
END_TEST

START_TEST(test_chunked_twice_is_400)
{
    expect_refusal("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                   "HTTP/1.1 400", "chunked more than once");
}
END_TEST

START_TEST(test_chunk_data_without_crlf_is_400)
{
    /* Lenient parsers take "hello" + "XX" as data end + junk; the body's
     * end must not be negotiable. */
    expect_refusal("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhelloXX0\r\n\r\n",
                   "HTTP/1.1 400", "malformed chunked request body");
}
END_TEST

START_TEST(test_chunk_size_overflow_names_the_chunk)
{
    expect_refusal("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "fffffffffffffffffffff\r\n",
                   "HTTP/1.1 400", "chunk size too large");
}
END_TEST

START_TEST(test_request_hidden_in_trailers_is_refused)
{
    /* After the last chunk a bare LF, then a request: read as trailer
     * lines it would vanish, where a proxy in front sees two requests. */
    expect_refusal("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\nGET /hidden HTTP/1.1\r\nHost: h\r\n\r\n",
                   "HTTP/1.1 400", "malformed chunked request body");
}
END_TEST

START_TEST(test_chunked_body_then_next_request)
{
    bool closed;
    send_str("POST /one HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
             "GET /two HTTP/1.1\r\nHost: h\r\n\r\n");
    char *out = collect(2, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "\"body\":\"abc\""));
    ck_assert_ptr_nonnull(strstr(out, "\"path\":\"/two\""));
    free(out);
}
END_TEST

START_TEST(test_target_must_be_a_path)
{
    bool closed;
    send_str("GET http://evil/x HTTP/1.1\r\nHost: h\r\n\r\n");
    char *out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 400"));
    ck_assert_ptr_nonnull(strstr(out, "absolute path"));
    free(out);
}
END_TEST

START_TEST(test_body_over_limit_by_length_is_413_early)
{
    bool closed;
    /* Only the head is sent: the refusal must not wait for the body. */
    send_str("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n");
    char *out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 413 Content Too Large"));
    ck_assert_ptr_nonnull(strstr(out, "\"path\":\"/big\""));
    ck_assert_ptr_nonnull(strstr(out, "daemon.max_body_bytes"));
    free(out);
}
END_TEST

START_TEST(test_chunked_body_over_limit_is_413)
{
    bool closed;
    send_str("POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    static char chunk[70000];
    int n = snprintf(chunk, sizeof chunk, "%x\r\n", 65536);
    memset(chunk + n, 'a', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    char *out = NULL;
    for (int i = 0; i < 20 && (out == NULL || strstr(out, "413") == NULL); i++) {
        send_all(chunk, (size_t)n + 65538);
        free(out);
        out = collect(1, 20, &closed);
    }
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 413"));
    free(out);
}
END_TEST

START_TEST(test_head_too_large_is_431)
{
    bool closed;
    static char big[40000];
    memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
    memset(big + 23, 'b', 36000);
    memcpy(big + 23 + 36000, "\r\n\r\n", 5);
    send_all(big, strlen(big));
    char *out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 431"));
    free(out);
}
END_TEST

START_TEST(test_too_many_headers_is_431)
{
    bool closed;
    char req[8192] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 120; i++) {
        char line[32];
        snprintf(line, sizeof line, "H%d: v\r\n", i);
        strcat(req, line);
    }
    strcat(req, "\r\n");
    send_all(req, strlen(req));
    char *out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 431"));
    ck_assert_ptr_nonnull(strstr(out, "too many request headers"));
    free(out);
}
END_TEST

START_TEST(test_dribbled_head_times_out_with_408)
{
    bool closed;
    send_str("GET / HT");
    char *out = collect(1, 3000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 408"));
    free(out);
    out = collect(0, 3000, &closed);
    ck_assert(closed);
    free(out);
}
END_TEST

START_TEST(test_head_method_has_no_body)
{
    bool closed;
    send_str("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    char *out = collect(2, 500, &closed);
    ck_assert_ptr_null(strstr(out, "\"path\":\"/h\""));
    ck_assert_ptr_nonnull(strstr(out, "\"path\":\"/after\""));
    free(out);
}
END_TEST

START_TEST(test_expect_continue)
{
    bool closed;
    send_str("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    char *out = collect(0, 200, &closed);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 100 Continue\r\n\r\n"));
    free(out);
    send_str("ok");
    out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "\"body\":\"ok\""));
    free(out);
}
END_TEST

START_TEST(test_client_gone_aborts_request)
{
    bool closed;
    send_str("GET /hold HTTP/1.1\r\nHost: h\r\n\r\n");
    char *out = collect(0, 100, &closed);
    free(out);
    ck_assert_ptr_nonnull(held);
    ck_assert_ptr_eq(http_server_find_request(srv, http_request_id(held)), held);
    close(client_fd);
    client_fd = -1;
    for (int i = 0; i < 100 && aborted == 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(aborted, 1);
    ck_assert_uint_eq(http_server_open_connections(srv), 0);
}
END_TEST

START_TEST(test_streaming_backpressure)
{
    bool closed;
    send_str("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    uv_run(&loop, UV_RUN_NOWAIT);
    /* The client reads nothing yet: the server must stop queueing. */
    ck_assert_int_eq(drained, 0);
    size_t total = 0;
    char buf[65536];
    uint64_t deadline = uv_hrtime() / 1000000 + 5000;
    while (uv_hrtime() / 1000000 < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = read(client_fd, buf, sizeof buf);
        if (n > 0) {
            total += (size_t)n;
            if (n >= 5 && memcmp(buf + n - 5, "0\r\n\r\n", 5) == 0)
                break;
        }
    }
    ck_assert_int_eq(drained, 1);
    ck_assert_uint_gt(total, HTTP_WRITE_HIGH_WATER);
    ck_assert_uint_eq(http_server_requests_served(srv), 1);
    (void)closed;
}
END_TEST

/* Read everything the server sends until it closes or MS pass; returns
 * the byte count. */
static size_t
drain_client(int ms, bool *closed)
{
    static char buf[1 << 16];
    size_t total = 0;
    uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)ms;
    *closed = false;
    while (uv_hrtime() / 1000000 < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = read(client_fd, buf, sizeof buf);
        if (n == 0) {
            *closed = true;
            break;
        }
        if (n > 0)
            total += (size_t)n;
    }
    return total;
}

START_TEST(test_large_answer_to_a_reader_is_served)
{
    send_str("GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    size_t want = HTTP_WRITE_HARD_LIMIT + 4 * 1024 * 1024;
    size_t cap = want + 4096, got = 0;
    char *buf = malloc(cap + 1);
    uint64_t deadline = uv_hrtime() / 1000000 + 10000;
    while (uv_hrtime() / 1000000 < deadline && got < cap) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = read(client_fd, buf + got, cap - got);
        ck_assert_int_ne(n, 0);
        if (n > 0)
            got += (size_t)n;
        buf[got] = '\0';
        if (got > want && strstr(buf + want, "\"path\":\"/a\"") != NULL)
            break;
    }
    ck_assert_uint_gt(got, want);
    ck_assert_ptr_nonnull(strstr(buf + want, "\"path\":\"/a\""));
    ck_assert_uint_eq(http_server_open_connections(srv), 1);
    free(buf);
}
END_TEST

START_TEST(test_pipelined_answers_wait_for_the_reader)
{
    bool closed;
    char reqs[40 * 40] = "";
    for (int i = 0; i < 40; i++)
        strcat(reqs, "GET /mb HTTP/1.1\r\nHost: h\r\n\r\n");
    send_str(reqs);
    /* The client reads nothing yet: the server answers no further than a
     * megabyte ahead, and keeps the connection. */
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_le(http_server_requests_served(srv), 2);
    ck_assert_uint_eq(http_server_open_connections(srv), 1);
    /* Once it reads, every answer comes. */
    size_t got = 0;
    char buf[1 << 16];
    uint64_t deadline = uv_hrtime() / 1000000 + 10000;
    while (uv_hrtime() / 1000000 < deadline && got < 40u * 1024 * 1024) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = read(client_fd, buf, sizeof buf);
        ck_assert_int_ne(n, 0);
        if (n > 0)
            got += (size_t)n;
    }
    ck_assert_uint_gt(got, 40u * 1024 * 1024);
    ck_assert_uint_eq(http_server_requests_served(srv), 40);
    (void)closed;
}
END_TEST

START_TEST(test_flooding_writer_is_closed_by_the_loop)
{
    bool closed;
    send_str("GET /flood HTTP/1.1\r\nHost: h\r\n\r\n");
    for (int i = 0; i < 50 && aborted == 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(aborted, 1);
    ck_assert_uint_eq(http_server_open_connections(srv), 0);
    (void)drain_client(2000, &closed);
    ck_assert(closed);
}
END_TEST

START_TEST(test_pipelining_client_that_never_reads_is_bounded)
{
    /* Requests keep coming while answers wait unread: the server stops
     * reading once its pending input is full, whatever the state. */
    char reqs[64 * 1024];
    size_t n = 0;
    const char *one = "GET /mb HTTP/1.1\r\nHost: h\r\n\r\n";
    while (n + strlen(one) < sizeof reqs) {
        memcpy(reqs + n, one, strlen(one));
        n += strlen(one);
    }
    for (int round = 0; round < 8; round++) {
        ssize_t w = write(client_fd, reqs, n);
        (void)w;
        for (int i = 0; i < 20; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert_ptr_nonnull(srv->conns);
    ck_assert_uint_le(srv->conns->input_len, HTTP_MAX_PENDING_INPUT + HTTP_READ_CHUNK);
    ck_assert(!srv->conns->reading);
}
END_TEST

START_TEST(test_slow_reader_of_a_large_answer_is_not_idle)
{
    struct http_server_limits limits = srv->limits;
    limits.idle_timeout_ms = 1000;
    http_server_set_limits(srv, &limits);
    send_str("GET /mb HTTP/1.1\r\nHost: h\r\n\r\n");
    size_t got = 0;
    char buf[4096];
    uint64_t deadline = uv_hrtime() / 1000000 + 15000;
    /* About 1 MiB at 4 KiB per 10 ms: more than twice the idle timeout,
     * with a pause of under a second tolerated on a loaded machine. */
    while (uv_hrtime() / 1000000 < deadline && got < 1024 * 1024 + 80) {
        for (int i = 0; i < 3; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = read(client_fd, buf, sizeof buf);
        ck_assert_int_ne(r, 0);
        if (r > 0)
            got += (size_t)r;
        usleep(10000);
    }
    ck_assert_uint_ge(got, 1024 * 1024 + 80);
}
END_TEST

START_TEST(test_unread_answers_of_all_clients_are_bounded)
{
    /* Many clients ask for a large answer and read none of it: past the
     * total limit, answers are refused with 503 rather than held. */
    int fds[24];
    for (int i = 0; i < 24; i++) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ck_assert_int_eq(http_server_serve_fd(srv, sv[0]), 0);
        fds[i] = sv[1];
        const char *get = "GET /big HTTP/1.1\r\nHost: h\r\n\r\n";
        ssize_t w = write(fds[i], get, strlen(get));
        ck_assert_int_eq(w, (ssize_t)strlen(get));
        for (int j = 0; j < 5; j++)
            uv_run(&loop, UV_RUN_NOWAIT);
        ck_assert_uint_le(srv->queued_total,
                          HTTP_WRITE_TOTAL_LIMIT + HTTP_WRITE_HARD_LIMIT + 4 * 1024 * 1024 + 4096);
    }
    char head[64] = "";
    ssize_t r = read(fds[23], head, sizeof head - 1);
    ck_assert_int_gt(r, 0);
    ck_assert_msg(strncmp(head, "HTTP/1.1 503", 12) == 0, "the last client got: %.40s", head);
    for (int i = 0; i < 24; i++)
        close(fds[i]);
}
END_TEST

START_TEST(test_shutdown_waits_for_active_request)
{
    bool closed;
    send_str("GET /hold HTTP/1.1\r\nHost: h\r\n\r\n");
    char *out = collect(0, 100, &closed);
    free(out);
    ck_assert_ptr_nonnull(held);
    http_server_shutdown(srv, on_closed, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_eq(http_server_open_connections(srv), 1);
    http_respond(held, 200, "text/plain", NULL, "bye", 3);
    out = collect(1, 2000, &closed);
    ck_assert_ptr_nonnull(strstr(out, "Connection: close"));
    ck_assert_ptr_nonnull(strstr(out, "bye"));
    free(out);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("http_server");
    TCase *tc = tcase_create("socketpair");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_simple_get_keeps_alive);
    tcase_add_test(tc, test_pipelined_requests_in_order);
    tcase_add_test(tc, test_busy_loop_batches_first_token_too);
    tcase_add_test(tc, test_bytes_split_one_by_one);
    tcase_add_test(tc, test_malformed_is_400_and_closed);
    tcase_add_test(tc, test_target_must_be_a_path);
    tcase_add_test(tc, test_body_over_limit_by_length_is_413_early);
    tcase_add_test(tc, test_chunked_body_over_limit_is_413);
    tcase_add_test(tc, test_head_too_large_is_431);
    tcase_add_test(tc, test_too_many_headers_is_431);
    tcase_add_test(tc, test_dribbled_head_times_out_with_408);
    tcase_add_test(tc, test_head_method_has_no_body);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_client_gone_aborts_request);
    tcase_add_test(tc, test_burst_is_batched_after_first_token);
    tcase_add_test(tc, test_streaming_backpressure);
    tcase_add_test(tc, test_shutdown_waits_for_active_request);
    tcase_add_test(tc, test_space_before_colon_is_400);
    tcase_add_test(tc, test_unknown_transfer_coding_is_501);
    tcase_add_test(tc, test_chunked_twice_is_400);
    tcase_add_test(tc, test_chunk_data_without_crlf_is_400);
    tcase_add_test(tc, test_chunk_size_overflow_names_the_chunk);
    tcase_add_test(tc, test_chunked_body_then_next_request);
    tcase_add_test(tc, test_request_hidden_in_trailers_is_refused);
    tcase_add_test(tc, test_pipelining_client_that_never_reads_is_bounded);
    tcase_add_test(tc, test_slow_reader_of_a_large_answer_is_not_idle);
    tcase_add_test(tc, test_unread_answers_of_all_clients_are_bounded);
    tcase_add_test(tc, test_large_answer_to_a_reader_is_served);
    tcase_add_test(tc, test_pipelined_answers_wait_for_the_reader);
    tcase_add_test(tc, test_flooding_writer_is_closed_by_the_loop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
