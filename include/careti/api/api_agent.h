/*
 * The coding agent's routes under /careti/v1/agent that are not a
 * session's: today its system prompt, so that a client can see exactly
 * what the model is told.
 */
#ifndef CARETI_API_AGENT_H
#define CARETI_API_AGENT_H

#include "careti/http/router.h"

/* Add the agent routes to R. */
void api_agent_register(struct router *r);

#endif
