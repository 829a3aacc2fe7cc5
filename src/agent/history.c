/*
 * history: an agent session's stored messages as a request's messages,
 * inside the window, trimmed in large steps.  Pure: JSON in, JSON out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/context.h"
#include "careti/agent/history.h"
#include "careti/core/jfield.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"

struct entry {
    const json_t *m;
    int64_t id;
    int64_t full, note; /* tokens shown whole, and as a note */
    bool tool;
    bool unit_start; /* a user or assistant message: a cut may fall before it */
    bool protect;
};

static bool
role_is(const json_t *m, const char *role)
{
    const char *r = jfield_str(m, "role");
    return r != NULL && strcmp(r, role) == 0;
}

static bool
status_is(const json_t *m, const char *status)
{
    const char *s = jfield_str(m, "status");
    return s != NULL && strcmp(s, status) == 0;
}

static bool
assistant_usable(const json_t *m)
{
    if (status_is(m, "error") || status_is(m, "streaming"))
        return false;
    const char *text = jfield_str(m, "content");
    return !status_is(m, "interrupted") || (text != NULL && *text != '\0') ||
           json_array_size(json_object_get(m, "tool_calls")) > 0;
}

static bool
is_correction(const json_t *m)
{
    return json_is_true(json_object_get(json_object_get(m, "agent"), "correction"));
}

static int64_t
message_tokens(const json_t *m)
{
    json_int_t t = json_integer_value(json_object_get(m, "tokens"));
    if (t <= 0)
        t = context_estimate(jfield_str_or(m, "content", ""));
    const char *env = jfield_str(json_object_get(m, "agent"), "environment");
    if (env != NULL)
        t += context_estimate(env);
    return t + 4;
}

char *
history_call_xml(const json_t *call)
{
    struct sbuf b = {0};
    const char *name = jfield_str_or(call, "name", "unknown");
    sbuf_addf(&b, "<%s>\n", name);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(call, "arguments"), key, v)
    {
        if (json_is_string(v))
            sbuf_addf(&b, "<%s>%s</%s>\n", key, json_string_value(v), key);
        else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            sbuf_addf(&b, "<%s>%s</%s>\n", key, t ? t : "", key);
            free(t);
        }
    }
    sbuf_addf(&b, "</%s>", name);
    return b.s;
}

json_t *
history_request_tool_calls(const json_t *stored)
{
    if (json_array_size(stored) == 0)
        return NULL;
    json_t *calls = json_array();
    size_t i;
    json_t *c;
    json_array_foreach((json_t *)stored, i, c)
    {
        json_t *args = json_object_get(c, "arguments");
        json_t *obj = json_is_object(args) ? json_incref(args)
                                           : json_pack("{s:O?}", "input", args);
        json_t *call = json_pack("{s:s, s:{s:s, s:o}}", "type", "function", "function", "name",
                                 jfield_str_or(c, "name", ""), "arguments", obj);
        jfield_copy(call, "id", c, "id");
        json_array_append_new(calls, call);
    }
    return calls;
}

/* What the model is told of a tool call that has no stored result. */
#define NO_RESULT "(no result: the turn was cut before this tool ran)"

/* A tool's result as the request carries it: TEXT (a JSON string, or
 * NULL for NOTE) natively, else as a user message that says whose result
 * it is.  Strings already in the history are shared, not copied: a
 * request is built again at every step. */
static void
add_tool_result(json_t *out, bool native, const char *call_id, const char *name, json_t *text,
                const char *note)
{
    if (native) {
        json_t *m = json_pack("{s:s, s:s}", "role", "tool", "tool_call_id", call_id ? call_id : "");
        json_object_set_new(m, "content", text ? json_incref(text) : json_string(note));
        json_array_append_new(out, m);
        return;
    }
    struct sbuf b = {0};
    const char *body = text ? json_string_value(text) : note;
    size_t len = text ? json_string_length(text) : strlen(note);
    sbuf_addf(&b, "[%s] Result:\n", name ? name : "tool");
    sbuf_add(&b, body, len);
    json_t *m = json_pack("{s:s}", "role", "user");
    /* Made of valid UTF-8 (JSON strings, and our own ASCII). */
    json_object_set_new(m, "content", json_stringn_nocheck(b.s, b.len));
    json_array_append_new(out, m);
    sbuf_free(&b);
}

/* Results still owed for the calls of the last assistant message. */
static void
flush_pending(json_t *out, bool native, json_t *pending)
{
    size_t i;
    json_t *c;
    json_array_foreach(pending, i, c)
        add_tool_result(out, native, jfield_str(c, "id"), jfield_str(c, "name"), NULL,
                        NO_RESULT);
    json_array_clear(pending);
}

static void
answer_pending(json_t *pending, const char *call_id)
{
    size_t i;
    json_t *c;
    json_array_foreach(pending, i, c)
    {
        const char *id = jfield_str(c, "id");
        if (id != NULL && call_id != NULL && strcmp(id, call_id) == 0) {
            json_array_remove(pending, i);
            return;
        }
    }
}

/* Move TRIM so that what is sent fits TARGET: shrink tool results,
 * oldest first, then leave out whole steps, never the last one (from
 * entry LAST on). */
static int64_t
shown(const struct entry *e, const struct history_trim *trim)
{
    return e->tool && e->id < trim->elide_before ? e->note : e->full;
}

static int64_t
total(const struct entry *e, size_t n, const struct history_trim *trim, int64_t system)
{
    int64_t sum = system;
    for (size_t i = 0; i < n; i++) {
        if (e[i].id < trim->drop_before && !e[i].protect)
            continue;
        sum += shown(&e[i], trim);
    }
    return sum;
}

static void
retrim(const struct entry *e, size_t n, size_t last, struct history_trim *trim, int64_t system,
       int64_t target)
{
    /* The sum is kept as the cut moves (ids grow with the index), not
     * counted again for every entry. */
    int64_t sum = total(e, n, trim, system);
    for (size_t i = 0; i < last && sum > target; i++) {
        if (!e[i].tool || e[i].id < trim->elide_before)
            continue;
        trim->elide_before = e[i].id + 1;
        if (e[i].protect || e[i].id >= trim->drop_before)
            sum -= e[i].full - e[i].note;
    }
    size_t k = 0;
    for (size_t i = 1; i <= last && sum > target; i++) {
        if (!e[i].unit_start || e[i].id <= trim->drop_before)
            continue;
        for (; k < i; k++)
            if (!e[k].protect && e[k].id >= trim->drop_before)
                sum -= shown(&e[k], trim);
        trim->drop_before = e[i].id;
    }
}

json_t *
history_messages(const json_t *history, const char *system, bool native, int64_t protect_id,
                 int64_t budget, struct history_trim *trim, struct history_plan *plan)
{
    size_t n_all = json_array_size(history);
    struct entry *e = xcalloc(n_all + 1, sizeof *e);
    size_t n = 0, last = 0;
    bool first_user = true;
    for (size_t i = 0; i < n_all; i++) {
        const json_t *m = json_array_get(history, i);
        int64_t id = json_integer_value(json_object_get(m, "id"));
        bool tool = role_is(m, "tool");
        if (role_is(m, "assistant") && !assistant_usable(m))
            continue;
        if (role_is(m, "user") && !is_correction(m) && id != protect_id) {
            /* A turn that got no usable answer is not asked again. */
            const json_t *next = json_array_get(history, i + 1);
            if (next == NULL || !role_is(next, "assistant") || !assistant_usable(next))
                continue;
        }
        if (!tool && !role_is(m, "user") && !role_is(m, "assistant"))
            continue;
        e[n].m = m;
        e[n].id = id;
        e[n].full = message_tokens(m);
        e[n].note = HISTORY_NOTE_TOKENS;
        e[n].tool = tool;
        e[n].unit_start = !tool;
        e[n].protect = id == protect_id ||
                       (role_is(m, "user") && !is_correction(m) && first_user);
        if (role_is(m, "user") && !is_correction(m))
            first_user = false;
        if (role_is(m, "assistant") || id == protect_id)
            last = n;
        n++;
    }
    int64_t sys = system ? context_estimate(system) + 4 : 0;
    memset(plan, 0, sizeof *plan);
    if (total(e, n, trim, sys) > budget) {
        struct history_trim before = *trim;
        retrim(e, n, last, trim, sys, budget / 2);
        plan->trimmed = before.elide_before != trim->elide_before ||
                        before.drop_before != trim->drop_before;
    }
    plan->tokens = total(e, n, trim, sys);
    plan->fits = plan->tokens <= budget;

    json_t *out = json_array();
    if (system != NULL)
        json_array_append_new(out, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_t *pending = json_array();
    for (size_t i = 0; i < n; i++) {
        const json_t *m = e[i].m;
        if (e[i].id < trim->drop_before && !e[i].protect) {
            plan->dropped++;
            continue;
        }
        const json_t *agent = json_object_get(m, "agent");
        const char *content = jfield_str_or(m, "content", "");
        if (e[i].tool) {
            const char *call_id = jfield_str(m, "tool_call_id");
            const char *name = jfield_str(agent, "tool");
            answer_pending(pending, call_id);
            if (e[i].id < trim->elide_before) {
                char note[200];
                snprintf(note, sizeof note,
                         "(left out to save context: the %zu-byte result of %s; run the tool "
                         "again if you need it)",
                         strlen(content), name ? name : "the tool");
                add_tool_result(out, native, call_id, name, NULL, note);
                plan->elided++;
            } else {
                add_tool_result(out, native, call_id, name, json_object_get(m, "content"),
                                NULL);
            }
            continue;
        }
        flush_pending(out, native, pending);
        if (role_is(m, "user")) {
            const char *env = jfield_str(agent, "environment");
            if (env != NULL) {
                struct sbuf b = {0};
                sbuf_addf(&b, "%s\n\n%s", env, content);
                json_t *u = json_pack("{s:s}", "role", "user");
                json_object_set_new(u, "content", json_stringn_nocheck(b.s, b.len));
                json_array_append_new(out, u);
                sbuf_free(&b);
            } else {
                json_array_append_new(out, json_pack("{s:s, s:O}", "role", "user", "content",
                                                     json_object_get(m, "content")));
            }
            continue;
        }
        json_t *calls = json_object_get(m, "tool_calls");
        bool text_form = jfield_str(agent, "form") != NULL &&
                         strcmp(jfield_str(agent, "form"), "text") == 0;
        json_t *a;
        if (native || text_form || json_array_size(calls) == 0) {
            a = json_pack("{s:s, s:O}", "role", "assistant", "content",
                          json_object_get(m, "content"));
        } else {
            /* A call made natively, for a model that now writes them. */
            struct sbuf b = {0};
            sbuf_adds(&b, content);
            size_t k;
            json_t *c;
            json_array_foreach(calls, k, c)
            {
                char *xml = history_call_xml(c);
                sbuf_addf(&b, "%s%s", b.len ? "\n" : "", xml);
                free(xml);
            }
            a = json_pack("{s:s, s:s}", "role", "assistant", "content", b.s ? b.s : "");
            sbuf_free(&b);
        }
        if (native) {
            json_t *rc = history_request_tool_calls(calls);
            if (rc != NULL)
                json_object_set_new(a, "tool_calls", rc);
        }
        json_array_append_new(out, a);
        size_t k;
        json_t *c;
        json_array_foreach(calls, k, c) json_array_append(pending, c);
    }
    /* The last step's call is answered by the turn itself, later. */
    json_decref(pending);
    free(e);
    return out;
}
