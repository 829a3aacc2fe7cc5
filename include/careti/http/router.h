/*
 * Routing of requests to handlers by method and path, and the error
 * bodies of each client dialect.  The router owns its route table; it
 * never does I/O of its own beyond answering 404/405.
 */
#ifndef CARETI_ROUTER_H
#define CARETI_ROUTER_H

#include <jansson.h>

#include "careti/http/http_server.h"

struct router;

/* Which error shape a client expects, from the path it called. */
enum dialect {
    DIALECT_CARETI, /* /careti/...: {"error":{"message","type","status"}} */
    DIALECT_OPENAI, /* /v1/...: {"error":{"message","type","param","code"}} */
    DIALECT_OLLAMA, /* /api/... and /: {"error":"message"} */
};

typedef void (*route_handler_cb)(struct http_request *req, void *arg);

/* A new, empty router; free with router_free(). */
struct router *router_new(void);
/* Free R; NULL is allowed. */
void router_free(struct router *r);

/* Route METHOD PATH to FN(req, ARG).  PATH is literal except that a
 * segment "*" matches any one segment.  GET routes also answer HEAD. */
void router_add(struct router *r, const char *method, const char *path, route_handler_cb fn,
                void *arg);

/* The http_server handler: dispatch REQ (ARG is the router), answering
 * 404 or 405 (with Allow) in the path's dialect when nothing matches. */
void router_dispatch(struct http_request *req, void *arg);

enum dialect router_dialect(const char *path);

/* The http_server error-body callback: a new JSON error for PATH's dialect. */
json_t *router_error_body(const char *path, int status, const char *message);

/* Answer REQ with STATUS and a formatted message in its dialect. */
void router_respond_error(struct http_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
