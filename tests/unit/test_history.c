/* The agent's request history (src/agent/history.c) over generated
 * sessions of steps: within the budget, the task and the last step always
 * sent, a call never without its result, and the trim moving in large
 * steps, so that most steps' requests begin with the one before. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/agent/history.c"

static unsigned seed_state;

static unsigned
rnd(unsigned n)
{
    seed_state = seed_state * 1103515245u + 12345u;
    return (seed_state >> 8) % n;
}

static json_int_t next_id;

static json_t *
msg(const char *role, size_t bytes)
{
    char *text = malloc(bytes + 1);
    memset(text, 'x', bytes);
    text[bytes] = '\0';
    json_t *m = json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", ++next_id, "role", role, "content",
                          text, "status", "complete", "tokens", (json_int_t)(bytes / 4));
    free(text);
    return m;
}

/* One step: an assistant message with a call, and its result. */
static void
add_step(json_t *h, size_t result_bytes)
{
    json_t *a = msg("assistant", 40);
    char id[32];
    snprintf(id, sizeof id, "call_%lld", (long long)next_id);
    json_object_set_new(a, "tool_calls",
                        json_pack("[{s:s, s:s, s:{s:s}}]", "id", id, "name", "read_file",
                                  "arguments", "path", "a.c"));
    json_array_append_new(h, a);
    json_t *r = msg("tool", result_bytes);
    json_object_set_new(r, "tool_call_id", json_string(id));
    json_object_set_new(r, "agent", json_pack("{s:s}", "tool", "read_file"));
    json_array_append_new(h, r);
}

/* Whether the first K messages of A and B are the same. */
static bool
same_prefix(const json_t *a, const json_t *b, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (!json_equal(json_array_get(a, i), json_array_get(b, i)))
            return false;
    return true;
}

START_TEST(test_forty_steps_trim_rarely)
{
    seed_state = (unsigned)_i * 7919u + 1;
    next_id = 0;
    json_t *h = json_array();
    json_t *task = msg("user", 400);
    json_object_set_new(task, "agent", json_pack("{s:s}", "environment", "<environment/>"));
    json_array_append_new(h, task);
    int64_t task_id = next_id;
    struct history_trim trim = {0};
    int64_t budget = 20000;
    json_t *prev = NULL;
    int trims = 0, kept = 0;
    for (int step = 0; step < 40; step++) {
        add_step(h, 2000 + rnd(12000));
        struct history_plan plan;
        json_t *out = history_messages(h, "SYSTEM", true, task_id, budget, &trim, &plan);
        ck_assert(plan.fits);
        ck_assert_int_le(plan.tokens, budget);
        /* The system prompt and the task come first, always. */
        ck_assert_str_eq(jfield_str(json_array_get(out, 0), "content"), "SYSTEM");
        ck_assert_ptr_nonnull(
            strstr(jfield_str(json_array_get(out, 1), "content"), "<environment/>"));
        /* Every call is followed by its result. */
        for (size_t i = 0; i + 1 < json_array_size(out); i++) {
            json_t *calls = json_object_get(json_array_get(out, i), "tool_calls");
            if (calls != NULL)
                ck_assert_str_eq(jfield_str(json_array_get(out, i + 1), "tool_call_id"),
                                 jfield_str(json_array_get(calls, 0), "id"));
        }
        /* The last step's result is whole. */
        ck_assert_int_gt(strlen(jfield_str(json_array_get(out, json_array_size(out) - 1),
                                           "content")),
                         1000);
        if (plan.trimmed)
            trims++;
        else if (prev != NULL) {
            ck_assert(same_prefix(prev, out, json_array_size(prev)));
            kept++;
        }
        json_decref(prev);
        prev = out;
    }
    /* Large steps: a trim leaves room for several steps after it. */
    ck_assert_int_ge(trims, 2);
    ck_assert_int_le(trims, 40 / 3);
    ck_assert_int_ge(kept, 40 - trims - 1);
    json_decref(prev);
    json_decref(h);
}
END_TEST

START_TEST(test_text_form_results_are_user_messages)
{
    next_id = 0;
    json_t *h = json_array();
    json_array_append_new(h, msg("user", 20));
    add_step(h, 30);
    struct history_trim trim = {0};
    struct history_plan plan;
    json_t *out = history_messages(h, "S", false, 1, 100000, &trim, &plan);
    ck_assert_int_eq(json_array_size(out), 4);
    json_t *a = json_array_get(out, 2);
    ck_assert_ptr_null(json_object_get(a, "tool_calls"));
    /* A call made natively is shown as the XML a text-form model writes. */
    ck_assert_ptr_nonnull(strstr(jfield_str(a, "content"), "<read_file>\n<path>a.c</path>"));
    json_t *r = json_array_get(out, 3);
    ck_assert_str_eq(jfield_str(r, "role"), "user");
    ck_assert_ptr_nonnull(strstr(jfield_str(r, "content"), "[read_file] Result:\n"));
    json_decref(out);
    json_decref(h);
}
END_TEST

START_TEST(test_cut_call_gets_a_result)
{
    next_id = 0;
    json_t *h = json_array();
    json_array_append_new(h, msg("user", 20));
    add_step(h, 30);
    json_array_remove(h, 2); /* the result was never stored: a crash */
    json_array_append_new(h, msg("user", 20));
    struct history_trim trim = {0};
    struct history_plan plan;
    json_t *out = history_messages(h, "S", true, next_id, 100000, &trim, &plan);
    json_t *r = json_array_get(out, 3);
    ck_assert_str_eq(jfield_str(r, "role"), "tool");
    ck_assert_ptr_nonnull(strstr(jfield_str(r, "content"), "no result"));
    json_decref(out);
    json_decref(h);
}
END_TEST

static Suite *
history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_forty_steps_trim_rarely, 0, 50);
    tcase_add_test(tc, test_text_form_results_are_user_messages);
    tcase_add_test(tc, test_cut_call_gets_a_result);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(history_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
