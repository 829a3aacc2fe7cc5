/* Unit tests for src/wire/translate.c: request bodies both ways (OpenAI <->
 * Ollama, same-dialect pass-through, generate and embed, ill-typed
 * fields), response streams against golden files in tests/cases/translate/
 * (also fed split at every byte), non-streamed aggregation, pass-through,
 * faults (garbage, in-band errors, truncation, oversized frames) and
 * translate_error_message().
 *
 * The "fixed_bugs" TCase keeps the tests that found bugs, as regressions. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/wire/translate.c"
#include "../common/stream_compare.h"

#define WALL 1767225600            /* 2026-01-01T00:00:00Z */
#define T0 7000000000ull           /* monotonic clock at the request's start */
#define T_END (T0 + 1500000000ull) /* when the golden bytes arrive */
#define CA_END "2026-01-01T00:00:01.500000000Z"
#define MiB (1024u * 1024u)

/* ------------------------------------------------------------------ */
/* JSON helpers                                                       */
/* ------------------------------------------------------------------ */

static json_t *
parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "JSON does not parse (%s): %.300s", e.text, text);
    return j;
}

/* Follow PATH ("a.b[2].c") from ROOT; NULL when absent. */
static json_t *
jp(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    while (cur != NULL && *p != '\0') {
        if (*p == '.') {
            p++;
        } else if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            cur = json_array_get(cur, (size_t)i);
            p = *end == ']' ? end + 1 : end;
        } else {
            char key[128];
            size_t n = strcspn(p, ".[");
            snprintf(key, sizeof key, "%.*s", (int)n, p);
            cur = json_object_get(cur, key);
            p += n;
        }
    }
    return (json_t *)cur;
}

static char *
dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : strdup("(absent)");
}

/* The value at PATH equals the JSON text WANT (NULL: is absent). */
#define EXPECT_JSON(root, path, want) expect_json(__LINE__, root, path, want)
static void
expect_json(int line, const json_t *root, const char *path, const char *want)
{
    json_t *g = jp(root, path);
    if (want == NULL) {
        if (g != NULL) {
            char *gs = dump(g);
            ck_abort_msg("line %d: %s should be absent but is %s", line, path, gs);
        }
        return;
    }
    json_t *w = parse(want);
    if (!json_equal(g, w)) {
        char *gs = dump(g), *ws = dump(w), *all = dump(root);
        ck_abort_msg("line %d: %s is %s, want %s\nin %s", line, path, gs, ws, all);
    }
    json_decref(w);
}

#define EXPECT_STR(root, path, want) expect_str(__LINE__, root, path, want)
static void
expect_str(int line, const json_t *root, const char *path, const char *want)
{
    const char *s = json_string_value(jp(root, path));
    if (s == NULL || strcmp(s, want) != 0) {
        char *all = dump(root);
        ck_abort_msg("line %d: %s is %s%s%s, want \"%s\"\nin %s", line, path, s ? "\"" : "",
                     s ? s : "not a string", s ? "\"" : "", want, all);
    }
}

#define EXPECT_ABSENT(root, path) expect_json(__LINE__, root, path, NULL)

/* S is PREFIX followed by N lowercase letters or digits. */
static bool
is_id(const char *s, const char *prefix, size_t n)
{
    size_t pl = strlen(prefix);
    if (s == NULL || strncmp(s, prefix, pl) != 0 || strlen(s) != pl + n)
        return false;
    for (const char *c = s + pl; *c; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c))
            return false;
    return true;
}

/* Replace every "id" the translator made up (one that does not occur in
 * INPUT) by a placeholder, after checking its form. */
static void
normalize_ids(json_t *v, const char *input)
{
    size_t i;
    json_t *e;
    const char *k;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) normalize_ids(e, input);
        return;
    }
    json_object_foreach(v, k, e)
    {
        if (strcmp(k, "id") != 0 || !json_is_string(e)) {
            normalize_ids(e, input);
            continue;
        }
        const char *s = json_string_value(e);
        if (input != NULL && strstr(input, s) != NULL)
            continue;
        if (is_id(s, "chatcmpl-", 24))
            json_string_set(e, "chatcmpl-ID");
        else if (is_id(s, "cmpl-", 24))
            json_string_set(e, "cmpl-ID");
        else if (is_id(s, "call_", 8))
            json_string_set(e, "call_ID");
        else
            ck_abort_msg("id \"%s\" is neither the upstream's nor of a synthesized form", s);
    }
}

/* SSE text as an array of its events: each must be exactly
 * "data: <one line>\n\n"; the payload is parsed, "[DONE]" kept as a string. */
static json_t *
sse_events(const char *s)
{
    json_t *arr = json_array();
    while (*s != '\0') {
        ck_assert_msg(strncmp(s, "data: ", 6) == 0,
                      "SSE event does not start with \"data: \": %.120s", s);
        const char *end = strstr(s, "\n\n");
        ck_assert_msg(end != NULL, "SSE event is not terminated by a blank line: %.120s", s);
        char *payload = strndup(s + 6, (size_t)(end - (s + 6)));
        ck_assert_msg(strchr(payload, '\n') == NULL && strchr(payload, '\r') == NULL,
                      "SSE event spans lines: %.120s", payload);
        if (strcmp(payload, "[DONE]") == 0)
            json_array_append_new(arr, json_string("[DONE]"));
        else
            json_array_append_new(arr, parse(payload));
        free(payload);
        s = end + 2;
    }
    return arr;
}

/* NDJSON text as an array of objects: every line non-empty, \n-ended. */
static json_t *
ndjson_lines(const char *s)
{
    json_t *arr = json_array();
    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        ck_assert_msg(nl != NULL, "NDJSON line without a newline: %.120s", s);
        ck_assert_msg(nl > s, "empty NDJSON line");
        char *line = strndup(s, (size_t)(nl - s));
        json_t *o = parse(line);
        ck_assert_msg(json_is_object(o), "NDJSON line is not an object: %s", line);
        json_array_append_new(arr, o);
        free(line);
        s = nl + 1;
    }
    return arr;
}

#define EXPECT_SAME_LIST(got, want) expect_same_list(__LINE__, got, want)
static void
expect_same_list(int line, const json_t *got, const json_t *want)
{
    size_t n =
        json_array_size(got) > json_array_size(want) ? json_array_size(got) : json_array_size(want);
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(got, i), *w = json_array_get(want, i);
        if (!json_equal(g, w)) {
            char *gs = dump(g), *ws = dump(w);
            ck_abort_msg("line %d: item %zu of %zu/%zu differs:\n got  %s\n want %s", line, i,
                         json_array_size(got), json_array_size(want), gs, ws);
        }
    }
}

static char *
read_case(const char *name, size_t *len)
{
    const char *dir = getenv("CARETI_CASES_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/cases/translate", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the top of the tree)", path);
    struct sbuf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_add(&b, buf, n);
    fclose(f);
    sbuf_add(&b, "", 0);
    *len = b.len;
    return b.s;
}

/* ------------------------------------------------------------------ */
/* Request helpers                                                    */
/* ------------------------------------------------------------------ */

static struct translate_params
tparams(void)
{
    return (struct translate_params){.upstream_model = "qwen3-coder:30b", .num_ctx = 0};
}

/* The bytes path (translate_request_bytes) on REQ, which the tree path
 * turned into OUT (NULL: refused).  When it takes REQ its body must be OUT
 * as JSON; a request the tree path refuses it must decline, leaving its
 * buffer as it was.  Returns whether it took REQ. */
static bool
bytes_path_agrees(enum endpoint ep, enum wire dialect, const char *req,
                  const struct translate_params *p, const json_t *out)
{
    struct jscan_object top;
    if (!jscan_object(req, strlen(req), &top))
        return false;
    struct sbuf text = {0};
    sbuf_adds(&text, "kept");
    bool took = translate_request_bytes(ep, dialect, &top, p, &text);
    if (!took) {
        ck_assert_msg(text.len == 4 && strcmp(text.s, "kept") == 0,
                      "a declining bytes path changed its buffer: %s", text.s);
        sbuf_free(&text);
        return false;
    }
    ck_assert_msg(out != NULL, "the bytes path took what the tree path refuses: %s", req);
    json_error_t e;
    json_t *got = json_loadb(text.s + 4, text.len - 4, 0, &e);
    ck_assert_msg(got != NULL, "the bytes path wrote bad JSON (%s): %s", e.text, text.s + 4);
    /* Each key it writes once, in the body and in the object it rebuilds
     * (servers need not keep the last of duplicates); duplicates inside
     * the client's own values go on as the client sent them. */
    struct jscan_object written, rebuilt;
    ck_assert(jscan_object(text.s + 4, text.len - 4, &written));
    const struct jscan_member *r =
        jscan_get(&written, dialect == WIRE_OLLAMA ? "options" : "stream_options");
    ck_assert(r != NULL && jscan_object(r->value, r->value_len, &rebuilt));
    for (const struct jscan_object *o = &written; o != NULL; o = o == &written ? &rebuilt : NULL)
        for (size_t i = 0; i < o->n; i++)
            ck_assert_msg(last_of_its_key(o, i), "key %.*s written twice: %s",
                          (int)o->m[i].key_len, o->m[i].key, text.s + 4);
    ck_assert_msg(json_equal(got, out), "for %s\nbytes path %s\n tree path %s", req, dump(got),
                  dump(out));
    json_decref(got);
    sbuf_free(&text);
    return true;
}

/* Translate REQ (text); the client's request must come out unchanged.
 * Within one dialect the bytes path must agree with it. */
static json_t *
tr_ok(enum endpoint ep, enum wire from, enum wire to, const char *req,
      const struct translate_params *p)
{
    json_t *in = parse(req);
    json_t *copy = json_deep_copy(in);
    json_t *alias_copy = p->alias_options ? json_deep_copy(p->alias_options) : NULL;
    struct cerr err = {0};
    json_t *out = translate_request(ep, from, to, in, p, &err);
    ck_assert_msg(out != NULL, "translate_request failed: %s", err.msg);
    ck_assert_msg(json_equal(in, copy), "translate_request changed the client's request");
    if (from == to && ep != EP_EMBED)
        ck_assert_msg(bytes_path_agrees(ep, from, req, p, out),
                      "the bytes path declined a plain request: %s", req);
    if (alias_copy != NULL)
        ck_assert_msg(json_equal(p->alias_options, alias_copy), "alias options were changed");
    ck_assert_msg(json_is_object(out), "result is not an object");
    /* The result must be independent of the request: freeing it first
     * must leave a usable result (ASan checks). */
    json_decref(in);
    json_decref(copy);
    json_decref(alias_copy);
    char *s = json_dumps(out, JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    free(s);
    return out;
}

/* Translation must fail with 400 and a message that names FIELD. */
#define TR_BAD(ep, from, to, req, field) tr_bad(__LINE__, ep, from, to, req, field)
static void
tr_bad(int line, enum endpoint ep, enum wire from, enum wire to, const char *req, const char *field)
{
    json_t *in = parse(req);
    struct translate_params p = tparams();
    p.num_ctx = 4096;
    struct cerr err = {0};
    json_t *out = translate_request(ep, from, to, in, &p, &err);
    if (out != NULL) {
        char *s = dump(out);
        ck_abort_msg("line %d: %s was accepted: %s", line, req, s);
    }
    ck_assert_msg(err.http_status == 400, "line %d: http_status %d, want 400", line,
                  err.http_status);
    ck_assert_msg(strstr(err.msg, field) != NULL, "line %d: error \"%s\" does not name \"%s\"",
                  line, err.msg, field);
    json_decref(in);
}

/* ------------------------------------------------------------------ */
/* Stream helpers                                                     */
/* ------------------------------------------------------------------ */

static struct xlate_params
xparams(enum endpoint ep, enum wire up, enum wire client, bool stream, bool usage)
{
    return (struct xlate_params){.ep = ep,
                                 .upstream = up,
                                 .client = client,
                                 .client_stream = stream,
                                 .include_usage = usage,
                                 .model = "coder",
                                 .wall_start_ns = WALL * 1000000000LL,
                                 .start_ns = T0,
                                 .seed = 12345};
}

struct run {
    struct sbuf out;
    enum xlate_status feed; /* the last feed's status */
    int end;                /* xlate_end's status, -1 when not called */
    size_t end_at;          /* bytes fed when a feed first said XLATE_END (0: never) */
    struct cerr err;
    long prompt, completion;
    uint64_t first_token_ns;
};

/* Feed IN[0..LEN) at T_END: in pieces of CHUNK bytes (0: whole), or when
 * SPLIT is not 0, as [0, SPLIT) and [SPLIT, LEN).  Then xlate_end, unless
 * a feed failed.  Bytes after XLATE_END must be ignored. */
static void
run_stream(const struct xlate_params *xp, const char *in, size_t len, size_t chunk, size_t split,
           struct run *r)
{
    memset(r, 0, sizeof *r);
    r->end = -1;
    r->feed = XLATE_MORE;
    struct xlate *x = xlate_new(xp);
    for (size_t pos = 0; pos < len && r->feed != XLATE_ERROR &&
                         r->feed != XLATE_ERROR_PASSED;) {
        size_t n = len - pos;
        if (split != 0)
            n = pos < split ? split - pos : len - pos;
        else if (chunk != 0 && chunk < n)
            n = chunk;
        size_t before = r->out.len;
        enum xlate_status st = xlate_feed(x, in + pos, n, T_END, &r->out, &r->err);
        if (r->feed == XLATE_END) {
            ck_assert_int_eq(st, XLATE_END);
            ck_assert_msg(r->out.len == before, "output after the end");
        }
        pos += n;
        if (st == XLATE_END && r->end_at == 0)
            r->end_at = pos;
        r->feed = st;
    }
    if (r->feed != XLATE_ERROR && r->feed != XLATE_ERROR_PASSED)
        r->end = (int)xlate_end(x, T_END, &r->out, &r->err);
    xlate_usage(x, &r->prompt, &r->completion);
    r->first_token_ns = xlate_first_token_ns(x);
    xlate_free(x);
    sbuf_add(&r->out, "", 0); /* r->out.s is never NULL */
}

static const char *
out_text(const struct run *r)
{
    return r->out.s;
}

/* ------------------------------------------------------------------ */
/* Requests: OpenAI -> Ollama                                         */
/* ------------------------------------------------------------------ */

START_TEST(test_openai_chat_messages_to_ollama)
{
    struct translate_params p = tparams();
    p.num_ctx = 32768;
    json_t *out = tr_ok(
        EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
        "{\"model\":\"coder\",\"stream\":false,\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"developer\",\"content\":\"Be kind.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is \"},"
        "  {\"type\":\"text\",\"text\":\"this?\"},"
        "  {\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}},"
        "  {\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQ\","
        "\"detail\":\"low\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"hmm\",\"tool_calls\":["
        "  {\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"read_file\","
        "\"arguments\":\"{\\\"path\\\":\\\"a.c\\\"}\"}},"
        "  {\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"list_dir\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"a.c b.c\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"int main;\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\","
        "\"parameters\":{\"type\":\"object\"}}}]}",
        &p);
    EXPECT_STR(out, "model", "qwen3-coder:30b");
    EXPECT_JSON(out, "stream", "true");
    EXPECT_JSON(
        out, "messages",
        "[{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"system\",\"content\":\"Be kind.\"},"
        "{\"role\":\"user\",\"content\":\"What is this?\",\"images\":[\"iVBORw0KGgo=\","
        "\"/9j/4AAQ\"]},"
        "{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\",\"tool_calls\":["
        "  {\"id\":\"call_1\",\"function\":{\"index\":0,\"name\":\"read_file\","
        "\"arguments\":{\"path\":\"a.c\"}}},"
        "  {\"id\":\"call_2\",\"function\":{\"index\":1,\"name\":\"list_dir\",\"arguments\":{}}}]},"
        "{\"role\":\"tool\",\"content\":\"a.c b.c\",\"tool_call_id\":\"call_2\","
        "\"tool_name\":\"list_dir\"},"
        "{\"role\":\"tool\",\"content\":\"int main;\",\"tool_call_id\":\"call_1\","
        "\"tool_name\":\"read_file\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}]");
    EXPECT_JSON(out, "tools",
                "[{\"type\":\"function\",\"function\":{\"name\":\"read_file\","
                "\"parameters\":{\"type\":\"object\"}}}]");
    EXPECT_JSON(out, "options", "{\"num_ctx\":32768}");
    EXPECT_ABSENT(out, "stream_options");
    EXPECT_ABSENT(out, "format");
    EXPECT_ABSENT(out, "think");
    json_decref(out);
}
END_TEST

START_TEST(test_openai_tool_name_from_call_and_name_field)
{
    struct translate_params p = tparams();
    /* tool_call_id that matches nothing: the message's "name" is used;
     * without either, no tool_name at all. */
    json_t *out =
        tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
              "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
              "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c9\","
              "\"type\":\"function\","
              "\"function\":{\"name\":\"grep\",\"arguments\":\"{\\\"q\\\":\\\"x\\\"}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"nope\",\"name\":\"shell\",\"content\":\"1\"},"
              "{\"role\":\"tool\",\"tool_call_id\":\"nope2\",\"content\":\"2\"},"
              "{\"role\":\"tool\",\"tool_call_id\":\"c9\",\"content\":\"3\"}]}",
              &p);
    EXPECT_STR(out, "messages[2].tool_name", "shell");
    EXPECT_STR(out, "messages[2].tool_call_id", "nope");
    EXPECT_ABSENT(out, "messages[3].tool_name");
    EXPECT_STR(out, "messages[4].tool_name", "grep");
    EXPECT_JSON(out, "messages[1].tool_calls[0].function.arguments", "{\"q\":\"x\"}");
    EXPECT_ABSENT(out, "options.num_ctx"); /* num_ctx 0: none sent */
    json_decref(out);
}
END_TEST

START_TEST(test_openai_image_url_must_be_data)
{
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":["
           "{\"type\":\"text\",\"text\":\"see\"},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.png\"}}]}]}",
           "messages[1].content");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":["
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png,rawbytes\"}}]}]}",
           "messages[0].content");
    /* image_url given as a bare string is accepted */
    struct translate_params p = tparams();
    json_t *out =
        tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
              "{\"messages\":[{\"role\":\"user\",\"content\":["
              "{\"type\":\"image_url\",\"image_url\":\"data:image/gif;base64,R0lGODlh\"}]}]}",
              &p);
    EXPECT_JSON(out, "messages[0]",
                "{\"role\":\"user\",\"content\":\"\",\"images\":[\"R0lGODlh\"]}");
    json_decref(out);
}
END_TEST

START_TEST(test_openai_sampling_options)
{
    struct translate_params p = tparams();
    json_t *out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        "\"max_tokens\":100,\"temperature\":0.25,\"top_p\":0.5,\"seed\":42,"
                        "\"frequency_penalty\":0.125,\"presence_penalty\":0.75,\"top_k\":20,"
                        "\"min_p\":0.05,\"repeat_penalty\":1.1,\"stop\":\"END\",\"logprobs\":null}",
                        &p);
    EXPECT_JSON(out, "options",
                "{\"num_predict\":100,\"temperature\":0.25,\"top_p\":0.5,\"seed\":42,"
                "\"frequency_penalty\":0.125,\"presence_penalty\":0.75,\"top_k\":20,"
                "\"min_p\":0.05,\"repeat_penalty\":1.1,\"stop\":[\"END\"]}");
    EXPECT_ABSENT(out, "max_tokens");
    EXPECT_ABSENT(out, "temperature");
    EXPECT_ABSENT(out, "stop");
    json_decref(out);

    out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                "\"max_completion_tokens\":64,\"stop\":[\"a\",\"b\"],\"temperature\":null}",
                &p);
    EXPECT_JSON(out, "options", "{\"num_predict\":64,\"stop\":[\"a\",\"b\"]}");
    json_decref(out);
}
END_TEST

START_TEST(test_openai_response_format)
{
    struct translate_params p = tparams();
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    char req[512];
    snprintf(req, sizeof req, "{%s,\"response_format\":{\"type\":\"json_object\"}}", msgs);
    json_t *out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, req, &p);
    EXPECT_JSON(out, "format", "\"json\"");
    json_decref(out);

    snprintf(req, sizeof req,
             "{%s,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
             "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}}",
             msgs);
    out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, req, &p);
    EXPECT_JSON(out, "format",
                "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}");
    json_decref(out);

    snprintf(req, sizeof req, "{%s,\"response_format\":{\"type\":\"text\"}}", msgs);
    out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, req, &p);
    EXPECT_ABSENT(out, "format");
    json_decref(out);

    snprintf(req, sizeof req,
             "{%s,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}",
             msgs);
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, req, "response_format.json_schema.schema");
}
END_TEST

START_TEST(test_openai_reasoning_effort_to_think)
{
    struct translate_params p = tparams();
    static const char *const cases[][2] = {
        {"\"reasoning_effort\":\"high\"", "\"high\""},
        {"\"reasoning_effort\":\"low\"", "\"low\""},
        {"\"reasoning_effort\":\"none\"", "false"},
        {"\"reasoning\":{\"effort\":\"medium\"}", "\"medium\""},
        {"\"temperature\":1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],%s}",
                 cases[i][0]);
        json_t *out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, req, &p);
        EXPECT_JSON(out, "think", cases[i][1]);
        json_decref(out);
    }
}
END_TEST

START_TEST(test_openai_alias_options_and_num_ctx)
{
    json_t *alias = parse("{\"temperature\":0.75,\"top_k\":20,\"stop\":[\"<x>\"]}");
    struct translate_params p = tparams();
    p.num_ctx = 8192;
    p.alias_options = alias;
    json_t *out =
        tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
              "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"temperature\":0.25}", &p);
    /* the client's temperature wins; the alias fills the rest */
    EXPECT_JSON(out, "options",
                "{\"temperature\":0.25,\"top_k\":20,\"stop\":[\"<x>\"],\"num_ctx\":8192}");
    json_decref(out);

    /* num_ctx from the alias beats the default context length */
    json_decref(alias);
    alias = parse("{\"num_ctx\":4096}");
    p.alias_options = alias;
    out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", &p);
    EXPECT_JSON(out, "options", "{\"num_ctx\":4096}");
    json_decref(out);
    json_decref(alias);
}
END_TEST

START_TEST(test_openai_completions_to_generate)
{
    struct translate_params p = tparams();
    p.num_ctx = 16384;
    json_t *out = tr_ok(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA,
                        "{\"model\":\"coder\",\"prompt\":\"def f(\",\"suffix\":\"):\\n\","
                        "\"max_tokens\":16,\"stream\":false,\"stop\":[\"\\n\\n\"]}",
                        &p);
    EXPECT_JSON(
        out, "",
        "{\"model\":\"qwen3-coder:30b\",\"stream\":true,\"prompt\":\"def f(\",\"suffix\":\"):\\n\","
        "\"options\":{\"num_predict\":16,\"stop\":[\"\\n\\n\"],\"num_ctx\":16384}}");
    json_decref(out);
    out = tr_ok(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, "{\"prompt\":[\"only one\"]}", &p);
    EXPECT_STR(out, "prompt", "only one");
    EXPECT_ABSENT(out, "messages");
    json_decref(out);
    TR_BAD(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, "{\"prompt\":[\"a\",\"b\"]}", "prompt");
    TR_BAD(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, "{\"prompt\":7}", "prompt");
    TR_BAD(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, "{\"max_tokens\":1}", "prompt");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Requests: Ollama -> OpenAI                                         */
/* ------------------------------------------------------------------ */

START_TEST(test_ollama_chat_to_openai)
{
    struct translate_params p = tparams();
    p.num_ctx = 32768; /* not sent to an OpenAI server */
    json_t *out =
        tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
              "{\"model\":\"coder\",\"stream\":false,\"keep_alive\":\"5m\",\"messages\":["
              "{\"role\":\"system\",\"content\":\"sys\"},"
              "{\"role\":\"user\",\"content\":\"look\",\"images\":[\"iVBORw0KGgo=\",\"/9j/4AAQSk\","
              "\"R0lGODlhAQ\",\"UklGRiQAAABXRUJQ\"]},"
              "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
              "  {\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"a.c\"}}},"
              "  {\"id\":\"call_abc\",\"function\":{\"index\":1,\"name\":\"list_dir\","
              "\"arguments\":{\"dir\":\".\"}}}]},"
              "{\"role\":\"tool\",\"content\":\"x\",\"tool_name\":\"read_file\"},"
              "{\"role\":\"tool\",\"content\":\"y\",\"tool_call_id\":\"call_abc\"},"
              "{\"role\":\"user\"}],"
              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\"}}],"
              "\"options\":{\"num_predict\":256,\"temperature\":0.5,\"top_p\":0.75,\"seed\":7,"
              "\"top_k\":40,"
              "\"min_p\":0.0625,\"repeat_penalty\":1.5,\"frequency_penalty\":0.25,"
              "\"presence_penalty\":0.125,"
              "\"stop\":[\"</s>\"],\"num_ctx\":99999,\"num_gpu\":1}}",
              &p);
    EXPECT_STR(out, "model", "qwen3-coder:30b");
    EXPECT_JSON(out, "stream", "true");
    EXPECT_JSON(out, "stream_options", "{\"include_usage\":true}");
    EXPECT_JSON(out, "messages[0]", "{\"role\":\"system\",\"content\":\"sys\"}");
    EXPECT_JSON(
        out, "messages[1].content",
        "[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQSk\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/gif;base64,R0lGODlhAQ\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/webp;base64,"
        "UklGRiQAAABXRUJQ\"}}]");
    EXPECT_ABSENT(out, "messages[1].images");
    /* tool calls: arguments as a JSON string, ids kept or synthesized */
    json_t *c0 = jp(out, "messages[2].tool_calls[0]");
    const char *id0 = json_string_value(json_object_get(c0, "id"));
    ck_assert_msg(is_id(id0, "call_", 8), "synthesized id %s", id0 ? id0 : "(none)");
    EXPECT_STR(c0, "type", "function");
    EXPECT_STR(c0, "function.name", "read_file");
    json_t *args = parse(json_string_value(jp(c0, "function.arguments")));
    EXPECT_JSON(args, "", "{\"path\":\"a.c\"}");
    json_decref(args);
    EXPECT_JSON(out, "messages[2].tool_calls[1]",
                "{\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"list_dir\","
                "\"arguments\":\"{\\\"dir\\\":\\\".\\\"}\"}}");
    /* the tool message named only by tool_name answers the synthesized id */
    EXPECT_STR(out, "messages[3].tool_call_id", id0);
    EXPECT_STR(out, "messages[3].content", "x");
    EXPECT_STR(out, "messages[4].tool_call_id", "call_abc");
    EXPECT_JSON(out, "messages[5]", "{\"role\":\"user\",\"content\":\"\"}");
    EXPECT_JSON(out, "tools", "[{\"type\":\"function\",\"function\":{\"name\":\"read_file\"}}]");
    /* options become top-level OpenAI fields; runner options are dropped */
    EXPECT_JSON(out, "max_tokens", "256");
    EXPECT_JSON(out, "temperature", "0.5");
    EXPECT_JSON(out, "top_p", "0.75");
    EXPECT_JSON(out, "seed", "7");
    EXPECT_JSON(out, "top_k", "40");
    EXPECT_JSON(out, "min_p", "0.0625");
    EXPECT_JSON(out, "repeat_penalty", "1.5");
    EXPECT_JSON(out, "frequency_penalty", "0.25");
    EXPECT_JSON(out, "presence_penalty", "0.125");
    EXPECT_JSON(out, "stop", "[\"</s>\"]");
    EXPECT_ABSENT(out, "max_completion_tokens");
    EXPECT_ABSENT(out, "options");
    EXPECT_ABSENT(out, "num_ctx");
    EXPECT_ABSENT(out, "num_gpu");
    EXPECT_ABSENT(out, "response_format");
    json_decref(out);
}
END_TEST

START_TEST(test_ollama_synthesized_ids_are_distinct)
{
    struct translate_params p = tparams();
    json_t *out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
                        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
                        "{\"function\":{\"name\":\"a\",\"arguments\":{}}},"
                        "{\"function\":{\"name\":\"b\",\"arguments\":{}}},"
                        "{\"function\":{\"name\":\"c\"}}]},"
                        "{\"role\":\"tool\",\"tool_name\":\"b\",\"content\":\"rb\"},"
                        "{\"role\":\"tool\",\"tool_name\":\"a\",\"content\":\"ra\"}]}",
                        &p);
    const char *a = json_string_value(jp(out, "messages[0].tool_calls[0].id"));
    const char *b = json_string_value(jp(out, "messages[0].tool_calls[1].id"));
    const char *c = json_string_value(jp(out, "messages[0].tool_calls[2].id"));
    ck_assert(is_id(a, "call_", 8) && is_id(b, "call_", 8) && is_id(c, "call_", 8));
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(b, c);
    ck_assert_str_ne(a, c);
    EXPECT_STR(out, "messages[0].tool_calls[2].function.arguments", "{}");
    EXPECT_STR(out, "messages[1].tool_call_id", b);
    EXPECT_STR(out, "messages[2].tool_call_id", a);
    json_decref(out);
}
END_TEST

START_TEST(test_ollama_format_to_response_format)
{
    struct translate_params p = tparams();
    const char *json_req =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"format\":\"json\"}";
    json_t *out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, json_req, &p);
    /* llama.cpp's server constrains json_object output only with a schema */
    EXPECT_JSON(out, "response_format", "{\"type\":\"json_object\",\"schema\":{\"type\":\"object\"}}");
    json_decref(out);
    out = tr_ok(EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI, "{\"prompt\":\"q\",\"format\":\"json\"}", &p);
    EXPECT_JSON(out, "response_format", "{\"type\":\"json_object\",\"schema\":{\"type\":\"object\"}}");
    json_decref(out);

    p.upstream_is_lmstudio = true; /* LM Studio rejects json_object */
    out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, json_req, &p);
    EXPECT_JSON(out, "response_format",
                "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"response\","
                "\"schema\":{\"type\":\"object\"}}}");
    json_decref(out);

    p.upstream_is_lmstudio = false;
    out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                "\"format\":{\"type\":\"object\",\"required\":[\"a\"]}}",
                &p);
    EXPECT_JSON(out, "response_format",
                "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"response\","
                "\"schema\":{\"type\":\"object\",\"required\":[\"a\"]}}}");
    json_decref(out);

    out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"format\":\"\"}", &p);
    EXPECT_ABSENT(out, "response_format");
    json_decref(out);
}
END_TEST

START_TEST(test_ollama_alias_options_under_client)
{
    json_t *alias = parse("{\"temperature\":0.75,\"num_predict\":512,\"num_ctx\":4096}");
    struct translate_params p = tparams();
    p.alias_options = alias;
    json_t *out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                        "\"options\":{\"temperature\":0.125}}",
                        &p);
    EXPECT_JSON(out, "temperature", "0.125");
    EXPECT_JSON(out, "max_tokens", "512");
    EXPECT_ABSENT(out, "num_ctx");
    json_decref(out);
    json_decref(alias);
}
END_TEST

START_TEST(test_ollama_generate_to_completions)
{
    struct translate_params p = tparams();
    json_t *out =
        tr_ok(EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI,
              "{\"model\":\"coder\",\"prompt\":\"Why?\",\"system\":\"Be brief.\",\"suffix\":\"!\","
              "\"options\":{\"num_predict\":32,\"stop\":\"\\n\"}}",
              &p);
    EXPECT_JSON(
        out, "",
        "{\"model\":\"qwen3-coder:30b\",\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},"
        "\"prompt\":\"Be brief.\\n\\nWhy?\",\"suffix\":\"!\",\"max_tokens\":32,\"stop\":\"\\n\"}");
    json_decref(out);
    out = tr_ok(EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI, "{\"prompt\":\"Why?\",\"system\":\"\"}", &p);
    EXPECT_STR(out, "prompt", "Why?");
    json_decref(out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Requests: same dialect, embed, errors                              */
/* ------------------------------------------------------------------ */

START_TEST(test_same_dialect_ollama_changes_only_model_stream_num_ctx)
{
    const char *req =
        "{\"model\":\"coder\",\"stream\":false,\"keep_alive\":\"30m\",\"think\":true,"
        "\"format\":\"json\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"images\":[\"iVBOR\"]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"t\"}}],"
        "\"options\":{\"temperature\":0.125,\"num_ctx\":2048},\"x_extra\":[1,2]}";
    struct translate_params p = tparams();
    p.num_ctx = 8192;
    json_t *out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, req, &p);
    json_t *want = parse(req);
    json_object_set_new(want, "model", json_string("qwen3-coder:30b"));
    json_object_set_new(want, "stream", json_true());
    /* the client's num_ctx is kept */
    ck_assert_msg(json_equal(out, want), "pass-through changed more than model and stream: %s",
                  dump(out));
    json_decref(want);
    json_decref(out);

    /* no num_ctx from the client: ours is added; alias options go under */
    json_t *alias = parse("{\"temperature\":0.9,\"min_p\":0.05}");
    p.alias_options = alias;
    out = tr_ok(
        EP_GENERATE, WIRE_OLLAMA, WIRE_OLLAMA,
        "{\"model\":\"coder\",\"prompt\":\"p\",\"raw\":true,\"options\":{\"temperature\":0.125}}",
        &p);
    EXPECT_JSON(out, "",
                "{\"model\":\"qwen3-coder:30b\",\"prompt\":\"p\",\"raw\":true,\"stream\":true,"
                "\"options\":{\"temperature\":0.125,\"min_p\":0.05,\"num_ctx\":8192}}");
    json_decref(out);
    json_decref(alias);

    p.alias_options = NULL;
    out = tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &p);
    EXPECT_JSON(out, "options", "{\"num_ctx\":8192}");
    EXPECT_JSON(out, "stream", "true");
    json_decref(out);
}
END_TEST

START_TEST(test_same_dialect_openai_changes_only_model_stream)
{
    const char *req = "{\"model\":\"coder\",\"stream\":false,\"temperature\":0.5,\"max_tokens\":9,"
                      "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                      "\"image_url\":{\"url\":\"https://x/y.png\"}}]}],"
                      "\"response_format\":{\"type\":\"json_object\"},\"tool_choice\":\"auto\","
                      "\"logit_bias\":{\"5\":1}}";
    struct translate_params p = tparams();
    p.num_ctx = 8192;
    json_t *out = tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, req, &p);
    json_t *want = parse(req);
    json_object_set_new(want, "model", json_string("qwen3-coder:30b"));
    json_object_set_new(want, "stream", json_true());
    json_object_set_new(want, "stream_options", json_pack("{s:b}", "include_usage", 1));
    ck_assert_msg(json_equal(out, want), "OpenAI pass-through changed too much: %s", dump(out));
    json_decref(want);
    json_decref(out);

    out = tr_ok(EP_GENERATE, WIRE_OPENAI, WIRE_OPENAI,
                "{\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"include_usage\":false}}",
                &p);
    EXPECT_JSON(out, "stream_options", "{\"include_usage\":true}");
    EXPECT_ABSENT(out, "options");
    json_decref(out);
}
END_TEST

START_TEST(test_embed_requests)
{
    struct translate_params p = tparams();
    p.upstream_model = "nomic-embed-text:latest";
    p.num_ctx = 8192;
    json_t *out = tr_ok(EP_EMBED, WIRE_OPENAI, WIRE_OLLAMA,
                        "{\"model\":\"e\",\"input\":[\"a\",\"b\"],\"dimensions\":256,"
                        "\"encoding_format\":\"float\"}",
                        &p);
    EXPECT_JSON(out, "",
                "{\"model\":\"nomic-embed-text:latest\",\"input\":[\"a\",\"b\"],\"dimensions\":256,"
                "\"options\":{\"num_ctx\":8192}}");
    json_decref(out);

    p.num_ctx = 0;
    out = tr_ok(EP_EMBED, WIRE_OLLAMA, WIRE_OPENAI, "{\"model\":\"e\",\"input\":\"a\"}", &p);
    EXPECT_JSON(
        out, "",
        "{\"model\":\"nomic-embed-text:latest\",\"input\":\"a\",\"encoding_format\":\"float\"}");
    json_decref(out);

    /* the legacy /api/embeddings body names its text "prompt" */
    out = tr_ok(EP_EMBED, WIRE_OLLAMA, WIRE_OLLAMA, "{\"model\":\"e\",\"prompt\":\"hello\"}", &p);
    EXPECT_STR(out, "input", "hello");
    EXPECT_STR(out, "model", "nomic-embed-text:latest");
    json_decref(out);

    TR_BAD(EP_EMBED, WIRE_OPENAI, WIRE_OLLAMA, "{\"model\":\"e\"}", "input");
    TR_BAD(EP_EMBED, WIRE_OLLAMA, WIRE_OPENAI, "{\"input\":5}", "input");
}
END_TEST

/* /api/embed to Ollama keeps Ollama's own fields and treats options as
 * chat does: the client's first, then the alias's, then our num_ctx. */
START_TEST(test_embed_to_ollama_keeps_client_fields)
{
    json_t *alias = parse("{\"num_ctx\":2048,\"num_thread\":4}");
    struct translate_params p = tparams();
    p.num_ctx = 8192;
    json_t *out = tr_ok(EP_EMBED, WIRE_OLLAMA, WIRE_OLLAMA,
                        "{\"model\":\"e\",\"input\":\"a\",\"truncate\":false,\"keep_alive\":\"1h\","
                        "\"options\":{\"num_ctx\":1024,\"num_gpu\":0}}",
                        &p);
    EXPECT_JSON(
        out, "",
        "{\"model\":\"qwen3-coder:30b\",\"input\":\"a\",\"truncate\":false,\"keep_alive\":\"1h\","
        "\"options\":{\"num_ctx\":1024,\"num_gpu\":0}}");
    json_decref(out);
    p.alias_options = alias;
    out = tr_ok(EP_EMBED, WIRE_OLLAMA, WIRE_OLLAMA,
                "{\"model\":\"e\",\"input\":[\"a\"],\"options\":{\"num_gpu\":0}}", &p);
    EXPECT_JSON(out, "options", "{\"num_gpu\":0,\"num_ctx\":2048,\"num_thread\":4}");
    json_decref(out);
    p.alias_options = NULL;
    out = tr_ok(EP_EMBED, WIRE_OLLAMA, WIRE_OLLAMA, "{\"model\":\"e\",\"input\":[\"a\"]}", &p);
    EXPECT_JSON(out, "options", "{\"num_ctx\":8192}");
    EXPECT_ABSENT(out, "truncate");
    json_decref(out);
    json_decref(alias);
}
END_TEST

/* Alias options (Ollama names) fill the OpenAI fields a client left unset
 * when both sides speak OpenAI; runner options have no OpenAI field. */
START_TEST(test_same_dialect_openai_alias_options)
{
    json_t *alias = parse("{\"temperature\":0.75,\"num_predict\":100,\"top_k\":20,\"num_ctx\":4096,"
                          "\"stop\":[\"<x>\"]}");
    struct translate_params p = tparams();
    p.alias_options = alias;
    json_t *out =
        tr_ok(EP_CHAT, WIRE_OPENAI, WIRE_OPENAI,
              "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"temperature\":0.25}", &p);
    EXPECT_JSON(out, "temperature", "0.25");
    EXPECT_JSON(out, "max_tokens", "100");
    EXPECT_JSON(out, "top_k", "20");
    EXPECT_JSON(out, "stop", "[\"<x>\"]");
    EXPECT_ABSENT(out, "num_ctx");
    EXPECT_ABSENT(out, "num_predict");
    EXPECT_ABSENT(out, "max_completion_tokens");
    EXPECT_ABSENT(out, "options");
    json_decref(out);
    out = tr_ok(
        EP_CHAT, WIRE_OPENAI, WIRE_OPENAI,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stop\":\"END\",\"max_tokens\":7}",
        &p);
    EXPECT_JSON(out, "stop", "\"END\"");
    EXPECT_JSON(out, "max_tokens", "7");
    json_decref(out);
    json_decref(alias);
}
END_TEST

/* Members for the generated requests of test_request_bytes_match_tree,
 * right and wrong: the fields the bytes path replaces, merges or reads. */
static const char *const gen_members[] = {
    "\"model\":\"coder\"", "\"model\":7", "\"name\":\"old\"", "\"stream\":false",
    "\"stream\":true", "\"stream\":\"yes\"",
    "\"options\":{}", "\"options\":{\"temperature\":0.5}",
    "\"options\":{\"num_ctx\":1024,\"top_k\":3}", "\"options\":{\"a\":1,\"a\":2}",
    "\"options\":null", "\"options\":[1]", "\"options\":{\"é\":{\"x\":[]}}",
    "\"stream_options\":{\"include_usage\":false}", "\"stream_options\":{\"other\":1}",
    "\"stream_options\":null", "\"stream_options\":\"x\"",
    "\"stream_options\":{\"include_usage\":true,\"include_usage\":false}",
    "\"max_tokens\":5", "\"max_completion_tokens\":6", "\"temperature\":0.25",
    "\"stop\":[\"a\"]", "\"top_k\":null", "\"seed\":-3",
    "\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 \\\"q\\\"\"}]",
    "\"prompt\":\"p\"", "\"x\":{\"model\":1}", "\"y\":[true,{\"stream\":0}]",
};

static const char *const gen_aliases[] = {
    NULL, "{}", "{\"temperature\":0.9}", "{\"num_predict\":10,\"stop\":\"s\"}",
    "{\"num_ctx\":512,\"top_k\":1,\"min_p\":0.1}", "{\"stop\":[\"x\"],\"seed\":4}",
};

START_TEST(test_request_bytes_match_tree)
{
    /* Random objects of those members (duplicates and all), for both
     * dialects and both endpoints, with each alias and num_ctx: the bytes
     * path must agree with the tree wherever it takes one, and must take
     * the plain ones. */
    uint32_t rng = 2026;
    size_t n_members = sizeof gen_members / sizeof gen_members[0];
    size_t n_aliases = sizeof gen_aliases / sizeof gen_aliases[0];
    int taken = 0, refused_by_tree = 0;
    for (int round = 0; round < 3000; round++) {
        struct sbuf req = {0};
        sbuf_add(&req, "{", 1);
        rng = rng * 1103515245u + 12345u;
        int count = (int)((rng >> 16) % 7);
        for (int i = 0; i < count; i++) {
            rng = rng * 1103515245u + 12345u;
            if (i > 0)
                sbuf_add(&req, ",", 1);
            sbuf_adds(&req, gen_members[(rng >> 8) % n_members]);
        }
        sbuf_add(&req, "}", 1);
        rng = rng * 1103515245u + 12345u;
        enum wire dialect = rng & 1 ? WIRE_OLLAMA : WIRE_OPENAI;
        enum endpoint ep = rng & 2 ? EP_CHAT : EP_GENERATE;
        const char *alias = gen_aliases[(rng >> 8) % n_aliases];
        json_t *alias_json = alias ? parse(alias) : NULL;
        struct translate_params p = tparams();
        p.alias_options = alias_json;
        p.num_ctx = rng & 4 ? 8192 : 0;
        json_t *in = parse(req.s);
        struct cerr err = {0};
        json_t *out = translate_request(ep, dialect, dialect, in, &p, &err);
        refused_by_tree += out == NULL;
        taken += bytes_path_agrees(ep, dialect, req.s, &p, out);
        json_decref(out);
        json_decref(in);
        json_decref(alias_json);
        sbuf_free(&req);
    }
    /* Both outcomes happen, and most requests take the bytes path. */
    ck_assert_int_gt(refused_by_tree, 100);
    ck_assert_int_gt(taken, 1500);
}
END_TEST

START_TEST(test_ill_typed_fields_are_400)
{
    /* OpenAI client */
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, "[]", "JSON object");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, "{\"model\":\"m\"}", "messages");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, "{\"messages\":[]}", "messages");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, "{\"messages\":\"hi\"}", "messages");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, "{\"messages\":[{\"content\":\"x\"}]}",
           "messages[0].role");
    TR_BAD(
        EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":5}]}",
        "messages[1].content");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}",
           "messages[0].content");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
           "\"content\":null,"
           "\"tool_calls\":[{\"id\":\"1\",\"function\":{\"name\":\"f\","
           "\"arguments\":\"{not json\"}}]}]}",
           "messages[1].tool_calls[0]");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
           "{\"id\":\"1\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
           "{\"id\":\"2\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
           "messages[0].tool_calls[1]");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":{}}", "tools");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":\"hot\"}",
           "temperature");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":\"5\"}",
           "max_tokens");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"seed\":true}", "seed");
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":5}", "stop");
    /* Ollama client */
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, "\"text\"", "JSON object");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, "{\"messages\":{}}", "messages");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, "{\"messages\":[{\"content\":\"x\"}]}",
           "messages[0].role");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"iVBOR\",5]}]}",
           "messages[0].images[1]");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"options\":\"fast\"}",
           "options");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\","
           "\"content\":\"r\"}]}",
           "messages[1].tool_call_id");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
           "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\","
           "\"tool_calls\":[{\"function\":{\"name\":\"a\"}}]},"
           "{\"role\":\"tool\",\"tool_name\":\"b\",\"content\":\"r\"}]}",
           "messages[1].tool_call_id");
    TR_BAD(EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI, "{\"model\":\"m\"}", "prompt");
    TR_BAD(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"options\":[1]}", "options");
    TR_BAD(EP_EMBED, WIRE_OLLAMA, WIRE_OLLAMA, "{\"input\":{}}", "input");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Streams: golden files                                              */
/* ------------------------------------------------------------------ */

static const struct golden {
    const char *input, *expected;
    enum endpoint ep;
    enum wire up, client;
    bool stream, usage, sse_out;
} goldens[] = {
    {"ollama_chat.ndjson", "ollama_chat.openai-sse.expected", EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
     true, true, true},
    {"ollama_chat.ndjson", "ollama_chat.openai-json.expected", EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
     false, false, false},
    {"openai_chat.sse", "openai_chat.ollama-ndjson.expected", EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
     true, false, false},
    {"openai_chat.sse", "openai_chat.ollama-json.expected", EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
     false, false, false},
};
#define N_GOLDENS (sizeof goldens / sizeof goldens[0])

static struct xlate_params
golden_params(const struct golden *g)
{
    return xparams(g->ep, g->up, g->client, g->stream, g->usage);
}

START_TEST(test_golden_streams)
{
    const struct golden *g = &goldens[_i];
    size_t inlen, wantlen;
    char *in = read_case(g->input, &inlen);
    char *wanttext = read_case(g->expected, &wantlen);
    if (g->up == WIRE_OPENAI)
        ck_assert_msg(strstr(in, "\r\n\r\n") != NULL && strstr(in, "\n\n: keep-alive\n\n") != NULL,
                      "%s lost its CRLF events or keep-alive comments", g->input);
    struct xlate_params xp = golden_params(g);
    struct run r;
    run_stream(&xp, in, inlen, 0, 0, &r);
    ck_assert_msg(r.feed == XLATE_END, "%s: feed status %d (%s)", g->input, r.feed, r.err.msg);
    ck_assert_msg(r.end == XLATE_END, "%s: end status %d (%s)", g->input, r.end, r.err.msg);
    json_t *got = g->sse_out ? sse_events(out_text(&r)) : ndjson_lines(out_text(&r));
    json_t *want = g->sse_out ? sse_events(wanttext) : ndjson_lines(wanttext);
    normalize_ids(got, in);
    EXPECT_SAME_LIST(got, want);
    if (!g->stream)
        ck_assert_uint_eq(json_array_size(got), 1);
    json_decref(got);
    json_decref(want);
    sbuf_free(&r.out);
    free(in);
    free(wanttext);
}
END_TEST

/* Details the golden comparison hides behind placeholders. */
START_TEST(test_ollama_to_openai_stream_ids_and_arguments)
{
    size_t inlen;
    char *in = read_case("ollama_chat.ndjson", &inlen);
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, true);
    struct run r;
    run_stream(&xp, in, inlen, 0, 0, &r);
    json_t *ev = sse_events(out_text(&r));
    size_t n = json_array_size(ev);
    ck_assert_uint_ge(n, 4);
    const char *id = json_string_value(jp(ev, "[0].id"));
    ck_assert_msg(is_id(id, "chatcmpl-", 24), "stream id %s", id ? id : "(none)");
    for (size_t i = 0; i + 1 < n; i++) {
        EXPECT_STR(json_array_get(ev, i), "id", id);
        EXPECT_STR(json_array_get(ev, i), "object", "chat.completion.chunk");
        EXPECT_JSON(json_array_get(ev, i), "created", "1767225600");
        EXPECT_STR(json_array_get(ev, i), "model", "coder");
    }
    EXPECT_STR(json_array_get(ev, 0), "choices[0].delta.role", "assistant");
    /* the call without an id gets call_ + 8 lowercase alnum */
    bool seen = false;
    for (size_t i = 0; i < n; i++) {
        json_t *tc = jp(json_array_get(ev, i), "choices[0].delta.tool_calls[0]");
        if (tc == NULL || json_integer_value(json_object_get(tc, "index")) != 0)
            continue;
        seen = true;
        const char *cid = json_string_value(json_object_get(tc, "id"));
        ck_assert_msg(is_id(cid, "call_", 8), "call id %s", cid ? cid : "(none)");
        ck_assert_ptr_null(strstr(in, cid));
        json_t *a = parse(json_string_value(jp(tc, "function.arguments")));
        EXPECT_JSON(a, "", "{\"path\":\"a.c\",\"n\":2}");
        json_decref(a);
    }
    ck_assert(seen);
    ck_assert_str_eq(json_string_value(json_array_get(ev, n - 1)), "[DONE]");
    EXPECT_JSON(json_array_get(ev, n - 2), "choices", "[]");
    json_decref(ev);
    sbuf_free(&r.out);
    free(in);
}
END_TEST

START_TEST(test_seed_changes_ids)
{
    size_t inlen;
    char *in = read_case("ollama_chat.ndjson", &inlen);
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, false, false);
    struct run a, b;
    run_stream(&xp, in, inlen, 0, 0, &a);
    xp.seed = 999;
    run_stream(&xp, in, inlen, 0, 0, &b);
    json_t *ja = parse(out_text(&a)), *jb = parse(out_text(&b));
    ck_assert_str_ne(json_string_value(jp(ja, "id")), json_string_value(jp(jb, "id")));
    ck_assert_str_ne(json_string_value(jp(ja, "choices[0].message.tool_calls[0].id")),
                     json_string_value(jp(jb, "choices[0].message.tool_calls[0].id")));
    json_decref(ja);
    json_decref(jb);
    sbuf_free(&a.out);
    sbuf_free(&b.out);
    free(in);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Streams: split at every byte                                       */
/* ------------------------------------------------------------------ */

static const char openai_clean_sse[] =
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
    "data: [DONE]\n\n";

static const char ollama_generate_ndjson[] =
    "{\"model\":\"m\",\"created_at\":\"2026-05-01T09:00:00Z\",\"response\":\"Hel\","
    "\"done\":false}\n"
    "{\"model\":\"m\",\"created_at\":\"2026-05-01T09:00:00Z\",\"response\":\"lo\",\"done\":false}\n"
    "{\"model\":\"m\",\"created_at\":\"2026-05-01T09:00:00Z\",\"response\":\"\",\"done\":true,"
    "\"done_reason\":\"length\",\"context\":[1,2,3],\"prompt_eval_count\":3,\"eval_count\":2}\n";

static const char openai_completions_sse[] =
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"text\":\"Hel\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"text\":\"lo\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}\n\n"
    "data: [DONE]\n\n";

struct split_case {
    const char *file; /* a golden input, or NULL for TEXT */
    const char *text;
    enum endpoint ep;
    enum wire up, client;
    bool stream, usage;
};

static const struct split_case split_cases[] = {
    {"ollama_chat.ndjson", NULL, EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, true},
    {"ollama_chat.ndjson", NULL, EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, false, false},
    {"openai_chat.sse", NULL, EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false},
    {"openai_chat.sse", NULL, EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, false, false},
    {"ollama_chat.ndjson", NULL, EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, true, false},
    {"ollama_chat.ndjson", NULL, EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, false, false},
    {"openai_chat.sse", NULL, EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, true, true},
    {"openai_chat.sse", NULL, EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, false, false},
    {NULL, ollama_generate_ndjson, EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI, true, true},
    {NULL, openai_completions_sse, EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, true, false},
};
#define N_SPLIT_CASES (sizeof split_cases / sizeof split_cases[0])

START_TEST(test_split_at_every_byte)
{
    const struct split_case *c = &split_cases[_i];
    size_t len;
    char *in = c->file ? read_case(c->file, &len) : strdup(c->text);
    if (c->file == NULL)
        len = strlen(in);
    struct xlate_params xp = xparams(c->ep, c->up, c->client, c->stream, c->usage);
    struct run whole, r;
    run_stream(&xp, in, len, 0, 0, &whole);
    ck_assert_msg(whole.feed == XLATE_END && whole.end == XLATE_END, "case %d: %s", _i,
                  whole.err.msg);
    ck_assert_uint_eq(whole.end_at, len);
    ck_assert_uint_gt(whole.out.len, 0);

    run_stream(&xp, in, len, 1, 0, &r);
    ck_assert_msg(r.feed == XLATE_END && r.end == XLATE_END, "1-byte feeding: %s", r.err.msg);
    ck_assert_msg(r.end_at == len, "1-byte feeding ended at byte %zu of %zu", r.end_at, len);
    ck_assert_msg(r.out.len == whole.out.len && memcmp(r.out.s, whole.out.s, r.out.len) == 0,
                  "case %d: 1-byte feeding gives\n%s\nbut whole gives\n%s", _i, r.out.s,
                  whole.out.s);
    ck_assert_int_eq(r.prompt, whole.prompt);
    ck_assert_int_eq(r.completion, whole.completion);
    sbuf_free(&r.out);

    for (size_t k = 1; k < len; k++) {
        run_stream(&xp, in, len, 0, k, &r);
        ck_assert_msg(r.end == XLATE_END && r.out.len == whole.out.len &&
                          memcmp(r.out.s, whole.out.s, r.out.len) == 0,
                      "case %d: split at byte %zu gives\n%s\nbut whole gives\n%s", _i, k, r.out.s,
                      whole.out.s);
        sbuf_free(&r.out);
    }
    sbuf_free(&whole.out);
    free(in);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Streams: pass-through and aggregation                              */
/* ------------------------------------------------------------------ */

START_TEST(test_passthrough_streams_are_byte_exact)
{
    size_t len;
    char *in = read_case("ollama_chat.ndjson", &len);
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, true, false);
    struct run r;
    run_stream(&xp, in, len, 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    ck_assert_msg(r.out.len == len && memcmp(r.out.s, in, len) == 0,
                  "Ollama pass-through changed the bytes:\n%s", r.out.s);
    ck_assert_int_eq(r.prompt, 812);
    ck_assert_int_eq(r.completion, 240);
    sbuf_free(&r.out);
    free(in);

    xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, true, true);
    run_stream(&xp, openai_clean_sse, strlen(openai_clean_sse), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    ck_assert_str_eq(r.out.s, openai_clean_sse);
    ck_assert_int_eq(r.prompt, 3);
    ck_assert_int_eq(r.completion, 2);
    sbuf_free(&r.out);

    xp = xparams(EP_GENERATE, WIRE_OLLAMA, WIRE_OLLAMA, true, false);
    run_stream(&xp, ollama_generate_ndjson, strlen(ollama_generate_ndjson), 7, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    ck_assert_str_eq(r.out.s, ollama_generate_ndjson);
    sbuf_free(&r.out);
}
END_TEST

START_TEST(test_passthrough_aggregation)
{
    size_t len;
    char *in = read_case("ollama_chat.ndjson", &len);
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, false, false);
    struct run r;
    run_stream(&xp, in, len, 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *lines = ndjson_lines(r.out.s);
    ck_assert_uint_eq(json_array_size(lines), 1);
    json_t *o = json_array_get(lines, 0);
    EXPECT_STR(o, "model", "coder");
    EXPECT_JSON(
        o, "message",
        "{\"role\":\"assistant\",\"content\":\"Hello\",\"thinking\":\"Let me look at the file.\","
        "\"tool_calls\":[{\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"a.c\","
        "\"n\":2}}},"
        "{\"id\":\"call_k3j9x0qa\",\"function\":{\"index\":1,\"name\":\"list_dir\","
        "\"arguments\":{}}}]}");
    EXPECT_JSON(o, "done", "true");
    EXPECT_STR(o, "done_reason", "stop");
    EXPECT_JSON(o, "total_duration", "5123456789");
    EXPECT_JSON(o, "load_duration", "41234567");
    EXPECT_JSON(o, "prompt_eval_count", "812");
    EXPECT_JSON(o, "eval_count", "240");
    EXPECT_JSON(o, "eval_duration", "4700000000");
    json_decref(lines);
    sbuf_free(&r.out);
    free(in);

    in = read_case("openai_chat.sse", &len);
    xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, false, false);
    run_stream(&xp, in, len, 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    lines = ndjson_lines(r.out.s);
    ck_assert_uint_eq(json_array_size(lines), 1);
    o = json_array_get(lines, 0);
    normalize_ids(o, in);
    EXPECT_JSON(
        o, "",
        "{\"id\":\"chatcmpl-ID\",\"object\":\"chat.completion\",\"created\":1767225600,"
        "\"model\":\"coder\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\","
        "\"reasoning_content\":\"Think.\",\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"read_file\","
        "\"arguments\":\"{\\\"path\\\":\\\"a.c\\\"}\"}},"
        "{\"id\":\"Zq8Tn2VbX0aLp4RkW7eYc1HmJ5sDf9Gu\",\"type\":\"function\","
        "\"function\":{\"name\":\"list_dir\","
        "\"arguments\":\"{\\\"dir\\\":\\\".\\\"}\"}}]},"
        "\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":29,\"completion_tokens\":5,\"total_tokens\":34}}");
    json_decref(lines);
    sbuf_free(&r.out);
    free(in);
}
END_TEST

START_TEST(test_generate_streams_both_ways)
{
    struct xlate_params xp = xparams(EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI, true, true);
    struct run r;
    run_stream(&xp, ollama_generate_ndjson, strlen(ollama_generate_ndjson), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *ev = sse_events(r.out.s);
    normalize_ids(ev, ollama_generate_ndjson);
    /* clang-format off */
#define TC(text, fin)                                                                              \
    "{\"id\":\"cmpl-ID\",\"object\":\"text_completion\",\"created\":1767225600,"                   \
    "\"model\":\"coder\",\"choices\":[{\"index\":0,\"text\":\"" text "\",\"logprobs\":null,"       \
    "\"finish_reason\":" fin "}]}"
    json_t *want = parse("[" TC("Hel", "null") "," TC("lo", "null") "," TC("", "\"length\"") ","
                         "{\"id\":\"cmpl-ID\",\"object\":\"text_completion\","
                         "\"created\":1767225600,\"model\":\"coder\",\"choices\":[],"
                         "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
                         "\"total_tokens\":5}},"
                         "\"[DONE]\"]");
#undef TC
    /* clang-format on */
    EXPECT_SAME_LIST(ev, want);
    json_decref(ev);
    json_decref(want);
    sbuf_free(&r.out);

    xp.client_stream = false;
    run_stream(&xp, ollama_generate_ndjson, strlen(ollama_generate_ndjson), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *o = parse(r.out.s);
    normalize_ids(o, ollama_generate_ndjson);
    EXPECT_JSON(o, "",
                "{\"id\":\"cmpl-ID\",\"object\":\"text_completion\",\"created\":1767225600,"
                "\"model\":\"coder\","
                "\"choices\":[{\"index\":0,\"text\":\"Hello\",\"logprobs\":null,"
                "\"finish_reason\":\"length\"}],"
                "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}");
    json_decref(o);
    sbuf_free(&r.out);

    xp = xparams(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, true, false);
    run_stream(&xp, openai_completions_sse, strlen(openai_completions_sse), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *lines = ndjson_lines(r.out.s);
    want = parse(
        "[{\"model\":\"coder\",\"created_at\":\"" CA_END "\",\"response\":\"Hel\",\"done\":false},"
        "{\"model\":\"coder\",\"created_at\":\"" CA_END "\",\"response\":\"lo\",\"done\":false},"
        "{\"model\":\"coder\",\"created_at\":\"" CA_END "\",\"response\":\"\",\"done\":true,"
        "\"done_reason\":\"stop\",\"total_duration\":1500000000,\"prompt_eval_count\":4,"
        "\"prompt_eval_duration\":1500000000,\"eval_count\":2,\"eval_duration\":0}]");
    EXPECT_SAME_LIST(lines, want);
    json_decref(lines);
    json_decref(want);
    sbuf_free(&r.out);

    xp.client_stream = false;
    run_stream(&xp, openai_completions_sse, strlen(openai_completions_sse), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    o = parse(r.out.s);
    EXPECT_JSON(o, "",
                "{\"model\":\"coder\",\"created_at\":\"" CA_END
                "\",\"response\":\"Hello\",\"done\":true,"
                "\"done_reason\":\"stop\",\"total_duration\":1500000000,\"prompt_eval_count\":4,"
                "\"prompt_eval_duration\":1500000000,\"eval_count\":2,\"eval_duration\":0}");
    json_decref(o);
    sbuf_free(&r.out);
}
END_TEST

/* Feed FRAMES one at a time at the given times, then end at END_NS. */
struct timed {
    uint64_t at;
    const char *bytes;
};

static char *
run_timed(const struct xlate_params *xp, const struct timed *frames, size_t n, uint64_t end_ns,
          struct xlate **keep)
{
    struct xlate *x = xlate_new(xp);
    struct sbuf out = {0};
    struct cerr err = {0};
    for (size_t i = 0; i < n; i++) {
        enum xlate_status st =
            xlate_feed(x, frames[i].bytes, strlen(frames[i].bytes), frames[i].at, &out, &err);
        ck_assert_msg(st == (i + 1 == n ? XLATE_END : XLATE_MORE), "frame %zu: status %d %s", i, st,
                      err.msg);
    }
    ck_assert_int_eq(xlate_end(x, end_ns, &out, &err), XLATE_END);
    sbuf_add(&out, "", 0);
    if (keep != NULL)
        *keep = x;
    else
        xlate_free(x);
    return out.s;
}

#define OAI_CHUNK(delta, finish)                                                                   \
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","      \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n\n"

START_TEST(test_openai_to_ollama_timings)
{
    static const struct timed frames[] = {
        {T0 + 100000000ull, OAI_CHUNK("{\"role\":\"assistant\",\"content\":null}", "null")},
        {T0 + 300000000ull, OAI_CHUNK("{\"content\":\"a\"}", "null")},
        {T0 + 600000000ull, OAI_CHUNK("{\"content\":\"b\"}", "null")},
        {T0 + 2250000000ull,
         OAI_CHUNK(
             "{}",
             "\"length\"") "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
                           "\"completion_tokens\":2,\"total_tokens\":12}}\n\n"
                           "data: [DONE]\n\n"},
    };
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false);
    char *out = run_timed(&xp, frames, 4, T0 + 9000000000ull, NULL);
    json_t *lines = ndjson_lines(out);
    ck_assert_uint_eq(json_array_size(lines), 3);
    EXPECT_STR(lines, "[0].created_at", "2026-01-01T00:00:00.300000000Z");
    EXPECT_STR(lines, "[0].message.content", "a");
    EXPECT_STR(lines, "[1].created_at", "2026-01-01T00:00:00.600000000Z");
    json_t *fin = json_array_get(lines, 2);
    EXPECT_JSON(
        fin, "",
        "{\"model\":\"coder\",\"created_at\":\"2026-01-01T00:00:02.250000000Z\","
        "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
        "\"done_reason\":\"length\","
        "\"total_duration\":2250000000,\"prompt_eval_count\":10,\"prompt_eval_duration\":300000000,"
        "\"eval_count\":2,\"eval_duration\":1950000000}");
    json_decref(lines);
    free(out);

    /* the JSON answer is timed at xlate_end */
    xp.client_stream = false;
    struct xlate *x;
    out = run_timed(&xp, frames, 4, T0 + 3000000000ull, &x);
    json_t *o = parse(out);
    EXPECT_STR(o, "message.content", "ab");
    EXPECT_JSON(o, "total_duration", "3000000000");
    EXPECT_JSON(o, "prompt_eval_duration", "300000000");
    EXPECT_JSON(o, "eval_duration", "2700000000");
    EXPECT_STR(o, "done_reason", "length");
    long pt, ct;
    xlate_usage(x, &pt, &ct);
    ck_assert_int_eq(pt, 10);
    ck_assert_int_eq(ct, 2);
    xlate_free(x);
    json_decref(o);
    free(out);

    /* no usage from the server: counts absent (Ollama omits zeros), durations kept */
    static const struct timed nousage[] = {
        {T0 + 500000000ull, OAI_CHUNK("{\"content\":\"a\"}", "null")},
        {T0 + 1000000000ull, OAI_CHUNK("{}", "\"stop\"") "data: [DONE]\n\n"},
    };
    xp.client_stream = true;
    out = run_timed(&xp, nousage, 2, T0 + 1000000000ull, NULL);
    lines = ndjson_lines(out);
    fin = json_array_get(lines, json_array_size(lines) - 1);
    EXPECT_JSON(fin, "total_duration", "1000000000");
    EXPECT_ABSENT(fin, "prompt_eval_count");
    EXPECT_ABSENT(fin, "eval_count");
    EXPECT_STR(fin, "done_reason", "stop");
    json_decref(lines);
    free(out);
}
END_TEST

START_TEST(test_usage_counts)
{
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, false);
    struct xlate *x = xlate_new(&xp);
    long pt = 0, ct = 0;
    xlate_usage(x, &pt, &ct);
    ck_assert_int_eq(pt, -1);
    ck_assert_int_eq(ct, -1);
    xlate_free(x);

    size_t len;
    char *in = read_case("openai_chat.sse", &len);
    xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false);
    struct run r;
    run_stream(&xp, in, len, 0, 0, &r);
    ck_assert_int_eq(r.prompt, 29);
    ck_assert_int_eq(r.completion, 5);
    sbuf_free(&r.out);
    free(in);

    /* an Ollama done object without counts: usage is zero, not unknown */
    const char *bare =
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n";
    xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, true);
    run_stream(&xp, bare, strlen(bare), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *ev = sse_events(r.out.s);
    json_t *u = json_array_get(ev, json_array_size(ev) - 2);
    EXPECT_JSON(u, "usage", "{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}");
    EXPECT_JSON(u, "choices", "[]");
    json_t *f = json_array_get(ev, json_array_size(ev) - 3);
    EXPECT_STR(f, "choices[0].finish_reason", "stop");
    json_decref(ev);
    sbuf_free(&r.out);
}
END_TEST

START_TEST(test_no_usage_chunk_unless_asked)
{
    size_t len;
    char *in = read_case("ollama_chat.ndjson", &len);
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, false);
    struct run r;
    run_stream(&xp, in, len, 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *ev = sse_events(r.out.s);
    size_t n = json_array_size(ev);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(ev, i);
        if (json_is_string(e))
            continue;
        EXPECT_ABSENT(e, "usage");
        ck_assert_uint_eq(json_array_size(json_object_get(e, "choices")), 1);
    }
    EXPECT_STR(json_array_get(ev, n - 2), "choices[0].finish_reason", "tool_calls");
    ck_assert_str_eq(json_string_value(json_array_get(ev, n - 1)), "[DONE]");
    json_decref(ev);
    sbuf_free(&r.out);
    free(in);
}
END_TEST

START_TEST(test_finish_reasons)
{
    /* Ollama "length" -> OpenAI "length" even with tool calls; plain stop */
    const char *len_stream =
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\","
        "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{}}}]},\"done\":false}\n"
        "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
        "\"done_reason\":\"length\"}\n";
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, false, false);
    struct run r;
    run_stream(&xp, len_stream, strlen(len_stream), 0, 0, &r);
    json_t *o = parse(r.out.s);
    EXPECT_STR(o, "choices[0].finish_reason", "length");
    json_decref(o);
    sbuf_free(&r.out);

    const char *stop_stream =
        "{\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":true,"
        "\"done_reason\":\"stop\"}\n";
    run_stream(&xp, stop_stream, strlen(stop_stream), 0, 0, &r);
    o = parse(r.out.s);
    EXPECT_STR(o, "choices[0].finish_reason", "stop");
    EXPECT_STR(o, "choices[0].message.content", "x");
    EXPECT_ABSENT(o, "choices[0].message.tool_calls");
    json_decref(o);
    sbuf_free(&r.out);

    /* OpenAI "tool_calls" and "stop" -> Ollama "stop"; "length" -> "length" */
    const char *oa = OAI_CHUNK("{\"content\":\"x\"}", "\"length\"") "data: [DONE]\n\n";
    xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, false, false);
    run_stream(&xp, oa, strlen(oa), 0, 0, &r);
    o = parse(r.out.s);
    EXPECT_STR(o, "done_reason", "length");
    json_decref(o);
    sbuf_free(&r.out);
}
END_TEST

START_TEST(test_sse_framing_variants)
{
    /* "data:" without a space, other fields, a payload over two data
     * lines, comments inside an event, blank NDJSON lines and CRLF */
    const char *sse =
        ": hello\n\n"
        "event: message\nid: 1\ndata:{\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"a\"}}]}\n\n"
        ": c\ndata: {\"choices\":[{\"index\":0,\n"
        "data: \"delta\":{\"content\":\"b\"}}]}\n\n"
        "retry: 100\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"r\"}}]}\r\n\r\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\r\n\r\n";
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, false, false);
    struct run r;
    run_stream(&xp, sse, strlen(sse), 0, 0, &r);
    ck_assert_msg(r.end == XLATE_END, "%s", r.err.msg);
    json_t *o = parse(r.out.s);
    EXPECT_STR(o, "message.content", "ab");
    EXPECT_STR(o, "message.thinking", "r"); /* Ollama /v1 names it "reasoning" */
    json_decref(o);
    sbuf_free(&r.out);

    const char *nd =
        "\n{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\r\n\r\n"
        "{\"message\":{\"role\":\"assistant\",\"content\":\"b\"},\"done\":true}\r\n";
    xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, false, false);
    run_stream(&xp, nd, strlen(nd), 0, 0, &r);
    ck_assert_msg(r.end == XLATE_END, "%s", r.err.msg);
    o = parse(r.out.s);
    EXPECT_STR(o, "choices[0].message.content", "ab");
    json_decref(o);
    sbuf_free(&r.out);
}
END_TEST

START_TEST(test_embed_answers)
{
    const char *oll = "{\"model\":\"nomic-embed-text:latest\",\"embeddings\":[[0.5,0.25],[1,-1]],"
                      "\"total_duration\":5,\"prompt_eval_count\":7}";
    const char *oai =
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.5,"
        "0.25]},"
        "{\"object\":\"embedding\",\"index\":1,\"embedding\":[1,-1]}],\"model\":\"e5\","
        "\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7}}";
    struct run r;
    struct xlate_params xp = xparams(EP_EMBED, WIRE_OLLAMA, WIRE_OPENAI, false, false);
    run_stream(&xp, oll, strlen(oll), 10, 0, &r);
    ck_assert_int_eq(r.feed, XLATE_MORE); /* the whole body is needed */
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *o = parse(r.out.s);
    EXPECT_JSON(
        o, "",
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.5,"
        "0.25]},"
        "{\"object\":\"embedding\",\"index\":1,\"embedding\":[1,-1]}],\"model\":\"coder\","
        "\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7}}");
    ck_assert_int_eq(r.prompt, 7);
    json_decref(o);
    sbuf_free(&r.out);

    xp = xparams(EP_EMBED, WIRE_OPENAI, WIRE_OLLAMA, false, false);
    run_stream(&xp, oai, strlen(oai), 3, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    o = parse(r.out.s);
    EXPECT_JSON(o, "",
                "{\"model\":\"coder\",\"embeddings\":[[0.5,0.25],[1,-1]],\"prompt_eval_count\":7}");
    json_decref(o);
    sbuf_free(&r.out);

    /* same dialect: the answer as the server gave it */
    xp = xparams(EP_EMBED, WIRE_OLLAMA, WIRE_OLLAMA, false, false);
    run_stream(&xp, oll, strlen(oll), 0, 0, &r);
    o = parse(r.out.s);
    json_t *w = parse(oll);
    ck_assert(json_equal(o, w));
    json_decref(o);
    json_decref(w);
    sbuf_free(&r.out);
    xp = xparams(EP_EMBED, WIRE_OPENAI, WIRE_OPENAI, false, false);
    run_stream(&xp, oai, strlen(oai), 0, 0, &r);
    o = parse(r.out.s);
    w = parse(oai);
    ck_assert(json_equal(o, w));
    json_decref(o);
    json_decref(w);
    sbuf_free(&r.out);

    /* not an embedding answer, or cut short */
    static const char *const bad[] = {
        "{\"embeddings\":5}", "{\"model\":\"m\",\"embeddings\":[[1,2]", "", "{\"data\":[]}"};
    for (size_t i = 0; i < 4; i++) {
        xp = xparams(EP_EMBED, WIRE_OLLAMA, i == 3 ? WIRE_OLLAMA : WIRE_OPENAI, false, false);
        run_stream(&xp, bad[i], strlen(bad[i]), 0, 0, &r);
        ck_assert_msg(r.end == XLATE_ERROR, "bad embedding answer %zu accepted: %s", i, r.out.s);
        ck_assert_int_eq(r.err.http_status, 502);
        ck_assert_ptr_nonnull(strstr(r.err.msg, "embedding"));
        ck_assert_uint_eq(r.out.len, 0);
        sbuf_free(&r.out);
    }
    xp = xparams(EP_EMBED, WIRE_OPENAI, WIRE_OLLAMA, false, false);
    run_stream(&xp, oll, strlen(oll), 0, 0, &r); /* Ollama shape from an OpenAI server */
    ck_assert_int_eq(r.end, XLATE_ERROR);
    sbuf_free(&r.out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Faults                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_garbage_is_an_error)
{
    static const struct {
        enum wire up, client;
        bool stream;
        const char *bytes;
    } cases[] = {
        {WIRE_OLLAMA, WIRE_OPENAI, true,
         "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},"
         "\"done\":false}\nthis is not json\n"},
        {WIRE_OLLAMA, WIRE_OLLAMA, true, "<html>502 Bad Gateway</html>\n"},
        {WIRE_OLLAMA, WIRE_OPENAI, false, "[1,2]\n"},
        {WIRE_OLLAMA, WIRE_OLLAMA, false, "\"done\"\n"},
        {WIRE_OPENAI, WIRE_OLLAMA, true, OAI_CHUNK("{\"content\":\"a\"}", "null") "data: {bad\n\n"},
        {WIRE_OPENAI, WIRE_OPENAI, true, "data: <html>\n\n"},
        {WIRE_OPENAI, WIRE_OLLAMA, false, "data: 42\n\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct xlate_params xp =
            xparams(EP_CHAT, cases[i].up, cases[i].client, cases[i].stream, true);
        struct run r;
        run_stream(&xp, cases[i].bytes, strlen(cases[i].bytes), 0, 0, &r);
        ck_assert_msg(r.feed == XLATE_ERROR, "case %zu: garbage accepted", i);
        ck_assert_msg(r.err.msg[0] != '\0' && strstr(r.err.msg, "not JSON") != NULL,
                      "case %zu: message \"%s\"", i, r.err.msg);
        ck_assert_int_eq(r.err.http_status, 502);
        ck_assert_int_ne(r.err.code, -EIO); /* our words, not the server's */
        /* nothing that looks like a finished answer went out */
        ck_assert_ptr_null(strstr(r.out.s, "[DONE]"));
        ck_assert_ptr_null(strstr(r.out.s, "\"done\":true"));
        ck_assert_ptr_null(strstr(r.out.s, "finish_reason\":\"stop"));
        sbuf_free(&r.out);
    }
}
END_TEST

START_TEST(test_inband_errors)
{
    static const struct {
        enum wire up, client;
        bool stream;
        const char *before, *error, *want;
        bool forwarded;
    } cases[] = {
        {WIRE_OLLAMA, WIRE_OLLAMA, true,
         "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n",
         "{\"error\":\"x\"}\n", "x", true},
        {WIRE_OLLAMA, WIRE_OLLAMA, false,
         "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n",
         "{\"error\":\"x\"}\n", "x", false},
        {WIRE_OLLAMA, WIRE_OPENAI, true,
         "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n",
         "{\"error\":\"out of memory\"}\n", "out of memory", false},
        {WIRE_OLLAMA, WIRE_OPENAI, false, "", "{\"error\":\"x\"}\n", "x", false},
        {WIRE_OPENAI, WIRE_OPENAI, true, OAI_CHUNK("{\"content\":\"a\"}", "null"),
         "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"code\":500}}\n\n",
         "boom", true},
        {WIRE_OPENAI, WIRE_OPENAI, false, OAI_CHUNK("{\"content\":\"a\"}", "null"),
         "data: {\"error\":{\"message\":\"boom\"}}\n\n", "boom", false},
        {WIRE_OPENAI, WIRE_OLLAMA, true, OAI_CHUNK("{\"content\":\"a\"}", "null"),
         "data: {\"error\":{\"message\":\"context overflow\",\"n_ctx\":4096}}\n\n",
         "context overflow", false},
        {WIRE_OPENAI, WIRE_OLLAMA, true, "",
         "data: {\"error\":\"Unexpected endpoint or method. (POST /api/chat)\"}\n\n",
         "Unexpected endpoint", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct xlate_params xp =
            xparams(EP_CHAT, cases[i].up, cases[i].client, cases[i].stream, false);
        struct run r;
        char *in = NULL;
        ck_assert_int_ge(asprintf(&in, "%s%s", cases[i].before, cases[i].error), 0);
        run_stream(&xp, in, strlen(in), 0, 0, &r);
        ck_assert_msg(r.feed == (cases[i].forwarded ? XLATE_ERROR_PASSED : XLATE_ERROR),
                      "case %zu: in-band error not seen (%d)", i, r.feed);
        ck_assert_msg(strstr(r.err.msg, cases[i].want) != NULL, "case %zu: message \"%s\"", i,
                      r.err.msg);
        ck_assert_int_eq(r.err.http_status, 502);
        if (cases[i].forwarded) {
            ck_assert_msg(r.out.len == strlen(in) && memcmp(r.out.s, in, r.out.len) == 0,
                          "case %zu: not forwarded as is:\n%s", i, r.out.s);
        } else {
            ck_assert_msg(strstr(r.out.s, "error") == NULL, "case %zu: error leaked:\n%s", i,
                          r.out.s);
            ck_assert_ptr_null(strstr(r.out.s, "[DONE]"));
            ck_assert_ptr_null(strstr(r.out.s, "\"done\":true"));
        }
        free(in);
        sbuf_free(&r.out);
    }
}
END_TEST

/* Cut each golden-shaped stream before its last frame (and in the middle
 * of it): the end must be reported as an error and nothing may look done. */
START_TEST(test_truncated_streams_are_errors)
{
    const struct split_case *c = &split_cases[_i];
    size_t len;
    char *in = c->file ? read_case(c->file, &len) : strdup(c->text);
    if (c->file == NULL)
        len = strlen(in);
    const char *marker = c->up == WIRE_OPENAI ? "data: [DONE]" : "\"done\":true";
    const char *last = strstr(in, marker);
    ck_assert_ptr_nonnull(last);
    while (last > in && last[-1] != '\n')
        last--;
    size_t cuts[] = {(size_t)(last - in), (size_t)(last - in) + 5, len - 1};
    for (size_t k = 0; k < 3; k++) {
        struct xlate_params xp = xparams(c->ep, c->up, c->client, c->stream, c->usage);
        struct run r;
        run_stream(&xp, in, cuts[k], 0, 0, &r);
        ck_assert_msg(r.feed == XLATE_MORE, "case %d cut %zu: feed said %d", _i, cuts[k], r.feed);
        ck_assert_msg(r.end == XLATE_ERROR, "case %d cut %zu: a cut stream ended well", _i,
                      cuts[k]);
        ck_assert_msg(strstr(r.err.msg, "closed") != NULL &&
                          strstr(r.err.msg, c->up == WIRE_OPENAI ? "[DONE]" : "done") != NULL,
                      "case %d: message \"%s\"", _i, r.err.msg);
        ck_assert_int_eq(r.err.http_status, 502);
        if (c->up != c->client || !c->stream) {
            ck_assert_ptr_null(strstr(r.out.s, "[DONE]"));
            ck_assert_ptr_null(strstr(r.out.s, "\"done\":true"));
            ck_assert_ptr_null(strstr(r.out.s, "\"finish_reason\":\""));
        }
        if (!c->stream)
            ck_assert_msg(r.out.len == 0, "a JSON answer went out for a cut stream: %s", r.out.s);
        sbuf_free(&r.out);
    }
    free(in);
}
END_TEST

START_TEST(test_xlate_error_shapes)
{
    const char *msg = "ollama (http://127.0.0.1:11434): said \"no\"\nthen died";
    for (int stream = 0; stream < 2; stream++) {
        struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, stream, true);
        struct xlate *x = xlate_new(&xp);
        struct sbuf out = {0};
        xlate_error(x, msg, &out);
        json_t *ev = sse_events(out.s);
        ck_assert_uint_eq(json_array_size(ev), 1);
        EXPECT_JSON(json_array_get(ev, 0), "",
                    "{\"error\":{\"message\":"
                    "\"ollama (http://127.0.0.1:11434): said \\\"no\\\"\\nthen died\","
                    "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        json_decref(ev);
        sbuf_free(&out);
        xlate_free(x);

        xp = xparams(EP_GENERATE, WIRE_OPENAI, WIRE_OLLAMA, stream, false);
        x = xlate_new(&xp);
        xlate_error(x, msg, &out);
        ck_assert_msg(out.len > 0 && out.s[out.len - 1] == '\n' &&
                          memchr(out.s, '\n', out.len) == out.s + out.len - 1,
                      "not one NDJSON line: %s", out.s);
        json_t *o = parse(out.s);
        EXPECT_JSON(o, "",
                    "{\"error\":\"ollama (http://127.0.0.1:11434): said \\\"no\\\"\\nthen died\"}");
        json_decref(o);
        sbuf_free(&out);
        xlate_free(x);
    }
}
END_TEST

START_TEST(test_frame_over_16_mib_is_an_error)
{
    size_t max = 16 * MiB;
    char *big = malloc(max + 1);
    ck_assert_ptr_nonnull(big);
    for (int up = 0; up < 2; up++) {
        struct xlate_params xp =
            xparams(EP_CHAT, up ? WIRE_OLLAMA : WIRE_OPENAI, WIRE_OPENAI, true, true);
        memset(big, 'x', max + 1);
        if (!up)
            memcpy(big, "data: ", 6);
        struct xlate *x = xlate_new(&xp);
        struct sbuf out = {0};
        struct cerr err = {0};
        /* exactly 16 MiB without a terminator is still waited for ... */
        ck_assert_int_eq(xlate_feed(x, big, max / 2, T_END, &out, &err), XLATE_MORE);
        ck_assert_int_eq(xlate_feed(x, big + max / 2, max - max / 2, T_END, &out, &err),
                         XLATE_MORE);
        /* ... one more byte is too much */
        ck_assert_int_eq(xlate_feed(x, big + max, 1, T_END, &out, &err), XLATE_ERROR);
        ck_assert_msg(strstr(err.msg, "16 MiB") != NULL, "message \"%s\"", err.msg);
        ck_assert_int_eq(err.http_status, 502);
        ck_assert_uint_eq(out.len, 0);
        sbuf_free(&out);
        xlate_free(x);
    }
    free(big);
}
END_TEST

START_TEST(test_gathered_answer_over_64_mib_is_an_error)
{
    /* 17 lines of 4 MiB content: over 64 MiB only when gathered */
    size_t piece = 4 * MiB;
    char *line = malloc(piece + 128);
    ck_assert_ptr_nonnull(line);
    int n = snprintf(line, 128, "{\"message\":{\"role\":\"assistant\",\"content\":\"");
    memset(line + n, 'y', piece);
    strcpy(line + n + piece, "\"},\"done\":false}\n");
    size_t linelen = strlen(line);
    for (int stream = 0; stream < 2; stream++) {
        struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, stream, false);
        struct xlate *x = xlate_new(&xp);
        struct sbuf out = {0};
        struct cerr err = {0};
        enum xlate_status st = XLATE_MORE;
        int fed = 0;
        while (st == XLATE_MORE && fed < 17) {
            st = xlate_feed(x, line, linelen, T_END, &out, &err);
            fed++;
            sbuf_reset(&out);
        }
        if (stream) {
            ck_assert_msg(st == XLATE_MORE, "a streamed answer is not gathered, but: %s", err.msg);
        } else {
            ck_assert_int_eq(st, XLATE_ERROR);
            ck_assert_int_eq(fed, 17);
            ck_assert_msg(strstr(err.msg, "64 MiB") != NULL, "message \"%s\"", err.msg);
        }
        sbuf_free(&out);
        xlate_free(x);
    }
    free(line);
}
END_TEST

START_TEST(test_bytes_after_the_end_are_ignored)
{
    size_t len;
    char *in = read_case("ollama_chat.ndjson", &len);
    char *more = NULL;
    ck_assert_int_ge(asprintf(&more, "%sgarbage\n{\"error\":\"late\"}\n", in), 0);
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, true);
    struct run a, b;
    run_stream(&xp, in, len, 0, 0, &a);
    run_stream(&xp, more, strlen(more), 0, 0, &b);
    ck_assert_int_eq(b.feed, XLATE_END);
    ck_assert_int_eq(b.end, XLATE_END);
    ck_assert_str_eq(a.out.s, b.out.s);
    sbuf_free(&a.out);
    sbuf_free(&b.out);
    free(more);
    free(in);
}
END_TEST

/* ------------------------------------------------------------------ */
/* translate_error_message                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_error_message_parsing)
{
    char msg[256];
#define EM(body) translate_error_message(body, strlen(body), msg, sizeof msg)
    memset(msg, 0, sizeof msg);
    ck_assert(EM("{\"error\":\"model 'x' not found\"}"));
    ck_assert_str_eq(msg, "model 'x' not found");
    ck_assert(EM("{\"error\":{\"message\":\"No models loaded.\",\"type\":\"invalid_request_error\","
                 "\"param\":null,\"code\":null}}"));
    ck_assert_str_eq(msg, "No models loaded.");
    ck_assert(EM(
        "{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size\","
        "\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":5000,\"n_ctx\":4096}}"));
    ck_assert_str_eq(msg, "the request exceeds the available context size");
    ck_assert(EM("{\"error\":\"Unexpected endpoint or method. (GET /api/version)\"}"));
    ck_assert_str_eq(msg, "Unexpected endpoint or method. (GET /api/version)");
    /* not error bodies */
    strcpy(msg, "unchanged");
    ck_assert(!EM("Ollama is running"));
    ck_assert(!EM(""));
    ck_assert(!EM("<html><body>502</body></html>"));
    ck_assert(!EM("{\"version\":\"0.12.0\"}"));
    ck_assert(!EM("{\"error\":"));
    ck_assert(!EM("[1,2]"));
    ck_assert_str_eq(msg, "unchanged");
    /* only LEN bytes are read; the message is cut to fit */
    const char *body = "{\"error\":\"short\"}TRAILING GARBAGE";
    ck_assert(translate_error_message(body, 17, msg, sizeof msg));
    ck_assert_str_eq(msg, "short");
    char tiny[6];
    ck_assert(translate_error_message("{\"error\":\"a long message\"}", 26, tiny, sizeof tiny));
    ck_assert_str_eq(tiny, "a lon");
#undef EM
}
END_TEST

/* The bulk of a stream takes jscan's fast path (src/wire/jscan.c): the text
 * must come out exactly as the full translation gives it, escapes and
 * all, with the frames it declines (thinking, tool calls, the end)
 * interleaved in order, and every event the same chunk shape. */
START_TEST(test_fast_path_keeps_text_and_order)
{
    const char *in =
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi \"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"caf\\u00e9 \"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\\\"q\\\" \\/ \"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\xc3\xa9\xf0\x9f\x98\x80\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\\ud83d\\ude00\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"x\\ny\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
        "[{\"function\":{\"name\":\"f\",\"arguments\":{}}}]},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"z\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
        "\"prompt_eval_count\":7,\"eval_count\":9}\n";
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, true);
    struct run r;
    run_stream(&xp, in, strlen(in), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    ck_assert_int_eq(r.prompt, 7);
    ck_assert_int_eq(r.completion, 9);
    /* The fast path took the text as the upstream escaped it. */
    ck_assert_ptr_nonnull(strstr(r.out.s, "\"content\":\"caf\\u00e9 \"}"));
    json_t *ev = sse_events(r.out.s);
    struct sbuf text = {0}, order = {0};
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        if (!json_is_object(e))
            continue; /* [DONE] */
        EXPECT_STR(e, "id", json_string_value(jp(json_array_get(ev, 0), "id")));
        EXPECT_STR(e, "object", "chat.completion.chunk");
        EXPECT_STR(e, "model", "coder");
        EXPECT_JSON(e, "created", "1767225600");
        json_t *d = jp(e, "choices[0].delta");
        if (json_string_value(json_object_get(d, "content")) != NULL &&
            json_object_get(d, "role") == NULL) {
            sbuf_adds(&text, json_string_value(json_object_get(d, "content")));
            sbuf_adds(&order, "c");
            EXPECT_JSON(e, "choices[0].finish_reason", "null");
            EXPECT_JSON(e, "choices[0].index", "0");
        } else if (json_object_get(d, "reasoning_content") != NULL) {
            sbuf_adds(&order, "r");
        } else if (json_object_get(d, "tool_calls") != NULL) {
            sbuf_adds(&order, "t");
        }
    }
    ck_assert_str_eq(text.s, "Hi caf\xc3\xa9 \"q\" / \xc3\xa9\xf0\x9f\x98\x80\xf0\x9f\x98\x80x\nyz");
    ck_assert_str_eq(order.s, "cccccrctc");
    EXPECT_STR(json_array_get(ev, json_array_size(ev) - 3), "choices[0].finish_reason",
               "tool_calls");
    json_decref(ev);
    sbuf_free(&text);
    sbuf_free(&order);
    sbuf_free(&r.out);

    /* The end's reason, plain and escaped (the escaped one is declined by
     * the fast path and decoded by the full translation). */
    static const char *const reasons[] = {"\"length\"", "\"\\u006cength\"", "\"stop\""};
    static const char *const finishes[] = {"length", "length", "stop"};
    for (size_t k = 0; k < 3; k++) {
        char end[256];
        snprintf(end, sizeof end,
                 "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},"
                 "\"done\":false}\n{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
                 "\"content\":\"b\"},\"done\":true,\"done_reason\":%s,\"eval_count\":2}\n",
                 reasons[k]);
        xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, false);
        run_stream(&xp, end, strlen(end), 0, 0, &r);
        ck_assert_int_eq(r.end, XLATE_END);
        ck_assert_int_eq(r.completion, 2);
        ev = sse_events(r.out.s);
        ck_assert_uint_eq(json_array_size(ev), 5); /* role, a, b, finish, [DONE] */
        EXPECT_STR(json_array_get(ev, 0), "choices[0].delta.role", "assistant");
        EXPECT_STR(json_array_get(ev, 2), "choices[0].delta.content", "b");
        EXPECT_STR(json_array_get(ev, 3), "choices[0].finish_reason", finishes[k]);
        json_decref(ev);
        sbuf_free(&r.out);
    }

    /* /api/generate to /v1/completions: the text goes to choices[0].text. */
    const char *gen = "{\"model\":\"m\",\"response\":\"a\",\"done\":false}\n"
                      "{\"model\":\"m\",\"response\":\"b\\t\",\"done\":false}\n"
                      "{\"model\":\"m\",\"response\":\"c\",\"done\":false}\n"
                      "{\"model\":\"m\",\"response\":\"\",\"done\":true}\n";
    xp = xparams(EP_GENERATE, WIRE_OLLAMA, WIRE_OPENAI, true, false);
    run_stream(&xp, gen, strlen(gen), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    ev = sse_events(r.out.s);
    struct sbuf gtext = {0};
    json_array_foreach(ev, i, e)
    {
        if (!json_is_object(e))
            continue;
        EXPECT_STR(e, "object", "text_completion");
        const char *t = json_string_value(jp(e, "choices[0].text"));
        if (t != NULL)
            sbuf_adds(&gtext, t);
        if (i < 3)
            EXPECT_JSON(e, "choices[0].logprobs", "null");
    }
    ck_assert_str_eq(gtext.s, "ab\tc");
    json_decref(ev);
    sbuf_free(&gtext);
    sbuf_free(&r.out);
}
END_TEST

/* An Ollama stream passed through is read by jscan only: the time of
 * the first token (not of the first frame) and the final counts. */
START_TEST(test_fast_passthrough_reads_first_token_and_counts)
{
    const char *in =
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
        "\"prompt_eval_count\":812,\"eval_count\":240}\n";
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, true, false);
    struct xlate *x = xlate_new(&xp);
    struct sbuf out = {0};
    struct cerr err = {0};
    const char *second = strchr(in, '\n') + 1;
    const char *third = strchr(second, '\n') + 1;
    ck_assert_int_eq(xlate_feed(x, in, (size_t)(second - in), T0 + 10, &out, &err), XLATE_MORE);
    ck_assert_uint_eq(xlate_first_token_ns(x), 0);
    ck_assert_int_eq(xlate_feed(x, second, (size_t)(third - second), T0 + 20, &out, &err),
                     XLATE_MORE);
    ck_assert_uint_eq(xlate_first_token_ns(x), T0 + 20);
    ck_assert_int_eq(xlate_feed(x, third, strlen(third), T0 + 30, &out, &err), XLATE_END);
    long pt, ct;
    xlate_usage(x, &pt, &ct);
    ck_assert_int_eq(pt, 812);
    ck_assert_int_eq(ct, 240);
    ck_assert_str_eq(out.s, in); /* byte for byte */
    sbuf_free(&out);
    xlate_free(x);
}
END_TEST

/* Feed IN to a new translator one frame (up to and including SEP) at a
 * time, the Nth at T0 + TIMES[N], into OUT; returns the last status.  The
 * translator's counts and first token go to PT, CT and FIRST. */
static enum xlate_status
feed_frames(const struct xlate_params *xp, const char *in, const char *sep,
            const uint64_t *times, struct sbuf *out, long *pt, long *ct, uint64_t *first)
{
    struct xlate *x = xlate_new(xp);
    struct cerr err = {0};
    enum xlate_status st = XLATE_MORE;
    for (size_t i = 0; *in != '\0'; i++) {
        const char *end = strstr(in, sep);
        size_t n = end ? (size_t)(end - in) + strlen(sep) : strlen(in);
        st = xlate_feed(x, in, n, T0 + times[i], out, &err);
        in += n;
    }
    xlate_usage(x, pt, ct);
    *first = xlate_first_token_ns(x);
    xlate_free(x);
    sbuf_add(out, "", 0);
    return st;
}

/* An OpenAI-compatible stream (llama-server's, LM Studio's) is read by
 * jscan, not built into trees: passed on byte for byte with its first
 * token's time and its usage, and translated for an Ollama client from
 * the bytes once the <think> filter has settled, keeping the server's
 * escapes; created_at follows each frame's time across a second. */
START_TEST(test_fast_openai_stream_from_the_bytes)
{
    static const char role[] = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                               "{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}\n\n";
    static const char text[] = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                               "{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
                               "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                               "{\"content\":\"caf\\u00e9\"},\"finish_reason\":null}]}\n\n"
                               "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},"
                               "\"finish_reason\":\"length\"}]}\n\n";
    static const char usage[] = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":"
                                "29,\"completion_tokens\":5,\"total_tokens\":34}}\n\n";
    static const char done[] = "data: [DONE]\n\n";
    static const uint64_t times[] = {999999999, 1000000001, 1000000002, 1000000003, 1000000004,
                                     1000000005};
    struct sbuf in = {0}, out = {0};
    sbuf_adds(&in, role);
    sbuf_adds(&in, text);
    sbuf_adds(&in, usage);
    sbuf_adds(&in, done);
    long pt, ct;
    uint64_t first;

    /* Passed on: the role event is no token; the usage event goes only
     * to a client that asked for it. */
    for (int asked = 0; asked < 2; asked++) {
        struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, true, asked);
        ck_assert_int_eq(feed_frames(&xp, in.s, "\n\n", times, &out, &pt, &ct, &first),
                         XLATE_END);
        ck_assert_uint_eq(first, T0 + times[1]);
        ck_assert_int_eq(pt, 29);
        ck_assert_int_eq(ct, 5);
        struct sbuf want = {0};
        sbuf_adds(&want, role);
        sbuf_adds(&want, text);
        if (asked)
            sbuf_adds(&want, usage);
        sbuf_adds(&want, done);
        ck_assert_str_eq(out.s, want.s);
        sbuf_free(&want);
        sbuf_free(&out);
    }

    /* Translated: the first text settles the filter; the escaped one
     * goes out as the server wrote it (the full translation decodes it),
     * each line with its own frame's time. */
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false);
    ck_assert_int_eq(feed_frames(&xp, in.s, "\n\n", times, &out, &pt, &ct, &first), XLATE_END);
    ck_assert_uint_eq(first, T0 + times[1]);
    ck_assert_int_eq(pt, 29);
    ck_assert_int_eq(ct, 5);
    const char *want_lines =
        "{\"model\":\"coder\",\"created_at\":\"2026-01-01T00:00:01.000000001Z\",\"message\":"
        "{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
        "{\"model\":\"coder\",\"created_at\":\"2026-01-01T00:00:01.000000002Z\",\"message\":"
        "{\"role\":\"assistant\",\"content\":\"caf\\u00e9\"},\"done\":false}\n";
    ck_assert_msg(strncmp(out.s, want_lines, strlen(want_lines)) == 0, "got %s", out.s);
    json_t *last = parse(out.s + strlen(want_lines)); /* the final object, alone */
    EXPECT_JSON(last, "done", "true");
    EXPECT_STR(last, "done_reason", "length");
    EXPECT_JSON(last, "eval_count", "5");
    json_decref(last);
    sbuf_free(&out);

    /* A first text that begins with "<" is left to the filter, which
     * tells "<b" from "<think>"; the text after it is read from the
     * bytes. */
    sbuf_reset(&in);
    sbuf_adds(&in, role);
    sbuf_adds(&in, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<b\"}}]}\n\n"
                   "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\">x\"}}]}\n\n");
    sbuf_adds(&in, done);
    ck_assert_int_eq(feed_frames(&xp, in.s, "\n\n", times, &out, &pt, &ct, &first), XLATE_END);
    ck_assert_ptr_nonnull(strstr(out.s, "\"content\":\"<b\"}"));
    ck_assert_ptr_nonnull(strstr(out.s, "\"content\":\">x\"}"));
    sbuf_free(&out);
    sbuf_free(&in);
}
END_TEST

/* The final Ollama line written by hand is the one jansson would build,
 * byte for byte, for every shape it takes. */
START_TEST(test_final_line_matches_jansson)
{
    for (int k = 0; k < 16; k++) {
        struct xlate_params xp =
            xparams(k & 1 ? EP_GENERATE : EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false);
        xp.model = k & 8 ? "m\"\xc3\xa9" : "coder";
        struct xlate *x = xlate_new(&xp);
        text_copy(x->finish, sizeof x->finish, k & 2 ? "length" : "stop");
        x->prompt_tokens = k & 4 ? 29 : -1;
        x->completion_tokens = k & 4 ? 0 : 5;
        if (k & 2)
            note_token(x, T0 + 700);
        struct sbuf hand = {0}, tree = {0};
        ollama_final_line(x, T_END + 123, &hand);
        emit_line(&tree, ollama_final(x, T_END + 123, false));
        ck_assert_str_eq(hand.s, tree.s);
        sbuf_free(&hand);
        sbuf_free(&tree);
        xlate_free(x);
    }
}
END_TEST

/* The fast path against the full translation, on seeded mutations of real
 * streams, in every direction and both stream modes: same statuses, same
 * error, same usage, same output. */
START_TEST(test_fast_path_matches_full_parse)
{
    static const struct {
        const char *file, *text;
        enum endpoint ep;
        enum wire up;
    } bases[] = {
        {"ollama_chat.ndjson", NULL, EP_CHAT, WIRE_OLLAMA},
        {"openai_chat.sse", NULL, EP_CHAT, WIRE_OPENAI},
        {NULL,
         "{\"model\":\"m\",\"response\":\"Hel\",\"done\":false}\n"
         "{\"model\":\"m\",\"response\":\"lo \\u00e9\\n\",\"done\":false}\n"
         "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\","
         "\"prompt_eval_count\":3,\"eval_count\":2}\n",
         EP_GENERATE, WIRE_OLLAMA},
        {NULL,
         "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"a\\\"b\"},\"done\":false}\n"
         "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\\ud83d\\ude00\"},\"done\":false}\n"
         "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"c\"},\"done\":true,"
         "\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":3}\n",
         EP_CHAT, WIRE_OLLAMA},
        /* llama-server's plain answer: a null first content, text that
         * settles the <think> filter, escapes, an event in two data
         * lines, CRLF framing, the usage event. */
        {NULL,
         "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
         "\"content\":null},\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" Hel\"},"
         "\"finish_reason\":null}]}\r\n\r\n"
         "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\\n\"},"
         "\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\n"
         "data: \"delta\":{\"content\":\"<b>\"},\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
         "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3,"
         "\"total_tokens\":7}}\n\n"
         "data: [DONE]\n\n",
         EP_CHAT, WIRE_OPENAI},
        /* <think> inline, its tags split across events. */
        {NULL,
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \"},\"finish_reason\":null}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<thi\"},\"finish_reason\":null}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nk>hm\"},\"finish_reason\":null}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"m</thi\"},\"finish_reason\":null}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nk>ok\"},\"finish_reason\":null}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":\"stop\"}]}\n\n"
         "data: [DONE]\n\n",
         EP_CHAT, WIRE_OPENAI},
        {NULL,
         "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
         "\"text\":\"Hel\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
         "\"text\":\"lo\\t\",\"logprobs\":null,\"finish_reason\":\"stop\"}],"
         "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2}}\n\n"
         "data: [DONE]\n\n",
         EP_GENERATE, WIRE_OPENAI},
    };
    static const unsigned char interesting[] = {'"', '\\', '{', '}', '[', ']', ',', ':', 'e',
                                                'u', '0', '\n', 't', 0x00, 0x1f, 0x80, 0xc3};
    uint32_t rng = 777;
    size_t compared = 0;
    for (size_t bi = 0; bi < sizeof bases / sizeof bases[0]; bi++) {
        size_t baselen = bases[bi].file ? 0 : strlen(bases[bi].text);
        char *base = bases[bi].file ? read_case(bases[bi].file, &baselen) : strdup(bases[bi].text);
        for (int round = 0; round < 600; round++) {
            char *in = xmalloc(baselen + 8);
            memcpy(in, base, baselen);
            size_t len = baselen;
            if (round > 0) { /* round 0 is the stream as it is */
                for (int e = 0; e < 1 + (int)(rng % 2); e++) {
                    rng = rng * 1103515245u + 12345u;
                    size_t at = (rng >> 8) % len;
                    unsigned char c = interesting[(rng >> 20) % sizeof interesting];
                    if ((rng >> 4) % 2 == 0) {
                        in[at] = (char)c;
                    } else if (len + 1 < baselen + 8) {
                        memmove(in + at + 1, in + at, len - at);
                        in[at] = (char)c;
                        len++;
                    }
                }
            }
            for (int client = 0; client < 2; client++) {
                for (int stream = 0; stream < 2; stream++) {
                    enum wire cw = client ? WIRE_OPENAI : WIRE_OLLAMA;
                    struct xlate_params xp = xparams(bases[bi].ep, bases[bi].up, cw, stream, true);
                    struct run fast, full;
                    run_stream(&xp, in, len, 0, 0, &fast);
                    xp.full_parse = true;
                    run_stream(&xp, in, len, 0, 0, &full);
                    ck_assert_msg(fast.feed == full.feed && fast.end == full.end,
                                  "base %zu round %d client %d stream %d: status %d/%d vs %d/%d",
                                  bi, round, client, stream, fast.feed, fast.end, full.feed,
                                  full.end);
                    ck_assert_str_eq(fast.err.msg, full.err.msg);
                    ck_assert_int_eq(fast.prompt, full.prompt);
                    ck_assert_int_eq(fast.completion, full.completion);
                    ck_assert_uint_eq(fast.first_token_ns, full.first_token_ns);
                    ck_assert_msg(stream_same_output(fast.out.s, full.out.s, cw == WIRE_OPENAI && stream),
                                  "base %zu round %d client %d stream %d: outputs differ\n"
                                  "fast: %.600s\nfull: %.600s",
                                  bi, round, client, stream, fast.out.s, full.out.s);
                    sbuf_free(&fast.out);
                    sbuf_free(&full.out);
                    compared++;
                }
            }
            free(in);
        }
        free(base);
    }
    ck_assert_uint_eq(compared, sizeof bases / sizeof bases[0] * 600 * 4);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bugs these tests found, since fixed: kept as regression tests      */
/* ------------------------------------------------------------------ */

/* BUG: an Ollama client's non-streamed /api/generate relayed to Ollama
 * loses the "thinking" text: xlate_end's generate branch copies only
 * "response" into Ollama's final object (the chat branch and the
 * OpenAI->Ollama path both keep it). */
START_TEST(test_bug_ollama_generate_aggregate_drops_thinking)
{
    const char *nd = "{\"model\":\"m\",\"response\":\"\",\"thinking\":\"hmm\",\"done\":false}\n"
                     "{\"model\":\"m\",\"response\":\"ok\",\"done\":false}\n"
                     "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\"}\n";
    struct xlate_params xp = xparams(EP_GENERATE, WIRE_OLLAMA, WIRE_OLLAMA, false, false);
    struct run r;
    run_stream(&xp, nd, strlen(nd), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *o = parse(r.out.s);
    EXPECT_STR(o, "response", "ok");
    EXPECT_STR(o, "thinking", "hmm");
    json_decref(o);
    sbuf_free(&r.out);
}
END_TEST

/* BUG: every OpenAI upstream is asked for include_usage, but in
 * pass-through the usage chunk (with "choices":[]) is forwarded to an
 * OpenAI client that did not ask for it (include_usage false), unlike the
 * Ollama->OpenAI path, which honours include_usage.  Clients that index
 * choices[0] on every chunk break on it. */
START_TEST(test_bug_passthrough_usage_chunk_not_asked_for)
{
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OPENAI, true, false);
    struct run r;
    char *lf = strdup(openai_clean_sse); /* without its CRLF event, for sse_events() */
    size_t j = 0;
    for (size_t i = 0; lf[i] != '\0'; i++)
        if (lf[i] != '\r')
            lf[j++] = lf[i];
    lf[j] = '\0';
    run_stream(&xp, lf, strlen(lf), 0, 0, &r);
    free(lf);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *ev = sse_events(r.out.s);
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        if (!json_is_string(e))
            ck_assert_msg(json_array_size(json_object_get(e, "choices")) == 1,
                          "event %zu has no choice (usage chunk not asked for): %s", i, dump(e));
    }
    json_decref(ev);
    sbuf_free(&r.out);
}
END_TEST

/* BUG: an old Ollama client answering two calls to the same tool by
 * tool_name only gets both results attached to the LATEST call: the first
 * call has no answer and the second has two.  Expected: results answer
 * the calls named so in order. */
START_TEST(test_bug_same_tool_name_results_map_to_one_call)
{
    struct translate_params p = tparams();
    json_t *out =
        tr_ok(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI,
              "{\"messages\":[{\"role\":\"user\",\"content\":\"read a.c and b.c\"},"
              "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
              "{\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"a.c\"}}},"
              "{\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"b.c\"}}}]},"
              "{\"role\":\"tool\",\"tool_name\":\"read_file\",\"content\":\"A\"},"
              "{\"role\":\"tool\",\"tool_name\":\"read_file\",\"content\":\"B\"}]}",
              &p);
    const char *id0 = json_string_value(jp(out, "messages[1].tool_calls[0].id"));
    const char *id1 = json_string_value(jp(out, "messages[1].tool_calls[1].id"));
    EXPECT_STR(out, "messages[2].tool_call_id", id0);
    EXPECT_STR(out, "messages[3].tool_call_id", id1);
    json_decref(out);
}
END_TEST

/* BUG: "stop" is documented (in the error text) as "a string or an array
 * of strings", but an array of non-strings passes through to Ollama. */
START_TEST(test_bug_stop_array_of_non_strings_accepted)
{
    TR_BAD(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[1,{\"x\":2}]}", "stop");
}
END_TEST

/* BUG: an embedding answer that is an error object (LM Studio answers
 * unknown routes with 200 + {"error":"..."}) is reported only as "not in
 * the expected shape": the server's own message is lost. */
START_TEST(test_bug_embed_error_body_message_lost)
{
    const char *body = "{\"error\":\"Unexpected endpoint or method. (POST /api/embed)\"}";
    struct xlate_params xp = xparams(EP_EMBED, WIRE_OLLAMA, WIRE_OPENAI, false, false);
    struct run r;
    run_stream(&xp, body, strlen(body), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_ERROR);
    ck_assert_msg(strstr(r.err.msg, "Unexpected endpoint") != NULL, "message \"%s\"", r.err.msg);
    sbuf_free(&r.out);
}
END_TEST

/* BUG: the "not JSON" message quotes the payload with "%.60s" but the
 * payload is not NUL-terminated at the end of its line, so the message
 * runs on into the following lines (newlines included). */
START_TEST(test_bug_garbage_message_runs_past_the_line)
{
    const char *nd = "oops\n{\"message\":{\"content\":\"secret\"},\"done\":false}\n";
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OPENAI, true, true);
    struct run r;
    run_stream(&xp, nd, strlen(nd), 0, 0, &r);
    ck_assert_int_eq(r.feed, XLATE_ERROR);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "oops"));
    ck_assert_msg(strchr(r.err.msg, '\n') == NULL && strstr(r.err.msg, "secret") == NULL,
                  "message runs past the bad line: \"%s\"", r.err.msg);
    sbuf_free(&r.out);
}
END_TEST

/* BUG: OpenAI -> OpenAI, an alias's num_predict fills max_tokens even
 * when the client limited the answer with max_completion_tokens: the
 * upstream gets both, and local servers read max_tokens (PROTOCOLS.md 3),
 * so the alias's 1000 overrides the client's 50.  OpenAI -> Ollama gets
 * this right (the client's max_completion_tokens wins). */
START_TEST(test_bug_alias_num_predict_overrides_max_completion_tokens)
{
    json_t *alias = parse("{\"num_predict\":1000}");
    struct translate_params p = tparams();
    p.alias_options = alias;
    json_t *out = tr_ok(
        EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"max_completion_tokens\":50}", &p);
    EXPECT_JSON(out, "options.num_predict", "50"); /* the other direction: right */
    json_decref(out);
    out = tr_ok(
        EP_CHAT, WIRE_OPENAI, WIRE_OPENAI,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"max_completion_tokens\":50}", &p);
    EXPECT_JSON(out, "max_completion_tokens", "50");
    json_t *mt = jp(out, "max_tokens");
    ck_assert_msg(mt == NULL || json_integer_value(mt) == 50,
                  "max_tokens %lld overrides the client's 50", (long long)json_integer_value(mt));
    json_decref(out);
    json_decref(alias);
}
END_TEST

/* BUG: PROTOCOLS.md 3 ("Thinking / reasoning") and 7 ask that a leading
 * <think>...</think> in an OpenAI server's content (llama-server with
 * --reasoning-format none, LM Studio with reasoning separation off) be
 * taken out as the thinking text when nothing was extracted; the
 * translator passes it to an Ollama client as content. */
START_TEST(test_bug_inline_think_not_extracted)
{
    const char *sse = OAI_CHUNK("{\"role\":\"assistant\",\"content\":\"<think>\"}", "null")
        OAI_CHUNK("{\"content\":\"Let me see.\"}", "null")
            OAI_CHUNK("{\"content\":\"</think>\"}", "null")
                OAI_CHUNK("{\"content\":\"Hello\"}", "\"stop\"") "data: [DONE]\n\n";
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, false, false);
    struct run r;
    run_stream(&xp, sse, strlen(sse), 0, 0, &r);
    ck_assert_int_eq(r.end, XLATE_END);
    json_t *o = parse(r.out.s);
    EXPECT_STR(o, "message.thinking", "Let me see.");
    EXPECT_STR(o, "message.content", "Hello");
    json_decref(o);
    sbuf_free(&r.out);
}
END_TEST

/* BUG: an Ollama frame whose message jscan would not vouch for (more than
 * 24 members) was still passed through fast, as if it had no token: the
 * first token's time was lost. */
START_TEST(test_bug_fast_passthrough_loses_first_token)
{
    struct sbuf frame = {0};
    sbuf_adds(&frame, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"");
    for (int i = 0; i < 26; i++) {
        char member[32];
        snprintf(member, sizeof member, ",\"x%d\":%d", i, i);
        sbuf_adds(&frame, member);
    }
    sbuf_adds(&frame, "},\"done\":false}\n{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
                      "\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n");
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OLLAMA, WIRE_OLLAMA, true, false);
    struct run r;
    run_stream(&xp, frame.s, frame.len, 0, 0, &r);
    ck_assert_int_eq(r.feed, XLATE_END);
    ck_assert_uint_eq(r.first_token_ns, T_END);
    ck_assert_str_eq(r.out.s, frame.s); /* still passed on as it came */
    sbuf_free(&r.out);
    sbuf_free(&frame);
}
END_TEST

/* Regression tests for bugs found by these tests and since fixed. */
static void
add_fixed_bugs(Suite *s)
{
    TCase *tc = tcase_create("fixed_bugs");
    tcase_add_test(tc, test_bug_ollama_generate_aggregate_drops_thinking);
    tcase_add_test(tc, test_bug_passthrough_usage_chunk_not_asked_for);
    tcase_add_test(tc, test_bug_same_tool_name_results_map_to_one_call);
    tcase_add_test(tc, test_bug_stop_array_of_non_strings_accepted);
    tcase_add_test(tc, test_bug_alias_num_predict_overrides_max_completion_tokens);
    tcase_add_test(tc, test_bug_embed_error_body_message_lost);
    tcase_add_test(tc, test_bug_garbage_message_runs_past_the_line);
    tcase_add_test(tc, test_bug_inline_think_not_extracted);
    tcase_add_test(tc, test_bug_fast_passthrough_loses_first_token);
    suite_add_tcase(s, tc);
}

/* created_at is the wall clock at the start, sub-second part included,
 * plus the time since: a start at .75 s and half a second later is 1.25 s. */
START_TEST(test_created_at_keeps_the_start_fraction)
{
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false);
    xp.wall_start_ns = WALL * 1000000000LL + 750000000;
    struct xlate *x = xlate_new(&xp);
    char out[40];
    created_at(x, T0, out, sizeof out);
    ck_assert_str_eq(out, "2026-01-01T00:00:00.750000000Z");
    created_at(x, T0 + 500000000, out, sizeof out);
    ck_assert_str_eq(out, "2026-01-01T00:00:01.250000000Z");
    xlate_free(x);
}
END_TEST

/* A llama.cpp server's own timings (ms, on the last chunk) become the
 * durations, not the daemon's clock: tokens that arrive in one burst
 * would otherwise count as thousands a second. */
START_TEST(test_openai_server_timings_to_ollama)
{
    static const struct timed frames[] = {
        {T0 + 100000000ull, OAI_CHUNK("{\"role\":\"assistant\",\"content\":null}", "null")},
        {T0 + 100000100ull, OAI_CHUNK("{\"content\":\"a\"}", "null")},
        {T0 + 100000200ull, OAI_CHUNK("{\"content\":\"b\"}", "null")},
        {T0 + 100000300ull,
         OAI_CHUNK("{}", "\"stop\"") "data: {\"id\":\"c\",\"choices\":[],\"usage\":{"
                                     "\"prompt_tokens\":10,\"completion_tokens\":2,"
                                     "\"total_tokens\":12},\"timings\":{\"prompt_n\":10,"
                                     "\"prompt_ms\":80.5,\"predicted_n\":2,\"predicted_ms\":50,"
                                     "\"predicted_per_second\":40}}\n\n"
                                     "data: [DONE]\n\n"},
    };
    struct xlate_params xp = xparams(EP_CHAT, WIRE_OPENAI, WIRE_OLLAMA, true, false);
    char *out = run_timed(&xp, frames, 4, T0 + 200000000ull, NULL);
    json_t *lines = ndjson_lines(out);
    json_t *fin = json_array_get(lines, json_array_size(lines) - 1);
    EXPECT_JSON(fin, "eval_count", "2");
    EXPECT_JSON(fin, "eval_duration", "50000000");
    EXPECT_JSON(fin, "prompt_eval_duration", "80500000");
    json_decref(lines);
    free(out);

    xp.client_stream = false;
    out = run_timed(&xp, frames, 4, T0 + 200000000ull, NULL);
    json_t *o = parse(out);
    EXPECT_JSON(o, "eval_duration", "50000000");
    EXPECT_JSON(o, "prompt_eval_duration", "80500000");
    json_decref(o);
    free(out);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("translate");

    TCase *tc = tcase_create("requests");
    tcase_add_test(tc, test_openai_chat_messages_to_ollama);
    tcase_add_test(tc, test_openai_tool_name_from_call_and_name_field);
    tcase_add_test(tc, test_openai_image_url_must_be_data);
    tcase_add_test(tc, test_openai_sampling_options);
    tcase_add_test(tc, test_openai_response_format);
    tcase_add_test(tc, test_openai_reasoning_effort_to_think);
    tcase_add_test(tc, test_openai_alias_options_and_num_ctx);
    tcase_add_test(tc, test_openai_completions_to_generate);
    tcase_add_test(tc, test_ollama_chat_to_openai);
    tcase_add_test(tc, test_ollama_synthesized_ids_are_distinct);
    tcase_add_test(tc, test_ollama_format_to_response_format);
    tcase_add_test(tc, test_ollama_alias_options_under_client);
    tcase_add_test(tc, test_ollama_generate_to_completions);
    tcase_add_test(tc, test_same_dialect_ollama_changes_only_model_stream_num_ctx);
    tcase_add_test(tc, test_same_dialect_openai_changes_only_model_stream);
    tcase_add_test(tc, test_embed_requests);
    tcase_add_test(tc, test_embed_to_ollama_keeps_client_fields);
    tcase_add_test(tc, test_same_dialect_openai_alias_options);
    tcase_add_test(tc, test_request_bytes_match_tree);
    tcase_add_test(tc, test_ill_typed_fields_are_400);
    tcase_add_test(tc, test_error_message_parsing);
    suite_add_tcase(s, tc);

    tc = tcase_create("streams");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_golden_streams, 0, N_GOLDENS);
    tcase_add_test(tc, test_ollama_to_openai_stream_ids_and_arguments);
    tcase_add_test(tc, test_seed_changes_ids);
    tcase_add_loop_test(tc, test_split_at_every_byte, 0, N_SPLIT_CASES);
    tcase_add_test(tc, test_passthrough_streams_are_byte_exact);
    tcase_add_test(tc, test_passthrough_aggregation);
    tcase_add_test(tc, test_generate_streams_both_ways);
    tcase_add_test(tc, test_openai_to_ollama_timings);
    tcase_add_test(tc, test_usage_counts);
    tcase_add_test(tc, test_no_usage_chunk_unless_asked);
    tcase_add_test(tc, test_finish_reasons);
    tcase_add_test(tc, test_sse_framing_variants);
    tcase_add_test(tc, test_embed_answers);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_garbage_is_an_error);
    tcase_add_test(tc, test_inband_errors);
    tcase_add_loop_test(tc, test_truncated_streams_are_errors, 0, N_SPLIT_CASES);
    tcase_add_test(tc, test_xlate_error_shapes);
    tcase_add_test(tc, test_frame_over_16_mib_is_an_error);
    tcase_add_test(tc, test_gathered_answer_over_64_mib_is_an_error);
    tcase_add_test(tc, test_bytes_after_the_end_are_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("fast_path");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fast_path_keeps_text_and_order);
    tcase_add_test(tc, test_fast_path_matches_full_parse);
    tcase_add_test(tc, test_fast_passthrough_reads_first_token_and_counts);
    tcase_add_test(tc, test_fast_openai_stream_from_the_bytes);
    tcase_add_test(tc, test_final_line_matches_jansson);
    tcase_add_test(tc, test_created_at_keeps_the_start_fraction);
    tcase_add_test(tc, test_openai_server_timings_to_ollama);
    suite_add_tcase(s, tc);

    add_fixed_bugs(s);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
