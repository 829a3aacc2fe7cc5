/*
 * caretictl ps: the models loaded on every provider, with their memory,
 * share in VRAM, context length and unload time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/proto.h"
#include "ctl.h"

static int
run_ps(struct ctl_ctx *ctx, int argc, char **argv)
{
    json_t *ans;
    (void)argc;
    (void)argv;
    int code = ctl_fetch(ctx, "/api/ps", &ans);
    if (code >= 0)
        return code;
    json_t *models = json_object_get(ans, "models");
    if (json_array_size(models) == 0)
        printf("no model is loaded\n");
    else
        printf("%s%-36s %-10s %9s %6s %8s  %s%s\n", ctl_bold(ctx), "NAME", "PROVIDER", "SIZE",
               "VRAM", "CONTEXT", "UNLOADS", ctl_reset(ctx));
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        double size = json_number_value(json_object_get(m, "size"));
        double vram = json_number_value(json_object_get(m, "size_vram"));
        char sz[24], share[16], ctxlen[24];
        ctl_format_bytes(size, sz, sizeof sz);
        if (size > 0 && json_object_get(m, "size_vram") != NULL)
            snprintf(share, sizeof share, "%.0f%%", 100.0 * vram / size);
        else
            snprintf(share, sizeof share, "-");
        json_t *cl = json_object_get(m, "context_length");
        if (json_is_integer(cl))
            snprintf(ctxlen, sizeof ctxlen, "%lld", json_integer_value(cl));
        else
            snprintf(ctxlen, sizeof ctxlen, "-");
        const char *expires = json_string_value(json_object_get(m, "expires_at"));
        /* Ollama writes a far-future year for "kept loaded". */
        long year = expires ? strtol(expires, NULL, 10) : 0;
        const char *when = expires == NULL ? "-" : year > 2100 ? "never" : expires;
        printf("%-36s %-10s %9s %6s %8s  %.19s\n", json_string_value(json_object_get(m, "name")),
               json_string_value(json_object_get(m, "provider"))
                   ? json_string_value(json_object_get(m, "provider"))
                   : "-",
               sz, share, ctxlen, when);
    }
    json_t *errors = json_object_get(ans, "errors");
    json_array_foreach(errors, i, m)
        fprintf(stderr, "caretictl: %s\n", json_string_value(m));
    json_decref(ans);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_ps_entry = {
    "ps", NULL, "", "list the models loaded on every provider, with memory and context", 0, 0,
    run_ps,
};
