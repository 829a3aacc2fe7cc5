/*
 * A chat answer from a model as structured events, for consumers inside
 * the daemon (the session turn, the agent): text, reasoning and tool
 * calls as they arrive, then one end with the server's counts.  Built on
 * the relay, so the answer is resolved, queued, failed over and checked
 * as every client's is.
 */
#ifndef CARETI_MODEL_STREAM_H
#define CARETI_MODEL_STREAM_H

#include <stdbool.h>

#include <jansson.h>

#include "careti/models/relay.h"

struct model_stream;

/* How the answer ended.  STATUS is 0 when the server answered, else the
 * HTTP status of a failure before anything came (ERROR says why). */
struct model_stream_end {
    int status;
    const char *error;  /* NULL when the answer is complete */
    bool counted;       /* the server sent its counts (the fields below) */
    json_int_t prompt_tokens, completion_tokens;
    json_int_t eval_duration_ns, load_duration_ns;
};

struct model_stream_events {
    /* Answer text, in order; TEXT is borrowed. */
    void (*delta)(void *arg, const char *text);
    /* Reasoning (a thinking field), in order; TEXT is borrowed. */
    void (*thinking)(void *arg, const char *text);
    /* One tool call, whole: {"id", "name", "arguments"} with the
     * arguments as parsed (an object, or the text the model wrote when it
     * is not JSON).  Borrowed: take a reference to keep it. */
    void (*tool_call)(void *arg, const json_t *call);
    /* Once, last; the stream is freed when this returns. */
    void (*end)(void *arg, const struct model_stream_end *end);
};

/* Start the chat request SPEC describes (its body in the Ollama chat
 * shape, whatever the provider; SPEC's client fields are set here).
 * Events may come before this returns; NULL when the end event came
 * too (the stream is then gone), else the stream, to cancel. */
struct model_stream *model_stream_start(const struct relay_spec *spec,
                                        const struct model_stream_events *ev, void *arg);

/* Stop S at once and free it: no event follows.  The model server sees
 * its connection close.  Only before the end event. */
void model_stream_cancel(struct model_stream *s);

#endif
