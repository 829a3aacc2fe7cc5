/*
 * model_stream: a chat answer as structured events.  The relay delivers
 * it in the Ollama chat dialect, which every provider's answer is
 * translated into; this reads its lines into events.  Owns its relay and
 * itself until the end event or a cancel; never writes to a client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/jfield.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"
#include "careti/models/model_stream.h"

struct model_stream {
    struct relay *relay;
    const struct model_stream_events *ev;
    void *arg;
    struct sbuf line;
    struct model_stream_end end;
    char error[512];
    size_t calls; /* tool calls told, for the ids of calls that came without one */
    bool starting; /* inside model_stream_start, which frees it if it ends there */
    bool ended;
};

static void
stream_free(struct model_stream *s)
{
    sbuf_free(&s->line);
    free(s);
}

/* Tell one tool call of the Ollama shape ({"function": {"name",
 * "arguments"}}, an "id" on newer servers) in the neutral one. */
static void
tell_tool_call(struct model_stream *s, const json_t *raw)
{
    const json_t *fn = json_object_get(raw, "function");
    const char *name = jfield_str(fn, "name");
    if (name == NULL || *name == '\0')
        return;
    json_t *args = json_object_get(fn, "arguments");
    json_t *parsed = NULL;
    /* Some servers send the arguments as JSON text. */
    if (json_is_string(args)) {
        parsed = json_loads(json_string_value(args), 0, NULL);
        if (parsed != NULL && !json_is_object(parsed)) {
            json_decref(parsed);
            parsed = NULL;
        }
    }
    char fallback_id[32];
    const char *id = jfield_str(raw, "id");
    if (id == NULL || *id == '\0') {
        snprintf(fallback_id, sizeof fallback_id, "call_%zu", s->calls);
        id = fallback_id;
    }
    s->calls++;
    json_t *value = parsed != NULL ? parsed : args != NULL ? json_incref(args) : json_object();
    json_t *call = json_pack("{s:s, s:s, s:o}", "id", id, "name", name, "arguments", value);
    s->ev->tool_call(s->arg, call);
    json_decref(call);
}

/* One line of the relay's Ollama chat stream. */
static void
read_line(struct model_stream *s, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    if (j == NULL)
        return; /* the relay has judged the stream already */
    const char *err = jfield_str(j, "error");
    if (err != NULL) {
        snprintf(s->error, sizeof s->error, "%s", err);
        json_decref(j);
        return;
    }
    json_t *msg = json_object_get(j, "message");
    const char *thinking = jfield_str(msg, "thinking");
    const char *content = jfield_str(msg, "content");
    if (thinking != NULL && *thinking != '\0')
        s->ev->thinking(s->arg, thinking);
    if (content != NULL && *content != '\0')
        s->ev->delta(s->arg, content);
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, call)
        tell_tool_call(s, call);
    if (json_is_true(json_object_get(j, "done"))) {
        s->end.counted = true;
        s->end.prompt_tokens = json_integer_value(json_object_get(j, "prompt_eval_count"));
        s->end.completion_tokens = json_integer_value(json_object_get(j, "eval_count"));
        s->end.eval_duration_ns = json_integer_value(json_object_get(j, "eval_duration"));
        s->end.load_duration_ns = json_integer_value(json_object_get(j, "load_duration"));
    }
    json_decref(j);
}

static void
on_start(void *arg, const char *content_type)
{
    (void)arg;
    (void)content_type;
}

static bool
on_writable(void *arg)
{
    (void)arg;
    return true; /* events are handled as they come */
}

static void
on_write(void *arg, const char *data, size_t len)
{
    struct model_stream *s = arg;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) : len;
        sbuf_add(&s->line, data, n);
        if (nl == NULL)
            return;
        if (s->line.len > 0)
            read_line(s, s->line.s, s->line.len);
        sbuf_reset(&s->line);
        data += n + 1;
        len -= n + 1;
    }
}

static void
finish(struct model_stream *s)
{
    s->ended = true;
    s->ev->end(s->arg, &s->end);
    if (!s->starting)
        stream_free(s);
}

static void
on_end(void *arg, const char *body, size_t len)
{
    struct model_stream *s = arg;
    (void)body;
    (void)len;
    if (s->line.len > 0)
        read_line(s, s->line.s, s->line.len);
    if (s->error[0] != '\0')
        s->end.error = s->error;
    else if (!s->end.counted)
        s->end.error = "the answer ended before it was complete";
    finish(s);
}

static void
on_fail(void *arg, int status, const char *msg)
{
    struct model_stream *s = arg;
    snprintf(s->error, sizeof s->error, "%s", msg);
    s->end.status = status;
    s->end.error = s->error;
    finish(s);
}

static const struct relay_sink stream_sink = {on_start, on_writable, on_write, on_end, on_fail};

struct model_stream *
model_stream_start(const struct relay_spec *spec, const struct model_stream_events *ev, void *arg)
{
    struct model_stream *s = xcalloc(1, sizeof *s);
    s->ev = ev;
    s->arg = arg;
    struct relay_spec mine = *spec;
    mine.client = WIRE_OLLAMA;
    mine.client_stream = true;
    mine.ep = EP_CHAT;
    s->relay = relay_new(&mine, &stream_sink, s);
    s->starting = true;
    relay_go(s->relay);
    s->starting = false;
    if (s->ended) {
        stream_free(s);
        return NULL;
    }
    return s;
}

void
model_stream_cancel(struct model_stream *s)
{
    relay_cancel(s->relay);
    stream_free(s);
}
