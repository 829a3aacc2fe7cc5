/*
 * ptyrun: run a command on a pseudo-terminal and type into it, for
 * testing interactive programs.  Each line of standard input is typed
 * (with Enter) once PROMPT has appeared one more time than before; a line
 * "@TEXT@INPUT" instead waits for TEXT to appear after the last input.
 * An input "^C" sends an interrupt.  Prints everything the program wrote
 * and exits with its status (4 on timeout).
 *   ptyrun SECONDS PROMPT -- COMMAND [ARGS...]
 */
#include <poll.h>
#include <stdbool.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static size_t
count(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            n++;
    return n;
}

int
main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0)
        return 2;
    int seconds = atoi(argv[1]);
    const char *prompt = argv[2];
    static char lines[64][1024];
    int nlines = 0;
    while (nlines < 64 && fgets(lines[nlines], sizeof lines[0], stdin) != NULL) {
        lines[nlines][strcspn(lines[nlines], "\n")] = '\0';
        nlines++;
    }
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    if (pid == 0) {
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    static char out[1 << 20];
    size_t len = 0;
    int next = 0;
    time_t end = time(NULL) + seconds;
    int status = -1;
    size_t prompts_seen = 0, mark = 0;
    while (time(NULL) < end) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = read(master, out + len, sizeof out - 1 - len);
            if (n <= 0) {
                /* The terminal closed: the program has exited. */
                waitpid(pid, &status, 0);
                break;
            }
            len += (size_t)n;
        }
        if (next < nlines) {
            const char *input = lines[next];
            bool ready;
            if (input[0] == '@' && strchr(input + 1, '@') != NULL) {
                char *sep = strchr(input + 1, '@');
                *sep = '\0';
                ready = count(out + mark, len - mark, input + 1) > 0;
                *sep = '@';
                if (ready)
                    input = sep + 1;
            } else {
                ready = count(out, len, prompt) > prompts_seen;
            }
            if (ready) {
                if (strcmp(input, "^C") == 0) {
                    write(master, "\003", 1);
                } else {
                    write(master, input, strlen(input));
                    write(master, "\r", 1);
                }
                prompts_seen = count(out, len, prompt);
                mark = len;
                next++;
            }
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    fwrite(out, 1, len, stdout);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return 4;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
