/* Unit tests for src/agent/command.c: real commands on a real libuv loop.
 * Each test runs /bin/sh commands in a workspace under /var/tmp (outside
 * /tmp, so that the Landlock test has somewhere the sandbox forbids) and
 * checks what the module promises: output streamed and captured, the exit
 * status, stdin from /dev/null, the workspace as cwd, no process left
 * after a timeout, a cancel, an abandon or the daemon's SIGKILL, the cap
 * on what the model sees, and the sandbox. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/agent/command.c"

static uv_loop_t loop;
static char ws[64];
static char outside[64];
static pid_t recorded[16];
static int n_recorded;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A failed check ends the test's process: leave no sleeper behind (and,
 * as a dead one's pid may be someone else's by now, kill only ours). */
static void
kill_recorded(void)
{
    for (int i = 0; i < n_recorded; i++) {
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)recorded[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) != NULL &&
            (strcmp(comm, "sleep\n") == 0 || strcmp(comm, "sh\n") == 0 ||
             strcmp(comm, "test_command\n") == 0))
            kill(recorded[i], SIGKILL);
        fclose(f);
    }
}

static void
setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    unsetenv("TMPDIR");
    snprintf(ws, sizeof ws, "/var/tmp/caretid-ws-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(ws));
    snprintf(outside, sizeof outside, "/var/tmp/caretid-out-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(outside));
    n_recorded = 0;
}

static void
teardown(void)
{
    nftw(ws, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Alive and not a zombie. */
static bool
alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Record every number that stands alone on a line of TEXT as a pid. */
static void
record_pids(const char *text)
{
    for (const char *p = text; *p != '\0';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end != p && (*end == '\n' || *end == '\0') && v > 1 && n_recorded < 16)
            recorded[n_recorded++] = (pid_t)v;
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

/* ------------------------------------------------------------------ */

struct run {
    bool done;
    struct command_result res;
    char *output;
    char note[256];
    char streamed[65536];
    size_t streamed_len;
    int chunks;
    int cancel_at_lines;    /* cancel once this many lines have streamed */
    bool abandon_on_output; /* abandon at the first piece of output */
    const char *touch_on;   /* create ws/go once this text has streamed */
    bool touched;
    struct command *cmd;
};

static void
on_output(struct command *cmd, const char *data, size_t len, void *arg)
{
    struct run *r = arg;
    ck_assert_ptr_eq(cmd, r->cmd);
    ck_assert(!r->done);
    ck_assert_uint_lt(r->streamed_len + len, sizeof r->streamed);
    memcpy(r->streamed + r->streamed_len, data, len);
    r->streamed_len += len;
    r->streamed[r->streamed_len] = '\0';
    r->chunks++;
    if (r->touch_on != NULL && !r->touched && strstr(r->streamed, r->touch_on) != NULL) {
        char path[128];
        snprintf(path, sizeof path, "%s/go", ws);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
        r->touched = true;
    }
    if (r->cancel_at_lines > 0 && (int)count_nl(r->streamed, r->streamed_len) >= r->cancel_at_lines)
        command_cancel(cmd);
    if (r->abandon_on_output) {
        record_pids(r->streamed);
        command_abandon(cmd);
        r->abandon_on_output = false;
    }
}

static void
on_done(struct command *cmd, const struct command_result *res, void *arg)
{
    struct run *r = arg;
    ck_assert_ptr_eq(cmd, r->cmd);
    ck_assert(!r->done);
    r->done = true;
    r->res = *res;
    r->output = xstrndup(res->output, res->output_len);
    ck_assert_uint_eq(strlen(r->output), res->output_len);
    snprintf(r->note, sizeof r->note, "%s", res->note != NULL ? res->note : "");
    r->res.note = NULL;
    r->res.output = NULL;
}

static struct command_opts
opts_for(const char *command, struct run *r)
{
    struct command_opts o = {
        .command = command,
        .workspace = ws,
        .timeout_ms = 20000,
        .sandbox = COMMAND_SANDBOX_OFF,
        .on_output = on_output,
        .on_done = on_done,
        .arg = r,
    };
    return o;
}

/* Start O and run the loop until the command is over and every handle is
 * closed; the loop must then close cleanly. */
static void
run_opts(const struct command_opts *o, struct run *r)
{
    ck_assert_int_eq(command_start(&loop, o, &r->cmd), 0);
    ck_assert(!r->done); /* never from inside command_start */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void
run_cmd(const char *command, struct run *r)
{
    struct command_opts o = opts_for(command, r);
    run_opts(&o, r);
    ck_assert(r->done);
}

/* ------------------------------------------------------------------ */

START_TEST(test_output_streamed_and_captured)
{
    /* The command cannot finish until the test has seen its first line:
     * output reaches the callback while the command still runs. */
    struct run r = {.touch_on = "one\n"};
    run_cmd("echo one; while [ ! -e go ]; do sleep 0.01; done; echo two; echo err >&2", &r);
    ck_assert(r.touched);
    ck_assert(r.res.exited);
    ck_assert_int_eq(r.res.exit_code, 0);
    ck_assert(!r.res.timed_out && !r.res.cancelled);
    ck_assert_str_eq(r.output, "one\ntwo\nerr\n");
    ck_assert_str_eq(r.streamed, "one\ntwo\nerr\n");
    ck_assert_uint_ge(r.chunks, 2);
    ck_assert_uint_eq(r.res.total_bytes, 12);
    ck_assert_uint_eq(r.res.total_lines, 3);
    free(r.output);
}
END_TEST

START_TEST(test_exit_status_and_signal)
{
    struct run r = {0};
    run_cmd("echo bye; exit 3", &r);
    ck_assert(r.res.exited);
    ck_assert_int_eq(r.res.exit_code, 3);
    ck_assert_int_eq(r.res.signal, 0);
    free(r.output);

    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct run k = {0};
    run_cmd("kill -KILL $$", &k);
    ck_assert(!k.res.exited);
    ck_assert_int_eq(k.res.signal, SIGKILL);
    ck_assert(!k.res.timed_out && !k.res.cancelled);
    free(k.output);
}
END_TEST

START_TEST(test_stdin_is_dev_null)
{
    struct run r = {0};
    run_cmd("cat; echo cat=$?; read x; echo read=$?", &r);
    ck_assert_str_eq(r.output, "cat=0\nread=1\n");
    ck_assert(!r.res.timed_out);
    free(r.output);
}
END_TEST

START_TEST(test_environment_without_systemd_notify)
{
    setenv("NOTIFY_SOCKET", "/run/caretid-test-notify", 1);
    setenv("CARETI_TEST_VAR", "kept", 1);
    struct run r = {0};
    run_cmd("echo \"${NOTIFY_SOCKET:-none} $CARETI_TEST_VAR\"", &r);
    ck_assert_str_eq(r.output, "none kept\n");
    free(r.output);
}
END_TEST

START_TEST(test_cwd_is_the_workspace)
{
    char real[PATH_MAX], want[PATH_MAX + 2];
    ck_assert_ptr_nonnull(realpath(ws, real));
    snprintf(want, sizeof want, "%s\n", real);
    struct run r = {0};
    run_cmd("pwd -P", &r);
    ck_assert_str_eq(r.output, want);
    free(r.output);
}
END_TEST

START_TEST(test_timeout_kills_the_whole_group)
{
    /* A grandchild in the group, one that left it with setsid, and the
     * shell waiting on a third: after the timeout none may be left. */
    struct run r = {0};
    struct command_opts o = opts_for("sleep 300 & echo $!; setsid sleep 300 & echo $!; echo $$; "
                                     "sleep 300",
                                     &r);
    o.timeout_ms = 300;
    o.grace_ms = 500;
    run_opts(&o, &r);
    ck_assert(r.done);
    record_pids(r.output);
    ck_assert_int_eq(n_recorded, 3);
    for (int i = 0; i < n_recorded; i++)
        ck_assert_msg(!alive(recorded[i]), "pid %d outlived the command", (int)recorded[i]);
    ck_assert(r.res.timed_out);
    ck_assert(!r.res.cancelled);
    ck_assert(!r.res.exited);
    ck_assert_int_eq(r.res.signal, SIGTERM);
    ck_assert_uint_ge(r.res.duration_ms, 300);
    free(r.output);
}
END_TEST

START_TEST(test_what_the_shell_leaves_running_is_stopped)
{
    /* The shell exits once both jobs run; one job leaves on SIGTERM, the
     * other ignores it and goes only with the SIGKILL after the grace. */
    struct run r = {0};
    struct command_opts o = opts_for("sleep 300 & echo $!; "
                                     "sh -c 'trap \"\" TERM; : > ready; exec sleep 300' & echo $!; "
                                     "while [ ! -e ready ]; do sleep 0.01; done",
                                     &r);
    o.grace_ms = 400;
    run_opts(&o, &r);
    ck_assert(r.done);
    record_pids(r.output);
    ck_assert_int_eq(n_recorded, 2);
    for (int i = 0; i < n_recorded; i++)
        ck_assert_msg(!alive(recorded[i]), "pid %d outlived the command", (int)recorded[i]);
    ck_assert(r.res.exited);
    ck_assert_int_eq(r.res.exit_code, 0);
    ck_assert(!r.res.timed_out);
    ck_assert_uint_ge(r.res.duration_ms, 400);
    free(r.output);
}
END_TEST

START_TEST(test_cancel_mid_run)
{
    struct run r = {.cancel_at_lines = 2};
    struct command_opts o = opts_for("echo started; sleep 300 & echo $!; wait", &r);
    run_opts(&o, &r);
    ck_assert(r.done);
    record_pids(r.output);
    ck_assert_int_eq(n_recorded, 1);
    ck_assert(!alive(recorded[0]));
    ck_assert(r.res.cancelled);
    ck_assert(!r.res.timed_out);
    ck_assert_int_eq(r.res.signal, SIGTERM);
    ck_assert(strncmp(r.output, "started\n", 8) == 0);
    free(r.output);
}
END_TEST

START_TEST(test_abandon_kills_without_a_callback)
{
    /* A is abandoned while B runs: B's supervisor, forked while A's
     * control pipe was open in the daemon, must not keep A alive. */
    struct run a = {.abandon_on_output = true}, b = {0};
    struct command_opts oa = opts_for("sleep 300 & echo $!; sleep 300", &a);
    struct command_opts ob = opts_for("echo b; sleep 300", &b);
    ob.on_output = NULL;
    ck_assert_int_eq(command_start(&loop, &oa, &a.cmd), 0);
    ck_assert_int_eq(command_start(&loop, &ob, &b.cmd), 0);
    int64_t deadline = mono_ms() + 10000;
    while (n_recorded == 0 || alive(recorded[0])) {
        ck_assert_msg(mono_ms() < deadline, "the abandoned command's group lives on");
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert(!a.done && !b.done);
    command_cancel(b.cmd);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(!a.done);
    ck_assert(b.done && b.res.cancelled);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    free(b.output);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The cap                                                             */
/* ------------------------------------------------------------------ */

static char *
numbered(int from, int to, size_t *len)
{
    char *s = xmalloc((size_t)(to - from + 1) * 12 + 1);
    size_t n = 0;
    for (int i = from; i <= to; i++)
        n += (size_t)snprintf(s + n, 13, "%d\n", i);
    *len = n;
    return s;
}

static char *
cap_whole(const char *s, size_t n, uint64_t lines, size_t cap, size_t *len)
{
    return command_cap(s, n, s, n, n, lines, 50, 100, cap, len);
}

START_TEST(test_cap_keeps_first_and_last_lines)
{
    struct run r = {0};
    run_cmd("seq 1 1000", &r);
    size_t hl, tl;
    char *head = numbered(1, 50, &hl), *tail = numbered(901, 1000, &tl);
    char *want = xasprintf("%s… 850 lines (%llu bytes) left out …\n%s", head,
                           (unsigned long long)(r.res.total_bytes - hl - tl), tail);
    ck_assert_str_eq(r.output, want);
    ck_assert_uint_eq(r.res.total_lines, 1000);
    free(head), free(tail), free(want), free(r.output);
}
END_TEST

START_TEST(test_cap_boundaries)
{
    size_t n, len;
    char *s = numbered(1, 150, &n);
    char *out = cap_whole(s, n, 150, 32768, &len);
    ck_assert_str_eq(out, s); /* 150 lines: all of them */
    free(out), free(s);

    s = numbered(1, 151, &n);
    out = cap_whole(s, n, 151, 32768, &len);
    ck_assert_ptr_nonnull(strstr(out, "\n50\n… 1 lines (3 bytes) left out …\n52\n"));
    free(out), free(s);

    /* No final newline: the last fragment is a line of its own. */
    out = cap_whole("a\nb", 3, 2, 32768, &len);
    ck_assert_str_eq(out, "a\nb");
    free(out);
    out = cap_whole("", 0, 0, 32768, &len);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(len, 0);
    free(out);
}
END_TEST

START_TEST(test_cap_bytes_and_long_lines)
{
    /* 200 lines of 300 bytes: within the line counts, over the bytes. */
    size_t n = 200 * 300, len;
    char *s = xmalloc(n);
    for (size_t i = 0; i < 200; i++) {
        memset(s + i * 300, 'a' + (int)(i % 26), 299);
        s[i * 300 + 299] = '\n';
    }
    char *out = cap_whole(s, n, 200, 32768, &len);
    ck_assert_uint_le(len, 32768);
    ck_assert(out[0] == 'a' && out[len - 2] == 'a' + 199 % 26 && out[len - 1] == '\n');
    unsigned long long left_lines, left_bytes;
    const char *m = strstr(out, "… ");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(sscanf(m, "… %llu lines (%llu bytes)", &left_lines, &left_bytes), 2);
    ck_assert_uint_eq(left_bytes % 300, 0); /* cut at line ends */
    ck_assert_uint_eq(left_lines, left_bytes / 300);
    ck_assert_uint_eq(len - (strchr(m, '\n') + 1 - m), n - left_bytes);
    free(out), free(s);

    /* One line of 100,000 two-byte characters: cut, within the cap, and
     * never inside a character. */
    n = 200000;
    s = xmalloc(n);
    for (size_t i = 0; i < n; i += 2)
        s[i] = (char)0xc3, s[i + 1] = (char)0xa9;
    out = cap_whole(s, n, 1, 4096, &len);
    ck_assert_uint_le(len, 4096);
    m = strstr(out, "… 0 lines (");
    ck_assert_ptr_nonnull(m);
    ck_assert(m[-1] == '\n' && (unsigned char)m[-2] == 0xa9); /* the head ends whole */
    const char *tail = strchr(m, '\n') + 1;
    ck_assert((unsigned char)tail[0] == 0xc3);
    ck_assert((unsigned char)out[len - 1] == 0xa9);
    free(out), free(s);
}
END_TEST

START_TEST(test_collector_matches_the_whole)
{
    /* Fed in uneven pieces, the head and ring give the same text as the
     * cap of the whole output. */
    srand(16);
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(rand() % 6000), cap = 256 + (size_t)(rand() % 2048);
        char *s = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = rand() % 7 == 0 ? '\n' : 'a' + rand() % 26;
        struct collector col;
        collector_init(&col, cap);
        for (size_t off = 0; off < n;) {
            size_t k = (size_t)(rand() % 700);
            k = k > n - off ? n - off : k;
            collector_feed(&col, s + off, k);
            off += k;
        }
        size_t nl = count_nl(s, n), lines = nl + (n > 0 && s[n - 1] != '\n');
        ck_assert_uint_eq(collector_lines(&col), lines);
        size_t l1, l2;
        char *got = collector_text(&col, 5, 7, &l1);
        char *want = command_cap(s, n, s, n, n, lines, 5, 7, cap, &l2);
        ck_assert_uint_eq(l1, l2);
        ck_assert_mem_eq(got, want, l1);
        ck_assert_uint_le(l1, cap);
        free(got), free(want), free(s), free(col.head), free(col.ring);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* The sandbox                                                         */
/* ------------------------------------------------------------------ */

START_TEST(test_landlock_confines_writes)
{
    int abi = command_landlock_abi();
    if (abi <= 0) {
        fprintf(stderr, "test_command: SKIP landlock: this kernel has none (%s)\n",
                strerror(-abi));
        return;
    }
    fprintf(stderr, "test_command: landlock ABI %d\n", abi);
    char *cmd = xasprintf("echo in > inside.txt && mkdir sub && mv inside.txt sub/ && "
                          "echo t > /tmp/caretid-ll-$$ && rm /tmp/caretid-ll-$$ && "
                          "echo null > /dev/null && echo out > /dev/stdout && echo ok; "
                          "(echo x > %s/f) 2>/dev/null; echo write=$?; "
                          "mkdir %s/d 2>/dev/null; echo mkdir=$?",
                          outside, outside);
    struct run r = {0};
    struct command_opts o = opts_for(cmd, &r);
    o.sandbox = COMMAND_SANDBOX_LANDLOCK;
    run_opts(&o, &r);
    ck_assert(r.done && r.res.sandboxed);
    ck_assert_str_eq(r.note, "");
    ck_assert_msg(strncmp(r.output, "out\nok\nwrite=", 13) == 0, "got %s", r.output);
    ck_assert_ptr_null(strstr(r.output, "write=0"));
    ck_assert_ptr_null(strstr(r.output, "mkdir=0"));
    char path[128];
    snprintf(path, sizeof path, "%s/sub/inside.txt", ws);
    ck_assert_int_eq(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/f", outside);
    ck_assert_int_eq(access(path, F_OK), -1);
    free(r.output);

    /* The same command without the sandbox writes outside: the test can
     * tell the difference. */
    nftw(ws, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    ck_assert_int_eq(mkdir(ws, 0700), 0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct run u = {0};
    o = opts_for(cmd, &u);
    run_opts(&o, &u);
    ck_assert(!u.res.sandboxed);
    ck_assert_ptr_nonnull(strstr(u.output, "write=0"));
    ck_assert_int_eq(access(path, F_OK), 0);
    free(u.output), free(cmd);
}
END_TEST

START_TEST(test_landlock_missing_runs_with_a_note)
{
    landlock_abi_cache = -ENOSYS; /* as on a kernel without it */
    struct run r = {0};
    struct command_opts o = opts_for("echo hi", &r);
    o.sandbox = COMMAND_SANDBOX_LANDLOCK;
    run_opts(&o, &r);
    landlock_abi_cache = 0;
    ck_assert(r.res.exited && !r.res.sandboxed);
    ck_assert_str_eq(r.output, "hi\n");
    ck_assert_ptr_nonnull(strstr(r.note, "no Landlock"));
    free(r.output);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct run r = {0};
    struct command *c = (struct command *)1;
    struct command_opts o = opts_for("true", &r);
    o.workspace = "/nonexistent/caretid";
    ck_assert_int_eq(command_start(&loop, &o, &c), -ENOENT);
    ck_assert_ptr_null(c);
    o.workspace = "/dev/null";
    ck_assert_int_eq(command_start(&loop, &o, &c), -ENOTDIR);
    o = opts_for(NULL, &r);
    ck_assert_int_eq(command_start(&loop, &o, &c), -EINVAL);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The daemon dies                                                     */
/* ------------------------------------------------------------------ */

static void
daemon_on_done(struct command *cmd, const struct command_result *res, void *arg)
{
    (void)cmd, (void)res, (void)arg;
    _exit(3); /* the command must not end before the "daemon" is killed */
}

START_TEST(test_daemon_sigkill_leaves_no_process)
{
    /* The supervisor, orphaned, comes to this process: reap it here. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char pids[128], sup[128];
    snprintf(pids, sizeof pids, "%s/pids", ws);
    snprintf(sup, sizeof sup, "%s/sup", ws);
    pid_t d = fork();
    ck_assert_int_ge(d, 0);
    if (d == 0) { /* the "daemon" */
        uv_loop_t l;
        uv_loop_init(&l);
        struct command_opts o = {
            .command = "sleep 300 & echo $! > pids.tmp; setsid sleep 300 & echo $! >> pids.tmp; "
                       "echo $$ >> pids.tmp; mv pids.tmp pids; sleep 300",
            .workspace = ws,
            .sandbox = COMMAND_SANDBOX_LANDLOCK,
            .on_done = daemon_on_done,
        };
        struct command *c;
        if (command_start(&l, &o, &c) != 0)
            _exit(1);
        FILE *f = fopen(sup, "w");
        fprintf(f, "%d\n", (int)c->sup_pid);
        fclose(f);
        uv_run(&l, UV_RUN_DEFAULT);
        _exit(2);
    }
    int64_t deadline = mono_ms() + 10000;
    char buf[256] = "";
    for (;;) {
        FILE *f = fopen(pids, "r");
        if (f != NULL) {
            buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
            fclose(f);
            break;
        }
        ck_assert_msg(mono_ms() < deadline, "the command never wrote its pids");
        ck_assert_int_eq(waitpid(d, NULL, WNOHANG), 0);
        usleep(10000);
    }
    record_pids(buf);
    ck_assert_int_eq(n_recorded, 3);
    FILE *f = fopen(sup, "r");
    ck_assert_ptr_nonnull(f);
    int s = 0;
    ck_assert_int_eq(fscanf(f, "%d", &s), 1);
    fclose(f);
    recorded[n_recorded++] = s;
    for (int i = 0; i < n_recorded; i++)
        ck_assert(alive(recorded[i]));

    ck_assert_int_eq(kill(d, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(d, &st, 0), d);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    deadline = mono_ms() + 10000;
    for (int i = 0; i < n_recorded; i++) {
        while (alive(recorded[i])) {
            ck_assert_msg(mono_ms() < deadline, "pid %d outlived the daemon", (int)recorded[i]);
            waitpid(-1, NULL, WNOHANG);
            usleep(10000);
        }
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}
END_TEST

int
main(void)
{
    atexit(kill_recorded);
    Suite *s = suite_create("command");
    TCase *tc = tcase_create("command");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_output_streamed_and_captured);
    tcase_add_test(tc, test_exit_status_and_signal);
    tcase_add_test(tc, test_stdin_is_dev_null);
    tcase_add_test(tc, test_cwd_is_the_workspace);
    tcase_add_test(tc, test_environment_without_systemd_notify);
    tcase_add_test(tc, test_timeout_kills_the_whole_group);
    tcase_add_test(tc, test_what_the_shell_leaves_running_is_stopped);
    tcase_add_test(tc, test_cancel_mid_run);
    tcase_add_test(tc, test_abandon_kills_without_a_callback);
    tcase_add_test(tc, test_cap_keeps_first_and_last_lines);
    tcase_add_test(tc, test_cap_boundaries);
    tcase_add_test(tc, test_cap_bytes_and_long_lines);
    tcase_add_test(tc, test_collector_matches_the_whole);
    tcase_add_test(tc, test_landlock_confines_writes);
    tcase_add_test(tc, test_landlock_missing_runs_with_a_note);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_daemon_sigkill_leaves_no_process);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
