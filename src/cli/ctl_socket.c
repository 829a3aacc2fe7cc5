/*
 * ctl_socket: how caretictl reaches the daemon, and why it trusts what
 * answers.  The socket path must be ours and closed to others, and the
 * process behind it must run as our uid (SO_PEERCRED) before curl sends a
 * byte: a prompt must never reach a server another user put on the path.
 * It owns nothing beyond one connection attempt; curl owns the socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "careti/core/path.h"
#include "careti/core/proto.h"
#include "ctl.h"

static int check_path(struct ctl_conn *c);
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address);
static int on_prereq(void *clientp, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port);

int
ctl_conn_setup(struct ctl_conn *c, CURL *h, const char *path)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->fd = -1;
    if (check_path(c) != 0) {
        fprintf(stderr, "caretictl: refusing %s: %s\n", path, c->refusal);
        return -CTL_EXIT_ERROR;
    }
    /*
     * curl connects the socket on_open_socket made, and on_prereq checks
     * who is on the other end of that very socket before the request is
     * written, so nothing can be swapped in between.  (Connecting it here
     * and answering CURL_SOCKOPT_ALREADY_CONNECTED would be the same, but
     * libcurl 7.88, Debian 12's, connects such a socket again and fails
     * with EISCONN: curl/curl#10626, fixed in 8.0.0.)
     */
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, path);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    return 0;
}

int
ctl_conn_failed(const struct ctl_conn *c, CURL *h, CURLcode res, const char *errbuf)
{
    long os_errno = 0;
    if (*c->refusal != '\0') {
        fprintf(stderr, "caretictl: refusing %s: %s\n", c->path, c->refusal);
        return -CTL_EXIT_ERROR;
    }
    if (res == CURLE_COULDNT_CONNECT)
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (res == CURLE_COULDNT_CONNECT &&
        (os_errno == 0 || os_errno == ENOENT || os_errno == ECONNREFUSED)) {
        fprintf(stderr,
                "caretictl: no server running on %s; start it with `systemctl --user start "
                "caretid` or `caretid &`\n",
                c->path);
        return -CTL_EXIT_NO_DAEMON;
    }
    if (res == CURLE_COULDNT_CONNECT) {
        fprintf(stderr, "caretictl: error connecting to %s (%s)\n", c->path,
                strerror((int)os_errno));
        return -CTL_EXIT_ERROR;
    }
    fprintf(stderr, "caretictl: error talking to %s (%s)\n", c->path,
            errbuf != NULL && *errbuf ? errbuf : curl_easy_strerror(res));
    return -CTL_EXIT_ERROR;
}

/*
 * The socket and its directory must be ours and not writable by group or
 * others, or someone else could have put (or may yet swap in) their own
 * server there.  A missing directory or socket passes: connecting then
 * says no daemon runs.  Returns 0, or -1 with C->refusal filled.  The
 * peer check in on_prereq is what closes the race with a swap after
 * these checks; these name the cause and the fix.
 */
static int
check_path(struct ctl_conn *c)
{
    uid_t me = geteuid();
    char *dir = path_dirname(c->path);
    struct stat st;
    int rc = 0;

    if (stat(dir, &st) != 0)
        goto out;
    if (st.st_uid != me) {
        snprintf(c->refusal, sizeof c->refusal,
                 "its directory %s is owned by uid %u, not you (uid %u); have it removed, or "
                 "point XDG_RUNTIME_DIR or --socket at a directory of your own",
                 dir, (unsigned)st.st_uid, (unsigned)me);
        rc = -1;
        goto out;
    }
    if ((st.st_mode & 022) != 0) {
        snprintf(c->refusal, sizeof c->refusal,
                 "its directory %s is writable by others (mode %04o), so the socket may not "
                 "be your daemon's; chmod 700 %s",
                 dir, (unsigned)(st.st_mode & 07777), dir);
        rc = -1;
        goto out;
    }
    if (stat(c->path, &st) != 0)
        goto out;
    if (st.st_uid != me) {
        snprintf(c->refusal, sizeof c->refusal,
                 "the socket is owned by uid %u, not you (uid %u), so it is not your daemon's; "
                 "remove it and start caretid",
                 (unsigned)st.st_uid, (unsigned)me);
        rc = -1;
        goto out;
    }
    if ((st.st_mode & 022) != 0) {
        snprintf(c->refusal, sizeof c->refusal,
                 "the socket is writable by others (mode %04o); caretid makes it 0600: remove "
                 "it and restart caretid",
                 (unsigned)(st.st_mode & 07777));
        rc = -1;
    }
out:
    free(dir);
    return rc;
}

/* curl's CURLOPT_OPENSOCKETFUNCTION: make the socket curl connects, and
 * remember it so on_prereq can ask who answered on it. */
static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct ctl_conn *c = clientp;
    (void)purpose;
    if (address->family != AF_UNIX) {
        snprintf(c->refusal, sizeof c->refusal, "it is not a Unix socket address");
        return CURL_SOCKET_BAD;
    }
    c->fd = socket(AF_UNIX, address->socktype | SOCK_CLOEXEC, address->protocol);
    return c->fd < 0 ? CURL_SOCKET_BAD : c->fd;
}

/*
 * curl's CURLOPT_PREREQFUNCTION: the socket is connected and nothing has
 * been sent.  Go on only if the process that listens there runs as our
 * uid (SO_PEERCRED: the kernel's word, recorded when it called listen).
 * Returns CURL_PREREQFUNC_ABORT with C->refusal filled otherwise.
 */
static int
on_prereq(void *clientp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
          int conn_local_port)
{
    struct ctl_conn *c = clientp;
    struct ucred cred;
    socklen_t len = sizeof cred;
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;

    if (c->fd < 0 || getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        snprintf(c->refusal, sizeof c->refusal, "cannot learn which user serves it (%s)",
                 c->fd < 0 ? "curl opened the socket itself" : strerror(errno));
        return CURL_PREREQFUNC_ABORT;
    }
    if (cred.uid != geteuid()) {
        snprintf(c->refusal, sizeof c->refusal,
                 "the process serving it (pid %ld) runs as uid %u, not you (uid %u), so it is "
                 "not your caretid; stop it, remove the socket and start caretid",
                 (long)cred.pid, (unsigned)cred.uid, (unsigned)geteuid());
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
