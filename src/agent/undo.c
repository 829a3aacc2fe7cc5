/*
 * undo: checks every file first, then restores them newest first, then
 * marks the changes undone.  Owns one job from the store's answer to CB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/undo.h"
#include "careti/agent/workspace.h"
#include "careti/core/jfield.h"
#include "careti/core/worker.h"
#include "careti/core/xmalloc.h"

struct undo {
    uv_work_t work;
    uv_loop_t *loop;
    struct store *store;
    char *workspace;
    struct store_change *changes;
    size_t n;
    json_t *done; /* [{change, path, action}] */
    struct cerr err;
    undo_cb cb;
    void *arg;
};

static void
undo_free(struct undo *u)
{
    store_changes_free(u->changes, u->n);
    json_decref(u->done);
    free(u->workspace);
    free(u);
}

static void
finish(struct undo *u, json_t *result, const struct cerr *err)
{
    u->cb(result, err, u->arg);
    undo_free(u);
}

static void
on_work(uv_work_t *w)
{
    worker_background();
    struct undo *u = w->data;
    struct workspace *ws = workspace_open(u->workspace, &u->err);
    if (ws == NULL) {
        u->err.http_status = 409;
        return;
    }
    /* All files are checked before any is touched. */
    for (size_t i = 0; i < u->n; i++) {
        struct store_change *c = &u->changes[i];
        struct workspace_file now = {0};
        struct cerr e = {0};
        if (workspace_read(ws, c->path, WORKSPACE_MAX_FILE, &now, &e) != 0 || !now.exists ||
            now.len != c->after_len || memcmp(now.data, c->after, now.len) != 0) {
            /* Each change's AFTER is checked against the disk only for the
             * newest change of a path: older ones are checked against the
             * newer change's BEFORE, which undo will have put back. */
            bool newer_same_path = false;
            for (size_t k = 0; k < i; k++)
                if (strcmp(u->changes[k].path, c->path) == 0) {
                    newer_same_path = true;
                    if (!u->changes[k].existed || u->changes[k].before_len != c->after_len ||
                        memcmp(u->changes[k].before, c->after, c->after_len) != 0)
                        newer_same_path = false;
                    break;
                }
            workspace_file_clear(&now);
            if (newer_same_path)
                continue;
            cerr_set(&u->err, -ESTALE, 409,
                     "%s has changed since the agent wrote it, so nothing was undone; undo it "
                     "by hand or save your version first",
                     c->path);
            workspace_free(ws);
            return;
        }
        workspace_file_clear(&now);
    }
    for (size_t i = 0; i < u->n; i++) {
        struct store_change *c = &u->changes[i];
        struct workspace_file expect = {.exists = true, .data = c->after, .len = c->after_len};
        int rc = c->existed ? workspace_write(ws, c->path, c->before, c->before_len, &expect,
                                              NULL, &u->err)
                            : workspace_remove(ws, c->path, &expect, &u->err);
        if (rc != 0) {
            /* Say what was put back before it: those are marked undone. */
            size_t len = strlen(u->err.msg);
            size_t k;
            json_t *d;
            json_array_foreach(u->done, k, d)
            {
                int n = snprintf(u->err.msg + len, sizeof u->err.msg - len, "%s%s",
                                 k == 0 ? "; undone before it: " : ", ", jfield_str(d, "path"));
                if (n < 0 || (size_t)n >= sizeof u->err.msg - len)
                    break;
                len += (size_t)n;
            }
            u->err.http_status = 409;
            break;
        }
        json_array_append_new(u->done, json_pack("{s:I, s:s, s:s}", "change",
                                                 (json_int_t)c->id, "path", c->path, "action",
                                                 c->existed ? "restored" : "removed"));
    }
    workspace_free(ws);
}

static void
on_marked(json_t *result, const struct cerr *err, void *arg)
{
    struct undo *u = arg;
    json_decref(result);
    if (err != NULL) {
        finish(u, NULL, err);
        return;
    }
    if (u->err.code != 0) {
        finish(u, NULL, &u->err); /* some were restored (and marked), then one failed */
        return;
    }
    finish(u, json_pack("{s:O}", "undone", u->done), NULL);
}

static void
on_work_done(uv_work_t *w, int status)
{
    struct undo *u = w->data;
    if (status != 0 && u->err.code == 0)
        cerr_set(&u->err, status, 500, "undo could not run");
    if (json_array_size(u->done) == 0) {
        finish(u, NULL, &u->err);
        return;
    }
    json_t *ids = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(u->done, i, d) json_array_append(ids, json_object_get(d, "change"));
    store_mark_undone(u->store, ids, on_marked, u);
    json_decref(ids);
}

static void
on_changes(struct store_change *changes, size_t n, const struct cerr *err, void *arg)
{
    struct undo *u = arg;
    u->changes = changes;
    u->n = n;
    if (err != NULL) {
        finish(u, NULL, err);
        return;
    }
    if (n == 0) {
        struct cerr none = {0};
        cerr_set(&none, -ENOENT, 404, "nothing to undo: the agent has changed no file in this "
                                      "session that is not undone already");
        finish(u, NULL, &none);
        return;
    }
    u->work.data = u;
    if (uv_queue_work(u->loop, &u->work, on_work, on_work_done) != 0) {
        struct cerr busy = {0};
        cerr_set(&busy, -EAGAIN, 503, "undo could not be queued; try again");
        finish(u, NULL, &busy);
    }
}

void
agent_undo(uv_loop_t *loop, struct store *store, const char *session_id, const char *workspace,
           int64_t from_seq, undo_cb cb, void *arg)
{
    struct undo *u = xcalloc(1, sizeof *u);
    u->loop = loop;
    u->store = store;
    u->workspace = xstrdup(workspace ? workspace : "");
    u->done = json_array();
    u->cb = cb;
    u->arg = arg;
    store_get_changes(store, session_id, from_seq, on_changes, u);
}
