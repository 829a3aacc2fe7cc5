/*
 * session_store: sessions and messages in SQLite (WAL, foreign keys,
 * versioned schema, FTS5).  Owns the database handle and the queue of
 * jobs; sole includer of sqlite3.h.  The handle is only touched by the
 * one job running on the thread pool; the loop thread only queues jobs
 * and delivers their results.  JSON handed across threads is never
 * shared: inputs are deep-copied, results are handed over whole.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

#include <sqlite3.h>

#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/rundir.h"
#include "careti/core/text.h"
#include "careti/core/worker.h"
#include "careti/core/xmalloc.h"
#include "careti/store/session_store.h"

enum job_kind {
    JOB_OPEN,
    JOB_CREATE,
    JOB_LIST,
    JOB_GET,
    JOB_UPDATE_SESSION,
    JOB_DELETE,
    JOB_ADD_MESSAGE,
    JOB_UPDATE_MESSAGE,
    JOB_BATCH,
    JOB_ADD_REQUESTS,
    JOB_REQUEST_STATS,
    JOB_LIST_CHANGES,
    JOB_GET_CHANGES,
    JOB_MARK_UNDONE,
    JOB_CHECK,
    JOB_CLOSE,
};

/* The code of an error that leaves the store unusable until restarted:
 * the database is damaged, or is no longer the file at its path. */
#define STORE_UNUSABLE (-EBADMSG)

/* How often the loop asks the worker whether the database file is still
 * the one at its path: two stat calls a second cost nothing, and a
 * deletion is seen before the next write is, even on an idle daemon. */
#define STORE_CHECK_MS 1000

struct job {
    uv_work_t work;
    struct store *st;
    enum job_kind kind;
    json_t *in;
    struct store_request *recs; /* JOB_ADD_REQUESTS */
    struct store_change *changes; /* JOB_BATCH's one (in), JOB_GET_CHANGES's (out) */
    size_t n_changes;
    store_changes_cb changes_cb; /* JOB_GET_CHANGES */
    int64_t prune_before_ms;    /* JOB_ADD_REQUESTS; 0: none */
    char *text; /* id, prefix, query or directory */
    int64_t num;
    bool flag;
    json_t *out;
    struct cerr err;
    char *unusable; /* set by the worker: why the store is unusable from now on */
    store_cb cb;
    void *arg;
    struct job *next;
};

struct store {
    uv_loop_t *loop;
    /* The worker's: the handle, the database's path, a descriptor of our
     * own on the file SQLite opened (its device and inode are the
     * database's identity; it is closed only after sqlite3_close, as
     * closing any descriptor of a file drops the process's POSIX locks on
     * it), and why no job may run any more, once that is so. */
    sqlite3 *db;
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    char *unusable;
    /* The next message id, less one: every insert takes its id from here,
     * on the worker or reserved ahead on the loop, so both never collide
     * (this daemon is the database's only writer).  Set by the open. */
    atomic_int_fast64_t last_id;
    /* The loop's. */
    bool ready;
    bool opening;
    bool checking; /* a JOB_CHECK is queued or running */
    bool closing;
    int close_waits; /* the JOB_CLOSE and the timer's close */
    void (*close_cb)(void *arg);
    void *close_arg;
    char error[512];
    uv_timer_t check_timer;
    struct job *head, *tail;
    bool running;
};

static void run_next(struct store *st);
static struct job *submit(struct store *st, enum job_kind kind, const json_t *in,
                          const char *text, store_cb cb, void *arg);

/* ---------- schema ---------- */

/* Each step moves the schema from version i to i+1; never edit a step
 * that has shipped, add one. */
static const char *const migrations[] = {
    /* 0 -> 1: sessions and messages */
    "CREATE TABLE sessions("
    " id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " model TEXT, provider TEXT, workspace TEXT, settings TEXT NOT NULL DEFAULT '{}',"
    " prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,"
    " duration_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE messages("
    " id INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL DEFAULT '',"
    " thinking TEXT, tool_calls TEXT, tool_call_id TEXT, model TEXT, provider TEXT,"
    " prompt_tokens INTEGER, completion_tokens INTEGER, ttft_ms INTEGER, tokens_per_s REAL,"
    " load_ms INTEGER, status TEXT NOT NULL DEFAULT 'complete', error TEXT,"
    " created_at INTEGER NOT NULL, UNIQUE(session_id, seq));"
    "CREATE INDEX sessions_updated ON sessions(updated_at);",
    /* 1 -> 2: token counts for the context window, and full-text search */
    "ALTER TABLE messages ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;"
    "UPDATE messages SET tokens = COALESCE(completion_tokens, (length(content) + 3) / 4);"
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
    " content_rowid='id');"
    "INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages;"
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END;"
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES('delete', old.id, old.content); END;"
    "CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES('delete', old.id, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END;",
    /* 2 -> 3: one row per routed model request, for caretictl stats */
    "CREATE TABLE requests("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,"
    " status INTEGER NOT NULL, error_kind TEXT, ttft_ms INTEGER, tokens_per_s REAL,"
    " prompt_tokens INTEGER, completion_tokens INTEGER, duration_ms INTEGER NOT NULL);"
    "CREATE INDEX requests_at ON requests(at);",
    /* 3 -> 4: the coding agent: a session's mode, a message's agent
     * facts, and every file change with what undo restores */
    "ALTER TABLE sessions ADD COLUMN mode TEXT NOT NULL DEFAULT 'chat';"
    "ALTER TABLE messages ADD COLUMN agent TEXT;"
    "CREATE TABLE changes("
    " id INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " message_id INTEGER NOT NULL, seq INTEGER NOT NULL, path TEXT NOT NULL,"
    " existed INTEGER NOT NULL, before BLOB, before_mode INTEGER NOT NULL DEFAULT 0,"
    " after BLOB NOT NULL, diff TEXT NOT NULL, added INTEGER NOT NULL DEFAULT 0,"
    " removed INTEGER NOT NULL DEFAULT 0, undone INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX changes_session ON changes(session_id, id);",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static bool
is_damage(int code)
{
    return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

/* Fill ERR with DB's last error while doing WHAT, naming the file; a
 * damaged database gets STORE_UNUSABLE, so that the store stops there.
 * Returns ERR's code.  Call it before anything else runs on DB (a
 * ROLLBACK, a finalize), which would replace the error. */
static int
db_fail(sqlite3 *db, struct cerr *err, const char *what)
{
    int code = sqlite3_extended_errcode(db);
    const char *file = sqlite3_db_filename(db, "main");
    if (is_damage(code))
        return cerr_set(err, STORE_UNUSABLE, 500, "agent state: %s failed: %s is damaged (%s)",
                        what, file, sqlite3_errmsg(db));
    int status = (code & 0xff) == SQLITE_FULL || (code & 0xff) == SQLITE_READONLY ||
                         (code & 0xff) == SQLITE_CANTOPEN || (code & 0xff) == SQLITE_IOERR ||
                         (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED
                     ? 503
                     : 500;
    return cerr_set(err, -EIO, status, "agent state: %s failed (%s) in %s", what,
                    sqlite3_errmsg(db), file);
}

/* The end of a statement's rows: RC, the last sqlite3_step result, must
 * be SQLITE_DONE; anything else is an error (a damaged page, an I/O
 * error, a lock held too long) that must not read as "no more rows". */
static int
step_end(sqlite3 *db, int rc, struct cerr *err, const char *what)
{
    return rc == SQLITE_DONE ? 0 : db_fail(db, err, what);
}

/* Bring DB's schema up to TARGET in one transaction per step. */
static int
migrate(sqlite3 *db, int target, struct cerr *err)
{
    sqlite3_stmt *q;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, err, "reading the schema version");
    if (sqlite3_step(q) != SQLITE_ROW) {
        db_fail(db, err, "reading the schema version");
        sqlite3_finalize(q);
        return err->code;
    }
    version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > STORE_SCHEMA_VERSION)
        return cerr_set(err, -EPROTO, 500,
                        "agent state: the database has schema version %d, newer than this "
                        "caretid (%d); upgrade caretid",
                        version, STORE_SCHEMA_VERSION);
    for (int v = version; v < target; v++) {
        char pragma[40];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            db_fail(db, err, "migrating the schema");
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(db, err, "committing the schema migration");
    }
    return 0;
}

/* ---------- helpers ---------- */

int64_t
store_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static json_t *
iso_time(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40], out[48];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "%s.%03dZ", buf, (int)(ms % 1000));
    return json_string(out);
}

static json_t *
col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *
col_json(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    json_t *j = t ? json_loads((const char *)t, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *
col_int_or_null(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? json_null()
                                                    : json_integer(sqlite3_column_int64(q, i));
}

static void
bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

/* V, or NULL for the negative values that mean "unknown". */
static void
bind_int64_known(sqlite3_stmt *q, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

static void
bind_double_known(sqlite3_stmt *q, int i, double v)
{
    if (v >= 0)
        sqlite3_bind_double(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

#define SESSION_COLUMNS                                                                        \
    "id, title, created_at, updated_at, model, provider, workspace, settings, prompt_tokens, " \
    "completion_tokens, duration_ms, (SELECT count(*) FROM messages m WHERE m.session_id = "   \
    "sessions.id), mode"

static json_t *
session_row(sqlite3_stmt *q)
{
    json_t *s = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "id",
                     col_text(q, 0), "title", col_text(q, 1), "created_at",
                     iso_time(sqlite3_column_int64(q, 2)), "updated_at",
                     iso_time(sqlite3_column_int64(q, 3)), "model", col_text(q, 4), "provider",
                     col_text(q, 5), "workspace", col_text(q, 6), "settings", col_json(q, 7),
                     "totals", "prompt_tokens", (json_int_t)sqlite3_column_int64(q, 8),
                     "completion_tokens", (json_int_t)sqlite3_column_int64(q, 9), "duration_ms",
                     (json_int_t)sqlite3_column_int64(q, 10), "messages",
                     (json_int_t)sqlite3_column_int64(q, 11));
    json_object_set_new(s, "mode", col_text(q, 12));
    return s;
}

#define MESSAGE_COLUMNS                                                                     \
    "id, seq, role, content, thinking, tool_calls, tool_call_id, model, provider, "         \
    "prompt_tokens, completion_tokens, ttft_ms, tokens_per_s, load_ms, status, error, "     \
    "created_at, tokens, agent"

static json_t *
message_row(sqlite3_stmt *q)
{
    json_t *m = json_pack("{s:I, s:I, s:o, s:o, s:o, s:s, s:o, s:I}", "id",
                          (json_int_t)sqlite3_column_int64(q, 0), "seq",
                          (json_int_t)sqlite3_column_int64(q, 1), "role", col_text(q, 2),
                          "content", col_text(q, 3), "created_at",
                          iso_time(sqlite3_column_int64(q, 16)), "status",
                          (const char *)sqlite3_column_text(q, 14), "error", col_text(q, 15),
                          "tokens", (json_int_t)sqlite3_column_int64(q, 17));
    if (sqlite3_column_type(q, 4) != SQLITE_NULL)
        json_object_set_new(m, "thinking", col_text(q, 4));
    if (sqlite3_column_type(q, 5) != SQLITE_NULL)
        json_object_set_new(m, "tool_calls", col_json(q, 5));
    if (sqlite3_column_type(q, 6) != SQLITE_NULL)
        json_object_set_new(m, "tool_call_id", col_text(q, 6));
    if (sqlite3_column_type(q, 7) != SQLITE_NULL) {
        json_object_set_new(m, "model", col_text(q, 7));
        json_object_set_new(m, "provider", col_text(q, 8));
    }
    if (sqlite3_column_type(q, 9) != SQLITE_NULL || sqlite3_column_type(q, 10) != SQLITE_NULL)
        json_object_set_new(m, "usage", json_pack("{s:o, s:o}", "prompt_tokens",
                                                  col_int_or_null(q, 9), "completion_tokens",
                                                  col_int_or_null(q, 10)));
    if (sqlite3_column_type(q, 11) != SQLITE_NULL)
        json_object_set_new(
            m, "timings",
            json_pack("{s:o, s:o, s:o}", "ttft_ms", col_int_or_null(q, 11), "tokens_per_s",
                      sqlite3_column_type(q, 12) == SQLITE_NULL
                          ? json_null()
                          : json_real(sqlite3_column_double(q, 12)),
                      "load_ms", col_int_or_null(q, 13)));
    if (sqlite3_column_type(q, 18) != SQLITE_NULL)
        json_object_set_new(m, "agent", col_json(q, 18));
    return m;
}

/* Resolve a unique id prefix to the full id in OUT. */
static int
find_session(sqlite3 *db, const char *prefix, char *out, size_t outlen, struct cerr *err)
{
    sqlite3_stmt *q;
    if (*prefix == '\0' || strpbrk(prefix, "%_") != NULL)
        return cerr_set(err, -EINVAL, 400, "session id \"%s\" is not valid", prefix);
    if (sqlite3_prepare_v2(db, "SELECT id FROM sessions WHERE id LIKE ?1 || '%' LIMIT 4", -1,
                           &q, NULL) != SQLITE_OK)
        return db_fail(db, err, "looking up the session");
    sqlite3_bind_text(q, 1, prefix, -1, SQLITE_TRANSIENT);
    int n = 0, rc;
    char seen[256] = "";
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        if (n == 0)
            snprintf(out, outlen, "%s", id);
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof seen - used, "%s%s", n ? ", " : "", id);
        n++;
    }
    if (step_end(db, rc, err, "looking up the session") != 0) {
        sqlite3_finalize(q);
        return err->code;
    }
    sqlite3_finalize(q);
    if (n == 0)
        return cerr_set(err, -ENOENT, 404,
                        "no session \"%s\"; `caretictl sessions` lists them", prefix);
    if (n > 1)
        return cerr_set(err, -EINVAL, 400,
                        "session id \"%s\" is ambiguous (%s); give more characters", prefix,
                        seen);
    return 0;
}

static json_t *
load_session(sqlite3 *db, const char *id, bool with_messages, struct cerr *err)
{
    sqlite3_stmt *q;
    json_t *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?1", -1, &q,
                           NULL) != SQLITE_OK) {
        db_fail(db, err, "reading the session");
        return NULL;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        s = session_row(q);
    else if (rc == SQLITE_DONE)
        cerr_set(err, -ENOENT, 404, "no session \"%s\"", id);
    else
        db_fail(db, err, "reading the session");
    sqlite3_finalize(q);
    if (s == NULL)
        return NULL;
    if (!with_messages)
        return s;
    json_t *msgs = json_array();
    if (sqlite3_prepare_v2(db,
                           "SELECT " MESSAGE_COLUMNS
                           " FROM messages WHERE session_id = ?1 ORDER BY seq",
                           -1, &q, NULL) != SQLITE_OK) {
        json_decref(msgs);
        json_decref(s);
        db_fail(db, err, "reading the messages");
        return NULL;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_append_new(msgs, message_row(q));
    if (step_end(db, rc, err, "reading the messages") != 0) {
        sqlite3_finalize(q);
        json_decref(msgs);
        json_decref(s);
        return NULL;
    }
    sqlite3_finalize(q);
    json_object_set_new(s, "messages", msgs);
    return s;
}

/* ---------- jobs (thread pool) ---------- */

/* The fix for a damaged database, after "PATH is damaged (...)". */
#define STORE_RECOVER_FIX                                                                   \
    "stop caretid, then recover it with `sqlite3 %s .recover | sqlite3 new.db` and move "   \
    "new.db in its place, or restore a backup"

/* The store is unusable from this job on: WHY (taken) says why and what
 * to do, in full for status and session routes; J's error has it cut to
 * fit. */
static void
set_unusable(struct job *j, int code, char *why)
{
    cerr_set(&j->err, code, 503, "%s", why);
    free(j->unusable);
    j->unusable = why;
}

static void
set_damaged(struct store *st, struct job *j, const char *what)
{
    set_unusable(j, STORE_UNUSABLE,
                 xasprintf("agent state: %s is damaged (%s); " STORE_RECOVER_FIX, st->path, what,
                           st->path));
}

static void
set_read_only(struct store *st, struct job *j, const char *what)
{
    set_unusable(j, -EROFS,
                 xasprintf("agent state: %s is read-only (%s); caretid writes it and the WAL "
                           "files beside it: make it and %s writable by uid %ld, then restart "
                           "caretid",
                           st->path, what, j->text, (long)geteuid()));
}

/* Opening failed at WHAT: J's error from the database's last error, with
 * the reason a read-only or damaged file needs. */
static void
open_failed(struct store *st, struct job *j, const char *what)
{
    int code = sqlite3_extended_errcode(st->db);
    if ((code & 0xff) == SQLITE_READONLY)
        set_read_only(st, j, sqlite3_errmsg(st->db));
    else if (is_damage(code))
        set_damaged(st, j, sqlite3_errmsg(st->db));
    else if (j->err.code == 0)
        db_fail(st->db, &j->err, what);
}

/* PRAGMA quick_check at start: the pages and their b-trees, without the
 * slower index-against-table comparison of integrity_check.  0 when the
 * database is whole, else J's error set. */
static int
quick_check(struct store *st, struct job *j)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &q, NULL) != SQLITE_OK) {
        open_failed(st, j, "checking the database");
        return j->err.code;
    }
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        open_failed(st, j, "checking the database");
    } else {
        const char *said = (const char *)sqlite3_column_text(q, 0);
        if (said == NULL || strcmp(said, "ok") != 0) {
            char what[160];
            snprintf(what, sizeof what, "quick_check: %s", said ? said : "no answer");
            for (char *p = what; *p != '\0'; p++)
                if (*p == '\n')
                    *p = ' ';
            set_damaged(st, j, what);
        }
    }
    sqlite3_finalize(q);
    return j->err.code;
}

static void
job_open(struct store *st, struct job *j)
{
    st->path = xasprintf("%s/careti.db", j->text);
    const char *path = st->path;
    if (rundir_mkdirs(j->text, &j->err) != 0) {
        char msg[sizeof j->err.msg];
        snprintf(msg, sizeof msg, "%s", j->err.msg);
        cerr_set(&j->err, j->err.code, 503,
                 "agent state: cannot use daemon.state_dir %s: %s", j->text, msg);
        return;
    }
    /* The database holds conversations: private from the start, whatever
     * the umask (SQLite gives its WAL files the database's mode).  The
     * descriptor stays open: it is how the file is known later. */
    st->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->fd < 0)
        st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        cerr_set(&j->err, -EIO, 503, "agent state: cannot open %s (%s); check daemon.state_dir",
                 path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* SQLite opens a file it may not write read-only, and says nothing. */
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        set_read_only(st, j, "the file's mode, or a read-only file system");
        goto fail;
    }
    if (sqlite3_exec(st->db,
                     "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
                     " PRAGMA synchronous = NORMAL;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        open_failed(st, j, "preparing the database");
        goto fail;
    }
    if (quick_check(st, j) != 0 || migrate(st->db, STORE_SCHEMA_VERSION, &j->err) != 0)
        goto fail;
    sqlite3_stmt *maxq;
    if (sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(id), 0) FROM messages", -1, &maxq,
                           NULL) != SQLITE_OK) {
        open_failed(st, j, "reading the messages");
        goto fail;
    }
    if (sqlite3_step(maxq) == SQLITE_ROW)
        atomic_store(&st->last_id, sqlite3_column_int64(maxq, 0));
    sqlite3_finalize(maxq);
    /* A reply that was streaming when the daemon died is kept, marked,
     * with the estimate given to every cut reply: one token per 4 bytes,
     * as context_estimate counts (length() of TEXT counts characters); its
     * text goes into the next turns' history, so 0 would undercount it.
     * This is also the first write of every start: a database that cannot
     * be written fails here, not at the first session. */
    if (sqlite3_exec(st->db,
                     "UPDATE messages SET status = 'interrupted',"
                     " tokens = (length(CAST(content AS BLOB)) + 3) / 4"
                     " WHERE status = 'streaming'",
                     NULL, NULL, NULL) != SQLITE_OK) {
        open_failed(st, j, "marking interrupted replies");
        goto fail;
    }
    j->out = json_pack("{s:s, s:i, s:I, s:s}", "path", path, "schema_version",
                       STORE_SCHEMA_VERSION, "recovered", (json_int_t)sqlite3_changes(st->db),
                       "quick_check", "ok");
    struct stat fs;
    if (st->fd >= 0 && fstat(st->fd, &fs) == 0) {
        st->dev = fs.st_dev;
        st->ino = fs.st_ino;
    }
    return;
fail:
    sqlite3_close(st->db);
    st->db = NULL;
}

/* Whether the database file has been deleted, or its path now names
 * another file: then every later write would go where nothing reads it,
 * and the store becomes unusable, J saying why. */
static bool
identity_lost(struct store *st, struct job *j)
{
    struct stat open_st, path_st;
    if (st->fd < 0 || fstat(st->fd, &open_st) != 0)
        return false;
    if (open_st.st_nlink > 0) {
        if (stat(st->path, &path_st) != 0) {
            /* Only "not there" is an answer; EACCES and the like are not. */
            if (errno != ENOENT && errno != ENOTDIR)
                return false;
        } else if (path_st.st_dev == st->dev && path_st.st_ino == st->ino) {
            return false;
        }
    }
    /* Commits since the last checkpoint are in the WAL file, which went
     * with it: move them into the database file, so that a copy of it
     * through /proc holds every session. */
    sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    set_unusable(j, STORE_UNUSABLE,
                 xasprintf("agent state: %s was deleted or replaced while caretid ran, so nothing "
                           "more can be saved; restart caretid to open that path again (a new, "
                           "empty database if none is there); until then the old sessions can be "
                           "copied from /proc/%ld/fd/%d",
                           st->path, (long)getpid(), st->fd));
    return true;
}

static void
job_create(struct store *st, struct job *j)
{
    unsigned char rnd[4];
    char id[16];
    sqlite3_stmt *q;
    const json_t *in = j->in;
    int64_t now = store_now_ms();
    json_t *given = json_object_get(in, "settings");
    char *settings = given ? json_dumps(given, JSON_COMPACT) : xstrdup("{}");
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO sessions(id, title, created_at, updated_at, model, "
                           "provider, workspace, settings, mode) VALUES (?1, ?2, ?3, ?3, ?4, ?5,"
                           " ?6, ?7, ?8)",
                           -1, &q, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "creating the session");
        free(settings);
        return;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        sqlite3_randomness(sizeof rnd, rnd);
        snprintf(id, sizeof id, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, jfield_str_or(in, "title", ""), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, now);
        bind_text_or_null(q, 4, jfield_str(in, "model"));
        bind_text_or_null(q, 5, jfield_str(in, "provider"));
        bind_text_or_null(q, 6, jfield_str(in, "workspace"));
        sqlite3_bind_text(q, 7, settings, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 8, jfield_str_or(in, "mode", "chat"), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc == SQLITE_DONE) {
            sqlite3_finalize(q);
            free(settings);
            j->out = load_session(st->db, id, false, &j->err);
            return;
        }
        if ((sqlite3_extended_errcode(st->db) & 0xff) != SQLITE_CONSTRAINT)
            break;
    }
    db_fail(st->db, &j->err, "creating the session");
    sqlite3_finalize(q);
    free(settings);
}

/* FTS5 syntax must not leak from user text: each word becomes a quoted
 * term, all of them required. */
static char *
fts_query(const char *text)
{
    size_t cap = strlen(text) * 2 + 8, n = 0;
    char *out = xmalloc(cap);
    const char *p = text;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (n > 0)
            out[n++] = ' ';
        out[n++] = '"';
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            if (*p == '"')
                out[n++] = '"';
            out[n++] = *p++;
        }
        out[n++] = '"';
    }
    out[n] = '\0';
    return out;
}

static void
job_list(struct store *st, struct job *j)
{
    sqlite3_stmt *q;
    json_t *list = json_array();
    int rc;
    if (j->text != NULL && *j->text != '\0') {
        char *match = fts_query(j->text);
        rc = sqlite3_prepare_v2(
            st->db,
            "SELECT m.session_id, snippet(messages_fts, 0, '[', ']', '...', 12)"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " WHERE messages_fts MATCH ?1 ORDER BY rank LIMIT 200",
            -1, &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(q, 1, match, -1, SQLITE_TRANSIENT);
            while (json_array_size(list) < (size_t)j->num &&
                   (rc = sqlite3_step(q)) == SQLITE_ROW) {
                const char *sid = (const char *)sqlite3_column_text(q, 0);
                bool dup = false;
                size_t i;
                json_t *e;
                json_array_foreach(list, i, e) dup |= strcmp(jfield_str(e, "id"), sid) == 0;
                if (dup)
                    continue;
                json_t *s = load_session(st->db, sid, false, &j->err);
                if (s == NULL)
                    break;
                json_object_set_new(s, "match", col_text(q, 1));
                json_array_append_new(list, s);
            }
            /* A full list stops before the last row: that is no error. */
            if (j->err.code == 0 && rc != SQLITE_ROW)
                step_end(st->db, rc, &j->err, "searching sessions");
            sqlite3_finalize(q);
            rc = SQLITE_OK;
        }
        free(match);
    } else {
        rc = sqlite3_prepare_v2(st->db,
                                "SELECT " SESSION_COLUMNS
                                " FROM sessions ORDER BY updated_at DESC LIMIT ?1",
                                -1, &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, j->num);
            while ((rc = sqlite3_step(q)) == SQLITE_ROW)
                json_array_append_new(list, session_row(q));
            step_end(st->db, rc, &j->err, "listing sessions");
            sqlite3_finalize(q);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        db_fail(st->db, &j->err, "listing sessions");
    if (j->err.code != 0) {
        json_decref(list);
        return;
    }
    j->out = json_pack("{s:o}", "sessions", list);
}

static void
job_get(struct store *st, struct job *j)
{
    char id[64];
    if (find_session(st->db, j->text, id, sizeof id, &j->err) == 0)
        j->out = load_session(st->db, id, j->flag, &j->err);
}

static void
job_update_session(struct store *st, struct job *j)
{
    static const char *const columns[] = {"title",     "model",    "provider",
                                          "workspace", "settings", "mode"};
    int64_t now = store_now_ms();
    /* All fields or none. */
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "updating the session");
        return;
    }
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
        json_t *v = json_object_get(j->in, columns[i]);
        if (v == NULL)
            continue;
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE sessions SET %s = ?1, updated_at = ?2 WHERE id = ?3",
                 columns[i]);
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
            db_fail(st->db, &j->err, "updating the session");
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return;
        }
        char *text = json_is_string(v) ? xstrdup(json_string_value(v))
                     : json_is_null(v) ? NULL
                                       : json_dumps(v, JSON_COMPACT);
        bind_text_or_null(q, 1, text);
        sqlite3_bind_int64(q, 2, now);
        sqlite3_bind_text(q, 3, j->text, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        free(text);
        if (rc != SQLITE_DONE) {
            db_fail(st->db, &j->err, "updating the session");
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return;
        }
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "committing the session update");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    j->out = load_session(st->db, j->text, false, &j->err);
}

static void
job_delete(struct store *st, struct job *j)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM sessions WHERE id = ?1", -1, &q, NULL) !=
        SQLITE_OK) {
        db_fail(st->db, &j->err, "deleting the session");
        return;
    }
    sqlite3_bind_text(q, 1, j->text, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        db_fail(st->db, &j->err, "deleting the session");
    else if (sqlite3_changes(st->db) == 0)
        cerr_set(&j->err, -ENOENT, 404, "no session \"%s\"", j->text);
    else
        j->out = json_pack("{s:s}", "deleted", j->text);
}

/* The file change J carries, stored with message ID (in its
 * transaction), and its id written into the message's agent facts. */
static int
insert_change(struct store *st, const char *sid, const struct store_change *c, int64_t id)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO changes(session_id, message_id, seq, path, existed, before,"
                           " before_mode, after, diff, added, removed, created_at) VALUES (?1, ?2,"
                           " (SELECT seq FROM messages WHERE id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                           " ?10, ?11)",
                           -1, &q, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(q, 1, sid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, id);
    sqlite3_bind_text(q, 3, c->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 4, c->existed);
    if (c->existed)
        sqlite3_bind_blob64(q, 5, c->before ? c->before : "", c->before_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, 5);
    sqlite3_bind_int(q, 6, (int)c->before_mode);
    sqlite3_bind_blob64(q, 7, c->after ? c->after : "", c->after_len, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 8, c->diff ? c->diff : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 9, (sqlite3_int64)c->added);
    sqlite3_bind_int64(q, 10, (sqlite3_int64)c->removed);
    sqlite3_bind_int64(q, 11, store_now_ms());
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return -EIO;
    int64_t change = sqlite3_last_insert_rowid(st->db);
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE messages SET agent = json_set(COALESCE(agent, '{}'),"
                           " '$.change', ?1) WHERE id = ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(q, 1, change);
    sqlite3_bind_int64(q, 2, id);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Insert message M into session SID with its CHANGE (may be NULL), in
 * the caller's transaction; *ID gets its id.  Returns 0, or -EIO with
 * ERR set. */
static int
add_message_tx(struct store *st, const char *sid, const json_t *m,
               const struct store_change *change, int64_t *id, struct cerr *err)
{
    sqlite3_stmt *q;
    int64_t now = store_now_ms();
    char *calls = json_object_get(m, "tool_calls")
                      ? json_dumps(json_object_get(m, "tool_calls"), JSON_COMPACT)
                      : NULL;
    char *agent = json_is_object(json_object_get(m, "agent"))
                      ? json_dumps(json_object_get(m, "agent"), JSON_COMPACT)
                      : NULL;
    const char *content = jfield_str_or(m, "content", "");
    json_int_t tokens = json_integer_value(json_object_get(m, "tokens"));
    if (tokens <= 0)
        tokens = (json_int_t)(strlen(content) + 3) / 4;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO messages(session_id, seq, role, content, thinking, "
                           "tool_calls, tool_call_id, model, provider, status, tokens, created_at,"
                           " agent, id) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages"
                           " WHERE session_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                           " ?13)",
                           -1, &q, NULL) != SQLITE_OK) {
        free(calls);
        free(agent);
        return db_fail(st->db, err, "storing the message");
    }
    sqlite3_bind_text(q, 1, sid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, jfield_str(m, "role"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, content, -1, SQLITE_TRANSIENT);
    bind_text_or_null(q, 4, jfield_str(m, "thinking"));
    bind_text_or_null(q, 5, calls);
    bind_text_or_null(q, 6, jfield_str(m, "tool_call_id"));
    bind_text_or_null(q, 7, jfield_str(m, "model"));
    bind_text_or_null(q, 8, jfield_str(m, "provider"));
    sqlite3_bind_text(q, 9, jfield_str_or(m, "status", "complete"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 10, tokens);
    sqlite3_bind_int64(q, 11, now);
    bind_text_or_null(q, 12, agent);
    json_int_t given = json_integer_value(json_object_get(m, "id"));
    *id = given > 0 ? given : atomic_fetch_add(&st->last_id, 1) + 1;
    sqlite3_bind_int64(q, 13, *id);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    free(calls);
    free(agent);
    if (rc != SQLITE_DONE || (change != NULL && insert_change(st, sid, change, *id) != 0))
        return db_fail(st->db, err, "storing the message");
    /* The session's update time, and a first message names an untitled
     * session: both in the message's transaction, or neither. */
    bool user = strcmp(jfield_str(m, "role"), "user") == 0;
    const char *const touches[] = {
        "UPDATE sessions SET updated_at = ?3 WHERE id = ?1",
        "UPDATE sessions SET title = substr(replace(?2, char(10), ' '), 1, 60)"
        " WHERE id = ?1 AND title = ''",
    };
    for (size_t i = 0; i < (user ? 2u : 1u); i++) {
        sqlite3_stmt *u;
        rc = sqlite3_prepare_v2(st->db, touches[i], -1, &u, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(u, 1, sid, -1, SQLITE_TRANSIENT);
            if (i == 1)
                sqlite3_bind_text(u, 2, content, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_int64(u, 3, now);
            rc = sqlite3_step(u);
            sqlite3_finalize(u);
        }
        if (rc != SQLITE_DONE)
            return db_fail(st->db, err, "storing the message");
    }
    return 0;
}

/* Message ID as stored, or NULL with ERR set. */
static json_t *
read_message(struct store *st, int64_t id, struct cerr *err)
{
    sqlite3_stmt *q;
    json_t *out = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT " MESSAGE_COLUMNS " FROM messages WHERE id = ?1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, id);
        if ((rc = sqlite3_step(q)) == SQLITE_ROW)
            out = message_row(q);
        sqlite3_finalize(q);
    }
    if (out == NULL)
        db_fail(st->db, err, "reading the stored message");
    return out;
}

static bool
commit(struct store *st, struct cerr *err, const char *what)
{
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return true;
    db_fail(st->db, err, what);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

static void
job_add_message(struct store *st, struct job *j)
{
    int64_t id;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "storing the message");
        return;
    }
    if (add_message_tx(st, j->text, j->in, NULL, &id, &j->err) != 0) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    if (commit(st, &j->err, "committing the message"))
        j->out = read_message(st, id, &j->err);
}

/* Update message ID with FIELDS in the caller's transaction. */
static bool
update_message_tx(struct store *st, int64_t id, const json_t *fields)
{
    static const char *const text_cols[] = {"content", "thinking", "status", "error", "model",
                                            "provider"};
    static const char *const int_cols[] = {"prompt_tokens", "completion_tokens", "ttft_ms",
                                           "load_ms", "tokens"};
    struct {
        const char *col;
        json_t *v;
    } sets[16];
    size_t n = 0;
    for (size_t i = 0; i < sizeof text_cols / sizeof text_cols[0]; i++)
        if (json_is_string(json_object_get(fields, text_cols[i])))
            sets[n].col = text_cols[i], sets[n++].v = json_object_get(fields, text_cols[i]);
    for (size_t i = 0; i < sizeof int_cols / sizeof int_cols[0]; i++)
        if (json_is_integer(json_object_get(fields, int_cols[i])))
            sets[n].col = int_cols[i], sets[n++].v = json_object_get(fields, int_cols[i]);
    if (json_is_number(json_object_get(fields, "tokens_per_s")))
        sets[n].col = "tokens_per_s", sets[n++].v = json_object_get(fields, "tokens_per_s");
    if (json_object_get(fields, "tool_calls") != NULL)
        sets[n].col = "tool_calls", sets[n++].v = json_object_get(fields, "tool_calls");
    if (json_is_object(json_object_get(fields, "agent")))
        sets[n].col = "agent", sets[n++].v = json_object_get(fields, "agent");
    bool ok = true;
    if (n > 0) {
        /* One statement for every column: each statement costs more than
         * its row. */
        char sql[512];
        size_t len = (size_t)snprintf(sql, sizeof sql, "UPDATE messages SET ");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s = ?%zu", i ? ", " : "",
                                    sets[i].col, i + 1);
        snprintf(sql + len, sizeof sql - len, " WHERE id = ?%zu", n + 1);
        sqlite3_stmt *q;
        ok = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK;
        for (size_t i = 0; ok && i < n; i++) {
            int k = (int)i + 1;
            if (json_is_string(sets[i].v))
                sqlite3_bind_text(q, k, json_string_value(sets[i].v), -1, SQLITE_TRANSIENT);
            else if (json_is_integer(sets[i].v))
                sqlite3_bind_int64(q, k, json_integer_value(sets[i].v));
            else if (json_is_real(sets[i].v))
                sqlite3_bind_double(q, k, json_real_value(sets[i].v));
            else {
                char *t = json_dumps(sets[i].v, JSON_COMPACT | JSON_ENCODE_ANY);
                sqlite3_bind_text(q, k, t, -1, SQLITE_TRANSIENT);
                free(t);
            }
        }
        if (ok) {
            sqlite3_bind_int64(q, (int)n + 1, id);
            ok = sqlite3_step(q) == SQLITE_DONE;
            sqlite3_finalize(q);
        }
    }
    const char *status = jfield_str(fields, "status");
    if (ok && status != NULL && strcmp(status, "complete") == 0) {
        sqlite3_stmt *q;
        ok = sqlite3_prepare_v2(
                 st->db,
                 "UPDATE sessions SET prompt_tokens = sessions.prompt_tokens + COALESCE(m.pt, 0),"
                 " completion_tokens = sessions.completion_tokens + COALESCE(m.ct, 0),"
                 " duration_ms = sessions.duration_ms + ?2, updated_at = ?3"
                 " FROM (SELECT session_id, prompt_tokens AS pt, completion_tokens AS ct"
                 " FROM messages WHERE id = ?1) AS m WHERE sessions.id = m.session_id",
                 -1, &q, NULL) == SQLITE_OK;
        if (ok) {
            sqlite3_bind_int64(q, 1, id);
            sqlite3_bind_int64(q, 2, json_integer_value(json_object_get(fields, "duration_ms")));
            sqlite3_bind_int64(q, 3, store_now_ms());
            ok = sqlite3_step(q) == SQLITE_DONE;
            sqlite3_finalize(q);
        }
    }
    return ok;
}

static void
job_update_message(struct store *st, struct job *j)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "updating the message");
        return;
    }
    if (!update_message_tx(st, j->num, j->in)) {
        db_fail(st->db, &j->err, "updating the message");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    if (commit(st, &j->err, "updating the message"))
        j->out = json_pack("{s:I}", "id", (json_int_t)j->num);
}

/* Several writes of one session in one transaction: J->IN is
 * {"update": [{"id", "fields"}...], "add": [msg...]}, the change going
 * with the first message added. */
static void
job_batch(struct store *st, struct job *j)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "storing the step");
        return;
    }
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(j->in, "update"), i, u)
    {
        if (!update_message_tx(st, json_integer_value(json_object_get(u, "id")),
                               json_object_get(u, "fields"))) {
            db_fail(st->db, &j->err, "storing the step");
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return;
        }
    }
    json_t *adds = json_object_get(j->in, "add");
    size_t n = json_array_size(adds);
    int64_t *ids = xcalloc(n + 1, sizeof *ids);
    json_t *m;
    json_array_foreach(adds, i, m)
    {
        if (add_message_tx(st, j->text, m, i == 0 ? j->changes : NULL, &ids[i], &j->err) != 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            free(ids);
            return;
        }
    }
    if (commit(st, &j->err, "committing the step")) {
        json_t *added = json_array();
        for (i = 0; i < n && j->err.code == 0; i++) {
            json_t *row = read_message(st, ids[i], &j->err);
            if (row != NULL)
                json_array_append_new(added, row);
        }
        if (j->err.code == 0)
            j->out = json_pack("{s:o}", "added", added);
        else
            json_decref(added);
    }
    free(ids);
}

/* Rows written by one INSERT statement.  Most of a one-row INSERT's cost
 * is the statement's own run (cursor, transaction checks, reset), not the
 * row: eight rows a statement cost the worker 1.3 us per request instead
 * of 2.2, and more rows buy nothing measurable. */
#define REQUESTS_PER_INSERT 8
#define REQUEST_COLUMNS 10

/* A prepared INSERT of ROWS request rows, or NULL with J's error set. */
static sqlite3_stmt *
prepare_request_insert(struct store *st, struct job *j, int rows)
{
    static const char head[] = "INSERT INTO requests(at, provider, model, status, error_kind,"
                               " ttft_ms, tokens_per_s, prompt_tokens, completion_tokens,"
                               " duration_ms) VALUES ";
    static const char row[] = "(?,?,?,?,?,?,?,?,?,?)";
    char sql[sizeof head + REQUESTS_PER_INSERT * sizeof row];
    size_t len = text_copy(sql, sizeof sql, head);
    for (int i = 0; i < rows; i++) {
        if (i > 0)
            sql[len++] = ',';
        len += text_copy(sql + len, sizeof sql - len, row);
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, sql, (int)len, &q, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "recording requests");
        return NULL;
    }
    return q;
}

static bool
insert_requests(sqlite3_stmt *q, const struct store_request *recs, int rows)
{
    for (int i = 0; i < rows; i++) {
        const struct store_request *r = &recs[i];
        int c = i * REQUEST_COLUMNS;
        sqlite3_bind_int64(q, c + 1, r->at_ms);
        sqlite3_bind_text(q, c + 2, r->provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, c + 3, r->model, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, c + 4, r->status);
        bind_text_or_null(q, c + 5, r->error_kind);
        bind_int64_known(q, c + 6, r->ttft_ms);
        bind_double_known(q, c + 7, r->tokens_per_s);
        bind_int64_known(q, c + 8, r->prompt_tokens);
        bind_int64_known(q, c + 9, r->completion_tokens);
        sqlite3_bind_int64(q, c + 10, r->duration_ms);
    }
    bool ok = sqlite3_step(q) == SQLITE_DONE;
    sqlite3_reset(q);
    return ok;
}

/* Delete the rows of requests that ended before BEFORE_MS; the number
 * deleted, or -1 with J's error set. */
static int64_t
prune_requests(struct store *st, struct job *j, int64_t before_ms)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM requests WHERE at < ?1", -1, &q, NULL) !=
        SQLITE_OK) {
        db_fail(st->db, &j->err, "pruning the request log");
        return -1;
    }
    sqlite3_bind_int64(q, 1, before_ms);
    bool ok = sqlite3_step(q) == SQLITE_DONE;
    sqlite3_finalize(q);
    if (!ok) {
        db_fail(st->db, &j->err, "pruning the request log");
        return -1;
    }
    return sqlite3_changes64(st->db);
}

static void
job_add_requests(struct store *st, struct job *j)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "recording requests");
        return;
    }
    int64_t pruned = j->prune_before_ms != 0 ? prune_requests(st, j, j->prune_before_ms) : 0;
    int64_t whole = j->num - j->num % REQUESTS_PER_INSERT, i = 0;
    bool ok = pruned >= 0;
    if (ok && whole > 0) {
        sqlite3_stmt *q = prepare_request_insert(st, j, REQUESTS_PER_INSERT);
        for (ok = q != NULL; ok && i < whole; i += REQUESTS_PER_INSERT)
            ok = insert_requests(q, &j->recs[i], REQUESTS_PER_INSERT);
        sqlite3_finalize(q);
    }
    if (ok && i < j->num) {
        sqlite3_stmt *q = prepare_request_insert(st, j, (int)(j->num - i));
        ok = q != NULL && insert_requests(q, &j->recs[i], (int)(j->num - i));
        sqlite3_finalize(q);
    }
    if (!ok || sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (j->err.code == 0)
            db_fail(st->db, &j->err, "recording requests");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    j->out = json_pack("{s:I, s:I}", "recorded", (json_int_t)j->num, "pruned", (json_int_t)pruned);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static json_t *
median(double *v, size_t n)
{
    if (n == 0)
        return json_null();
    qsort(v, n, sizeof *v, cmp_double);
    return json_real(n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

/* Close the group being gathered into ENTRY and append it to LIST. */
static void
finish_group(json_t *list, json_t *entry, double *ttft, size_t n_ttft, double *tps, size_t n_tps)
{
    if (entry == NULL)
        return;
    json_object_set_new(entry, "median_ttft_ms", median(ttft, n_ttft));
    json_object_set_new(entry, "median_tokens_per_s", median(tps, n_tps));
    json_array_append_new(list, entry);
}

static void
job_request_stats(struct store *st, struct job *j)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT provider, model, error_kind, ttft_ms, tokens_per_s,"
                           " prompt_tokens, completion_tokens FROM requests WHERE at >= ?1"
                           " ORDER BY provider, model",
                           -1, &q, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "reading request statistics");
        return;
    }
    sqlite3_bind_int64(q, 1, j->num);
    json_t *list = json_array(), *entry = NULL;
    size_t cap = 1024, n_ttft = 0, n_tps = 0;
    double *ttft = xmalloc(cap * sizeof *ttft), *tps = xmalloc(cap * sizeof *tps);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *provider = (const char *)sqlite3_column_text(q, 0);
        const char *model = (const char *)sqlite3_column_text(q, 1);
        if (entry == NULL || strcmp(jfield_str(entry, "provider"), provider) != 0 ||
            strcmp(jfield_str(entry, "model"), model) != 0) {
            finish_group(list, entry, ttft, n_ttft, tps, n_tps);
            n_ttft = n_tps = 0;
            entry = json_pack("{s:s, s:s, s:I, s:I, s:{}, s:I, s:I}", "provider", provider,
                              "model", model, "requests", (json_int_t)0, "errors",
                              (json_int_t)0, "errors_by_kind", "prompt_tokens", (json_int_t)0,
                              "completion_tokens", (json_int_t)0);
        }
        json_object_set_new(entry, "requests",
                            json_integer(json_integer_value(json_object_get(entry, "requests")) + 1));
        if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
            const char *kind = (const char *)sqlite3_column_text(q, 2);
            json_t *by = json_object_get(entry, "errors_by_kind");
            json_object_set_new(by, kind, json_integer(json_integer_value(json_object_get(by, kind)) + 1));
            json_object_set_new(entry, "errors",
                                json_integer(json_integer_value(json_object_get(entry, "errors")) + 1));
        }
        json_object_set_new(entry, "prompt_tokens",
                            json_integer(json_integer_value(json_object_get(entry, "prompt_tokens")) +
                                         sqlite3_column_int64(q, 5)));
        json_object_set_new(
            entry, "completion_tokens",
            json_integer(json_integer_value(json_object_get(entry, "completion_tokens")) +
                         sqlite3_column_int64(q, 6)));
        if (n_ttft == cap || n_tps == cap) {
            cap *= 2;
            ttft = xrealloc(ttft, cap * sizeof *ttft);
            tps = xrealloc(tps, cap * sizeof *tps);
        }
        if (sqlite3_column_type(q, 3) != SQLITE_NULL)
            ttft[n_ttft++] = (double)sqlite3_column_int64(q, 3);
        if (sqlite3_column_type(q, 4) != SQLITE_NULL)
            tps[n_tps++] = sqlite3_column_double(q, 4);
    }
    finish_group(list, entry, ttft, n_ttft, tps, n_tps);
    step_end(st->db, rc, &j->err, "reading request statistics");
    sqlite3_finalize(q);
    free(ttft);
    free(tps);
    if (j->err.code != 0) {
        json_decref(list);
        return;
    }
    j->out = json_pack("{s:o, s:o}", "since", iso_time(j->num), "models", list);
}

#define CHANGE_COLUMNS "id, seq, path, existed, added, removed, diff, undone, message_id"

static void
job_list_changes(struct store *st, struct job *j)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT " CHANGE_COLUMNS " FROM changes WHERE session_id = ?1"
                           " ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "reading the file changes");
        return;
    }
    sqlite3_bind_text(q, 1, j->text, -1, SQLITE_TRANSIENT);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_append_new(
            list, json_pack("{s:I, s:I, s:o, s:b, s:I, s:I, s:o, s:b, s:I}", "id",
                            (json_int_t)sqlite3_column_int64(q, 0), "seq",
                            (json_int_t)sqlite3_column_int64(q, 1), "path", col_text(q, 2),
                            "existed", sqlite3_column_int(q, 3), "added",
                            (json_int_t)sqlite3_column_int64(q, 4), "removed",
                            (json_int_t)sqlite3_column_int64(q, 5), "diff", col_text(q, 6),
                            "undone", sqlite3_column_int(q, 7), "message_id",
                            (json_int_t)sqlite3_column_int64(q, 8)));
    if (step_end(st->db, rc, &j->err, "reading the file changes") != 0) {
        json_decref(list);
        list = NULL;
    }
    sqlite3_finalize(q);
    if (list != NULL)
        j->out = json_pack("{s:o}", "changes", list);
}

static void
job_get_changes(struct store *st, struct job *j)
{
    sqlite3_stmt *q;
    /* NUM 0: the last change not undone; else every one from seq NUM. */
    const char *sql = j->num > 0
                          ? "SELECT " CHANGE_COLUMNS ", before, before_mode, after FROM changes"
                            " WHERE session_id = ?1 AND undone = 0 AND seq >= ?2 ORDER BY id DESC"
                          : "SELECT " CHANGE_COLUMNS ", before, before_mode, after FROM changes"
                            " WHERE session_id = ?1 AND undone = 0 ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "reading the file changes");
        return;
    }
    sqlite3_bind_text(q, 1, j->text, -1, SQLITE_TRANSIENT);
    if (j->num > 0)
        sqlite3_bind_int64(q, 2, j->num);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (j->n_changes == cap) {
            cap = cap ? cap * 2 : 8;
            j->changes = xrealloc(j->changes, cap * sizeof *j->changes);
        }
        struct store_change *c = &j->changes[j->n_changes++];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(q, 0);
        c->path = xstrdup((const char *)sqlite3_column_text(q, 2));
        c->existed = sqlite3_column_int(q, 3) != 0;
        c->before_len = (size_t)sqlite3_column_bytes(q, 9);
        c->before = xmalloc(c->before_len + 1);
        if (c->before_len > 0)
            memcpy(c->before, sqlite3_column_blob(q, 9), c->before_len);
        c->before[c->before_len] = '\0';
        c->before_mode = (unsigned)sqlite3_column_int(q, 10);
        c->after_len = (size_t)sqlite3_column_bytes(q, 11);
        c->after = xmalloc(c->after_len + 1);
        if (c->after_len > 0)
            memcpy(c->after, sqlite3_column_blob(q, 11), c->after_len);
        c->after[c->after_len] = '\0';
    }
    step_end(st->db, rc, &j->err, "reading the file changes");
    sqlite3_finalize(q);
}

static void
job_mark_undone(struct store *st, struct job *j)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "marking the changes undone");
        return;
    }
    size_t i;
    json_t *id;
    bool ok = true;
    json_array_foreach(j->in, i, id)
    {
        sqlite3_stmt *q;
        ok = sqlite3_prepare_v2(st->db, "UPDATE changes SET undone = 1 WHERE id = ?1", -1, &q,
                                NULL) == SQLITE_OK;
        if (!ok)
            break;
        sqlite3_bind_int64(q, 1, json_integer_value(id));
        ok = sqlite3_step(q) == SQLITE_DONE;
        sqlite3_finalize(q);
        if (!ok)
            break;
    }
    if (!ok || sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(st->db, &j->err, "marking the changes undone");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    j->out = json_pack("{s:I}", "undone", (json_int_t)json_array_size(j->in));
}

/* The check itself runs in on_work, as before every write. */
static void
job_check(struct store *st, struct job *j)
{
    (void)st;
    (void)j;
}

static void
job_close(struct store *st, struct job *j)
{
    (void)j;
    if (st->db != NULL)
        sqlite3_close(st->db);
    st->db = NULL;
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
}

static void (*const job_table[])(struct store *, struct job *) = {
    [JOB_OPEN] = job_open,
    [JOB_CREATE] = job_create,
    [JOB_LIST] = job_list,
    [JOB_GET] = job_get,
    [JOB_UPDATE_SESSION] = job_update_session,
    [JOB_DELETE] = job_delete,
    [JOB_ADD_MESSAGE] = job_add_message,
    [JOB_UPDATE_MESSAGE] = job_update_message,
    [JOB_BATCH] = job_batch,
    [JOB_ADD_REQUESTS] = job_add_requests,
    [JOB_REQUEST_STATS] = job_request_stats,
    [JOB_LIST_CHANGES] = job_list_changes,
    [JOB_GET_CHANGES] = job_get_changes,
    [JOB_MARK_UNDONE] = job_mark_undone,
    [JOB_CHECK] = job_check,
    [JOB_CLOSE] = job_close,
};

/* Jobs that first make sure the database is still the file at its path:
 * those that write, so that nothing is reported saved that is not. */
static const bool job_checks_file[] = {
    [JOB_CREATE] = true,         [JOB_UPDATE_SESSION] = true, [JOB_DELETE] = true,
    [JOB_ADD_MESSAGE] = true,    [JOB_UPDATE_MESSAGE] = true, [JOB_ADD_REQUESTS] = true,
    [JOB_MARK_UNDONE] = true,    [JOB_BATCH] = true,          [JOB_CHECK] = true,
};

/* ---------- the queue (loop thread) ---------- */

static void
on_work(uv_work_t *w)
{
    struct job *j = w->data;
    struct store *st = j->st;
    worker_background();
    if (j->kind != JOB_OPEN && j->kind != JOB_CLOSE) {
        if (st->db == NULL) {
            cerr_set(&j->err, -EIO, 503, "%s",
                     st->error[0] ? st->error : "agent state is not open yet");
            return;
        }
        if (st->unusable != NULL) {
            cerr_set(&j->err, STORE_UNUSABLE, 503, "%s", st->unusable);
            return;
        }
        if (job_checks_file[j->kind] && identity_lost(st, j)) {
            st->unusable = xstrdup(j->unusable);
            return;
        }
    }
    job_table[j->kind](st, j);
    /* A damaged page found by a job: nothing more is read or written, as
     * a write could spread the damage and a read could show half. */
    if (j->err.code == STORE_UNUSABLE && j->unusable == NULL && j->kind != JOB_OPEN) {
        j->unusable = xasprintf("%s; " STORE_RECOVER_FIX, j->err.msg, st->path);
        st->unusable = xstrdup(j->unusable);
    }
}

static void
close_step(struct store *st)
{
    if (--st->close_waits > 0)
        return;
    void (*cb)(void *) = st->close_cb;
    void *arg = st->close_arg;
    free(st->path);
    free(st->unusable);
    free(st);
    if (cb != NULL)
        cb(arg);
}

static void
on_check_timer_closed(uv_handle_t *h)
{
    close_step(h->data);
}

/* Ask the worker whether the database is still there, so that a deleted
 * one shows in status even while nothing is written. */
static void
on_check_timer(uv_timer_t *t)
{
    struct store *st = t->data;
    if (!st->ready || st->checking || st->closing)
        return;
    st->checking = true;
    submit(st, JOB_CHECK, NULL, NULL, NULL, NULL);
    run_next(st);
}

static void
on_work_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    struct store *st = j->st;
    st->running = false;
    if (status != 0 && j->err.code == 0)
        cerr_set(&j->err, status, 500, "agent state: job cancelled (%s)", uv_strerror(status));
    if (j->kind == JOB_OPEN) {
        st->opening = false;
        st->ready = j->err.code == 0;
        if (!st->ready)
            snprintf(st->error, sizeof st->error, "%s", j->unusable ? j->unusable : j->err.msg);
        else if (!st->closing)
            uv_timer_start(&st->check_timer, on_check_timer, STORE_CHECK_MS, STORE_CHECK_MS);
    } else if (j->unusable != NULL && st->ready) {
        /* Once: later jobs are refused with the same reason and log
         * nothing. */
        st->ready = false;
        snprintf(st->error, sizeof st->error, "%s", j->unusable);
        uv_timer_stop(&st->check_timer);
        log_error("%s", st->error);
    }
    if (j->kind == JOB_CHECK)
        st->checking = false;
    free(j->unusable);
    j->unusable = NULL;
    if (j->kind == JOB_CLOSE) {
        free(j);
        /* Jobs queued behind the close are answered, not dropped: their
         * callers wait for them (a turn for its reply's row). */
        while (st->head != NULL) {
            struct job *late = st->head;
            st->head = late->next;
            if (st->head == NULL)
                st->tail = NULL;
            cerr_set(&late->err, -ECANCELED, 503,
                     "agent state: the daemon is stopping; the write was not made");
            if (late->changes_cb != NULL)
                late->changes_cb(NULL, 0, &late->err, late->arg);
            else if (late->cb != NULL)
                late->cb(NULL, &late->err, late->arg);
            store_changes_free(late->changes, late->n_changes);
            json_decref(late->in);
            if (late->recs != NULL)
                store_requests_free(late->recs, (size_t)late->num);
            free(late->text);
            free(late);
        }
        close_step(st);
        return;
    }
    if (j->changes_cb != NULL) {
        /* The callback takes the array. */
        j->changes_cb(j->err.code ? NULL : j->changes, j->err.code ? 0 : j->n_changes,
                      j->err.code ? &j->err : NULL, j->arg);
        if (j->err.code == 0)
            j->changes = NULL, j->n_changes = 0;
    } else if (j->cb != NULL)
        j->cb(j->out, j->err.code ? &j->err : NULL, j->arg);
    else
        json_decref(j->out);
    store_changes_free(j->changes, j->n_changes);
    json_decref(j->in);
    if (j->recs != NULL)
        store_requests_free(j->recs, (size_t)j->num);
    free(j->text);
    free(j);
    run_next(st);
}

static void
run_next(struct store *st)
{
    if (st->running || st->head == NULL)
        return;
    struct job *j = st->head;
    st->head = j->next;
    if (st->head == NULL)
        st->tail = NULL;
    st->running = true;
    j->work.data = j;
    if (uv_queue_work(st->loop, &j->work, on_work, on_work_done) != 0) {
        cerr_set(&j->err, -EAGAIN, 500, "agent state: cannot queue work");
        on_work_done(&j->work, 0);
    }
}

static struct job *
submit(struct store *st, enum job_kind kind, const json_t *in, const char *text, store_cb cb,
       void *arg)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->st = st;
    j->kind = kind;
    j->in = in ? json_deep_copy(in) : NULL;
    j->text = text ? xstrdup(text) : NULL;
    j->cb = cb;
    j->arg = arg;
    if (st->tail != NULL)
        st->tail->next = j;
    else
        st->head = j;
    st->tail = j;
    return j;
}

struct store *
store_new(uv_loop_t *loop)
{
    struct store *st = xcalloc(1, sizeof *st);
    st->loop = loop;
    st->fd = -1;
    snprintf(st->error, sizeof st->error, "agent state is not open yet");
    uv_timer_init(loop, &st->check_timer);
    st->check_timer.data = st;
    /* The store's own watch never keeps the loop alive. */
    uv_unref((uv_handle_t *)&st->check_timer);
    return st;
}

void
store_open(struct store *st, const char *state_dir, store_cb cb, void *arg)
{
    st->opening = true;
    submit(st, JOB_OPEN, NULL, state_dir, cb, arg);
    run_next(st);
}

bool
store_ready(const struct store *st)
{
    return st->ready;
}

bool
store_failed(const struct store *st)
{
    return !st->ready && !st->opening;
}

const char *
store_error(const struct store *st)
{
    return st->error;
}

const char *
store_error_text(const struct store *st, const struct cerr *err)
{
    return store_failed(st) ? st->error : err->msg;
}

const char *
store_path(const struct store *st)
{
    return st->opening ? NULL : st->path;
}

void
store_close(struct store *st, void (*cb)(void *arg), void *arg)
{
    st->closing = true;
    st->close_cb = cb;
    st->close_arg = arg;
    st->close_waits = 2;
    uv_timer_stop(&st->check_timer);
    uv_close((uv_handle_t *)&st->check_timer, on_check_timer_closed);
    submit(st, JOB_CLOSE, NULL, NULL, NULL, NULL);
    run_next(st);
}

void
store_create_session(struct store *st, const json_t *fields, store_cb cb, void *arg)
{
    submit(st, JOB_CREATE, fields, NULL, cb, arg);
    run_next(st);
}

void
store_list_sessions(struct store *st, const char *q, int limit, store_cb cb, void *arg)
{
    struct job *j = submit(st, JOB_LIST, NULL, q, cb, arg);
    j->num = limit > 0 ? limit : 50;
    run_next(st);
}

void
store_get_session(struct store *st, const char *prefix, bool with_messages, store_cb cb,
                  void *arg)
{
    struct job *j = submit(st, JOB_GET, NULL, prefix, cb, arg);
    j->flag = with_messages;
    run_next(st);
}

void
store_update_session(struct store *st, const char *id, const json_t *patch, store_cb cb,
                     void *arg)
{
    submit(st, JOB_UPDATE_SESSION, patch, id, cb, arg);
    run_next(st);
}

void
store_delete_session(struct store *st, const char *id, store_cb cb, void *arg)
{
    submit(st, JOB_DELETE, NULL, id, cb, arg);
    run_next(st);
}

void
store_add_message(struct store *st, const char *id, const json_t *msg, store_cb cb, void *arg)
{
    submit(st, JOB_ADD_MESSAGE, msg, id, cb, arg);
    run_next(st);
}

void
store_update_message(struct store *st, int64_t msg_id, const json_t *fields, store_cb cb,
                     void *arg)
{
    struct job *j = submit(st, JOB_UPDATE_MESSAGE, fields, NULL, cb, arg);
    j->num = msg_id;
    run_next(st);
}

void
store_request_set_names(struct store_request *r, const char *provider, const char *model,
                        const char *error_kind)
{
    provider = provider ? provider : "";
    model = model ? model : "";
    size_t pl = strlen(provider) + 1, ml = strlen(model) + 1;
    size_t kl = error_kind ? strlen(error_kind) + 1 : 0;
    r->names = xmalloc(pl + ml + kl);
    memcpy(r->names, provider, pl);
    memcpy(r->names + pl, model, ml);
    if (error_kind != NULL)
        memcpy(r->names + pl + ml, error_kind, kl);
    r->provider = r->names;
    r->model = r->names + pl;
    r->error_kind = error_kind ? r->names + pl + ml : NULL;
}

void
store_requests_free(struct store_request *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i].names);
    free(recs);
}

void
store_add_requests_take(struct store *st, struct store_request *recs, size_t n,
                        int64_t prune_before_ms, store_cb cb, void *arg)
{
    struct job *j = submit(st, JOB_ADD_REQUESTS, NULL, NULL, cb, arg);
    j->recs = recs;
    j->num = (int64_t)n;
    j->prune_before_ms = prune_before_ms;
    run_next(st);
}

void
store_request_stats(struct store *st, int64_t since_ms, store_cb cb, void *arg)
{
    struct job *j = submit(st, JOB_REQUEST_STATS, NULL, NULL, cb, arg);
    j->num = since_ms;
    run_next(st);
}

void
store_changes_free(struct store_change *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].path);
        free(c[i].before);
        free(c[i].after);
        free(c[i].diff);
    }
    free(c);
}

/* A copy of C (NULL: NULL) the worker owns. */
static struct store_change *
change_copy(const struct store_change *change)
{
    if (change == NULL)
        return NULL;
    struct store_change *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(change->path);
    c->existed = change->existed;
    c->before_len = change->existed ? change->before_len : 0;
    c->before = xmalloc(c->before_len + 1);
    if (c->before_len > 0)
        memcpy(c->before, change->before, c->before_len);
    c->before_mode = change->before_mode;
    c->after_len = change->after_len;
    c->after = xmalloc(c->after_len + 1);
    if (c->after_len > 0)
        memcpy(c->after, change->after, c->after_len);
    c->diff = xstrdup(change->diff ? change->diff : "");
    c->added = change->added;
    c->removed = change->removed;
    return c;
}

void
store_write_step(struct store *st, const char *id, const json_t *writes,
                 const struct store_change *change, store_cb cb, void *arg)
{
    struct job *j = submit(st, JOB_BATCH, writes, id, cb, arg);
    j->changes = change_copy(change);
    j->n_changes = change ? 1 : 0;
    run_next(st);
}

int64_t
store_reserve_message_id(struct store *st)
{
    return st->ready ? atomic_fetch_add(&st->last_id, 1) + 1 : 0;
}

void
store_list_changes(struct store *st, const char *id, store_cb cb, void *arg)
{
    submit(st, JOB_LIST_CHANGES, NULL, id, cb, arg);
    run_next(st);
}

void
store_get_changes(struct store *st, const char *id, int64_t from_seq, store_changes_cb cb,
                  void *arg)
{
    struct job *j = submit(st, JOB_GET_CHANGES, NULL, id, NULL, arg);
    j->changes_cb = cb;
    j->num = from_seq;
    run_next(st);
}

void
store_mark_undone(struct store *st, const json_t *change_ids, store_cb cb, void *arg)
{
    submit(st, JOB_MARK_UNDONE, change_ids, NULL, cb, arg);
    run_next(st);
}
