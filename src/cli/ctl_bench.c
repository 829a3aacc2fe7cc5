/*
 * caretictl bench [-m MODEL] [-n N]: N short answers from a model, timed:
 * time to first token, prompt and generation tokens/s and load time, as
 * min / median / max, set against the 5-20 tokens/s usual for local
 * models.  The servers' own counters are used where they give them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

#define BENCH_MAX_RUNS 100

struct run {
    double start, first;
    double prompt_tps, gen_tps, load_s;
    bool done;
    char error[256];
};

static bool
on_line(const char *line, size_t len, void *arg)
{
    struct run *r = arg;
    if (len == 0)
        return true;
    json_t *j = json_loadb(line, len, 0, NULL);
    const char *err = json_string_value(json_object_get(j, "error"));
    if (err != NULL)
        snprintf(r->error, sizeof r->error, "%s", err);
    const char *content = json_string_value(json_object_get(json_object_get(j, "message"), "content"));
    if (r->first == 0 && content != NULL && *content != '\0')
        r->first = ctl_now_s();
    if (json_is_true(json_object_get(j, "done"))) {
        double pe = (double)json_integer_value(json_object_get(j, "prompt_eval_count"));
        double pd = (double)json_integer_value(json_object_get(j, "prompt_eval_duration"));
        double ee = (double)json_integer_value(json_object_get(j, "eval_count"));
        double ed = (double)json_integer_value(json_object_get(j, "eval_duration"));
        r->prompt_tps = pd > 0 ? pe * 1e9 / pd : 0;
        r->gen_tps = ed > 0 ? ee * 1e9 / ed : 0;
        r->load_s = (double)json_integer_value(json_object_get(j, "load_duration")) / 1e9;
        r->done = true;
    }
    json_decref(j);
    return err == NULL;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
row(const char *what, double *v, int n, const char *unit, double scale)
{
    double med = median(v, n);
    printf("%-22s %10.2f %10.2f %10.2f  %s\n", what, v[0] * scale, med * scale, v[n - 1] * scale,
           unit);
}

/* N from 1 to BENCH_MAX_RUNS, digits only. */
static bool
parse_runs(const char *s, int *n)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > BENCH_MAX_RUNS)
        return false;
    *n = (int)v;
    return true;
}

static int
run_bench(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *model = NULL;
    int n = 3;
    char **args = xcalloc((size_t)argc + 2, sizeof *args);
    int ch;
    args[0] = "bench";
    memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
    optind = 1;
    while ((ch = getopt(argc + 1, args, "m:n:")) != -1) {
        if (ch == 'm') {
            model = optarg;
        } else if (ch == 'n' && parse_runs(optarg, &n)) {
            continue;
        } else {
            free(args);
            fprintf(stderr, "usage: caretictl bench [-m MODEL] [-n 1..%d]\n", BENCH_MAX_RUNS);
            return CTL_EXIT_USAGE;
        }
    }
    free(args);
    static struct run runs[BENCH_MAX_RUNS];
    json_t *req = json_pack("{s:[{s:s, s:s}], s:b, s:{s:i}}", "messages", "role", "user",
                            "content",
                            "Write a short paragraph about the history of the C programming "
                            "language.",
                            "stream", 1, "options", "num_predict", 128);
    if (model != NULL)
        json_object_set_new(req, "model", json_string(model));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    for (int i = 0; i < n; i++) {
        memset(&runs[i], 0, sizeof runs[i]);
        runs[i].start = ctl_now_s();
        int status = ctl_stream(ctx, "/api/chat", body, on_line, &runs[i]);
        if (status < 0 || status >= 400 || runs[i].error[0] || !runs[i].done) {
            free(body);
            if (runs[i].error[0])
                fprintf(stderr, "caretictl: run %d failed: %s\n", i + 1, runs[i].error);
            else if (status >= 0 && status < 400)
                fprintf(stderr, "caretictl: run %d ended before the answer was complete\n", i + 1);
            return status < 0 ? -status : CTL_EXIT_ERROR;
        }
        fprintf(stderr, "run %d/%d: %.1f tokens/s\n", i + 1, n, runs[i].gen_tps);
    }
    free(body);
    double ttft[BENCH_MAX_RUNS], ptps[BENCH_MAX_RUNS], gtps[BENCH_MAX_RUNS], load[BENCH_MAX_RUNS];
    for (int i = 0; i < n; i++) {
        ttft[i] = runs[i].first > 0 ? runs[i].first - runs[i].start : 0;
        ptps[i] = runs[i].prompt_tps;
        gtps[i] = runs[i].gen_tps;
        load[i] = runs[i].load_s;
    }
    if (ctx->json) {
        json_t *out = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(out, json_pack("{s:f, s:f, s:f, s:f}", "ttft_s", ttft[i],
                                                 "prompt_tokens_per_s", ptps[i],
                                                 "tokens_per_s", gtps[i], "load_s", load[i]));
        json_dumpf(out, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(out);
        return CTL_EXIT_OK;
    }
    printf("%s%-22s %10s %10s %10s%s\n", ctl_bold(ctx), "", "min", "median", "max", ctl_reset(ctx));
    row("time to first token", ttft, n, "s", 1);
    row("prompt", ptps, n, "tokens/s", 1);
    row("generation", gtps, n, "tokens/s", 1);
    row("load", load, n, "s", 1);
    double med = median(gtps, n);
    if (med < 5)
        printf("generation is below the 5-20 tokens/s usual for local models: try a smaller model "
               "or quantization, or check that it fits in GPU memory (caretictl ps)\n");
    else if (med <= 20)
        printf("generation is within the 5-20 tokens/s usual for local models\n");
    else
        printf("generation is above the 5-20 tokens/s usual for local models\n");
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_bench_entry = {
    "bench", NULL, "[-m MODEL] [-n N]",
    "time N short answers: first token, tokens/s, load, against the usual 5-20 tokens/s", 0, 4,
    run_bench,
};
