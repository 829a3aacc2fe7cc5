/*
 * Path expansion and the daemon's default locations, shared by caretid and
 * caretictl so both agree on where the socket lives.  Pure apart from
 * reading the environment and the password database.
 */
#ifndef CARETI_PATH_H
#define CARETI_PATH_H

#include "careti/core/cerr.h"

/*
 * Expand a leading "~" and every "${VAR}" in IN.  XDG base directories
 * fall back to their specified defaults when unset; a path that starts
 * with "${XDG_RUNTIME_DIR}/careti" falls back to "/tmp/careti-UID", the
 * same directory as the default socket.  Any other unset variable is an
 * error naming it.  Returns a new string the caller frees, or NULL with
 * ERR filled (ERR may be NULL).
 */
char *path_expand(const char *in, struct cerr *err);

/* The default socket path ($XDG_RUNTIME_DIR/careti/caretid.sock, else
 * /tmp/careti-UID/caretid.sock).  Caller frees; never NULL. */
char *path_default_socket(void);

/* The directory part of PATH ("." when it has none).  Caller frees. */
char *path_dirname(const char *path);

#endif
