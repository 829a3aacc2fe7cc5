/*
 * toolcall_parser: the tool calls a model writes as text, found byte by
 * byte in its answer (see the header for the forms and the rules).  One
 * state machine whose every decision depends only on bytes already seen,
 * so any cut of the input gives the same events.  Owns its buffers: the
 * held-back text, the open call's raw text and current value, its
 * arguments.  Never does I/O, never holds back more than
 * TOOLCALL_HOLD_MAX bytes of plain text, and never lets a tag inside a
 * parameter value end anything but that value.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/toolcall_parser.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"

enum state {
    S_TEXT,  /* plain text; HOLD may hold a '<' that may become a tag */
    S_THINK, /* inside <think>; CM counts matched bytes of </think> */
    S_AFTER, /* after a call: whitespace and a </tool_call> are swallowed */
    S_OPEN,  /* after <tool_call>: a JSON object or a <function=...> next */
    S_JSON,  /* inside the JSON form's object */
    S_BODY,  /* inside a call, between parameters; HOLD collects a tag */
    S_VALUE, /* inside a parameter's value */
};

static const char THINK_OPEN[] = "<think>";
static const char THINK_CLOSE[] = "</think>";
static const char TOOL_CALL_OPEN[] = "<tool_call>";
static const char TOOL_CALL_CLOSE[] = "</tool_call>";
static const char QWEN_PARAM_CLOSE[] = "</parameter>";
static const char OPEN_WANTS[] = "<tool_call> must hold a JSON object "
                                 "{\"name\": ..., \"arguments\": {...}} or <function=NAME>";

struct toolcall_parser {
    const struct toolcall_tool *tools;
    size_t n_tools;
    unsigned flags;
    toolcall_event_cb cb;
    void *arg;

    enum state state;
    uint64_t consumed;
    bool stop; /* a call (or an error) was reported: feed returns */
    char hold[TOOLCALL_HOLD_MAX];
    size_t hold_len;
    size_t tag_at; /* S_AFTER: where the '<' is in HOLD, or SIZE_MAX */
    size_t cm;     /* bytes of the awaited closing tag matched so far */

    /* The open call. */
    enum toolcall_form form;
    const struct toolcall_tool *tool; /* NULL while unknown */
    struct sbuf raw;                  /* its text from its first '<' */
    struct sbuf val;                  /* the current value, or the JSON */
    json_t *args;
    uint32_t seen; /* parameters given, by index */
    char err[256]; /* the first thing found wrong, or "" */

    /* The open value. */
    int param; /* index in tool->params, or -1 for one to skip */
    char close[TOOLCALL_HOLD_MAX + 4];
    size_t close_len;
    bool verbatim;
    bool pending;     /* a verbatim value's closing tag seen: is structure next? */
    bool pend_tag;    /* ... and a '<' after the whitespace */
    size_t mark;      /* VAL's length before that closing tag */
    size_t tag_start; /* where the '<' after it is in VAL */

    /* The JSON form's scanner. */
    long depth;
    bool in_str, esc;
};

static void reset_call(struct toolcall_parser *p);

static bool
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool
is_name(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct toolcall_parser *
toolcall_parser_new(const struct toolcall_tool *tools, size_t n, unsigned flags,
                    toolcall_event_cb cb, void *arg, struct cerr *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct toolcall_tool *t = &tools[i];
        size_t len = t->name ? strlen(t->name) : 0;
        if (len > TOOLCALL_NAME_MAX || !is_name(t->name ? t->name : "", len)) {
            cerr_set(err, -EINVAL, 500, "tool %zu: its name must be 1 to %d of [A-Za-z0-9_-]", i,
                     TOOLCALL_NAME_MAX);
            return NULL;
        }
        if (t->n_params > TOOLCALL_PARAMS_MAX) {
            cerr_set(err, -EINVAL, 500, "tool %s: more than %d parameters", t->name,
                     TOOLCALL_PARAMS_MAX);
            return NULL;
        }
        for (size_t j = 0; j < t->n_params; j++) {
            const char *pn = t->params[j].name ? t->params[j].name : "";
            if (strlen(pn) > TOOLCALL_NAME_MAX || !is_name(pn, strlen(pn))) {
                cerr_set(err, -EINVAL, 500,
                         "tool %s: parameter %zu: its name must be 1 to %d of [A-Za-z0-9_-]",
                         t->name, j, TOOLCALL_NAME_MAX);
                return NULL;
            }
        }
    }
    struct toolcall_parser *p = xcalloc(1, sizeof *p);
    p->tools = tools;
    p->n_tools = n;
    p->flags = flags;
    p->cb = cb;
    p->arg = arg;
    toolcall_parser_reset(p);
    return p;
}

void
toolcall_parser_free(struct toolcall_parser *p)
{
    if (p == NULL)
        return;
    json_decref(p->args);
    sbuf_free(&p->raw);
    sbuf_free(&p->val);
    free(p);
}

void
toolcall_parser_reset(struct toolcall_parser *p)
{
    reset_call(p);
    p->state = (p->flags & TOOLCALL_START_IN_THINK) ? S_THINK : S_TEXT;
    p->consumed = 0;
    p->hold_len = 0;
    p->cm = 0;
}

uint64_t
toolcall_parser_consumed(const struct toolcall_parser *p)
{
    return p->consumed;
}

bool
toolcall_parser_in_call(const struct toolcall_parser *p)
{
    return p->state == S_OPEN || p->state == S_JSON || p->state == S_BODY || p->state == S_VALUE;
}

size_t
toolcall_parser_held(const struct toolcall_parser *p)
{
    if (toolcall_parser_in_call(p))
        return p->raw.len;
    return p->state == S_THINK ? p->cm : p->hold_len;
}

size_t
toolcall_parser_memory(const struct toolcall_parser *p)
{
    return sizeof *p + p->raw.cap + p->val.cap;
}

/* Report LEN bytes of text or thinking; nothing for none. */
static void
emit(struct toolcall_parser *p, enum toolcall_event_kind kind, const char *s, size_t len)
{
    if (len == 0)
        return;
    struct toolcall_event ev = {.kind = kind, .text = s, .len = len};
    p->cb(p->arg, &ev);
}

/* Forget the open call.  A large buffer is given back, so that memory
 * follows what is held, not the largest call ever seen. */
static void
reset_call(struct toolcall_parser *p)
{
    json_decref(p->args);
    p->args = NULL;
    if (p->raw.cap > 4096)
        sbuf_free(&p->raw);
    sbuf_reset(&p->raw);
    if (p->val.cap > 4096)
        sbuf_free(&p->val);
    sbuf_reset(&p->val);
    p->tool = NULL;
    p->seen = 0;
    p->err[0] = '\0';
    p->param = -1;
    p->pending = false;
    p->depth = 0;
    p->in_str = p->esc = false;
}

/* Record what is wrong with the open call; the first finding stands. */
static void __attribute__((format(printf, 2, 3)))
call_error(struct toolcall_parser *p, const char *fmt, ...)
{
    if (p->err[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
}

/* Append ", name" for each of the N names to ERR, as far as it fits. */
static void
list_names(struct toolcall_parser *p, const char *(*name_at)(const void *, size_t), const void *set,
           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(p->err);
        snprintf(p->err + used, sizeof p->err - used, "%s%s", i ? ", " : "", name_at(set, i));
    }
}

static const char *
param_name_at(const void *set, size_t i)
{
    return ((const struct toolcall_tool *)set)->params[i].name;
}

static const char *
tool_name_at(const void *set, size_t i)
{
    return ((const struct toolcall_tool *)set)[i].name;
}

static void
unknown_param(struct toolcall_parser *p, const char *name, size_t len)
{
    if (p->err[0] != '\0' || p->tool == NULL)
        return;
    call_error(p, "%s has no parameter %.*s; its parameters are: ", p->tool->name, (int)len, name);
    list_names(p, param_name_at, p->tool, p->tool->n_params);
}

static void
unknown_tool(struct toolcall_parser *p, const char *name, size_t len)
{
    if (p->err[0] != '\0')
        return;
    call_error(p, "there is no tool %.*s; the tools are: ", (int)(len > 64 ? 64 : len), name);
    list_names(p, tool_name_at, p->tools, p->n_tools);
}

static int
find_tool(const struct toolcall_parser *p, const char *s, size_t len)
{
    for (size_t i = 0; i < p->n_tools; i++)
        if (strlen(p->tools[i].name) == len && memcmp(p->tools[i].name, s, len) == 0)
            return (int)i;
    return -1;
}

static int
find_param(const struct toolcall_tool *t, const char *s, size_t len)
{
    for (size_t i = 0; t != NULL && i < t->n_params; i++)
        if (strlen(t->params[i].name) == len && memcmp(t->params[i].name, s, len) == 0)
            return (int)i;
    return -1;
}

/* Whether BUF[0, LEN) is the string A B C: 0 when not even a prefix of
 * it, 1 when a proper prefix, 2 when the whole. */
static int
prefix3(const char *buf, size_t len, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        size_t pl = strlen(parts[i]);
        size_t n = len - off < pl ? len - off : pl;
        if (memcmp(buf + off, parts[i], n) != 0)
            return 0;
        off += n;
        if (n < pl)
            return 1;
    }
    return off == len ? 2 : 0;
}

static void
begin_call(struct toolcall_parser *p, enum toolcall_form form, const struct toolcall_tool *tool,
           enum state next)
{
    reset_call(p);
    p->form = form;
    p->tool = tool;
    p->args = json_object();
    sbuf_add(&p->raw, p->hold, p->hold_len);
    p->hold_len = 0;
    p->state = next;
}

/* Report the open call: a CALL when nothing was found wrong and every
 * required parameter is there, else an ERROR.  FORCE replaces an earlier
 * finding (the call's end is the more useful news). */
static void
end_call(struct toolcall_parser *p, const char *force)
{
    if (force != NULL)
        snprintf(p->err, sizeof p->err, "%s", force);
    for (size_t i = 0; p->err[0] == '\0' && p->tool && i < p->tool->n_params; i++) {
        const struct toolcall_param *q = &p->tool->params[i];
        if ((q->flags & TOOLCALL_PARAM_REQUIRED) && json_object_get(p->args, q->name) == NULL)
            call_error(p, "%s is missing its required parameter %s", p->tool->name, q->name);
    }
    struct toolcall_event ev = {
        .kind = p->err[0] ? TOOLCALL_EV_ERROR : TOOLCALL_EV_CALL,
        .text = p->raw.s ? p->raw.s : "",
        .len = p->raw.len,
        .form = p->form,
        .name = p->tool ? p->tool->name : NULL,
        .arguments = p->err[0] ? NULL : p->args,
        .error = p->err[0] ? p->err : NULL,
    };
    p->cb(p->arg, &ev);
    reset_call(p);
    p->state = S_AFTER;
    p->hold_len = 0;
    p->tag_at = SIZE_MAX;
    p->stop = true;
}

static void __attribute__((format(printf, 2, 3)))
fail_now(struct toolcall_parser *p, const char *fmt, ...)
{
    char msg[sizeof p->err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    end_call(p, msg);
}

static void
start_value(struct toolcall_parser *p, int param, const char *close, size_t close_len)
{
    p->param = param;
    memcpy(p->close, close, close_len);
    p->close_len = close_len;
    p->verbatim = param >= 0 && (p->tool->params[param].flags & TOOLCALL_PARAM_VERBATIM);
    p->pending = false;
    p->cm = 0;
    sbuf_reset(&p->val);
    p->state = S_VALUE;
}

/* The open value is VAL's first LEN bytes: trim it and keep it. */
static void
finish_value(struct toolcall_parser *p, size_t len)
{
    p->state = S_BODY;
    p->hold_len = 0;
    if (p->param < 0)
        return;
    const struct toolcall_param *q = &p->tool->params[p->param];
    const char *v = p->val.s ? p->val.s : "";
    if (p->verbatim) {
        if (len > 0 && v[0] == '\n')
            v++, len--;
        if (p->form == TOOLCALL_FORM_QWEN && len > 0 && v[len - 1] == '\n')
            len--;
    } else {
        while (len > 0 && is_space(v[0]))
            v++, len--;
        while (len > 0 && is_space(v[len - 1]))
            len--;
    }
    if (p->seen & (1u << p->param)) {
        call_error(p, "%s is given the parameter %s twice", p->tool->name, q->name);
        return;
    }
    p->seen |= 1u << p->param;
    json_t *s = json_stringn(v, len);
    if (s == NULL) {
        call_error(p, "the parameter %s of %s is not valid UTF-8", q->name, p->tool->name);
        return;
    }
    json_object_set_new(p->args, q->name, s);
}

/* HOLD is a whole tag "<...>" inside a call's body: act on it. */
static void
body_tag(struct toolcall_parser *p)
{
    const char *t = p->hold + 1;
    size_t len = p->hold_len - 2;
    char close[sizeof p->close];
    p->hold_len = 0;
    if (p->form == TOOLCALL_FORM_XML) {
        if (len > 1 && t[0] == '/') {
            if (len - 1 == strlen(p->tool->name) && memcmp(t + 1, p->tool->name, len - 1) == 0)
                end_call(p, NULL);
            return;
        }
        if (!is_name(t, len))
            return;
        int q = find_param(p->tool, t, len);
        if (q < 0)
            unknown_param(p, t, len);
        int n = snprintf(close, sizeof close, "</%.*s>", (int)len, t);
        start_value(p, q, close, (size_t)n);
        return;
    }
    if (prefix3(t, len, "/function", "", "") == 2 || prefix3(t, len, "/tool_call", "", "") == 2) {
        end_call(p, NULL);
        return;
    }
    if (len > 10 && memcmp(t, "parameter=", 10) == 0 && is_name(t + 10, len - 10)) {
        int q = find_param(p->tool, t + 10, len - 10);
        if (q < 0)
            unknown_param(p, t + 10, len - 10);
        start_value(p, q, QWEN_PARAM_CLOSE, sizeof QWEN_PARAM_CLOSE - 1);
    }
}

/* HOLD is a whole tag right after <tool_call>: which form is it? */
static void
open_tag(struct toolcall_parser *p)
{
    const char *t = p->hold + 1;
    size_t len = p->hold_len - 2;
    p->hold_len = 0;
    if (len > 9 && memcmp(t, "function=", 9) == 0 && is_name(t + 9, len - 9)) {
        int i = find_tool(p, t + 9, len - 9);
        p->form = TOOLCALL_FORM_QWEN;
        if (i < 0)
            unknown_tool(p, t + 9, len - 9);
        else
            p->tool = &p->tools[i];
        p->state = S_BODY;
        return;
    }
    int i = find_tool(p, t, len);
    if (i < 0) {
        fail_now(p, "%s", OPEN_WANTS);
        return;
    }
    p->form = TOOLCALL_FORM_XML;
    p->tool = &p->tools[i];
    p->state = S_BODY;
}

/* The JSON form's object is complete in VAL: check it and report. */
static void
json_call(struct toolcall_parser *p)
{
    json_error_t jerr;
    json_t *root = json_loadb(p->val.s, p->val.len, 0, &jerr);
    if (root == NULL) {
        fail_now(p, "the JSON in <tool_call> is not valid: %s", jerr.text);
        return;
    }
    const char *name = json_string_value(json_object_get(root, "name"));
    json_t *a = json_object_get(root, "arguments");
    if (a == NULL)
        a = json_object_get(root, "parameters");
    json_t *args = NULL;
    if (name == NULL) {
        call_error(p, "the JSON in <tool_call> has no \"name\" string");
    } else {
        int i = find_tool(p, name, strlen(name));
        if (i < 0)
            unknown_tool(p, name, strlen(name));
        else
            p->tool = &p->tools[i];
    }
    if (a == NULL || json_is_null(a))
        args = json_object();
    else if (json_is_object(a))
        args = json_incref(a);
    else if (json_is_string(a))
        args = json_loadb(json_string_value(a), json_string_length(a), 0, &jerr);
    if (args == NULL || !json_is_object(args))
        call_error(p, "\"arguments\" in <tool_call> must be a JSON object "
                      "(or a string holding one)");
    if (p->err[0] == '\0') {
        const char *key;
        json_t *v;
        json_object_foreach(args, key, v)
        {
            if (find_param(p->tool, key, strlen(key)) < 0)
                unknown_param(p, key, strlen(key));
        }
        json_decref(p->args);
        p->args = json_incref(args);
    }
    json_decref(args);
    json_decref(root);
    end_call(p, NULL);
}

/* Plain text: report runs at once, hold back only a '<' and what still
 * may become an opening tag. */
static size_t
on_text(struct toolcall_parser *p, const char *s, size_t n)
{
    if (p->hold_len == 0) {
        const char *lt = memchr(s, '<', n);
        size_t run = lt ? (size_t)(lt - s) : n;
        if (run > 0) {
            emit(p, TOOLCALL_EV_TEXT, s, run);
            return run;
        }
        p->hold[p->hold_len++] = '<';
        return 1;
    }
    p->hold[p->hold_len] = s[0];
    const char *h = p->hold;
    size_t hl = p->hold_len + 1;
    bool more = false;
    int r;
    if ((r = prefix3(h, hl, THINK_OPEN, "", "")) == 2) {
        p->hold_len = 0;
        p->cm = 0;
        p->state = S_THINK;
        return 1;
    }
    more |= r == 1;
    if ((r = prefix3(h, hl, TOOL_CALL_OPEN, "", "")) == 2) {
        p->hold_len = hl;
        begin_call(p, TOOLCALL_FORM_JSON, NULL, S_OPEN);
        return 1;
    }
    more |= r == 1;
    for (size_t i = 0; i < p->n_tools; i++) {
        const struct toolcall_tool *t = &p->tools[i];
        if ((r = prefix3(h, hl, "<", t->name, ">")) == 2) {
            p->hold_len = hl;
            begin_call(p, TOOLCALL_FORM_XML, t, S_BODY);
            return 1;
        }
        more |= r == 1;
        if ((r = prefix3(h, hl, "<function=", t->name, ">")) == 2) {
            p->hold_len = hl;
            begin_call(p, TOOLCALL_FORM_QWEN, t, S_BODY);
            return 1;
        }
        more |= r == 1;
    }
    if (more) {
        p->hold_len = hl;
        return 1;
    }
    /* Not a tag: the held bytes are text.  Only their first byte is a
     * '<' (no tag has another), so only this byte may start a tag. */
    emit(p, TOOLCALL_EV_TEXT, p->hold, p->hold_len);
    p->hold_len = 0;
    return 0;
}

static size_t
on_think(struct toolcall_parser *p, const char *s, size_t n)
{
    if (p->cm == 0) {
        const char *lt = memchr(s, '<', n);
        size_t run = lt ? (size_t)(lt - s) : n;
        if (run > 0) {
            emit(p, TOOLCALL_EV_THINKING, s, run);
            return run;
        }
        p->cm = 1;
        return 1;
    }
    if (s[0] == THINK_CLOSE[p->cm]) {
        if (++p->cm == sizeof THINK_CLOSE - 1) {
            p->cm = 0;
            p->state = S_TEXT;
        }
        return 1;
    }
    emit(p, TOOLCALL_EV_THINKING, THINK_CLOSE, p->cm);
    p->cm = 0;
    return 0;
}

/* Right after a call: swallow whitespace and a </tool_call>, the end of
 * a wrapper whose call was reported before it; anything else is text. */
static size_t
on_after(struct toolcall_parser *p, const char *s)
{
    char c = s[0];
    size_t room = sizeof p->hold - sizeof TOOL_CALL_CLOSE;
    if (p->tag_at == SIZE_MAX) {
        if ((is_space(c) || c == '<') && p->hold_len < room) {
            if (c == '<')
                p->tag_at = p->hold_len;
            p->hold[p->hold_len++] = c;
            return 1;
        }
        emit(p, TOOLCALL_EV_TEXT, p->hold, p->hold_len);
        p->hold_len = 0;
        p->state = S_TEXT;
        return 0;
    }
    p->hold[p->hold_len] = c;
    int r = prefix3(p->hold + p->tag_at, p->hold_len + 1 - p->tag_at, TOOL_CALL_CLOSE, "", "");
    if (r == 2) {
        p->hold_len = 0;
        p->state = S_TEXT;
        return 1;
    }
    if (r == 1) {
        p->hold_len++;
        return 1;
    }
    /* A lone '<' may still open a tag in the text; "</..." never does. */
    bool lone = p->hold_len - p->tag_at == 1;
    emit(p, TOOLCALL_EV_TEXT, p->hold, lone ? p->tag_at : p->hold_len);
    p->hold_len = 0;
    if (lone)
        p->hold[p->hold_len++] = '<';
    p->state = S_TEXT;
    return 0;
}

static size_t
on_open(struct toolcall_parser *p, const char *s)
{
    char c = s[0];
    sbuf_add(&p->raw, &c, 1);
    if (p->hold_len == 0) {
        if (is_space(c))
            return 1;
        if (c == '{') {
            sbuf_reset(&p->val);
            sbuf_add(&p->val, "{", 1);
            p->form = TOOLCALL_FORM_JSON;
            p->depth = 1;
            p->cm = 0;
            p->state = S_JSON;
        } else if (c == '<') {
            p->hold[p->hold_len++] = c;
        } else {
            fail_now(p, "%s", OPEN_WANTS);
        }
        return 1;
    }
    if (c == '>') {
        p->hold[p->hold_len++] = c;
        open_tag(p);
    } else if ((name_char(c) || c == '=') && p->hold_len < sizeof p->hold - 1) {
        p->hold[p->hold_len++] = c;
    } else {
        fail_now(p, "%s", OPEN_WANTS);
    }
    return 1;
}

static size_t
on_json(struct toolcall_parser *p, const char *s, size_t n)
{
    if (p->in_str && !p->esc) {
        size_t run = 0;
        while (run < n && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > 0) {
            sbuf_add(&p->val, s, run);
            sbuf_add(&p->raw, s, run);
            return run;
        }
    }
    char c = s[0];
    sbuf_add(&p->val, &c, 1);
    sbuf_add(&p->raw, &c, 1);
    if (p->in_str) {
        if (p->esc)
            p->esc = false;
        else if (c == '\\')
            p->esc = true;
        else if (c == '"')
            p->in_str = false;
        return 1;
    }
    /* Outside strings, a </tool_call> means the object was never closed:
     * say so now rather than at the end of the answer. */
    p->cm = c == TOOL_CALL_CLOSE[p->cm] ? p->cm + 1 : c == '<';
    if (p->cm == sizeof TOOL_CALL_CLOSE - 1) {
        fail_now(p, "the JSON object in <tool_call> is not closed before </tool_call>");
        return 1;
    }
    if (c == '"') {
        p->in_str = true;
    } else if (c == '{' || c == '[') {
        p->depth++;
    } else if ((c == '}' || c == ']') && --p->depth == 0) {
        json_call(p);
    }
    return 1;
}

static size_t
on_body(struct toolcall_parser *p, const char *s)
{
    char c = s[0];
    sbuf_add(&p->raw, &c, 1);
    if (p->hold_len == 0) {
        if (c == '<')
            p->hold[p->hold_len++] = c;
        return 1; /* text between parameters is not part of the call */
    }
    if (c == '>') {
        p->hold[p->hold_len++] = c;
        body_tag(p);
    } else if ((name_char(c) || c == '/' || c == '=') && p->hold_len < sizeof p->hold - 1) {
        p->hold[p->hold_len++] = c;
    } else {
        p->hold_len = 0;
        if (c == '<')
            p->hold[p->hold_len++] = c;
    }
    return 1;
}

/* What may follow a verbatim value's closing tag for that tag to end it:
 * 0 when BUF[0, LEN) cannot be it, 1 when it still may, 2 when it is;
 * *NEXT is then the parameter it opens, -1 for the call's end, -2 for a
 * Qwen <parameter= whose name is still to come. */
static int
follower(const struct toolcall_parser *p, const char *buf, size_t len, int *next)
{
    bool more = false;
    int r;
    if (p->form == TOOLCALL_FORM_QWEN) {
        static const char *const ends[] = {"</function>", "</tool_call>"};
        for (size_t i = 0; i < 2; i++) {
            if ((r = prefix3(buf, len, ends[i], "", "")) == 2)
                return *next = -1, 2;
            more |= r == 1;
        }
        if ((r = prefix3(buf, len, "<parameter=", "", "")) == 2)
            return *next = -2, 2;
        return more || r == 1;
    }
    if ((r = prefix3(buf, len, "</", p->tool->name, ">")) == 2)
        return *next = -1, 2;
    more |= r == 1;
    for (size_t i = 0; i < p->tool->n_params; i++) {
        if ((int)i == p->param)
            continue;
        if ((r = prefix3(buf, len, "<", p->tool->params[i].name, ">")) == 2)
            return *next = (int)i, 2;
        more |= r == 1;
    }
    return more;
}

static size_t
on_value(struct toolcall_parser *p, const char *s, size_t n)
{
    if (p->cm == 0 && !p->pending) {
        const char *lt = memchr(s, '<', n);
        size_t run = lt ? (size_t)(lt - s) : n;
        if (run > 0) {
            sbuf_add(&p->val, s, run);
            sbuf_add(&p->raw, s, run);
            return run;
        }
    }
    char c = s[0];
    sbuf_add(&p->val, &c, 1);
    sbuf_add(&p->raw, &c, 1);
    if (p->pending) {
        int next, r = 1;
        if (!p->pend_tag) {
            if (c == '<') {
                p->pend_tag = true;
                p->tag_start = p->val.len - 1;
            } else if (!is_space(c)) {
                r = 0;
            }
        }
        if (r && p->pend_tag)
            r = follower(p, p->val.s + p->tag_start, p->val.len - p->tag_start, &next);
        if (r == 0) {
            p->pending = false; /* that closing tag was part of the value */
        } else if (r == 2) {
            finish_value(p, p->mark);
            if (next == -1) {
                end_call(p, NULL);
            } else if (next == -2) {
                memcpy(p->hold, "<parameter=", 11);
                p->hold_len = 11;
            } else {
                char close[sizeof p->close];
                int len = snprintf(close, sizeof close, "</%s>", p->tool->params[next].name);
                start_value(p, next, close, (size_t)len);
            }
            return 1;
        }
    }
    /* The closing tag begins with the only '<' in it, so a mismatch can
     * only restart the match at this byte. */
    p->cm = c == p->close[p->cm] ? p->cm + 1 : c == '<';
    if (p->cm == p->close_len) {
        p->cm = 0;
        if (p->verbatim) {
            p->pending = true;
            p->pend_tag = false;
            p->mark = p->val.len - p->close_len;
        } else {
            finish_value(p, p->val.len - p->close_len);
        }
    }
    return 1;
}

size_t
toolcall_parser_feed(struct toolcall_parser *p, const char *data, size_t len)
{
    size_t i = 0;
    p->stop = false;
    while (i < len && !p->stop) {
        const char *s = data + i;
        size_t n = len - i;
        /* A call's runs stop one byte past the limit, so the error comes
         * at the same byte however the answer was cut. */
        if (toolcall_parser_in_call(p) && n > TOOLCALL_CALL_MAX + 1 - p->raw.len)
            n = TOOLCALL_CALL_MAX + 1 - p->raw.len;
        switch (p->state) {
        case S_TEXT:
            i += on_text(p, s, n);
            break;
        case S_THINK:
            i += on_think(p, s, n);
            break;
        case S_AFTER:
            i += on_after(p, s);
            break;
        case S_OPEN:
            i += on_open(p, s);
            break;
        case S_JSON:
            i += on_json(p, s, n);
            break;
        case S_BODY:
            i += on_body(p, s);
            break;
        case S_VALUE:
            i += on_value(p, s, n);
            break;
        }
        if (toolcall_parser_in_call(p) && p->raw.len > TOOLCALL_CALL_MAX)
            fail_now(p, "the %s call is larger than %u MiB", p->tool ? p->tool->name : "tool",
                     TOOLCALL_CALL_MAX >> 20);
    }
    p->consumed += i;
    return i;
}

/* The tag whose absence leaves the open call unclosed, into BUF. */
static const char *
missing_tag(const struct toolcall_parser *p, char *buf, size_t size)
{
    if (p->state == S_VALUE && !p->pending) {
        snprintf(buf, size, "%.*s", (int)p->close_len, p->close);
    } else if (p->form == TOOLCALL_FORM_QWEN) {
        snprintf(buf, size, "</function>");
    } else {
        snprintf(buf, size, "</%s>", p->tool->name);
    }
    return buf;
}

void
toolcall_parser_finish(struct toolcall_parser *p)
{
    char tag[sizeof p->close + 8];
    switch (p->state) {
    case S_TEXT:
    case S_AFTER:
        emit(p, TOOLCALL_EV_TEXT, p->hold, p->hold_len);
        break;
    case S_THINK:
        emit(p, TOOLCALL_EV_THINKING, THINK_CLOSE, p->cm);
        break;
    case S_OPEN:
        fail_now(p, "<tool_call> is not closed: the answer ended before its call did");
        break;
    case S_JSON:
        fail_now(p, "the JSON object in <tool_call> is not closed");
        break;
    case S_BODY:
    case S_VALUE:
        fail_now(p, "the %s call is not closed: %s is missing", p->tool ? p->tool->name : "tool",
                 missing_tag(p, tag, sizeof tag));
        break;
    }
    reset_call(p);
    p->state = S_TEXT;
    p->hold_len = 0;
    p->cm = 0;
}
