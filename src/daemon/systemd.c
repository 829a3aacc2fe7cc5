/*
 * systemd: socket activation and sd_notify, written against the documented
 * environment protocol.  Owns no state; must not keep any fd but the one
 * inherited listening socket it hands back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "careti/daemon/systemd.h"

#define SD_LISTEN_FDS_START 3

int
systemd_listen_fd(int *fd, char *path, size_t pathlen, struct cerr *err)
{
    *fd = -1;
    const char *pid_s = getenv("LISTEN_PID");
    const char *fds_s = getenv("LISTEN_FDS");
    if (pid_s == NULL || fds_s == NULL)
        return 0;
    long pid = strtol(pid_s, NULL, 10);
    long nfds = strtol(fds_s, NULL, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (pid != (long)getpid())
        return 0; /* meant for another process */
    if (nfds != 1)
        return cerr_set(err, -EINVAL, 0,
                        "systemd passed %ld sockets; caretid.socket must have exactly one "
                        "ListenStream= with a Unix path",
                        nfds);
    int s = SD_LISTEN_FDS_START;
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    struct sockaddr_un sun;
    socklen_t slen = sizeof sun;
    memset(&sun, 0, sizeof sun);
    if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return cerr_set(err, -ENOTSOCK, 0, "inherited fd 3 is not a stream socket");
    len = sizeof listening;
    if (getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        return cerr_set(err, -EINVAL, 0, "inherited fd 3 is not a listening socket");
    if (getsockname(s, (struct sockaddr *)&sun, &slen) != 0 || sun.sun_family != AF_UNIX ||
        sun.sun_path[0] == '\0')
        return cerr_set(err, -EINVAL, 0, "inherited fd 3 is not a Unix socket with a path");
    snprintf(path, pathlen, "%s", sun.sun_path);
    fcntl(s, F_SETFD, FD_CLOEXEC);
    *fd = s;
    return 0;
}

int
systemd_notify(const char *state)
{
    const char *where = getenv("NOTIFY_SOCKET");
    if (where == NULL || *where == '\0')
        return 0;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t n = strlen(where);
    if (n >= sizeof sun.sun_path || (where[0] != '/' && where[0] != '@'))
        return -EINVAL;
    memcpy(sun.sun_path, where, n);
    if (where[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    ssize_t rc = sendto(s, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
    int e = rc < 0 ? -errno : 0;
    close(s);
    return e;
}
