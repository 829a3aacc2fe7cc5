/*
 * context: the context-window plan for a turn.  Pure; owns nothing.
 */
#include <string.h>

#include "careti/agent/context.h"

int64_t
context_budget(int64_t context_length)
{
    int64_t reserve = context_length / 8 > 8192 ? context_length / 8 : 8192;
    int64_t budget = context_length - reserve;
    /* A tiny window still gets something: half of it. */
    return budget > 0 ? budget : context_length / 2;
}

int64_t
context_estimate(const char *text)
{
    return (int64_t)(strlen(text) + 3) / 4;
}

static bool
is_role(const struct context_item *it, const char *role)
{
    return it->role != NULL && strcmp(it->role, role) == 0;
}

void
context_plan(const struct context_item *items, size_t n, int64_t budget, bool *keep,
             struct context_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->budget = budget;
    size_t first_user = n, last_user = n;
    for (size_t i = 0; i < n; i++) {
        keep[i] = true;
        plan->tokens += items[i].tokens;
        if (is_role(&items[i], "user")) {
            if (first_user == n)
                first_user = i;
            last_user = i;
        }
    }
    /* Droppable units run from just after the first user message to just
     * before the last user message, split at each user message. */
    size_t i = first_user == n ? n : first_user + 1;
    while (plan->tokens > budget && i < last_user) {
        size_t end = i + 1;
        while (end < last_user && !is_role(&items[end], "user"))
            end++;
        bool any = false;
        for (size_t k = i; k < end; k++) {
            if (is_role(&items[k], "system"))
                continue;
            keep[k] = false;
            plan->tokens -= items[k].tokens;
            plan->dropped_messages++;
            any = true;
        }
        if (any)
            plan->dropped_turns++;
        i = end;
    }
    plan->fits = plan->tokens <= budget;
}
