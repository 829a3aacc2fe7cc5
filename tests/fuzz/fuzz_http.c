/*
 * libFuzzer harness for src/http/http_server.c: the input is what a client
 * sends, split into writes at each 0xff byte, over a socketpair to a real
 * server on a real loop.  The client never reads, so answers pile up as
 * they do for a slow reader: paths with "big" are answered with 3 MiB at
 * once, "flood" streams past the slow-reader limit ignoring backpressure,
 * "drain" streams until told to stop and ends on drain; "stream" is one
 * small chunk; the rest get a small JSON answer.  Everything is closed
 * and freed at the end.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "careti/core/xmalloc.h"
#include "careti/http/http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *
error_body(const char *path, int status, const char *message)
{
    return json_pack("{s:s, s:i, s:s}", "path", path, "status", status, "error", message);
}

static char chunk[1024 * 1024];

static void
on_drain(struct http_request *req, void *arg)
{
    (void)arg;
    http_response_end(req);
}

static void
handler(struct http_request *req, void *arg)
{
    (void)arg;
    size_t len;
    http_request_body(req, &len);
    const char *path = http_request_path(req);
    if (strstr(path, "big") != NULL) {
        static char big[3 * 1024 * 1024];
        http_respond(req, 200, "text/plain", NULL, big, sizeof big);
        return;
    }
    if (strstr(path, "flood") != NULL) {
        http_response_start(req, 200, "text/plain", NULL);
        for (int i = 0; i < 20; i++)
            if (http_response_write(req, chunk, sizeof chunk) != 0)
                break;
        /* The request is still ours: the loop closes the client later. */
        http_response_end(req);
        return;
    }
    if (strstr(path, "drain") != NULL) {
        http_response_start(req, 200, "text/plain", NULL);
        while (http_response_writable(req))
            http_response_write(req, chunk, 64 * 1024);
        http_request_on_drain(req, on_drain, NULL);
        return;
    }
    if (strstr(path, "stream") != NULL) {
        http_response_start(req, 200, "text/plain", NULL);
        http_response_write(req, "a", 1);
        http_response_end(req);
        return;
    }
    http_respond_json_take(req, 200, json_pack("{s:I}", "len", (json_int_t)len));
}

static void
on_closed(struct http_server *s, void *arg)
{
    (void)s;
    (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    /* The server may close on a bad request while input is still being
     * written, as it does in the daemon, which ignores SIGPIPE too. */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    uv_loop_init(&loop);
    struct http_server *srv = http_server_new(&loop, handler, NULL, error_body);
    struct http_server_limits limits = {4096, 100, 100, 16};
    http_server_set_limits(srv, &limits);
    http_server_serve_fd(srv, sv[0]);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0xff) {
            if (i > start && write(sv[1], data + start, i - start) < 0)
                break;
            uv_run(&loop, UV_RUN_NOWAIT);
            start = i + 1;
        }
    }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    close(sv[1]);
    http_server_shutdown(srv, on_closed, NULL);
    http_server_close_all(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    http_server_free(srv);
    return 0;
}
