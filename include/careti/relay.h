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

#include "careti/http_server.h"
#include "careti/provider.h"
#include "careti/resolve.h"
#include "careti/translate.h"
#include "careti/upstream.h"

struct relay_spec {
    struct http_request *req;
    struct upstream *up;
    struct providers *providers;
    const struct resolution *res; /* copied */
    enum endpoint ep;
    enum wire client;
    bool client_stream;
    bool include_usage;
    const json_t *body;      /* the client's request; a reference is taken */
    const char *config_path; /* for messages; may be NULL */
    /* Pass-through of a provider route (Ollama's /api/show, /api/pull):
     * the body goes to RAW_PATH with only "model" changed, and the answer
     * comes back unchanged.  NULL for translated endpoints. */
    const char *raw_path;
};

/* Serve SPEC->req from the resolved candidates.  The relay owns itself
 * from here and ends the request in every case (answer, error, or client
 * gone).  Never calls back re-entrantly into the caller. */
void relay_start(const struct relay_spec *spec);

#endif
