/* Unit tests for caretictl acp's pure parts: the JSON-RPC framing of a
 * line (src/cli/ctl_acp_rpc.c) and the mapping of the daemon's agent
 * events to ACP values (src/cli/ctl_acp_map.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cli/ctl_acp_map.c"
#include "../../src/cli/ctl_acp_rpc.c"

static const char *
str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

START_TEST(test_diff_block_from_hunks)
{
    /* Two hunks: old = context + removed lines, new = context + added. */
    const char *diff = "--- a/a.c\n+++ b/a.c\n"
                       "@@ -1,3 +1,3 @@\n int a;\n-int b;\n+long b;\n int c;\n"
                       "@@ -10,2 +10,3 @@\n x();\n+y();\n z();\n";
    json_t *b = acp_diff_block("/w/a.c", diff);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(str(b, "type"), "diff");
    ck_assert_str_eq(str(b, "path"), "/w/a.c");
    ck_assert_str_eq(str(b, "oldText"), "int a;\nint b;\nint c;\nx();\nz();\n");
    ck_assert_str_eq(str(b, "newText"), "int a;\nlong b;\nint c;\nx();\ny();\nz();\n");
    json_decref(b);
}
END_TEST

START_TEST(test_diff_block_new_file_and_no_newline)
{
    json_t *b =
        acp_diff_block("/w/n.txt", "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n"
                                   "\\ No newline at end of file\n");
    ck_assert_ptr_nonnull(b);
    ck_assert(json_is_null(json_object_get(b, "oldText")));
    ck_assert_str_eq(str(b, "newText"), "one\ntwo");
    json_decref(b);
    /* Only the old side lacked the final newline. */
    b = acp_diff_block("/w/a", "@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n");
    ck_assert_str_eq(str(b, "oldText"), "a");
    ck_assert_str_eq(str(b, "newText"), "a\n");
    json_decref(b);
    /* No hunk, no block. */
    ck_assert_ptr_null(acp_diff_block("/w/a", ""));
    ck_assert_ptr_null(acp_diff_block("/w/a", "--- a/x\n+++ b/x\n"));
    ck_assert_ptr_null(acp_diff_block("/w/a", NULL));
}
END_TEST

START_TEST(test_tools)
{
    ck_assert_str_eq(acp_tool_kind("read_file"), "read");
    ck_assert_str_eq(acp_tool_kind("replace_in_file"), "edit");
    ck_assert_str_eq(acp_tool_kind("write_to_file"), "edit");
    ck_assert_str_eq(acp_tool_kind("search_files"), "search");
    ck_assert_str_eq(acp_tool_kind("list_files"), "search");
    ck_assert_str_eq(acp_tool_kind("execute_command"), "execute");
    ck_assert_str_eq(acp_tool_kind("plan_mode_respond"), "think");
    ck_assert_str_eq(acp_tool_kind("mystery"), "other");
    ck_assert_str_eq(acp_tool_kind(NULL), "other");
    ck_assert(acp_tool_shown("read_file"));
    ck_assert(acp_tool_shown("mystery"));
    ck_assert(!acp_tool_shown("ask_followup_question"));
    ck_assert(!acp_tool_shown("attempt_completion"));

    json_t *a = json_pack("{s:s}", "path", "src/a.c");
    char *t = acp_tool_title("read_file", a);
    ck_assert_str_eq(t, "Read src/a.c");
    free(t);
    json_decref(a);
    a = json_pack("{s:s}", "command", "make\ncheck");
    t = acp_tool_title("execute_command", a);
    ck_assert_str_eq(t, "Run `make check`");
    free(t);
    json_decref(a);
    a = json_pack("{s:s, s:s}", "regex", "foo", "path", "src");
    t = acp_tool_title("search_files", a);
    ck_assert_str_eq(t, "Search 'foo' in src");
    free(t);
    json_decref(a);
    t = acp_tool_title("mystery", NULL);
    ck_assert_str_eq(t, "mystery");
    free(t);
    /* A long title is cut at a character, never inside one. */
    char longp[400] = "";
    for (int i = 0; i < 100; i++)
        memcpy(longp + 2 * i, "é", 3); /* 2 bytes and the NUL */
    a = json_pack("{s:s}", "path", longp);
    t = acp_tool_title("read_file", a);
    ck_assert_uint_le(strlen(t), ACP_TITLE_MAX + 3);
    json_t *ok = json_string(t);
    ck_assert_ptr_nonnull(ok); /* still UTF-8 */
    json_decref(ok);
    free(t);
    json_decref(a);
}
END_TEST

START_TEST(test_paths_and_stop_reasons)
{
    char *p = acp_abs_path("/w", "./src/a.c");
    ck_assert_str_eq(p, "/w/src/a.c");
    free(p);
    p = acp_abs_path("/w/", "/etc/x");
    ck_assert_str_eq(p, "/etc/x");
    free(p);
    ck_assert_ptr_null(acp_abs_path("/w", ""));
    ck_assert_str_eq(acp_stop_reason("completed", "complete"), "end_turn");
    ck_assert_str_eq(acp_stop_reason("needs_user", "complete"), "end_turn");
    ck_assert_str_eq(acp_stop_reason("max_steps", "complete"), "max_turn_requests");
    ck_assert_str_eq(acp_stop_reason("cancelled", "interrupted"), "cancelled");
    ck_assert_ptr_null(acp_stop_reason("error", "error"));
    ck_assert_ptr_null(acp_stop_reason("something new", "complete"));
    /* A chat turn has only its status. */
    ck_assert_str_eq(acp_stop_reason(NULL, "complete"), "end_turn");
    ck_assert_str_eq(acp_stop_reason(NULL, "interrupted"), "cancelled");
    ck_assert_ptr_null(acp_stop_reason(NULL, "error"));
}
END_TEST

START_TEST(test_plan_and_prompt)
{
    json_t *e = acp_plan_entries("Plan:\n1. read a.c\n2) fix b\n- test it\nDone.");
    ck_assert_uint_eq(json_array_size(e), 3);
    ck_assert_str_eq(str(json_array_get(e, 1), "content"), "fix b");
    ck_assert_str_eq(str(json_array_get(e, 2), "status"), "pending");
    json_decref(e);
    e = acp_plan_entries("just do it");
    ck_assert_uint_eq(json_array_size(e), 1);
    json_decref(e);

    const char *why;
    json_t *blocks = json_loads(
        "[{\"type\":\"text\",\"text\":\"fix\"},"
        "{\"type\":\"resource_link\",\"uri\":\"file:///w/a.c\",\"name\":\"a.c\"},"
        "{\"type\":\"resource\",\"resource\":{\"uri\":\"file:///w/b.c\",\"text\":\"int b;\"}}]",
        0, NULL);
    char *t = acp_prompt_text(blocks, &why);
    ck_assert_str_eq(t, "fix @file:///w/a.c\n\nfile:///w/b.c:\n```\nint b;\n```");
    free(t);
    json_decref(blocks);
    blocks = json_loads("[{\"type\":\"image\",\"data\":\"\",\"mimeType\":\"image/png\"}]", 0, NULL);
    ck_assert_ptr_null(acp_prompt_text(blocks, &why));
    ck_assert_ptr_nonnull(strstr(why, "only text"));
    json_decref(blocks);
    blocks = json_loads("[]", 0, NULL);
    ck_assert_ptr_null(acp_prompt_text(blocks, &why));
    json_decref(blocks);
}
END_TEST

START_TEST(test_framing)
{
    static const struct {
        const char *line;
        enum acp_msg_kind kind;
        int code;
        bool has_id;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}", ACP_MSG_REQUEST,
         0, true},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"session/cancel\",\"params\":{}}", ACP_MSG_NOTIFICATION,
         0, false},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}", ACP_MSG_RESPONSE, 0, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":1,\"message\":\"x\"}}",
         ACP_MSG_RESPONSE, 0, true},
        {"nope", ACP_MSG_INVALID, ACP_PARSE_ERROR, false},
        {"[]", ACP_MSG_INVALID, ACP_INVALID_REQUEST, false},
        {"{\"id\":1,\"method\":\"x\"}", ACP_MSG_INVALID, ACP_INVALID_REQUEST, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}", ACP_MSG_INVALID, ACP_INVALID_REQUEST,
         false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", ACP_MSG_INVALID, ACP_INVALID_REQUEST,
         true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", ACP_MSG_INVALID,
         ACP_INVALID_PARAMS, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", ACP_MSG_INVALID, ACP_INVALID_REQUEST, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}", ACP_MSG_INVALID,
         ACP_INVALID_REQUEST, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"x\"}", ACP_MSG_INVALID,
         ACP_PARSE_ERROR, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct acp_msg m;
        acp_msg_parse(cases[i].line, strlen(cases[i].line), &m);
        ck_assert_msg(m.kind == cases[i].kind, "case %zu: kind %d", i, m.kind);
        if (cases[i].kind == ACP_MSG_INVALID)
            ck_assert_msg(m.err_code == cases[i].code, "case %zu: code %d", i, m.err_code);
        ck_assert_msg((m.id != NULL) == cases[i].has_id, "case %zu: id", i);
        acp_msg_clear(&m);
    }
    json_t *id = json_string("x");
    json_t *e = acp_error(id, ACP_METHOD_NOT_FOUND, "no");
    char *s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(
        s, "{\"error\":{\"code\":-32601,\"message\":\"no\"},\"id\":\"x\",\"jsonrpc\":\"2.0\"}");
    free(s);
    json_decref(e);
    json_decref(id);
    e = acp_error(NULL, ACP_PARSE_ERROR, "bad");
    ck_assert(json_is_null(json_object_get(e, "id")));
    json_decref(e);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("acp_map");
    TCase *tc = tcase_create("acp_map");
    tcase_add_test(tc, test_diff_block_from_hunks);
    tcase_add_test(tc, test_diff_block_new_file_and_no_newline);
    tcase_add_test(tc, test_tools);
    tcase_add_test(tc, test_paths_and_stop_reasons);
    tcase_add_test(tc, test_plan_and_prompt);
    tcase_add_test(tc, test_framing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
