/* Unit tests for src/upstream/upstream.c with its http:// transport: a scripted
 * HTTP server on the same libuv loop answers each request as the test
 * says (a plain answer, silence then close, extra bytes after the answer,
 * an answer in pieces), so the client's pooling, its one retry, its
 * framing and its promise never to call back from inside upstream_start
 * or upstream_resume can be checked byte by byte. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/upstream/upstream.c"

/* ------------------------------------------------------------------ */
/* A scripted server                                                  */
/* ------------------------------------------------------------------ */

enum act {
    ACT_ANSWER,   /* 200, Content-Length, body "hello" */
    ACT_CLOSE,    /* close the connection without a word */
    ACT_TRAILING, /* the answer, then bytes no request asked for */
    ACT_CHUNKED,  /* 200, chunked, "he", "l" and "lo" in one write */
    ACT_RAW,      /* RAW_REPLY's bytes, then close */
};

struct srv_conn {
    uv_tcp_t tcp;
    char buf[8192];
    size_t len;
};

static uv_loop_t loop;
static uv_tcp_t listener;
static int port;
static enum act script[8];
static int n_requests;   /* requests the server has read */
static int n_accepted;   /* connections it has accepted */
static char last_request[1024]; /* the last request read, head and body */
static char raw_reply[512];
static size_t raw_len;
static struct srv_conn *accepted[512];

static void
on_srv_closed(uv_handle_t *h)
{
    struct srv_conn *c = h->data;
    for (int i = 0; i < n_accepted; i++)
        if (accepted[i] == c)
            accepted[i] = NULL;
    free(c);
}

static void
srv_write(struct srv_conn *c, const char *s)
{
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
    ck_assert_int_eq(uv_try_write((uv_stream_t *)&c->tcp, &b, 1), (int)strlen(s));
}

static void
on_srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct srv_conn *c = s->data;
    (void)buf;
    if (n < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_srv_closed);
        return;
    }
    c->len += (size_t)n;
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (end == NULL)
        return;
    size_t body = 0;
    char *cl = strcasestr(c->buf, "Content-Length: ");
    if (cl != NULL && cl < end)
        body = strtoul(cl + 16, NULL, 10);
    size_t whole = (size_t)(end + 4 - c->buf) + body;
    if (c->len < whole)
        return;
    snprintf(last_request, sizeof last_request, "%.*s", (int)whole, c->buf);
    memmove(c->buf, c->buf + whole, c->len - whole);
    c->len -= whole;
    switch (script[n_requests++]) {
    case ACT_ANSWER:
        srv_write(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
        break;
    case ACT_CLOSE:
        uv_close((uv_handle_t *)&c->tcp, on_srv_closed);
        break;
    case ACT_TRAILING:
        srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n");
        break;
    case ACT_CHUNKED:
        srv_write(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n1\r\nl\r\n2\r\nlo\r\n"
                     "0\r\n\r\n");
        break;
    case ACT_RAW: {
        uv_buf_t b = uv_buf_init(raw_reply, (unsigned)raw_len);
        ck_assert_int_eq(uv_try_write((uv_stream_t *)&c->tcp, &b, 1), (int)raw_len);
        uv_close((uv_handle_t *)&c->tcp, on_srv_closed);
        break;
    }
    }
}

static void
on_srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct srv_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void
on_srv_connection(uv_stream_t *server, int status)
{
    ck_assert_int_eq(status, 0);
    struct srv_conn *c = calloc(1, sizeof *c);
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    ck_assert_int_eq(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    ck_assert_int_lt(n_accepted, 512);
    accepted[n_accepted++] = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_srv_alloc, on_srv_read);
}

/* ------------------------------------------------------------------ */
/* A caller                                                           */
/* ------------------------------------------------------------------ */

struct caller {
    int status;
    char content_type[64];
    char body[64];
    size_t body_len;
    int deliveries; /* calls of on_data */
    bool done;
    enum upstream_failure failure;
    char why[256];
    bool refuse;       /* writable() says no */
    bool in_our_call;  /* inside upstream_start or upstream_resume */
    bool called_back_inside;
};

static void
c_on_head(int status, const char *ct, void *arg)
{
    struct caller *c = arg;
    c->status = status;
    snprintf(c->content_type, sizeof c->content_type, "%s", ct ? ct : "");
}

static bool
c_writable(void *arg)
{
    struct caller *c = arg;
    return !c->refuse;
}

static void
c_on_data(const char *data, size_t len, void *arg)
{
    struct caller *c = arg;
    ck_assert_uint_le(c->body_len + len, sizeof c->body - 1);
    memcpy(c->body + c->body_len, data, len);
    c->body_len += len;
    c->deliveries++;
}

static void
c_on_done(enum upstream_failure failure, const struct cerr *err, void *arg)
{
    struct caller *c = arg;
    c->done = true;
    c->failure = failure;
    c->called_back_inside |= c->in_our_call;
    snprintf(c->why, sizeof c->why, "%s", err ? err->msg : "");
}

static const struct upstream_callbacks caller_cb = {c_on_head, c_writable, c_on_data, c_on_done};

static struct upstream *up;

static void
setup(void)
{
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &listener);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    ck_assert_int_eq(uv_tcp_bind(&listener, (struct sockaddr *)&a, 0), 0);
    ck_assert_int_eq(uv_listen((uv_stream_t *)&listener, 16, on_srv_connection), 0);
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &len);
    port = ntohs(bound.sin_port);
    n_requests = n_accepted = 0;
    memset(script, 0, sizeof script);
    up = upstream_new(&loop);
}

static void
teardown(void)
{
    upstream_close(up);
    for (int i = 0; i < n_accepted; i++)
        if (accepted[i] != NULL && !uv_is_closing((uv_handle_t *)&accepted[i]->tcp))
            uv_close((uv_handle_t *)&accepted[i]->tcp, on_srv_closed);
    uv_close((uv_handle_t *)&listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* Start a POST to URL (NULL: the scripted server) for C, noting that we
 * are inside upstream_start while it runs. */
static struct upstream_req *
start(struct caller *c, const char *url)
{
    char buf[128];
    if (url == NULL) {
        snprintf(buf, sizeof buf, "http://127.0.0.1:%d/x", port);
        url = buf;
    }
    struct upstream_opts o = {
        .method = "POST", .url = url, .body = "{}", .body_len = 2,
        .connect_timeout_ms = 2000, .first_byte_timeout_ms = 5000, .idle_timeout_ms = 5000,
    };
    c->in_our_call = true;
    struct upstream_req *r = upstream_start(up, &o, &caller_cb, c);
    c->in_our_call = false;
    return r;
}

static void
run_until_done(struct caller *c)
{
    for (int i = 0; i < 1000 && !c->done; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_msg(c->done, "the request never completed");
    ck_assert_msg(!c->called_back_inside, "on_done ran inside the caller's own call");
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_answer_and_reuse)
{
    script[0] = script[1] = ACT_ANSWER;
    struct caller a = {0}, b = {0};
    start(&a, NULL);
    run_until_done(&a);
    ck_assert_int_eq(a.failure, UPSTREAM_OK);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.content_type, "text/plain");
    ck_assert_str_eq(a.body, "hello");
    char expected[256];
    snprintf(expected, sizeof expected,
             "POST /x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: application/json, "
             "text/event-stream, application/x-ndjson\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}",
             port);
    ck_assert_str_eq(last_request, expected);
    start(&b, NULL);
    run_until_done(&b);
    ck_assert_str_eq(b.body, "hello");
    ck_assert_int_eq(n_accepted, 1); /* the second went on the pooled connection */
}
END_TEST

START_TEST(test_chunked_answer)
{
    /* Three chunks in one write: the first goes to the caller at once
     * (time to first token), the other two together. */
    script[0] = ACT_CHUNKED;
    struct caller a = {0};
    start(&a, NULL);
    run_until_done(&a);
    ck_assert_int_eq(a.failure, UPSTREAM_OK);
    ck_assert_str_eq(a.body, "hello");
    ck_assert_int_eq(a.deliveries, 2);
}
END_TEST

/* A pooled connection the server closes as the request arrives: the
 * request goes again, once, on a fresh connection. */
START_TEST(test_retry_once_on_a_pooled_connection)
{
    script[0] = ACT_ANSWER;
    script[1] = ACT_CLOSE;
    script[2] = ACT_ANSWER;
    struct caller a = {0}, b = {0};
    start(&a, NULL);
    run_until_done(&a);
    start(&b, NULL);
    run_until_done(&b);
    ck_assert_int_eq(b.failure, UPSTREAM_OK);
    ck_assert_str_eq(b.body, "hello");
    ck_assert_int_eq(n_requests, 3);
    ck_assert_int_eq(n_accepted, 2);
}
END_TEST

/* The retry is once: a second silence fails the request, which is then
 * not sent a third time. */
START_TEST(test_retry_only_once)
{
    script[0] = ACT_ANSWER;
    script[1] = ACT_CLOSE;
    script[2] = ACT_CLOSE;
    script[3] = ACT_ANSWER;
    struct caller a = {0}, b = {0};
    start(&a, NULL);
    run_until_done(&a);
    start(&b, NULL);
    run_until_done(&b);
    ck_assert_int_eq(b.failure, UPSTREAM_DROPPED);
    ck_assert_str_eq(b.why, "the server closed the connection without answering");
    ck_assert_int_eq(n_requests, 3);
    ck_assert_int_eq(n_accepted, 2);
}
END_TEST

/* On a fresh connection the same silence is a failure, not a retry. */
START_TEST(test_no_retry_on_a_fresh_connection)
{
    script[0] = ACT_CLOSE;
    script[1] = ACT_ANSWER;
    struct caller a = {0};
    start(&a, NULL);
    run_until_done(&a);
    ck_assert_int_eq(a.failure, UPSTREAM_DROPPED);
    ck_assert_str_eq(a.why, "the server closed the connection without answering");
    ck_assert_int_eq(n_requests, 1);
}
END_TEST

/* Bytes after an answer make the connection unfit for the next one. */
START_TEST(test_trailing_bytes_spoil_the_connection)
{
    script[0] = ACT_TRAILING;
    script[1] = ACT_ANSWER;
    struct caller a = {0}, b = {0};
    start(&a, NULL);
    run_until_done(&a);
    ck_assert_str_eq(a.body, "hello");
    start(&b, NULL);
    run_until_done(&b);
    ck_assert_int_eq(b.failure, UPSTREAM_OK);
    ck_assert_str_eq(b.body, "hello");
    ck_assert_int_eq(n_accepted, 2);
}
END_TEST

/* A caller that cannot take bytes gets them, in order, after resuming;
 * the completion comes from the loop, not from inside upstream_resume. */
START_TEST(test_pause_then_resume)
{
    script[0] = ACT_CHUNKED;
    struct caller a = {.refuse = true};
    struct upstream_req *r = start(&a, NULL);
    for (int i = 0; i < 200 && a.status == 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(a.status, 200); /* the head went; the body waits */
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_eq(a.body_len, 0);
    ck_assert(!a.done);
    a.refuse = false;
    a.in_our_call = true;
    upstream_resume(r);
    a.in_our_call = false;
    ck_assert_str_eq(a.body, "hello");
    run_until_done(&a);
    ck_assert_int_eq(a.failure, UPSTREAM_OK);
}
END_TEST

/* One function picks the transport, by the URL's scheme alone. */
START_TEST(test_transport_by_scheme)
{
    ck_assert_ptr_eq(transports[pick_transport("POST", "http://h:1/x")], &upstream_http_transport);
    ck_assert_ptr_eq(transports[pick_transport("GET", "https://h/x")], &upstream_curl_transport);
    ck_assert_int_eq(pick_transport("GET", "httpx://h/x"), -EINVAL);
}
END_TEST

START_TEST(test_failures_come_from_the_loop)
{
    struct caller bad = {0}, refused = {0}, userinfo = {0}, scheme = {0};
    start(&bad, "http://[::1/x");
    start(&refused, "http://127.0.0.1:1/x");
    start(&userinfo, "http://me:secret@127.0.0.1:1/x");
    start(&scheme, "ftp://127.0.0.1/x");
    ck_assert(!bad.done && !refused.done && !userinfo.done && !scheme.done);
    run_until_done(&bad);
    run_until_done(&refused);
    run_until_done(&userinfo);
    run_until_done(&scheme);
    ck_assert_int_eq(scheme.failure, UPSTREAM_OTHER);
    ck_assert_str_eq(scheme.why, "the URL is neither http:// nor https://");
    ck_assert_int_eq(bad.failure, UPSTREAM_OTHER);
    ck_assert_str_eq(bad.why, "the server's URL is not valid");
    ck_assert_int_eq(refused.failure, UPSTREAM_CONNECT_REFUSED);
    ck_assert_int_eq(userinfo.failure, UPSTREAM_OTHER);
    ck_assert_ptr_nonnull(strstr(userinfo.why, "api_key"));
}
END_TEST

/* A request cancelled while its connection is being made calls nothing
 * back, leaves nothing running, and the next request is served. */
START_TEST(test_cancel_while_connecting)
{
    script[0] = ACT_ANSWER;
    script[1] = ACT_ANSWER;
    struct caller a = {0}, b = {0};
    struct upstream_req *r = start(&a, NULL);
    upstream_cancel(r);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert(!a.done);
    start(&b, NULL);
    run_until_done(&b);
    ck_assert_str_eq(b.body, "hello");
    ck_assert_uint_eq(upstream_active(up), 0);
}
END_TEST

/* A chunk framing error ends the answer as dropped, saying what was
 * wrong, after the body bytes before it went to the caller. */
START_TEST(test_bad_chunk_is_named)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\nzz\r\n";
    raw_len = sizeof reply - 1;
    memcpy(raw_reply, reply, raw_len);
    script[0] = ACT_RAW;
    struct caller a = {0};
    start(&a, NULL);
    run_until_done(&a);
    ck_assert_int_eq(a.failure, UPSTREAM_DROPPED);
    ck_assert_str_eq(a.body, "abc");
    ck_assert_ptr_nonnull(strstr(a.why, "not valid HTTP/1.1 (invalid chunk size)"));
}
END_TEST

/* A redirect is not followed: the request fails with the status and
 * where it points, and none of the redirect's body reaches the caller,
 * whether the answer is framed by length or chunked, Location in pieces
 * of any case.  The connection is not kept: its body was not read. */
START_TEST(test_redirect_is_named)
{
    static const char *const replies[] = {
        "HTTP/1.1 302 Found\r\nContent-Type: text/html\r\nLocation: http://10.0.0.7:11434/api/chat"
        "\r\nContent-Length: 5\r\n\r\nmoved",
        "HTTP/1.1 307 Temporary Redirect\r\nlocation:   /elsewhere/x  \r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nmoved\r\n0\r\n\r\n",
        "HTTP/1.1 300 Multiple Choices\r\nContent-Length: 0\r\n\r\n",
    };
    static const char *const said[] = {
        "answered HTTP 302, a redirect to http://10.0.0.7:11434/api/chat, which caretid does "
        "not follow: point base_url at the final address",
        "answered HTTP 307, a redirect to /elsewhere/x, which caretid does not follow: point "
        "base_url at the final address",
        "answered HTTP 300, a redirect without a Location, which caretid does not follow: point "
        "base_url at the final address",
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        n_requests = 0;
        raw_len = strlen(replies[i]);
        memcpy(raw_reply, replies[i], raw_len);
        script[0] = ACT_RAW;
        struct caller a = {0};
        start(&a, NULL);
        run_until_done(&a);
        ck_assert_int_eq(a.failure, UPSTREAM_OTHER);
        ck_assert_str_eq(a.why, said[i]);
        ck_assert_int_eq(a.status, 0); /* no head, so no body either */
        ck_assert_uint_eq(a.body_len, 0);
    }
    /* After the redirect, the next request is served on a new connection. */
    script[0] = ACT_ANSWER;
    n_requests = 0;
    struct caller b = {0};
    start(&b, NULL);
    run_until_done(&b);
    ck_assert_str_eq(b.body, "hello");
}
END_TEST

/* Whatever a server sends, each request completes exactly once, and a
 * success carries no more than the server sent. */
START_TEST(test_mangled_answers_always_complete)
{
    static const char valid[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"
                                "6\r\n{\"a\":1}\r\n7\r\n{\"b\":22}\r\n0\r\n\r\n";
    unsigned seed = 2026;
    int ok = 0, failed = 0;
    for (int round = 0; round < 300; round++) {
        raw_len = sizeof valid - 1;
        memcpy(raw_reply, valid, raw_len);
        int edits = 1 + (int)(rand_r(&seed) % 4);
        for (int e = 0; e < edits && raw_len > 0; e++) {
            size_t at = rand_r(&seed) % raw_len;
            switch (rand_r(&seed) % 3) {
            case 0: /* change a byte */
                raw_reply[at] = (char)(rand_r(&seed) % 256);
                break;
            case 1: /* cut the reply short */
                raw_len = at;
                break;
            case 2: /* repeat a stretch */
                if (raw_len + 16 < sizeof raw_reply) {
                    memmove(raw_reply + at + 16, raw_reply + at, raw_len - at);
                    raw_len += 16;
                }
                break;
            }
        }
        n_requests = 0;
        script[0] = ACT_RAW;
        struct caller a = {0};
        start(&a, NULL);
        run_until_done(&a);
        ck_assert_uint_le(a.body_len, raw_len);
        if (a.failure == UPSTREAM_OK)
            ok++;
        else
            failed++;
    }
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(failed, 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_answer_and_reuse);
    tcase_add_test(tc, test_chunked_answer);
    tcase_add_test(tc, test_retry_once_on_a_pooled_connection);
    tcase_add_test(tc, test_retry_only_once);
    tcase_add_test(tc, test_no_retry_on_a_fresh_connection);
    tcase_add_test(tc, test_transport_by_scheme);
    tcase_add_test(tc, test_trailing_bytes_spoil_the_connection);
    tcase_add_test(tc, test_pause_then_resume);
    tcase_add_test(tc, test_failures_come_from_the_loop);
    tcase_add_test(tc, test_cancel_while_connecting);
    tcase_add_test(tc, test_bad_chunk_is_named);
    tcase_add_test(tc, test_mangled_answers_always_complete);
    tcase_add_test(tc, test_redirect_is_named);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
