/*
 * notifyrecv: bind a datagram socket at PATH, as systemd's NOTIFY_SOCKET,
 * and print each message received (one per line, newlines inside a
 * message shown as ';') until SECONDS pass or a message contains STOP.
 *   notifyrecv PATH SECONDS [STOP]
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", argv[1]);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    unlink(argv[1]);
    if (bind(s, (struct sockaddr *)&sun, sizeof sun) != 0) {
        perror("bind");
        return 1;
    }
    time_t end = time(NULL) + strtol(argv[2], NULL, 10);
    while (time(NULL) < end) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        for (char *c = buf; *c; c++)
            if (*c == '\n')
                *c = ';';
        printf("%s\n", buf);
        fflush(stdout);
        if (argc > 3 && strstr(buf, argv[3]) != NULL)
            break;
    }
    return 0;
}
