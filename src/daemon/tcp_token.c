/*
 * tcp_token: the generated bearer token of the TCP listeners.  Owns only
 * the file STATE_DIR/tcp-token; never logs the token, and never accepts a
 * file another user could have written or read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "careti/core/rundir.h"
#include "careti/core/xmalloc.h"
#include "careti/daemon/tcp_token.h"

static bool
is_token(const char *s, size_t len)
{
    if (len != TCP_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

char *
tcp_token_path(const char *state_dir)
{
    return xasprintf("%s/tcp-token", state_dir);
}

/* Read an existing token file FD (PATH for messages) into OUT. */
static int
read_token(int fd, const char *path, char *out, struct cerr *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return cerr_set(err, -errno, 500, "error checking %s (%s)", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return cerr_set(err, -EPERM, 500,
                        "%s is not a file of ours (uid %u); remove it and restart caretid to "
                        "make a new token",
                        path, (unsigned)geteuid());
    if ((st.st_mode & 077) != 0)
        return cerr_set(err, -EPERM, 500,
                        "%s has mode %04o and others may read the token: chmod 600 %s, or "
                        "remove it and restart caretid for a new token",
                        path, (unsigned)(st.st_mode & 07777), path);
    char buf[TCP_TOKEN_LEN + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return cerr_set(err, -errno, 500, "error reading %s (%s)", path, strerror(errno));
    size_t len = (size_t)n;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (!is_token(buf, len))
        return cerr_set(err, -EINVAL, 500,
                        "%s does not hold a token (64 hex digits); remove it and restart "
                        "caretid to make a new one",
                        path);
    memcpy(out, buf, TCP_TOKEN_LEN);
    out[TCP_TOKEN_LEN] = '\0';
    return 0;
}

/* Make PATH with a new random token; -EEXIST when another got there
 * first. */
static int
make_token(const char *path, char *out, struct cerr *err)
{
    unsigned char raw[TCP_TOKEN_LEN / 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return cerr_set(err, -EIO, 500, "error making a token (getrandom: %s)", strerror(errno));
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
    }
    out[TCP_TOKEN_LEN] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? -EEXIST
                               : cerr_set(err, -errno, 500, "error creating %s (%s)", path,
                                          strerror(errno));
    char line[TCP_TOKEN_LEN + 1];
    memcpy(line, out, TCP_TOKEN_LEN);
    line[TCP_TOKEN_LEN] = '\n';
    int rc = 0;
    if (write(fd, line, sizeof line) != (ssize_t)sizeof line || fsync(fd) != 0)
        rc = cerr_set(err, -EIO, 500, "error writing %s (%s)", path, strerror(errno));
    close(fd);
    if (rc != 0)
        unlink(path);
    return rc;
}

int
tcp_token_load(const char *state_dir, char *out, struct cerr *err)
{
    char *path = tcp_token_path(state_dir);
    int rc = rundir_mkdirs(state_dir, err);
    if (rc != 0)
        goto out;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* Non-blocking: a FIFO put there must not hang the start. */
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            rc = read_token(fd, path, out, err);
            close(fd);
            goto out;
        }
        if (errno != ENOENT) {
            rc = cerr_set(err, -errno, 500, "error opening %s (%s)", path, strerror(errno));
            goto out;
        }
        rc = make_token(path, out, err);
        if (rc != -EEXIST)
            goto out;
    }
    rc = cerr_set(err, -EEXIST, 500, "error creating %s (it keeps changing)", path);
out:
    free(path);
    return rc;
}
