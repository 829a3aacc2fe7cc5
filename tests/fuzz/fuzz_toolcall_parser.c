/*
 * libFuzzer harness for src/agent/toolcall_parser.c.  The first two bytes
 * seed where the answer (the rest) is cut and whether it starts inside
 * <think>.  Fed whole and fed in pseudo-random pieces, the parser must
 * report the same text, thinking and calls (names, arguments, errors, raw
 * text, the byte each ends at); outside a call it may hold back at most
 * TOOLCALL_HOLD_MAX bytes, and its memory must stay within a small
 * multiple of what it holds.  Anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "careti/agent/toolcall_parser.h"
#include "careti/core/sbuf.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQ TOOLCALL_PARAM_REQUIRED
#define VERB TOOLCALL_PARAM_VERBATIM
static const struct toolcall_param P_READ[] = {{"path", REQ}};
static const struct toolcall_param P_WRITE[] = {{"path", REQ}, {"content", REQ | VERB}};
static const struct toolcall_param P_REPLACE[] = {{"path", REQ}, {"diff", REQ | VERB}};
static const struct toolcall_param P_LIST[] = {{"path", REQ}, {"recursive", 0}};
static const struct toolcall_param P_EXEC[] = {{"command", REQ}, {"requires_approval", REQ}};
static const struct toolcall_param P_DONE[] = {{"result", REQ | VERB}};
/* clang-format off */
#define TOOL(n, ps) {n, ps, sizeof ps / sizeof ps[0]}
/* clang-format on */
static const struct toolcall_tool TOOLS[] = {
    TOOL("read_file", P_READ),  TOOL("write_to_file", P_WRITE),  TOOL("replace_in_file", P_REPLACE),
    TOOL("list_files", P_LIST), TOOL("execute_command", P_EXEC), TOOL("attempt_completion", P_DONE),
};

/* Everything reported, in order; text and thinking runs are merged so
 * that only where the parser cuts them may differ. */
struct transcript {
    struct sbuf text, think, calls;
    unsigned ends;
};

static void
on_event(void *arg, const struct toolcall_event *ev)
{
    struct transcript *t = arg;
    switch (ev->kind) {
    case TOOLCALL_EV_TEXT:
    case TOOLCALL_EV_THINKING:
        if (ev->len == 0)
            abort();
        sbuf_add(ev->kind == TOOLCALL_EV_TEXT ? &t->text : &t->think, ev->text, ev->len);
        return;
    case TOOLCALL_EV_CALL: {
        if (ev->arguments == NULL || ev->error != NULL || ev->name == NULL)
            abort();
        char *j = json_dumps(ev->arguments, JSON_COMPACT | JSON_SORT_KEYS);
        sbuf_adds(&t->calls, ev->name);
        sbuf_adds(&t->calls, j);
        free(j);
        break;
    }
    case TOOLCALL_EV_ERROR:
        if (ev->arguments != NULL || ev->error == NULL || ev->error[0] == '\0')
            abort();
        sbuf_adds(&t->calls, "!");
        sbuf_adds(&t->calls, ev->error);
        break;
    }
    /* Calls are cut between: the text before one is all out first. */
    sbuf_add_int(&t->calls, (int64_t)t->text.len);
    sbuf_adds(&t->calls, "/");
    sbuf_add(&t->calls, ev->text, ev->len);
    sbuf_adds(&t->calls, "\n");
    t->ends++;
}

static void
check_bounds(const struct toolcall_parser *p)
{
    size_t held = toolcall_parser_held(p);
    if (!toolcall_parser_in_call(p) && held > TOOLCALL_HOLD_MAX)
        abort();
    if (toolcall_parser_memory(p) > 4 * held + 3 * 4096)
        abort();
}

/* Feed IN in pieces of the sizes a little generator seeded by SEED gives
 * (whole when SEED is 0), going on after each call, then finish. */
static void
run(struct transcript *t, const char *in, size_t len, unsigned seed, unsigned flags)
{
    memset(t, 0, sizeof *t);
    struct toolcall_parser *p =
        toolcall_parser_new(TOOLS, sizeof TOOLS / sizeof TOOLS[0], flags, on_event, t, NULL);
    if (p == NULL)
        abort();
    size_t off = 0;
    while (off < len) {
        size_t piece = len - off;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 17;
            piece = n < piece ? n : piece;
        }
        size_t end = off + piece;
        while (off < end) {
            unsigned before = t->ends;
            size_t k = toolcall_parser_feed(p, in + off, end - off);
            off += k;
            if (off < end && t->ends == before)
                abort(); /* stopped short without a call */
            if (t->ends != before) {
                sbuf_adds(&t->calls, "@");
                sbuf_add_int(&t->calls, (int64_t)off);
                sbuf_adds(&t->calls, "\n");
            }
            check_bounds(p);
        }
    }
    if (toolcall_parser_consumed(p) != len)
        abort();
    toolcall_parser_finish(p);
    if (toolcall_parser_in_call(p) || toolcall_parser_held(p) != 0)
        abort();
    check_bounds(p);
    toolcall_parser_free(p);
}

static void
free_transcript(struct transcript *t)
{
    sbuf_free(&t->text);
    sbuf_free(&t->think);
    sbuf_free(&t->calls);
}

static bool
same(const struct sbuf *a, const struct sbuf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_MAX_INPUT)
        return 0;
    unsigned seed = 1u + data[0] + 256u * (data[1] & 0x7f);
    unsigned flags = (data[1] & 0x80) ? TOOLCALL_START_IN_THINK : 0;
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    struct transcript whole, cut;
    run(&whole, in, len, 0, flags);
    run(&cut, in, len, seed, flags);
    if (!same(&whole.text, &cut.text) || !same(&whole.think, &cut.think) ||
        !same(&whole.calls, &cut.calls)) {
        fprintf(stderr, "whole and cut differ:\n%s\n---\n%s\n", whole.calls.s ? whole.calls.s : "",
                cut.calls.s ? cut.calls.s : "");
        abort();
    }
    free_transcript(&whole);
    free_transcript(&cut);
    return 0;
}
