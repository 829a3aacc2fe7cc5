/* Workspace confinement and atomic writes (src/agent/workspace.c) on real
 * temporary directories.  Every resolution test runs twice: through
 * openat2(RESOLVE_BENEATH) and through the O_NOFOLLOW component walk. */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/agent/workspace.c"

static char base[64];    /* the temporary directory */
static char wsdir[128];  /* BASE/w, the workspace */
static char outdir[128]; /* BASE/outside, with a file "secret" */
static struct workspace *ws;

static void
put(const char *rel, const char *text, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(p, mode), 0);
}

static void
mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void
ln(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    ck_assert_int_eq(symlink(target, p), 0);
}

static char *
slurp(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Open the workspace; MODE 0 uses openat2, 1 forces the walk.  Returns
 * false when openat2 is wanted but the kernel (or a filter) lacks it. */
static bool
setup(int mode)
{
    snprintf(base, sizeof base, "/tmp/test_workspace.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(wsdir, sizeof wsdir, "%s/w", base);
    snprintf(outdir, sizeof outdir, "%s/outside", base);
    mk("w");
    mk("outside");
    put("outside/secret", "top secret\n", 0644);
    mk("w/sub");
    put("w/sub/f", "inside\n", 0644);
    struct cerr err = {0};
    ws = workspace_open(wsdir, &err);
    ck_assert_msg(ws != NULL, "%s", err.msg);
    if (mode == 1)
        ws->openat2 = false;
    else if (!ws->openat2)
        fprintf(stderr, "test_workspace: openat2 unavailable here; its half is skipped\n");
    return mode == 1 || ws->openat2;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void
teardown(void)
{
    workspace_free(ws);
    ws = NULL;
    ck_assert_int_eq(nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Refused with -EXDEV and a message naming the workspace. */
static void
assert_refused(const char *path)
{
    struct cerr err = {0};
    int fd = workspace_openat(ws, path, O_RDONLY, 0, &err);
    if (fd >= 0)
        close(fd);
    ck_assert_msg(fd == -EXDEV, "%s: got %d (%s)", path, fd, err.msg);
    ck_assert_msg(strstr(err.msg, "outside the workspace") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, ws->root) != NULL, "%s", err.msg);
}

START_TEST(test_relpath_cleans_and_refuses_lexical_escapes)
{
    setup(1);
    struct cerr err = {0};
    char *r = workspace_relpath(ws, "a/./b//c/", &err);
    ck_assert_str_eq(r, "a/b/c");
    free(r);
    r = workspace_relpath(ws, "a/../b", &err);
    ck_assert_str_eq(r, "b");
    free(r);
    r = workspace_relpath(ws, ".", &err);
    ck_assert_str_eq(r, ".");
    free(r);
    char abs[256];
    snprintf(abs, sizeof abs, "%s/sub/f", ws->root);
    r = workspace_relpath(ws, abs, &err);
    ck_assert_str_eq(r, "sub/f");
    free(r);
    r = workspace_relpath(ws, ws->root, &err);
    ck_assert_str_eq(r, ".");
    free(r);

    ck_assert_ptr_null(workspace_relpath(ws, "../x", &err));
    char want[256];
    snprintf(want, sizeof want, "path ../x is outside the workspace %s; use a path inside it",
             ws->root);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, -EXDEV);
    ck_assert_ptr_null(workspace_relpath(ws, "sub/../../x", &err));
    ck_assert_ptr_null(workspace_relpath(ws, "/etc/passwd", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "path /etc/passwd is outside the workspace"));
    /* A sibling whose name starts with the workspace's is not inside. */
    snprintf(abs, sizeof abs, "%s2/x", ws->root);
    ck_assert_ptr_null(workspace_relpath(ws, abs, &err));
    ck_assert_ptr_null(workspace_relpath(ws, "", &err));
    ck_assert_int_eq(err.code, -EINVAL);
    teardown();
}
END_TEST

START_TEST(test_every_escape_is_refused)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    char abs[256];
    assert_refused("../outside/secret");
    snprintf(abs, sizeof abs, "%s/secret", outdir);
    assert_refused(abs);
    /* A symlink pointing out, relative and absolute. */
    ln("../outside", "w/out");
    assert_refused("out/secret");
    ln(outdir, "w/absout");
    assert_refused("absout/secret");
    /* A symlink as the last component, to a file outside. */
    ln("../outside/secret", "w/leak");
    assert_refused("leak");
    /* A symlink in the middle of a path, climbing out from a subdirectory. */
    ln("../../outside", "w/sub/mid");
    assert_refused("sub/mid/secret");
    /* A chain of links that stays inside until its last hop. */
    ln("hop2", "w/hop1");
    ln("sub/mid", "w/hop2");
    assert_refused("hop1/secret");
    teardown();
}
END_TEST

START_TEST(test_symlinks_that_stay_inside_are_followed)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    mk("w/other");
    put("w/other/g", "g\n", 0644);
    ln("sub", "w/alias");
    ln("../other", "w/sub/up");
    struct cerr err = {0};
    const char *ok[] = {"alias/f", "sub/up/g", "sub/../sub/f", "alias/up/g"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int fd = workspace_openat(ws, ok[i], O_RDONLY, 0, &err);
        ck_assert_msg(fd >= 0, "%s: %s", ok[i], err.msg);
        close(fd);
    }
    teardown();
}
END_TEST

/* The path is resolved anew at each use: a directory that was fine when
 * the model's path was checked, then replaced by a symlink pointing out,
 * is refused at the next open. */
START_TEST(test_directory_swapped_for_symlink_between_calls_is_refused)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    put("outside/f", "swapped-in secret\n", 0644);
    struct cerr err = {0};
    int fd = workspace_openat(ws, "sub/f", O_RDONLY, 0, &err);
    ck_assert_msg(fd >= 0, "%s", err.msg);
    close(fd);
    char p[256];
    snprintf(p, sizeof p, "%s/w/sub", base);
    char old[256];
    snprintf(old, sizeof old, "%s/w/sub.old", base);
    ck_assert_int_eq(rename(p, old), 0);
    ln("../outside", "w/sub");
    assert_refused("sub/f");
    teardown();
}
END_TEST

static void
swap_sub(const char *name)
{
    if (strcmp(name, "sub") != 0)
        return;
    char p[256], old[256];
    snprintf(p, sizeof p, "%s/w/sub", base);
    snprintf(old, sizeof old, "%s/w/sub.old", base);
    ck_assert_int_eq(rename(p, old), 0);
    ck_assert_int_eq(symlink(outdir, p), 0);
}

/* The walk's own race: "sub" is a directory when the walk looks at it and
 * a symlink out when it opens it; O_NOFOLLOW refuses the open. */
START_TEST(test_walk_refuses_symlink_swapped_in_mid_resolution)
{
    setup(1);
    put("outside/f", "swapped-in secret\n", 0644);
    walk_hook = swap_sub;
    struct cerr err = {0};
    int fd = workspace_openat(ws, "sub/f", O_RDONLY, 0, &err);
    walk_hook = NULL;
    if (fd >= 0)
        close(fd);
    ck_assert_msg(fd == -ENOTDIR || fd == -ELOOP, "got %d (%s)", fd, err.msg);
    teardown();
}
END_TEST

START_TEST(test_write_is_atomic_and_keeps_the_mode)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    put("w/sub/f", "old text\n", 0640);
    struct stat before, after;
    char p[256];
    snprintf(p, sizeof p, "%s/w/sub/f", base);
    ck_assert_int_eq(stat(p, &before), 0);
    int reader = open(p, O_RDONLY);
    struct workspace_file prev = {0};
    struct cerr err = {0};
    ck_assert_msg(workspace_write(ws, "sub/f", "new text\n", 9, NULL, &prev, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(stat(p, &after), 0);
    ck_assert_int_eq(after.st_mode & 07777, 0640);
    /* A new inode renamed over the name: a reader of the old file still
     * sees the old bytes whole, never a half-written file. */
    ck_assert(after.st_ino != before.st_ino);
    char buf[32] = {0};
    ck_assert_int_eq(read(reader, buf, sizeof buf - 1), 9);
    ck_assert_str_eq(buf, "old text\n");
    close(reader);
    ck_assert_str_eq(slurp("w/sub/f"), "new text\n");
    ck_assert(prev.exists);
    ck_assert_str_eq(prev.data, "old text\n");
    ck_assert_int_eq(prev.mode, 0640);
    workspace_file_clear(&prev);
    /* No temporary file is left beside it. */
    snprintf(p, sizeof p, "%s/w/sub", base);
    DIR *d = opendir(p);
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)) != NULL)
        entries += de->d_name[0] != '.' || strlen(de->d_name) > 2;
    closedir(d);
    ck_assert_int_eq(entries, 1);
    teardown();
}
END_TEST

START_TEST(test_write_creates_parents_with_the_umask)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    mode_t old = umask(022);
    struct workspace_file prev = {0};
    struct cerr err = {0};
    ck_assert_msg(workspace_write(ws, "new/deeper/x.txt", "x", 1, NULL, &prev, &err) == 0, "%s",
                  err.msg);
    umask(old);
    ck_assert(!prev.exists);
    ck_assert_str_eq(slurp("w/new/deeper/x.txt"), "x");
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/w/new/deeper/x.txt", base);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0644);
    /* An empty file is a file too. */
    ck_assert_int_eq(workspace_write(ws, "empty", "", 0, NULL, NULL, &err), 0);
    ck_assert_str_eq(slurp("w/empty"), "");
    teardown();
}
END_TEST

START_TEST(test_write_never_lands_outside)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    struct cerr err = {0};
    ln("../outside/secret", "w/leak");
    ln("../outside", "w/out");
    ck_assert_int_eq(workspace_write(ws, "leak", "pwned", 5, NULL, NULL, &err), -EXDEV);
    ck_assert_ptr_nonnull(strstr(err.msg, "outside the workspace"));
    ck_assert_int_eq(workspace_write(ws, "out/new", "pwned", 5, NULL, NULL, &err), -EXDEV);
    ck_assert_int_eq(workspace_write(ws, "out/deep/new", "pwned", 5, NULL, NULL, &err), -EXDEV);
    ck_assert_int_eq(workspace_write(ws, "../outside/secret", "pwned", 5, NULL, NULL, &err),
                     -EXDEV);
    ck_assert_str_eq(slurp("outside/secret"), "top secret\n");
    ck_assert_ptr_null(slurp("outside/new"));
    ck_assert_ptr_null(slurp("outside/deep/new"));
    ck_assert_str_eq(slurp("w/leak") != NULL ? "link intact" : "", "link intact");
    teardown();
}
END_TEST

START_TEST(test_write_through_an_inside_symlink_writes_its_target)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    ln("sub/f", "w/alias");
    struct cerr err = {0};
    ck_assert_int_eq(workspace_write(ws, "alias", "via link\n", 9, NULL, NULL, &err), 0);
    ck_assert_str_eq(slurp("w/sub/f"), "via link\n");
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/w/alias", base);
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    teardown();
}
END_TEST

START_TEST(test_write_refuses_a_file_changed_since_prepared)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    struct cerr err = {0};
    struct workspace_file seen = {0};
    ck_assert_int_eq(workspace_read(ws, "sub/f", 1024, &seen, &err), 0);
    ck_assert_str_eq(seen.data, "inside\n");
    put("w/sub/f", "edited by the user\n", 0644);
    ck_assert_int_eq(workspace_write(ws, "sub/f", "agent", 5, &seen, NULL, &err), -ESTALE);
    ck_assert_ptr_nonnull(strstr(err.msg, "changed on disk"));
    ck_assert_str_eq(slurp("w/sub/f"), "edited by the user\n");
    /* Expecting absence where a file now is, likewise. */
    struct workspace_file absent = {0};
    ck_assert_int_eq(workspace_write(ws, "sub/f", "agent", 5, &absent, NULL, &err), -ESTALE);
    workspace_file_clear(&seen);
    /* Writing a directory or the root is refused. */
    ck_assert_int_eq(workspace_write(ws, "sub", "x", 1, NULL, NULL, &err), -EISDIR);
    ck_assert_int_eq(workspace_write(ws, ".", "x", 1, NULL, NULL, &err), -EISDIR);
    teardown();
}
END_TEST

START_TEST(test_remove_checks_the_content_first)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    struct cerr err = {0};
    struct workspace_file made = {.exists = true, .data = "made\n", .len = 5};
    ck_assert_int_eq(workspace_write(ws, "made", "made\n", 5, NULL, NULL, &err), 0);
    put("w/made", "changed\n", 0644);
    ck_assert_int_eq(workspace_remove(ws, "made", &made, &err), -ESTALE);
    ck_assert_str_eq(slurp("w/made"), "changed\n");
    put("w/made", "made\n", 0644);
    ck_assert_int_eq(workspace_remove(ws, "made", &made, &err), 0);
    ck_assert_ptr_null(slurp("w/made"));
    ln("../outside/secret", "w/leak");
    ck_assert_int_eq(workspace_remove(ws, "leak", NULL, &err), -EXDEV);
    ck_assert_str_eq(slurp("outside/secret"), "top secret\n");
    teardown();
}
END_TEST

START_TEST(test_read_limits_and_absence)
{
    if (!setup(_i)) {
        teardown();
        return;
    }
    struct cerr err = {0};
    struct workspace_file f = {0};
    ck_assert_int_eq(workspace_read(ws, "nothing", 1024, &f, &err), 0);
    ck_assert(!f.exists);
    ck_assert_int_eq(workspace_read(ws, "sub/f", 3, &f, &err), -EFBIG);
    ck_assert(!f.exists);
    ck_assert_int_eq(workspace_read(ws, "sub", 1024, &f, &err), -EISDIR);
    teardown();
}
END_TEST

static Suite *
workspace_suite(void)
{
    Suite *s = suite_create("workspace");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_relpath_cleans_and_refuses_lexical_escapes);
    tcase_add_loop_test(tc, test_every_escape_is_refused, 0, 2);
    tcase_add_loop_test(tc, test_symlinks_that_stay_inside_are_followed, 0, 2);
    tcase_add_loop_test(tc, test_directory_swapped_for_symlink_between_calls_is_refused, 0, 2);
    tcase_add_test(tc, test_walk_refuses_symlink_swapped_in_mid_resolution);
    tcase_add_loop_test(tc, test_write_is_atomic_and_keeps_the_mode, 0, 2);
    tcase_add_loop_test(tc, test_write_creates_parents_with_the_umask, 0, 2);
    tcase_add_loop_test(tc, test_write_never_lands_outside, 0, 2);
    tcase_add_loop_test(tc, test_write_through_an_inside_symlink_writes_its_target, 0, 2);
    tcase_add_loop_test(tc, test_write_refuses_a_file_changed_since_prepared, 0, 2);
    tcase_add_loop_test(tc, test_remove_checks_the_content_first, 0, 2);
    tcase_add_loop_test(tc, test_read_limits_and_absence, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(workspace_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
