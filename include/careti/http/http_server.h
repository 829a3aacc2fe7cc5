/*
 * HTTP/1.1 server on Unix and TCP listeners, driven by one libuv loop.
 * It owns listeners, connections and the request/response framing; it
 * knows nothing of routes or dialects: a handler callback gets each
 * complete request, and an error-body callback words the server's own
 * errors (400, 401, 408, 413, 431) in the dialect the path implies.
 */
#ifndef CARETI_HTTP_SERVER_H
#define CARETI_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "careti/core/cerr.h"

struct http_server;
struct http_listener;
struct http_request;

/* A complete request arrived.  The handler must eventually end the
 * response (http_respond*, or http_response_start ... _end) unless the
 * request is aborted first.  Called from the loop, never re-entrantly. */
typedef void (*http_handler_cb)(struct http_request *req, void *arg);

/* Build the JSON body for an error the server raises before routing, in
 * the dialect PATH implies.  Returns a new reference. */
typedef json_t *(*http_error_body_cb)(const char *path, int status, const char *message);

/* The client went away, or the server is closing, before the response
 * ended.  After this returns the request pointer is invalid. */
typedef void (*http_abort_cb)(struct http_request *req, void *arg);

/* Queued output fell below the low-water mark; more may be written. */
typedef void (*http_drain_cb)(struct http_request *req, void *arg);

/* Every connection is closed after http_server_shutdown(). */
typedef void (*http_server_closed_cb)(struct http_server *srv, void *arg);

struct http_server_limits {
    uint64_t max_body_bytes;
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
    size_t max_connections;
};

/* Create a server on LOOP.  HANDLER gets every request with ARG; ERROR_BODY
 * words server errors.  Never NULL; free with http_server_free() after
 * http_server_shutdown() has called back. */
struct http_server *http_server_new(uv_loop_t *loop, http_handler_cb handler, void *arg,
                                    http_error_body_cb error_body);

/* Replace the limits; applies to requests that start afterwards. */
void http_server_set_limits(struct http_server *srv, const struct http_server_limits *limits);

/* What TCP requests must satisfy (the Unix socket is the user's own and
 * needs none of it): a Host that is an IP address, localhost or one of
 * ALLOWED_HOSTS; no browser origin but ALLOWED_ORIGINS; and, when TOKEN
 * is neither NULL nor "", "Authorization: Bearer TOKEN". */
struct http_tcp_policy {
    const char *token;
    char *const *allowed_hosts;
    size_t n_allowed_hosts;
    char *const *allowed_origins;
    size_t n_allowed_origins;
};

/* Replace the TCP policy; everything is copied, and the token never
 * logged. */
void http_server_set_tcp_policy(struct http_server *srv, const struct http_tcp_policy *policy);

/* Bind PATH (mode 0600, bound under umask 077) and listen.  The caller
 * has made the directory and holds the single-instance lock, so an
 * existing file at PATH is stale and replaced.  Returns 0 or a negative
 * error with ERR filled. */
int http_server_listen_unix(struct http_server *srv, const char *path, struct cerr *err);

/* Serve on an inherited listening Unix socket FD (socket activation);
 * PATH is its name, for status.  Returns 0 or a negative error. */
int http_server_adopt_unix(struct http_server *srv, int fd, const char *path, struct cerr *err);

/* Listen on TCP HOST:PORT (PORT 0 picks a free one).  Returns 0 with
 * *OUT (may be NULL) set to the listener, which the server owns until
 * http_server_close_listener or http_server_free; or a negative error
 * with ERR filled. */
int http_server_listen_tcp(struct http_server *srv, const char *host, int port,
                           struct http_listener **out, struct cerr *err);

/* Serve one already-connected stream socket FD as a trusted local
 * connection (tests and fuzzing drive the server through a socketpair).
 * Returns 0 or a negative error. */
int http_server_serve_fd(struct http_server *srv, int fd);

/* Stop listening on L (from http_server_listen_tcp); its connections
 * stay.  NULL is allowed. */
void http_server_close_listener(struct http_listener *l);

/* Stop accepting, close idle connections, let in-flight responses end;
 * calls DONE once every connection is gone.  Call once. */
void http_server_shutdown(struct http_server *srv, http_server_closed_cb done, void *arg);

/* Close every connection now, aborting in-flight requests. */
void http_server_close_all(struct http_server *srv);

/* Free SRV once its handles are closed (after the shutdown callback and
 * a loop run); NULL is allowed.  Unlinks Unix socket paths it created. */
void http_server_free(struct http_server *srv);

/* A new JSON array describing the listeners ({"type":"unix","path":...}
 * or {"type":"tcp","address":"127.0.0.1:11435"}). */
json_t *http_server_listeners_json(const struct http_server *srv);
size_t http_server_open_connections(const struct http_server *srv);
uint64_t http_server_requests_served(const struct http_server *srv);

/* Request accessors: borrowed strings valid until the response ends or
 * the request is aborted. */
const char *http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req); /* without the query */
const char *http_request_query(const struct http_request *req); /* "" when none */
/* The query parameter NAME, percent-decoded into OUT (OUTLEN bytes, cut
 * to fit); false when absent. */
bool http_request_query_param(const struct http_request *req, const char *name, char *out,
                              size_t outlen);
/* Header value by case-insensitive NAME; NULL when absent. */
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_body(const struct http_request *req, size_t *len);
bool http_request_via_tcp(const struct http_request *req);
/* Monotonic id; stays unique for the server's life, for async lookups. */
uint64_t http_request_id(const struct http_request *req);
/* The process that connected, for a Unix socket client (its pid when it
 * connected); 0 over TCP. */
pid_t http_request_peer_pid(const struct http_request *req);
/* The request with this id if it is still in progress, else NULL. */
struct http_request *http_server_find_request(struct http_server *srv, uint64_t id);

/* Be told when the request is aborted (client gone, shutdown). */
void http_request_on_abort(struct http_request *req, http_abort_cb cb, void *arg);

/* Send a whole response and end the request.  CONTENT_TYPE may be NULL
 * for an empty body.  EXTRA_HEADERS (may be NULL) are complete
 * "Name: value\r\n" lines. */
void http_respond(struct http_request *req, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len);
/* Send BODY (stolen) as application/json and end the request. */
void http_respond_json_take(struct http_request *req, int status, json_t *body);
/* The same with EXTRA_HEADERS (complete lines; may be NULL). */
void http_respond_json_with_take(struct http_request *req, int status,
                                 const char *extra_headers, json_t *body);

/* Start a chunked response.  Returns 0, or a negative error if the
 * connection is already gone. */
int http_response_start(struct http_request *req, int status, const char *content_type,
                        const char *extra_headers);
/* Queue one chunk (copied).  Returns 0; UV_ENOBUFS when the client has
 * stopped reading past the hard limit: the write is dropped and the loop
 * closes the connection and runs the abort callback later, never from
 * inside this call, so REQ stays valid until the caller returns. */
int http_response_write(struct http_request *req, const void *data, size_t len);
/* True while queued output is under the high-water mark. */
bool http_response_writable(const struct http_request *req);
/* Be told once queued output drops below the low-water mark. */
void http_request_on_drain(struct http_request *req, http_drain_cb cb, void *arg);
/* Send the last chunk and end the request. */
void http_response_end(struct http_request *req);

/* Reason phrase for STATUS ("Not Found"). */
const char *http_status_text(int status);

#endif
