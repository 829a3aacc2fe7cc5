/*
 * history: what an agent session's stored messages become in a request to
 * the model, and how they are kept inside the window.  Tool results go
 * back natively (role "tool") or as text (a user message); calls written
 * natively are rendered as XML for a text-form model.  Old tool results
 * are shrunk to a one-line note before whole steps are left out, and the
 * history is trimmed in one large step, well below the budget, so that
 * the request's prefix stays the same from step to step and the model
 * server reuses its cache.  Pure.
 */
#ifndef CARETI_HISTORY_H
#define CARETI_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Where the history is cut, by message id: tool results of messages
 * below ELIDE_BEFORE are shown as a note; messages below DROP_BEFORE are
 * left out, the protected ones excepted.  0: nothing. */
struct history_trim {
    int64_t elide_before;
    int64_t drop_before;
};

struct history_plan {
    int64_t tokens; /* the estimate of what is sent, the system prompt included */
    bool trimmed;   /* the trim moved on this call */
    size_t elided;  /* tool results shown as notes */
    size_t dropped; /* messages left out */
    bool fits;      /* false when even the protected messages exceed the budget */
};

/* The tokens of a tool result shown as a note. */
#define HISTORY_NOTE_TOKENS 24

/*
 * The request's messages: SYSTEM, then HISTORY (stored messages, oldest
 * first, the turn's own included), tool calls and results NATIVE or as
 * text.  Never left out: the session's first user message (the task and
 * its environment) and PROTECT_ID (the current turn's message) and the
 * last step.  TRIM is kept as it is while what is sent fits BUDGET; past
 * it, TRIM moves so that it fits half of BUDGET.  A new reference.
 */
json_t *history_messages(const json_t *history, const char *system, bool native,
                         int64_t protect_id, int64_t budget, struct history_trim *trim,
                         struct history_plan *plan);

/* STORED tool calls ({id, name, arguments}) in the shape a chat request
 * carries them, {id, type, function: {name, arguments}}, the arguments an
 * object as Ollama requires (text that was not JSON goes as {"input":
 * text}).  A new reference, or NULL when there are none. */
json_t *history_request_tool_calls(const json_t *stored);

/* A stored call {name, arguments} as a text-form model writes it (the
 * XML form); the caller frees it. */
char *history_call_xml(const json_t *call);

#endif
