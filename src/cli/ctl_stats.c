/*
 * caretictl stats [--since DURATION]: per model and provider, requests,
 * errors by kind, tokens, median time to first token and tokens/s, from
 * the daemon's request log.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

static int
run_stats(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *since = "24h";
    if (argc == 2 && strcmp(argv[0], "--since") == 0) {
        since = argv[1];
    } else if (argc != 0) {
        fprintf(stderr, "usage: caretictl stats [--since DURATION]\n");
        return CTL_EXIT_USAGE;
    }
    char *esc = ctl_escape(since);
    char path[128];
    snprintf(path, sizeof path, "/careti/v1/stats?since=%s", esc);
    free(esc);
    json_t *ans;
    int code = ctl_fetch(ctx, path, &ans);
    if (code >= 0)
        return code;
    json_t *models = json_object_get(ans, "models");
    printf("since %s\n", json_string_value(json_object_get(ans, "since")));
    if (json_array_size(models) == 0) {
        printf("no requests\n");
        json_decref(ans);
        return CTL_EXIT_OK;
    }
    printf("%s%-30s %-10s %6s %6s %10s %10s %9s %8s%s\n", ctl_bold(ctx), "MODEL", "PROVIDER",
           "REQS", "ERRORS", "TOKENS IN", "TOKENS OUT", "TTFT p50", "TOK/S", ctl_reset(ctx));
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        char ttft[24] = "-", tps[24] = "-";
        json_t *t = json_object_get(m, "median_ttft_ms");
        json_t *s = json_object_get(m, "median_tokens_per_s");
        if (json_is_number(t))
            snprintf(ttft, sizeof ttft, "%.0f ms", json_number_value(t));
        if (json_is_number(s))
            snprintf(tps, sizeof tps, "%.1f", json_number_value(s));
        const char *model = json_string_value(json_object_get(m, "model"));
        const char *provider = json_string_value(json_object_get(m, "provider"));
        printf("%-30s %-10s %6lld %6lld %10lld %10lld %9s %8s\n",
               model && *model ? model : "(unresolved)", provider && *provider ? provider : "-",
               json_integer_value(json_object_get(m, "requests")),
               json_integer_value(json_object_get(m, "errors")),
               json_integer_value(json_object_get(m, "prompt_tokens")),
               json_integer_value(json_object_get(m, "completion_tokens")), ttft, tps);
        const char *kind;
        json_t *n;
        json_object_foreach(json_object_get(m, "errors_by_kind"), kind, n)
            printf("    %s: %lld\n", kind, json_integer_value(n));
    }
    json_decref(ans);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_stats_entry = {
    "stats", NULL, "[--since DURATION]",
    "requests, errors, tokens and speed per model, from the request log", 0, 2, run_stats,
};
