/*
 * caretictl ask: one question, the answer streamed to stdout as it comes.
 * Standard input, when it is not a terminal, is attached to the prompt
 * (`git diff | caretictl ask "review this"`).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

/* Piped input beyond this is refused rather than silently cut. */
#define ASK_MAX_STDIN (8 * 1024 * 1024)

struct ask_state {
    bool got_done;
    bool failed;
    bool any_output;
    bool ended_line; /* the last thing printed ended its line */
    double start, first_token;
    json_int_t eval_count, eval_duration_ns;
};

static bool
on_line(const char *line, size_t len, void *arg)
{
    struct ask_state *st = arg;
    if (len == 0)
        return true;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (j == NULL) {
        fprintf(stderr, "\ncaretictl: the daemon sent a line that is not JSON\n");
        st->failed = true;
        return false;
    }
    const char *err = json_string_value(json_object_get(j, "error"));
    if (err != NULL) {
        fprintf(stderr, "%scaretictl: %s\n", st->any_output ? "\n" : "", err);
        st->failed = true;
        json_decref(j);
        return false;
    }
    const char *content = json_string_value(json_object_get(json_object_get(j, "message"), "content"));
    if (content != NULL && *content != '\0') {
        if (st->first_token == 0)
            st->first_token = ctl_now_s();
        fputs(content, stdout);
        fflush(stdout);
        st->any_output = true;
    }
    size_t i;
    json_t *call;
    bool mid_line = st->any_output && !st->ended_line;
    json_array_foreach(json_object_get(json_object_get(j, "message"), "tool_calls"), i, call)
    {
        json_t *fn = json_object_get(call, "function");
        if (st->first_token == 0)
            st->first_token = ctl_now_s();
        ctl_print_tool_call(json_string_value(json_object_get(fn, "name")),
                            json_object_get(fn, "arguments"), &mid_line);
        st->any_output = true;
        st->ended_line = true;
    }
    if (content != NULL && *content != '\0')
        st->ended_line = content[strlen(content) - 1] == '\n';
    if (json_is_true(json_object_get(j, "done"))) {
        st->got_done = true;
        st->eval_count = json_integer_value(json_object_get(j, "eval_count"));
        st->eval_duration_ns = json_integer_value(json_object_get(j, "eval_duration"));
    }
    json_decref(j);
    return true;
}

static char *
read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= ASK_MAX_STDIN) {
                free(buf);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        if (got == 0)
            break;
        n += got;
    }
    *len = n;
    return buf;
}

static int
run_ask(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *model = NULL, *system = NULL, *session = NULL;
    bool verbose = false;
    int ch;
    /* getopt wants the program name in argv[0]. */
    char **args = xcalloc((size_t)argc + 2, sizeof *args);
    args[0] = "ask";
    memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
    optind = 1;
    static const struct option longopts[] = {
        {"session", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    while ((ch = getopt_long(argc + 1, args, "m:s:v", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S': session = optarg; break;
        case 'm': model = optarg; break;
        case 's': system = optarg; break;
        case 'v': verbose = true; break;
        default:
            free(args);
            fprintf(stderr, "usage: caretictl ask [--session ID] [-m MODEL] [-s SYSTEM] [-v] "
                            "[PROMPT...]\n");
            return CTL_EXIT_USAGE;
        }
    }
    struct ask_state st = {0};
    char *prompt = NULL;
    size_t plen = 0;
    FILE *mem = open_memstream(&prompt, &plen);
    if (mem == NULL) {
        free(args);
        fprintf(stderr, "caretictl: cannot gather the prompt (%s)\n", strerror(errno));
        return CTL_EXIT_ERROR;
    }
    for (int i = optind; i < argc + 1; i++)
        fprintf(mem, "%s%s", i > optind ? " " : "", args[i]);
    bool have_words = optind < argc + 1;
    free(args);
    if (session != NULL && (system != NULL || verbose)) {
        fclose(mem);
        free(prompt);
        fprintf(stderr, "caretictl: -s and -v do not apply with --session (the session's "
                        "settings.system is its system prompt)\n");
        return CTL_EXIT_USAGE;
    }
    if (!isatty(STDIN_FILENO)) {
        size_t inlen;
        char *in = read_stdin(&inlen);
        if (in == NULL) {
            fclose(mem);
            free(prompt);
            fprintf(stderr, "caretictl: standard input is over 8 MiB; send less\n");
            return CTL_EXIT_USAGE;
        }
        if (inlen > 0) {
            fputs(have_words ? "\n\n" : "", mem);
            fwrite(in, 1, inlen, mem);
            have_words = true;
        }
        free(in);
    }
    fclose(mem);
    if (!have_words) {
        free(prompt);
        fprintf(stderr, "usage: caretictl ask [-m MODEL] [-s SYSTEM] [-v] [PROMPT...]\n"
                        "give a prompt, or pipe text into it\n");
        return CTL_EXIT_USAGE;
    }
    if (session != NULL) {
        /* Continue a session: the daemon keeps the history and the reply. */
        int code = ctl_turn(ctx, session, prompt, model);
        free(prompt);
        return code;
    }
    json_t *messages = json_array();
    if (system != NULL)
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(messages, json_pack("{s:s, s:s%}", "role", "user", "content", prompt, plen));
    free(prompt);
    json_t *req = json_pack("{s:o, s:b}", "messages", messages, "stream", 1);
    if (model != NULL)
        json_object_set_new(req, "model", json_string(model));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    st.start = ctl_now_s();
    int status = ctl_stream(ctx, "/api/chat", body, on_line, &st);
    free(body);
    if (st.any_output && !st.ended_line)
        putchar('\n');
    /* A piped stdout is block-buffered: the newline must be out before
     * anything goes to stderr, which may be the same pipe. */
    fflush(stdout);
    if (status < 0)
        return -status;
    if (status >= 400)
        return CTL_EXIT_ERROR;
    if (!st.failed && !st.got_done) {
        fprintf(stderr, "caretictl: the answer ended before it was complete\n");
        return CTL_EXIT_ERROR;
    }
    if (verbose && st.got_done) {
        double ttft = st.first_token > 0 ? st.first_token - st.start : 0;
        double tps = st.eval_duration_ns > 0 ? (double)st.eval_count * 1e9 / (double)st.eval_duration_ns : 0;
        fprintf(stderr, "time to first token %.2f s, %lld tokens, %.1f tokens/s\n", ttft,
                (long long)st.eval_count, tps);
    }
    return st.failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

const struct ctl_cmd ctl_ask_entry = {
    "ask", NULL, "[--session ID] [-m MODEL] [-s SYSTEM] [-v] [PROMPT...]",
    "ask a model; the answer streams to stdout (piped stdin is attached)", 0, 1000, run_ask,
};
