/*
 * caretictl chat [SESSION]: an interactive conversation with an agent
 * session, with line editing and a history file (libedit).  Commands:
 * /model NAME, /new, /sessions, /title TEXT, /export, /help, /exit.
 * Ctrl-C during a reply cancels the reply, not the REPL.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "careti/core/path.h"
#include "careti/core/proto.h"
#include "careti/core/rundir.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

struct chat {
    const struct ctl_ctx *ctx;
    char session[32];
    char *model;
};

/* Create a session; fills CH->session.  Returns an exit code. */
static int
new_session(struct chat *ch)
{
    json_t *req = json_object();
    if (ch->model != NULL)
        json_object_set_new(req, "model", json_string(ch->model));
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != NULL)
        json_object_set_new(req, "workspace", json_string(cwd));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *ans;
    int status = ctl_request(ch->ctx, "POST", "/careti/v1/sessions", body, &ans);
    free(body);
    if (status < 0)
        return -status;
    if (status >= 400) {
        int code = ctl_print_error(status, ans);
        json_decref(ans);
        return code;
    }
    snprintf(ch->session, sizeof ch->session, "%s", json_string_value(json_object_get(ans, "id")));
    printf("new session %s\n", ch->session);
    json_decref(ans);
    return CTL_EXIT_OK;
}

static int
patch(struct chat *ch, const char *field, const char *value)
{
    char path[96];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s", ch->session);
    json_t *req = json_pack("{s:s}", field, value);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *ans;
    int status = ctl_request(ch->ctx, "PATCH", path, body, &ans);
    free(body);
    if (status < 0)
        return -status;
    int code = status >= 400 ? ctl_print_error(status, ans) : CTL_EXIT_OK;
    json_decref(ans);
    return code;
}

/* Run one slash command.  Returns false to leave the REPL. */
static bool
command(struct chat *ch, const char *line)
{
    if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0)
        return false;
    if (strncmp(line, "/model ", 7) == 0) {
        free(ch->model);
        ch->model = xstrdup(line + 7);
        if (patch(ch, "model", ch->model) == CTL_EXIT_OK)
            printf("model: %s\n", ch->model);
    } else if (strcmp(line, "/new") == 0) {
        new_session(ch);
    } else if (strncmp(line, "/title ", 7) == 0) {
        if (patch(ch, "title", line + 7) == CTL_EXIT_OK)
            printf("title: %s\n", line + 7);
    } else if (strcmp(line, "/sessions") == 0) {
        char *argv[] = {"list"};
        ctl_sessions_entry.run((struct ctl_ctx *)ch->ctx, 1, argv);
    } else if (strcmp(line, "/export") == 0) {
        char path[128];
        snprintf(path, sizeof path, "/careti/v1/sessions/%s/export?format=md", ch->session);
        ctl_print_body(ch->ctx, path);
    } else {
        printf("commands: /model NAME, /new, /sessions, /title TEXT, /export, /exit\n");
    }
    return true;
}


static int
run_chat(struct ctl_ctx *ctx, int argc, char **argv)
{
    struct chat ch = {.ctx = ctx};
    char **args = xcalloc((size_t)argc + 2, sizeof *args);
    int opt;
    args[0] = "chat";
    memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
    optind = 1;
    while ((opt = getopt(argc + 1, args, "m:")) != -1) {
        if (opt != 'm') {
            free(args);
            fprintf(stderr, "usage: caretictl chat [-m MODEL] [SESSION]\n");
            return CTL_EXIT_USAGE;
        }
        ch.model = xstrdup(optarg);
    }
    int code = CTL_EXIT_OK;
    if (ch.model != NULL && (code = ctl_check_model(ctx, ch.model)) != CTL_EXIT_OK) {
        free(args);
        free(ch.model);
        return code;
    }
    if (optind < argc + 1) {
        json_t *ans;
        char path[96];
        snprintf(path, sizeof path, "/careti/v1/sessions/%s", args[optind]);
        int status = ctl_request(ctx, "GET", path, NULL, &ans);
        if (status < 0 || status >= 400) {
            code = status < 0 ? -status : ctl_print_error(status, ans);
            json_decref(ans);
            free(args);
            free(ch.model);
            return code;
        }
        snprintf(ch.session, sizeof ch.session, "%s", json_string_value(json_object_get(ans, "id")));
        if (ch.model != NULL && patch(&ch, "model", ch.model) != CTL_EXIT_OK) {
            json_decref(ans);
            free(args);
            free(ch.model);
            return CTL_EXIT_ERROR;
        }
        printf("session %s: %s (%lld messages)\n", ch.session,
               json_string_value(json_object_get(ans, "title")),
               json_integer_value(json_object_get(json_object_get(ans, "totals"), "messages")));
        json_decref(ans);
    } else if ((code = new_session(&ch)) != CTL_EXIT_OK) {
        free(args);
        free(ch.model);
        return code;
    }
    free(args);
    char *hist = ctl_state_file("chat_history");
    using_history();
    if (hist != NULL)
        read_history(hist);
    char *line;
    while ((line = readline("you> ")) != NULL) {
        if (*line == '\0') {
            free(line);
            continue;
        }
        add_history(line);
        bool go_on = true;
        if (line[0] == '/')
            go_on = command(&ch, line);
        else
            ctl_turn(ctx, ch.session, line, NULL);
        free(line);
        if (!go_on)
            break;
    }
    if (hist != NULL) {
        char *dir = path_dirname(hist);
        if (rundir_mkdirs(dir, NULL) == 0)
            write_history(hist);
        free(dir);
        free(hist);
    }
    free(ch.model);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_chat_entry = {
    "chat", NULL, "[-m MODEL] [SESSION]",
    "talk with an agent session (a new one unless SESSION is given)", 0, 3, run_chat,
};
