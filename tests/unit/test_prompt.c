/* Unit tests for src/agent/prompt.c: each prompt is pinned byte for byte
 * by a golden file (tests/cases/prompt/MODE-TOOLS.txt), is the same on
 * every call, and is shorter than Cline's compact prompt for local
 * models (5,779 characters with its tools). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/agent/prompt.c"

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_prompts_match_their_golden_files)
{
    static const struct {
        enum agent_mode mode;
        bool native;
        const char *file;
    } cases[] = {
        {AGENT_MODE_ACT, false, "tests/cases/prompt/act-text.txt"},
        {AGENT_MODE_ACT, true, "tests/cases/prompt/act-native.txt"},
        {AGENT_MODE_PLAN, false, "tests/cases/prompt/plan-text.txt"},
        {AGENT_MODE_PLAN, true, "tests/cases/prompt/plan-native.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = agent_prompt(cases[i].mode, cases[i].native);
        ck_assert_msg(strcmp(p, slurp(cases[i].file)) == 0,
                      "%s differs: a prompt change is a cache miss for every session; update "
                      "the golden file on purpose",
                      cases[i].file);
        ck_assert_ptr_eq(p, agent_prompt(cases[i].mode, cases[i].native));
        ck_assert_uint_lt(strlen(p), 5779);
    }
}
END_TEST

START_TEST(test_tools_by_mode)
{
    ck_assert(agent_tool_offered(AGENT_MODE_ACT, "write_to_file"));
    ck_assert(agent_tool_offered(AGENT_MODE_ACT, "attempt_completion"));
    ck_assert(!agent_tool_offered(AGENT_MODE_ACT, "plan_mode_respond"));
    ck_assert(agent_tool_offered(AGENT_MODE_PLAN, "read_file"));
    ck_assert(agent_tool_offered(AGENT_MODE_PLAN, "plan_mode_respond"));
    ck_assert(!agent_tool_offered(AGENT_MODE_PLAN, "execute_command"));
    ck_assert(!agent_tool_offered(AGENT_MODE_PLAN, "replace_in_file"));
    ck_assert(!agent_tool_offered(AGENT_MODE_ACT, "rm_rf"));
    /* What is offered is what is described. */
    ck_assert_ptr_null(strstr(agent_prompt(AGENT_MODE_PLAN, false), "## execute_command"));
    ck_assert_ptr_nonnull(strstr(agent_prompt(AGENT_MODE_ACT, false), "## execute_command"));
    ck_assert_ptr_null(strstr(agent_prompt(AGENT_MODE_ACT, true), "<read_file>\n<path>"));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("prompt");
    TCase *tc = tcase_create("prompt");
    tcase_add_test(tc, test_prompts_match_their_golden_files);
    tcase_add_test(tc, test_tools_by_mode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
