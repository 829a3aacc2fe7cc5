/*
 * metrics: per (provider, model) counters and a time-to-first-token
 * histogram, rendered in the Prometheus text format.  Owns its series;
 * touched only on the loop thread.  The number of series is bounded so a
 * client inventing model names cannot grow memory without end.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/xmalloc.h"
#include "careti/models/metrics.h"

#define METRICS_MAX_SERIES 256
#define METRICS_MAX_KINDS 32

/* Upper bounds of the time-to-first-token buckets, in seconds: local
 * models answer in tenths of a second warm and in minutes cold. */
static const double ttft_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
#define N_BOUNDS (sizeof ttft_bounds / sizeof ttft_bounds[0])

struct kind_count {
    char kind[32];
    unsigned long long n;
};

struct series {
    char provider[64];
    char model[128];
    unsigned long long ok, failed;
    struct kind_count errors[METRICS_MAX_KINDS];
    size_t n_kinds;
    unsigned long long prompt_tokens, completion_tokens;
    unsigned long long ttft_buckets[N_BOUNDS];
    unsigned long long ttft_count;
    double ttft_sum;
};

struct metrics {
    metrics_recorder_cb recorder;
    void *recorder_arg;
    struct series *series;
    size_t n;
    long active_streams;
    unsigned long long dropped_samples;
};

struct metrics *
metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    m->series = xcalloc(METRICS_MAX_SERIES, sizeof *m->series);
    return m;
}

void
metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    free(m->series);
    free(m);
}

static struct series *
find_series(struct metrics *m, const char *provider, const char *model)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->series[i].provider, provider) == 0 && strcmp(m->series[i].model, model) == 0)
            return &m->series[i];
    if (m->n == METRICS_MAX_SERIES)
        return NULL;
    struct series *s = &m->series[m->n++];
    snprintf(s->provider, sizeof s->provider, "%s", provider);
    snprintf(s->model, sizeof s->model, "%s", model);
    return s;
}

void
metrics_set_recorder(struct metrics *m, metrics_recorder_cb cb, void *arg)
{
    m->recorder = cb;
    m->recorder_arg = arg;
}

void
metrics_record(struct metrics *m, const struct metrics_sample *smp)
{
    if (m->recorder != NULL)
        m->recorder(smp, m->recorder_arg);
    struct series *s = find_series(m, smp->provider ? smp->provider : "",
                                   smp->model ? smp->model : "");
    if (s == NULL) {
        m->dropped_samples++;
        return;
    }
    if (smp->error_kind == NULL) {
        s->ok++;
    } else {
        s->failed++;
        size_t k;
        for (k = 0; k < s->n_kinds; k++)
            if (strcmp(s->errors[k].kind, smp->error_kind) == 0)
                break;
        if (k == s->n_kinds && k < METRICS_MAX_KINDS) {
            snprintf(s->errors[k].kind, sizeof s->errors[k].kind, "%s", smp->error_kind);
            s->n_kinds++;
        }
        if (k < s->n_kinds)
            s->errors[k].n++;
    }
    if (smp->prompt_tokens > 0)
        s->prompt_tokens += (unsigned long long)smp->prompt_tokens;
    if (smp->completion_tokens > 0)
        s->completion_tokens += (unsigned long long)smp->completion_tokens;
    if (smp->ttft_s >= 0) {
        for (size_t b = 0; b < N_BOUNDS; b++)
            if (smp->ttft_s <= ttft_bounds[b])
                s->ttft_buckets[b]++;
        s->ttft_count++;
        s->ttft_sum += smp->ttft_s;
    }
}

void
metrics_stream_open(struct metrics *m)
{
    m->active_streams++;
}

void
metrics_stream_close(struct metrics *m)
{
    m->active_streams--;
}

/* Label values escaped as the text format requires. */
static void
add_label(struct sbuf *out, const char *name, const char *value, bool first)
{
    sbuf_adds(out, first ? "" : ",");
    sbuf_adds(out, name);
    sbuf_adds(out, "=\"");
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            sbuf_add(out, "\\", 1);
        if (*p == '\n')
            sbuf_adds(out, "\\n");
        else
            sbuf_add(out, p, 1);
    }
    sbuf_adds(out, "\"");
}

static void
series_labels(struct sbuf *out, const struct series *s)
{
    add_label(out, "provider", s->provider, true);
    add_label(out, "model", s->model, false);
}

static void
header(struct sbuf *out, const char *name, const char *type, const char *help)
{
    char line[256];
    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    sbuf_adds(out, line);
}

static void
number(struct sbuf *out, unsigned long long v)
{
    char n[32];
    snprintf(n, sizeof n, " %llu\n", v);
    sbuf_adds(out, n);
}

void
metrics_render(const struct metrics *m, size_t queue_depth, size_t open_connections,
               struct sbuf *out)
{
    char line[128];
    header(out, "careti_requests_total", "counter",
           "Model requests finished, by provider, model and outcome.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = &m->series[i];
        sbuf_adds(out, "careti_requests_total{");
        series_labels(out, s);
        sbuf_adds(out, ",outcome=\"ok\"}");
        number(out, s->ok);
        sbuf_adds(out, "careti_requests_total{");
        series_labels(out, s);
        sbuf_adds(out, ",outcome=\"error\"}");
        number(out, s->failed);
    }
    header(out, "careti_errors_total", "counter", "Failed model requests, by kind of failure.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = &m->series[i];
        for (size_t k = 0; k < s->n_kinds; k++) {
            sbuf_adds(out, "careti_errors_total{");
            series_labels(out, s);
            add_label(out, "kind", s->errors[k].kind, false);
            sbuf_adds(out, "}");
            number(out, s->errors[k].n);
        }
    }
    header(out, "careti_tokens_total", "counter", "Tokens counted by the model servers.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = &m->series[i];
        sbuf_adds(out, "careti_tokens_total{");
        series_labels(out, s);
        sbuf_adds(out, ",type=\"prompt\"}");
        number(out, s->prompt_tokens);
        sbuf_adds(out, "careti_tokens_total{");
        series_labels(out, s);
        sbuf_adds(out, ",type=\"completion\"}");
        number(out, s->completion_tokens);
    }
    header(out, "careti_time_to_first_token_seconds", "histogram",
           "Time from the request to the first token of the answer.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = &m->series[i];
        for (size_t b = 0; b < N_BOUNDS; b++) {
            sbuf_adds(out, "careti_time_to_first_token_seconds_bucket{");
            series_labels(out, s);
            snprintf(line, sizeof line, ",le=\"%g\"}", ttft_bounds[b]);
            sbuf_adds(out, line);
            number(out, s->ttft_buckets[b]);
        }
        sbuf_adds(out, "careti_time_to_first_token_seconds_bucket{");
        series_labels(out, s);
        sbuf_adds(out, ",le=\"+Inf\"}");
        number(out, s->ttft_count);
        sbuf_adds(out, "careti_time_to_first_token_seconds_sum{");
        series_labels(out, s);
        snprintf(line, sizeof line, "} %.6f\n", s->ttft_sum);
        sbuf_adds(out, line);
        sbuf_adds(out, "careti_time_to_first_token_seconds_count{");
        series_labels(out, s);
        sbuf_adds(out, "}");
        number(out, s->ttft_count);
    }
    header(out, "careti_active_streams", "gauge", "Streamed answers in progress.");
    snprintf(line, sizeof line, "careti_active_streams %ld\n", m->active_streams);
    sbuf_adds(out, line);
    header(out, "careti_queue_depth", "gauge", "Requests waiting for a provider slot.");
    snprintf(line, sizeof line, "careti_queue_depth %zu\n", queue_depth);
    sbuf_adds(out, line);
    header(out, "careti_open_connections", "gauge", "Client connections open.");
    snprintf(line, sizeof line, "careti_open_connections %zu\n", open_connections);
    sbuf_adds(out, line);
    header(out, "careti_metrics_dropped_samples_total", "counter",
           "Samples not counted because the series limit was reached.");
    snprintf(line, sizeof line, "careti_metrics_dropped_samples_total %llu\n",
             m->dropped_samples);
    sbuf_adds(out, line);
}
