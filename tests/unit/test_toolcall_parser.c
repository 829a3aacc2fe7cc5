/* Unit tests for the text tool-call parser (src/agent/toolcall_parser.c):
 * each form, thinking, file content holding tags, unclosed calls, plain
 * text, malformed calls, two calls.  Every case is parsed whole, cut once
 * at every byte boundary, and fed a byte at a time; all must give the
 * same text, thinking, calls (with their raw text) and stopping point. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/agent/toolcall_parser.c"

#define REQ TOOLCALL_PARAM_REQUIRED
#define VERB TOOLCALL_PARAM_VERBATIM

static const struct toolcall_param P_READ[] = {{"path", REQ}};
static const struct toolcall_param P_WRITE[] = {{"path", REQ}, {"content", REQ | VERB}};
static const struct toolcall_param P_REPLACE[] = {{"path", REQ}, {"diff", REQ | VERB}};
static const struct toolcall_param P_LIST[] = {{"path", REQ}, {"recursive", 0}};
static const struct toolcall_param P_SEARCH[] = {
    {"path", REQ}, {"regex", REQ}, {"file_pattern", 0}};
static const struct toolcall_param P_EXEC[] = {{"command", REQ}, {"requires_approval", REQ}};
static const struct toolcall_param P_ASK[] = {{"question", REQ}, {"options", 0}};
static const struct toolcall_param P_DONE[] = {{"result", REQ | VERB}};
static const struct toolcall_param P_PLAN[] = {{"response", REQ | VERB}};
/* clang-format off */
#define TOOL(n, ps) {n, ps, sizeof ps / sizeof ps[0]}
/* clang-format on */
static const struct toolcall_tool TOOLS[] = {
    TOOL("read_file", P_READ),
    TOOL("write_to_file", P_WRITE),
    TOOL("replace_in_file", P_REPLACE),
    TOOL("list_files", P_LIST),
    TOOL("search_files", P_SEARCH),
    TOOL("execute_command", P_EXEC),
    TOOL("ask_followup_question", P_ASK),
    TOOL("attempt_completion", P_DONE),
    TOOL("plan_mode_respond", P_PLAN),
};
#define N_TOOLS (sizeof TOOLS / sizeof TOOLS[0])

/* What a parse gave.  CALLS has one line per call: "name {args}" or
 * "!name: error"; RAW the calls' raw texts, each ended by "|". */
struct run {
    struct sbuf text, think, calls, raw;
    uint64_t stop; /* bytes consumed when the feeding stopped */
    unsigned ends; /* calls and errors reported */
};

static void
on_event(void *arg, const struct toolcall_event *ev)
{
    struct run *r = arg;
    switch (ev->kind) {
    case TOOLCALL_EV_TEXT:
        ck_assert_uint_gt(ev->len, 0);
        sbuf_add(&r->text, ev->text, ev->len);
        return;
    case TOOLCALL_EV_THINKING:
        ck_assert_uint_gt(ev->len, 0);
        sbuf_add(&r->think, ev->text, ev->len);
        return;
    case TOOLCALL_EV_CALL: {
        ck_assert_ptr_nonnull(ev->arguments);
        ck_assert_ptr_null(ev->error);
        char *j = json_dumps(ev->arguments, JSON_COMPACT | JSON_SORT_KEYS);
        sbuf_adds(&r->calls, ev->name);
        sbuf_adds(&r->calls, " ");
        sbuf_adds(&r->calls, j);
        sbuf_adds(&r->calls, "\n");
        free(j);
        break;
    }
    case TOOLCALL_EV_ERROR:
        ck_assert_ptr_null(ev->arguments);
        ck_assert_ptr_nonnull(ev->error);
        sbuf_adds(&r->calls, "!");
        sbuf_adds(&r->calls, ev->name ? ev->name : "-");
        sbuf_adds(&r->calls, ": ");
        sbuf_adds(&r->calls, ev->error);
        sbuf_adds(&r->calls, "\n");
        break;
    }
    r->ends++;
    sbuf_add(&r->raw, ev->text, ev->len);
    sbuf_adds(&r->raw, "|");
}

static const char *
str(const struct sbuf *b)
{
    return b->s ? b->s : "";
}

/* Parse IN cut at CUT (and at every byte when BYTEWISE).  With ALL the
 * feeding goes on after each call and the answer is finished; without,
 * it stops at the first call as the agent does, and the answer is
 * finished only when no call came. */
static void
parse(struct run *r, const char *in, size_t len, unsigned flags, bool all, size_t cut,
      bool bytewise)
{
    memset(r, 0, sizeof *r);
    struct toolcall_parser *p = toolcall_parser_new(TOOLS, N_TOOLS, flags, on_event, r, NULL);
    ck_assert_ptr_nonnull(p);
    size_t off = 0;
    bool stopped = false;
    while (off < len && !stopped) {
        size_t end = bytewise ? off + 1 : (off < cut ? cut : len);
        while (off < end) {
            size_t k = toolcall_parser_feed(p, in + off, end - off);
            off += k;
            /* A call ends the feed at its last byte, which may also be
             * the piece's: the event says so either way. */
            ck_assert(off == end || r->ends > 0);
            if (r->ends > 0 && !all) {
                stopped = true;
                break;
            }
            if (!toolcall_parser_in_call(p))
                ck_assert_uint_le(toolcall_parser_held(p), TOOLCALL_HOLD_MAX);
        }
    }
    ck_assert_uint_eq(toolcall_parser_consumed(p), off);
    if (!stopped)
        toolcall_parser_finish(p);
    r->stop = off;
    toolcall_parser_free(p);
}

static void
run_free(struct run *r)
{
    sbuf_free(&r->text);
    sbuf_free(&r->think);
    sbuf_free(&r->calls);
    sbuf_free(&r->raw);
}

static void
assert_same(const struct run *a, const struct run *b, size_t cut)
{
    ck_assert_msg(strcmp(str(&a->text), str(&b->text)) == 0, "text differs when cut at %zu", cut);
    ck_assert_msg(strcmp(str(&a->think), str(&b->think)) == 0, "thinking differs at %zu", cut);
    ck_assert_msg(strcmp(str(&a->calls), str(&b->calls)) == 0, "calls differ at %zu: %s vs %s", cut,
                  str(&a->calls), str(&b->calls));
    ck_assert_msg(strcmp(str(&a->raw), str(&b->raw)) == 0, "raw differs at %zu", cut);
    ck_assert_msg(a->stop == b->stop, "stop differs at %zu", cut);
}

/* Parse IN whole into R, and check every cut and bytewise feeding agree. */
static void
parse_every_way(struct run *r, const char *in, unsigned flags, bool all)
{
    size_t len = strlen(in);
    parse(r, in, len, flags, all, len, false);
    for (size_t cut = 0; cut <= len; cut++) {
        struct run other;
        parse(&other, in, len, flags, all, cut, false);
        assert_same(r, &other, cut);
        run_free(&other);
    }
    struct run bytes;
    parse(&bytes, in, len, flags, all, len, true);
    assert_same(r, &bytes, SIZE_MAX);
    run_free(&bytes);
}

/* The common case: the agent's way (stop at the first call). */
static void
expect(const char *in, const char *text, const char *calls)
{
    struct run r;
    parse_every_way(&r, in, 0, false);
    ck_assert_str_eq(str(&r.text), text);
    ck_assert_str_eq(str(&r.calls), calls);
    run_free(&r);
}

START_TEST(test_xml_form)
{
    const char *in = "I will read it.\n<read_file>\n<path>src/a.c</path>\n</read_file>\nmore";
    struct run r;
    parse_every_way(&r, in, 0, false);
    ck_assert_str_eq(str(&r.text), "I will read it.\n");
    ck_assert_str_eq(str(&r.calls), "read_file {\"path\":\"src/a.c\"}\n");
    ck_assert_str_eq(str(&r.raw), "<read_file>\n<path>src/a.c</path>\n</read_file>|");
    /* Stopped right after </read_file>: "\nmore" was never looked at. */
    ck_assert_uint_eq(r.stop, strlen(in) - strlen("\nmore"));
    run_free(&r);

    expect("<execute_command>\n<command>  make -j2 check\n</command>\n"
           "<requires_approval>false</requires_approval>\n</execute_command>",
           "",
           "execute_command {\"command\":\"make -j2 check\",\"requires_approval\":\"false\"}\n");
    /* Text between parameters is not part of any value. */
    expect("<list_files>x<path>.</path> y <recursive>true</recursive></list_files>", "",
           "list_files {\"path\":\".\",\"recursive\":\"true\"}\n");
}
END_TEST

START_TEST(test_qwen_form)
{
    const char *in = "Writing.\n<tool_call>\n<function=write_to_file>\n<parameter=path>\nsrc/a.c\n"
                     "</parameter>\n<parameter=content>\nint main(void)\n{\n    return 0;\n}\n\n"
                     "</parameter>\n</function>\n</tool_call>";
    const char *want = "write_to_file {\"content\":\"int main(void)\\n{\\n    return 0;\\n}\\n\","
                       "\"path\":\"src/a.c\"}\n";
    struct run r;
    parse_every_way(&r, in, 0, false);
    ck_assert_str_eq(str(&r.text), "Writing.\n");
    ck_assert_str_eq(str(&r.calls), want);
    /* Complete at </function>: the wrapper's end adds nothing. */
    ck_assert_uint_eq(r.stop, strlen(in) - strlen("\n</tool_call>"));
    run_free(&r);
    /* Fed on, the stray </tool_call> is swallowed, not shown. */
    parse_every_way(&r, in, 0, true);
    ck_assert_str_eq(str(&r.text), "Writing.\n");
    ck_assert_str_eq(str(&r.calls), want);
    run_free(&r);

    /* The 30B model sometimes leaves out <tool_call>. */
    expect("<function=read_file>\n<parameter=path>\nsrc/a.c\n</parameter>\n</function>", "",
           "read_file {\"path\":\"src/a.c\"}\n");
    /* A missing </function> is forgiven when </tool_call> ends the call. */
    expect("<tool_call><function=read_file><parameter=path>a</parameter></tool_call>", "",
           "read_file {\"path\":\"a\"}\n");
    /* Exactly one newline is trimmed at each end of a verbatim value. */
    expect("<tool_call><function=attempt_completion><parameter=result>\n\nDone.\n\n</parameter>"
           "</function></tool_call>",
           "", "attempt_completion {\"result\":\"\\nDone.\\n\"}\n");
}
END_TEST

START_TEST(test_json_form)
{
    const char *in = "<tool_call>\n{\"name\": \"execute_command\", \"arguments\": "
                     "{\"command\": \"make\", \"requires_approval\": false}}\n</tool_call>";
    struct run r;
    parse_every_way(&r, in, 0, false);
    ck_assert_str_eq(str(&r.calls),
                     "execute_command {\"command\":\"make\",\"requires_approval\":false}\n");
    ck_assert_uint_eq(r.stop, strlen(in) - strlen("\n</tool_call>"));
    run_free(&r);
    /* Arguments as a string holding an object. */
    expect("<tool_call>{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\":\\\"a.c\\\"}\"}"
           "</tool_call>",
           "", "read_file {\"path\":\"a.c\"}\n");
    /* Strings may hold the wrapper's end, braces and quotes. */
    expect("<tool_call>{\"name\":\"write_to_file\",\"arguments\":{\"path\":\"a\",\"content\":"
           "\"}</tool_call>{\\\"\\\\\"}}</tool_call>",
           "", "write_to_file {\"content\":\"}</tool_call>{\\\"\\\\\",\"path\":\"a\"}\n");
    expect("<tool_call>{\"name\":\"read_file\",\"parameters\":{\"path\":\"p\"}}", "",
           "read_file {\"path\":\"p\"}\n");
    /* Arrays stay arrays. */
    expect("<tool_call>{\"name\":\"ask_followup_question\",\"arguments\":{\"question\":\"Which?\","
           "\"options\":[\"a\",\"b\"]}}</tool_call>",
           "", "ask_followup_question {\"options\":[\"a\",\"b\"],\"question\":\"Which?\"}\n");
    /* The XML form inside the wrapper. */
    expect("<tool_call>\n<read_file><path>b.c</path></read_file>\n</tool_call>", "",
           "read_file {\"path\":\"b.c\"}\n");
}
END_TEST

START_TEST(test_thinking)
{
    struct run r;
    parse_every_way(&r,
                    "<think>I could <read_file><path>x</path></read_file> or "
                    "<tool_call>{\"name\":1}</tool_call> </thin</think>Reading.\n"
                    "<read_file><path>y</path></read_file>",
                    0, false);
    ck_assert_str_eq(str(&r.think), "I could <read_file><path>x</path></read_file> or "
                                    "<tool_call>{\"name\":1}</tool_call> </thin");
    ck_assert_str_eq(str(&r.text), "Reading.\n");
    ck_assert_str_eq(str(&r.calls), "read_file {\"path\":\"y\"}\n");
    run_free(&r);
    /* A template that opens <think> in the prompt. */
    parse_every_way(&r, "plan: <read_file></think>\n<read_file><path>z</path></read_file>",
                    TOOLCALL_START_IN_THINK, false);
    ck_assert_str_eq(str(&r.think), "plan: <read_file>");
    ck_assert_str_eq(str(&r.text), "\n");
    ck_assert_str_eq(str(&r.calls), "read_file {\"path\":\"z\"}\n");
    run_free(&r);
    /* Unclosed thinking at the end is thinking, not an error. */
    parse_every_way(&r, "<think>hmm </thi", 0, false);
    ck_assert_str_eq(str(&r.think), "hmm </thi");
    ck_assert_str_eq(str(&r.calls), "");
    run_free(&r);
}
END_TEST

START_TEST(test_content_holding_tags)
{
    /* Every tag a file may hold, and "</content>" not followed by the
     * call's structure: all of it is the file. */
    const char *file = "<read_file><path>x</path></read_file>\n"
                       "</content> not the end\n"
                       "<content>x</content>\n<tool_call>{\"name\":1}</tool_call>\n"
                       "</content>\n<content>\n"
                       "</write_to_file>\n<think>no</think>\n<function=read_file>\n";
    struct sbuf in = {0}, want = {0};
    sbuf_adds(&in, "<write_to_file>\n<path>t.xml</path>\n<content>\n");
    sbuf_adds(&in, file);
    sbuf_adds(&in, "</content>\n</write_to_file>");
    struct run r;
    parse_every_way(&r, in.s, 0, false);
    json_t *args = json_pack("{s:s, s:s}", "path", "t.xml", "content", file);
    char *j = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    sbuf_adds(&want, "write_to_file ");
    sbuf_adds(&want, j);
    sbuf_adds(&want, "\n");
    ck_assert_str_eq(str(&r.calls), want.s);
    ck_assert_uint_eq(r.stop, in.len);
    free(j);
    json_decref(args);
    run_free(&r);
    sbuf_free(&in);
    sbuf_free(&want);

    /* The last </content> before the call's end ends the file; the one
     * before it stays in.  Another parameter may come after it. */
    expect("<write_to_file><content>\nA\n</content>\n</content>\n<path>a</path></write_to_file>",
           "", "write_to_file {\"content\":\"A\\n</content>\\n\",\"path\":\"a\"}\n");
    /* The Qwen form: only </parameter> followed by the call's structure ends it. */
    expect("<tool_call>\n<function=replace_in_file>\n<parameter=diff>\n------- SEARCH\n"
           "x </parameter> y\n</function> z\n=======\n<tool_call>\n+++++++ REPLACE\n"
           "</parameter>\n<parameter=path>\nq.c\n</parameter>\n</function>",
           "",
           "replace_in_file {\"diff\":\"------- SEARCH\\nx </parameter> y\\n</function> z\\n"
           "=======\\n<tool_call>\\n+++++++ REPLACE\",\"path\":\"q.c\"}\n");
    /* A plain parameter ends at its own closing tag only. */
    expect("<read_file><path>a</read_file>b</path></read_file>", "",
           "read_file {\"path\":\"a</read_file>b\"}\n");
    /* A '<' right before the closing tag is the value's. */
    expect("<read_file><path>a<</path></read_file>", "", "read_file {\"path\":\"a<\"}\n");
}
END_TEST

START_TEST(test_unclosed_at_end)
{
    static const struct {
        const char *in, *calls;
    } cases[] = {
        {"<read_file><path>src/a.c</path>",
         "!read_file: the read_file call is not closed: </read_file> is missing\n"},
        {"<write_to_file><path>a</path><content>\nabc",
         "!write_to_file: the write_to_file call is not closed: </content> is missing\n"},
        {"<write_to_file><path>a</path><content>\nabc</content>\n",
         "!write_to_file: the write_to_file call is not closed: </write_to_file> is missing\n"},
        {"<tool_call>{\"name\": \"read_file\"",
         "!-: the JSON object in <tool_call> is not closed\n"},
        {"<tool_call>\n<function=read_file>\n<parameter=path>\na",
         "!read_file: the read_file call is not closed: </parameter> is missing\n"},
        {"<tool_call>\n<function=read_file>\n<parameter=path>\na\n</parameter>",
         "!read_file: the read_file call is not closed: </function> is missing\n"},
        {"<tool_call>\n", "!-: <tool_call> is not closed: the answer ended before its call did\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r;
        parse_every_way(&r, cases[i].in, 0, false);
        ck_assert_str_eq(str(&r.text), "");
        ck_assert_str_eq(str(&r.calls), cases[i].calls);
        /* The raw text is all the call had. */
        ck_assert_uint_eq(r.raw.len, strlen(cases[i].in) + 1);
        run_free(&r);
    }
}
END_TEST

START_TEST(test_text_only)
{
    const char *in = "Hello <b>world</b>, 3 < 4 <<think <function=nope> </read_file> "
                     "<tool_cal <read_fil";
    struct run r;
    parse_every_way(&r, in, 0, false);
    ck_assert_str_eq(str(&r.text), in);
    ck_assert_str_eq(str(&r.calls), "");
    run_free(&r);
}
END_TEST

/* Text that only looks like a tag comes out as soon as it cannot be one. */
START_TEST(test_text_is_held_back_briefly)
{
    struct run r;
    memset(&r, 0, sizeof r);
    struct toolcall_parser *p = toolcall_parser_new(TOOLS, N_TOOLS, 0, on_event, &r, NULL);
    toolcall_parser_feed(p, "x <rea", 6);
    ck_assert_str_eq(str(&r.text), "x ");
    ck_assert_uint_eq(toolcall_parser_held(p), 4);
    toolcall_parser_feed(p, "d_fil", 5);
    ck_assert_str_eq(str(&r.text), "x ");
    toolcall_parser_feed(p, "z", 1);
    ck_assert_str_eq(str(&r.text), "x <read_filz");
    ck_assert_uint_eq(toolcall_parser_held(p), 0);
    /* The longest a tag can be: "<function=" and the longest name. */
    toolcall_parser_feed(p, "<function=ask_followup_question", 31);
    ck_assert_uint_eq(toolcall_parser_held(p), 31);
    ck_assert(!toolcall_parser_in_call(p));
    toolcall_parser_feed(p, ">", 1);
    ck_assert(toolcall_parser_in_call(p));
    toolcall_parser_free(p);
    run_free(&r);
}
END_TEST

START_TEST(test_two_calls)
{
    const char *in = "<read_file><path>a</path></read_file>\n<read_file><path>b</path></read_file>";
    struct run r;
    parse_every_way(&r, in, 0, false);
    ck_assert_str_eq(str(&r.calls), "read_file {\"path\":\"a\"}\n");
    ck_assert_uint_eq(r.stop, strlen("<read_file><path>a</path></read_file>"));
    run_free(&r);
    /* A caller that feeds on gets the second as well. */
    parse_every_way(&r, in, 0, true);
    ck_assert_str_eq(str(&r.calls), "read_file {\"path\":\"a\"}\nread_file {\"path\":\"b\"}\n");
    ck_assert_str_eq(str(&r.text), "\n");
    run_free(&r);
    /* After a Qwen call, a second one right after its </function>. */
    parse_every_way(&r,
                    "<function=read_file><parameter=path>a</parameter></function>\n"
                    "<function=read_file><parameter=path>b</parameter></function>",
                    0, true);
    ck_assert_str_eq(str(&r.calls), "read_file {\"path\":\"a\"}\nread_file {\"path\":\"b\"}\n");
    ck_assert_str_eq(str(&r.text), "\n");
    run_free(&r);
}
END_TEST

START_TEST(test_malformed_calls)
{
    expect("<read_file><path>a</path><foo>1</foo></read_file>", "",
           "!read_file: read_file has no parameter foo; its parameters are: path\n");
    expect("<read_file>\n</read_file>", "",
           "!read_file: read_file is missing its required parameter path\n");
    expect("<read_file><path>a</path><path>b</path></read_file>", "",
           "!read_file: read_file is given the parameter path twice\n");
    expect("<read_file><path>\xff\xfe</path></read_file>", "",
           "!read_file: the parameter path of read_file is not valid UTF-8\n");
    expect("<tool_call><function=rm_rf><parameter=path>/</parameter></function>", "",
           "!-: there is no tool rm_rf; the tools are: read_file, write_to_file, "
           "replace_in_file, list_files, search_files, execute_command, ask_followup_question, "
           "attempt_completion, plan_mode_respond\n");
    expect("<tool_call><function=read_file><parameter=file>a</parameter></function>", "",
           "!read_file: read_file has no parameter file; its parameters are: path\n");
    expect("<tool_call>{\"name\": read_file}</tool_call>", "",
           "!-: the JSON in <tool_call> is not valid: invalid token near 'read'\n");
    expect("<tool_call>{\"arguments\": {}}", "",
           "!-: the JSON in <tool_call> has no \"name\" string\n");
    expect("<tool_call>{\"name\":\"read_file\",\"arguments\":{\"path\":\"a\",\"x\":1}}", "",
           "!read_file: read_file has no parameter x; its parameters are: path\n");
    expect("<tool_call>{\"name\":\"read_file\",\"arguments\":7}", "",
           "!read_file: \"arguments\" in <tool_call> must be a JSON object "
           "(or a string holding one)\n");
    expect("<tool_call>{\"name\":\"read_file\",\"arguments\":\"{\"}", "",
           "!read_file: \"arguments\" in <tool_call> must be a JSON object "
           "(or a string holding one)\n");
    expect("<tool_call>{\"name\":\"read_file\"</tool_call>", "",
           "!-: the JSON object in <tool_call> is not closed before </tool_call>\n");
    expect("<tool_call>hello", "",
           "!-: <tool_call> must hold a JSON object "
           "{\"name\": ..., \"arguments\": {...}} or <function=NAME>\n");
    /* The error stops the feed like a call, right where it was found. */
    struct run r;
    parse_every_way(&r, "<tool_call>hello", 0, false);
    ck_assert_uint_eq(r.stop, strlen("<tool_call>h"));
    run_free(&r);
}
END_TEST

START_TEST(test_call_size_is_bounded)
{
    struct run r;
    memset(&r, 0, sizeof r);
    struct toolcall_parser *p = toolcall_parser_new(TOOLS, N_TOOLS, 0, on_event, &r, NULL);
    const char *head = "<write_to_file><path>big</path><content>";
    ck_assert_uint_eq(toolcall_parser_feed(p, head, strlen(head)), strlen(head));
    size_t big = TOOLCALL_CALL_MAX + 100;
    char *fill = xmalloc(big);
    memset(fill, 'a', big);
    size_t used = toolcall_parser_feed(p, fill, big);
    ck_assert_uint_lt(used, big);
    ck_assert_str_eq(str(&r.calls),
                     "!write_to_file: the write_to_file call is larger than 16 MiB\n");
    /* The call's buffers are given back once it is reported. */
    ck_assert_uint_lt(toolcall_parser_memory(p), 16384);
    free(fill);
    toolcall_parser_free(p);
    run_free(&r);
}
END_TEST

START_TEST(test_reset_and_bad_tables)
{
    struct run r;
    memset(&r, 0, sizeof r);
    struct toolcall_parser *p =
        toolcall_parser_new(TOOLS, N_TOOLS, TOOLCALL_START_IN_THINK, on_event, &r, NULL);
    toolcall_parser_feed(p, "a</think><read_file><path>", 26);
    toolcall_parser_reset(p);
    ck_assert_uint_eq(toolcall_parser_consumed(p), 0);
    ck_assert(!toolcall_parser_in_call(p));
    toolcall_parser_feed(p, "b", 1);
    toolcall_parser_finish(p);
    ck_assert_str_eq(str(&r.think), "ab");
    ck_assert_str_eq(str(&r.calls), "");
    toolcall_parser_free(p);
    toolcall_parser_free(NULL);
    run_free(&r);

    struct cerr err = {0};
    static const struct toolcall_tool bad_name[] = {{"read file", NULL, 0}};
    ck_assert_ptr_null(toolcall_parser_new(bad_name, 1, 0, on_event, &r, &err));
    ck_assert_str_eq(err.msg, "tool 0: its name must be 1 to 40 of [A-Za-z0-9_-]");
    static const struct toolcall_param bad_param[] = {{"", 0}};
    static const struct toolcall_tool bad_tool[] = {{"t", bad_param, 1}};
    ck_assert_ptr_null(toolcall_parser_new(bad_tool, 1, 0, on_event, &r, &err));
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("toolcall_parser");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_xml_form);
    tcase_add_test(tc, test_qwen_form);
    tcase_add_test(tc, test_json_form);
    tcase_add_test(tc, test_thinking);
    tcase_add_test(tc, test_content_holding_tags);
    tcase_add_test(tc, test_unclosed_at_end);
    tcase_add_test(tc, test_text_only);
    tcase_add_test(tc, test_text_is_held_back_briefly);
    tcase_add_test(tc, test_two_calls);
    tcase_add_test(tc, test_malformed_calls);
    tcase_add_test(tc, test_call_size_is_bounded);
    tcase_add_test(tc, test_reset_and_bad_tables);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    xmalloc_init_json();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
