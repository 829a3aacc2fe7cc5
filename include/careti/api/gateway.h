/*
 * The model routes: OpenAI-compatible /v1/chat/completions, /v1/completions,
 * /v1/embeddings, /v1/models and Ollama-native /api/chat, /api/generate,
 * /api/embed, /api/tags, /api/show, /api/ps, /api/pull, /api/version and
 * GET /, each served by whichever provider has the model.
 */
#ifndef CARETI_GATEWAY_H
#define CARETI_GATEWAY_H

#include "careti/config/config.h"
#include "careti/http/http_server.h"
#include "careti/http/router.h"
#include "careti/models/lookup.h"
#include "careti/models/metrics.h"
#include "careti/models/provider.h"
#include "careti/models/resolve.h"
#include "careti/upstream/upstream.h"

struct gateway;

/* A gateway using SRV (for request lookups), UP, PROVIDERS and METRICS,
 * which must outlive it.  Never NULL; free with gateway_free(). */
struct gateway *gateway_new(struct http_server *srv, struct upstream *up,
                            struct providers *providers, struct lookup *lookup,
                            struct metrics *metrics);
void gateway_free(struct gateway *g);

/* The config in force (borrowed; call again after every reload). */
void gateway_set_config(struct gateway *g, const struct config *cfg);

/* Add the model routes to R. */
void gateway_register(struct gateway *g, struct router *r);

#endif
