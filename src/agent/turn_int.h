/*
 * The turn engine's own view of a turn, shared by turn.c (the engine:
 * a turn from the message to the stored reply) and agent_loop.c (the
 * coding agent's steps, tools and approvals).  Private to the agent room.
 */
#ifndef CARETI_TURN_INT_H
#define CARETI_TURN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "careti/agent/command.h"
#include "careti/agent/history.h"
#include "careti/agent/prompt.h"
#include "careti/agent/toolcall_parser.h"
#include "careti/agent/tools.h"
#include "careti/agent/turn.h"
#include "careti/agent/workspace.h"
#include "careti/core/sbuf.h"
#include "careti/models/model_stream.h"

/* How often a streaming reply is written to disk. */
#define TURN_CHECKPOINT_MS 1000

enum turn_state {
    TURN_STORING_USER,        /* the user's message is being written */
    TURN_LOOKING_UP,          /* the model is being looked up */
    TURN_STORING_PLACEHOLDER, /* the reply's row is being made */
    TURN_STREAMING,           /* the model answers */
    TURN_STORING_REPLY,       /* how the reply ended is being written */
    /* the agent's */
    TURN_OPENING,         /* the workspace is opened, the environment read */
    TURN_STORING_STEP,    /* the step's answer is being written */
    TURN_RUNNING_TOOL,    /* a file tool runs on the thread pool */
    TURN_AWAITING,        /* an approval is awaited */
    TURN_RUNNING_COMMAND, /* a command runs */
    TURN_STORING_RESULT,  /* a tool result (and its file change) is being written */
    TURN_STORING_END,     /* the turn's outcome is being written on its message */
};

/* Mistakes in a row, and identical calls in a row, that stop a turn. */
#define AGENT_MISTAKES_MAX 3
#define AGENT_SAME_CALL_MAX 3
/* What of one command's output streams as tool_output events: past it a
 * fast command (a binary file's cat: JSON writes a NUL in 6 bytes) outran
 * its clients, which were then dropped as slow readers. */
#define AGENT_OUTPUT_STREAM_MAX (1024 * 1024)
/* What of a malformed call's text the step keeps. */
#define AGENT_BAD_CALL_KEPT (4 * 1024)
/* Entries of the top of the file tree in the environment. */
#define AGENT_ENV_FILES 40

struct turn {
    const struct turn_env *env;
    const struct turn_observer *obs;
    void *obs_arg;
    enum turn_state state;
    bool cancelled; /* asked to stop while an operation was pending */
    char session_id[32];
    json_t *session;      /* the snapshot the context is planned from */
    json_t *user_message; /* as stored */
    char *model;
    struct resolution res;
    struct model_stream *stream;
    int64_t reply_id;
    struct sbuf content, thinking;
    json_t *tool_calls;
    size_t checkpointed_len;
    uv_timer_t checkpoint;
    bool timer_started;
    struct model_stream_end counts;
    uint64_t start_ns, first_token_ns;
    int64_t others_tokens;        /* what the rest of the prompt was counted as */
    json_t *final;                /* the reply's last fields, while they are written */
    struct lookup_ticket *ticket; /* while the model is looked up */

    /* The agent's loop (AGENT set). */
    bool agent;
    enum agent_mode mode;
    bool native;      /* tools go natively (res.native_tools) */
    char *content_in; /* the user's message, until stored */
    struct workspace *ws;
    char *environment; /* for the session's first agent turn */
    json_t *history;   /* what requests are built from: stored messages, the turn's appended */
    struct history_trim trim;
    int step;
    int mistakes;   /* in a row */
    int same_calls; /* the same call, in a row */
    json_t *last_call;
    struct toolcall_parser *parser;
    json_t *call;     /* the step's call {id, name, arguments} */
    char *call_error; /* the step's malformed call */
    bool step_over;   /* the step's answer is complete or stopped */
    uv_timer_t kick;  /* stops the model at the call, from the loop */
    bool kick_started;
    struct tool_job *job;
    struct command *cmd;
    size_t output_streamed; /* of the command's output, in tool_output events */
    json_t *approval;       /* the approval awaited */
    json_t *decision;       /* its answer: {decision, feedback?} */
    uv_timer_t approval_timer;
    bool approval_timer_started;
    enum approval_policy policy[APPROVAL_CATEGORIES];
    const char *stop_reason;
    char reason[300];
    int files_changed;
    bool reply_open; /* the step's row is not final yet */
    int64_t step_prompt_tokens;
    /* The daemon's own time between steps: from the end of a step's
     * answer to the next request, less the time tools ran or waited for
     * an approval (EXCLUDED_NS; OUT_SINCE_NS while one is out). */
    uint64_t step_end_ns, excluded_ns, out_since_ns;
    /* A step whose call only reads: stored with its result, in one
     * transaction (nothing is lost by a crash before it). */
    json_t *pending_step;
    /* Events held while a step's writes are in flight (see hold). */
    bool holding;
    struct held *held, **held_tail;
};

#define TELL_NOW(t, event, ...)                                                                    \
    do {                                                                                           \
        if ((t)->obs->event != NULL)                                                               \
            (t)->obs->event((t)->obs_arg, __VA_ARGS__);                                            \
    } while (0)

/* While a step's writes are in flight, what the next step reports waits
 * for them: nothing is told before what it follows is on disk. */
enum held_kind {
    HELD_DELTA,
    HELD_THINKING,
    HELD_TOOL_CALL,
    HELD_TRUNCATED,
    HELD_STARTED,
    HELD_AGENT
};

struct held {
    enum held_kind kind;
    char *name;   /* HELD_AGENT's event */
    json_t *data; /* a string for the text kinds */
    struct held *next;
};

void turn_hold(struct turn *t, enum held_kind kind, const char *name, json_t *data);
/* Tell what was held, in order, and stop holding. */
void turn_release_held(struct turn *t);
/* Forget what was held: its step failed to be written. */
void turn_drop_held(struct turn *t);

#define TELL_TEXT(t, event, kind, text)                                                            \
    do {                                                                                           \
        if ((t)->holding)                                                                          \
            turn_hold((t), (kind), NULL, json_string(text));                                       \
        else                                                                                       \
            TELL_NOW(t, event, text);                                                              \
    } while (0)

#define TELL_JSON(t, event, kind, data)                                                            \
    do {                                                                                           \
        if ((t)->holding)                                                                          \
            turn_hold((t), (kind), NULL, json_deep_copy(data));                                    \
        else                                                                                       \
            TELL_NOW(t, event, data);                                                              \
    } while (0)

#define TELL(t, event, ...) TELL_NOW(t, event, __VA_ARGS__)

/* turn.c: the engine's steps the agent's loop goes through. */
void turn_done(struct turn *t, json_t *reply);
json_int_t turn_window(struct turn *t);
/* The reply's last fields: what it said, how it ended, the counts. */
json_t *turn_reply_fields(struct turn *t, const char *status, const char *error);
/* The empty row of a reply (of the agent's next step). */
json_t *turn_placeholder(const struct turn *t);
/* The row of the reply (of the agent's next step) is made. */
void turn_store_placeholder(struct turn *t);
/* The reply's row (the step's) exists: ask the model. */
void turn_step_started(struct turn *t);
void turn_on_user_stored(json_t *msg, const struct cerr *err, void *arg);
/* The turn's last write is done (T->FINAL is the reply to tell): done. */
void turn_on_reply_stored(json_t *result, const struct cerr *err, void *arg);

/* agent_loop.c: the coding agent's steps. */
/* Start an agent turn: the workspace first, then the message. */
void agent_start(struct turn *t, const char *content);
/* A native call arrived (the first of the step wins). */
void agent_on_native_call(struct turn *t, const json_t *call);
/* The step has its call (or a malformed one): stop the model. */
void agent_call_found(struct turn *t);
/* The step's answer is over (complete, or stopped at its call). */
void agent_step_done(struct turn *t);
/* The turn is over (STOP_REASON, and ERROR for "error"). */
void agent_finish(struct turn *t, const char *stop_reason, const char *error);
/* The request of the step, or NULL with WHY. */
json_t *agent_request(struct turn *t, char *why, size_t whylen);
/* An agent event, DATA taken (held while a step's writes are out). */
void agent_tell(struct turn *t, const char *event, json_t *data);
/* turn_cancel in the agent's own states. */
void agent_cancel(struct turn *t);

#endif
