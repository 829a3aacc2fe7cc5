/*
 * request_log: the durable log of model requests.  Owns the records not
 * yet written and the flush timer; the store owns the rows.  Never waits
 * for a write: a batch is handed to the store's worker whole.
 */
#include <stdlib.h>

#include "careti/core/log.h"
#include "careti/core/xmalloc.h"
#include "careti/models/request_log.h"

/* Records are written once a second in one transaction, so a busy
 * router costs the store one write per second, not one per request. */
#define REQUEST_FLUSH_MS 1000
/* Records held at most before a write, whatever the clock says. */
#define REQUEST_FLUSH_BATCH 1000
/* Old rows go with the first write after start, then with the first
 * write after each further hour: one DELETE an hour costs next to
 * nothing, and while requests come in no row outlives
 * daemon.request_log_days by more than an hour. */
#define REQUEST_PRUNE_EVERY_MS (3600 * 1000)
#define DAY_MS (86400 * (int64_t)1000)

struct request_log {
    struct store *store;
    struct metrics *metrics;
    struct store_request *pending; /* records waiting for the next flush */
    size_t n_pending;
    long days;
    int64_t last_prune_ms; /* epoch ms; 0 until the first flush prunes */
    uv_timer_t timer;
    bool closed;
};

static void
on_written(json_t *result, const struct cerr *err, void *arg)
{
    (void)arg;
    if (err != NULL)
        log_warn("request log: %s", err->msg);
    json_int_t pruned = json_integer_value(json_object_get(result, "pruned"));
    if (pruned > 0)
        log_info("request log: %lld rows older than daemon.request_log_days removed",
                 (long long)pruned);
    json_decref(result);
}

/* Where the next write prunes the log from (epoch ms), or 0: not due,
 * or daemon.request_log_days is 0. */
static int64_t
prune_cutoff(struct request_log *rl)
{
    int64_t now = store_now_ms();
    if (rl->days <= 0 ||
        (rl->last_prune_ms != 0 && now - rl->last_prune_ms < REQUEST_PRUNE_EVERY_MS))
        return 0;
    rl->last_prune_ms = now;
    return now - rl->days * DAY_MS;
}

static void
flush(struct request_log *rl)
{
    if (rl->n_pending == 0)
        return;
    struct store_request *recs = rl->pending;
    size_t n = rl->n_pending;
    rl->pending = NULL;
    rl->n_pending = 0;
    /* No usable store (failed: status says why): the records cannot be
     * kept, and the batch must still empty. */
    if (store_failed(rl->store)) {
        store_requests_free(recs, n);
        return;
    }
    store_add_requests_take(rl->store, recs, n, prune_cutoff(rl), on_written, NULL);
}

static void
on_timer(uv_timer_t *t)
{
    flush(t->data);
}

static void
on_sample(const struct metrics_sample *smp, void *arg)
{
    struct request_log *rl = arg;
    if (rl->closed)
        return;
    if (rl->pending == NULL)
        rl->pending = xmalloc(REQUEST_FLUSH_BATCH * sizeof *rl->pending);
    struct store_request *r = &rl->pending[rl->n_pending++];
    double gen_s = smp->duration_s - (smp->ttft_s > 0 ? smp->ttft_s : 0);
    *r = (struct store_request){
        .at_ms = store_now_ms(),
        .status = smp->status,
        .ttft_ms = smp->ttft_s >= 0 ? (int64_t)(smp->ttft_s * 1000) : -1,
        .tokens_per_s = smp->completion_tokens > 0 && gen_s > 0
                            ? (double)smp->completion_tokens / gen_s
                            : -1,
        .prompt_tokens = smp->prompt_tokens, /* both say < 0 when unknown */
        .completion_tokens = smp->completion_tokens,
        .duration_ms = (int64_t)(smp->duration_s * 1000),
    };
    store_request_set_names(r, smp->provider, smp->model, smp->error_kind);
    /* A burst is written at once rather than held in memory. */
    if (rl->n_pending == REQUEST_FLUSH_BATCH)
        flush(rl);
}

struct request_log *
request_log_new(uv_loop_t *loop, struct store *store, struct metrics *metrics)
{
    struct request_log *rl = xcalloc(1, sizeof *rl);
    rl->store = store;
    rl->metrics = metrics;
    uv_timer_init(loop, &rl->timer);
    rl->timer.data = rl;
    uv_timer_start(&rl->timer, on_timer, REQUEST_FLUSH_MS, REQUEST_FLUSH_MS);
    metrics_set_recorder(metrics, on_sample, rl);
    return rl;
}

void
request_log_set_retention(struct request_log *rl, long days)
{
    rl->days = days;
}

void
request_log_stats(struct request_log *rl, int64_t since_ms, store_cb cb, void *arg)
{
    flush(rl);
    store_request_stats(rl->store, since_ms, cb, arg);
}

void
request_log_close(struct request_log *rl)
{
    flush(rl);
    rl->closed = true;
    metrics_set_recorder(rl->metrics, NULL, NULL);
    uv_close((uv_handle_t *)&rl->timer, NULL);
}

void
request_log_free(struct request_log *rl)
{
    if (rl == NULL)
        return;
    store_requests_free(rl->pending, rl->n_pending);
    free(rl);
}
