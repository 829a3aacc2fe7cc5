/*
 * caretictl version: the client's version and the running daemon's.
 */
#include <stdio.h>

#include "careti/core/proto.h"
#include "ctl.h"

static int
run_version(struct ctl_ctx *ctx, int argc, char **argv)
{
    json_t *st;
    (void)argc;
    (void)argv;
    if (!ctx->json)
        printf("caretictl %s (API %d)\n", CARETI_VERSION, CARETI_API_VERSION);
    int status = ctl_request(ctx, "GET", CARETI_ROUTE_STATUS, NULL, &st);
    if (status < 0)
        return -status;
    if (status != 200) {
        int code = ctl_print_error(status, st);
        json_decref(st);
        return code;
    }
    const char *v = json_string_value(json_object_get(st, "version"));
    json_int_t api = json_integer_value(json_object_get(st, "api_version"));
    if (ctx->json) {
        json_t *out = json_pack("{s:s, s:i, s:{s:s?, s:I}}", "client", CARETI_VERSION,
                                "api_version", CARETI_API_VERSION, "daemon", "version", v,
                                "api_version", api);
        json_dumpf(out, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(out);
    } else {
        printf("caretid %s (API %lld)\n", v ? v : "?", (long long)api);
        if (api != CARETI_API_VERSION)
            fprintf(stderr, "caretictl: warning: the daemon speaks API %lld, this client %d; "
                            "install matching versions\n",
                    (long long)api, CARETI_API_VERSION);
    }
    json_decref(st);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_version_entry = {
    "version", NULL, "", "print the client's and the daemon's versions", 0, 0, run_version,
};
