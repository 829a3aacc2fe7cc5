/*
 * Translation between the OpenAI-compatible and the Ollama-native
 * dialects: request bodies one way, response streams the other, and the
 * in-band error of each.  Pure: functions over buffers and jansson values,
 * with time passed in, so they can be unit-tested, golden-tested and
 * fuzzed.  See ../shared/PROTOCOLS.md for the wire formats.
 */
#ifndef CARETI_TRANSLATE_H
#define CARETI_TRANSLATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "careti/core/cerr.h"
#include "careti/core/sbuf.h"

enum wire { WIRE_OPENAI, WIRE_OLLAMA };
enum endpoint { EP_CHAT, EP_GENERATE, EP_EMBED };

struct translate_params {
    const char *upstream_model; /* the model's name on the provider */
    long num_ctx;               /* sent to Ollama as options.num_ctx unless the client set it; 0: no */
    const json_t *alias_options; /* merged under the client's options; may be NULL */
    bool upstream_is_lmstudio;  /* LM Studio rejects response_format json_object */
};

/*
 * Build the upstream request body for endpoint EP from the client's REQ
 * (dialect FROM) in dialect TO.  Streaming endpoints always ask the
 * upstream to stream (and, for OpenAI, to report usage), so that timeouts,
 * cancellation and truncation can be seen; the answer is aggregated when
 * the client asked for one JSON object.  Returns a new reference, or NULL
 * with ERR naming the offending field (http_status 400).
 */
json_t *translate_request(enum endpoint ep, enum wire from, enum wire to, const json_t *req,
                          const struct translate_params *p, struct cerr *err);

struct jscan_object;

/*
 * translate_request for a chat or generate request that stays in its
 * DIALECT, from the client's bytes: TOP holds the members of the body,
 * which jscan vouched for.  Appends the upstream body to OUT and returns
 * true; false, with OUT as it was, when it declines (not one of those
 * endpoints, or a field to refuse or that jscan declines), and then
 * translate_request on the parsed body has the answer.  The point is a
 * long conversation: its messages are copied as bytes, not parsed into a
 * tree and written out again.
 */
bool translate_request_bytes(enum endpoint ep, enum wire dialect, const struct jscan_object *top,
                             const struct translate_params *p, struct sbuf *out);

struct xlate;

struct xlate_params {
    enum endpoint ep;
    enum wire upstream;
    enum wire client;
    bool client_stream;   /* the client asked for a stream */
    bool include_usage;   /* OpenAI client: stream_options.include_usage */
    const char *model;    /* model name shown to the client */
    int64_t wall_start_ns; /* wall clock at START_NS, ns since the epoch (created, created_at) */
    uint64_t start_ns;     /* monotonic clock at the request's start */
    uint32_t seed;        /* for ids the upstream did not give */
    /* Parse every frame with jansson, skipping the jscan fast path: the
     * reference the tests hold the fast path to. */
    bool full_parse;
};

enum xlate_status {
    XLATE_MORE,  /* keep feeding */
    XLATE_END,   /* the upstream finished its answer properly */
    XLATE_ERROR, /* garbage or an upstream error: ERR says which; stop */
    /* The upstream's own in-band error, already passed on to OUT as it
     * came (the dialects match); ERR has its words.  Stop. */
    XLATE_ERROR_PASSED,
};

/* A new stream translator; free with xlate_free(). */
struct xlate *xlate_new(const struct xlate_params *p);
void xlate_free(struct xlate *x);

/* Feed upstream body bytes received at NOW_NS; client bytes are appended
 * to OUT.  On an error, ERR->code is -EIO when ERR holds the upstream's
 * own words, another negative errno when they are ours; after
 * XLATE_ERROR call xlate_error(), after XLATE_ERROR_PASSED nothing more
 * goes out. */
enum xlate_status xlate_feed(struct xlate *x, const char *data, size_t len, uint64_t now_ns,
                             struct sbuf *out, struct cerr *err);

/* The upstream closed the body.  For a client that wanted one JSON
 * object, the object is appended to OUT.  Returns XLATE_END when the
 * answer was complete, XLATE_ERROR (with ERR) when it was cut short. */
enum xlate_status xlate_end(struct xlate *x, uint64_t now_ns, struct sbuf *out,
                            struct cerr *err);

/* Append an in-band error with MESSAGE in the client's dialect: an SSE
 * event whose JSON has an "error" object, or an NDJSON {"error":...}
 * line.  The stream must end after it. */
void xlate_error(struct xlate *x, const char *message, struct sbuf *out);

/* When the first token arrived (the clock of xlate_feed), 0 if none yet. */
uint64_t xlate_first_token_ns(const struct xlate *x);

/* Usage seen so far (-1 when unknown), for metrics and sessions. */
void xlate_usage(const struct xlate *x, long *prompt_tokens, long *completion_tokens);

/* Parse an upstream error body of either dialect (or LM Studio's 200 +
 * {"error":"..."}) into MSG; returns false when BODY is not one. */
bool translate_error_message(const char *body, size_t len, char *msg, size_t msglen);

#endif
