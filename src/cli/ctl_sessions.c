/*
 * caretictl sessions [list|show ID|rm ID|search TEXT|export ID [md|json]]:
 * the agent sessions the daemon keeps.  IDs may be any unique prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

static void
print_table(const struct ctl_ctx *ctx, json_t *sessions, bool with_match)
{
    printf("%s%-9s %-40s %-20s %5s  %s%s\n", ctl_bold(ctx), "ID", "TITLE", "MODEL", "MSGS",
           "UPDATED", ctl_reset(ctx));
    size_t i;
    json_t *s;
    json_array_foreach(sessions, i, s)
    {
        const char *title = json_string_value(json_object_get(s, "title"));
        const char *model = json_string_value(json_object_get(s, "model"));
        printf("%-9s %-40.40s %-20.20s %5lld  %.19s\n",
               json_string_value(json_object_get(s, "id")), title && *title ? title : "-",
               model ? model : "-",
               json_integer_value(json_object_get(json_object_get(s, "totals"), "messages")),
               json_string_value(json_object_get(s, "updated_at")));
        if (with_match)
            printf("          %s\n", json_string_value(json_object_get(s, "match")));
    }
}

static void
print_session(const struct ctl_ctx *ctx, json_t *s)
{
    const char *title = json_string_value(json_object_get(s, "title"));
    printf("%s%s%s  %s\n", ctl_bold(ctx), json_string_value(json_object_get(s, "id")),
           ctl_reset(ctx), title && *title ? title : "(untitled)");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(s, "messages"), i, m)
    {
        const char *status = json_string_value(json_object_get(m, "status"));
        bool odd = status != NULL && strcmp(status, "complete") != 0;
        const char *error = json_string_value(json_object_get(m, "error"));
        printf("\n%s%s%s%s%s%s\n%s\n", ctl_bold(ctx), json_string_value(json_object_get(m, "role")),
               ctl_reset(ctx), odd ? " [" : "", odd ? status : "", odd ? "]" : "",
               json_string_value(json_object_get(m, "content")));
        if (error != NULL)
            printf("(%s)\n", error);
    }
}

static int
run_sessions(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *verb = argc > 0 ? argv[0] : "list";
    char path[1024];
    const char *method = "GET";
    bool raw_text = false;
    if (strcmp(verb, "list") == 0 && argc <= 1) {
        snprintf(path, sizeof path, "/careti/v1/sessions");
    } else if (strcmp(verb, "search") == 0 && argc >= 2) {
        char *q = ctl_escape(argv[1]);
        snprintf(path, sizeof path, "/careti/v1/sessions?q=%s", q);
        free(q);
    } else if ((strcmp(verb, "show") == 0 || strcmp(verb, "rm") == 0) && argc == 2) {
        snprintf(path, sizeof path, "/careti/v1/sessions/%s", argv[1]);
        if (strcmp(verb, "rm") == 0)
            method = "DELETE";
    } else if (strcmp(verb, "undo") == 0 && (argc == 2 || argc == 3)) {
        return ctl_agent_undo(ctx, argv[1], argc == 3 ? argv[2] : NULL);
    } else if (strcmp(verb, "diff") == 0 && argc == 2) {
        return ctl_agent_diff(ctx, argv[1]);
    } else if (strcmp(verb, "export") == 0 && (argc == 2 || argc == 3)) {
        const char *format = argc == 3 ? argv[2] : ctx->json ? "json" : "md";
        snprintf(path, sizeof path, "/careti/v1/sessions/%s/export?format=%s", argv[1], format);
        raw_text = strcmp(format, "md") == 0;
    } else {
        fprintf(stderr, "usage: caretictl sessions [list | show ID | rm ID | search TEXT | "
                        "export ID [md|json] | undo ID [STEP] | diff ID]\n");
        return CTL_EXIT_USAGE;
    }
    json_t *ans = NULL;
    int status;
    if (raw_text) {
        /* Markdown is not JSON: stream it out as it comes. */
        struct ctl_ctx c = *ctx;
        status = ctl_print_body(&c, path);
        return status;
    }
    status = ctl_request(ctx, method, path, NULL, &ans);
    if (status < 0)
        return -status;
    if (status >= 400) {
        int code = ctl_print_error(status, ans);
        json_decref(ans);
        return code;
    }
    if (ctx->json || strcmp(verb, "export") == 0) {
        json_dumpf(ans, stdout, JSON_INDENT(2));
        putchar('\n');
    } else if (strcmp(verb, "show") == 0) {
        print_session(ctx, ans);
    } else if (strcmp(verb, "rm") == 0) {
        printf("deleted %s\n", json_string_value(json_object_get(ans, "deleted")));
    } else {
        print_table(ctx, json_object_get(ans, "sessions"), strcmp(verb, "search") == 0);
    }
    json_decref(ans);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_sessions_entry = {
    "sessions", NULL, "[list|show ID|rm ID|search TEXT|export ID [md|json]|undo ID [STEP]|diff ID]",
    "list, show, search, export or remove sessions; undo or show the agent's file changes", 0, 3, run_sessions,
};
