/*
 * command: the agent's shell commands, run on the libuv loop.  The daemon
 * forks a supervisor; the supervisor forks `/bin/sh -c COMMAND` into a new
 * session (so a group of its own and no terminal), reaps it, and kills its
 * group and every descendant when the command ends, is told to stop, or
 * the daemon dies (its control pipe reads EOF).  The supervisor is a copy
 * of a multi-threaded daemon that never execs: between fork and exit it
 * makes only async-signal-safe calls and never allocates.  This module
 * owns the pipes, the supervisor's pid and the capped output; it never
 * blocks the loop and never calls back from inside a public function.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "careti/agent/command.h"
#include "careti/core/log.h"
#include "careti/core/xmalloc.h"

/* Debian 12's headers stop at ABI 2; the kernel may offer more. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* What "writing" means to Landlock, ABI 1: making, removing and writing. */
#define LL_WRITE_ABI1                                                                              \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                               \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |  \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |    \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* The supervisor's fds, moved to these numbers before it forks the shell. */
enum { FD_IN, FD_OUT, FD_ERR, FD_CTL, FD_REPORT, FD_RULES, N_FDS };

/* What the supervisor writes on FD_REPORT before it exits. */
enum { REPORT_EXITED = 1, REPORT_SIGNALED, REPORT_FORK_FAILED };
struct report {
    int32_t kind;
    int32_t value; /* exit code, signal number or errno */
};

/* The supervisor's stages: the command runs; SIGTERM sent; SIGKILL sent. */
enum { LV_RUN, LV_TERM, LV_KILL };

#define SWEEP_TICK_MS 50  /* how often a stopping supervisor looks for orphans */
#define DRAIN_MS 1000     /* output still open after the supervisor is gone */
#define MARKER_MAX 96     /* room kept for the "left out" line */
#define MIN_CAP 256

/* Everything the supervisor needs, prepared before fork (it cannot allocate). */
struct plan {
    char *argv[4];
    char **envp;
    const char *workspace;
    int src[N_FDS]; /* the daemon's fds to move to FD_*; -1 for none */
    int64_t grace_ms;
};

/* The output as the model will see it: its head, a ring of its tail, counts. */
struct collector {
    char *head;
    size_t head_len;
    char *ring;
    size_t ring_pos, ring_len; /* next write position; bytes held */
    size_t cap;
    uint64_t total, newlines;
    char last;
};

struct command {
    uv_loop_t *loop;
    uv_pipe_t out;    /* merged stdout and stderr */
    uv_pipe_t report; /* the supervisor's struct report, then EOF when it exits */
    uv_timer_t timer; /* the timeout; then reap retries; then the drain bound */
    int open_handles;
    int ctl_fd; /* write 'T' to stop the group; closing it kills the group */
    pid_t sup_pid;
    uint64_t grace_ms, started_ns;
    size_t head_lines, tail_lines;
    struct collector col;
    char rbuf[65536];
    char repbuf[sizeof(struct report)];
    size_t rep_len;
    bool out_eof, rep_eof, reaped, finished, abandoned, timed_out, cancelled, stopping;
    bool sandboxed;
    char note[200];
    command_output_cb on_output;
    command_done_cb on_done;
    void *arg;
};

static int landlock_abi_cache; /* 0: not probed yet */

/* The supervisors running now (loop thread only): the processes of a
 * command are all below one of them, since it is their subreaper. */
#define COMMAND_RUNNING_MAX 256
static pid_t running[COMMAND_RUNNING_MAX];
static size_t n_running;

static void
running_add(pid_t pid)
{
    if (n_running < COMMAND_RUNNING_MAX)
        running[n_running++] = pid;
}

static void
running_remove(pid_t pid)
{
    for (size_t i = 0; i < n_running; i++)
        if (running[i] == pid) {
            running[i] = running[--n_running];
            return;
        }
}

/* PID's parent, from /proc (procfs: no disk), or 0. */
static pid_t
parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    char *end = strrchr(buf, ')');
    if (end == NULL)
        return 0;
    char state;
    long ppid;
    return sscanf(end + 1, " %c %ld", &state, &ppid) == 2 ? (pid_t)ppid : 0;
}

bool
command_runs_pid(pid_t pid)
{
    if (n_running == 0)
        return false; /* the common case: no /proc read on every request */
    for (int hops = 0; pid > 1 && hops < 64; hops++) {
        for (size_t i = 0; i < n_running; i++)
            if (running[i] == pid)
                return true;
        pid = parent_of(pid);
    }
    return false;
}

static void on_out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_rep_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_rep_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_timeout(uv_timer_t *t);
static void try_reap(struct command *c);
static void maybe_finish(struct command *c);
static void stop_group(struct command *c);
static _Noreturn void supervise(const struct plan *p);

int
command_landlock_abi(void)
{
    if (landlock_abi_cache == 0) {
        long r = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        landlock_abi_cache = r > 0 ? (int)r : -errno;
    }
    return landlock_abi_cache;
}

/* ------------------------------------------------------------------ */
/* The cap                                                             */
/* ------------------------------------------------------------------ */

static size_t
count_nl(const char *s, size_t n)
{
    size_t k = 0;
    for (const char *p = s; (p = memchr(p, '\n', n - (size_t)(p - s))) != NULL; p++)
        k++;
    return k;
}

char *
command_cap(const char *head, size_t head_len, const char *tail, size_t tail_len, uint64_t total,
            uint64_t total_lines, size_t head_lines, size_t tail_lines, size_t cap_bytes,
            size_t *len)
{
    if (cap_bytes < MIN_CAP)
        cap_bytes = MIN_CAP;
    bool whole = total <= head_len;
    if (whole && total <= cap_bytes && total_lines <= head_lines + tail_lines) {
        *len = (size_t)total;
        return xstrndup(head, (size_t)total);
    }
    /* The head: whole lines while they fit a third of the cap; a first
     * line longer than that is cut. */
    size_t head_budget = cap_bytes / 3, h = 0;
    for (size_t lines = 0; lines < head_lines && h < head_len;) {
        const char *nl = memchr(head + h, '\n', head_len - h);
        size_t end = nl != NULL ? (size_t)(nl - head) + 1 : head_len;
        if (end > head_budget) {
            if (lines == 0)
                h = head_budget < head_len ? head_budget : head_len;
            break;
        }
        h = end;
        lines++;
    }
    /* The tail: whole lines back from the end, in what the cap leaves. */
    size_t tail_budget = cap_bytes - h - MARKER_MAX, t = tail_len; /* tail starts at T */
    for (size_t lines = 0; lines < tail_lines && t > 0;) {
        size_t s = t - 1; /* skip the newline that ends the line before T */
        if (t == tail_len && tail[s] != '\n')
            s = t; /* the last line has no newline */
        while (s > 0 && tail[s - 1] != '\n')
            s--;
        if (tail_len - s > tail_budget) {
            if (lines == 0)
                t = tail_len > tail_budget ? tail_len - tail_budget : 0;
            break;
        }
        t = s;
        lines++;
    }
    /* A cut line is cut between UTF-8 sequences, not inside one. */
    while (h > 0 && h < head_len && ((unsigned char)head[h] & 0xC0) == 0x80)
        h--;
    while (t < tail_len && ((unsigned char)tail[t] & 0xC0) == 0x80)
        t++;
    /* In a whole buffer the tail never reaches back into the head (the
     * counts above make it so); keep it that way if they ever change. */
    uint64_t tail_start = total - (tail_len - t);
    if (tail_start < h) {
        t += (size_t)(h - tail_start);
        tail_start = h;
    }
    size_t shown_tail = tail_len - t;
    uint64_t total_nl = total_lines - (total > 0 && tail[tail_len - 1] != '\n' ? 1 : 0);
    uint64_t left_nl = total_nl - count_nl(head, h) - count_nl(tail + t, shown_tail);
    uint64_t left_bytes = total - h - shown_tail;
    char marker[MARKER_MAX];
    int m = snprintf(marker, sizeof marker, "%s… %llu lines (%llu bytes) left out …\n",
                     h > 0 && head[h - 1] != '\n' ? "\n" : "", (unsigned long long)left_nl,
                     (unsigned long long)left_bytes);
    size_t mlen = m > 0 && (size_t)m < sizeof marker ? (size_t)m : 0;
    char *outp = xmalloc(h + mlen + shown_tail + 1);
    memcpy(outp, head, h);
    memcpy(outp + h, marker, mlen);
    memcpy(outp + h + mlen, tail + t, shown_tail);
    *len = h + mlen + shown_tail;
    outp[*len] = '\0';
    return outp;
}

static void
collector_init(struct collector *col, size_t cap)
{
    memset(col, 0, sizeof *col);
    col->cap = cap;
    col->head = xmalloc(cap);
    col->ring = xmalloc(cap);
}

static void
collector_feed(struct collector *col, const char *data, size_t n)
{
    if (n == 0)
        return;
    col->total += n;
    col->newlines += count_nl(data, n);
    col->last = data[n - 1];
    size_t room = col->cap - col->head_len, take = n < room ? n : room;
    memcpy(col->head + col->head_len, data, take);
    col->head_len += take;
    if (n > col->cap) { /* only the last CAP bytes can matter to the ring */
        data += n - col->cap;
        n = col->cap;
    }
    while (n > 0) {
        size_t k = col->cap - col->ring_pos < n ? col->cap - col->ring_pos : n;
        memcpy(col->ring + col->ring_pos, data, k);
        col->ring_pos = (col->ring_pos + k) % col->cap;
        col->ring_len = col->ring_len + k < col->cap ? col->ring_len + k : col->cap;
        data += k;
        n -= k;
    }
}

static uint64_t
collector_lines(const struct collector *col)
{
    return col->newlines + (col->total > 0 && col->last != '\n' ? 1 : 0);
}

/* The capped text; the caller frees it. */
static char *
collector_text(const struct collector *col, size_t head_lines, size_t tail_lines, size_t *len)
{
    if (col->total <= col->head_len)
        return command_cap(col->head, col->head_len, col->head, col->head_len, col->total,
                           collector_lines(col), head_lines, tail_lines, col->cap, len);
    char *tail = xmalloc(col->cap);
    size_t start = (col->ring_pos + col->cap - col->ring_len) % col->cap;
    size_t first = col->cap - start < col->ring_len ? col->cap - start : col->ring_len;
    memcpy(tail, col->ring + start, first);
    memcpy(tail + first, col->ring, col->ring_len - first);
    char *s = command_cap(col->head, col->head_len, tail, col->ring_len, col->total,
                          collector_lines(col), head_lines, tail_lines, col->cap, len);
    free(tail);
    return s;
}

/* ------------------------------------------------------------------ */
/* Starting                                                            */
/* ------------------------------------------------------------------ */

/* Let the ruleset RS allow ACCESS beneath PATH.  Returns 0 or -errno. */
static int
landlock_allow(int rs, const char *path, uint64_t access, bool dir)
{
    int fd = open(path, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return -errno;
    struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    int r = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/*
 * A Landlock ruleset that handles every kind of write the kernel's ABI
 * knows and allows them beneath WORKSPACE, /tmp, $TMPDIR and on /dev/null
 * (`2>/dev/null` is everywhere); reading and executing are not handled, so
 * they stay allowed.  Returns the ruleset fd or -errno.
 */
static int
landlock_ruleset(const char *workspace, int abi)
{
    uint64_t fs = LL_WRITE_ABI1 | (abi >= 2 ? LANDLOCK_ACCESS_FS_REFER : 0) |
                  (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
    struct landlock_ruleset_attr attr = {.handled_access_fs = fs};
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0)
        return -errno;
    int r = landlock_allow(rs, workspace, fs, true);
    if (r < 0) {
        close(rs);
        return r;
    }
    /* The temporary directories are best effort: a machine may lack one. */
    (void)landlock_allow(rs, "/tmp", fs, true);
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir != NULL && tmpdir[0] == '/')
        (void)landlock_allow(rs, tmpdir, fs, true);
    (void)landlock_allow(rs, "/dev/null",
                         LANDLOCK_ACCESS_FS_WRITE_FILE |
                             (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0),
                         false);
    return rs;
}

/*
 * The daemon's environment less what speaks for the daemon to systemd: a
 * command must not send the service's readiness or watchdog messages.
 * The array is the caller's to free; the strings stay environ's.
 */
static char **
command_env(void)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = xcalloc(n + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
            strncmp(environ[i], "WATCHDOG_", 9) != 0)
            env[k++] = environ[i];
    return env;
}

static void
close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

int
command_start(uv_loop_t *loop, const struct command_opts *opts, struct command **out)
{
    *out = NULL;
    if (opts->command == NULL || opts->workspace == NULL || opts->on_done == NULL)
        return -EINVAL;
    struct stat st;
    if (stat(opts->workspace, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;

    struct command *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->grace_ms = opts->grace_ms ? opts->grace_ms : COMMAND_GRACE_MS;
    c->head_lines = opts->head_lines ? opts->head_lines : COMMAND_HEAD_LINES;
    c->tail_lines = opts->tail_lines ? opts->tail_lines : COMMAND_TAIL_LINES;
    size_t cap = opts->cap_bytes ? opts->cap_bytes : COMMAND_CAP_BYTES;
    collector_init(&c->col, cap < MIN_CAP ? MIN_CAP : cap);
    c->on_output = opts->on_output;
    c->on_done = opts->on_done;
    c->arg = opts->arg;
    c->ctl_fd = -1;

    /* fds[]: out read/write, ctl read/write, report read/write, /dev/null, rules */
    int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    int r = 0;
    if (opts->sandbox == COMMAND_SANDBOX_LANDLOCK) {
        int abi = command_landlock_abi();
        if (abi > 0) {
            fds[7] = landlock_ruleset(opts->workspace, abi);
            if (fds[7] < 0) {
                r = fds[7];
                goto fail;
            }
            c->sandboxed = true;
        } else {
            snprintf(c->note, sizeof c->note,
                     "the kernel has no Landlock (%s): the command ran without the sandbox",
                     strerror(-abi));
        }
    }
    if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 ||
        pipe2(fds + 4, O_CLOEXEC) < 0 || (fds[6] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        r = -errno;
        goto fail;
    }
    /* A stop request is one byte into an empty pipe, but never block. */
    if (fcntl(fds[3], F_SETFL, O_NONBLOCK) < 0) {
        r = -errno;
        goto fail;
    }
    char *command = xstrdup(opts->command), *workspace = xstrdup(opts->workspace);
    char **env = command_env();
    struct plan plan = {
        .argv = {"/bin/sh", "-c", command, NULL},
        .envp = env,
        .workspace = workspace,
        .src = {fds[6], fds[1], fds[1], fds[2], fds[5], fds[7]},
        .grace_ms = (int64_t)c->grace_ms,
    };
    pid_t pid = fork();
    if (pid == 0)
        supervise(&plan);
    r = pid < 0 ? -errno : 0;
    free(command);
    free(workspace);
    free(env);
    if (r < 0)
        goto fail;
    c->sup_pid = pid;
    c->ctl_fd = fds[3];
    fds[3] = -1;
    int out_r = fds[0], rep_r = fds[4];
    fds[0] = fds[4] = -1;
    close_fds(fds, 8); /* the supervisor's ends */

    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->report, 0);
    uv_timer_init(loop, &c->timer);
    c->out.data = c->report.data = c->timer.data = c;
    c->open_handles = 3;
    /* Opening a fresh pipe fails only on a broken loop; the supervisor
     * then kills the command when the daemon closes its control pipe. */
    if ((r = uv_pipe_open(&c->out, out_r)) < 0 || (r = uv_pipe_open(&c->report, rep_r)) < 0 ||
        (r = uv_read_start((uv_stream_t *)&c->out, on_out_alloc, on_out_read)) < 0 ||
        (r = uv_read_start((uv_stream_t *)&c->report, on_rep_alloc, on_rep_read)) < 0) {
        log_error("command: error watching the supervisor's pipes (%s)", uv_strerror(r));
        command_abandon(c);
        return r;
    }
    c->started_ns = uv_hrtime();
    /* The loop's clock may be stale (a fork takes a while): the timeout
     * counts from now. */
    uv_update_time(loop);
    uint64_t timeout = opts->timeout_ms ? opts->timeout_ms : COMMAND_TIMEOUT_MS;
    uv_timer_start(&c->timer, on_timeout, timeout, 0);
    running_add(c->sup_pid);
    *out = c;
    return 0;

fail:
    close_fds(fds, 8);
    free(c->col.head);
    free(c->col.ring);
    free(c);
    return r;
}

void
command_cancel(struct command *c)
{
    if (c->finished || c->stopping)
        return;
    c->cancelled = true;
    stop_group(c);
}

void
command_abandon(struct command *c)
{
    if (c == NULL)
        return;
    c->abandoned = true;
    /* EOF on the control pipe: the supervisor SIGKILLs the group now. */
    if (c->ctl_fd >= 0) {
        close(c->ctl_fd);
        c->ctl_fd = -1;
    }
    if (!c->rep_eof)
        uv_timer_stop(&c->timer);
}

/* ------------------------------------------------------------------ */
/* On the loop                                                         */
/* ------------------------------------------------------------------ */

/* SIGTERM the group now, SIGKILL after the grace period (the supervisor
 * keeps that clock, so the daemon has nothing more to do). */
static void
stop_group(struct command *c)
{
    c->stopping = true;
    if (c->ctl_fd >= 0 && write(c->ctl_fd, "T", 1) < 0 && errno != EAGAIN)
        log_warn("command: error signalling supervisor %d (%s)", (int)c->sup_pid,
                 strerror(errno));
}

static void
on_timeout(uv_timer_t *t)
{
    struct command *c = t->data;
    if (c->stopping)
        return;
    c->timed_out = true;
    stop_group(c);
}

static void
on_out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct command *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void
on_out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct command *c = s->data;
    if (n > 0) {
        collector_feed(&c->col, buf->base, (size_t)n);
        if (c->on_output != NULL && !c->abandoned)
            c->on_output(c, buf->base, (size_t)n, c->arg);
    } else if (n < 0) {
        uv_read_stop(s);
        c->out_eof = true;
        maybe_finish(c);
    }
}

static void
on_rep_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct command *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->repbuf + c->rep_len, (unsigned)(sizeof c->repbuf - c->rep_len));
}

static void
on_rep_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct command *c = s->data;
    (void)buf;
    if (n > 0)
        c->rep_len += (size_t)n;
    if (n >= 0 && c->rep_len < sizeof c->repbuf)
        return;
    /* The report is complete (nothing follows it) or the pipe closed:
     * either way the supervisor is exiting. */
    uv_read_stop(s);
    c->rep_eof = true;
    uv_timer_stop(&c->timer);
    try_reap(c);
}

static void
on_reap_tick(uv_timer_t *t)
{
    try_reap(t->data);
}

static void
on_drain_bound(uv_timer_t *t)
{
    struct command *c = t->data;
    /* Something outside the command's processes still holds the output
     * pipe (it was passed on): what came in is all the model gets. */
    uv_read_stop((uv_stream_t *)&c->out);
    c->out_eof = true;
    maybe_finish(c);
}

/* The supervisor writes its report and exits; EOF can come a moment
 * before it is a zombie, so retry until waitpid has it. */
static void
try_reap(struct command *c)
{
    int st;
    pid_t p = waitpid(c->sup_pid, &st, WNOHANG);
    if (p == 0) {
        uv_timer_start(&c->timer, on_reap_tick, 1, 0);
        return;
    }
    c->reaped = true;
    running_remove(c->sup_pid);
    if (!c->out_eof)
        uv_timer_start(&c->timer, on_drain_bound, DRAIN_MS, 0);
    maybe_finish(c);
}

static void
on_closed(uv_handle_t *h)
{
    struct command *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (!c->reaped)
        running_remove(c->sup_pid);
    free(c->col.head);
    free(c->col.ring);
    free(c);
}

static void
maybe_finish(struct command *c)
{
    if (!c->reaped || !c->out_eof || c->finished)
        return;
    c->finished = true;
    uv_timer_stop(&c->timer);
    if (c->ctl_fd >= 0) {
        close(c->ctl_fd);
        c->ctl_fd = -1;
    }
    if (!c->abandoned) {
        struct command_result res = {0};
        struct report rep;
        bool have = c->rep_len == sizeof rep;
        memcpy(&rep, c->repbuf, sizeof rep);
        if (have && rep.kind == REPORT_EXITED) {
            res.exited = true;
            res.exit_code = rep.value;
        } else if (have && rep.kind == REPORT_SIGNALED) {
            res.signal = rep.value;
        } else if (have && rep.kind == REPORT_FORK_FAILED) {
            snprintf(c->note, sizeof c->note, "the command could not be started (fork: %s)",
                     strerror(rep.value));
        } else {
            snprintf(c->note, sizeof c->note,
                     "the command's supervisor died without a report; its status is unknown");
        }
        res.timed_out = c->timed_out;
        res.cancelled = c->cancelled && !c->timed_out;
        res.sandboxed = c->sandboxed;
        res.note = c->note[0] != '\0' ? c->note : NULL;
        char *text = collector_text(&c->col, c->head_lines, c->tail_lines, &res.output_len);
        res.output = text;
        res.total_bytes = c->col.total;
        res.total_lines = collector_lines(&c->col);
        res.duration_ms = (uv_hrtime() - c->started_ns) / 1000000;
        c->on_done(c, &res, c->arg);
        free(text);
    }
    uv_close((uv_handle_t *)&c->out, on_closed);
    uv_close((uv_handle_t *)&c->report, on_closed);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

/* ------------------------------------------------------------------ */
/* The supervisor and the shell: async-signal-safe calls only           */
/* ------------------------------------------------------------------ */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
close_from(int fd)
{
    if (syscall(SYS_close_range, (unsigned)fd, ~0U, 0) == 0)
        return;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int i = fd; i < max; i++)
        close(i);
}

static void
say(const char *a, const char *b)
{
    /* Best effort: the message goes to the output the model reads. */
    if (write(FD_ERR, a, strlen(a)) < 0 || write(FD_ERR, b, strlen(b)) < 0)
        return;
}

static _Noreturn void
run_shell(const struct plan *p, pid_t sup)
{
    /* A session of its own: its own process group, and no terminal to
     * stop on if the daemon runs in one. */
    setsid();
    /* If the supervisor is SIGKILLed, at least the shell goes with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != sup)
        _exit(127);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (chdir(p->workspace) < 0) {
        say("caretid: cannot enter the workspace: ", strerror(errno));
        _exit(126);
    }
    if (p->src[FD_RULES] >= 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_landlock_restrict_self, FD_RULES, 0) < 0) {
            say("caretid: cannot apply the Landlock sandbox: ", strerror(errno));
            _exit(126);
        }
    }
    close_from(FD_CTL);
    execve(p->argv[0], p->argv, p->envp);
    say("caretid: cannot run /bin/sh: ", strerror(errno));
    _exit(127);
}

/* Parse the next pid from the children list; returns false at its end. */
struct kids {
    int fd;
    char buf[512];
    size_t len, pos;
};

static bool
kids_next(struct kids *k, pid_t *pid)
{
    pid_t v = 0;
    bool digits = false;
    for (;;) {
        if (k->pos == k->len) {
            ssize_t n = k->fd >= 0 ? read(k->fd, k->buf, sizeof k->buf) : 0;
            if (n <= 0) {
                *pid = v;
                return digits;
            }
            k->len = (size_t)n;
            k->pos = 0;
        }
        char ch = k->buf[k->pos++];
        if (ch >= '0' && ch <= '9') {
            v = v * 10 + (ch - '0');
            digits = true;
        } else if (digits) {
            *pid = v;
            return true;
        }
    }
}

/*
 * Reap the supervisor's dead children other than the shell C, signal the
 * living ones with SIG (0: none; SIGTERM once each, remembered in TERMED),
 * and return how many live (1 when the list cannot be read).  The supervisor is a subreaper, so every
 * orphaned descendant, even one that left the group with setsid, becomes
 * its child and is found here.
 */
static int
sweep(pid_t c, int sig, pid_t *termed, int *n_termed, int max_termed)
{
    struct kids k = {.fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC)};
    if (k.fd < 0)
        return 1; /* cannot look now: assume someone lives, look again */
    int alive = 0;
    pid_t pid;
    while (kids_next(&k, &pid)) {
        int st;
        if (pid == c || waitpid(pid, &st, WNOHANG) != 0)
            continue;
        alive++;
        bool send = sig == SIGKILL;
        if (sig == SIGTERM) {
            send = true;
            for (int i = 0; i < *n_termed; i++)
                if (termed[i] == pid)
                    send = false;
            if (send && *n_termed < max_termed)
                termed[(*n_termed)++] = pid;
        }
        if (send) {
            kill(pid, sig);
            kill(-pid, sig); /* its own group, if it made one */
        }
    }
    close(k.fd);
    return alive;
}

static void
report(int kind, int value)
{
    struct report r = {.kind = kind, .value = value};
    if (write(FD_REPORT, &r, sizeof r) < 0)
        return; /* the daemon is gone: nobody to tell */
}

static _Noreturn void
supervise(const struct plan *p)
{
    /* Handlers are the daemon's (libuv's write to fds about to be
     * reused): reset them.  Terminal and job-control signals meant for the
     * daemon's group must not kill the one process that cleans up. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    static const int ignored[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1,
                                  SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        (void)sigaction(ignored[i], &sa, NULL);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);

    /* Move the fds to FD_*, through numbers above them, and close every
     * other: the daemon's sockets and other commands' pipes must not live
     * on in here (a control pipe held here would hide the daemon's death). */
    int tmp[N_FDS];
    for (int i = 0; i < N_FDS; i++)
        tmp[i] = p->src[i] < 0 ? -1 : fcntl(p->src[i], F_DUPFD, N_FDS + 64);
    for (int i = 0; i < N_FDS; i++) {
        if (tmp[i] >= 0)
            dup2(tmp[i], i);
        else
            close(i);
    }
    close_from(N_FDS);
    if (tmp[FD_CTL] < 0 || tmp[FD_REPORT] < 0 || tmp[FD_OUT] < 0)
        _exit(1);

    /* Without /proc's children list orphans cannot be found: then go
     * without the subreaper and kill the group when the shell ends. */
    int probe = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
    bool tracking = probe >= 0 && prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
    if (probe >= 0)
        close(probe);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

    pid_t sup = getpid();
    pid_t c = _Fork();
    if (c < 0) {
        report(REPORT_FORK_FAILED, errno);
        _exit(0);
    }
    if (c == 0)
        run_shell(p, sup);
    close(FD_IN);
    close(FD_OUT);
    close(FD_ERR);
    close(FD_RULES);

    int level = LV_RUN, sent = LV_RUN, kind = 0, value = 0;
    int64_t deadline = 0;
    bool c_dead = false;
    pid_t termed[256];
    int n_termed = 0;
    struct pollfd pf[2] = {{.fd = FD_CTL, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (!c_dead) {
            /* Peek without reaping: the shell's zombie keeps its pid, and
             * so its group id, from being reused while we signal it. */
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == c) {
                c_dead = true;
                kind = si.si_code == CLD_EXITED ? REPORT_EXITED : REPORT_SIGNALED;
                value = si.si_status;
            }
        }
        int64_t now = now_ms();
        if (c_dead && level == LV_RUN) {
            /* The shell is done; what it left running goes now. */
            level = tracking ? LV_TERM : LV_KILL;
            deadline = now + p->grace_ms;
        }
        if (level == LV_TERM && now >= deadline)
            level = LV_KILL;
        int sig = level == LV_KILL ? SIGKILL : level == LV_TERM ? SIGTERM : 0;
        if (level == LV_KILL || level > sent) {
            kill(-c, sig);
            kill(c, sig); /* in case it has not made its group yet */
            sent = level;
        }
        int alive = tracking ? sweep(c, sig, termed, &n_termed, 256) : 0;
        if (c_dead && alive == 0)
            break;
        int timeout = sfd < 0 ? SWEEP_TICK_MS : -1; /* no signalfd: tick */
        if (level != LV_RUN) {
            timeout = SWEEP_TICK_MS;
            if (level == LV_TERM && deadline - now < timeout)
                timeout = (int)(deadline - now);
        }
        (void)poll(pf, 2, timeout);
        if (pf[0].fd >= 0 && pf[0].revents != 0) {
            char b;
            ssize_t n = read(FD_CTL, &b, 1);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                level = LV_KILL; /* the daemon is gone or let go */
                pf[0].fd = -1;
            } else if (n == 1 && level == LV_RUN) {
                level = LV_TERM;
                deadline = now_ms() + p->grace_ms;
            }
        }
        if (pf[1].fd >= 0 && pf[1].revents != 0) {
            struct signalfd_siginfo ssi;
            while (read(sfd, &ssi, sizeof ssi) > 0)
                ;
        }
    }
    waitpid(c, NULL, 0);
    report(kind, value);
    _exit(0);
}
