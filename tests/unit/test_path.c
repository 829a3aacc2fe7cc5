/* Unit tests for path expansion and default locations (src/core/path.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/core/path.c"

static char *
expand_ok(const char *in)
{
    struct cerr err = {0};
    char *out = path_expand(in, &err);
    ck_assert_msg(out != NULL, "expanding %s failed: %s", in, err.msg);
    return out;
}

START_TEST(test_tilde_and_variables)
{
    setenv("HOME", "/home/u", 1);
    setenv("CARETI_T", "x y", 1);
    char *a = expand_ok("~/state");
    ck_assert_str_eq(a, "/home/u/state");
    char *b = expand_ok("~");
    ck_assert_str_eq(b, "/home/u");
    char *c = expand_ok("/a/${CARETI_T}/b");
    ck_assert_str_eq(c, "/a/x y/b");
    char *d = expand_ok("/a~b"); /* ~ only expands at the start */
    ck_assert_str_eq(d, "/a~b");
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(test_xdg_fallbacks)
{
    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_STATE_HOME");
    unsetenv("XDG_CONFIG_HOME");
    char *a = expand_ok("${XDG_STATE_HOME}/careti");
    ck_assert_str_eq(a, "/home/u/.local/state/careti");
    char *b = expand_ok("${XDG_CONFIG_HOME}/careti/caretid.yaml");
    ck_assert_str_eq(b, "/home/u/.config/careti/caretid.yaml");
    setenv("XDG_STATE_HOME", "", 1); /* empty counts as unset, per the XDG spec */
    char *c = expand_ok("${XDG_STATE_HOME}");
    ck_assert_str_eq(c, "/home/u/.local/state");
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_runtime_dir_fallback_matches_default_socket)
{
    unsetenv("XDG_RUNTIME_DIR");
    char *configured = expand_ok("${XDG_RUNTIME_DIR}/careti/caretid.sock");
    char *builtin = path_default_socket();
    ck_assert_str_eq(configured, builtin);
    char want[64];
    snprintf(want, sizeof want, "/tmp/careti-%u/caretid.sock", (unsigned)getuid());
    ck_assert_str_eq(builtin, want);
    free(configured);
    free(builtin);

    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    configured = expand_ok("${XDG_RUNTIME_DIR}/careti/caretid.sock");
    builtin = path_default_socket();
    ck_assert_str_eq(configured, "/run/user/7/careti/caretid.sock");
    ck_assert_str_eq(builtin, configured);
    free(configured);
    free(builtin);
}
END_TEST

START_TEST(test_unset_variable_is_named)
{
    struct cerr err = {0};
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("CARETI_NOPE");
    ck_assert_ptr_null(path_expand("/x/${CARETI_NOPE}/y", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "${CARETI_NOPE} is not set"));
    /* Only the careti subdirectory has a fallback. */
    ck_assert_ptr_null(path_expand("${XDG_RUNTIME_DIR}/other.sock", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "XDG_RUNTIME_DIR"));
    ck_assert_ptr_null(path_expand("/x/${UNCLOSED", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "unterminated"));
    ck_assert_ptr_null(path_expand("/x/${}", &err));
}
END_TEST

START_TEST(test_dirname_cases)
{
    char *a = path_dirname("/a/b/c.sock");
    char *b = path_dirname("/c.sock");
    char *c = path_dirname("c.sock");
    ck_assert_str_eq(a, "/a/b");
    ck_assert_str_eq(b, "/");
    ck_assert_str_eq(c, ".");
    free(a);
    free(b);
    free(c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("expand");
    tcase_add_test(tc, test_tilde_and_variables);
    tcase_add_test(tc, test_xdg_fallbacks);
    tcase_add_test(tc, test_runtime_dir_fallback_matches_default_socket);
    tcase_add_test(tc, test_unset_variable_is_named);
    tcase_add_test(tc, test_dirname_cases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
