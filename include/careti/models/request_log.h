/*
 * The durable request log: every model request the metrics see, written
 * to the store in batches (once a second, or every thousand), and rows
 * older than daemon.request_log_days pruned with the first write of each
 * hour.  Statistics are read from it.
 */
#ifndef CARETI_REQUEST_LOG_H
#define CARETI_REQUEST_LOG_H

#include <stdint.h>

#include <uv.h>

#include "careti/models/metrics.h"
#include "careti/store/session_store.h"

struct request_log;

/* A log of what METRICS records, written to STORE, timed on LOOP; all
 * three must outlive it.  Never NULL. */
struct request_log *request_log_new(uv_loop_t *loop, struct store *store,
                                    struct metrics *metrics);

/* Keep DAYS days of rows (0: all); from the config in force. */
void request_log_set_retention(struct request_log *rl, long days);

/* Statistics since SINCE_MS (epoch ms), with the records still waiting
 * written first; CB as the store's. */
void request_log_stats(struct request_log *rl, int64_t since_ms, store_cb cb, void *arg);

/* Write what is waiting and stop: nothing is recorded afterwards.  Call
 * before the store closes; the timer closes on the loop. */
void request_log_close(struct request_log *rl);

/* Free RL once the loop has run after request_log_close; NULL allowed. */
void request_log_free(struct request_log *rl);

#endif
