/*
 * Keeping a conversation inside the model's context window: which stored
 * messages a turn sends.  Pure, so it is property-tested over generated
 * histories.
 */
#ifndef CARETI_CONTEXT_H
#define CARETI_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct context_item {
    const char *role; /* system, user, assistant, tool */
    int64_t tokens;   /* the upstream's count where known, else an estimate */
};

struct context_plan {
    int64_t budget;
    int64_t tokens;          /* what is sent */
    size_t dropped_messages; /* left out of the request (the store keeps them) */
    size_t dropped_turns;
    bool fits; /* false when even the protected messages exceed the budget */
};

/* The tokens a turn may use for the prompt: the window less a reply
 * reserve, the larger of 8192 tokens and an eighth of the window. */
int64_t context_budget(int64_t context_length);

/* A rough count for text no server has counted yet (4 bytes a token). */
int64_t context_estimate(const char *text);

/*
 * Decide which of the N ITEMS (oldest first; the last is the new user
 * message) to send within BUDGET.  System messages, the first user
 * message (the task) and the last turn are always kept; whole turns are
 * left out oldest first, a turn being a user message with the replies,
 * tool calls and tool results that follow it, so a tool call is never
 * separated from its result.  KEEP[i] is set for what is sent.
 */
void context_plan(const struct context_item *items, size_t n, int64_t budget, bool *keep,
                  struct context_plan *plan);

#endif
