/*
 * api_control: /careti/v1/health, /status and /reload.  Owns nothing but
 * the small context it registers; holds request ids, never pointers,
 * across the asynchronous reload.
 */
#include <stdlib.h>

#include "careti/api_control.h"
#include "careti/proto.h"
#include "careti/xmalloc.h"

struct control {
    struct daemon *daemon;
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
    http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void
on_status(struct http_request *req, void *arg)
{
    struct control *ctl = arg;
    http_respond_json(req, 200, daemon_status(ctl->daemon));
}

static void
on_metrics(struct http_request *req, void *arg)
{
    struct control *ctl = arg;
    struct sbuf out = {0};
    daemon_metrics(ctl->daemon, &out);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.s, out.len);
    sbuf_free(&out);
}

static void
on_reloaded(struct daemon *d, const struct cerr *err, void *arg)
{
    struct reload_wait *w = arg;
    struct http_request *req = http_server_find_request(w->ctl->srv, w->request_id);
    (void)d;
    if (req != NULL) {
        if (err == NULL)
            http_respond_json(req, 200, json_pack("{s:b}", "reloaded", 1));
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
    daemon_reload(w->ctl->daemon, on_reloaded, w);
}

void
api_control_register(struct router *r, struct daemon *d, struct http_server *srv)
{
    control_ctx.daemon = d;
    control_ctx.srv = srv;
    router_add(r, "GET", CARETI_ROUTE_HEALTH, on_health, &control_ctx);
    router_add(r, "GET", CARETI_ROUTE_STATUS, on_status, &control_ctx);
    router_add(r, "POST", CARETI_ROUTE_RELOAD, on_reload, &control_ctx);
    router_add(r, "GET", "/metrics", on_metrics, &control_ctx);
}
