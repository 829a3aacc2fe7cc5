/*
 * caretictl: argv -> one request -> print -> exit.  Owns the command
 * table; policy lives in the daemon.  Usage errors go to stderr with
 * exit 2; a daemon that does not answer is exit 3.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "careti/core/path.h"
#include "careti/core/proto.h"
#include "careti/core/strdist.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

static int run_help(struct ctl_ctx *ctx, int argc, char **argv);

static const struct ctl_cmd ctl_help_entry = {
    "help", NULL, "[COMMAND]", "list the commands, or describe one", 0, 1, run_help,
};

static const struct ctl_cmd *const ctl_table[] = {
    &ctl_status_entry,
    &ctl_reload_entry,
    &ctl_version_entry,
    &ctl_models_entry,
    &ctl_ask_entry,
    &ctl_chat_entry,
    &ctl_agent_entry,
    &ctl_sessions_entry,
    &ctl_ps_entry,
    &ctl_pull_entry,
    &ctl_stats_entry,
    &ctl_bench_entry,
    &ctl_doctor_entry,
    &ctl_acp_entry,
    &ctl_help_entry,
};

#define CTL_N_CMDS (sizeof ctl_table / sizeof ctl_table[0])

const struct ctl_cmd *const *
ctl_commands(size_t *n)
{
    *n = CTL_N_CMDS;
    return ctl_table;
}

double
ctl_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
ctl_print_tool_call(const char *name, const json_t *arguments, bool *mid_line)
{
    char *args = json_is_string(arguments) ? strdup(json_string_value(arguments))
                                           : json_dumps(arguments, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%s[tool call] %s %s\n", *mid_line ? "\n" : "", name, args ? args : "{}");
    fflush(stdout);
    free(args);
    *mid_line = false;
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: caretictl [--socket PATH] [--json] COMMAND [ARGS]\n"
                 "       caretictl --version | COMMAND --help\n\ncommands:\n");
    for (size_t i = 0; i < CTL_N_CMDS; i++)
        fprintf(out, "  %s%s%s\n      %s\n", ctl_table[i]->name, *ctl_table[i]->usage ? " " : "",
                ctl_table[i]->usage, ctl_table[i]->help);
    fprintf(out, "\nThe socket is --socket, else $CARETI_SOCKET, else "
                 "$XDG_RUNTIME_DIR/careti/caretid.sock\n(/tmp/careti-$UID/caretid.sock "
                 "without XDG_RUNTIME_DIR).  Commands may be abbreviated.\n");
}

/* Whether A is B with two neighbouring letters swapped ("agnet"). */
static bool
swapped(const char *a, const char *b)
{
    size_t n = strlen(a), i = 0;
    if (strlen(b) != n)
        return false;
    while (i < n && a[i] == b[i])
        i++;
    return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] && strcmp(a + i + 2, b + i + 2) == 0;
}

/* The command or alias nearest WORD, or NULL when none is close enough
 * to be a typo of it (a third of WORD's letters, at least one).  Two
 * swapped letters, the commonest slip, count as the nearest of all:
 * edit distance alone counts them as two, so "agnet" found nothing and
 * "stauts" found stats. */
static const char *
nearest_command(const char *word)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < CTL_N_CMDS; i++) {
        const char *names[2] = {ctl_table[i]->name, ctl_table[i]->alias};
        for (size_t k = 0; k < 2; k++) {
            size_t d = names[k] == NULL          ? SIZE_MAX
                       : swapped(word, names[k]) ? 0
                                                 : strdist(word, names[k]);
            if (d < best_d) {
                best_d = d;
                best = ctl_table[i]->name;
            }
        }
    }
    size_t limit = strlen(word) / 3 > 1 ? strlen(word) / 3 : 1;
    return best_d <= limit ? best : NULL;
}

/* Exact name or alias first, then a unique prefix; an ambiguous prefix
 * lists its candidates, an unknown word the nearest command. */
static const struct ctl_cmd *
find_command(const char *word)
{
    const struct ctl_cmd *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < CTL_N_CMDS; i++) {
        const struct ctl_cmd *c = ctl_table[i];
        if (strcmp(c->name, word) == 0 || (c->alias && strcmp(c->alias, word) == 0))
            return c;
    }
    for (size_t i = 0; i < CTL_N_CMDS; i++) {
        if (strncmp(ctl_table[i]->name, word, strlen(word)) == 0) {
            found = ctl_table[i];
            matches++;
        }
    }
    if (matches == 1)
        return found;
    if (matches == 0) {
        const char *near = nearest_command(word);
        if (near != NULL)
            fprintf(stderr, "caretictl: unknown command \"%s\"; did you mean \"%s\"?\n", word,
                    near);
        else
            fprintf(stderr, "caretictl: unknown command \"%s\"; see `caretictl help`\n", word);
        return NULL;
    }
    fprintf(stderr, "caretictl: \"%s\" is ambiguous:", word);
    for (size_t i = 0; i < CTL_N_CMDS; i++)
        if (strncmp(ctl_table[i]->name, word, strlen(word)) == 0)
            fprintf(stderr, " %s", ctl_table[i]->name);
    fputc('\n', stderr);
    return NULL;
}

/* `caretictl help C` and `caretictl C --help`: C's usage and what it does. */
static void
command_usage(const struct ctl_cmd *c)
{
    printf("usage: caretictl %s%s%s\n%s\n", c->name, *c->usage ? " " : "", c->usage, c->help);
}

/* Whether ARGS ask for help: -h or --help before any "--" (after it, they
 * are a prompt's words). */
static bool
wants_help(int nargs, char **args)
{
    for (int i = 0; i < nargs; i++) {
        if (strcmp(args[i], "--") == 0)
            return false;
        if (strcmp(args[i], "-h") == 0 || strcmp(args[i], "--help") == 0)
            return true;
    }
    return false;
}

static int
run_help(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    const struct ctl_cmd *c = find_command(argv[0]);
    if (c == NULL)
        return CTL_EXIT_USAGE;
    command_usage(c);
    return CTL_EXIT_OK;
}

const char *
ctl_bold(const struct ctl_ctx *ctx)
{
    return ctx->color ? "\033[1m" : "";
}

const char *
ctl_red(const struct ctl_ctx *ctx)
{
    return ctx->color ? "\033[31m" : "";
}

const char *
ctl_green(const struct ctl_ctx *ctx)
{
    return ctx->color ? "\033[32m" : "";
}

const char *
ctl_reset(const struct ctl_ctx *ctx)
{
    return ctx->color ? "\033[0m" : "";
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_ctx ctx = {0};
    char *default_socket = NULL;
    int ch;

    /* '+' stops at the command, so its own flags are not ours. */
    while ((ch = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            ctx.socket = optarg;
            break;
        case 'j':
            ctx.json = true;
            break;
        case 'h':
            usage(stdout);
            return CTL_EXIT_OK;
        case 'V':
            /* The client alone: `caretictl version` also asks the daemon. */
            printf("caretictl %s (API %d)\n", CARETI_VERSION, CARETI_API_VERSION);
            return CTL_EXIT_OK;
        default:
            usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    /* Hidden from help, prefixes and suggestions: the shells call it. */
    const struct ctl_cmd *cmd = strcmp(argv[optind], ctl_complete_entry.name) == 0
                                    ? &ctl_complete_entry
                                    : find_command(argv[optind]);
    if (cmd == NULL)
        return CTL_EXIT_USAGE;
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    /* Every command's help, before its own parser (which may not know the
     * flag) or the daemon (`pull --help` must not pull) sees it. */
    if (wants_help(nargs, args)) {
        command_usage(cmd);
        return CTL_EXIT_OK;
    }
    /* Global flags may also follow the command: `caretictl status --json`. */
    int kept = 0;
    for (int i = 0; i < nargs; i++) {
        if (strcmp(args[i], "--json") == 0)
            ctx.json = true;
        else if (strcmp(args[i], "--socket") == 0 && i + 1 < nargs)
            ctx.socket = args[++i];
        else
            args[kept++] = args[i];
    }
    nargs = kept;
    if (nargs < cmd->min_args || nargs > cmd->max_args) {
        fprintf(stderr, "usage: caretictl %s%s%s\n", cmd->name, *cmd->usage ? " " : "",
                cmd->usage);
        return CTL_EXIT_USAGE;
    }
    if (ctx.socket == NULL) {
        const char *env = getenv("CARETI_SOCKET");
        if (env != NULL && *env != '\0')
            ctx.socket = env;
        else
            ctx.socket = default_socket = path_default_socket();
    }
    const char *no_color = getenv("NO_COLOR");
    ctx.color = isatty(STDOUT_FILENO) && (no_color == NULL || *no_color == '\0');

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = cmd->run(&ctx, nargs, args);
    curl_global_cleanup();
    free(default_socket);
    return code;
}
