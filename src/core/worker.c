/*
 * worker: the scheduling class of libuv's pool threads.  Owns nothing.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "careti/core/worker.h"

void
worker_background(void)
{
    static _Thread_local bool done;
    if (done)
        return;
    done = true;
    struct sched_param none = {0};
    /* Without it the thread only keeps the default class. */
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
}
