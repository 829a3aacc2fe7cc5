/*
 * caretictl status: what the daemon is doing, for a person or (--json)
 * for a program.  Prints only what the daemon reported.
 */
#include <stdio.h>

#include "careti/core/proto.h"
#include "ctl.h"

static void
print_uptime(double seconds)
{
    long s = (long)seconds;
    if (s >= 86400)
        printf("%ldd%02ldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        printf("%ldh%02ldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        printf("%ldm%02lds", s / 60, s % 60);
    else
        printf("%lds", s);
}

static int
run_status(struct ctl_ctx *ctx, int argc, char **argv)
{
    json_t *st;
    (void)argc;
    (void)argv;
    int status = ctl_request(ctx, "GET", CARETI_ROUTE_STATUS, NULL, &st);
    if (status < 0)
        return -status;
    if (status != 200 || st == NULL) {
        int code = ctl_print_error(status, st);
        json_decref(st);
        return code;
    }
    if (ctx->json) {
        json_dumpf(st, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(st);
        return CTL_EXIT_OK;
    }
    const char *b = ctl_bold(ctx), *r = ctl_reset(ctx);
    printf("%scaretid %s%s (pid %lld), up ", b,
           json_string_value(json_object_get(st, "version")), r,
           json_integer_value(json_object_get(st, "pid")));
    print_uptime(json_number_value(json_object_get(st, "uptime_s")));
    printf("\n%-12s%s%s\n", "socket", json_string_value(json_object_get(st, "socket")),
           json_is_true(json_object_get(st, "socket_activated")) ? " (systemd)" : "");
    size_t i, n_tcp = 0;
    json_t *l;
    json_array_foreach(json_object_get(st, "listeners"), i, l)
    {
        if (json_string_value(json_object_get(l, "address")) != NULL && ++n_tcp)
            printf("%-12stcp %s%s\n", "listen", json_string_value(json_object_get(l, "address")),
                   json_is_true(json_object_get(l, "token_required")) ? " (token required)" : "");
    }
    const char *token = json_string_value(json_object_get(st, "tcp_token"));
    if (token != NULL && n_tcp > 0)
        printf("%-12s%s (TCP clients send Authorization: Bearer <token>)\n", "token", token);
    const char *path = json_string_value(json_object_get(st, "config_path"));
    printf("%-12s%s\n", "config", path ? path : "built-in defaults");
    json_t *reload = json_object_get(st, "reload");
    if (json_is_false(json_object_get(reload, "ok")))
        printf("%-12s%sfailed at %s: %s%s\n", "reload", ctl_red(ctx),
               json_string_value(json_object_get(reload, "at")),
               json_string_value(json_object_get(reload, "error")), r);
    else if (json_integer_value(json_object_get(reload, "count")) > 0)
        printf("%-12s%sok%s at %s\n", "reload", ctl_green(ctx), r,
               json_string_value(json_object_get(reload, "at")));
    json_t *p;
    json_array_foreach(json_object_get(st, "providers"), i, p)
    {
        json_t *reachable = json_object_get(p, "reachable");
        char verdict[64] = "";
        if (json_is_false(reachable))
            snprintf(verdict, sizeof verdict, " unreachable (checked %lld s ago)",
                     json_integer_value(json_object_get(p, "checked_s_ago")));
        printf("%-12s%s (%s) %s%s%s%s\n", i == 0 ? "providers" : "",
               json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "type")),
               json_string_value(json_object_get(p, "base_url")),
               json_is_false(reachable) ? ctl_red(ctx) : "", verdict,
               json_is_false(reachable) ? r : "");
        if (json_is_false(reachable))
            printf("%-12s  %s\n", "", json_string_value(json_object_get(p, "error")));
    }
    json_t *state = json_object_get(st, "state");
    printf("%-12s%s%s%s\n", "state", json_string_value(json_object_get(state, "dir")),
           json_is_false(json_object_get(state, "ready")) ? ": " : "",
           json_is_false(json_object_get(state, "ready"))
               ? json_string_value(json_object_get(state, "error"))
               : "");
    printf("%-12s%lld open, %lld requests served\n", "connections",
           json_integer_value(json_object_get(st, "connections")),
           json_integer_value(json_object_get(st, "requests_served")));
    json_decref(st);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_status_entry = {
    "status", "st", "", "show the daemon's state: socket, listeners, config, providers", 0, 0,
    run_status,
};
