/*
 * libFuzzer harness for src/http_server.c: the input is what a client
 * sends, split into writes at each 0xff byte, over a socketpair to a real
 * server on a real loop.  A handler answers every request (streamed when
 * the path says so).  Everything is closed and freed at the end.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "careti/http_server.h"
#include "careti/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *
error_body(const char *path, int status, const char *message)
{
    return json_pack("{s:s, s:i, s:s}", "path", path, "status", status, "error", message);
}

static void
handler(struct http_request *req, void *arg)
{
    (void)arg;
    size_t len;
    http_request_body(req, &len);
    if (strstr(http_request_path(req), "stream") != NULL) {
        http_response_start(req, 200, "text/plain", NULL);
        http_response_write(req, "a", 1);
        http_response_end(req);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:I}", "len", (json_int_t)len));
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
