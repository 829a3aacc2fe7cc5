/*
 * api_control: /careti/v1/health, /status and /reload.  Owns nothing but
 * the small context it registers; holds request ids, never pointers,
 * across the asynchronous reload.
 */
#include <stdlib.h>
#include <time.h>

#include "careti/api/api_control.h"
#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"

struct control {
    const struct control_ops *ops;
    void *self;
    struct http_server *srv;
};

struct reload_wait {
    struct control *ctl;
    uint64_t request_id;
};

static struct control control_ctx;

static void
on_health(struct http_request *req, void *arg)
{
    (void)arg;
    http_respond_json_take(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void
on_status(struct http_request *req, void *arg)
{
    struct control *ctl = arg;
    json_t *status = ctl->ops->status(ctl->self);
    /* The socket is the user's own: the one place the token is told. */
    const char *token = ctl->ops->tcp_token(ctl->self);
    if (!http_request_via_tcp(req) && token != NULL)
        json_object_set_new(status, "tcp_token", json_string(token));
    http_respond_json_take(req, 200, status);
}

static void
on_metrics(struct http_request *req, void *arg)
{
    struct control *ctl = arg;
    struct sbuf out = {0};
    ctl->ops->metrics(ctl->self, &out);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.s, out.len);
    sbuf_free(&out);
}

struct stats_wait {
    struct control *ctl;
    uint64_t request_id;
};

static void
on_stats(json_t *result, const struct cerr *err, void *arg)
{
    struct stats_wait *w = arg;
    struct http_request *req = http_server_find_request(w->ctl->srv, w->request_id);
    if (req != NULL && err != NULL)
        router_respond_error(req, err->http_status ? err->http_status : 500, "%s", err->msg);
    else if (req != NULL)
        http_respond_json_take(req, 200, json_incref(result));
    json_decref(result);
    free(w);
}

/* "90s", "15m", "2h", "7d" or plain seconds; -1 when not one. */
static long long
parse_duration(const char *s)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0)
        return -1;
    static const struct {
        char unit;
        long long seconds;
    } units[] = {{'\0', 1}, {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    /* Past a century the answer is "all of it": bound it before the
     * multiplication can overflow. */
    const long long century = 100LL * 366 * 86400;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (end[0] == units[i].unit && (end[0] == '\0' || end[1] == '\0'))
            return n > century / units[i].seconds ? century : n * units[i].seconds;
    return -1;
}

static void
on_stats_route(struct http_request *req, void *arg)
{
    struct control *ctl = arg;
    char since[32] = "24h";
    http_request_query_param(req, "since", since, sizeof since);
    long long seconds = parse_duration(since);
    if (seconds < 0) {
        router_respond_error(req, 400, "since must be a duration such as 90s, 15m, 2h or 7d");
        return;
    }
    struct stats_wait *w = xmalloc(sizeof *w);
    w->ctl = ctl;
    w->request_id = http_request_id(req);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ctl->ops->request_stats(ctl->self, (int64_t)(now.tv_sec - seconds) * 1000, on_stats, w);
}

static void
on_reloaded(const struct cerr *err, void *arg)
{
    struct reload_wait *w = arg;
    struct http_request *req = http_server_find_request(w->ctl->srv, w->request_id);
    if (req != NULL) {
        if (err == NULL)
            http_respond_json_take(req, 200, json_pack("{s:b}", "reloaded", 1));
        else
            router_respond_error(req, 422, "reload failed: %s", err->msg);
    }
    free(w);
}

static void
on_reload(struct http_request *req, void *arg)
{
    struct reload_wait *w = xmalloc(sizeof *w);
    w->ctl = arg;
    w->request_id = http_request_id(req);
    w->ctl->ops->reload(w->ctl->self, on_reloaded, w);
}

void
api_control_register(struct router *r, const struct control_ops *ops, void *self,
                     struct http_server *srv)
{
    control_ctx.ops = ops;
    control_ctx.self = self;
    control_ctx.srv = srv;
    router_add(r, "GET", CARETI_ROUTE_HEALTH, on_health, &control_ctx);
    router_add(r, "GET", CARETI_ROUTE_STATUS, on_status, &control_ctx);
    router_add(r, "POST", CARETI_ROUTE_RELOAD, on_reload, &control_ctx);
    router_add(r, "GET", "/metrics", on_metrics, &control_ctx);
    router_add(r, "GET", "/careti/v1/stats", on_stats_route, &control_ctx);
}
