/*
 * caretictl doctor [--strict]: the daemon's checks of the local model
 * setup, each as ok / warn / fail with its evidence and its fix.  Exit 0
 * when nothing fails (warnings too, unless --strict), 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "careti/core/proto.h"
#include "ctl.h"

static int
run_doctor(struct ctl_ctx *ctx, int argc, char **argv)
{
    bool strict = argc == 1 && strcmp(argv[0], "--strict") == 0;
    if (argc > 0 && !strict) {
        fprintf(stderr, "usage: caretictl doctor [--strict]\n");
        return CTL_EXIT_USAGE;
    }
    json_t *ans;
    int status = ctl_request(ctx, "GET", "/careti/v1/doctor", NULL, &ans);
    if (status < 0) {
        /* A refused socket was already explained; only absence is a check. */
        if (!ctx->json && status == -CTL_EXIT_NO_DAEMON)
            printf("fail daemon\n     no caretid answers on %s\n     fix: start it with "
                   "`systemctl --user start caretid` or `caretid &`\n",
                   ctx->socket);
        return -status;
    }
    if (status != 200) {
        int code = ctl_print_error(status, ans);
        json_decref(ans);
        return code;
    }
    json_t *checks = json_object_get(ans, "checks");
    size_t i;
    json_t *c;
    int fails = 0, warns = 0;
    json_array_foreach(checks, i, c)
    {
        const char *st = json_string_value(json_object_get(c, "status"));
        fails += strcmp(st, "fail") == 0;
        warns += strcmp(st, "warn") == 0;
        if (ctx->json)
            continue;
        const char *colour = strcmp(st, "ok") == 0     ? ctl_green(ctx)
                             : strcmp(st, "warn") == 0 ? ctl_bold(ctx)
                                                       : ctl_red(ctx);
        printf("%s%-4s%s %s\n     %s\n", colour, st, ctl_reset(ctx),
               json_string_value(json_object_get(c, "check")),
               json_string_value(json_object_get(c, "evidence")));
        const char *fix = json_string_value(json_object_get(c, "fix"));
        if (fix != NULL)
            printf("     fix: %s\n", fix);
    }
    if (ctx->json) {
        json_dumpf(ans, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        printf("\n%d failed, %d warning%s\n", fails, warns, warns == 1 ? "" : "s");
    }
    json_decref(ans);
    return fails > 0 || (strict && warns > 0) ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

const struct ctl_cmd ctl_doctor_entry = {
    "doctor", NULL, "[--strict]",
    "check the local model setup and say how to fix what is wrong", 0, 1, run_doctor,
};
