/*
 * undo: putting back the files an agent session changed, from what each
 * change stored (the file before, or its absence).  Refuses, naming the
 * file, when a file is no longer what the agent wrote: an edit made since
 * is never lost.  The disk work runs on the thread pool.
 */
#ifndef CARETI_UNDO_H
#define CARETI_UNDO_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "careti/core/cerr.h"
#include "careti/store/session_store.h"

/* Done: RESULT {"undone": [{change, path, action}]} (a new reference), or
 * ERR (404 nothing to undo, 409 a file changed since, 400 no workspace). */
typedef void (*undo_cb)(json_t *result, const struct cerr *err, void *arg);

/* Undo the last change of session SESSION_ID (a full id) whose workspace
 * is WORKSPACE, or, FROM_SEQ > 0, every change stored at a message seq
 * >= FROM_SEQ, newest first.  CB runs once, on LOOP. */
void agent_undo(uv_loop_t *loop, struct store *store, const char *session_id,
                const char *workspace, int64_t from_seq, undo_cb cb, void *arg);

#endif
