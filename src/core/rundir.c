/*
 * rundir: the socket's directory and the instance lock.  Owns the lock
 * fd until the caller takes it.  Must never remove a socket or lock that
 * another live daemon holds: the lock decides, not the socket's presence;
 * and must never bind where another user could move the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "careti/core/path.h"
#include "careti/core/rundir.h"
#include "careti/core/xmalloc.h"

/* Symlinks followed on the way to the socket's directory, as the kernel's
 * own limit (MAXSYMLINKS). */
#define RUNDIR_MAX_LINKS 40

static int check_walk(const char *socket_path, const char *dir, struct cerr *err);

int
rundir_mkdirs(const char *dir, struct cerr *err)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return 0;
    char *parent = path_dirname(dir);
    int rc = strcmp(parent, dir) != 0 ? rundir_mkdirs(parent, err) : 0;
    free(parent);
    if (rc != 0)
        return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cerr_set(err, -errno, 500, "error creating %s (%s)", dir, strerror(errno));
    return 0;
}

int
rundir_prepare(const char *socket_path, struct cerr *err)
{
    char *dir = path_dirname(socket_path);
    struct stat st;
    int rc = check_walk(socket_path, dir, err);
    if (rc != 0)
        goto out;
    rc = rundir_mkdirs(dir, err);
    if (rc != 0)
        goto out;
    if (stat(dir, &st) != 0) {
        rc = cerr_set(err, -errno, 500, "error checking %s (%s)", dir, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = cerr_set(err, -ENOTDIR, 500, "%s is not a directory; choose another --socket", dir);
        goto out;
    }
    if (st.st_uid != geteuid()) {
        rc = cerr_set(err, -EPERM, 500,
                      "socket directory %s belongs to uid %u, not to us (uid %u); choose "
                      "another --socket",
                      dir, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = cerr_set(err, -EPERM, 500,
                      "socket directory %s has mode %04o; it must be private: chmod 700 %s", dir,
                      (unsigned)(st.st_mode & 07777), dir);
        goto out;
    }
out:
    free(dir);
    return rc;
}

/* Open LOCK_PATH and take its exclusive lock, then write LINE (our pid
 * and what the holder serves) into it.  Returns the fd; -EWOULDBLOCK with
 * HOLDER (HOLDER_LEN bytes) filled from the file when another process
 * holds it; else a negative errno with ERR filled. */
static int
take_lock(const char *lock_path, const char *line, char *holder, size_t holder_len,
          struct cerr *err)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return cerr_set(err, -errno, 500, "error opening %s (%s)", lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = pread(fd, holder, holder_len - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return -EWOULDBLOCK;
        return cerr_set(err, -e, 500, "error locking %s (%s)", lock_path, strerror(e));
    }
    ssize_t len = (ssize_t)strlen(line);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return cerr_set(err, -e, 500, "error writing %s (%s)", lock_path, strerror(e));
    }
    return fd;
}

int
rundir_lock(const char *socket_path, struct cerr *err)
{
    char *lock_path = xasprintf("%s.lock", socket_path);
    char line[32], holder[32];
    snprintf(line, sizeof line, "%ld\n", (long)getpid());
    int rc = take_lock(lock_path, line, holder, sizeof holder, err);
    if (rc == -EWOULDBLOCK) {
        holder[strcspn(holder, "\n")] = '\0';
        rc = cerr_set(err, -EWOULDBLOCK, 500,
                      "another caretid (pid %s) is already serving %s; stop it first "
                      "(systemctl --user stop caretid) or give this one another --socket",
                      *holder ? holder : "unknown", socket_path);
    }
    free(lock_path);
    return rc;
}

int
rundir_lock_state(const char *state_dir, const char *socket_path, const char *config_path,
                  struct cerr *err)
{
    int rc = rundir_mkdirs(state_dir, err);
    if (rc != 0)
        return rc;
    char *lock_path = xasprintf("%s/caretid.lock", state_dir);
    char *line = xasprintf("%ld\n%s\n", (long)getpid(), socket_path);
    char holder[PATH_MAX + 32];
    rc = take_lock(lock_path, line, holder, sizeof holder, err);
    if (rc == -EWOULDBLOCK) {
        /* "PID\nSOCKET\n", as the holder wrote it. */
        char *sock = strchr(holder, '\n');
        if (sock != NULL) {
            *sock++ = '\0';
            sock[strcspn(sock, "\n")] = '\0';
        }
        rc = cerr_set(err, -EWOULDBLOCK, 500,
                      "another caretid (pid %s, serving %s) is already using the state "
                      "directory %s; stop it, or give this one its own daemon.state_dir (in %s)",
                      *holder ? holder : "unknown", sock && *sock ? sock : "an unknown socket",
                      state_dir, config_path ? config_path : "a config file given with -c");
    }
    free(line);
    free(lock_path);
    return rc;
}

/*
 * Walk DIR, the socket's directory, one component at a time as the kernel
 * resolves it, following symlinks (and the links inside their targets),
 * and refuse anything another user could use to move the socket under
 * us: a symlink owned by anyone but us or root, or a directory before the
 * last that is owned by someone else or writable by others without the
 * sticky bit (they could rename what follows).  Our own symlinks are
 * fine: only we and root can repoint them, and the walk checks where
 * they lead.  The last directory gets rundir_prepare's stricter check; a
 * missing component ends the walk, as rundir_mkdirs makes the rest ours.
 * Path checks cannot close every race; caretictl checks the server's uid
 * on each connection, which does.  Returns 0 or a negative errno with ERR
 * naming the path, the component and its owner.
 */
static int
check_walk(const char *socket_path, const char *dir, struct cerr *err)
{
    uid_t me = geteuid();
    char *todo = NULL, *done = xstrdup(""), *next = NULL;
    char target[PATH_MAX];
    size_t pos = 0;
    int links = 0, rc = 0;
    struct stat st;

    if (dir[0] == '/') {
        todo = xstrdup(dir);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (cwd == NULL) {
            rc = cerr_set(err, -errno, 500, "error finding the directory of --socket %s (%s)",
                          socket_path, strerror(errno));
            goto out;
        }
        todo = xasprintf("%s/%s", cwd, dir);
        free(cwd);
    }
    for (;;) {
        while (todo[pos] == '/')
            pos++;
        if (todo[pos] == '\0')
            break;
        size_t n = strcspn(todo + pos, "/");
        const char *comp = todo + pos;
        pos += n;
        bool last = todo[pos + strspn(todo + pos, "/")] == '\0';
        if (n == 1 && comp[0] == '.')
            continue;
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            /* DONE holds no symlinks, so ".." is its textual parent. */
            char *slash = strrchr(done, '/');
            if (slash != NULL)
                *slash = '\0';
            continue;
        }
        free(next);
        next = xasprintf("%s/%.*s", done, (int)n, comp);
        if (lstat(next, &st) != 0) {
            if (errno != ENOENT)
                rc = cerr_set(err, -errno, 500, "error checking %s (%s)", next, strerror(errno));
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            if (st.st_uid != me && st.st_uid != 0) {
                rc = cerr_set(err, -EPERM, 500,
                              "refusing --socket %s: %s is a symlink owned by uid %u, not you "
                              "(uid %u) or root; give a path of your own",
                              socket_path, next, (unsigned)st.st_uid, (unsigned)me);
                goto out;
            }
            ssize_t len = readlink(next, target, sizeof target);
            if (len < 0 || (size_t)len >= sizeof target || ++links > RUNDIR_MAX_LINKS) {
                int e = len < 0 ? errno : (size_t)len >= sizeof target ? ENAMETOOLONG : ELOOP;
                rc = cerr_set(err, -e, 500, "error following %s (%s)", next, strerror(e));
                goto out;
            }
            /* Go on from the link's target, then what followed the link. */
            char *rest = xasprintf("%.*s/%s", (int)len, target, todo + pos);
            free(todo);
            todo = rest;
            pos = 0;
            if (target[0] == '/')
                done[0] = '\0';
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = cerr_set(err, -ENOTDIR, 500, "%s is not a directory; choose another --socket",
                          next);
            goto out;
        }
        if (!last && st.st_uid != me && st.st_uid != 0) {
            rc = cerr_set(err, -EPERM, 500,
                          "refusing --socket %s: directory %s is owned by uid %u, not you "
                          "(uid %u) or root; give a path of your own",
                          socket_path, next, (unsigned)st.st_uid, (unsigned)me);
            goto out;
        }
        if (!last && (st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
            rc = cerr_set(err, -EPERM, 500,
                          "refusing --socket %s: directory %s is writable by others (mode "
                          "%04o) without the sticky bit; give a path of your own",
                          socket_path, next, (unsigned)(st.st_mode & 07777));
            goto out;
        }
        free(done);
        done = next;
        next = NULL;
    }
out:
    free(next);
    free(done);
    free(todo);
    return rc;
}
