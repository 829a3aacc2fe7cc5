/*
 * The daemon's life: configuration, listeners, signals, reload and
 * shutdown, wired around one libuv loop.  The routes of every later module
 * are registered here.
 */
#ifndef CARETI_DAEMON_H
#define CARETI_DAEMON_H

#include <stdbool.h>

#include <jansson.h>

#include "careti/cerr.h"
#include "careti/config.h"
#include "careti/sbuf.h"
#include "careti/session_store.h"

struct daemon;

struct daemon_options {
    const char *config_path;     /* resolved config file; NULL for built-in defaults */
    const char *socket_override; /* --socket or $CARETI_SOCKET; NULL for the config's */
    int verbosity;               /* number of -v flags */
    bool tcp_optional;           /* --tcp-optional: a TCP listener that fails is a warning */
};

/* Run the daemon until SIGTERM/SIGINT.  Takes ownership of CFG (already
 * loaded and validated).  Returns the process exit code. */
int daemon_run(const struct daemon_options *opts, struct config *cfg);

/* Append the Prometheus text exposition of the daemon's metrics to OUT. */
void daemon_metrics(struct daemon *d, struct sbuf *out);

/* Request statistics since SINCE_MS (epoch ms), from the request log;
 * records still waiting for their flush are written first. */
void daemon_request_stats(struct daemon *d, int64_t since_ms, store_cb cb, void *arg);

/* The bearer token TCP requests need, or NULL when daemon.auth_token is
 * off.  Borrowed: valid until the next reload. */
const char *daemon_tcp_token(const struct daemon *d);

/* A new JSON object describing the running daemon (GET /careti/v1/status). */
json_t *daemon_status(struct daemon *d);

/* Reload finished: ERR is NULL on success.  Called on the loop thread. */
typedef void (*daemon_reload_cb)(struct daemon *d, const struct cerr *err, void *arg);

/* Re-read the config off the loop and swap it in whole if valid; an
 * invalid file leaves the old config in force.  CB (may be NULL) is
 * called once the outcome is known. */
void daemon_reload(struct daemon *d, daemon_reload_cb cb, void *arg);

#endif
