/*
 * translate: OpenAI <-> Ollama request bodies and response streams.
 * Owns each struct xlate's framing buffer and aggregation state.  Pure:
 * no I/O, no clocks, no globals; time and randomness come in as
 * parameters.  A truncated or garbled upstream answer must never come
 * out looking finished.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "careti/core/jfield.h"
#include "careti/core/text.h"
#include "careti/core/xmalloc.h"
#include "careti/wire/jscan.h"
#include "careti/wire/translate.h"

/* One upstream frame (NDJSON line or SSE event) larger than this is
 * treated as garbage rather than buffered without end. */
#define XLATE_MAX_FRAME (16 * 1024 * 1024)
#define XLATE_MAX_TOOL_CALLS 64

struct tool_acc {
    char *id;
    char *name;
    struct sbuf args;
};

struct xlate {
    struct xlate_params p;
    char *model;
    struct sbuf frame; /* bytes of an incomplete frame */
    char id[40];
    uint32_t rng;
    bool ended;
    bool had_line; /* an Ollama stream had a whole line */
    bool role_sent;
    bool any_tool_calls;
    bool first_token_seen;
    uint64_t first_token_ns;
    /* aggregation (non-streamed clients, and usage for everyone) */
    struct sbuf content;
    struct sbuf thinking;
    json_t *tool_calls_openai; /* OpenAI-shaped calls for a JSON answer */
    /* Grown as calls arrive: most answers have none, and a fixed table
     * made every request zero 2.5 KiB. */
    struct tool_acc *tools;
    size_t n_tools, tools_cap;
    char finish[24];
    long prompt_tokens, completion_tokens;
    /* The server's own durations (llama.cpp's "timings"), 0 when it gave
     * none and the daemon's clock stands in. */
    uint64_t server_prompt_ns, server_eval_ns;
    json_t *ollama_final; /* Ollama's done object, for its durations */
    struct sbuf raw;      /* pass-through of a non-streamed answer */
    /* A leading <think>...</think> in content, from servers that do not
     * separate reasoning: 0 undecided, 1 inside, 2 plain content. */
    int think_state;
    bool reasoning_field_seen;
    struct sbuf think_pending;
    json_t *embed;        /* whole embedding answer */
    /* What every OpenAI stream event of this answer starts with, up to
     * its choices, built once (see openai_event_begin). */
    struct sbuf event_head;
    /* An earlier OpenAI frame jscan vouched for, copied, and its members:
     * what later frames repeat of it (id, model, created...) is compared,
     * not scanned again (jscan_object_like). */
    struct sbuf like_text;
    struct jscan_object like;
    /* created_at's date and time to the second, for WHEN_SECS. */
    char when_base[32];
    int64_t when_secs;
    bool when_valid;
};

/* ---------- small helpers ---------- */

static uint32_t
next_rand(struct xlate *x)
{
    /* xorshift32: ids need to be unique within a conversation, not secret. */
    uint32_t v = x->rng ? x->rng : 0x9e3779b9u;
    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    x->rng = v;
    return v;
}

static void
make_id(struct xlate *x, char *out, size_t len, const char *prefix, size_t n)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t pl = text_copy(out, len, prefix);
    for (size_t i = 0; i < n && pl + i + 1 < len; i++) {
        out[pl + i] = alnum[next_rand(x) % (sizeof alnum - 1)];
        out[pl + i + 1] = '\0';
    }
}

static bool
nonempty(const char *s)
{
    return s != NULL && *s != '\0';
}

/* Ollama's created_at for NOW_NS into OUT (at least 32 bytes): RFC 3339
 * in UTC with nanoseconds, the wall clock at the request's start plus the
 * monotonic time since.  The date and time to the second are formatted
 * once a second, not once a frame: gmtime_r and strftime were a tenth of
 * what translating a frame to Ollama cost. */
static void
created_at(struct xlate *x, uint64_t now_ns, char *out, size_t len)
{
    uint64_t since = now_ns > x->p.start_ns ? now_ns - x->p.start_ns : 0;
    int64_t when = x->p.wall_start_ns + (int64_t)since;
    int64_t secs = when / 1000000000;
    if (!x->when_valid || x->when_secs != secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(x->when_base, sizeof x->when_base, "%Y-%m-%dT%H:%M:%S", &tm);
        x->when_secs = secs;
        x->when_valid = true;
    }
    char frac[12] = ".000000000Z";
    unsigned long ns = (unsigned long)(when % 1000000000);
    for (int i = 9; i >= 1; i--, ns /= 10)
        frac[i] = (char)('0' + ns % 10);
    size_t used = text_copy(out, len, x->when_base);
    if (used < len)
        text_copy(out + used, len - used, frac);
}

/* ---------- requests ---------- */

static const char *const openai_option_map[][2] = {
    /* OpenAI field, Ollama option */
    {"max_tokens", "num_predict"},
    {"max_completion_tokens", "num_predict"},
    {"temperature", "temperature"},
    {"top_p", "top_p"},
    {"seed", "seed"},
    {"frequency_penalty", "frequency_penalty"},
    {"presence_penalty", "presence_penalty"},
    {"top_k", "top_k"},
    {"min_p", "min_p"},
    {"repeat_penalty", "repeat_penalty"},
};

#define N_OPTION_MAP (sizeof openai_option_map / sizeof openai_option_map[0])

static int
bad_field(struct cerr *err, const char *field, const char *problem)
{
    return cerr_set(err, -EINVAL, 400, "invalid request: %s %s", field, problem);
}

/* An OpenAI content value (string, null, or parts) as text plus images. */
static int
openai_content_to_ollama(const json_t *content, json_t *msg, size_t index, struct cerr *err)
{
    char field[96];
    snprintf(field, sizeof field, "messages[%zu].content", index);
    if (content == NULL || json_is_null(content)) {
        json_object_set_new(msg, "content", json_string(""));
        return 0;
    }
    if (json_is_string(content)) {
        json_object_set(msg, "content", (json_t *)content);
        return 0;
    }
    if (!json_is_array(content))
        return bad_field(err, field, "must be a string or an array of parts");
    struct sbuf text = {0};
    json_t *images = json_array();
    size_t i;
    json_t *part;
    int rc = 0;
    sbuf_adds(&text, "");
    json_array_foreach(content, i, part)
    {
        const char *type = jfield_str(part, "type");
        if (type != NULL && strcmp(type, "text") == 0 && jfield_str(part, "text") != NULL) {
            sbuf_adds(&text, jfield_str(part, "text"));
        } else if (type != NULL && strcmp(type, "image_url") == 0) {
            json_t *iu = json_object_get(part, "image_url");
            const char *url = json_is_string(iu) ? json_string_value(iu) : jfield_str(iu, "url");
            const char *comma = url ? strstr(url, ";base64,") : NULL;
            if (url == NULL || strncmp(url, "data:", 5) != 0 || comma == NULL) {
                rc = bad_field(err, field,
                               "has an image that is not a data: URL with base64 content; "
                               "local servers cannot fetch image URLs");
                break;
            }
            json_array_append_new(images, json_string(comma + 8));
        } else {
            rc = bad_field(err, field, "has a part whose type is not text or image_url");
            break;
        }
    }
    if (rc == 0) {
        json_object_set_new(msg, "content", json_string(text.s));
        if (json_array_size(images) > 0)
            json_object_set(msg, "images", images);
    }
    json_decref(images);
    sbuf_free(&text);
    return rc;
}

static json_t *
openai_messages_to_ollama(const json_t *messages, struct cerr *err)
{
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        bad_field(err, "messages", "must be a non-empty array");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        char field[96];
        snprintf(field, sizeof field, "messages[%zu].role", i);
        const char *role = jfield_str(m, "role");
        if (role == NULL) {
            bad_field(err, field, "is missing (system, user, assistant or tool)");
            goto fail;
        }
        json_t *msg = json_pack("{s:s}", "role", strcmp(role, "developer") == 0 ? "system" : role);
        json_array_append_new(out, msg);
        if (openai_content_to_ollama(json_object_get(m, "content"), msg, i, err) != 0)
            goto fail;
        const char *reasoning = jfield_str(m, "reasoning_content");
        if (reasoning == NULL)
            reasoning = jfield_str(m, "reasoning");
        if (nonempty(reasoning))
            json_object_set_new(msg, "thinking", json_string(reasoning));
        json_t *calls = json_object_get(m, "tool_calls");
        if (json_is_array(calls) && json_array_size(calls) > 0) {
            json_t *oc = json_array();
            size_t j;
            json_t *c;
            json_array_foreach(calls, j, c)
            {
                json_t *fn = json_object_get(c, "function");
                const char *args = jfield_str(fn, "arguments");
                json_t *parsed = args ? json_loads(args, JSON_DECODE_ANY, NULL) : json_object();
                if (parsed == NULL || !json_is_object(parsed)) {
                    json_decref(parsed);
                    json_decref(oc);
                    snprintf(field, sizeof field, "messages[%zu].tool_calls[%zu]", i, j);
                    bad_field(err, field, "has arguments that are not a JSON object");
                    goto fail;
                }
                json_t *call = json_pack("{s:{s:I, s:s, s:o}}", "function", "index",
                                         (json_int_t)j, "name", jfield_str_or(fn, "name", ""),
                                         "arguments", parsed);
                if (jfield_str(c, "id") != NULL)
                    json_object_set_new(call, "id", json_string(jfield_str(c, "id")));
                json_array_append_new(oc, call);
            }
            json_object_set_new(msg, "tool_calls", oc);
        }
        const char *tcid = jfield_str(m, "tool_call_id");
        if (tcid != NULL) {
            json_object_set_new(msg, "tool_call_id", json_string(tcid));
            /* Ollama's templates name the tool; find it from the call. */
            for (size_t k = i; k-- > 0;) {
                json_t *prev_calls = json_object_get(json_array_get(messages, k), "tool_calls");
                size_t j;
                json_t *c;
                json_array_foreach(prev_calls, j, c)
                {
                    if (jfield_str(c, "id") && strcmp(jfield_str(c, "id"), tcid) == 0 &&
                        jfield_str(json_object_get(c, "function"), "name")) {
                        json_object_set_new(
                            msg, "tool_name",
                            json_string(jfield_str(json_object_get(c, "function"), "name")));
                        k = 0;
                        break;
                    }
                }
            }
        }
        if (jfield_str(m, "name") != NULL && strcmp(role, "tool") == 0 &&
            json_object_get(msg, "tool_name") == NULL)
            json_object_set_new(msg, "tool_name", json_string(jfield_str(m, "name")));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static void
merge_under(json_t *options, const json_t *defaults)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)defaults, k, v)
    {
        if (json_object_get(options, k) == NULL)
            json_object_set(options, k, v);
    }
}

static json_t *
openai_to_ollama(enum endpoint ep, const json_t *req, const struct translate_params *p,
                 struct cerr *err)
{
    json_t *out = json_pack("{s:s, s:b}", "model", p->upstream_model, "stream", 1);
    json_t *options = json_object();
    if (ep == EP_CHAT) {
        json_t *msgs = openai_messages_to_ollama(json_object_get(req, "messages"), err);
        if (msgs == NULL)
            goto fail;
        json_object_set_new(out, "messages", msgs);
        json_t *tools = json_object_get(req, "tools");
        if (tools != NULL) {
            if (!json_is_array(tools)) {
                bad_field(err, "tools", "must be an array");
                goto fail;
            }
            json_object_set(out, "tools", tools);
        }
    } else {
        json_t *prompt = json_object_get(req, "prompt");
        if (json_is_array(prompt) && json_array_size(prompt) == 1)
            prompt = json_array_get(prompt, 0);
        if (!json_is_string(prompt)) {
            bad_field(err, "prompt", "must be a string");
            goto fail;
        }
        json_object_set(out, "prompt", prompt);
        if (jfield_str(req, "suffix") != NULL)
            json_object_set(out, "suffix", json_object_get(req, "suffix"));
    }
    for (size_t i = 0; i < N_OPTION_MAP; i++) {
        json_t *v = json_object_get(req, openai_option_map[i][0]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_number(v)) {
            bad_field(err, openai_option_map[i][0], "must be a number");
            goto fail;
        }
        json_object_set(options, openai_option_map[i][1], v);
    }
    json_t *stop = json_object_get(req, "stop");
    bool stop_ok = json_is_string(stop) || stop == NULL || json_is_null(stop);
    if (json_is_array(stop)) {
        size_t i;
        json_t *v;
        stop_ok = true;
        json_array_foreach(stop, i, v) stop_ok &= json_is_string(v);
    }
    if (json_is_string(stop))
        json_object_set_new(options, "stop", json_pack("[O]", stop));
    else if (json_is_array(stop) && stop_ok)
        json_object_set(options, "stop", stop);
    if (!stop_ok) {
        bad_field(err, "stop", "must be a string or an array of strings");
        goto fail;
    }
    json_t *rf = json_object_get(req, "response_format");
    const char *rft = jfield_str(rf, "type");
    if (rft != NULL && strcmp(rft, "json_object") == 0)
        json_object_set_new(out, "format", json_string("json"));
    else if (rft != NULL && strcmp(rft, "json_schema") == 0) {
        json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema)) {
            bad_field(err, "response_format.json_schema.schema", "must be a JSON Schema object");
            goto fail;
        }
        json_object_set(out, "format", schema);
    }
    const char *effort = jfield_str(req, "reasoning_effort");
    if (effort == NULL)
        effort = jfield_str(json_object_get(req, "reasoning"), "effort");
    if (effort != NULL)
        json_object_set_new(out, "think", strcmp(effort, "none") == 0 ? json_false()
                                                                      : json_string(effort));
    if (p->alias_options != NULL)
        merge_under(options, p->alias_options);
    if (p->num_ctx > 0 && json_object_get(options, "num_ctx") == NULL)
        json_object_set_new(options, "num_ctx", json_integer(p->num_ctx));
    json_object_set_new(out, "options", options);
    return out;
fail:
    json_decref(options);
    json_decref(out);
    return NULL;
}

/* Guess an image's type from its base64 magic so a data: URL is right. */
static const char *
image_mime(const char *b64)
{
    if (strncmp(b64, "/9j/", 4) == 0)
        return "image/jpeg";
    if (strncmp(b64, "R0lGOD", 6) == 0)
        return "image/gif";
    if (strncmp(b64, "UklGR", 5) == 0)
        return "image/webp";
    return "image/png";
}

static json_t *
ollama_messages_to_openai(struct xlate *ids, const json_t *messages, struct cerr *err)
{
    if (!json_is_array(messages)) {
        bad_field(err, "messages", "must be an array");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        char field[96];
        const char *role = jfield_str(m, "role");
        snprintf(field, sizeof field, "messages[%zu].role", i);
        if (role == NULL) {
            bad_field(err, field, "is missing (system, user, assistant or tool)");
            goto fail;
        }
        json_t *msg = json_pack("{s:s}", "role", role);
        json_array_append_new(out, msg);
        const char *content = jfield_str(m, "content");
        json_t *images = json_object_get(m, "images");
        if (json_is_array(images) && json_array_size(images) > 0) {
            json_t *parts = json_pack("[{s:s, s:s}]", "type", "text", "text", content ? content : "");
            size_t j;
            json_t *img;
            json_array_foreach(images, j, img)
            {
                if (!json_is_string(img)) {
                    snprintf(field, sizeof field, "messages[%zu].images[%zu]", i, j);
                    json_decref(parts);
                    bad_field(err, field, "must be a base64 string");
                    goto fail;
                }
                char *url = xasprintf("data:%s;base64,%s", image_mime(json_string_value(img)),
                                      json_string_value(img));
                json_array_append_new(parts, json_pack("{s:s, s:{s:s}}", "type", "image_url",
                                                       "image_url", "url", url));
                free(url);
            }
            json_object_set_new(msg, "content", parts);
        } else {
            json_object_set_new(msg, "content", json_string(content ? content : ""));
        }
        json_t *calls = json_object_get(m, "tool_calls");
        if (json_is_array(calls) && json_array_size(calls) > 0) {
            json_t *oc = json_array();
            size_t j;
            json_t *c;
            json_array_foreach(calls, j, c)
            {
                json_t *fn = json_object_get(c, "function");
                json_t *args = json_object_get(fn, "arguments");
                char *text = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("{}");
                char id[24];
                if (jfield_str(c, "id") != NULL)
                    snprintf(id, sizeof id, "%s", jfield_str(c, "id"));
                else
                    make_id(ids, id, sizeof id, "call_", 8);
                json_array_append_new(oc, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type",
                                                    "function", "function", "name",
                                                    jfield_str_or(fn, "name", ""),
                                                    "arguments", text));
                free(text);
            }
            json_object_set_new(msg, "tool_calls", oc);
        }
        if (strcmp(role, "tool") == 0) {
            const char *tcid = jfield_str(m, "tool_call_id");
            const char *tname = jfield_str(m, "tool_name");
            /* Old Ollama clients name the tool but not the call: answer
             * the first call to that tool, in the latest assistant turn,
             * that no earlier result has answered. */
            for (size_t k = json_array_size(out) - 1; tcid == NULL && tname != NULL && k-- > 0;) {
                json_t *pc = json_object_get(json_array_get(out, k), "tool_calls");
                if (json_array_size(pc) == 0)
                    continue;
                for (size_t j = 0; j < json_array_size(pc) && tcid == NULL; j++) {
                    json_t *c = json_array_get(pc, j);
                    const char *cid = jfield_str(c, "id");
                    if (strcmp(jfield_str(json_object_get(c, "function"), "name"), tname) != 0)
                        continue;
                    bool answered = false;
                    for (size_t a = k + 1; a + 1 < json_array_size(out); a++) {
                        const char *done = jfield_str(json_array_get(out, a), "tool_call_id");
                        answered |= done != NULL && strcmp(done, cid) == 0;
                    }
                    if (!answered)
                        tcid = cid;
                }
                break;
            }
            if (tcid == NULL) {
                snprintf(field, sizeof field, "messages[%zu].tool_call_id", i);
                bad_field(err, field, "is missing and no earlier tool call matches tool_name");
                goto fail;
            }
            json_object_set_new(msg, "tool_call_id", json_string(tcid));
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *
ollama_to_openai(enum endpoint ep, const json_t *req, const struct translate_params *p,
                 struct cerr *err)
{
    struct xlate ids = {.rng = (uint32_t)json_array_size(json_object_get(req, "messages")) * 2654435761u};
    json_t *out = json_pack("{s:s, s:b, s:{s:b}}", "model", p->upstream_model, "stream", 1,
                            "stream_options", "include_usage", 1);
    if (ep == EP_CHAT) {
        json_t *msgs = ollama_messages_to_openai(&ids, json_object_get(req, "messages"), err);
        if (msgs == NULL)
            goto fail;
        json_object_set_new(out, "messages", msgs);
        json_t *tools = json_object_get(req, "tools");
        if (json_is_array(tools))
            json_object_set(out, "tools", tools);
    } else {
        json_t *prompt = json_object_get(req, "prompt");
        if (!json_is_string(prompt)) {
            bad_field(err, "prompt", "must be a string");
            goto fail;
        }
        const char *system = jfield_str(req, "system");
        if (nonempty(system)) {
            char *joined = xasprintf("%s\n\n%s", system, json_string_value(prompt));
            json_object_set_new(out, "prompt", json_string(joined));
            free(joined);
        } else {
            json_object_set(out, "prompt", prompt);
        }
        if (jfield_str(req, "suffix") != NULL)
            json_object_set(out, "suffix", json_object_get(req, "suffix"));
    }
    json_t *options = json_deep_copy(json_object_get(req, "options"));
    if (options == NULL)
        options = json_object();
    if (!json_is_object(options)) {
        json_decref(options);
        bad_field(err, "options", "must be an object");
        goto fail;
    }
    if (p->alias_options != NULL)
        merge_under(options, p->alias_options);
    for (size_t i = 0; i < N_OPTION_MAP; i++) {
        if (strcmp(openai_option_map[i][0], "max_completion_tokens") == 0)
            continue;
        json_t *v = json_object_get(options, openai_option_map[i][1]);
        if (v != NULL && json_is_number(v))
            json_object_set(out, openai_option_map[i][0], v);
    }
    json_t *stop = json_object_get(options, "stop");
    if (json_is_array(stop) || json_is_string(stop))
        json_object_set(out, "stop", stop);
    json_decref(options);
    json_t *format = json_object_get(req, "format");
    if (json_is_string(format) && strcmp(json_string_value(format), "json") == 0) {
        /* LM Studio takes only json_schema; any object is what "json" means. */
        if (p->upstream_is_lmstudio)
            json_object_set_new(out, "response_format",
                                json_pack("{s:s, s:{s:s, s:{s:s}}}", "type", "json_schema",
                                          "json_schema", "name", "response", "schema", "type",
                                          "object"));
        else
            /* llama.cpp's server constrains json_object output only when
             * it carries a schema; OpenAI-compatible servers that do not
             * need one ignore it. */
            json_object_set_new(out, "response_format",
                                json_pack("{s:s, s:{s:s}}", "type", "json_object", "schema",
                                          "type", "object"));
    } else if (json_is_object(format)) {
        json_object_set_new(out, "response_format",
                            json_pack("{s:s, s:{s:s, s:O}}", "type", "json_schema", "json_schema",
                                      "name", "response", "schema", format));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *
embed_request(enum wire to, const json_t *req, const struct translate_params *p, struct cerr *err)
{
    json_t *input = json_object_get(req, "input");
    if (input == NULL)
        input = json_object_get(req, "prompt"); /* legacy /api/embeddings */
    if (!json_is_string(input) && !json_is_array(input)) {
        bad_field(err, "input", "must be a string or an array of strings");
        return NULL;
    }
    json_t *out = json_pack("{s:s, s:O}", "model", p->upstream_model, "input", input);
    json_t *dims = json_object_get(req, "dimensions");
    if (json_is_integer(dims))
        json_object_set(out, "dimensions", dims);
    if (to == WIRE_OPENAI) {
        json_object_set_new(out, "encoding_format", json_string("float"));
        return out;
    }
    /* Ollama's own fields pass on; options get the alias's and num_ctx
     * under the client's, as for chat. */
    static const char *const ollama_fields[] = {"truncate", "keep_alive"};
    for (size_t i = 0; i < sizeof ollama_fields / sizeof ollama_fields[0]; i++)
        if (json_object_get(req, ollama_fields[i]) != NULL)
            json_object_set(out, ollama_fields[i], json_object_get(req, ollama_fields[i]));
    json_t *options = json_is_object(json_object_get(req, "options"))
                          ? json_deep_copy(json_object_get(req, "options"))
                          : json_object();
    if (p->alias_options != NULL)
        merge_under(options, p->alias_options);
    if (p->num_ctx > 0 && json_object_get(options, "num_ctx") == NULL)
        json_object_set_new(options, "num_ctx", json_integer(p->num_ctx));
    json_object_set_new(out, "options", options);
    return out;
}

json_t *
translate_request(enum endpoint ep, enum wire from, enum wire to, const json_t *req,
                  const struct translate_params *p, struct cerr *err)
{
    if (!json_is_object(req)) {
        cerr_set(err, -EINVAL, 400, "invalid request: the body must be a JSON object");
        return NULL;
    }
    if (ep == EP_EMBED)
        return embed_request(to, req, p, err);
    if (from == WIRE_OPENAI && to == WIRE_OLLAMA)
        return openai_to_ollama(ep, req, p, err);
    if (from == WIRE_OLLAMA && to == WIRE_OPENAI)
        return ollama_to_openai(ep, req, p, err);
    /* Same dialect: pass on, changed only where we must.  A shallow copy:
     * the messages (the bulk of a long conversation) are shared, never
     * changed; only top-level fields and the options object are. */
    json_t *out = json_copy((json_t *)req);
    if (json_is_object(json_object_get(out, "options")))
        json_object_set_new(out, "options", json_deep_copy(json_object_get(out, "options")));
    if (json_is_object(json_object_get(out, "stream_options")))
        json_object_set_new(out, "stream_options",
                            json_deep_copy(json_object_get(out, "stream_options")));
    json_object_set_new(out, "model", json_string(p->upstream_model));
    json_object_set_new(out, "stream", json_true());
    if (to == WIRE_OPENAI) {
        json_t *so = json_object_get(out, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(out, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
        /* Alias options are Ollama names; those with an OpenAI field fill
         * it when the client left it unset. */
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)p->alias_options, k, v)
        {
            for (size_t i = 0; i < N_OPTION_MAP; i++) {
                const char *field = openai_option_map[i][0];
                bool client_limited = strcmp(field, "max_tokens") == 0 &&
                                      json_object_get(out, "max_completion_tokens") != NULL;
                if (strcmp(openai_option_map[i][1], k) == 0 &&
                    strcmp(field, "max_completion_tokens") != 0 && !client_limited &&
                    json_object_get(out, field) == NULL)
                    json_object_set(out, field, v);
            }
            if (strcmp(k, "stop") == 0 && json_object_get(out, "stop") == NULL)
                json_object_set(out, "stop", v);
        }
        return out;
    }
    json_t *options = json_object_get(out, "options");
    if (options == NULL) {
        options = json_object();
        json_object_set_new(out, "options", options);
    } else if (!json_is_object(options)) {
        json_decref(out);
        cerr_set(err, -EINVAL, 400, "invalid request: options must be an object");
        return NULL;
    }
    if (p->alias_options != NULL)
        merge_under(options, p->alias_options);
    if (p->num_ctx > 0 && json_object_get(options, "num_ctx") == NULL)
        json_object_set_new(options, "num_ctx", json_integer(p->num_ctx));
    return out;
}

/* ---------- same-dialect requests from their bytes ---------- */

/* Whether member I of O is the last with its key: jansson keeps the last
 * of duplicate keys, and so must a copy made from the bytes. */
static bool
last_of_its_key(const struct jscan_object *o, size_t i)
{
    const struct jscan_member *m = &o->m[i];
    for (size_t j = i + 1; j < o->n; j++)
        if (o->m[j].key_len == m->key_len && memcmp(o->m[j].key, m->key, m->key_len) == 0)
            return false;
    return true;
}

static bool
named(const struct jscan_member *m, const char *key)
{
    size_t n = strlen(key);
    return m->key_len == n && memcmp(m->key, key, n) == 0;
}

/* A "," unless this is the first member written since *FIRST was set. */
static void
add_separator(struct sbuf *out, bool *first)
{
    if (!*first)
        sbuf_add(out, ",", 1);
    *first = false;
}

/* O's members as they came, each key once, but those named in LEAVE_OUT
 * (NULL-terminated).  Keys jscan vouched for have no escapes. */
static void
add_scanned_members(struct sbuf *out, const struct jscan_object *o, const char *const *leave_out,
                    bool *first)
{
    for (size_t i = 0; i < o->n; i++) {
        const struct jscan_member *m = &o->m[i];
        bool left_out = !last_of_its_key(o, i);
        for (size_t k = 0; !left_out && leave_out[k] != NULL; k++)
            left_out = named(m, leave_out[k]);
        if (left_out)
            continue;
        add_separator(out, first);
        sbuf_add(out, "\"", 1);
        sbuf_add(out, m->key, m->key_len);
        sbuf_add(out, "\":", 2);
        sbuf_add(out, m->value, m->value_len);
    }
}

static void
add_json_member(struct sbuf *out, const char *key, const json_t *value, bool *first)
{
    add_separator(out, first);
    sbuf_add_json_string(out, key, strlen(key));
    sbuf_add(out, ":", 1);
    sbuf_add_json(out, value);
}

/* The members of the object under TOP's member KEY into INNER (none when
 * KEY is absent); false when KEY is not an object or jscan declines it. */
static bool
scan_member_object(const struct jscan_object *top, const char *key, struct jscan_object *inner)
{
    const struct jscan_member *m = jscan_get(top, key);
    inner->n = 0;
    return m == NULL || (jscan_is_object(m) && jscan_object(m->value, m->value_len, inner));
}

/* The start of a same-dialect body: "{", the client's members but those
 * named in REPLACED, then model and stream, and the opening of the object
 * named REBUILT, which the caller fills and closes. */
static void
begin_request_bytes(struct sbuf *out, const struct jscan_object *top, const char *const *replaced,
                    const struct translate_params *p, const char *rebuilt)
{
    bool first = true;
    sbuf_add(out, "{", 1);
    add_scanned_members(out, top, replaced, &first);
    add_separator(out, &first);
    sbuf_adds(out, "\"model\":");
    sbuf_add_json_string(out, p->upstream_model, strlen(p->upstream_model));
    sbuf_adds(out, ",\"stream\":true,\"");
    sbuf_adds(out, rebuilt);
    sbuf_adds(out, "\":{");
}

static bool
ollama_request_bytes(const struct jscan_object *top, const struct translate_params *p,
                     struct sbuf *out)
{
    static const char *const replaced[] = {"model", "stream", "options", NULL};
    static const char *const none[] = {NULL};
    struct jscan_object options;
    /* Options that are not an object: translate_request says so. */
    if (!scan_member_object(top, "options", &options))
        return false;
    begin_request_bytes(out, top, replaced, p, "options");
    /* The client's options, the alias's under them, then num_ctx. */
    bool first_option = true, has_num_ctx = jscan_get(&options, "num_ctx") != NULL;
    add_scanned_members(out, &options, none, &first_option);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p->alias_options, k, v)
    {
        if (jscan_get(&options, k) != NULL)
            continue;
        add_json_member(out, k, v, &first_option);
        has_num_ctx = has_num_ctx || strcmp(k, "num_ctx") == 0;
    }
    if (p->num_ctx > 0 && !has_num_ctx) {
        add_separator(out, &first_option);
        sbuf_adds(out, "\"num_ctx\":");
        sbuf_add_int(out, p->num_ctx);
    }
    sbuf_add(out, "}}", 2);
    return true;
}

static bool
openai_request_bytes(const struct jscan_object *top, const struct translate_params *p,
                     struct sbuf *out)
{
    static const char *const replaced[] = {"model", "stream", "stream_options", NULL};
    static const char *const usage[] = {"include_usage", NULL};
    struct jscan_object so;
    /* stream_options that are not an object are replaced, as in
     * translate_request; an object jscan declines is left to it. */
    if (!scan_member_object(top, "stream_options", &so)) {
        if (jscan_is_object(jscan_get(top, "stream_options")))
            return false;
        so.n = 0;
    }
    begin_request_bytes(out, top, replaced, p, "stream_options");
    bool first_so = true;
    add_scanned_members(out, &so, usage, &first_so);
    add_separator(out, &first_so);
    sbuf_adds(out, "\"include_usage\":true}");
    /* Alias options fill the OpenAI fields the client left unset.  No
     * field is filled twice: each is named by one Ollama option (and
     * max_completion_tokens by none). */
    bool client_limited = jscan_get(top, "max_completion_tokens") != NULL, first = false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p->alias_options, k, v)
    {
        for (size_t i = 0; i <= N_OPTION_MAP; i++) {
            const char *field = i < N_OPTION_MAP ? openai_option_map[i][0] : "stop";
            const char *option = i < N_OPTION_MAP ? openai_option_map[i][1] : "stop";
            if (strcmp(option, k) != 0 || strcmp(field, "max_completion_tokens") == 0 ||
                (strcmp(field, "max_tokens") == 0 && client_limited) ||
                jscan_get(top, field) != NULL)
                continue;
            add_json_member(out, field, v, &first);
        }
    }
    sbuf_add(out, "}", 1);
    return true;
}

bool
translate_request_bytes(enum endpoint ep, enum wire dialect, const struct jscan_object *top,
                        const struct translate_params *p, struct sbuf *out)
{
    if (ep != EP_CHAT && ep != EP_GENERATE)
        return false;
    size_t start = out->len;
    bool done = dialect == WIRE_OLLAMA ? ollama_request_bytes(top, p, out)
                                       : openai_request_bytes(top, p, out);
    if (!done && out->s != NULL) {
        out->len = start;
        out->s[start] = '\0';
    }
    return done;
}

/* ---------- responses ---------- */

struct xlate *
xlate_new(const struct xlate_params *p)
{
    struct xlate *x = xcalloc(1, sizeof *x);
    x->p = *p;
    x->model = xstrdup(p->model);
    x->p.model = x->model;
    x->rng = p->seed ? p->seed : 1;
    x->prompt_tokens = x->completion_tokens = -1;
    make_id(x, x->id, sizeof x->id, p->ep == EP_CHAT ? "chatcmpl-" : "cmpl-", 24);
    x->tool_calls_openai = json_array();
    return x;
}

void
xlate_free(struct xlate *x)
{
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->n_tools; i++) {
        free(x->tools[i].id);
        free(x->tools[i].name);
        sbuf_free(&x->tools[i].args);
    }
    free(x->tools);
    sbuf_free(&x->frame);
    sbuf_free(&x->content);
    sbuf_free(&x->thinking);
    sbuf_free(&x->raw);
    sbuf_free(&x->think_pending);
    sbuf_free(&x->event_head);
    sbuf_free(&x->like_text);
    json_decref(x->tool_calls_openai);
    json_decref(x->ollama_final);
    json_decref(x->embed);
    free(x->model);
    free(x);
}

uint64_t
xlate_first_token_ns(const struct xlate *x)
{
    return x->first_token_seen ? x->first_token_ns : 0;
}

void
xlate_usage(const struct xlate *x, long *prompt_tokens, long *completion_tokens)
{
    *prompt_tokens = x->prompt_tokens;
    *completion_tokens = x->completion_tokens;
}

static void
emit_sse(struct sbuf *out, json_t *obj)
{
    sbuf_adds(out, "data: ");
    sbuf_add_json(out, obj);
    sbuf_adds(out, "\n\n");
    json_decref(obj);
}

static void
emit_line(struct sbuf *out, json_t *obj)
{
    sbuf_add_json(out, obj);
    sbuf_adds(out, "\n");
    json_decref(obj);
}

/* An OpenAI stream chunk with one choice carrying DELTA (stolen). */
static json_t *
openai_chunk(struct xlate *x, json_t *delta, const char *finish)
{
    json_t *choice;
    if (x->p.ep == EP_CHAT) {
        choice = json_pack("{s:i, s:o, s:n}", "index", 0, "delta", delta, "finish_reason");
    } else {
        const char *text = jfield_str(delta, "content");
        choice = json_pack("{s:i, s:s, s:n, s:n}", "index", 0, "text", text ? text : "",
                           "logprobs", "finish_reason");
        json_decref(delta);
    }
    if (finish != NULL)
        json_object_set_new(choice, "finish_reason", json_string(finish));
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", x->id, "object",
                     x->p.ep == EP_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)(x->p.wall_start_ns / 1000000000), "model", x->model, "choices", choice);
}

/* The counts an OpenAI client is told: unknown ones as 0. */
static void
openai_usage_counts(const struct xlate *x, long *prompt, long *completion)
{
    *prompt = x->prompt_tokens < 0 ? 0 : x->prompt_tokens;
    *completion = x->completion_tokens < 0 ? 0 : x->completion_tokens;
}

static json_t *
openai_usage(const struct xlate *x)
{
    long p, c;
    openai_usage_counts(x, &p, &c);
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)p, "completion_tokens",
                     (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

static void
note_token(struct xlate *x, uint64_t now_ns)
{
    if (!x->first_token_seen) {
        x->first_token_seen = true;
        x->first_token_ns = now_ns;
    }
}

/* Add one whole tool call (Ollama shape) to the client's output. */
static void
add_whole_tool_call(struct xlate *x, const json_t *call, struct sbuf *out)
{
    json_t *fn = json_object_get(call, "function");
    json_t *args = json_object_get(fn, "arguments");
    char *text = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("{}");
    char id[24];
    if (jfield_str(call, "id") != NULL)
        snprintf(id, sizeof id, "%s", jfield_str(call, "id"));
    else
        make_id(x, id, sizeof id, "call_", 8);
    size_t index = json_array_size(x->tool_calls_openai);
    json_t *oc = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function",
                           "name", jfield_str_or(fn, "name", ""), "arguments", text);
    free(text);
    x->any_tool_calls = true;
    if (x->p.client_stream) {
        json_t *delta_call = json_deep_copy(oc);
        json_object_set_new(delta_call, "index", json_integer((json_int_t)index));
        emit_sse(out, openai_chunk(x, json_pack("{s:[o]}", "tool_calls", delta_call), NULL));
    }
    json_array_append_new(x->tool_calls_openai, oc);
}

static const char *
openai_finish_from_ollama(const struct xlate *x, const char *done_reason)
{
    if (done_reason != NULL && strcmp(done_reason, "length") == 0)
        return "length";
    return x->any_tool_calls ? "tool_calls" : "stop";
}

/* Start an OpenAI stream event the way openai_chunk and emit_sse would,
 * up to and including the "[" of its choices: the events of a streamed
 * answer are written by hand, as building each through jansson was most
 * of what translating a stream cost. */
static void
openai_event_begin(struct xlate *x, struct sbuf *out)
{
    struct sbuf *h = &x->event_head;
    if (h->len == 0) {
        sbuf_adds(h, "data: {\"id\":");
        sbuf_add_json_string(h, x->id, strlen(x->id));
        sbuf_adds(h, x->p.ep == EP_CHAT ? ",\"object\":\"chat.completion.chunk\",\"created\":"
                                        : ",\"object\":\"text_completion\",\"created\":");
        sbuf_add_int(h, x->p.wall_start_ns / 1000000000);
        sbuf_adds(h, ",\"model\":");
        sbuf_add_json_string(h, x->model, strlen(x->model));
        sbuf_adds(h, ",\"choices\":[");
    }
    sbuf_add(out, h->s, h->len);
}

/* A streamed chat answer opens with the assistant's role, once. */
static void
openai_role_chunk(struct xlate *x, struct sbuf *out)
{
    if (!x->p.client_stream || x->role_sent || x->p.ep != EP_CHAT)
        return;
    x->role_sent = true;
    openai_event_begin(x, out);
    sbuf_adds(out, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"finish_reason\":null}]}\n\n");
}

/* The end of an Ollama answer for an OpenAI client: the finish reason,
 * and for a stream the finish chunk, usage if asked and [DONE].  Usage
 * must be recorded before. */
static void
openai_finish_chunks(struct xlate *x, const char *done_reason, struct sbuf *out)
{
    text_copy(x->finish, sizeof x->finish, openai_finish_from_ollama(x, done_reason));
    if (!x->p.client_stream)
        return;
    openai_event_begin(x, out);
    sbuf_adds(out, x->p.ep == EP_CHAT ? "{\"index\":0,\"delta\":{},\"finish_reason\":"
                                      : "{\"index\":0,\"text\":\"\",\"logprobs\":null,"
                                        "\"finish_reason\":");
    sbuf_add_json_string(out, x->finish, strlen(x->finish));
    sbuf_adds(out, "}]}\n\n");
    if (x->p.include_usage) {
        /* The usage event: no choices, then the counts. */
        long p, c;
        openai_usage_counts(x, &p, &c);
        openai_event_begin(x, out);
        sbuf_adds(out, "],\"usage\":{\"prompt_tokens\":");
        sbuf_add_int(out, p);
        sbuf_adds(out, ",\"completion_tokens\":");
        sbuf_add_int(out, c);
        sbuf_adds(out, ",\"total_tokens\":");
        sbuf_add_int(out, p + c);
        sbuf_adds(out, "}}\n\n");
    }
    sbuf_adds(out, "data: [DONE]\n\n");
}

/* One NDJSON object from Ollama, for an OpenAI client. */
static enum xlate_status
ollama_obj_to_openai(struct xlate *x, json_t *obj, uint64_t now_ns, struct sbuf *out,
                     struct cerr *err)
{
    const json_t *msg = x->p.ep == EP_CHAT ? json_object_get(obj, "message") : obj;
    const char *content = jfield_str(msg, x->p.ep == EP_CHAT ? "content" : "response");
    const char *thinking = jfield_str(msg, "thinking");
    json_t *calls = json_object_get(msg, "tool_calls");
    (void)err;
    openai_role_chunk(x, out);
    if (nonempty(thinking)) {
        note_token(x, now_ns);
        if (!x->p.client_stream)
            sbuf_adds(&x->thinking, thinking);
        if (x->p.client_stream && x->p.ep == EP_CHAT)
            emit_sse(out, openai_chunk(x, json_pack("{s:s}", "reasoning_content", thinking), NULL));
    }
    if (nonempty(content)) {
        note_token(x, now_ns);
        if (!x->p.client_stream)
            sbuf_adds(&x->content, content);
        if (x->p.client_stream)
            emit_sse(out, openai_chunk(x, json_pack("{s:s}", "content", content), NULL));
    }
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        note_token(x, now_ns);
        add_whole_tool_call(x, c, out);
    }
    if (!json_is_true(json_object_get(obj, "done")))
        return XLATE_MORE;
    x->prompt_tokens = (long)json_integer_value(json_object_get(obj, "prompt_eval_count"));
    x->completion_tokens = (long)json_integer_value(json_object_get(obj, "eval_count"));
    openai_finish_chunks(x, jfield_str(obj, "done_reason"), out);
    return XLATE_END;
}

static struct tool_acc *
tool_slot(struct xlate *x, size_t index)
{
    if (index >= XLATE_MAX_TOOL_CALLS)
        return NULL;
    if (index >= x->tools_cap) {
        size_t cap = x->tools_cap ? x->tools_cap * 2 : 4;
        while (cap <= index)
            cap *= 2;
        x->tools = xrealloc(x->tools, cap * sizeof x->tools[0]);
        x->tools_cap = cap;
    }
    while (x->n_tools <= index) {
        memset(&x->tools[x->n_tools], 0, sizeof x->tools[0]);
        x->n_tools++;
    }
    return &x->tools[index];
}

/* The prompt's and the answer's durations for an Ollama final object:
 * the server's own when it gave them, else the daemon's clock (the time
 * to the first token, and the rest). */
static void
ollama_durations(const struct xlate *x, uint64_t now_ns, uint64_t *total, uint64_t *prompt,
                 uint64_t *eval)
{
    *total = now_ns - x->p.start_ns;
    uint64_t first = x->first_token_seen ? x->first_token_ns - x->p.start_ns : *total;
    *prompt = x->server_prompt_ns > 0 ? x->server_prompt_ns : first;
    *eval = x->server_eval_ns > 0 ? x->server_eval_ns : *total - first;
}

/* An OpenAI-compatible frame's "timings" (llama.cpp's server, in ms). */
static void
note_server_timings(struct xlate *x, const json_t *timings)
{
    double prompt_ms = json_number_value(json_object_get(timings, "prompt_ms"));
    double eval_ms = json_number_value(json_object_get(timings, "predicted_ms"));
    if (prompt_ms > 0 && prompt_ms < 1e12)
        x->server_prompt_ns = (uint64_t)(prompt_ms * 1e6);
    if (eval_ms > 0 && eval_ms < 1e12)
        x->server_eval_ns = (uint64_t)(eval_ms * 1e6);
}

static void
ollama_timing_fields(struct xlate *x, json_t *obj, uint64_t now_ns)
{
    uint64_t total, prompt, eval;
    ollama_durations(x, now_ns, &total, &prompt, &eval);
    json_object_set_new(obj, "total_duration", json_integer((json_int_t)total));
    if (x->prompt_tokens > 0) {
        json_object_set_new(obj, "prompt_eval_count", json_integer(x->prompt_tokens));
        json_object_set_new(obj, "prompt_eval_duration", json_integer((json_int_t)prompt));
    }
    if (x->completion_tokens > 0) {
        json_object_set_new(obj, "eval_count", json_integer(x->completion_tokens));
        json_object_set_new(obj, "eval_duration", json_integer((json_int_t)eval));
    }
}

static json_t *
ollama_tool_calls(struct xlate *x)
{
    json_t *calls = json_array();
    for (size_t i = 0; i < x->n_tools; i++) {
        struct tool_acc *t = &x->tools[i];
        json_t *args = t->args.s ? json_loads(t->args.s, 0, NULL) : json_object();
        if (args == NULL) /* cut off by max_tokens: pass the text on as is */
            args = json_string(t->args.s);
        char id[24];
        if (t->id == NULL)
            make_id(x, id, sizeof id, "call_", 8);
        json_array_append_new(calls, json_pack("{s:s, s:{s:I, s:s, s:o}}", "id",
                                               t->id ? t->id : id, "function", "index",
                                               (json_int_t)i, "name", t->name ? t->name : "",
                                               "arguments", args));
    }
    return calls;
}

static json_t *
ollama_base(struct xlate *x, uint64_t now_ns)
{
    char when[48];
    created_at(x, now_ns, when, sizeof when);
    return json_pack("{s:s, s:s}", "model", x->model, "created_at", when);
}

/* The Ollama final object for an answer that came from an OpenAI server. */
static json_t *
ollama_final(struct xlate *x, uint64_t now_ns, bool aggregate)
{
    json_t *obj = ollama_base(x, now_ns);
    if (x->p.ep == EP_CHAT) {
        json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content",
                                aggregate && x->content.s ? x->content.s : "");
        if (aggregate && x->thinking.len > 0)
            json_object_set_new(msg, "thinking", json_string(x->thinking.s));
        if (aggregate && x->n_tools > 0)
            json_object_set_new(msg, "tool_calls", ollama_tool_calls(x));
        json_object_set_new(obj, "message", msg);
    } else {
        json_object_set_new(obj, "response",
                            json_string(aggregate && x->content.s ? x->content.s : ""));
        if (aggregate && x->thinking.len > 0)
            json_object_set_new(obj, "thinking", json_string(x->thinking.s));
    }
    json_object_set_new(obj, "done", json_true());
    json_object_set_new(obj, "done_reason",
                        json_string(strcmp(x->finish, "length") == 0 ? "length" : "stop"));
    ollama_timing_fields(x, obj, now_ns);
    return obj;
}

/* ollama_final(X, NOW_NS, false) as one NDJSON line into OUT, written by
 * hand: building and writing it through jansson cost a tenth of what
 * translating a whole answer from an OpenAI server did. */
static void
ollama_final_line(struct xlate *x, uint64_t now_ns, struct sbuf *out)
{
    char when[48];
    created_at(x, now_ns, when, sizeof when);
    uint64_t total, prompt, eval;
    ollama_durations(x, now_ns, &total, &prompt, &eval);
    sbuf_adds(out, "{\"model\":");
    sbuf_add_json_string(out, x->model, strlen(x->model));
    sbuf_adds(out, ",\"created_at\":\"");
    sbuf_adds(out, when);
    sbuf_adds(out, x->p.ep == EP_CHAT ? "\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}"
                                      : "\",\"response\":\"\"");
    sbuf_adds(out, strcmp(x->finish, "length") == 0 ? ",\"done\":true,\"done_reason\":\"length\""
                                                    : ",\"done\":true,\"done_reason\":\"stop\"");
    sbuf_adds(out, ",\"total_duration\":");
    sbuf_add_int(out, (int64_t)total);
    if (x->prompt_tokens > 0) {
        sbuf_adds(out, ",\"prompt_eval_count\":");
        sbuf_add_int(out, x->prompt_tokens);
        sbuf_adds(out, ",\"prompt_eval_duration\":");
        sbuf_add_int(out, (int64_t)prompt);
    }
    if (x->completion_tokens > 0) {
        sbuf_adds(out, ",\"eval_count\":");
        sbuf_add_int(out, x->completion_tokens);
        sbuf_adds(out, ",\"eval_duration\":");
        sbuf_add_int(out, (int64_t)eval);
    }
    sbuf_adds(out, "}\n");
}

/*
 * Route CONTENT (may be NULL) through the <think> filter: reasoning a
 * server left inline goes to THINK_OUT, the rest to TEXT_OUT.  Tags may
 * be split across deltas, so undecided bytes wait in think_pending until
 * FINAL.
 */
static void
think_split(struct xlate *x, const char *content, bool final, struct sbuf *text_out,
            struct sbuf *think_out)
{
    static const char open_tag[] = "<think>", close_tag[] = "</think>";
    if (x->reasoning_field_seen)
        x->think_state = 2;
    if (content != NULL)
        sbuf_adds(&x->think_pending, content);
    struct sbuf *p = &x->think_pending;
    for (;;) {
        if (p->len == 0)
            return;
        if (x->think_state == 0) {
            size_t lead = strspn(p->s, " \t\r\n");
            const char *rest = p->s + lead;
            size_t rl = p->len - lead;
            if (rl >= sizeof open_tag - 1 && strncmp(rest, open_tag, sizeof open_tag - 1) == 0) {
                x->think_state = 1;
                size_t skip = lead + sizeof open_tag - 1;
                memmove(p->s, p->s + skip, p->len - skip + 1);
                p->len -= skip;
                continue;
            }
            if (!final && rl < sizeof open_tag - 1 && strncmp(rest, open_tag, rl) == 0)
                return; /* may still become <think> */
            x->think_state = 2;
            continue;
        }
        if (x->think_state == 2) {
            sbuf_add(text_out, p->s, p->len);
            sbuf_reset(p);
            return;
        }
        char *end = strstr(p->s, close_tag);
        if (end == NULL) {
            /* Keep a possible partial close tag back. */
            size_t keep = final ? 0 : sizeof close_tag - 2;
            if (p->len <= keep)
                return;
            size_t n = p->len - keep;
            sbuf_add(think_out, p->s, n);
            memmove(p->s, p->s + n, p->len - n + 1);
            p->len -= n;
            return;
        }
        sbuf_add(think_out, p->s, (size_t)(end - p->s));
        size_t skip = (size_t)(end - p->s) + sizeof close_tag - 1;
        skip += strspn(p->s + skip, "\r\n");
        memmove(p->s, p->s + skip, p->len - skip + 1);
        p->len -= skip;
        x->think_state = 2;
    }
}

/* One SSE data payload from an OpenAI server, for an Ollama client. */
static enum xlate_status
openai_event_to_ollama(struct xlate *x, json_t *obj, uint64_t now_ns, struct sbuf *out)
{
    json_t *usage = json_object_get(obj, "usage");
    if (json_is_object(usage)) {
        x->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        x->completion_tokens = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
    }
    note_server_timings(x, json_object_get(obj, "timings"));
    json_t *choice = json_array_get(json_object_get(obj, "choices"), 0);
    if (choice == NULL)
        return XLATE_MORE;
    json_t *delta = x->p.ep == EP_CHAT ? json_object_get(choice, "delta") : choice;
    const char *raw_content = jfield_str(delta, x->p.ep == EP_CHAT ? "content" : "text");
    const char *reasoning = jfield_str(delta, "reasoning_content");
    if (reasoning == NULL)
        reasoning = jfield_str(delta, "reasoning");
    if (nonempty(reasoning))
        x->reasoning_field_seen = true;
    struct sbuf text = {0}, think = {0};
    think_split(x, raw_content, false, &text, &think);
    if (nonempty(reasoning))
        sbuf_adds(&think, reasoning);
    const char *content = text.len ? text.s : NULL;
    const char *thinking = think.len ? think.s : NULL;
    const char *finish = jfield_str(choice, "finish_reason");
    if (finish != NULL)
        snprintf(x->finish, sizeof x->finish, "%s", finish);
    if (nonempty(content) || nonempty(thinking)) {
        note_token(x, now_ns);
        /* Streamed answers go out as they come; only a JSON answer is
         * gathered here. */
        if (nonempty(content) && !x->p.client_stream)
            sbuf_adds(&x->content, content);
        if (nonempty(thinking) && !x->p.client_stream)
            sbuf_adds(&x->thinking, thinking);
        if (x->p.client_stream) {
            json_t *o = ollama_base(x, now_ns);
            if (x->p.ep == EP_CHAT) {
                json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content",
                                        content ? content : "");
                if (nonempty(thinking))
                    json_object_set_new(msg, "thinking", json_string(thinking));
                json_object_set_new(o, "message", msg);
            } else {
                json_object_set_new(o, "response", json_string(content ? content : ""));
                if (nonempty(thinking))
                    json_object_set_new(o, "thinking", json_string(thinking));
            }
            json_object_set_new(o, "done", json_false());
            emit_line(out, o);
        }
    }
    size_t i;
    json_t *frag;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, frag)
    {
        json_t *idx = json_object_get(frag, "index");
        struct tool_acc *t = tool_slot(x, json_is_integer(idx) ? (size_t)json_integer_value(idx) : i);
        if (t == NULL)
            continue;
        note_token(x, now_ns);
        json_t *fn = json_object_get(frag, "function");
        if (jfield_str(frag, "id") != NULL && t->id == NULL)
            t->id = xstrdup(jfield_str(frag, "id"));
        if (jfield_str(fn, "name") != NULL && t->name == NULL)
            t->name = xstrdup(jfield_str(fn, "name"));
        if (jfield_str(fn, "arguments") != NULL)
            sbuf_adds(&t->args, jfield_str(fn, "arguments"));
    }
    sbuf_free(&text);
    sbuf_free(&think);
    return XLATE_MORE;
}

/* [DONE] from an OpenAI server: flush the <think> filter; for a streaming
 * Ollama client, also send the tool calls and the final object. */
static void
openai_done_to_ollama(struct xlate *x, uint64_t now_ns, struct sbuf *out)
{
    /* Whatever the <think> filter still holds is said now. */
    struct sbuf text = {0}, think = {0};
    think_split(x, NULL, true, &text, &think);
    if (!x->p.client_stream) {
        sbuf_add(&x->content, text.s ? text.s : "", text.len);
        sbuf_add(&x->thinking, think.s ? think.s : "", think.len);
    } else if (text.len > 0 || think.len > 0) {
        json_t *o = ollama_base(x, now_ns);
        json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content",
                                text.s ? text.s : "");
        if (think.len > 0)
            json_object_set_new(msg, "thinking", json_string(think.s));
        if (x->p.ep == EP_CHAT) {
            json_object_set_new(o, "message", msg);
        } else {
            json_object_set(o, "response", json_object_get(msg, "content"));
            json_decref(msg);
        }
        json_object_set_new(o, "done", json_false());
        emit_line(out, o);
    }
    sbuf_free(&text);
    sbuf_free(&think);
    if (!x->p.client_stream)
        return; /* the aggregate goes out in xlate_end */
    if (x->n_tools > 0 && x->p.ep == EP_CHAT) {
        json_t *o = ollama_base(x, now_ns);
        json_object_set_new(o, "message",
                            json_pack("{s:s, s:s, s:o}", "role", "assistant", "content", "",
                                      "tool_calls", ollama_tool_calls(x)));
        json_object_set_new(o, "done", json_false());
        emit_line(out, o);
    }
    ollama_final_line(x, now_ns, out);
}

/* The fields whose text, in either dialect, is part of the answer. */
static const char *const token_fields[] = {"content",           "response",  "text", "thinking",
                                           "reasoning_content", "reasoning"};

/* Whether a frame passed through unchanged carries part of the answer,
 * for the time to first token. */
static bool
frame_has_token(const struct xlate *x, json_t *obj)
{
    json_t *m;
    if (x->p.upstream == WIRE_OLLAMA)
        m = x->p.ep == EP_CHAT ? json_object_get(obj, "message") : obj;
    else
        m = x->p.ep == EP_CHAT ? json_object_get(json_array_get(json_object_get(obj, "choices"), 0),
                                                 "delta")
                               : json_array_get(json_object_get(obj, "choices"), 0);
    for (size_t i = 0; i < sizeof token_fields / sizeof token_fields[0]; i++)
        if (nonempty(jfield_str(m, token_fields[i])))
            return true;
    return json_array_size(json_object_get(m, "tool_calls")) > 0;
}

/* Record usage from a frame passed through unchanged. */
static void
note_passthrough_usage(struct xlate *x, json_t *obj)
{
    if (x->p.upstream == WIRE_OLLAMA) {
        if (json_is_true(json_object_get(obj, "done"))) {
            x->prompt_tokens = (long)json_integer_value(json_object_get(obj, "prompt_eval_count"));
            x->completion_tokens = (long)json_integer_value(json_object_get(obj, "eval_count"));
        }
        return;
    }
    json_t *usage = json_object_get(obj, "usage");
    if (json_is_object(usage)) {
        x->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        x->completion_tokens = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
    }
}

/* The counts in an Ollama done frame jscan vouched for. */
static void
scanned_ollama_usage(struct xlate *x, const struct jscan_object *o)
{
    x->prompt_tokens = (long)jscan_integer(jscan_get(o, "prompt_eval_count"));
    x->completion_tokens = (long)jscan_integer(jscan_get(o, "eval_count"));
}

/* An Ollama frame O that is plain text (no thinking, no tool calls), for
 * a streaming OpenAI client, straight from the bytes: the role first, the
 * text's JSON string as it came, and at the end the finish chunks.  M is
 * where its text is (see fast_frame).  False, with nothing written, when
 * the frame needs the full translation. */
static bool
fast_ollama_to_openai(struct xlate *x, const struct jscan_object *o, const struct jscan_object *m,
                      uint64_t now_ns, struct sbuf *out, enum xlate_status *st)
{
    if (m == NULL)
        return false;
    const struct jscan_member *text = jscan_get(m, x->p.ep == EP_CHAT ? "content" : "response");
    const struct jscan_member *thinking = jscan_get(m, "thinking");
    const struct jscan_member *calls = jscan_get(m, "tool_calls");
    if ((text != NULL && !jscan_is_string(text)) ||
        (thinking != NULL && !jscan_is_empty_string(thinking)) ||
        (calls != NULL && !jscan_is_null(calls)))
        return false;
    bool done = jscan_is_true(jscan_get(o, "done"));
    const struct jscan_member *reason = jscan_get(o, "done_reason");
    bool length = false;
    if (done && reason != NULL && jscan_is_string(reason)) {
        /* Escapes would need decoding to compare: rare, so declined. */
        if (memchr(reason->value, '\\', reason->value_len) != NULL)
            return false;
        length = reason->value_len == 8 && memcmp(reason->value, "\"length\"", 8) == 0;
    }
    openai_role_chunk(x, out);
    if (text != NULL && !jscan_is_empty_string(text)) {
        note_token(x, now_ns);
        /* The upstream's JSON string goes in as it came. */
        openai_event_begin(x, out);
        if (x->p.ep == EP_CHAT) {
            sbuf_adds(out, "{\"index\":0,\"delta\":{\"content\":");
            sbuf_add(out, text->value, text->value_len);
            sbuf_adds(out, "},\"finish_reason\":null}]}\n\n");
        } else {
            sbuf_adds(out, "{\"index\":0,\"text\":");
            sbuf_add(out, text->value, text->value_len);
            sbuf_adds(out, ",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        }
    }
    if (!done)
        return true;
    scanned_ollama_usage(x, o);
    openai_finish_chunks(x, length ? "length" : NULL, out);
    *st = XLATE_END;
    return true;
}

/* frame_has_token for the message (or generate frame) M of an Ollama
 * frame jscan vouched for. */
static bool
ollama_scanned_has_token(const struct jscan_object *m)
{
    for (size_t i = 0; i < sizeof token_fields / sizeof token_fields[0]; i++) {
        const struct jscan_member *f = jscan_get(m, token_fields[i]);
        if (jscan_is_string(f) && !jscan_is_empty_string(f))
            return true;
    }
    const struct jscan_member *calls = jscan_get(m, "tool_calls");
    return jscan_is_array(calls) && !jscan_is_empty_array(calls);
}

/* An Ollama frame O passed on to an Ollama client as it came: only the
 * first token's time (from M, where its text is) and the final counts
 * are read from it.  False when a token is still awaited and M is NULL:
 * jansson then reads it, so the first token's time is never missed. */
static bool
fast_ollama_passthrough(struct xlate *x, const struct jscan_object *o,
                        const struct jscan_object *m, const char *raw, size_t rawlen,
                        uint64_t now_ns, struct sbuf *out, enum xlate_status *st)
{
    if (!x->first_token_seen) {
        if (m == NULL)
            return false;
        if (ollama_scanned_has_token(m))
            note_token(x, now_ns);
    }
    sbuf_add(out, raw, rawlen);
    if (jscan_is_true(jscan_get(o, "done"))) {
        scanned_ollama_usage(x, o);
        *st = XLATE_END;
    }
    return true;
}

/* Whether the string member M, which jscan vouched for, has text: not
 * "" (as nonempty() tells of its decoded value). */
static bool
scanned_text(const struct jscan_member *m)
{
    return jscan_is_string(m) && !jscan_is_empty_string(m);
}

/* The usage counts of an OpenAI frame's "usage" member U, when it is an
 * object jscan vouches for (as openai_event_to_ollama and
 * note_passthrough_usage read them).  False when it is an object jscan
 * declines, which the full parse then reads. */
static bool
scanned_openai_usage(struct xlate *x, const struct jscan_member *u)
{
    if (!jscan_is_object(u))
        return true; /* none, or not an object: no counts, as in jansson */
    struct jscan_object uo;
    if (!jscan_object(u->value, u->value_len, &uo))
        return false;
    x->prompt_tokens = (long)jscan_integer(jscan_get(&uo, "prompt_tokens"));
    x->completion_tokens = (long)jscan_integer(jscan_get(&uo, "completion_tokens"));
    return true;
}

/* A plain-text delta of an OpenAI frame for a streaming Ollama client,
 * from the bytes: TEXT (a string member, or NULL for none) goes out as
 * the upstream escaped it, in the line openai_event_to_ollama would
 * build.  False, with nothing done, when the <think> filter has more to
 * do than pass it on: the full translation then reads it.  Undecided,
 * the filter settles on plain content at the first text that does not
 * begin, after white space, with "<"; such a text, without escapes, is
 * taken here and settles it the same way. */
static bool
fast_openai_text_to_ollama(struct xlate *x, const struct jscan_member *text, uint64_t now_ns,
                           struct sbuf *out)
{
    if (!scanned_text(text))
        return true; /* nothing to say, and nothing for the filter */
    if (x->think_state == 1)
        return false; /* inside <think>: the filter splits it */
    if (x->think_state == 0) {
        if (x->think_pending.len > 0 || !jscan_is_plain_string(text))
            return false;
        const char *t = text->value + 1, *end = text->value + text->value_len - 1;
        while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
            t++;
        if (t == end || *t == '<')
            return false;
        x->think_state = 2;
    }
    note_token(x, now_ns);
    char when[48];
    created_at(x, now_ns, when, sizeof when);
    sbuf_adds(out, "{\"model\":");
    sbuf_add_json_string(out, x->model, strlen(x->model));
    sbuf_adds(out, ",\"created_at\":\"");
    sbuf_adds(out, when);
    sbuf_adds(out, x->p.ep == EP_CHAT ? "\",\"message\":{\"role\":\"assistant\",\"content\":"
                                      : "\",\"response\":");
    sbuf_add(out, text->value, text->value_len);
    sbuf_adds(out, x->p.ep == EP_CHAT ? "},\"done\":false}\n" : ",\"done\":false}\n");
    return true;
}

/* Keep the members of the OpenAI frame O, vouched for in PAYLOAD, and a
 * copy of its bytes, for the next frame's scan to compare against. */
static void
remember_frame(struct xlate *x, const struct jscan_object *o, const char *payload, size_t plen)
{
    sbuf_reset(&x->like_text);
    sbuf_add(&x->like_text, payload, plen);
    x->like.n = o->n;
    memcpy(x->like.m, o->m, o->n * sizeof o->m[0]);
    jscan_rebase(&x->like, payload, x->like_text.s);
}

/* The first choice of the OpenAI frame O (vouched for), with its members
 * into *CHOICE_OUT, or NULL when it has none; and where its text is into
 * *M (the delta of a chat choice, read into DELTA; a completion's choice
 * itself), NULL when there is none or it is not an object.  False when
 * jscan declines either. */
static bool
openai_first_choice(const struct xlate *x, const struct jscan_member *choices,
                    struct jscan_iter *it, struct jscan_object *delta,
                    const struct jscan_object **choice_out, const struct jscan_object **m)
{
    struct jscan_member first;
    jscan_array_begin(choices, it);
    bool has_choice = jscan_array_next(it, &first);
    if (has_choice && !it->members_vouched)
        return false;
    const struct jscan_object *choice = has_choice ? &it->members : NULL;
    *choice_out = choice;
    *m = NULL;
    if (choice != NULL && x->p.ep != EP_CHAT) {
        *m = choice;
    } else if (choice != NULL) {
        const struct jscan_member *d = jscan_get(choice, "delta");
        if (jscan_is_object(d)) {
            if (!jscan_object(d->value, d->value_len, delta))
                return false;
            *m = delta;
        }
    }
    return true;
}

/* An OpenAI frame O (vouched for, with no error) passed on to a
 * streaming OpenAI client: its first token's time and its usage read on
 * the way; a usage-only frame the client did not ask for left out.  Its
 * choices are read only until the first token is seen.  False, with
 * nothing done, when jscan declines a part that must be read. */
static bool
fast_openai_passthrough(struct xlate *x, const struct jscan_object *o,
                        const struct jscan_member *choices, const char *raw, size_t rawlen,
                        uint64_t now_ns, struct sbuf *out)
{
    bool token = false;
    if (!x->first_token_seen) {
        struct jscan_iter it;
        struct jscan_object delta;
        const struct jscan_object *choice, *m;
        if (!openai_first_choice(x, choices, &it, &delta, &choice, &m))
            return false;
        if (m != NULL) {
            const struct jscan_member *calls = jscan_get(m, "tool_calls");
            token = jscan_is_array(calls) && !jscan_is_empty_array(calls);
            for (size_t i = 0; !token && i < sizeof token_fields / sizeof token_fields[0]; i++)
                token = scanned_text(jscan_get(m, token_fields[i]));
        }
    }
    if (!scanned_openai_usage(x, jscan_get(o, "usage")))
        return false;
    if (token)
        note_token(x, now_ns);
    /* We ask OpenAI servers for usage; a client that did not gets no
     * usage-only chunk. */
    if (x->p.include_usage || !jscan_is_empty_array(choices))
        sbuf_add(out, raw, rawlen);
    return true;
}

/* An OpenAI frame jscan vouches for, for a streaming client, from its
 * bytes: passed on to an OpenAI client (fast_openai_passthrough), or,
 * when it is plain text, finish reasons and usage, translated for an
 * Ollama client.  False, with nothing done, for every other frame:
 * errors, reasoning and tool calls to translate, shapes jscan declines,
 * which the full parse then handles. */
static bool
fast_openai_frame(struct xlate *x, const char *payload, size_t plen, const char *raw, size_t rawlen,
                  uint64_t now_ns, struct sbuf *out)
{
    struct jscan_object o;
    size_t same;
    if (!jscan_object_like(payload, plen, &o, &x->like, &same))
        return false;
    /* Its choices change from one event to the next: a frame where more
     * changed (the first, a new second in "created") is the new model. */
    if (same + 1 < o.n)
        remember_frame(x, &o, payload, plen);
    if (jscan_get(&o, "error") != NULL)
        return false;
    const struct jscan_member *choices = jscan_get(&o, "choices");
    if (!jscan_is_array(choices))
        return false;
    if (x->p.client == WIRE_OPENAI)
        return fast_openai_passthrough(x, &o, choices, raw, rawlen, now_ns, out);
    struct jscan_iter it;
    struct jscan_object delta;
    const struct jscan_object *choice, *m;
    if (!openai_first_choice(x, choices, &it, &delta, &choice, &m))
        return false;
    const struct jscan_member *calls = m ? jscan_get(m, "tool_calls") : NULL;
    /* For an Ollama client: only text, and nothing that needs decoding
     * to be read (the server's timings, on its last frame, are numbers). */
    if (jscan_get(&o, "timings") != NULL)
        return false;
    if (m != NULL) {
        const struct jscan_member *r1 = jscan_get(m, "reasoning_content");
        const struct jscan_member *r2 = jscan_get(m, "reasoning");
        if (scanned_text(r1) || scanned_text(r2) ||
            (jscan_is_array(calls) && !jscan_is_empty_array(calls)))
            return false;
    }
    const struct jscan_member *finish = choice ? jscan_get(choice, "finish_reason") : NULL;
    if (jscan_is_string(finish) && !jscan_is_plain_string(finish))
        return false;
    /* Read before anything changes, so a decline leaves no trace. */
    struct jscan_object usage_probe;
    const struct jscan_member *u = jscan_get(&o, "usage");
    if (jscan_is_object(u) && !jscan_object(u->value, u->value_len, &usage_probe))
        return false;
    const struct jscan_member *text =
        m ? jscan_get(m, x->p.ep == EP_CHAT ? "content" : "text") : NULL;
    if (!fast_openai_text_to_ollama(x, text, now_ns, out))
        return false;
    scanned_openai_usage(x, u);
    if (jscan_is_string(finish))
        text_copyn(x->finish, sizeof x->finish, finish->value + 1, finish->value_len - 2);
    return true;
}

/* The bulk of a streamed answer without building a tree: a frame jscan
 * vouches for is passed on, or translated from its bytes, when that is
 * plainly all it needs.  Returns false for every other frame (errors,
 * thinking and tool calls to translate, an OpenAI stream's first token
 * and usage), which handle_frame then parses in full; *ST is the frame's
 * outcome otherwise. */
static bool
fast_frame(struct xlate *x, const char *payload, size_t plen, const char *raw, size_t rawlen,
           uint64_t now_ns, struct sbuf *out, enum xlate_status *st)
{
    struct jscan_object o;
    *st = XLATE_MORE;
    if (x->p.full_parse || !x->p.client_stream)
        return false;
    if (x->p.upstream == WIRE_OPENAI)
        return fast_openai_frame(x, payload, plen, raw, rawlen, now_ns, out);
    /* A chat frame's message is read in the same pass when its text
     * matters: translated, or until the first token has been seen. */
    struct jscan_object msg;
    bool has_msg = false;
    bool want_msg = x->p.upstream == WIRE_OLLAMA && x->p.ep == EP_CHAT &&
                    (x->p.client != WIRE_OLLAMA || !x->first_token_seen);
    bool vouched = want_msg ? jscan_object_inner(payload, plen, &o, "message", &msg, &has_msg)
                            : jscan_object(payload, plen, &o);
    if (!vouched || jscan_get(&o, "error") != NULL)
        return false;
    /* Where the text is: the message of a chat, a generate frame itself;
     * NULL when a chat frame has no message object jscan vouched for. */
    const struct jscan_object *m = x->p.ep != EP_CHAT ? &o : has_msg ? &msg : NULL;
    if (x->p.upstream == WIRE_OLLAMA && x->p.client == WIRE_OLLAMA)
        return fast_ollama_passthrough(x, &o, m, raw, rawlen, now_ns, out, st);
    return fast_ollama_to_openai(x, &o, m, now_ns, out, st);
}

/* Handle one complete frame: PAYLOAD is the JSON text (the SSE data),
 * RAW the frame's bytes with its terminator, for pass-through. */
static enum xlate_status
handle_frame(struct xlate *x, const char *payload, size_t plen, const char *raw, size_t rawlen,
             uint64_t now_ns, struct sbuf *out, struct cerr *err)
{
    bool same = x->p.upstream == x->p.client;
    enum xlate_status fast_st;
    if (fast_frame(x, payload, plen, raw, rawlen, now_ns, out, &fast_st))
        return fast_st;
    if (x->p.upstream == WIRE_OPENAI && plen == 6 && memcmp(payload, "[DONE]", 6) == 0) {
        if (same && x->p.client_stream)
            sbuf_add(out, raw, rawlen);
        else /* translated, or gathered into one answer */
            openai_done_to_ollama(x, now_ns, out);
        return XLATE_END;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(payload, plen, 0, &jerr);
    if (obj == NULL || !json_is_object(obj)) {
        json_decref(obj);
        /* Its first line, and no more than 60 bytes of it: the payload
         * need not end in a NUL. */
        size_t show = 0;
        while (show < plen && show < 60 && payload[show] != '\r' && payload[show] != '\n')
            show++;
        cerr_set(err, -EPROTO, 502, "the server sent something that is not JSON in its stream (%.*s)",
                 (int)show, payload);
        return XLATE_ERROR;
    }
    json_t *e = json_object_get(obj, "error");
    if (e != NULL) {
        const char *msg = json_is_string(e) ? json_string_value(e) : jfield_str(e, "message");
        cerr_set(err, -EIO, 502, "%s", msg ? msg : "the server reported an error");
        json_decref(obj);
        if (same && x->p.client_stream) {
            sbuf_add(out, raw, rawlen);
            return XLATE_ERROR_PASSED;
        }
        return XLATE_ERROR;
    }
    enum xlate_status st = XLATE_MORE;
    if (same) {
        note_passthrough_usage(x, obj);
        if (frame_has_token(x, obj))
            note_token(x, now_ns);
        /* We ask OpenAI servers for usage; a client that did not gets no
         * usage-only chunk. */
        bool usage_only = x->p.upstream == WIRE_OPENAI && !x->p.include_usage &&
                          json_is_array(json_object_get(obj, "choices")) &&
                          json_array_size(json_object_get(obj, "choices")) == 0;
        if (x->p.client_stream && !usage_only)
            sbuf_add(out, raw, rawlen);
        if (x->p.upstream == WIRE_OLLAMA && json_is_true(json_object_get(obj, "done"))) {
            if (!x->p.client_stream) {
                json_decref(x->ollama_final);
                x->ollama_final = json_incref(obj);
            }
            st = XLATE_END;
        }
        if (!x->p.client_stream) {
            /* Aggregate through the translating path's state as well. */
            if (x->p.upstream == WIRE_OLLAMA) {
                const json_t *msg = x->p.ep == EP_CHAT ? json_object_get(obj, "message") : obj;
                const char *c = jfield_str(msg, x->p.ep == EP_CHAT ? "content" : "response");
                const char *t = jfield_str(msg, "thinking");
                if (c)
                    sbuf_adds(&x->content, c);
                if (t)
                    sbuf_adds(&x->thinking, t);
                size_t i;
                json_t *call;
                json_array_foreach(json_object_get(msg, "tool_calls"), i, call)
                    json_array_append(x->tool_calls_openai, call);
                note_token(x, now_ns);
            } else {
                openai_event_to_ollama(x, obj, now_ns, out);
            }
        }
    } else if (x->p.upstream == WIRE_OLLAMA) {
        st = ollama_obj_to_openai(x, obj, now_ns, out, err);
    } else {
        st = openai_event_to_ollama(x, obj, now_ns, out);
    }
    json_decref(obj);
    return st;
}

/* Where the SSE event at BASE[0, AVAIL) ends: *EVLEN bytes of it, then a
 * blank line of *TERMLEN bytes with the newline before it ("\n\n" or
 * "\r\n\r\n", whichever comes first).  False when it has not come yet.
 * memchr jumps from newline to newline: a byte-by-byte search was a
 * sixth of what passing an OpenAI stream on cost. */
static bool
sse_event_end(const char *base, size_t avail, size_t *evlen, size_t *termlen)
{
    const char *end = base + avail;
    for (const char *p = base; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) {
        if (p + 1 < end && p[1] == '\n') {
            *evlen = (size_t)(p - base);
            *termlen = 2;
            return true;
        }
        if (p > base && p[-1] == '\r' && p + 2 < end && p[1] == '\r' && p[2] == '\n') {
            *evlen = (size_t)(p - 1 - base);
            *termlen = 4;
            return true;
        }
    }
    return false;
}

/* Handle the whole frames in BUF[0, LEN): NDJSON lines from Ollama, SSE
 * events (blank-line separated, "data:" lines joined) from OpenAI.
 * Returns how many bytes they took; *ST is the outcome so far. */
static size_t
drain_frames(struct xlate *x, const char *buf, size_t len, uint64_t now_ns, struct sbuf *out,
             struct cerr *err, enum xlate_status *st)
{
    size_t start = 0;
    *st = XLATE_MORE;
    while (*st == XLATE_MORE && start < len) {
        const char *base = buf + start;
        size_t avail = len - start;
        if (x->p.upstream == WIRE_OLLAMA) {
            const char *nl = memchr(base, '\n', avail);
            if (nl == NULL)
                break;
            size_t linelen = (size_t)(nl - base);
            size_t plen = linelen;
            while (plen > 0 && (base[plen - 1] == '\r' || base[plen - 1] == ' '))
                plen--;
            if (plen > 0)
                *st = handle_frame(x, base, plen, base, linelen + 1, now_ns, out, err);
            x->had_line = true;
            start += linelen + 1;
            continue;
        }
        /* SSE: find the end of the event (a blank line). */
        size_t evlen, termlen;
        if (!sse_event_end(base, avail, &evlen, &termlen))
            break;
        /* Its data lines joined; one line, the usual event, is read where
         * it is, and only several are copied together. */
        struct sbuf joined = {0};
        const char *data = NULL;
        size_t dlen = 0;
        for (size_t pos = 0; pos < evlen;) {
            const char *eol = memchr(base + pos, '\n', evlen - pos);
            size_t ll = eol ? (size_t)(eol - (base + pos)) : evlen - pos;
            const char *line = base + pos;
            size_t l = ll;
            if (l > 0 && line[l - 1] == '\r')
                l--;
            if (l >= 5 && memcmp(line, "data:", 5) == 0) {
                const char *v = line + 5;
                size_t vl = l - 5;
                if (vl > 0 && *v == ' ')
                    v++, vl--;
                if (data == NULL) {
                    data = v;
                    dlen = vl;
                } else {
                    if (joined.len == 0)
                        sbuf_add(&joined, data, dlen);
                    sbuf_add(&joined, "\n", 1);
                    sbuf_add(&joined, v, vl);
                    data = joined.s;
                    dlen = joined.len;
                }
            }
            pos += ll + 1;
        }
        if (data != NULL)
            *st = handle_frame(x, data, dlen, base, evlen + termlen, now_ns, out, err);
        sbuf_free(&joined);
        start += evlen + termlen;
    }
    return start;
}

enum xlate_status
xlate_feed(struct xlate *x, const char *data, size_t len, uint64_t now_ns, struct sbuf *out,
           struct cerr *err)
{
    if (x->ended)
        return XLATE_END; /* bytes after the end are ignored */
    if (x->p.ep == EP_EMBED) {
        if (x->raw.len + len > XLATE_MAX_FRAME * 4) {
            cerr_set(err, -EMSGSIZE, 502, "the server's embedding answer is over 64 MiB");
            return XLATE_ERROR;
        }
        sbuf_add(&x->raw, data, len);
        return XLATE_MORE;
    }
    enum xlate_status st;
    if (x->frame.len == 0) {
        /* Nothing held back: the frames are read where they came, and
         * only an unfinished one is kept. */
        size_t used = drain_frames(x, data, len, now_ns, out, err, &st);
        if (st == XLATE_MORE)
            sbuf_add(&x->frame, data + used, len - used);
    } else {
        sbuf_add(&x->frame, data, len);
        size_t used = drain_frames(x, x->frame.s, x->frame.len, now_ns, out, err, &st);
        memmove(x->frame.s, x->frame.s + used, x->frame.len - used);
        x->frame.len -= used;
        x->frame.s[x->frame.len] = '\0';
    }
    if (st == XLATE_MORE && x->frame.len > XLATE_MAX_FRAME) {
        cerr_set(err, -EMSGSIZE, 502, "the server sent a stream event over 16 MiB");
        return XLATE_ERROR;
    }
    if (st == XLATE_MORE && x->content.len + x->thinking.len > XLATE_MAX_FRAME * 4) {
        cerr_set(err, -EMSGSIZE, 502, "the answer is over 64 MiB; ask for a stream instead");
        return XLATE_ERROR;
    }
    if (st == XLATE_END)
        x->ended = true;
    return st;
}

static enum xlate_status
embed_end(struct xlate *x, struct sbuf *out, struct cerr *err)
{
    json_t *in = json_loadb(x->raw.s ? x->raw.s : "", x->raw.len, 0, NULL);
    json_t *res = NULL;
    if (x->p.upstream == WIRE_OLLAMA) {
        json_t *vecs = json_object_get(in, "embeddings");
        if (!json_is_array(vecs))
            goto bad;
        x->prompt_tokens = (long)json_integer_value(json_object_get(in, "prompt_eval_count"));
        if (x->p.client == WIRE_OLLAMA) {
            res = json_incref(in);
        } else {
            json_t *data = json_array();
            size_t i;
            json_t *v;
            json_array_foreach(vecs, i, v)
                json_array_append_new(data, json_pack("{s:s, s:I, s:O}", "object", "embedding",
                                                      "index", (json_int_t)i, "embedding", v));
            long pt = x->prompt_tokens < 0 ? 0 : x->prompt_tokens;
            res = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data,
                            "model", x->model, "usage", "prompt_tokens", (json_int_t)pt,
                            "total_tokens", (json_int_t)pt);
        }
    } else {
        json_t *data = json_object_get(in, "data");
        if (!json_is_array(data))
            goto bad;
        x->prompt_tokens =
            (long)json_integer_value(json_object_get(json_object_get(in, "usage"), "prompt_tokens"));
        if (x->p.client == WIRE_OPENAI) {
            res = json_incref(in);
        } else {
            json_t *vecs = json_array();
            size_t i;
            json_t *d;
            json_array_foreach(data, i, d)
                json_array_append(vecs, json_object_get(d, "embedding"));
            res = json_pack("{s:s, s:o}", "model", x->model, "embeddings", vecs);
            if (x->prompt_tokens > 0)
                json_object_set_new(res, "prompt_eval_count", json_integer(x->prompt_tokens));
        }
    }
    sbuf_add_json(out, res);
    sbuf_adds(out, "\n");
    json_decref(res);
    json_decref(in);
    return XLATE_END;
bad:
    json_decref(in);
    char said[300];
    if (translate_error_message(x->raw.s ? x->raw.s : "", x->raw.len, said, sizeof said))
        cerr_set(err, -EIO, 502, "%s", said);
    else
        cerr_set(err, -EPROTO, 502, "the server's embedding answer is not in the expected shape");
    return XLATE_ERROR;
}

enum xlate_status
xlate_end(struct xlate *x, uint64_t now_ns, struct sbuf *out, struct cerr *err)
{
    if (x->p.ep == EP_EMBED)
        return embed_end(x, out, err);
    if (!x->ended && x->p.upstream == WIRE_OLLAMA && !x->had_line && x->frame.len > 0) {
        /* One JSON object and no newline: how Ollama answers, even when
         * a stream was asked for, when it fails ({"error":"..."} under
         * HTTP 200) or only loads a model.  Its error is the server's own
         * words, not a stream cut short.  After whole lines, or when not
         * a whole object, the same bytes are a stream cut short. */
        json_t *obj = json_loadb(x->frame.s, x->frame.len, 0, NULL);
        bool whole = json_is_object(obj);
        json_decref(obj);
        if (whole) {
            size_t plen = x->frame.len;
            sbuf_add(&x->frame, "\n", 1); /* passed on as a whole line */
            enum xlate_status st =
                handle_frame(x, x->frame.s, plen, x->frame.s, x->frame.len, now_ns, out, err);
            sbuf_reset(&x->frame);
            if (st == XLATE_ERROR || st == XLATE_ERROR_PASSED)
                return XLATE_ERROR; /* said as the answer's end, whether passed on or not */
            x->ended = st == XLATE_END;
        }
    }
    if (!x->ended) {
        cerr_set(err, -EPIPE, 502,
                 "the server closed the stream before the answer was complete (%s)",
                 x->p.upstream == WIRE_OPENAI ? "no data: [DONE]" : "no final done:true object");
        return XLATE_ERROR;
    }
    if (x->p.client_stream)
        return XLATE_END;
    json_t *res;
    if (x->p.client == WIRE_OLLAMA) {
        if (x->p.upstream == WIRE_OLLAMA && x->ollama_final != NULL) {
            /* Ollama's own final object, with the text gathered in. */
            res = json_deep_copy(x->ollama_final);
            json_object_set_new(res, "model", json_string(x->model));
            if (x->p.ep == EP_CHAT) {
                json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content",
                                        x->content.s ? x->content.s : "");
                if (x->thinking.len > 0)
                    json_object_set_new(msg, "thinking", json_string(x->thinking.s));
                if (json_array_size(x->tool_calls_openai) > 0)
                    json_object_set(msg, "tool_calls", x->tool_calls_openai);
                json_object_set_new(res, "message", msg);
            } else {
                json_object_set_new(res, "response", json_string(x->content.s ? x->content.s : ""));
                if (x->thinking.len > 0)
                    json_object_set_new(res, "thinking", json_string(x->thinking.s));
            }
        } else {
            res = ollama_final(x, now_ns, true);
        }
    } else {
        const char *finish = x->finish[0] ? x->finish : "stop";
        json_t *choice;
        if (x->p.ep == EP_CHAT) {
            json_t *msg = json_pack("{s:s, s:s?}", "role", "assistant", "content",
                                    x->content.s ? x->content.s : "");
            if (x->thinking.len > 0)
                json_object_set_new(msg, "reasoning_content", json_string(x->thinking.s));
            if (x->n_tools > 0 && x->p.upstream == WIRE_OPENAI) {
                json_t *calls = json_array();
                for (size_t i = 0; i < x->n_tools; i++)
                    json_array_append_new(
                        calls, json_pack("{s:s?, s:s, s:{s:s, s:s}}", "id", x->tools[i].id, "type",
                                         "function", "function", "name",
                                         x->tools[i].name ? x->tools[i].name : "", "arguments",
                                         x->tools[i].args.s ? x->tools[i].args.s : ""));
                json_object_set_new(msg, "tool_calls", calls);
            } else if (json_array_size(x->tool_calls_openai) > 0) {
                json_object_set(msg, "tool_calls", x->tool_calls_openai);
            }
            choice = json_pack("{s:i, s:o, s:s}", "index", 0, "message", msg, "finish_reason", finish);
        } else {
            choice = json_pack("{s:i, s:s, s:n, s:s}", "index", 0, "text",
                               x->content.s ? x->content.s : "", "logprobs", "finish_reason", finish);
        }
        res = json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", x->id, "object",
                        x->p.ep == EP_CHAT ? "chat.completion" : "text_completion", "created",
                        (json_int_t)(x->p.wall_start_ns / 1000000000), "model", x->model, "choices", choice,
                        "usage", openai_usage(x));
    }
    sbuf_add_json(out, res);
    sbuf_adds(out, "\n");
    json_decref(res);
    return XLATE_END;
}

void
xlate_error(struct xlate *x, const char *raw_message, struct sbuf *out)
{
    char message[1024];
    snprintf(message, sizeof message, "%s", raw_message);
    cerr_make_utf8(message);
    if (x->p.client == WIRE_OLLAMA) {
        emit_line(out, json_pack("{s:s}", "error", message));
        return;
    }
    emit_sse(out, json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", message, "type",
                            "server_error", "param", "code"));
}

bool
translate_error_message(const char *body, size_t len, char *msg, size_t msglen)
{
    json_t *obj = json_loadb(body, len, 0, NULL);
    json_t *e = json_object_get(obj, "error");
    const char *text = json_is_string(e) ? json_string_value(e) : jfield_str(e, "message");
    if (text == NULL)
        text = jfield_str(obj, "message");
    if (text != NULL) {
        snprintf(msg, msglen, "%s", text);
        cerr_make_utf8(msg);
    }
    json_decref(obj);
    return text != NULL;
}
