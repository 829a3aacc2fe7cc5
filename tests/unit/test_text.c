/* Unit tests for bounded copies and decimals (src/core/text.c), which replace
 * snprintf on the request path and so must cut and terminate as it does. */
#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/text.c"

START_TEST(test_copy_fits_cuts_and_terminates)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    ck_assert_uint_eq(text_copy(buf, sizeof buf, "abc"), 3);
    ck_assert_str_eq(buf, "abc");
    ck_assert_uint_eq(text_copy(buf, sizeof buf, "abcdefg"), 7); /* exactly fits */
    ck_assert_str_eq(buf, "abcdefg");
    ck_assert_uint_eq(text_copy(buf, sizeof buf, "abcdefgh"), 8); /* cut: 8 >= size */
    ck_assert_str_eq(buf, "abcdefg");
    ck_assert_uint_eq(text_copy(buf, 1, "abc"), 3);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(text_copy(buf, sizeof buf, ""), 0);
    ck_assert_str_eq(buf, "");
    /* The same results as snprintf's "%s" for every length around the size. */
    const char *src = "0123456789abcdef";
    for (size_t size = 1; size <= 18; size++) {
        char want[32], got[32];
        for (size_t n = 0; n <= 16; n++) {
            snprintf(want, size, "%.*s", (int)n, src);
            ck_assert_uint_eq(text_copyn(got, size, src, n), n);
            ck_assert_str_eq(got, want);
        }
    }
}
END_TEST

START_TEST(test_u64)
{
    char buf[TEXT_U64_MAX + 1], want[32];
    static const uint64_t values[] = {0, 7, 10, 99, 100, 65535, 4294967296u, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        snprintf(want, sizeof want, "%llu", (unsigned long long)values[i]);
        ck_assert_uint_eq(text_u64(buf, values[i]), strlen(want));
        ck_assert_str_eq(buf, want);
    }
    ck_assert_uint_eq(text_u64(buf, UINT64_MAX), TEXT_U64_MAX);
}
END_TEST

START_TEST(test_hex_digits)
{
    for (int c = 0; c < 256; c++) {
        const char *digits = "0123456789abcdef";
        const char *at = c != 0 ? strchr(digits, tolower(c)) : NULL;
        ck_assert_int_eq(text_hex_digit((char)c), at != NULL ? (int)(at - digits) : -1);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_copy_fits_cuts_and_terminates);
    tcase_add_test(tc, test_u64);
    tcase_add_test(tc, test_hex_digits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
