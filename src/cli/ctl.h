/*
 * caretictl's shared pieces: the command table entry, the context every
 * command gets, and the one request helper that talks to the daemon.
 */
#ifndef CARETI_CLI_CTL_H
#define CARETI_CLI_CTL_H

#include <stdbool.h>

#include <curl/curl.h>
#include <jansson.h>

struct ctl_ctx {
    const char *socket; /* resolved socket path */
    bool json;          /* --json: print the daemon's JSON as is */
    bool color;         /* stdout is a terminal and NO_COLOR is unset */
};

struct ctl_cmd {
    const char *name;
    const char *alias; /* may be NULL */
    const char *usage; /* arguments after the name */
    const char *help;  /* one line */
    int min_args, max_args;
    /* Returns the exit code (CTL_EXIT_*). */
    int (*run)(struct ctl_ctx *ctx, int argc, char **argv);
};

/* One connection to the daemon's socket: the path it checked, and why
 * the server was not trusted if it was not (ctl_socket.c). */
struct ctl_conn {
    const char *path;
    int fd;            /* the socket curl connects; -1 until it is made */
    char refusal[400]; /* why the socket or its server is refused; "" if trusted */
};

/*
 * Check PATH (the socket and its directory must be ours and not writable
 * by others) and make H connect to it through C, which must outlive the
 * transfer: once connected, and before any byte is sent, the transfer is
 * aborted unless the server on that socket runs as our uid (SO_PEERCRED).
 * Every request to the daemon goes through this.  Returns 0, or
 * -CTL_EXIT_ERROR after printing why the socket is refused.
 */
int ctl_conn_setup(struct ctl_conn *c, CURL *h, const char *path);

/* After a transfer on H set up by ctl_conn_setup failed with RES (ERRBUF
 * its text, may be NULL): print one line naming the socket, what failed
 * and the fix.  Returns -CTL_EXIT_NO_DAEMON when nothing listens there,
 * else -CTL_EXIT_ERROR. */
int ctl_conn_failed(const struct ctl_conn *c, CURL *h, CURLcode res, const char *errbuf);

/*
 * Send METHOD PATH (BODY may be NULL) to the daemon and parse the JSON
 * answer into *OUT (new reference; NULL when the body is not JSON).
 * Returns the HTTP status, or -CTL_EXIT_NO_DAEMON / -CTL_EXIT_ERROR after
 * printing one line that says what failed and what to do.
 */
int ctl_request(const struct ctl_ctx *ctx, const char *method, const char *path,
                const char *body, json_t **out);

/* Called with each line of a streamed answer (without its newline). Return
 * false to stop the transfer. */
typedef bool (*ctl_line_cb)(const char *line, size_t len, void *arg);

/*
 * POST BODY (NULL: GET) to PATH and hand each line of the answer to ON_LINE as it
 * arrives.  Returns the HTTP status (the error body of a status >= 400 is
 * printed), or -CTL_EXIT_* after printing why; -CTL_EXIT_INTERRUPTED when
 * SIGINT stopped it.
 */
int ctl_stream(const struct ctl_ctx *ctx, const char *path, const char *body, ctl_line_cb on_line,
               void *arg);

/* GET PATH and hand each line of the answer to ON_LINE, as ctl_stream. */
int ctl_stream_get(const struct ctl_ctx *ctx, const char *path, ctl_line_cb on_line, void *arg);

/* Seconds on the monotonic clock, for the durations ask, bench and pull report. */
double ctl_now_s(void);

/* Print one line for a tool call the model made: "[tool call] NAME
 * ARGUMENTS" (ARGUMENTS as compact JSON), on a line of its own: a newline
 * first when *MID_LINE (text was printed without one), which is then
 * false. */
void ctl_print_tool_call(const char *name, const json_t *arguments, bool *mid_line);

/* GET PATH and copy the body to stdout.  Returns an exit code. */
int ctl_print_body(const struct ctl_ctx *ctx, const char *path);

/* Send CONTENT to agent session SESSION (MODEL may be NULL) and stream
 * the reply to stdout.  Returns an exit code; Ctrl-C cancels the reply on
 * the daemon and returns CTL_EXIT_INTERRUPTED. */
int ctl_turn(const struct ctl_ctx *ctx, const char *session, const char *content,
             const char *model);

/* URL-encode S for a query string; caller frees. */
char *ctl_escape(const char *s);

/* GET PATH for a command that prints a table.  Returns -1 with *OUT (new
 * reference) for the caller to print; otherwise the exit code, after
 * printing the error, or the JSON itself under --json. */
int ctl_fetch(const struct ctl_ctx *ctx, const char *path, json_t **out);

/* "1.2 GB", "340 MB", "12 kB", or "-" for nothing. */
void ctl_format_bytes(double bytes, char *out, size_t len);

/* Ask the daemon to find MODEL (POST /api/show resolves it as a turn
 * would), so that a name no server has fails before a session is made or
 * changed for it.  Returns an exit code, after printing the daemon's
 * refusal. */
int ctl_check_model(const struct ctl_ctx *ctx, const char *model);

/* Print the error a daemon answered with (status >= 400) on stderr and
 * return CTL_EXIT_ERROR. */
int ctl_print_error(int status, json_t *answer);

/* Bold/red/green for a terminal, "" otherwise. */
const char *ctl_bold(const struct ctl_ctx *ctx);
const char *ctl_red(const struct ctl_ctx *ctx);
const char *ctl_green(const struct ctl_ctx *ctx);
const char *ctl_reset(const struct ctl_ctx *ctx);

extern const struct ctl_cmd ctl_status_entry;
extern const struct ctl_cmd ctl_reload_entry;
extern const struct ctl_cmd ctl_version_entry;
extern const struct ctl_cmd ctl_models_entry;
extern const struct ctl_cmd ctl_ask_entry;
extern const struct ctl_cmd ctl_sessions_entry;
extern const struct ctl_cmd ctl_chat_entry;
extern const struct ctl_cmd ctl_ps_entry;
extern const struct ctl_cmd ctl_pull_entry;
extern const struct ctl_cmd ctl_stats_entry;
extern const struct ctl_cmd ctl_bench_entry;
extern const struct ctl_cmd ctl_doctor_entry;
extern const struct ctl_cmd ctl_agent_entry;

/* ${XDG_STATE_HOME}/careti/NAME (a REPL's history file), or NULL; the
 * caller frees it. */
char *ctl_state_file(const char *name);

/* sessions undo ID [STEP]: undo the agent's last file change in SESSION,
 * or every change from step STEP (a message seq, as `sessions diff`
 * shows) on.  Returns an exit code (ctl_agent.c). */
int ctl_agent_undo(const struct ctl_ctx *ctx, const char *session, const char *step);

/* sessions diff ID: print the file changes the agent made in SESSION,
 * as coloured unified diffs.  Returns an exit code (ctl_agent.c). */
int ctl_agent_diff(const struct ctl_ctx *ctx, const char *session);
extern const struct ctl_cmd ctl_acp_entry;
/* Hidden: not in the table, so neither help nor prefixes know it. */
extern const struct ctl_cmd ctl_complete_entry;

/* The command table, in help's order; *N gets its length.  Static. */
const struct ctl_cmd *const *ctl_commands(size_t *n);

#endif
