/*
 * rawclient: send raw bytes to a Unix or TCP socket and print what comes
 * back, for integration tests that need malformed, dribbled or huge
 * requests that curl will not send.  Standard input is streamed to the
 * socket while the answer is read, so a server that answers early (413)
 * is seen even while the body is still going out.
 *
 *   rawclient (-u PATH | -t HOST:PORT) [-w MS] [-r SECONDS] [-i] < request
 *     -w MS       send one byte every MS milliseconds (a dribbling client)
 *     -r SECONDS  give up reading after this long (exit 4)
 *     -i          stop after the first complete response head and body
 *                 by Content-Length (keep-alive servers do not close)
 * Exit: 0 answer read to EOF (or -i), 1 cannot connect, 4 timed out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
connect_to(const char *unix_path, const char *tcp)
{
    int s;
    if (unix_path != NULL) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", unix_path);
        s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&sun, sizeof sun) != 0)
            return -1;
        return s;
    }
    char host[128];
    snprintf(host, sizeof host, "%s", tcp);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10))};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return -1;
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&sin, sizeof sin) != 0)
        return -1;
    return s;
}

/* True once BUF holds a response head and its Content-Length body. */
static bool
response_complete(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
        return false;
    const char *cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
    size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
    return (size_t)(buf + len - (end + 4)) >= body;
}

int
main(int argc, char **argv)
{
    const char *unix_path = NULL, *tcp = NULL;
    int wait_ms = 0, read_s = 10;
    bool one = false;
    int ch;
    while ((ch = getopt(argc, argv, "u:t:w:r:i")) != -1) {
        switch (ch) {
        case 'u': unix_path = optarg; break;
        case 't': tcp = optarg; break;
        case 'w': wait_ms = (int)strtol(optarg, NULL, 10); break;
        case 'r': read_s = (int)strtol(optarg, NULL, 10); break;
        case 'i': one = true; break;
        default: return 2;
        }
    }
    int s = connect_to(unix_path, tcp);
    if (s < 0) {
        fprintf(stderr, "rawclient: cannot connect (%s)\n", strerror(errno));
        return 1;
    }
    static char in[65536], out[1 << 20];
    size_t in_len = 0, in_off = 0, out_len = 0;
    bool in_eof = false, sending = true;
    long long deadline = now_ms() + read_s * 1000LL;
    long long next_send = 0;
    while (now_ms() < deadline) {
        if (sending && in_off == in_len && !in_eof) {
            ssize_t n = read(STDIN_FILENO, in, sizeof in);
            if (n <= 0)
                in_eof = true;
            else
                in_len = (size_t)n, in_off = 0;
        }
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (sending && in_off < in_len && now_ms() >= next_send)
            p.events |= POLLOUT;
        poll(&p, 1, wait_ms > 0 ? 5 : 50);
        if (p.revents & POLLOUT) {
            size_t chunk = wait_ms > 0 ? 1 : in_len - in_off;
            ssize_t n = send(s, in + in_off, chunk, MSG_NOSIGNAL);
            if (n < 0)
                sending = false; /* the server closed on us; read its answer */
            else
                in_off += (size_t)n;
            next_send = now_ms() + wait_ms;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(s, out + out_len, sizeof out - 1 - out_len, 0);
            if (n <= 0) {
                fwrite(out, 1, out_len, stdout);
                return 0;
            }
            out_len += (size_t)n;
            if (one && response_complete(out, out_len)) {
                fwrite(out, 1, out_len, stdout);
                return 0;
            }
        }
    }
    fwrite(out, 1, out_len, stdout);
    return 4;
}
