/*
 * One model request carried from a client to a provider and back:
 * request translation, the provider's queue, failover to the next
 * candidate when a provider cannot be reached, streaming with
 * backpressure, and every failure worded in the client's dialect.
 */
#ifndef CARETI_RELAY_H
#define CARETI_RELAY_H

#include <stdbool.h>

#include <jansson.h>

#include "careti/http/http_server.h"
#include "careti/models/metrics.h"
#include "careti/models/provider.h"
#include "careti/models/resolve.h"
#include "careti/upstream/upstream.h"
#include "careti/wire/translate.h"

struct relay;

struct relay_spec {
    const char *what; /* for logs, e.g. "POST /api/chat"; may be NULL */
    struct upstream *up;
    struct providers *providers;
    const struct resolution *res; /* copied */
    enum endpoint ep;
    enum wire client;
    bool client_stream;
    bool include_usage;
    const json_t *body;      /* the client's request; a reference is taken */
    /* Or the client's request as it came (RAW_BODY, copied) with its
     * members (SCANNED, which jscan vouched for): BODY is then NULL, and
     * the bytes are parsed only if they must be translated. */
    const struct jscan_object *scanned;
    const char *raw_body;
    size_t raw_body_len;
    const char *config_path; /* for messages; may be NULL */
    /* Pass-through of a provider route (Ollama's /api/show, /api/pull):
     * the body goes to RAW_PATH with only "model" changed, and the answer
     * comes back unchanged.  NULL for translated endpoints. */
    const char *raw_path;
    struct metrics *metrics; /* where the outcome is counted; may be NULL */
};

/* Where the answer goes.  Exactly one of end and fail is called, once. */
struct relay_sink {
    /* A streamed answer begins, as CONTENT_TYPE. */
    void (*start)(void *arg, const char *content_type);
    /* Whether more bytes may come now; if not, call relay_resume() later. */
    bool (*writable)(void *arg);
    /* Bytes of a streamed answer, in the client's dialect. */
    void (*write)(void *arg, const char *data, size_t len);
    /* The answer is complete: BODY is the whole JSON answer when it was
     * not streamed, NULL after a stream (which may end with an in-band
     * error already written). */
    void (*end)(void *arg, const char *body, size_t len);
    /* Failed before anything was written: answer STATUS with MSG. */
    void (*fail)(void *arg, int status, const char *msg);
};

/* Serve REQ from the resolved candidates.  The relay owns itself from
 * here and ends the request in every case (answer, error, or client
 * gone). */
void relay_start(const struct relay_spec *spec, struct http_request *req);

/* A relay whose answer goes to SINK; nothing starts until relay_go().
 * Keep the pointer to cancel or resume, until the sink's end or fail. */
struct relay *relay_new(const struct relay_spec *spec, const struct relay_sink *sink,
                        void *sink_arg);
/* Start R; the sink may be called (and R freed) before this returns. */
void relay_go(struct relay *r);
/* Stop R at once; no sink call follows.  The upstream sees its
 * connection close. */
void relay_cancel(struct relay *r);
/* The sink can take bytes again. */
void relay_resume(struct relay *r);

#endif
