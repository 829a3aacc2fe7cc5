/*
 * caretictl agent: the coding agent on a terminal.  One task (TASK) or a
 * REPL (libedit, history file); each line is a message to an agent
 * session whose tool loop runs in the daemon.  This file only prints the
 * turn's events and answers its approvals (asking on /dev/tty, so piped
 * input still works); what a tool may do is the daemon's policy.  Also
 * `sessions undo` and `sessions diff`, which read the same changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <editline/readline.h>

#include "careti/core/path.h"
#include "careti/core/proto.h"
#include "careti/core/rundir.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

/* The approval categories, as bits of --approve. */
enum agent_cat { AGENT_CAT_READ = 1, AGENT_CAT_EDIT = 2, AGENT_CAT_COMMAND = 4 };

/* What a line typed at an approval prompt means. */
enum agent_answer {
    AGENT_ANS_NONE,
    AGENT_ANS_YES,
    AGENT_ANS_NO,
    AGENT_ANS_ALWAYS,
    AGENT_ANS_FEEDBACK
};

struct agent {
    const struct ctl_ctx *ctx;
    char session[64];
    char *workspace; /* real path; NULL when continuing a session without -w */
    char *model;     /* NULL: the session's or the daemon's default */
    bool plan;
    unsigned approve; /* categories answered allow_once without asking (--yes, --approve) */
    bool one_task;    /* TASK was given: no REPL line follows to answer a question */
    int tty;          /* /dev/tty, opened at the first approval to ask; -1 if none */
    bool tty_tried;
};

/* One turn's printing state. */
struct run {
    struct agent *ag;
    char event[32];
    bool mid_line;    /* text was printed without its newline */
    bool in_thinking; /* the last text printed was reasoning */
    int forced;       /* an exit code decided here (4, 130), or 0 */
    bool done;
    char stop_reason[32];
    char reason[256];
    long long steps, files_changed, prompt_tokens, completion_tokens;
    double started;
    /* Seconds from each tool call to its result (running it, and any
     * approval asked), which are not the model's; tool_since is the
     * pending call's start, 0 when none. */
    double tool_time, tool_since;
    /* The edit whose line waits for its counts (from its approval or result). */
    char edit_call[128];
    char *edit_line;
    /* The call whose refusal was printed: its failed result says no more. */
    char refused_call[128];
};

static const char agent_usage[] =
    "[-w DIR] [-m MODEL] [--plan] [--session ID] [--yes | --approve read,edit,command] "
    "[--json] [TASK]";

/* Set while the REPL waits at its prompt: Ctrl-C there leaves. */
static void
on_prompt_sigint(int sig)
{
    (void)sig;
    static const char nl[] = "\n";
    ssize_t n = write(STDOUT_FILENO, nl, 1);
    (void)n;
    _exit(CTL_EXIT_INTERRUPTED);
}

/* Parse an answer to an approval prompt: y/yes, n/no, a/always, f/feedback
 * (case does not matter; "f TEXT" carries its feedback, returned in
 * *FEEDBACK, else NULL).  AGENT_ANS_NONE for anything else. */
static enum agent_answer
agent_parse_answer(const char *line, const char **feedback)
{
    static const struct {
        const char *word;
        enum agent_answer ans;
    } words[] = {
        {"y", AGENT_ANS_YES},      {"yes", AGENT_ANS_YES},           {"n", AGENT_ANS_NO},
        {"no", AGENT_ANS_NO},      {"a", AGENT_ANS_ALWAYS},          {"always", AGENT_ANS_ALWAYS},
        {"f", AGENT_ANS_FEEDBACK}, {"feedback", AGENT_ANS_FEEDBACK},
    };
    *feedback = NULL;
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strcspn(line, " \t\r\n");
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i].word) != n || strncasecmp(line, words[i].word, n) != 0)
            continue;
        if (words[i].ans == AGENT_ANS_FEEDBACK) {
            const char *rest = line + n + strspn(line + n, " \t");
            if (*rest != '\0' && *rest != '\n' && *rest != '\r')
                *feedback = rest;
        } else if (line[n + strspn(line + n, " \t\r\n")] != '\0') {
            return AGENT_ANS_NONE; /* "yes please" is not an answer we guess at */
        }
        return words[i].ans;
    }
    return AGENT_ANS_NONE;
}

/* --approve's list: "read,edit,command".  Returns the bits, or -1. */
static int
agent_parse_categories(const char *list)
{
    int bits = 0;
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n == 4 && strncmp(p, "read", 4) == 0)
            bits |= AGENT_CAT_READ;
        else if (n == 4 && strncmp(p, "edit", 4) == 0)
            bits |= AGENT_CAT_EDIT;
        else if (n == 7 && strncmp(p, "command", 7) == 0)
            bits |= AGENT_CAT_COMMAND;
        else
            return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    return bits == 0 ? -1 : bits;
}

static unsigned
agent_category_bit(const char *category)
{
    if (category == NULL)
        return 0;
    if (strcmp(category, "read") == 0)
        return AGENT_CAT_READ;
    if (strcmp(category, "edit") == 0)
        return AGENT_CAT_EDIT;
    if (strcmp(category, "command") == 0)
        return AGENT_CAT_COMMAND;
    return 0;
}

/* The exit code for how a turn stopped (the done event's stop_reason). */
static int
agent_exit_code(const char *stop_reason)
{
    if (strcmp(stop_reason, "completed") == 0)
        return CTL_EXIT_OK;
    if (strcmp(stop_reason, "needs_user") == 0)
        return CTL_EXIT_NEEDS_USER;
    if (strcmp(stop_reason, "cancelled") == 0)
        return CTL_EXIT_INTERRUPTED;
    return CTL_EXIT_ERROR; /* error, max_steps, anything newer */
}

/* Print a unified diff, coloured when COLOR: additions green, removals
 * red, hunk headers cyan, file headers bold. */
static void
agent_print_diff(FILE *out, const char *diff, bool color)
{
    const char *p = diff;
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, "\n");
        const char *on = "";
        if (color) {
            if (strncmp(p, "+++", 3) == 0 || strncmp(p, "---", 3) == 0)
                on = "\033[1m";
            else if (*p == '+')
                on = "\033[32m";
            else if (*p == '-')
                on = "\033[31m";
            else if (strncmp(p, "@@", 2) == 0)
                on = "\033[36m";
        }
        fprintf(out, "%s%.*s%s\n", on, (int)n, p, *on ? "\033[0m" : "");
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* End a line of streamed text before printing a line of our own. */
static void
end_line(struct run *r)
{
    if (r->mid_line)
        putchar('\n');
    r->mid_line = false;
}

static const char *
jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* An argument that may come as a JSON string or number (text-form calls
 * give strings); "" when absent. */
static void
jarg(const json_t *args, const char *key, char *out, size_t len)
{
    const json_t *v = json_object_get(args, key);
    if (json_is_string(v))
        snprintf(out, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, len, "%lld", json_integer_value(v));
    else if (json_is_true(v))
        snprintf(out, len, "true");
    else
        *out = '\0';
}

static bool
is_edit_tool(const char *name)
{
    return strcmp(name, "write_to_file") == 0 || strcmp(name, "replace_in_file") == 0;
}

/* The one line a tool call prints ("read src/main.c", "run make test");
 * NULL for the tools whose own events print (completion, question).
 * Caller frees. */
static char *
agent_tool_line(const char *name, const json_t *args)
{
    char path[1024], a[1024], b[1024];
    jarg(args, "path", path, sizeof path);
    if (strcmp(name, "read_file") == 0) {
        jarg(args, "start_line", a, sizeof a);
        jarg(args, "end_line", b, sizeof b);
        if (*a || *b)
            return xasprintf("read %s:%s-%s", path, a, b);
        return xasprintf("read %s", path);
    }
    if (strcmp(name, "list_files") == 0) {
        jarg(args, "recursive", a, sizeof a);
        return xasprintf("list %s%s", *path ? path : ".",
                         strcmp(a, "true") == 0 ? " (recursive)" : "");
    }
    if (strcmp(name, "search_files") == 0) {
        jarg(args, "regex", a, sizeof a);
        jarg(args, "file_pattern", b, sizeof b);
        return xasprintf("search /%s/ in %s%s%s", a, *path ? path : ".", *b ? " " : "", b);
    }
    if (strcmp(name, "write_to_file") == 0)
        return xasprintf("write %s", path);
    if (strcmp(name, "replace_in_file") == 0)
        return xasprintf("edit %s", path);
    if (strcmp(name, "execute_command") == 0) {
        jarg(args, "command", a, sizeof a);
        return xasprintf("run %s", a);
    }
    if (strcmp(name, "attempt_completion") == 0 || strcmp(name, "ask_followup_question") == 0 ||
        strcmp(name, "plan_mode_respond") == 0)
        return NULL;
    char *j = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    char *line = xasprintf("%s %s", name, j ? j : "{}");
    free(j);
    return line;
}

/* Print a tool's line in bold: the verb stands out of the model's text. */
static void
print_tool_line(struct run *r, const char *line)
{
    end_line(r);
    const struct ctl_ctx *ctx = r->ag->ctx;
    printf("%s%s%s\n", ctl_bold(ctx), line, ctl_reset(ctx));
}

/* The deferred line of an edit, with its counts, then its diff. */
static void
show_edit(struct run *r, const json_t *data)
{
    if (r->edit_line == NULL)
        return;
    char *line;
    if (json_object_get(data, "added") != NULL || json_object_get(data, "removed") != NULL)
        line = xasprintf("%s (+%lld \xe2\x88\x92%lld)", r->edit_line,
                         json_integer_value(json_object_get(data, "added")),
                         json_integer_value(json_object_get(data, "removed")));
    else
        line = xstrdup(r->edit_line);
    print_tool_line(r, line);
    free(line);
    const char *diff = jstr(data, "diff");
    if (diff != NULL && *diff != '\0')
        agent_print_diff(stdout, diff, r->ag->ctx->color);
    free(r->edit_line);
    r->edit_line = NULL;
}

/* Open /dev/tty once; -1 when there is no terminal to ask on. */
static int
agent_tty(struct agent *ag)
{
    if (!ag->tty_tried) {
        ag->tty_tried = true;
        ag->tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    }
    return ag->tty;
}

/* Read one line from FD into BUF.  Returns its length, -1 at end of file
 * or on error, -2 when a signal (Ctrl-C) interrupted it. */
static ssize_t
tty_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && errno == EINTR)
            return -2;
        if (got <= 0)
            return n > 0 ? (ssize_t)n : -1;
        if (c == '\n')
            break;
        if (n + 1 < len)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

static void
tty_puts(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

/* Answer approval CALL of session with DECISION (FEEDBACK may be NULL).
 * Returns true when the daemon took it. */
static bool
post_decision(struct agent *ag, const char *call, const char *decision, const char *feedback)
{
    char *ecall = ctl_escape(call);
    char *path = xasprintf("/careti/v1/sessions/%s/approvals/%s", ag->session, ecall);
    json_t *req = json_pack("{s:s}", "decision", decision);
    if (feedback != NULL)
        json_object_set_new(req, "feedback", json_string(feedback));
    char *body = json_dumps(req, JSON_COMPACT);
    json_t *ans = NULL;
    int status = ctl_request(ag->ctx, "POST", path, body, &ans);
    if (status >= 400)
        ctl_print_error(status, ans);
    json_decref(ans);
    json_decref(req);
    free(body);
    free(path);
    free(ecall);
    return status == 200;
}

/* What an approval asks, for the prompt and for the no-terminal message. */
static char *
approval_what(const json_t *data)
{
    const char *category = jstr(data, "category");
    const char *path = jstr(data, "path");
    const char *command = jstr(data, "command");
    const char *tool = jstr(data, "tool");
    if (category != NULL && strcmp(category, "command") == 0)
        return xasprintf("command `%s`", command ? command : tool ? tool : "?");
    if (category != NULL && strcmp(category, "read") == 0)
        return xasprintf("read of %s", path ? path : tool ? tool : "?");
    return xasprintf("%s to %s", category ? category : "change", path ? path : tool ? tool : "?");
}

/*
 * An approval event: answer allow_once for the categories of --yes or
 * --approve; else ask on the terminal.  With no terminal (or its end of
 * file), say what waits and stop the turn with exit 4.  Returns false to
 * stop reading the turn.
 */
static bool
on_approval(struct run *r, const json_t *data)
{
    struct agent *ag = r->ag;
    const char *call = jstr(data, "call");
    const char *category = jstr(data, "category");
    if (call == NULL)
        return true;
    if (!ag->ctx->json && strcmp(r->edit_call, call) == 0)
        show_edit(r, data);
    if (ag->approve & agent_category_bit(category)) {
        post_decision(ag, call, "allow_once", NULL);
        return true;
    }

    char *what = approval_what(data);
    int fd = agent_tty(ag);
    fflush(stdout);
    if (fd < 0) {
        fprintf(stderr,
                "caretictl: waiting for approval of %s (session %s, call %s), and no terminal "
                "to ask on; run with --yes or --approve %s to allow it\n",
                what, ag->session, call, category ? category : "CATEGORY");
        free(what);
        r->forced = CTL_EXIT_NEEDS_USER;
        return false;
    }
    bool go_on = true;
    for (;;) {
        char line[4096], *prompt;
        const char *feedback;
        prompt = xasprintf("Allow %s? [y]es / [n]o / [a]lways / [f]eedback ", what);
        tty_puts(fd, prompt);
        free(prompt);
        ssize_t n = tty_line(fd, line, sizeof line);
        if (n == -2) {
            tty_puts(fd, "\n");
            r->forced = CTL_EXIT_INTERRUPTED;
            go_on = false;
            break;
        }
        if (n < 0) {
            tty_puts(fd, "\n");
            fprintf(stderr, "caretictl: no answer for the approval of %s\n", what);
            r->forced = CTL_EXIT_NEEDS_USER;
            go_on = false;
            break;
        }
        enum agent_answer ans = agent_parse_answer(line, &feedback);
        if (ans == AGENT_ANS_FEEDBACK && feedback == NULL) {
            tty_puts(fd, "Feedback for the model: ");
            n = tty_line(fd, line, sizeof line);
            if (n == -2) {
                tty_puts(fd, "\n");
                r->forced = CTL_EXIT_INTERRUPTED;
                go_on = false;
                break;
            }
            feedback = n > 0 ? line : NULL;
        }
        if (ans == AGENT_ANS_NONE)
            continue;
        const char *decision = ans == AGENT_ANS_YES      ? "allow_once"
                               : ans == AGENT_ANS_ALWAYS ? "allow_always"
                                                         : "reject";
        post_decision(ag, call, decision, feedback);
        break;
    }
    free(what);
    return go_on;
}

/* Print one event of the turn for people. */
static void
print_event(struct run *r, const char *event, const json_t *j)
{
    const struct ctl_ctx *ctx = r->ag->ctx;
    if (strcmp(event, "step") == 0) {
        end_line(r); /* each step's text starts its own line */
    } else if (strcmp(event, "delta") == 0 || strcmp(event, "thinking") == 0) {
        const char *text = jstr(j, "content");
        bool thinking = event[0] == 't';
        if (text == NULL || *text == '\0' || (thinking && !ctx->color))
            return; /* reasoning is for a watching person only */
        if (thinking != r->in_thinking)
            end_line(r); /* reasoning and answer each start their own line */
        r->in_thinking = thinking;
        printf("%s%s%s", thinking ? "\033[2m" : "", text, thinking ? "\033[0m" : "");
        r->mid_line = text[strlen(text) - 1] != '\n';
    } else if (strcmp(event, "tool_call") == 0) {
        const char *name = jstr(j, "name");
        char *line = agent_tool_line(name ? name : "?", json_object_get(j, "arguments"));
        if (line == NULL)
            return;
        if (name != NULL && is_edit_tool(name)) {
            /* Printed with its counts once the approval or the result has them. */
            free(r->edit_line);
            r->edit_line = line;
            snprintf(r->edit_call, sizeof r->edit_call, "%s", jstr(j, "id") ? jstr(j, "id") : "");
            end_line(r);
            return;
        }
        print_tool_line(r, line);
        free(line);
    } else if (strcmp(event, "tool_output") == 0) {
        const char *text = jstr(j, "content");
        if (text == NULL || *text == '\0')
            return;
        fputs(text, stdout);
        r->mid_line = text[strlen(text) - 1] != '\n';
    } else if (strcmp(event, "approval_decision") == 0) {
        const char *d = jstr(j, "decision");
        if (d == NULL || strcmp(d, "deny") == 0 || strcmp(d, "timeout") == 0 ||
            strcmp(d, "reject") == 0) {
            const char *call = jstr(j, "call");
            if (call != NULL && strcmp(call, r->edit_call) == 0)
                show_edit(r, j);
            snprintf(r->refused_call, sizeof r->refused_call, "%s", call ? call : "");
            end_line(r);
            printf("  %s%s%s\n", ctl_red(ctx),
                   d == NULL                   ? "not allowed"
                   : strcmp(d, "deny") == 0    ? "denied by the session's approval policy"
                   : strcmp(d, "timeout") == 0 ? "not answered in time"
                                               : "rejected",
                   ctl_reset(ctx));
        }
    } else if (strcmp(event, "tool_result") == 0) {
        const char *call = jstr(j, "call");
        if (call != NULL && strcmp(call, r->edit_call) == 0)
            show_edit(r, j);
        const json_t *code = json_object_get(j, "exit_code");
        bool ok = json_is_true(json_object_get(j, "ok"));
        end_line(r);
        if (json_is_integer(code) && json_integer_value(code) != 0)
            printf("  %sexit %lld%s\n", ctl_red(ctx), json_integer_value(code), ctl_reset(ctx));
        else if (!ok && jstr(j, "summary") != NULL &&
                 (call == NULL || strcmp(call, r->refused_call) != 0))
            printf("  %sfailed: %s%s\n", ctl_red(ctx), jstr(j, "summary"), ctl_reset(ctx));
    } else if (strcmp(event, "usage") == 0) {
        r->prompt_tokens += json_integer_value(json_object_get(j, "prompt_tokens"));
        r->completion_tokens += json_integer_value(json_object_get(j, "completion_tokens"));
    } else if (strcmp(event, "completion") == 0) {
        end_line(r);
        bool plan = json_is_true(json_object_get(j, "plan"));
        printf("\n%s%s%s\n%s\n", ctl_bold(ctx), plan ? "Plan:" : "Done:", ctl_reset(ctx),
               jstr(j, "result") ? jstr(j, "result") : "");
    } else if (strcmp(event, "question") == 0) {
        end_line(r);
        printf("\n%s?%s %s\n", ctl_bold(ctx), ctl_reset(ctx),
               jstr(j, "question") ? jstr(j, "question") : "");
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(j, "options"), i, o)
            printf("  %zu. %s\n", i + 1, json_string_value(o) ? json_string_value(o) : "");
    } else if (strcmp(event, "truncated") == 0) {
        end_line(r);
        fflush(stdout);
        fprintf(stderr, "(%lld older messages left out to fit the model's window)\n",
                json_integer_value(json_object_get(j, "dropped_messages")));
    } else if (strcmp(event, "error") == 0) {
        end_line(r);
        fflush(stdout);
        fprintf(stderr, "caretictl: %s\n", jstr(j, "message") ? jstr(j, "message") : "error");
    }
    fflush(stdout);
}

/* One SSE line of the turn: remember the event name; at its data, record
 * what the summary needs, print it (or its NDJSON line) and answer an
 * approval. */
static bool
on_sse_line(const char *line, size_t len, void *arg)
{
    struct run *r = arg;
    if (len >= 7 && strncmp(line, "event: ", 7) == 0) {
        snprintf(r->event, sizeof r->event, "%.*s", (int)(len - 7), line + 7);
        return true;
    }
    if (len < 6 || strncmp(line, "data: ", 6) != 0)
        return true;
    json_t *j = json_loadb(line + 6, len - 6, 0, NULL);
    bool go_on = true;
    if (r->ag->ctx->json) {
        json_t *o = json_pack("{s:s,s:O}", "event", r->event, "data", j ? j : json_null());
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        fflush(stdout);
        json_decref(o);
    } else {
        print_event(r, r->event, j);
    }
    if (strcmp(r->event, "tool_call") == 0) {
        r->tool_since = ctl_now_s();
    } else if (strcmp(r->event, "tool_result") == 0 && r->tool_since > 0) {
        r->tool_time += ctl_now_s() - r->tool_since;
        r->tool_since = 0;
    }
    if (strcmp(r->event, "approval") == 0) {
        go_on = on_approval(r, j);
    } else if (strcmp(r->event, "done") == 0) {
        r->done = true;
        snprintf(r->stop_reason, sizeof r->stop_reason, "%s",
                 jstr(j, "stop_reason") ? jstr(j, "stop_reason") : "error");
        snprintf(r->reason, sizeof r->reason, "%s", jstr(j, "reason") ? jstr(j, "reason") : "");
        r->steps = json_integer_value(json_object_get(j, "steps"));
        r->files_changed = json_integer_value(json_object_get(j, "files_changed"));
    }
    json_decref(j);
    return go_on;
}

/* The one-line summary after a turn, on stderr like ask -v's timing. */
static void
print_summary(const struct run *r)
{
    double elapsed = ctl_now_s() - r->started;
    double model_time = elapsed - r->tool_time;
    fflush(stdout);
    fprintf(stderr, "%lld step%s, %lld file%s changed, %lld tokens, %.1f s, %.1f tokens/s\n",
            r->steps, r->steps == 1 ? "" : "s", r->files_changed, r->files_changed == 1 ? "" : "s",
            r->prompt_tokens + r->completion_tokens, elapsed,
            model_time > 0 ? (double)r->completion_tokens / model_time : 0.0);
}

static void
cancel_turn(struct agent *ag)
{
    char path[160];
    json_t *ans = NULL;
    snprintf(path, sizeof path, "/careti/v1/sessions/%s/cancel", ag->session);
    ctl_request(ag->ctx, "POST", path, "{}", &ans);
    json_decref(ans);
}

/* Send CONTENT to the session and follow its turn to the end.  Returns
 * the exit code for how it ended. */
static int
agent_turn(struct agent *ag, const char *content)
{
    struct run r = {.ag = ag, .started = ctl_now_s()};
    char path[160];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s/messages", ag->session);
    json_t *req = json_pack("{s:s}", "content", content);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int status = ctl_stream(ag->ctx, path, body, on_sse_line, &r);
    free(body);
    end_line(&r);
    fflush(stdout);
    int code;
    if (status == -CTL_EXIT_INTERRUPTED || r.forced == CTL_EXIT_INTERRUPTED) {
        /* Ctrl-C: the daemon stops the turn, and a command it runs. */
        cancel_turn(ag);
        fprintf(stderr, "(turn cancelled)\n");
        code = CTL_EXIT_INTERRUPTED;
    } else if (r.forced != 0) {
        /* Nobody to answer the approval: stop rather than leave the
         * session busy with a turn no one follows. */
        cancel_turn(ag);
        code = r.forced;
    } else if (status < 0) {
        code = -status;
    } else if (status >= 400) {
        code = CTL_EXIT_ERROR;
    } else if (!r.done) {
        fprintf(stderr, "caretictl: the turn's stream ended before its done event\n");
        code = CTL_EXIT_ERROR;
    } else {
        code = agent_exit_code(r.stop_reason);
        if (!ag->ctx->json) {
            if (strcmp(r.stop_reason, "max_steps") == 0)
                fprintf(stderr, "caretictl: stopped after %lld steps (agent.max_steps)%s%s\n",
                        r.steps, *r.reason ? ": " : "", r.reason);
            else if (strcmp(r.stop_reason, "needs_user") == 0 && *r.reason)
                fprintf(stderr, "(waiting for you: %s)\n", r.reason);
            if (strcmp(r.stop_reason, "needs_user") == 0 && ag->one_task)
                fprintf(stderr, "answer with: caretictl agent --session %s \"...\"\n", ag->session);
            /* A turn that failed before the model answered has nothing to
             * sum up: its error, already printed, is the whole story. */
            if (strcmp(r.stop_reason, "error") != 0 || r.prompt_tokens + r.completion_tokens > 0)
                print_summary(&r);
        }
    }
    free(r.edit_line);
    return code;
}

/* Answer STATUS/ANS of a request: the exit code, after printing an error.
 * Call ctl_request first and pass its ANS after: as arguments of one call,
 * the order in which the two are evaluated is unspecified. */
static int
answer_code(int status, json_t *ans)
{
    if (status < 0)
        return -status;
    if (status >= 400)
        return ctl_print_error(status, ans);
    return CTL_EXIT_OK;
}

/* PATCH the session with BODY (a JSON object, stolen).  Returns an exit code. */
static int
patch_take(struct agent *ag, json_t *body)
{
    char path[160];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s", ag->session);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *ans = NULL;
    int status = ctl_request(ag->ctx, "PATCH", path, text, &ans);
    int code = answer_code(status, ans);
    json_decref(ans);
    free(text);
    return code;
}

/* Create an agent session in AG's mode, workspace and model. */
static int
new_session(struct agent *ag)
{
    const char *mode = ag->plan ? "plan" : "act";
    json_t *req = json_pack("{s:s,s:s}", "mode", mode, "workspace", ag->workspace);
    if (ag->model != NULL)
        json_object_set_new(req, "model", json_string(ag->model));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *ans = NULL;
    int status = ctl_request(ag->ctx, "POST", "/careti/v1/sessions", body, &ans);
    free(body);
    int code = answer_code(status, ans);
    if (code == CTL_EXIT_OK) {
        const char *got = jstr(ans, "mode");
        if (got == NULL || strcmp(got, mode) != 0) {
            /* An older daemon keeps unknown fields silently: say so, not chat. */
            fprintf(stderr, "caretictl: the daemon made a session without an agent mode; "
                            "it predates agent sessions (update caretid)\n");
            code = CTL_EXIT_ERROR;
        } else {
            snprintf(ag->session, sizeof ag->session, "%s", jstr(ans, "id"));
        }
    }
    json_decref(ans);
    return code;
}

/* Continue session ID: resolve its prefix, check it is an agent session,
 * and apply -m, -w and --plan to it. */
static int
open_session(struct agent *ag, const char *id, bool plan_given)
{
    char *eid = ctl_escape(id);
    char *path = xasprintf("/careti/v1/sessions/%s", eid);
    json_t *ans = NULL;
    int status = ctl_request(ag->ctx, "GET", path, NULL, &ans);
    int code = answer_code(status, ans);
    free(path);
    free(eid);
    if (code != CTL_EXIT_OK)
        goto out;
    const char *mode = jstr(ans, "mode");
    snprintf(ag->session, sizeof ag->session, "%s", jstr(ans, "id") ? jstr(ans, "id") : id);
    if (mode == NULL || (strcmp(mode, "act") != 0 && strcmp(mode, "plan") != 0)) {
        fprintf(stderr,
                "caretictl: session %s is not an agent session (mode %s); continue it "
                "with `caretictl chat %s`\n",
                ag->session, mode ? mode : "chat", ag->session);
        code = CTL_EXIT_ERROR;
        goto out;
    }
    json_t *change = json_object();
    if (ag->model != NULL)
        json_object_set_new(change, "model", json_string(ag->model));
    if (ag->workspace != NULL)
        json_object_set_new(change, "workspace", json_string(ag->workspace));
    if (plan_given && strcmp(mode, "plan") != 0)
        json_object_set_new(change, "mode", json_string("plan"));
    ag->plan = plan_given || strcmp(mode, "plan") == 0;
    if (ag->workspace == NULL && jstr(ans, "workspace") != NULL)
        ag->workspace = xstrdup(jstr(ans, "workspace"));
    if (json_object_size(change) > 0)
        code = patch_take(ag, change);
    else
        json_decref(change);
out:
    json_decref(ans);
    return code;
}

/* Print the session's file changes (GET .../changes), diffs coloured. */
static int
print_changes(const struct ctl_ctx *ctx, const char *session)
{
    char path[160];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s/changes", session);
    json_t *ans = NULL;
    int code = ctl_fetch(ctx, path, &ans);
    if (code != -1)
        return code;
    json_t *changes = json_object_get(ans, "changes");
    if (json_array_size(changes) == 0)
        printf("no file changes in session %s\n", session);
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        bool undone = json_is_true(json_object_get(c, "undone"));
        printf("%sstep %lld: %s %s (+%lld \xe2\x88\x92%lld)%s%s\n", ctl_bold(ctx),
               json_integer_value(json_object_get(c, "seq")),
               json_is_true(json_object_get(c, "existed")) ? "edit" : "new",
               jstr(c, "path") ? jstr(c, "path") : "?",
               json_integer_value(json_object_get(c, "added")),
               json_integer_value(json_object_get(c, "removed")), undone ? " [undone]" : "",
               ctl_reset(ctx));
        if (!undone && jstr(c, "diff") != NULL)
            agent_print_diff(stdout, jstr(c, "diff"), ctx->color);
    }
    json_decref(ans);
    return CTL_EXIT_OK;
}

/* POST .../undo with BODY ("{}" or {"to": SEQ}); prints what was undone. */
static int
post_undo(const struct ctl_ctx *ctx, const char *session, const char *body)
{
    char path[160];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s/undo", session);
    json_t *ans = NULL;
    int status = ctl_request(ctx, "POST", path, body, &ans);
    int code = answer_code(status, ans);
    if (code == CTL_EXIT_OK) {
        if (ctx->json) {
            json_dumpf(ans, stdout, JSON_INDENT(2));
            putchar('\n');
        } else {
            size_t i;
            json_t *u;
            json_array_foreach(json_object_get(ans, "undone"), i, u)
                printf("%s %s\n", jstr(u, "action") ? jstr(u, "action") : "undid",
                       jstr(u, "path") ? jstr(u, "path") : "?");
        }
    }
    json_decref(ans);
    return code;
}

/* A sequence number: digits only, at least 1; -1 otherwise. */
static long long
parse_seq(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || *s == '-' || *s == '+')
        return -1;
    return v;
}

int
ctl_agent_undo(const struct ctl_ctx *ctx, const char *session, const char *step)
{
    if (step == NULL)
        return post_undo(ctx, session, "{}");
    long long seq = parse_seq(step);
    if (seq < 0) {
        fprintf(stderr,
                "caretictl: STEP must be a step number as `sessions diff` shows it, "
                "not \"%s\"\n",
                step);
        return CTL_EXIT_USAGE;
    }
    char body[64];
    snprintf(body, sizeof body, "{\"to\":%lld}", seq);
    return post_undo(ctx, session, body);
}

int
ctl_agent_diff(const struct ctl_ctx *ctx, const char *session)
{
    return print_changes(ctx, session);
}

/* /undo N: the last N changes not yet undone, as one undo back to the
 * step of the Nth newest. */
static void
undo_last(struct agent *ag, long long n)
{
    if (n == 1) {
        post_undo(ag->ctx, ag->session, "{}");
        return;
    }
    char path[160];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s/changes", ag->session);
    json_t *ans = NULL;
    int status = ctl_request(ag->ctx, "GET", path, NULL, &ans);
    if (answer_code(status, ans) != CTL_EXIT_OK) {
        json_decref(ans);
        return;
    }
    json_t *changes = json_object_get(ans, "changes");
    long long seq = -1, seen = 0;
    for (size_t i = json_array_size(changes); i-- > 0 && seen < n;) {
        json_t *c = json_array_get(changes, i);
        if (!json_is_true(json_object_get(c, "undone"))) {
            seq = json_integer_value(json_object_get(c, "seq"));
            seen++;
        }
    }
    json_decref(ans);
    if (seq < 0) {
        printf("nothing to undo\n");
        return;
    }
    char body[64];
    snprintf(body, sizeof body, "{\"to\":%lld}", seq);
    post_undo(ag->ctx, ag->session, body);
}

/* /approve: show the policy, or set one category ("/approve edit auto"). */
static void
approve_command(struct agent *ag, const char *args)
{
    static const char *const cats[] = {"read", "edit", "command"};
    char path[160];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s", ag->session);
    json_t *ans = NULL;
    int status = ctl_request(ag->ctx, "GET", path, NULL, &ans);
    if (answer_code(status, ans) != CTL_EXIT_OK) {
        json_decref(ans);
        return;
    }
    json_t *settings = json_object_get(ans, "settings");
    json_t *policy = json_object_get(settings, "approvals");
    char cat[16] = "", val[16] = "";
    if (sscanf(args, "%15s %15s", cat, val) != 2) {
        for (size_t i = 0; i < 3; i++) {
            const char *v = jstr(policy, cats[i]);
            printf("%-8s %s\n", cats[i], v ? v : "(the config's agent.approvals)");
        }
        if (ag->approve != 0)
            printf("this run also allows once, without asking:%s%s%s\n",
                   ag->approve & AGENT_CAT_READ ? " read" : "",
                   ag->approve & AGENT_CAT_EDIT ? " edit" : "",
                   ag->approve & AGENT_CAT_COMMAND ? " command" : "");
        if (*args != '\0')
            printf("usage: /approve [read|edit|command auto|ask|deny]\n");
        json_decref(ans);
        return;
    }
    /* settings is replaced whole by PATCH: send it back with the change. */
    json_t *s = json_is_object(settings) ? json_deep_copy(settings) : json_object();
    json_t *p = json_object_get(s, "approvals");
    if (!json_is_object(p)) {
        p = json_object();
        json_object_set_new(s, "approvals", p);
    }
    json_object_set_new(p, cat, json_string(val));
    if (patch_take(ag, json_pack("{s:o}", "settings", s)) == CTL_EXIT_OK)
        printf("%s: %s\n", cat, val);
    json_decref(ans);
}

static void
repl_help(void)
{
    printf("Each line is a task or a follow-up for the agent.  Commands:\n"
           "  /plan, /act         plan only (read-only tools), or act\n"
           "  /undo [N]           undo the last (N) file changes\n"
           "  /diff               what this session changed\n"
           "  /approve [CAT VAL]  show the approval policy, or set read|edit|command to "
           "auto|ask|deny\n"
           "  /model [NAME]       show or change the model\n"
           "  /sessions           list the sessions\n"
           "  /new                start a new session\n"
           "  /exit               leave (also Ctrl-D)\n");
}

/* Run one slash command.  Returns false to leave the REPL. */
static bool
repl_command(struct agent *ag, const char *line)
{
    const char *arg = line + strcspn(line, " ");
    arg += strspn(arg, " ");
    size_t n = strcspn(line, " ");
#define IS(word) (n == strlen(word) && strncmp(line, word, n) == 0)
    if (IS("/exit") || IS("/quit"))
        return false;
    if (IS("/plan") || IS("/act")) {
        bool plan = IS("/plan");
        if (patch_take(ag, json_pack("{s:s}", "mode", plan ? "plan" : "act")) == CTL_EXIT_OK) {
            ag->plan = plan;
            printf("mode: %s\n", plan ? "plan (read-only tools; the answer is a plan)" : "act");
        }
    } else if (IS("/undo")) {
        long long count = *arg ? parse_seq(arg) : 1;
        if (count < 1)
            printf("usage: /undo [N]\n");
        else
            undo_last(ag, count);
    } else if (IS("/diff")) {
        print_changes(ag->ctx, ag->session);
    } else if (IS("/approve")) {
        approve_command(ag, arg);
    } else if (IS("/model")) {
        if (*arg == '\0') {
            printf("model: %s\n", ag->model ? ag->model : "(the daemon's default)");
        } else if (ctl_check_model(ag->ctx, arg) == CTL_EXIT_OK &&
                   patch_take(ag, json_pack("{s:s}", "model", arg)) == CTL_EXIT_OK) {
            free(ag->model);
            ag->model = xstrdup(arg);
            printf("model: %s\n", ag->model);
        }
    } else if (IS("/sessions")) {
        char *argv[] = {"list"};
        ctl_sessions_entry.run((struct ctl_ctx *)ag->ctx, 1, argv);
    } else if (IS("/new")) {
        if (new_session(ag) == CTL_EXIT_OK)
            printf("session %s (%s) in %s\n", ag->session, ag->plan ? "plan" : "act",
                   ag->workspace);
    } else {
        repl_help();
    }
#undef IS
    return true;
}


/* The REPL: each line a task or a follow-up, or a slash command.  The
 * history is written after each line, so leaving with Ctrl-C keeps it.
 * Returns the last turn's exit code (0 when there was none). */
static int
agent_repl(struct agent *ag)
{
    char *hist = ctl_state_file("agent_history");
    char *dir = hist ? path_dirname(hist) : NULL;
    bool can_write = dir != NULL && rundir_mkdirs(dir, NULL) == 0;
    free(dir);
    using_history();
    if (hist != NULL)
        read_history(hist);
    int code = CTL_EXIT_OK;
    struct sigaction sa = {.sa_handler = on_prompt_sigint}, old;
    if (ag->ctx->json)
        rl_outstream = stderr; /* stdout is the events' NDJSON */
    for (;;) {
        char *line;
        fflush(stdout);
        sigaction(SIGINT, &sa, &old);
        line = readline(ag->plan ? "plan> " : "agent> ");
        sigaction(SIGINT, &old, NULL);
        if (line == NULL)
            break;
        if (*line == '\0') {
            free(line);
            continue;
        }
        add_history(line);
        if (can_write)
            write_history(hist);
        bool go_on = true;
        if (line[0] == '/')
            go_on = repl_command(ag, line);
        else
            code = agent_turn(ag, line);
        free(line);
        if (!go_on)
            break;
    }
    free(hist);
    return code;
}

static int
usage_error(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "caretictl agent: %s\n", why);
    fprintf(stderr, "usage: caretictl agent %s\n", agent_usage);
    return CTL_EXIT_USAGE;
}

/* TASK is the words left after the options, joined by spaces. */
static char *
join_words(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = xmalloc(len), *p = s;
    for (int i = 0; i < argc; i++)
        p += snprintf(p, len - (size_t)(p - s), "%s%s", i ? " " : "", argv[i]);
    *p = '\0';
    return s;
}

static int
run_agent(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"workspace", required_argument, NULL, 'w'},
        {"model", required_argument, NULL, 'm'},
        {"plan", no_argument, NULL, 'p'},
        {"session", required_argument, NULL, 'S'},
        {"yes", no_argument, NULL, 'y'},
        {"approve", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct agent ag = {.ctx = ctx, .tty = -1};
    const char *dir = NULL, *session = NULL;
    bool plan_given = false, yes = false;
    int approve = 0;
    char **args = xcalloc((size_t)argc + 2, sizeof *args);
    int opt, code;

    args[0] = "agent";
    memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
    optind = 0; /* 0 re-initialises getopt: main stopped at the command */
    opterr = 1;
    while ((opt = getopt_long(argc + 1, args, "w:m:pyh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'w':
            dir = optarg;
            break;
        case 'm':
            free(ag.model);
            ag.model = xstrdup(optarg);
            break;
        case 'p':
            plan_given = true;
            break;
        case 'S':
            session = optarg;
            break;
        case 'y':
            yes = true;
            break;
        case 'A':
            if ((approve = agent_parse_categories(optarg)) < 0) {
                code = usage_error("--approve takes categories among read,edit,command");
                goto out;
            }
            break;
        case 'h':
            printf("usage: caretictl agent %s\n", agent_usage);
            code = CTL_EXIT_OK;
            goto out;
        default:
            code = usage_error(NULL);
            goto out;
        }
    }
    if (yes && approve != 0) {
        code = usage_error("--yes and --approve do not go together");
        goto out;
    }
    ag.approve = yes ? (AGENT_CAT_READ | AGENT_CAT_EDIT | AGENT_CAT_COMMAND) : (unsigned)approve;
    ag.plan = plan_given;
    if (dir != NULL || session == NULL) {
        char real[PATH_MAX];
        if (realpath(dir ? dir : ".", real) == NULL) {
            fprintf(stderr, "caretictl: workspace %s: %s\n", dir ? dir : ".", strerror(errno));
            code = CTL_EXIT_ERROR;
            goto out;
        }
        ag.workspace = xstrdup(real);
    }
    /* A model no server has fails here, before a session is made or
     * changed for it, rather than at the turn. */
    if (ag.model != NULL && (code = ctl_check_model(ctx, ag.model)) != CTL_EXIT_OK)
        goto out;
    code = session ? open_session(&ag, session, plan_given) : new_session(&ag);
    if (code != CTL_EXIT_OK)
        goto out;
    if (optind < argc + 1) {
        char *task = join_words(argc + 1 - optind, args + optind);
        ag.one_task = true;
        code = agent_turn(&ag, task);
        free(task);
    } else {
        if (!ctx->json)
            printf("session %s (%s) in %s; /help for commands\n", ag.session,
                   ag.plan ? "plan" : "act", ag.workspace ? ag.workspace : "?");
        code = agent_repl(&ag);
    }
out:
    if (ag.tty >= 0)
        close(ag.tty);
    free(ag.workspace);
    free(ag.model);
    free(args);
    return code;
}

const struct ctl_cmd ctl_agent_entry = {
    "agent", NULL, agent_usage, "run the coding agent on a task in a workspace, or a REPL of tasks",
    0,       256,  run_agent,
};
