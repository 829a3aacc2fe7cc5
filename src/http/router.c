/*
 * router: a table of (method, path pattern, handler) rows and the error
 * shapes of the three dialects.  Owns the table; handlers own their
 * requests once dispatched.  Must never block or hold a request itself.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "careti/core/xmalloc.h"
#include "careti/http/router.h"

struct route {
    char *method;
    char *path;
    route_handler_cb fn;
    void *arg;
};

struct router {
    struct route *routes;
    size_t n_routes;
};

struct router *
router_new(void)
{
    return xcalloc(1, sizeof(struct router));
}

void
router_free(struct router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_routes; i++) {
        free(r->routes[i].method);
        free(r->routes[i].path);
    }
    free(r->routes);
    free(r);
}

void
router_add(struct router *r, const char *method, const char *path, route_handler_cb fn, void *arg)
{
    r->routes = xrealloc(r->routes, (r->n_routes + 1) * sizeof *r->routes);
    r->routes[r->n_routes] = (struct route){xstrdup(method), xstrdup(path), fn, arg};
    r->n_routes++;
}

/* Segment-wise match: "*" takes one non-empty segment. */
static bool
path_matches(const char *pattern, const char *path)
{
    while (*pattern != '\0' && *path != '\0') {
        if (pattern[0] == '*' && (pattern[1] == '/' || pattern[1] == '\0')) {
            const char *end = strchr(path, '/');
            size_t seg = end ? (size_t)(end - path) : strlen(path);
            if (seg == 0)
                return false;
            path += seg;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

static bool
method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* A JSON media type: application/json or application/<x>+json, with
 * any parameters. */
static bool
media_type_is_json(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* Over TCP a request that carries a body, or says what its body is, must
 * say JSON: the other types are those a web page may send without a CORS
 * preflight, so refusing them closes that door whatever the browser.
 * The Unix socket is out of a browser's reach and takes curl's -d as it
 * is. */
static bool
content_type_refused(struct http_request *req)
{
    const char *method = http_request_method(req);
    if (!http_request_via_tcp(req) || strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return false;
    const char *ct = http_request_header(req, "Content-Type");
    size_t len;
    http_request_body(req, &len);
    if (ct == NULL ? len == 0 : media_type_is_json(ct))
        return false;
    router_respond_error(req, 415,
                         "%s %s needs Content-Type: application/json, not %s (curl: use --json, "
                         "or -H 'Content-Type: application/json')",
                         method, http_request_path(req), ct != NULL ? ct : "none");
    return true;
}

void
router_dispatch(struct http_request *req, void *arg)
{
    struct router *r = arg;
    const char *path = http_request_path(req);
    const char *method = http_request_method(req);
    char allow[128] = "";
    size_t allow_len = 0;

    for (size_t i = 0; i < r->n_routes; i++) {
        struct route *rt = &r->routes[i];
        if (!path_matches(rt->path, path))
            continue;
        if (method_matches(rt->method, method)) {
            if (!content_type_refused(req))
                rt->fn(req, rt->arg);
            return;
        }
        int n = snprintf(allow + allow_len, sizeof allow - allow_len, "%s%s",
                         allow_len ? ", " : "", rt->method);
        if (n > 0 && (size_t)n < sizeof allow - allow_len)
            allow_len += (size_t)n;
    }
    if (allow_len > 0) {
        char headers[160];
        char msg[200];
        snprintf(headers, sizeof headers, "Allow: %s\r\n", allow);
        snprintf(msg, sizeof msg, "method %s is not allowed on %s; use %s", method, path, allow);
        http_respond_json_with_take(req, 405, headers, router_error_body(path, 405, msg));
        return;
    }
    router_respond_error(req, 404, "no route for %s %s; see docs/API.md for the routes", method,
                         path);
}

enum dialect
router_dialect(const char *path)
{
    if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 || strcmp(path, "/") == 0)
        return DIALECT_OLLAMA;
    if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0)
        return DIALECT_OPENAI;
    return DIALECT_CARETI;
}

/* OpenAI's error "type" for a status, as its clients switch on it. */
static const char *
openai_error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 409:
        return "conflict_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json_t *
router_error_body(const char *path, int status, const char *raw_message)
{
    /* Messages quote what clients and servers sent; JSON strings must be
     * UTF-8, so every error body, whoever builds it, is made so here. */
    char message[2048];
    snprintf(message, sizeof message, "%s", raw_message);
    cerr_make_utf8(message);
    switch (router_dialect(path)) {
    case DIALECT_OLLAMA:
        return json_pack("{s:s}", "error", message);
    case DIALECT_OPENAI:
        return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", message, "type",
                         openai_error_type(status), "param", "code");
    case DIALECT_CARETI:
        return json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message, "type",
                         openai_error_type(status), "status", status);
    }
    return NULL;
}

void
router_respond_error(struct http_request *req, int status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_respond_json_take(req, status, router_error_body(http_request_path(req), status, msg));
}
