/*
 * Running the agent's shell commands on the libuv loop: `/bin/sh -c` in the
 * workspace, stdin from /dev/null, stdout and stderr merged into one pipe
 * (in the order a terminal would show them), in a session and process
 * group of its own, watched by a supervisor process that kills the whole
 * group, grandchildren included, when the command ends, times out, is
 * cancelled or the daemon dies.  Optionally sandboxed with Landlock so that
 * the command writes only inside the workspace and the temporary directory.
 * Nothing here blocks the loop.
 */
#ifndef CARETI_COMMAND_H
#define CARETI_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

struct command;

enum command_sandbox {
    COMMAND_SANDBOX_OFF,      /* no sandbox */
    COMMAND_SANDBOX_LANDLOCK, /* Landlock where the kernel has it, else unsandboxed with a note */
};

#define COMMAND_TIMEOUT_MS 120000 /* default timeout */
#define COMMAND_GRACE_MS 2000     /* SIGTERM to SIGKILL */
#define COMMAND_HEAD_LINES 50     /* the model sees the first lines ... */
#define COMMAND_TAIL_LINES 100    /* ... and the last ones ... */
#define COMMAND_CAP_BYTES 32768   /* ... in at most this many bytes */

struct command_result {
    bool exited;         /* the shell exited: EXIT_CODE holds its status */
    int exit_code;       /* 0-255 when EXITED */
    int signal;          /* the signal that ended the shell, or 0 */
    bool timed_out;      /* the timeout fired and the group was terminated */
    bool cancelled;      /* command_cancel() terminated the group */
    bool sandboxed;      /* Landlock was applied */
    const char *note;    /* NULL, or a sentence for the model and the user:
                          * why the command ran without the requested
                          * sandbox, or why it did not run at all */
    const char *output;  /* the capped output (NUL-terminated), see command_cap() */
    size_t output_len;   /* bytes in OUTPUT */
    uint64_t total_bytes; /* output bytes the command wrote */
    uint64_t total_lines; /* lines in them (a last unterminated line counts) */
    uint64_t duration_ms;
};

/*
 * A piece of output as it arrives (merged stdout and stderr; may split a
 * line or a UTF-8 sequence).  DATA is lent for the call.  The callback may
 * call command_cancel() or command_abandon() on CMD.
 */
typedef void (*command_output_cb)(struct command *cmd, const char *data, size_t len, void *arg);
/*
 * The command is over and no process of it is left.  RESULT and everything
 * it points to are lent for the call; CMD is freed when the callback
 * returns, so it must not be used after.
 */
typedef void (*command_done_cb)(struct command *cmd, const struct command_result *result,
                                void *arg);

struct command_opts {
    const char *command;   /* run by /bin/sh -c; not NULL */
    const char *workspace; /* an existing directory: the cwd, and writable under the sandbox */
    uint64_t timeout_ms;   /* 0: COMMAND_TIMEOUT_MS */
    uint64_t grace_ms;     /* 0: COMMAND_GRACE_MS */
    enum command_sandbox sandbox;
    size_t head_lines, tail_lines, cap_bytes; /* 0: the COMMAND_* defaults */
    command_output_cb on_output; /* may be NULL */
    command_done_cb on_done;     /* not NULL */
    void *arg;
};

/*
 * Start OPTS->command on LOOP (the strings in OPTS are copied).  On success
 * *OUT is the running command and ON_DONE will be called exactly once, from
 * the loop, never from inside this call (unless command_abandon() comes
 * first).  Returns 0, or a negative errno when nothing was started
 * (-EINVAL for a missing command or callback, -ENOENT/-ENOTDIR for the
 * workspace, or what pipe, fork or the Landlock ruleset failed with); then
 * no callback follows.
 * Must be called on the loop's thread.
 */
int command_start(uv_loop_t *loop, const struct command_opts *opts, struct command **out);

/*
 * Terminate the command's whole process group: SIGTERM, then SIGKILL after
 * the grace period.  ON_DONE follows with CANCELLED set (unless the command
 * had already ended or timed out).  Does not call back; safe to repeat.
 */
void command_cancel(struct command *cmd);

/*
 * Kill the command's process group at once (SIGKILL) and never call back
 * again: for a daemon shutting down, or an owner going away.  The module
 * still reaps its processes and frees CMD on the loop, so run the loop until
 * it has no handles before uv_loop_close().  NULL is a no-op.  Must not be
 * called from ON_DONE.
 */
void command_abandon(struct command *cmd);

/*
 * Whether process PID is one of a running command's (the shell, or any
 * descendant, even one that started a session of its own): a command
 * must not drive the agent that runs it.  Reads /proc.  Loop thread.
 */
bool command_runs_pid(pid_t pid);

/*
 * The Landlock ABI version the kernel offers (1 and up), or a negative
 * errno: -ENOSYS when the kernel was built without it, -EOPNOTSUPP when it
 * is disabled at boot.  Probed once, then cached.  For `caretictl doctor`.
 */
int command_landlock_abi(void);

/*
 * The text the model sees of an output of TOTAL bytes and TOTAL_LINES lines:
 * all of it when it is within CAP_BYTES and HEAD_LINES + TAIL_LINES lines,
 * else its first HEAD_LINES lines (at most a third of CAP_BYTES) and its last
 * TAIL_LINES lines, with a line "… N lines (B bytes) left out …" between,
 * the whole within CAP_BYTES (a line longer than its share is cut).
 * HEAD/HEAD_LEN are the output's first bytes and TAIL/TAIL_LEN its last ones
 * (the same buffer when it is whole; each at least CAP_BYTES long when the
 * output is longer).  Returns a new NUL-terminated string the caller frees,
 * its length in *LEN.  Pure.
 */
char *command_cap(const char *head, size_t head_len, const char *tail, size_t tail_len,
                  uint64_t total, uint64_t total_lines, size_t head_lines, size_t tail_lines,
                  size_t cap_bytes, size_t *len);

#endif
