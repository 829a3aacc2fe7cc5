/*
 * Durable agent state in SQLite: sessions and their messages, with
 * full-text search.  Every operation runs on libuv's thread pool, one at
 * a time in submission order, so the loop never waits on the disk and
 * SQLite is only ever used by one thread at once.  Inputs are copied at
 * submission; results come back as new JSON values on the loop thread.
 */
#ifndef CARETI_SESSION_STORE_H
#define CARETI_SESSION_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "careti/core/cerr.h"

/* The schema version this build writes; older databases are migrated. */
#define STORE_SCHEMA_VERSION 4

struct store;

/* An operation finished: RESULT is a new reference the callback may keep
 * (NULL on error), ERR is NULL on success.  Runs on the loop thread. */
typedef void (*store_cb)(json_t *result, const struct cerr *err, void *arg);

/* A store on LOOP; nothing is opened yet.  Never NULL. */
struct store *store_new(uv_loop_t *loop);

/* Open (creating the directory 0700 and the database) STATE_DIR/careti.db,
 * run PRAGMA quick_check, migrate it, and mark replies left streaming by
 * a crash as interrupted.  RESULT: {"path","schema_version","recovered",
 * "quick_check"}.  On failure the store
 * stays unusable and every later call fails with the same message. */
void store_open(struct store *st, const char *state_dir, store_cb cb, void *arg);

/* Whether the store is usable: opened, whole by PRAGMA quick_check,
 * writable, and its database still the file at its path (checked once a
 * second, and before every write).  Whether it is not and will not be
 * until a restart (false while it is still opening); the reason, with
 * the fix, when it is not ("agent state: WHAT; FIX").  Once unusable,
 * every operation fails with that reason: nothing is reported saved
 * that is not on disk. */
bool store_ready(const struct store *st);
bool store_failed(const struct store *st);
const char *store_error(const struct store *st);
/* The words for a failed operation's ERR: once the store is unusable,
 * its whole reason and fix (which ERR may have had to cut), else ERR's
 * message.  Borrowed. */
const char *store_error_text(const struct store *st, const struct cerr *err);

/* The database's path once store_open has run, else NULL. */
const char *store_path(const struct store *st);

/* Finish queued work, close the database, then call CB (may be NULL)
 * and free ST. */
void store_close(struct store *st, void (*cb)(void *arg), void *arg);

/* Create a session from FIELDS {title?, model?, provider?, workspace?,
 * settings?, mode?}.  RESULT: the session. */
void store_create_session(struct store *st, const json_t *fields, store_cb cb, void *arg);

/* Sessions newest first; with Q, those whose messages match Q (full-text),
 * each with a "match" snippet.  RESULT: {"sessions":[...]} */
void store_list_sessions(struct store *st, const char *q, int limit, store_cb cb, void *arg);

/* The session whose id starts with PREFIX (unique), with its messages in
 * order when WITH_MESSAGES.  404 when none, 400 when ambiguous. */
void store_get_session(struct store *st, const char *prefix, bool with_messages, store_cb cb,
                       void *arg);

/* Change title, model, provider, workspace or settings of session ID
 * (a full id).  RESULT: the session. */
void store_update_session(struct store *st, const char *id, const json_t *patch, store_cb cb,
                          void *arg);

/* Delete session ID and its messages.  RESULT: {"deleted": ID}. */
void store_delete_session(struct store *st, const char *id, store_cb cb, void *arg);

/* Append MSG {role, content, thinking?, tool_calls?, tool_call_id?, model?,
 * provider?, status?, tokens?, agent?} to session ID, committed before the
 * callback runs.  RESULT: the stored message with "id" and "seq". */
void store_add_message(struct store *st, const char *id, const json_t *msg, store_cb cb,
                       void *arg);

/* Update message MSG_ID with FIELDS {content?, thinking?, tool_calls?,
 * status?, error?, prompt_tokens?, completion_tokens?, ttft_ms?,
 * tokens_per_s?, load_ms?, tokens?, model?, provider?}; a status of
 * "complete" adds the usage to the session's totals.  RESULT: {"id"}. */
void store_update_message(struct store *st, int64_t msg_id, const json_t *fields, store_cb cb,
                          void *arg);

/* A file the agent changed: what undo needs to put it back. */
struct store_change {
    int64_t id; /* set when read back */
    char *path; /* workspace-relative */
    bool existed;
    char *before; /* EXISTED: BEFORE_LEN bytes (NUL-terminated when read back) */
    size_t before_len;
    unsigned before_mode;
    char *after; /* what the agent wrote */
    size_t after_len;
    char *diff; /* unified */
    size_t added, removed;
};

/* Free N changes and their array; NULL is fine. */
void store_changes_free(struct store_change *c, size_t n);

/* store_add_message, and CHANGE (may be NULL; copied) in the same
 * transaction: the message's agent.change becomes the change's id. */
void store_add_message_change(struct store *st, const char *id, const json_t *msg,
                              const struct store_change *change, store_cb cb, void *arg);

/* Several writes of an agent's step in one transaction: WRITES is
 * {"update": [{"id": message id, "fields": {as store_update_message}}],
 * "add": [message, ...]} (either may be absent), CHANGE (may be NULL;
 * copied) going with the first message added.  RESULT: {"added": [the
 * stored messages]}. */
void store_write_step(struct store *st, const char *id, const json_t *writes,
                      const struct store_change *change, store_cb cb, void *arg);

/* Session ID's changes, oldest first, without their contents.
 * RESULT: {"changes":[{id, seq, path, existed, added, removed, diff,
 * undone, message_id}]} */
void store_list_changes(struct store *st, const char *id, store_cb cb, void *arg);

/* Changes not undone of session ID (a full id), newest first, with their
 * contents: the last one when FROM_SEQ is 0, else those stored at a
 * message seq >= FROM_SEQ.  CB takes the array (free with
 * store_changes_free); NULL and 0 on error. */
typedef void (*store_changes_cb)(struct store_change *changes, size_t n, const struct cerr *err,
                                 void *arg);
void store_get_changes(struct store *st, const char *id, int64_t from_seq, store_changes_cb cb,
                       void *arg);

/* Mark the changes whose ids are in the JSON array CHANGE_IDS undone, in
 * one transaction.  RESULT: {"undone": n}. */
void store_mark_undone(struct store *st, const json_t *change_ids, store_cb cb, void *arg);

/* The wall clock the store's rows are stamped with, in epoch ms. */
int64_t store_now_ms(void);

/* One finished model request, for the request log behind stats.  A
 * plain record, not JSON: one is made for every request served. */
struct store_request {
    int64_t at_ms;          /* epoch ms */
    char *names;            /* owned: "provider\0model\0error_kind\0" */
    const char *provider;   /* these three point into NAMES */
    const char *model;
    const char *error_kind; /* NULL on success */
    int status;
    int64_t ttft_ms;        /* < 0 when no token came */
    double tokens_per_s;    /* < 0 when unknown */
    long prompt_tokens;     /* < 0 when unknown */
    long completion_tokens; /* < 0 when unknown */
    int64_t duration_ms;
};

/* Fill R's names from the three strings (NULL allowed: "" for the first
 * two, none for the kind). */
void store_request_set_names(struct store_request *r, const char *provider, const char *model,
                             const char *error_kind);

/* Free N records and the array holding them (NULL allowed). */
void store_requests_free(struct store_request *recs, size_t n);

/* Record N finished model requests in one transaction.  Takes RECS (an
 * xmalloc'd array) and the names in it: they go to the worker thread
 * uncopied.  When PRUNE_BEFORE_MS (epoch ms) is not 0, the same
 * transaction deletes the rows of requests that ended before it.
 * RESULT: {"recorded": N, "pruned": rows deleted}. */
void store_add_requests_take(struct store *st, struct store_request *recs, size_t n,
                             int64_t prune_before_ms, store_cb cb, void *arg);

/* Per provider and model since SINCE_MS (epoch ms): requests, errors (also
 * by kind), tokens, median time to first token and tokens/s.
 * RESULT: {"since", "models":[...]} */
void store_request_stats(struct store *st, int64_t since_ms, store_cb cb, void *arg);

#endif
