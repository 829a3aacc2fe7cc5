/*
 * The two systemd protocols caretid speaks without libsystemd: socket
 * activation (LISTEN_FDS/LISTEN_PID) and readiness notification
 * (NOTIFY_SOCKET).  Both are no-ops outside systemd.
 */
#ifndef CARETI_SYSTEMD_H
#define CARETI_SYSTEMD_H

#include <stddef.h>

#include "careti/core/cerr.h"

/*
 * Take the socket systemd passed us.  Returns 0 with *FD = -1 when not
 * socket-activated; 0 with *FD and PATH (PATHLEN bytes) set for exactly
 * one listening Unix stream socket; a negative error with ERR filled when
 * the inherited fds are not that.  Clears LISTEN_* from the environment
 * so children do not inherit them.
 */
int systemd_listen_fd(int *fd, char *path, size_t pathlen, struct cerr *err);

/* Send STATE ("READY=1", ...) to $NOTIFY_SOCKET if set.  Returns 0, or a
 * negative errno; never blocks (datagram to a local socket). */
int systemd_notify(const char *state);

#endif
