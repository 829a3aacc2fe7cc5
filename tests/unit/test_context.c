/* Property tests for the context planner (src/agent/context.c) over generated
 * histories: never over budget when that is possible, the task and the
 * current turn always kept, system messages kept, whole turns dropped
 * oldest first, a tool call never separated from its result. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/agent/context.c"

#define MAX_ITEMS 400

static unsigned seed_state;

static unsigned
rnd(unsigned n)
{
    seed_state = seed_state * 1103515245u + 12345u;
    return (seed_state >> 8) % n;
}

/* A history: optional system prompt, the task, then turns of user text,
 * assistant replies, tool calls and their results; ends with a user
 * message (the turn being asked). */
static size_t
generate(struct context_item *items)
{
    size_t n = 0;
    if (rnd(2))
        items[n++] = (struct context_item){"system", 10 + rnd(200)};
    items[n++] = (struct context_item){"user", 5 + rnd(500)};
    unsigned turns = rnd(40);
    for (unsigned t = 0; t < turns && n + 12 < MAX_ITEMS; t++) {
        if (t > 0)
            items[n++] = (struct context_item){"user", 5 + rnd(500)};
        unsigned calls = rnd(4);
        for (unsigned c = 0; c < calls; c++) {
            items[n++] = (struct context_item){"assistant", 20 + rnd(100)};
            items[n++] = (struct context_item){"tool", 10 + rnd(3000)};
        }
        items[n++] = (struct context_item){"assistant", 10 + rnd(800)};
        if (rnd(10) == 0)
            items[n++] = (struct context_item){"system", 10 + rnd(50)};
    }
    items[n++] = (struct context_item){"user", 5 + rnd(800)};
    return n;
}

START_TEST(test_properties_hold_over_generated_histories)
{
    static struct context_item items[MAX_ITEMS];
    static bool keep[MAX_ITEMS];
    seed_state = 42;
    for (int round = 0; round < 3000; round++) {
        size_t n = generate(items);
        int64_t total = 0, protected_tokens = 0;
        size_t first_user = n, last_user = 0;
        for (size_t i = 0; i < n; i++) {
            total += items[i].tokens;
            if (strcmp(items[i].role, "user") == 0) {
                if (first_user == n)
                    first_user = i;
                last_user = i;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (strcmp(items[i].role, "system") == 0 || i <= first_user || i >= last_user)
                protected_tokens += items[i].tokens;
        int64_t budget = 100 + rnd((unsigned)total + 200);
        struct context_plan plan;
        context_plan(items, n, budget, keep, &plan);
        int64_t sent = 0;
        for (size_t i = 0; i < n; i++)
            sent += keep[i] ? items[i].tokens : 0;
        ck_assert_int_eq(sent, plan.tokens);
        if (protected_tokens <= budget) {
            ck_assert_msg(plan.fits && sent <= budget, "round %d: %lld over budget %lld", round,
                          (long long)sent, (long long)budget);
        } else {
            ck_assert(!plan.fits);
        }
        if (total <= budget)
            ck_assert_uint_eq(plan.dropped_messages, 0);
        ck_assert(keep[first_user]);
        for (size_t i = last_user; i < n; i++)
            ck_assert_msg(keep[i], "round %d: the current turn lost item %zu", round, i);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(items[i].role, "system") == 0)
                ck_assert(keep[i]);
            /* a tool result is sent exactly when the call before it is */
            if (strcmp(items[i].role, "tool") == 0)
                ck_assert_int_eq(keep[i], keep[i - 1]);
        }
        /* Dropped turns are the oldest: once something is kept after the
         * task, nothing later (but system) is dropped. */
        bool seen_kept = false;
        for (size_t i = first_user + 1; i < last_user; i++) {
            if (strcmp(items[i].role, "system") == 0)
                continue;
            if (keep[i])
                seen_kept = true;
            else
                ck_assert_msg(!seen_kept, "round %d: item %zu dropped after a kept one", round, i);
        }
    }
}
END_TEST

START_TEST(test_turns_are_dropped_whole)
{
    struct context_item items[] = {
        {"system", 10}, {"user", 50},   {"assistant", 40}, {"tool", 100}, {"assistant", 30},
        {"user", 60},   {"assistant", 70}, {"user", 20},
    };
    bool keep[8];
    struct context_plan plan;
    context_plan(items, 8, 220, keep, &plan);
    /* The first unit (the task's replies and tool result) goes, then the
     * second turn fits. */
    bool want[8] = {true, true, false, false, false, true, true, true};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(keep[i] == want[i], "item %d", i);
    ck_assert_uint_eq(plan.dropped_messages, 3);
    ck_assert_uint_eq(plan.dropped_turns, 1);
    ck_assert_int_eq(plan.tokens, 210);
    ck_assert(plan.fits);
    /* With 100 tokens not even the task and the current turn fit. */
    context_plan(items, 8, 70, keep, &plan);
    ck_assert(!plan.fits);
    ck_assert(keep[1] && keep[7] && keep[0]);
}
END_TEST

START_TEST(test_budget)
{
    ck_assert_int_eq(context_budget(262144), 262144 - 32768);
    ck_assert_int_eq(context_budget(32768), 32768 - 8192);
    ck_assert_int_eq(context_budget(4096), 2048);
    ck_assert_int_eq(context_estimate("12345678"), 2);
    ck_assert_int_eq(context_estimate(""), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("plan");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_properties_hold_over_generated_histories);
    tcase_add_test(tc, test_turns_are_dropped_whole);
    tcase_add_test(tc, test_budget);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
