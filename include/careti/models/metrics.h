/*
 * Counters of the model traffic, served as Prometheus text on GET /metrics:
 * requests and errors by kind, tokens, a time-to-first-token histogram,
 * active streams and queue depth.  In memory only; the durable record of
 * each request is the store's.
 */
#ifndef CARETI_METRICS_H
#define CARETI_METRICS_H

#include <stddef.h>

#include "careti/core/sbuf.h"

struct metrics;

/* One finished request, as the relay or a session turn saw it. */
struct metrics_sample {
    const char *provider;   /* "" when none was reached */
    const char *model;      /* the name the client used */
    int status;             /* HTTP status the client got, or 200 for a stream that ended */
    const char *error_kind; /* NULL on success, else e.g. "connect_refused" */
    double ttft_s;          /* time to first token; < 0 when none came */
    long prompt_tokens;     /* < 0 when unknown */
    long completion_tokens;
    double duration_s;
};

/* Never NULL; free with metrics_free() (NULL allowed). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

void metrics_record(struct metrics *m, const struct metrics_sample *s);

/* Also hand every sample to CB (the durable request log). */
typedef void (*metrics_recorder_cb)(const struct metrics_sample *s, void *arg);
void metrics_set_recorder(struct metrics *m, metrics_recorder_cb cb, void *arg);
/* A streamed answer started / ended (the active-streams gauge). */
void metrics_stream_open(struct metrics *m);
void metrics_stream_close(struct metrics *m);

/* Append the Prometheus text exposition to OUT, with the gauges the
 * caller knows: requests waiting in provider queues, open connections. */
void metrics_render(const struct metrics *m, size_t queue_depth, size_t open_connections,
                    struct sbuf *out);

#endif
