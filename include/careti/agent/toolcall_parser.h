/*
 * toolcall_parser: tool calls that a model writes as text, found
 * incrementally in its answer.  Pure: no I/O, no clock.  The answer may be
 * fed in pieces cut anywhere; every cut gives the same events.  Three
 * forms are read:
 *   Cline-style XML   <read_file><path>src/a.c</path></read_file>
 *   Qwen3-Coder       <tool_call><function=read_file><parameter=path>
 *                     src/a.c
 *                     </parameter></function></tool_call>
 *   JSON              <tool_call>{"name": "read_file", "arguments": {...}}</tool_call>
 * and <think>...</think> is thinking, never a call.  The tool names and
 * their parameters are the caller's (struct toolcall_tool).
 *
 * Where a parameter value ends: at the first closing tag of THAT
 * parameter (</path>, or </parameter> in the Qwen form), nothing else.  A
 * parameter flagged TOOLCALL_PARAM_VERBATIM (a file's content, a diff)
 * ends instead at a closing tag that is followed, after nothing but
 * whitespace, by the tool's closing tag or another of its parameters'
 * opening tags; any other </content> is part of the file.  So a file may
 * hold any tag, and even "</content>" alone; only the exact sequence
 * "</content>" + whitespace + "</write_to_file>" (or "<path>") ends it.
 * Values are trimmed: surrounding whitespace for plain parameters; for
 * verbatim ones exactly one leading newline, and in the Qwen form one
 * trailing newline too (its template writes both; in the XML form the
 * newline before </content> is the file's last).
 *
 * A call is reported at the earliest byte that completes it: the XML
 * form's </tool>, the Qwen form's </function> (its </tool_call> adds
 * nothing), the JSON object's closing brace.  The feed then returns, so
 * the caller knows how many bytes were used and may stop the model.
 * Also accepted: <function=...> without the <tool_call> around it (the
 * 30B model does that, llama.cpp #16755), a Qwen call ended by
 * </tool_call> with no </function>, the XML form inside <tool_call>, and
 * "parameters" for "arguments" in the JSON form.
 */
#ifndef CARETI_TOOLCALL_PARSER_H
#define CARETI_TOOLCALL_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "careti/core/cerr.h"

/* Names (tools and parameters) are 1 to TOOLCALL_NAME_MAX bytes of
 * [A-Za-z0-9_-]; a tool has at most TOOLCALL_PARAMS_MAX parameters. */
#define TOOLCALL_NAME_MAX 40
#define TOOLCALL_PARAMS_MAX 32
/* At most this many bytes of plain text are ever held back (a '<' and
 * what may still become an opening tag); the rest is reported at once. */
#define TOOLCALL_HOLD_MAX 64
/* A call larger than this is reported as an error, not buffered on. */
#define TOOLCALL_CALL_MAX (16u * 1024 * 1024)

#define TOOLCALL_PARAM_REQUIRED 0x1u
#define TOOLCALL_PARAM_VERBATIM 0x2u

struct toolcall_param {
    const char *name;
    unsigned flags; /* TOOLCALL_PARAM_* */
};

struct toolcall_tool {
    const char *name;
    const struct toolcall_param *params;
    size_t n_params;
};

enum toolcall_event_kind {
    TOOLCALL_EV_TEXT,     /* plain text for the user (a delta) */
    TOOLCALL_EV_THINKING, /* text inside <think>...</think> */
    TOOLCALL_EV_CALL,     /* a complete, valid call */
    TOOLCALL_EV_ERROR,    /* a malformed call: ERROR says what was wrong */
};

enum toolcall_form {
    TOOLCALL_FORM_XML,  /* <read_file><path>...</path></read_file> */
    TOOLCALL_FORM_QWEN, /* <function=read_file><parameter=path>... */
    TOOLCALL_FORM_JSON, /* <tool_call>{"name":...,"arguments":...} */
};

/* Everything in an event is lent for the duration of the callback. */
struct toolcall_event {
    enum toolcall_event_kind kind;
    /* TEXT, THINKING: the bytes.  CALL, ERROR: the call's raw text as the
     * model wrote it, from its first '<' to the byte that completed it
     * (or to the end of the answer for an unclosed one). */
    const char *text;
    size_t len;
    enum toolcall_form form; /* CALL, ERROR */
    /* CALL: the tool's name, from the caller's table.  ERROR: the same
     * when the tool is known, else NULL. */
    const char *name;
    /* CALL: an object of the parameters given.  The XML and Qwen forms
     * give strings; the JSON form keeps its JSON types (booleans,
     * arrays).  json_incref it to keep it.  NULL for the other kinds. */
    json_t *arguments;
    /* ERROR: one sentence for the model naming what was wrong. */
    const char *error;
};

/* Called for each event, in the order of the answer.  It must not call
 * back into the same parser (feed, finish, reset, free). */
typedef void (*toolcall_event_cb)(void *arg, const struct toolcall_event *ev);

struct toolcall_parser;

/* The answer begins inside a <think> block whose opening tag was in the
 * prompt (some chat templates end the prompt with "<think>\n"). */
#define TOOLCALL_START_IN_THINK 0x1u

/* A parser for one answer.  TOOLS (N of them) and the names in them are
 * lent and must outlive the parser.  CB gets the events, with ARG.
 * FLAGS is 0 or TOOLCALL_START_IN_THINK.  Returns NULL with ERR filled
 * (may be NULL) when a name is empty, too long, not [A-Za-z0-9_-], or a
 * tool has more than TOOLCALL_PARAMS_MAX parameters.  Free with
 * toolcall_parser_free. */
struct toolcall_parser *toolcall_parser_new(const struct toolcall_tool *tools, size_t n,
                                            unsigned flags, toolcall_event_cb cb, void *arg,
                                            struct cerr *err);

/* Release P and what it holds.  NULL-safe. */
void toolcall_parser_free(struct toolcall_parser *p);

/* Feed the next LEN bytes of the answer (DATA may be NULL when LEN is 0).
 * Reports what they complete through the callback, before returning.
 * Returns how many bytes were used: LEN, or fewer when a call (or a
 * malformed one: an ERROR event) completed at that byte; the bytes after
 * it are not looked at.  A caller that runs one tool per step stops the
 * model there and discards the rest; feeding the rest instead goes on
 * parsing (a stray </tool_call> right after a Qwen or JSON call is then
 * swallowed).  Never fails. */
size_t toolcall_parser_feed(struct toolcall_parser *p, const char *data, size_t len);

/* The answer has ended: report the text held back, and a call still open
 * as an ERROR ("... is not closed: </read_file> is missing").  The
 * parser is then ready for more input as if after a call. */
void toolcall_parser_finish(struct toolcall_parser *p);

/* Forget everything, including the consumed count, for a new answer;
 * the flags given to toolcall_parser_new apply again. */
void toolcall_parser_reset(struct toolcall_parser *p);

/* Bytes used so far (the sum of toolcall_parser_feed's returns). */
uint64_t toolcall_parser_consumed(const struct toolcall_parser *p);

/* Whether a call has begun and not yet been reported (to show "writing
 * a file..." while its content streams). */
bool toolcall_parser_in_call(const struct toolcall_parser *p);

/* Bytes used but not yet reported in any event: held-back text (at most
 * TOOLCALL_HOLD_MAX outside a call) or an open call's text. */
size_t toolcall_parser_held(const struct toolcall_parser *p);

/* Bytes of memory P holds now, its own struct included; within a small
 * multiple of toolcall_parser_held plus a constant (the fuzz harness
 * checks it). */
size_t toolcall_parser_memory(const struct toolcall_parser *p);

#endif
