/*
 * The TCP listener's generated bearer token: kept in STATE_DIR/tcp-token
 * (0600), made on first use, so that loopback TCP is never open to every
 * program and user of the machine by default.  Blocking file calls: run
 * at start-up, before the loop serves, or on a worker thread.
 */
#ifndef CARETI_TCP_TOKEN_H
#define CARETI_TCP_TOKEN_H

#include <stddef.h>

#include "careti/core/cerr.h"

/* Hex digits of a token, without the NUL. */
#define TCP_TOKEN_LEN 64

/* The token file's path in STATE_DIR.  Caller frees; never NULL. */
char *tcp_token_path(const char *state_dir);

/* Read the token from STATE_DIR/tcp-token into OUT (TCP_TOKEN_LEN + 1
 * bytes), making the directory (0700) and the file (0600, random) when
 * missing.  Refuses a file that is not a regular file of ours, is open to
 * group or others, or does not hold a token, naming the fix.  Returns 0
 * or a negative errno with ERR filled. */
int tcp_token_load(const char *state_dir, char *out, struct cerr *err);

#endif
