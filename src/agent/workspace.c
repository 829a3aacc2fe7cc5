/*
 * workspace: confines the agent's file access to one directory.  It owns
 * an O_PATH descriptor of the directory and its real path, and resolves
 * every path beneath the descriptor, never by string: openat2(2) with
 * RESOLVE_BENEATH where the kernel has it, else a walk of one component
 * at a time with O_NOFOLLOW.  It must never open a path from the root of
 * the file system, nor follow a symlink without checking where it goes.
 * Blocking throughout: the agent calls it from libuv's thread pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "careti/agent/workspace.h"
#include "careti/core/sbuf.h"
#include "careti/core/text.h"
#include "careti/core/xmalloc.h"

/* Symlinks followed in one resolution, as the kernel's own limit. */
#define WALK_MAX_LINKS 40
/* Directories deep a fallback walk may go. */
#define WALK_MAX_DEPTH 256
/* Symlinks followed at the last component of a write. */
#define WRITE_MAX_HOPS 8

struct workspace {
    int dirfd;  /* O_PATH | O_DIRECTORY */
    char *root; /* real path */
    size_t root_len;
    bool openat2; /* the kernel has openat2 and lets us call it */
};

/* Called by the fallback walk just before it opens a directory it has
 * checked is not a symlink: the unit test swaps in a symlink there to
 * show the open refuses it.  NULL outside tests. */
static void (*walk_hook)(const char *name);

static int open_beneath(const struct workspace *ws, const char *rel, int flags, mode_t mode);
static int walk_open(const struct workspace *ws, const char *rel, int flags, mode_t mode);
static int open_error(const struct workspace *ws, const char *shown, int rc, struct cerr *err);
static int outside(const struct workspace *ws, const char *shown, struct cerr *err);
static int open_parent(const struct workspace *ws, const char *dir, bool create, const char *shown,
                       struct cerr *err);
static int resolve_last(const struct workspace *ws, char **rel, int *pd, const char **base,
                        struct stat *st, bool create, const char *shown, struct cerr *err);
static int read_fd(int fd, size_t max, struct workspace_file *out);
static bool same_content(const struct workspace_file *a, const struct workspace_file *b);
static char *split_last(char *rel);

struct workspace *
workspace_open(const char *dir, struct cerr *err)
{
    char *real = realpath(dir, NULL);
    if (real == NULL) {
        cerr_set(err, -errno, 400, "workspace %s: %s", dir, strerror(errno));
        return NULL;
    }
    int fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        cerr_set(err, -errno, 400, "workspace %s: %s", dir, strerror(errno));
        free(real);
        return NULL;
    }
    struct workspace *ws = xcalloc(1, sizeof *ws);
    ws->dirfd = fd;
    ws->root = real;
    ws->root_len = strlen(real);
    /* Containers may filter openat2 with EPERM or ENOSYS: probe it once. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int probe = (int)syscall(SYS_openat2, fd, ".", &how, sizeof how);
    if (probe >= 0) {
        ws->openat2 = true;
        close(probe);
    }
    return ws;
}

void
workspace_free(struct workspace *ws)
{
    if (ws == NULL)
        return;
    close(ws->dirfd);
    free(ws->root);
    free(ws);
}

const char *
workspace_root(const struct workspace *ws)
{
    return ws->root;
}

char *
workspace_relpath(const struct workspace *ws, const char *path, struct cerr *err)
{
    if (path == NULL || *path == '\0') {
        cerr_set(err, -EINVAL, 400, "the path is empty; give a path relative to the workspace %s",
                 ws->root);
        return NULL;
    }
    const char *rest = path;
    if (path[0] == '/') {
        bool root_is_slash = ws->root_len == 1;
        if (!root_is_slash && (strncmp(path, ws->root, ws->root_len) != 0 ||
                               (path[ws->root_len] != '/' && path[ws->root_len] != '\0'))) {
            outside(ws, path, err);
            return NULL;
        }
        rest = root_is_slash ? path : path + ws->root_len;
    }
    /* Fold the components into OUT, which only ever shrinks at "..", so
     * it never outgrows REST. */
    size_t n = strlen(rest);
    char *out = xmalloc(n + 2);
    size_t len = 0;
    const char *p = rest;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t clen = (size_t)(end - p);
        if (clen == 0 || (clen == 1 && p[0] == '.')) {
            /* nothing */
        } else if (clen == 2 && p[0] == '.' && p[1] == '.') {
            if (len == 0) {
                free(out);
                outside(ws, path, err);
                return NULL;
            }
            char *slash = memrchr(out, '/', len);
            len = slash == NULL ? 0 : (size_t)(slash - out);
        } else {
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, p, clen);
            len += clen;
        }
        p = end;
    }
    if (len == 0)
        out[len++] = '.';
    out[len] = '\0';
    return out;
}

int
workspace_openat(const struct workspace *ws, const char *path, int flags, mode_t mode,
                 struct cerr *err)
{
    char *rel = workspace_relpath(ws, path, err);
    if (rel == NULL)
        return err != NULL ? err->code : -EXDEV;
    int fd = open_beneath(ws, rel, flags, mode);
    free(rel);
    if (fd < 0)
        return open_error(ws, path, fd, err);
    return fd;
}

int
workspace_read(const struct workspace *ws, const char *path, size_t max, struct workspace_file *out,
               struct cerr *err)
{
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: a FIFO must not wait for a writer (see file_tools_read). */
    int fd = workspace_openat(ws, path, O_RDONLY | O_NONBLOCK, 0, err);
    if (fd == -ENOENT) {
        cerr_clear(err);
        return 0;
    }
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = cerr_set(err, -errno, 500, "error reading %s (%s)", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = cerr_set(err, -EISDIR, 400, "%s is a directory, not a file", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = cerr_set(err, -EINVAL, 400, "%s is not a regular file", path);
    } else {
        rc = read_fd(fd, max, out);
        if (rc == -EFBIG)
            cerr_set(err, rc, 413, "%s is %jd bytes, over the limit of %zu", path,
                     (intmax_t)st.st_size, max);
        else if (rc < 0)
            cerr_set(err, rc, 500, "error reading %s (%s)", path, strerror(-rc));
    }
    close(fd);
    return rc;
}

int
workspace_write(const struct workspace *ws, const char *path, const char *data, size_t len,
                const struct workspace_file *expect, struct workspace_file *prev, struct cerr *err)
{
    struct workspace_file cur = {0};
    char tmp[NAME_MAX + 1] = "";
    int pd = -1, fd = -1, rc;
    const char *base;
    struct stat st;
    char *rel = workspace_relpath(ws, path, err);
    if (rel == NULL)
        return err != NULL ? err->code : -EXDEV;
    rc = resolve_last(ws, &rel, &pd, &base, &st, true, path, err);
    if (rc < 0)
        goto out;
    bool exists = rc == 1;
    mode_t mode = 0666;
    if (exists) {
        if (S_ISDIR(st.st_mode)) {
            rc = cerr_set(err, -EISDIR, 400, "%s is a directory, not a file", path);
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = cerr_set(err, -EINVAL, 400, "%s is not a regular file", path);
            goto out;
        }
        fd = openat(pd, base, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = open_error(ws, path, -errno, err);
            goto out;
        }
        rc = read_fd(fd, WORKSPACE_MAX_FILE, &cur);
        if (rc == 0 && fstat(fd, &st) < 0)
            rc = -errno;
        close(fd);
        fd = -1;
        if (rc == -EFBIG) {
            cerr_set(err, rc, 413, "%s is over %u MiB, too large to rewrite", path,
                     WORKSPACE_MAX_FILE >> 20);
            goto out;
        }
        if (rc < 0) {
            cerr_set(err, rc, 500, "error reading %s (%s)", path, strerror(-rc));
            goto out;
        }
        mode = st.st_mode & 07777;
        cur.mode = mode;
    }
    if (expect != NULL && !same_content(expect, &cur)) {
        rc = cerr_set(err, -ESTALE, 409,
                      "%s changed on disk since this change was prepared; read it again", path);
        goto out;
    }
    /* A hidden name beside the target, so the rename stays in one
     * directory (atomic) and a crash leaves at worst a stray dot-file. */
    for (int attempt = 0; fd < 0; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            memset(r, attempt, sizeof r);
        char hex[2 * sizeof r + 1];
        for (size_t i = 0; i < sizeof r; i++) {
            hex[2 * i] = "0123456789abcdef"[r[i] >> 4];
            hex[2 * i + 1] = "0123456789abcdef"[r[i] & 15];
        }
        hex[2 * sizeof r] = '\0';
        bool short_base = strlen(base) + 24 < sizeof tmp;
        struct sbuf name = {0};
        sbuf_adds(&name, ".");
        sbuf_adds(&name, short_base ? base : "careti");
        sbuf_adds(&name, ".careti-");
        sbuf_adds(&name, hex);
        text_copy(tmp, sizeof tmp, name.s);
        sbuf_free(&name);
        /* An existing file's mode is set below with fchmod, which the
         * umask does not touch; until then the copy is private. */
        fd = openat(pd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    exists ? 0600 : 0666);
        if (fd < 0 && (errno != EEXIST || attempt == 8)) {
            rc = cerr_set(err, -errno, 500, "error creating a temporary file beside %s (%s)", path,
                          strerror(errno));
            tmp[0] = '\0';
            goto out;
        }
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = cerr_set(err, -errno, 500, "error writing %s (%s)", path, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if ((exists && fchmod(fd, mode) < 0) || fsync(fd) < 0) {
        rc = cerr_set(err, -errno, 500, "error writing %s (%s)", path, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = cerr_set(err, -errno, 500, "error writing %s (%s)", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (renameat(pd, tmp, pd, base) < 0) {
        rc = cerr_set(err, -errno, 500, "error renaming the new %s into place (%s)", path,
                      strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    /* The rename is durable only once the directory is. */
    fsync(pd);
    if (prev != NULL) {
        *prev = cur;
        memset(&cur, 0, sizeof cur);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        unlinkat(pd, tmp, 0);
    if (pd >= 0)
        close(pd);
    workspace_file_clear(&cur);
    free(rel);
    return rc;
}

int
workspace_remove(const struct workspace *ws, const char *path, const struct workspace_file *expect,
                 struct cerr *err)
{
    struct workspace_file cur = {0};
    int pd = -1, rc;
    const char *base;
    struct stat st;
    char *rel = workspace_relpath(ws, path, err);
    if (rel == NULL)
        return err != NULL ? err->code : -EXDEV;
    rc = resolve_last(ws, &rel, &pd, &base, &st, false, path, err);
    if (rc < 0)
        goto out;
    bool exists = rc == 1;
    if (exists) {
        if (!S_ISREG(st.st_mode)) {
            rc = cerr_set(err, -EINVAL, 400, "%s is not a regular file", path);
            goto out;
        }
        int fd = openat(pd, base, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        rc = fd < 0 ? -errno : read_fd(fd, WORKSPACE_MAX_FILE, &cur);
        if (fd >= 0)
            close(fd);
        if (rc < 0 && rc != -EFBIG) {
            cerr_set(err, rc, 500, "error reading %s (%s)", path, strerror(-rc));
            goto out;
        }
    }
    if (expect != NULL && (rc == -EFBIG || !same_content(expect, &cur))) {
        rc = cerr_set(err, -ESTALE, 409, "%s changed on disk since; it was left as it is", path);
        goto out;
    }
    rc = 0;
    if (!exists)
        goto out;
    if (unlinkat(pd, base, 0) < 0 && errno != ENOENT)
        rc = cerr_set(err, -errno, 500, "error removing %s (%s)", path, strerror(errno));
    else
        fsync(pd);
out:
    if (pd >= 0)
        close(pd);
    workspace_file_clear(&cur);
    free(rel);
    return rc;
}

void
workspace_file_clear(struct workspace_file *f)
{
    if (f == NULL)
        return;
    free(f->data);
    memset(f, 0, sizeof *f);
}

/* Open REL (already cleaned, never starting with "..") beneath WS.
 * Returns a descriptor or a negative errno; no message. */
static int
open_beneath(const struct workspace *ws, const char *rel, int flags, mode_t mode)
{
    if (!ws->openat2)
        return walk_open(ws, rel, flags, mode);
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) != 0 ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    /* EAGAIN: a rename elsewhere raced the lookup; the kernel asks for a
     * retry rather than risk a wrong answer. */
    for (int i = 0; i < 16; i++) {
        int fd = (int)syscall(SYS_openat2, ws->dirfd, rel, &how, sizeof how);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
    }
    return -EAGAIN;
}

/*
 * The fallback: walk REL a component at a time from the workspace's
 * descriptor, holding a descriptor of each directory passed (so ".."
 * pops back to one we hold, never a lookup of ".."), reading symlinks
 * ourselves and splicing their targets in front of the rest.  Every open
 * has O_NOFOLLOW, so a directory swapped for a symlink after we looked
 * at it fails the open instead of being followed.
 */
static int
walk_open(const struct workspace *ws, const char *rel, int flags, mode_t mode)
{
    int stack[WALK_MAX_DEPTH];
    int depth = 0, links = 0, rc;
    stack[0] = ws->dirfd;
    struct sbuf todo = {0};
    sbuf_adds(&todo, rel);
    size_t pos = 0;
    for (;;) {
        while (pos < todo.len && todo.s[pos] == '/')
            pos++;
        if (pos == todo.len) {
            /* Nothing left (REL was "." or ended at ".."): open where we are. */
            rc = openat(stack[depth], ".", flags | O_CLOEXEC, mode);
            rc = rc < 0 ? -errno : rc;
            break;
        }
        char *name = todo.s + pos;
        char *end = strchrnul(name, '/');
        size_t nlen = (size_t)(end - name);
        size_t next = pos + nlen;
        bool last = true;
        for (size_t i = next; i < todo.len; i++)
            if (todo.s[i] != '/') {
                last = false;
                break;
            }
        char saved = *end;
        *end = '\0';
        if (strcmp(name, ".") == 0) {
            *end = saved;
            pos = next;
            continue;
        }
        if (strcmp(name, "..") == 0) {
            *end = saved;
            if (depth == 0) {
                rc = -EXDEV;
                break;
            }
            close(stack[depth--]);
            pos = next;
            continue;
        }
        struct stat st;
        if (fstatat(stack[depth], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = -errno;
            if (rc == -ENOENT && last && (flags & O_CREAT) != 0) {
                rc = openat(stack[depth], name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                rc = rc < 0 ? -errno : rc;
            }
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlinkat(stack[depth], name, target, sizeof target - 1);
            if (tl < 0) {
                rc = -errno;
                break;
            }
            if (++links > WALK_MAX_LINKS) {
                rc = -ELOOP;
                break;
            }
            if (tl == 0 || target[0] == '/') {
                rc = -EXDEV; /* as RESOLVE_BENEATH: absolute links are refused */
                break;
            }
            target[tl] = '\0';
            *end = saved;
            struct sbuf spliced = {0};
            sbuf_add(&spliced, target, (size_t)tl);
            sbuf_adds(&spliced, "/");
            sbuf_add(&spliced, todo.s + next, todo.len - next);
            sbuf_free(&todo);
            todo = spliced;
            pos = 0;
            continue;
        }
        if (last) {
            rc = openat(stack[depth], name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            rc = rc < 0 ? -errno : rc;
            break;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = -ENOTDIR;
            break;
        }
        if (depth + 1 == WALK_MAX_DEPTH) {
            rc = -ENAMETOOLONG;
            break;
        }
        if (walk_hook != NULL)
            walk_hook(name);
        int fd = openat(stack[depth], name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        stack[++depth] = fd;
        *end = saved;
        pos = next;
    }
    while (depth > 0)
        close(stack[depth--]);
    sbuf_free(&todo);
    return rc;
}

/* Word a failed open of SHOWN (the path as the model gave it) for the
 * model; returns RC. */
static int
open_error(const struct workspace *ws, const char *shown, int rc, struct cerr *err)
{
    switch (-rc) {
    case EXDEV:
        return cerr_set(err, rc, 403,
                        "path %s leads outside the workspace %s through a symlink; use a path "
                        "inside it",
                        shown, ws->root);
    case ELOOP:
        return cerr_set(err, rc, 403,
                        "path %s: too many symlinks, or a symlink replaced a directory while it "
                        "was opened",
                        shown);
    case ENOENT:
        return cerr_set(err, rc, 404, "%s does not exist in the workspace %s", shown, ws->root);
    case ENOTDIR:
        return cerr_set(err, rc, 400, "path %s: a part of it is not a directory", shown);
    case EISDIR:
        return cerr_set(err, rc, 400, "%s is a directory, not a file", shown);
    default:
        return cerr_set(err, rc, 500, "error opening %s (%s)", shown, strerror(-rc));
    }
}

static int
outside(const struct workspace *ws, const char *shown, struct cerr *err)
{
    return cerr_set(err, -EXDEV, 403, "path %s is outside the workspace %s; use a path inside it",
                    shown, ws->root);
}

/* Open the directory DIR (cleaned, relative) for writing into it,
 * creating what is missing, each level again resolved beneath the
 * workspace.  Returns a descriptor or a negative errno with ERR filled. */
static int
open_parent(const struct workspace *ws, const char *dir, bool create, const char *shown,
            struct cerr *err)
{
    int fd = open_beneath(ws, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd >= 0 || fd != -ENOENT || !create)
        return fd >= 0 ? fd : open_error(ws, shown, fd, err);
    /* Level by level: each prefix is resolved beneath the workspace, and
     * a missing level is made with mkdirat in the level above it, which
     * we hold, so no name is looked up twice from a string. */
    char *prefix = xstrdup(dir);
    size_t n = strlen(prefix);
    int above = -1; /* -1: the workspace's own descriptor */
    for (size_t i = 0; i <= n; i++) {
        if (prefix[i] != '/' && prefix[i] != '\0')
            continue;
        prefix[i] = '\0';
        fd = open_beneath(ws, prefix, O_PATH | O_DIRECTORY, 0);
        if (fd == -ENOENT) {
            char *slash = strrchr(prefix, '/');
            const char *leaf = slash == NULL ? prefix : slash + 1;
            if (mkdirat(above >= 0 ? above : ws->dirfd, leaf, 0777) < 0 && errno != EEXIST)
                fd = -errno;
            else
                fd = open_beneath(ws, prefix, O_PATH | O_DIRECTORY, 0);
        }
        if (i < n)
            prefix[i] = '/';
        if (above >= 0)
            close(above);
        above = fd;
        if (fd < 0)
            break;
    }
    free(prefix);
    if (above >= 0)
        close(above);
    if (fd >= 0)
        fd = open_beneath(ws, dir, O_RDONLY | O_DIRECTORY, 0);
    return fd >= 0 ? fd : open_error(ws, shown, fd, err);
}

/*
 * Resolve the directory holding *REL and look at its last component,
 * following a symlink there while it stays inside (so that writing
 * through a link writes its target, as an editor would).  On success
 * *PD is the directory's descriptor, *BASE the name in it (pointing into
 * *REL, which may be replaced) and ST its lstat; returns 1 when the name
 * exists, 0 when not, or a negative errno with ERR filled.
 */
static int
resolve_last(const struct workspace *ws, char **rel, int *pd, const char **base, struct stat *st,
             bool create, const char *shown, struct cerr *err)
{
    for (int hop = 0; hop <= WRITE_MAX_HOPS; hop++) {
        if (strcmp(*rel, ".") == 0)
            return cerr_set(err, -EISDIR, 400, "%s is a directory, not a file", shown);
        char *name = split_last(*rel);
        const char *dir = name == *rel ? "." : *rel;
        *pd = open_parent(ws, dir, create, shown, err);
        if (*pd < 0) {
            int rc = *pd;
            *pd = -1;
            return rc;
        }
        *base = name;
        if (fstatat(*pd, name, st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) {
                memset(st, 0, sizeof *st);
                return 0;
            }
            return open_error(ws, shown, -errno, err);
        }
        if (!S_ISLNK(st->st_mode))
            return 1;
        char target[PATH_MAX];
        ssize_t tl = readlinkat(*pd, name, target, sizeof target - 1);
        if (tl < 0)
            return open_error(ws, shown, -errno, err);
        target[tl] = '\0';
        close(*pd);
        *pd = -1;
        char *next;
        if (target[0] == '/') {
            next = workspace_relpath(ws, target, NULL);
        } else {
            char *joined = xasprintf("%s/%s", dir, target);
            next = workspace_relpath(ws, joined, NULL);
            free(joined);
        }
        if (next == NULL)
            return open_error(ws, shown, -EXDEV, err);
        free(*rel);
        *rel = next;
    }
    return open_error(ws, shown, -ELOOP, err);
}

/* Split REL at its last '/' in place; returns the last component (REL
 * itself when there is no '/'). */
static char *
split_last(char *rel)
{
    char *slash = strrchr(rel, '/');
    if (slash == NULL)
        return rel;
    *slash = '\0';
    return slash + 1;
}

/* Read FD to its end into OUT, refusing more than MAX bytes with -EFBIG. */
static int
read_fd(int fd, size_t max, struct workspace_file *out)
{
    struct sbuf b = {0};
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int rc = -errno;
            sbuf_free(&b);
            return rc;
        }
        if (r == 0)
            break;
        if (b.len + (size_t)r > max) {
            sbuf_free(&b);
            return -EFBIG;
        }
        sbuf_add(&b, chunk, (size_t)r);
    }
    if (b.s == NULL)
        sbuf_add(&b, "", 0);
    out->exists = true;
    out->data = b.s;
    out->len = b.len;
    return 0;
}

static bool
same_content(const struct workspace_file *a, const struct workspace_file *b)
{
    if (a->exists != b->exists)
        return false;
    return !a->exists || (a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
}
