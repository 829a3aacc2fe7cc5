/*
 * rundir: the socket's directory and the instance lock.  Owns the lock
 * fd until the caller takes it.  Must never remove a socket or lock that
 * another live daemon holds: the lock decides, not the socket's presence.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "careti/path.h"
#include "careti/rundir.h"
#include "careti/xmalloc.h"

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
    int rc = rundir_mkdirs(dir, err);
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

int
rundir_lock(const char *socket_path, struct cerr *err)
{
    char *lock_path = xasprintf("%s.lock", socket_path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc;
    if (fd < 0) {
        rc = cerr_set(err, -errno, 500, "error opening %s (%s)", lock_path, strerror(errno));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0)
            pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            rc = cerr_set(err, -EWOULDBLOCK, 500,
                          "another caretid (pid %s) is already serving %s; stop it first "
                          "(systemctl --user stop caretid) or give this one another --socket",
                          *pid ? pid : "unknown", socket_path);
        else
            rc = cerr_set(err, -e, 500, "error locking %s (%s)", lock_path, strerror(e));
        goto out;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        rc = cerr_set(err, -errno, 500, "error writing %s (%s)", lock_path, strerror(errno));
        close(fd);
        goto out;
    }
    rc = fd;
out:
    free(lock_path);
    return rc;
}
