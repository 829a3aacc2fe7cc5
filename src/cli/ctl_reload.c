/*
 * caretictl reload: ask the daemon to re-read its config.  An invalid
 * file is reported and the daemon keeps the config it had.
 */
#include <stdio.h>

#include "careti/core/proto.h"
#include "ctl.h"

static int
run_reload(struct ctl_ctx *ctx, int argc, char **argv)
{
    json_t *ans;
    (void)argc;
    (void)argv;
    int status = ctl_request(ctx, "POST", CARETI_ROUTE_RELOAD, "{}", &ans);
    if (status < 0)
        return -status;
    int code = CTL_EXIT_OK;
    if (ctx->json) {
        json_dumpf(ans, stdout, JSON_INDENT(2));
        putchar('\n');
        code = status == 200 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
    } else if (status == 200) {
        printf("configuration reloaded\n");
    } else {
        code = ctl_print_error(status, ans);
    }
    json_decref(ans);
    return code;
}

const struct ctl_cmd ctl_reload_entry = {
    "reload", NULL, "", "re-read the daemon's config file (the old one stays if invalid)", 0, 0,
    run_reload,
};
