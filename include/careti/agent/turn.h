/*
 * The turn engine: one turn of a session, from the user's message to the
 * stored reply.  It stores the message, looks the model up, plans the
 * context, asks the model, checkpoints the reply as it streams and
 * stores how it ended; it reports all of it through an observer and
 * never touches a client.  The coding agent's tool loop grows here.
 */
#ifndef CARETI_TURN_H
#define CARETI_TURN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "careti/config/config.h"
#include "careti/models/lookup.h"
#include "careti/models/metrics.h"
#include "careti/models/provider.h"
#include "careti/store/session_store.h"
#include "careti/upstream/upstream.h"

struct turn;

/* What turns run on; borrowed, and must outlive every turn.  CFG is the
 * config in force, read at each step, so a reload applies to the next. */
struct turn_env {
    uv_loop_t *loop;
    struct store *store;
    struct lookup *lookup;
    struct upstream *up;
    struct providers *providers;
    struct metrics *metrics;
    const struct config *cfg;
};

/* What a turn reports, in this order: user_stored, reply_started (once
 * the model is known), then any of truncated, thinking, delta,
 * tool_call, agent_event (agent sessions: a tool loop of steps), and
 * last done.  Any may be NULL.  JSON arguments are
 * borrowed.  Called from the loop, never from inside turn_start or
 * turn_cancel. */
struct turn_observer {
    /* The user's message as stored (with its id, seq, tokens). */
    void (*user_stored)(void *arg, const json_t *message);
    /* The reply's row exists: MESSAGE is {id, role, status, model}. */
    void (*reply_started)(void *arg, const json_t *message);
    /* Older messages were left out to fit the window. */
    void (*truncated)(void *arg, const json_t *info);
    void (*thinking)(void *arg, const char *text);
    void (*delta)(void *arg, const char *text);
    /* A tool call the model made: {id, name, arguments}. */
    void (*tool_call)(void *arg, const json_t *call);
    /* An agent session's other events (docs/api/agent.md): step,
     * approval, approval_decision, tool_output, tool_result, usage,
     * question, completion; DATA is borrowed. */
    void (*agent_event)(void *arg, const char *event, const json_t *data);
    /* The turn is over and its outcome is on disk (or, when ERROR says
     * so, could not be written).  REPLY is the reply as stored: its id
     * (0 when no row was made), status ("complete", "error",
     * "interrupted"), error, content, tool_calls and the server's counts;
     * for an agent turn also stop_reason, reason, steps, files_changed.
     * The turn is freed when this returns. */
    void (*done)(void *arg, const json_t *reply);
};

/* Start a turn of session SESSION_ID (SESSION is its snapshot with its
 * messages; a reference is taken) answering CONTENT with MODEL (NULL or
 * "": the session's, else defaults.model).  Never NULL; the turn is the
 * engine's until its done event. */
struct turn *turn_start(const struct turn_env *env, const char *session_id, json_t *session,
                        const char *model, const char *content, const struct turn_observer *obs,
                        void *arg);

/* Stop T: the model is asked no more, what it said so far is kept, and
 * the turn ends "interrupted" (done follows, later).  Nothing happens
 * once T is finishing. */
void turn_cancel(struct turn *t);

/* Answer the approval T waits for, for call CALL_ID: DECISION is
 * "allow_once", "allow_always" or "reject" (FEEDBACK, may be NULL, goes to
 * the model).  *CATEGORY gets the call's category ("read", "edit",
 * "command") for the caller to store an allow_always.  Returns 0, -ENOENT
 * when T waits for no such approval, -EINVAL for another decision. */
int turn_answer_approval(struct turn *t, const char *call_id, const char *decision,
                         const char *feedback, const char **category);

/* The approval T waits for (the approval event's data), or NULL;
 * borrowed. */
const json_t *turn_pending_approval(const struct turn *t);

/* The session T answers in. */
const char *turn_session_id(const struct turn *t);

/* True once T's outcome is being stored: it can no longer be cancelled. */
bool turn_finishing(const struct turn *t);

#endif
