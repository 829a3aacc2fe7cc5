/*
 * Threads of libuv's pool: what runs there is background work (the
 * store's writes, the agent's file tools) that the loop thread, which
 * clients and model servers wait on, must not wait behind.
 */
#ifndef CARETI_WORKER_H
#define CARETI_WORKER_H

/* Mark the calling pool thread as background work, once per thread:
 * SCHED_BATCH, so that waking it does not preempt the loop thread on a
 * busy CPU (measured: a queued write stalled the loop for up to 1 ms on
 * a 2-core machine).  Call first thing in a uv_work_t's work function. */
void worker_background(void);

#endif
