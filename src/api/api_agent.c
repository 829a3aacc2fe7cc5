/*
 * api_agent: GET /careti/v1/agent/prompt.  Owns nothing; answers at once.
 */
#include <string.h>

#include "careti/agent/prompt.h"
#include "careti/api/api_agent.h"

static void
on_prompt(struct http_request *req, void *arg)
{
    (void)arg;
    char mode[16] = "act", tools[16] = "text";
    http_request_query_param(req, "mode", mode, sizeof mode);
    http_request_query_param(req, "tools", tools, sizeof tools);
    bool plan = strcmp(mode, "plan") == 0;
    bool native = strcmp(tools, "native") == 0;
    if ((!plan && strcmp(mode, "act") != 0) || (!native && strcmp(tools, "text") != 0)) {
        router_respond_error(req, 400, "mode must be act or plan, and tools text or native");
        return;
    }
    const char *p = agent_prompt(plan ? AGENT_MODE_PLAN : AGENT_MODE_ACT, native);
    http_respond_json_take(req, 200,
                      json_pack("{s:s, s:s, s:I, s:s}", "mode", plan ? "plan" : "act", "tools",
                                native ? "native" : "text", "characters",
                                (json_int_t)strlen(p), "prompt", p));
}

void
api_agent_register(struct router *r)
{
    router_add(r, "GET", "/careti/v1/agent/prompt", on_prompt, NULL);
}
