/*
 * The agent's workspace: a directory that every path a model names is
 * resolved beneath, never following a symlink out of it (openat2 with
 * RESOLVE_BENEATH where the kernel has it, else a component walk with
 * O_NOFOLLOW), and atomic, mode-keeping writes inside it.  Every
 * function that touches the disk blocks: call it from a worker thread.
 * A workspace holds no mutable state after workspace_open, so threads
 * may share one.
 */
#ifndef CARETI_WORKSPACE_H
#define CARETI_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "careti/core/cerr.h"

/* The largest file workspace_write reads back as the previous content
 * (kept for undo); a bigger one is refused rather than clobbered. */
#define WORKSPACE_MAX_FILE (16u * 1024 * 1024)

struct workspace;

/* A file's content as it was (or as it is expected to be). */
struct workspace_file {
    bool exists;
    char *data; /* EXISTS: LEN bytes plus a NUL; else NULL */
    size_t len;
    mode_t mode; /* permission bits when EXISTS */
};

/*
 * Open the workspace at DIR, an existing directory, keeping an O_PATH
 * descriptor of it and its real path.  Returns NULL with ERR filled
 * (ERR may be NULL).  Free with workspace_free.  Blocking.
 */
struct workspace *workspace_open(const char *dir, struct cerr *err);

/* Close WS's descriptor and free it; NULL is fine. */
void workspace_free(struct workspace *ws);

/* The workspace's real path (no trailing slash unless it is "/"); lives
 * as long as WS. */
const char *workspace_root(const struct workspace *ws);

/*
 * PATH as the model gave it (relative, or absolute inside the root)
 * cleaned into a workspace-relative path: "." for the root, no "./",
 * "//" or trailing "/", and "a/../b" folded lexically to "b".  A path
 * that leaves the root that way (../x, or absolute elsewhere) is refused
 * with -EXDEV and a message the model can act on.  Returns a string the
 * caller frees, or NULL with ERR filled (ERR may be NULL).  Pure.
 */
char *workspace_relpath(const struct workspace *ws, const char *path, struct cerr *err);

/*
 * Open PATH beneath the workspace with FLAGS (as for openat; O_CLOEXEC is
 * added; O_CREAT uses MODE), following symlinks only while they stay
 * inside; one that points out, or that was swapped in for a directory
 * while the path was being resolved, is refused.  Returns the descriptor
 * (the caller closes it) or a negative errno with ERR filled (ERR may be
 * NULL): -EXDEV for a path leading outside.  Blocking.
 */
int workspace_openat(const struct workspace *ws, const char *path, int flags, mode_t mode,
                     struct cerr *err);

/*
 * Read the regular file PATH whole into OUT (its data NUL-terminated),
 * up to MAX bytes: a bigger file is refused with -EFBIG.  A missing file
 * is not an error: OUT->exists is false.  Free OUT with
 * workspace_file_clear.  Returns 0 or a negative errno with ERR filled.
 * Blocking.
 */
int workspace_read(const struct workspace *ws, const char *path, size_t max,
                   struct workspace_file *out, struct cerr *err);

/*
 * Replace PATH's content with the LEN bytes of DATA atomically: a
 * temporary file in the same directory, fsync, rename over the old name,
 * fsync of the directory.  An existing file keeps its permission bits; a
 * new one gets 0666 less the umask; missing parent directories are
 * created beneath the workspace.  A symlink at PATH that stays inside is
 * followed (its target is written).  When EXPECT is not NULL, the file
 * must still be as EXPECT says (absent, or these bytes), else -ESTALE
 * and nothing is written: a change prepared earlier (shown for approval)
 * never overwrites an edit made since.  When PREV is not NULL it gets
 * the content replaced (for undo); free it with workspace_file_clear.
 * Returns 0 or a negative errno with ERR filled (ERR may be NULL).
 * Blocking.
 */
int workspace_write(const struct workspace *ws, const char *path, const char *data, size_t len,
                    const struct workspace_file *expect, struct workspace_file *prev,
                    struct cerr *err);

/*
 * Remove the file PATH (undo of a file the agent created), only when it
 * is still as EXPECT says (EXPECT may be NULL: no check); -ESTALE
 * otherwise.  Returns 0 or a negative errno with ERR filled.  Blocking.
 */
int workspace_remove(const struct workspace *ws, const char *path,
                     const struct workspace_file *expect, struct cerr *err);

/* Free F's data and mark it absent; NULL is fine. */
void workspace_file_clear(struct workspace_file *f);

#endif
