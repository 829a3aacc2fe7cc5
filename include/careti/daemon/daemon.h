/*
 * The daemon's life: configuration, listeners, signals, reload and
 * shutdown, wired around one libuv loop.  The routes of every later module
 * are registered here.
 */
#ifndef CARETI_DAEMON_H
#define CARETI_DAEMON_H

#include <stdbool.h>

#include <jansson.h>

#include "careti/config/config.h"
#include "careti/core/cerr.h"
#include "careti/core/sbuf.h"
#include "careti/store/session_store.h"

struct daemon;

struct daemon_options {
    const char *config_path;     /* resolved config file; NULL for built-in defaults */
    const char *socket_override; /* --socket or $CARETI_SOCKET; NULL for the config's */
    int verbosity;               /* number of -v flags */
    bool tcp_optional;           /* --tcp-optional: a TCP listener that fails is a warning */
};

/* Run the daemon until SIGTERM/SIGINT.  Takes ownership of CFG (already
 * loaded and validated).  Returns the process exit code. */
int daemon_run_take(const struct daemon_options *opts, struct config *cfg);

#endif
