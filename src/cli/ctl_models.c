/*
 * caretictl models: the merged catalogue of every provider, with aliases.
 */
#include <stdio.h>
#include <string.h>

#include "careti/core/proto.h"
#include "ctl.h"

static int
run_models(struct ctl_ctx *ctx, int argc, char **argv)
{
    json_t *ans;
    (void)argc;
    (void)argv;
    int status = ctl_request(ctx, "GET", "/v1/models", NULL, &ans);
    if (status < 0)
        return -status;
    if (status != 200) {
        int code = ctl_print_error(status, ans);
        json_decref(ans);
        return code;
    }
    json_t *data = json_object_get(ans, "data");
    if (ctx->json) { /* the list alone, as documented */
        json_dumpf(data, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(ans);
        return CTL_EXIT_OK;
    }
    printf("%s%-40s %-10s %9s %-8s %8s %s%s\n", ctl_bold(ctx), "NAME", "PROVIDER", "SIZE", "QUANT",
           "CONTEXT", "LOADED", ctl_reset(ctx));
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m)
    {
        char size[32], ctxlen[24];
        ctl_format_bytes(json_number_value(json_object_get(m, "size")), size, sizeof size);
        json_t *cl = json_object_get(m, "context_length");
        if (json_is_integer(cl))
            snprintf(ctxlen, sizeof ctxlen, "%lld", json_integer_value(cl));
        else
            snprintf(ctxlen, sizeof ctxlen, "-");
        const char *quant = json_string_value(json_object_get(m, "quantization"));
        json_t *loaded = json_object_get(m, "loaded");
        const char *alias_of = json_string_value(json_object_get(m, "alias_of"));
        printf("%-40s %-10s %9s %-8s %8s %s%s%s\n", json_string_value(json_object_get(m, "id")),
               json_string_value(json_object_get(m, "provider"))
                   ? json_string_value(json_object_get(m, "provider"))
                   : "-",
               size, quant ? quant : "-", ctxlen,
               json_is_boolean(loaded) ? (json_is_true(loaded) ? "yes" : "no") : "-",
               alias_of ? "  alias of " : "", alias_of ? alias_of : "");
    }
    json_decref(ans);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_models_entry = {
    "models", "ls", "", "list the models of every provider, with size, quantization, context",
    0, 0, run_models,
};
