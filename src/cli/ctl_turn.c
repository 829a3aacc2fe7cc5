/*
 * ctl_turn: one message to an agent session, its reply streamed to
 * stdout from the daemon's SSE events.  Shared by `chat` and
 * `ask --session`.  Ctrl-C cancels the reply on the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

struct turn_state {
    char event[32];
    bool any_output;
    bool ended_line; /* the last thing printed ended its line */
    bool done;
    bool failed;
    const struct ctl_ctx *ctx;
};

static bool
on_sse_line(const char *line, size_t len, void *arg)
{
    struct turn_state *st = arg;
    if (len >= 7 && strncmp(line, "event: ", 7) == 0) {
        snprintf(st->event, sizeof st->event, "%.*s", (int)(len - 7), line + 7);
        return true;
    }
    if (len < 6 || strncmp(line, "data: ", 6) != 0)
        return true;
    json_t *j = json_loadb(line + 6, len - 6, 0, NULL);
    if (strcmp(st->event, "delta") == 0) {
        const char *text = json_string_value(json_object_get(j, "content"));
        if (text == NULL)
            text = "";
        fputs(text, stdout);
        fflush(stdout);
        st->any_output = true;
        st->ended_line = *text != '\0' && text[strlen(text) - 1] == '\n';
    } else if (strcmp(st->event, "tool_call") == 0) {
        bool mid_line = st->any_output && !st->ended_line;
        ctl_print_tool_call(json_string_value(json_object_get(j, "name")),
                            json_object_get(j, "arguments"), &mid_line);
        st->any_output = true;
        st->ended_line = true;
    } else if (strcmp(st->event, "truncated") == 0) {
        fprintf(stderr, "(%lld older messages left out to fit the model's window)\n",
                json_integer_value(json_object_get(j, "dropped_messages")));
    } else if (strcmp(st->event, "error") == 0) {
        fprintf(stderr, "%scaretictl: %s\n", st->any_output ? "\n" : "",
                json_string_value(json_object_get(j, "message")));
        st->failed = true;
    } else if (strcmp(st->event, "done") == 0) {
        const char *status = json_string_value(json_object_get(j, "status"));
        st->done = true;
        if (status != NULL && strcmp(status, "complete") != 0)
            st->failed = true;
    }
    json_decref(j);
    return true;
}

int
ctl_turn(const struct ctl_ctx *ctx, const char *session, const char *content, const char *model)
{
    struct turn_state st = {.ctx = ctx};
    char path[128];
    snprintf(path, sizeof path, "/careti/v1/sessions/%s/messages", session);
    json_t *req = json_pack("{s:s}", "content", content);
    if (model != NULL)
        json_object_set_new(req, "model", json_string(model));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int status = ctl_stream(ctx, path, body, on_sse_line, &st);
    free(body);
    if (st.any_output && !st.ended_line)
        putchar('\n');
    fflush(stdout); /* before stderr, which may share a pipe with it */
    if (status == -CTL_EXIT_INTERRUPTED) {
        /* Ctrl-C: the reply stops on the daemon too, kept as interrupted. */
        char cancel[128];
        json_t *ans = NULL;
        snprintf(cancel, sizeof cancel, "/careti/v1/sessions/%s/cancel", session);
        ctl_request(ctx, "POST", cancel, "{}", &ans);
        json_decref(ans);
        fprintf(stderr, "(reply cancelled)\n");
        return CTL_EXIT_INTERRUPTED;
    }
    if (status < 0)
        return -status;
    if (status >= 400)
        return CTL_EXIT_ERROR;
    if (!st.done) {
        fprintf(stderr, "caretictl: the reply ended before it was complete\n");
        return CTL_EXIT_ERROR;
    }
    return st.failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}
