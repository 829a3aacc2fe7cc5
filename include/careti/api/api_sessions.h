/*
 * Agent sessions over the socket API: /careti/v1/sessions... and
 * /careti/v1/events (see docs/API.md).  A session's turn streams SSE
 * events delta, thinking, usage, truncated, error and done.
 */
#ifndef CARETI_API_SESSIONS_H
#define CARETI_API_SESSIONS_H

#include "careti/api/events.h"
#include "careti/config/config.h"
#include "careti/http/http_server.h"
#include "careti/http/router.h"
#include "careti/models/lookup.h"
#include "careti/models/metrics.h"
#include "careti/models/provider.h"
#include "careti/store/session_store.h"
#include "careti/upstream/upstream.h"

struct sessions_api;

/* The routes' state; every argument must outlive it.  Never NULL. */
struct sessions_api *sessions_api_new(uv_loop_t *loop, struct http_server *srv,
                                      struct store *store, struct lookup *lookup,
                                      struct events *events, struct upstream *up,
                                      struct providers *providers, struct metrics *metrics);
/* The config in force (borrowed; call again after every reload). */
void sessions_api_set_config(struct sessions_api *api, const struct config *cfg);
void sessions_api_register(struct sessions_api *api, struct router *r);
/* Shutdown begins: refuse new turns, end event streams; turns running go on. */
void sessions_api_stop(struct sessions_api *api);
/* Cancel the turns still running, storing their replies as interrupted;
 * each ends (done goes to its client) from the loop, soon after. */
void sessions_api_abort_turns(struct sessions_api *api);
/* Call CB(ARG) once no turn is running: at once if none is, else when
 * the last one has ended.  One waiter at a time. */
void sessions_api_when_idle(struct sessions_api *api, void (*cb)(void *arg), void *arg);
/* Free API once its turns are gone; NULL is allowed. */
void sessions_api_free(struct sessions_api *api);

#endif
