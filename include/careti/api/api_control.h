/*
 * The daemon's own routes: /careti/v1/health, /status, /reload, /stats
 * and /metrics.  What they report comes from the daemon through a table
 * of operations it fills in, so this room never reaches up into it.
 */
#ifndef CARETI_API_CONTROL_H
#define CARETI_API_CONTROL_H

#include <stdint.h>

#include <jansson.h>

#include "careti/core/cerr.h"
#include "careti/core/sbuf.h"
#include "careti/http/http_server.h"
#include "careti/http/router.h"
#include "careti/store/session_store.h"

/* A reload's outcome: ERR is NULL on success.  Called on the loop thread. */
typedef void (*control_reload_cb)(const struct cerr *err, void *arg);

/* What the control routes ask of the daemon (SELF).  All are called on
 * the loop thread and none blocks. */
struct control_ops {
    /* A new JSON object describing the running daemon. */
    json_t *(*status)(void *self);
    /* The bearer token TCP requests need, or NULL when there is none;
     * borrowed until the next reload. */
    const char *(*tcp_token)(void *self);
    /* Append the Prometheus text exposition of the metrics to OUT. */
    void (*metrics)(void *self, struct sbuf *out);
    /* Request statistics since SINCE_MS (epoch ms), through CB. */
    void (*request_stats)(void *self, int64_t since_ms, store_cb cb, void *arg);
    /* Re-read the configuration; CB (may be NULL) gets the outcome. */
    void (*reload)(void *self, control_reload_cb cb, void *arg);
};

/* Add the control routes to R; handlers call OPS with SELF and look
 * requests up in SRV after async hops.  OPS, SELF and SRV must outlive R. */
void api_control_register(struct router *r, const struct control_ops *ops, void *self,
                          struct http_server *srv);

#endif
