/*
 * The coding agent's system prompt: compact, for local models, with the
 * tools' descriptions, and the same bytes for every step of a session
 * (no date, no file list: the environment goes into the first user
 * message), so that a model server reuses its cached prefix.
 */
#ifndef CARETI_PROMPT_H
#define CARETI_PROMPT_H

#include <stdbool.h>

enum agent_mode {
    AGENT_MODE_ACT,  /* every tool */
    AGENT_MODE_PLAN, /* read-only tools, and the plan as the answer */
};

/* The system prompt for MODE; NATIVE when the model calls tools through
 * the API (the tools' schemas then go with the request, and the prompt
 * does not teach the XML form).  Static text, never NULL, never freed.
 * Not thread-safe on its first call for a variant: call it on the loop. */
const char *agent_prompt(enum agent_mode mode, bool native);

/* Whether tool NAME is offered in MODE. */
bool agent_tool_offered(enum agent_mode mode, const char *name);

#endif
