/*
 * The runtime directory around the socket: created 0700, checked to be
 * ours, and the single-instance locks beside the socket and in the state
 * directory.  Runs at start-up,
 * before the loop, so its blocking file calls are fine.
 */
#ifndef CARETI_RUNDIR_H
#define CARETI_RUNDIR_H

#include "careti/core/cerr.h"

/* Make DIR and its missing parents with mode 0700.  Returns 0 or a
 * negative errno with ERR filled.  Blocking: call before the loop runs or
 * from a worker thread. */
int rundir_mkdirs(const char *dir, struct cerr *err);

/* Make SOCKET_PATH's directory (and parents) with mode 0700 if missing;
 * refuse one that is not ours or is open to group/others, and a path
 * another user could redirect: through a symlink not owned by us or
 * root, or below a directory owned by another user or writable by others
 * without the sticky bit.  Returns 0 or a negative errno with ERR naming
 * the path, the culprit and the fix. */
int rundir_prepare(const char *socket_path, struct cerr *err);

/*
 * Take the exclusive lock "SOCKET_PATH.lock" for the daemon's life and
 * record our pid in it.  The kernel drops the lock if we die, so a
 * crashed daemon never blocks the next.  Returns the lock fd (keep it
 * open; close it to release), or a negative errno with ERR naming the
 * running daemon's pid when another holds it (-EWOULDBLOCK).
 */
int rundir_lock(const char *socket_path, struct cerr *err);

/*
 * Take the exclusive lock "STATE_DIR/caretid.lock" (making STATE_DIR 0700
 * if missing) for the daemon's life and record our pid and SOCKET_PATH in
 * it, so that two daemons on different sockets never share one sessions
 * database.  Returns the lock fd, or a negative errno with ERR naming the
 * holder's pid and socket, STATE_DIR and the fix (daemon.state_dir in
 * CONFIG_PATH, which may be NULL) when another holds it (-EWOULDBLOCK).
 */
int rundir_lock_state(const char *state_dir, const char *socket_path, const char *config_path,
                      struct cerr *err);

#endif
