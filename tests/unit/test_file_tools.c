/* The agent's file tools (src/agent/file_tools.c) on real temporary
 * directories: read_file's refusals and ranges, write_to_file and
 * replace_in_file (exact, whitespace-tolerant, ambiguous, missing, all or
 * none), the unified diff, list_files with .gitignore and its cap, and
 * search_files with PCRE2, globs and its counts. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/agent/file_tools.c"

static char base[64];
static struct workspace *ws;
static struct sbuf out;

static void
put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    ck_assert_msg(f != NULL, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void
put_bytes(const char *rel, const char *data, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

static void
mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static char *
slurp(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
setup(void)
{
    snprintf(base, sizeof base, "/tmp/test_file_tools.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    struct cerr err = {0};
    ws = workspace_open(base, &err);
    ck_assert_msg(ws != NULL, "%s", err.msg);
    sbuf_reset(&out);
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
    sbuf_free(&out);
    ck_assert_int_eq(nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static const char *
text(void)
{
    return out.s != NULL ? out.s : "";
}

/* ---------------------------------------------------------------- read_file */

START_TEST(test_read_whole_and_ranges)
{
    setup();
    put("a.txt", "one\ntwo\nthree\nfour");
    ck_assert_int_eq(file_tools_read(ws, "a.txt", 0, 0, &out), 0);
    ck_assert_str_eq(text(), "one\ntwo\nthree\nfour");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "a.txt", 2, 3, &out), 0);
    ck_assert_str_eq(text(), "two\nthree\n");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "a.txt", 3, 0, &out), 0);
    ck_assert_str_eq(text(), "three\nfour");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "a.txt", 9, 12, &out), -EINVAL);
    ck_assert_str_eq(text(), "a.txt has only 4 lines; start_line must be at most that");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "a.txt", 3, 2, &out), -EINVAL);
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, ".", 0, 0, &out), -EISDIR);
    ck_assert_ptr_nonnull(strstr(text(), "list_files"));
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "../etc/passwd", 0, 0, &out), -EXDEV);
    ck_assert_ptr_nonnull(strstr(text(), "is outside the workspace"));
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "missing.c", 0, 0, &out), -ENOENT);
    ck_assert_ptr_nonnull(strstr(text(), "missing.c does not exist"));
    teardown();
}
END_TEST

START_TEST(test_read_refuses_binary_and_large_files)
{
    setup();
    char bin[100] = "ELF";
    put_bytes("prog", bin, sizeof bin);
    ck_assert_int_eq(file_tools_read(ws, "prog", 0, 0, &out), -EINVAL);
    ck_assert_ptr_nonnull(strstr(text(), "binary file"));
    /* A NUL past the first 8 KiB is not looked for. */
    static char late[9000];
    memset(late, 'a', sizeof late);
    late[8999] = '\0';
    put_bytes("late", late, sizeof late);
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "late", 0, 0, &out), 0);

    /* 300 KiB of 100-byte lines. */
    struct sbuf big = {0};
    for (int i = 0; i < 3072; i++) {
        char line[101];
        memset(line, 'x', 99);
        line[99] = '\n';
        line[100] = '\0';
        sbuf_adds(&big, line);
    }
    put_bytes("big.log", big.s, big.len);
    sbuf_free(&big);
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "big.log", 0, 0, &out), -EFBIG);
    ck_assert_str_eq(text(), "big.log is 307200 bytes (3072 lines), over read_file's limit of "
                             "256 KiB; read a part with start_line and end_line, e.g. "
                             "start_line 1 and end_line 2595");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "big.log", 3000, 3002, &out), 0);
    ck_assert_uint_eq(out.len, 300);
    /* A range that is itself too long is refused too. */
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_read(ws, "big.log", 1, 3000, &out), -EFBIG);
    ck_assert_ptr_nonnull(strstr(text(), "read fewer lines"));
    teardown();
}
END_TEST

/* ------------------------------------------------------------------- edits */

static int
replace(const char *path, const char *diff, struct file_tools_edit **e)
{
    sbuf_reset(&out);
    return file_tools_prepare_replace(ws, path, diff, e, &out);
}

START_TEST(test_write_new_and_existing_file)
{
    setup();
    struct file_tools_edit *e;
    ck_assert_int_eq(file_tools_prepare_write(ws, "src/new.c", "int x;\nint y;\n", 14, &e, &out),
                     0);
    ck_assert_str_eq(file_tools_edit_diff(e), "--- /dev/null\n+++ b/src/new.c\n@@ -0,0 +1,2 @@\n"
                                              "+int x;\n+int y;\n");
    ck_assert(!file_tools_edit_before(e)->exists);
    /* Nothing is written before apply. */
    ck_assert_ptr_null(slurp("src/new.c"));
    ck_assert_int_eq(file_tools_apply(ws, e, &out), 0);
    ck_assert_str_eq(text(), "created src/new.c (+2 -0)");
    ck_assert_str_eq(slurp("src/new.c"), "int x;\nint y;\n");
    file_tools_edit_free(e);

    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_prepare_write(ws, "./src/new.c", "int x;\nint z;", 13, &e, &out),
                     0);
    ck_assert_str_eq(file_tools_edit_path(e), "src/new.c");
    ck_assert_str_eq(file_tools_edit_diff(e), "--- a/src/new.c\n+++ b/src/new.c\n@@ -1,2 +1,2 @@\n"
                                              " int x;\n-int y;\n+int z;\n"
                                              "\\ No newline at end of file\n");
    ck_assert_str_eq(file_tools_edit_before(e)->data, "int x;\nint y;\n");
    ck_assert_int_eq(file_tools_apply(ws, e, &out), 0);
    file_tools_edit_free(e);

    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_prepare_write(ws, "../escape.c", "x", 1, &e, &out), -EXDEV);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(strstr(text(), "path ../escape.c is outside the workspace"));
    teardown();
}
END_TEST

START_TEST(test_replace_exact)
{
    setup();
    put("m.c", "int main(void)\n{\n    return 1;\n}\n");
    struct file_tools_edit *e;
    ck_assert_int_eq(replace("m.c",
                             "------- SEARCH\n    return 1;\n=======\n    puts(\"hi\");\n"
                             "    return 0;\n+++++++ REPLACE\n",
                             &e),
                     0);
    size_t added, removed;
    file_tools_edit_counts(e, &added, &removed);
    ck_assert_uint_eq(added, 2);
    ck_assert_uint_eq(removed, 1);
    ck_assert_str_eq(file_tools_edit_diff(e), "--- a/m.c\n+++ b/m.c\n@@ -1,4 +1,5 @@\n"
                                              " int main(void)\n {\n-    return 1;\n"
                                              "+    puts(\"hi\");\n+    return 0;\n }\n");
    ck_assert_str_eq(slurp("m.c"), "int main(void)\n{\n    return 1;\n}\n");
    ck_assert_int_eq(file_tools_apply(ws, e, &out), 0);
    ck_assert_str_eq(slurp("m.c"), "int main(void)\n{\n    puts(\"hi\");\n    return 0;\n}\n");
    file_tools_edit_free(e);
    teardown();
}
END_TEST

START_TEST(test_replace_legacy_markers_and_several_blocks)
{
    setup();
    put("c.py", "a = 1\nb = 2\nc = 3\n");
    struct file_tools_edit *e;
    ck_assert_int_eq(replace("c.py",
                             "Here is the change:\n<<<<<<< SEARCH\na = 1\n=======\na = 10\n"
                             ">>>>>>> REPLACE\n\n------- SEARCH>\nc = 3\n=======\n"
                             "+++++++ REPLACE\n",
                             &e),
                     0);
    ck_assert_int_eq(file_tools_apply(ws, e, &out), 0);
    ck_assert_str_eq(slurp("c.py"), "a = 10\nb = 2\n");
    file_tools_edit_free(e);
    teardown();
}
END_TEST

START_TEST(test_replace_whitespace_tolerant)
{
    setup();
    put("t.c", "if (x) {\n\tfoo();  \n\tbar();\n}\n");
    struct file_tools_edit *e;
    /* The model re-indented with spaces and lost the trailing blanks. */
    ck_assert_int_eq(
        replace("t.c", "------- SEARCH\n    foo();\n    bar();\n=======\n\tbaz();\n+++++++ REPLACE",
                &e),
        0);
    ck_assert_int_eq(file_tools_apply(ws, e, &out), 0);
    ck_assert_str_eq(slurp("t.c"), "if (x) {\n\tbaz();\n}\n");
    file_tools_edit_free(e);
    teardown();
}
END_TEST

START_TEST(test_replace_ambiguous_changes_nothing)
{
    setup();
    const char *orig = "x++;\ny();\nx++;\nz();\nx++;\n";
    put("a.c", orig);
    struct file_tools_edit *e;
    ck_assert_int_eq(replace("a.c", "------- SEARCH\nx++;\n=======\nx--;\n+++++++ REPLACE\n", &e),
                     -EEXIST);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(text(), "the SEARCH block matches 3 places in a.c (at lines 1, 3, 5), so "
                             "the file was not changed. Add the lines around it to the SEARCH "
                             "part so that it matches one place only.");
    ck_assert_str_eq(slurp("a.c"), orig);
    /* With context it is unique. */
    ck_assert_int_eq(
        replace("a.c", "------- SEARCH\ny();\nx++;\n=======\ny();\nx--;\n+++++++ REPLACE\n", &e),
        0);
    file_tools_edit_free(e);
    teardown();
}
END_TEST

START_TEST(test_replace_missing_gives_nearest_lines_and_is_all_or_nothing)
{
    setup();
    const char *orig = "def area(r):\n    return 3.14 * r * r\n\ndef perimeter(r):\n"
                       "    return 2 * 3.14 * r\n";
    put("geo.py", orig);
    struct file_tools_edit *e;
    /* Block 1 would apply; block 2 matches nothing: neither is applied. */
    ck_assert_int_eq(replace("geo.py",
                             "------- SEARCH\ndef area(r):\n=======\ndef area(radius):\n"
                             "+++++++ REPLACE\n------- SEARCH\ndef perimetre(r):\n=======\n"
                             "def perimeter(radius):\n+++++++ REPLACE\n",
                             &e),
                     -ENOENT);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(text(),
                     "the SEARCH block 2 of 2 matches nothing in geo.py, so the file was not "
                     "changed (no block was applied).\n"
                     "(Line numbers count the earlier blocks' changes.)\n"
                     "The file's lines most like its first line (def perimetre(r):) are:\n"
                     "  4: def perimeter(r):\n"
                     "  1: def area(radius):\n"
                     "  2:     return 3.14 * r * r\n"
                     "Copy the lines exactly as they are in the file; read it again if it may "
                     "have changed.");
    ck_assert_str_eq(slurp("geo.py"), orig);
    /* A block whose start matches says where it stops matching. */
    ck_assert_int_eq(replace("geo.py",
                             "------- SEARCH\ndef perimeter(r):\n    return 2 * 3.1416 * r\n"
                             "=======\n+++++++ REPLACE\n",
                             &e),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(text(), "Its first line matches line 4, but then line 5 of "
                                         "the file reads:\n        return 2 * 3.14 * r\nwhere "
                                         "the block has:\n        return 2 * 3.1416 * r"));
    teardown();
}
END_TEST

START_TEST(test_replace_edge_cases)
{
    setup();
    struct file_tools_edit *e;
    put("empty", "");
    ck_assert_int_eq(replace("empty", "------- SEARCH\n=======\nfirst\n+++++++ REPLACE\n", &e), 0);
    ck_assert_str_eq(file_tools_edit_after(e, &(size_t){0}), "first\n");
    file_tools_edit_free(e);
    put("full", "a\n");
    ck_assert_int_eq(replace("full", "------- SEARCH\n=======\nb\n+++++++ REPLACE\n", &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(text(), "fits only an empty file"));
    ck_assert_int_eq(replace("full", "just some text", &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(text(), "no SEARCH/REPLACE block found"));
    ck_assert_int_eq(replace("full", "------- SEARCH\na\n=======\nb\n", &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(text(), "not finished"));
    ck_assert_int_eq(replace("nope", "------- SEARCH\na\n=======\nb\n+++++++ REPLACE", &e),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(text(), "create it with write_to_file"));
    /* CRLF files stay CRLF; a missing final newline stays missing. */
    put("dos.txt", "one\r\ntwo\r\nthree");
    ck_assert_int_eq(
        replace("dos.txt", "------- SEARCH\ntwo\nthree\n=======\n2\n3\n+++++++ REPLACE", &e), 0);
    ck_assert_str_eq(file_tools_edit_after(e, &(size_t){0}), "one\r\n2\r\n3");
    /* A file edited on disk after the edit was prepared is left alone. */
    put("dos.txt", "user's edit\n");
    ck_assert_int_eq(file_tools_apply(ws, e, &out), -ESTALE);
    ck_assert_str_eq(slurp("dos.txt"), "user's edit\n");
    file_tools_edit_free(e);
    teardown();
}
END_TEST

START_TEST(test_diff_hunks)
{
    struct sbuf d = {0};
    size_t add, rem;
    struct sbuf a = {0}, b = {0};
    for (int i = 1; i <= 30; i++) {
        char l[16];
        snprintf(l, sizeof l, "%d\n", i);
        sbuf_adds(&a, l);
        if (i == 5)
            sbuf_adds(&b, "five\n");
        else if (i == 25)
            continue;
        else
            sbuf_adds(&b, l);
    }
    struct workspace_file before = {.exists = true, .data = a.s, .len = a.len};
    unified_diff("n.txt", &before, b.s, b.len, &d, &add, &rem);
    ck_assert_str_eq(d.s, "--- a/n.txt\n+++ b/n.txt\n"
                          "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
                          "@@ -22,7 +22,6 @@\n 22\n 23\n 24\n-25\n 26\n 27\n 28\n");
    ck_assert_uint_eq(add, 1);
    ck_assert_uint_eq(rem, 2);
    /* No change: no diff. */
    sbuf_reset(&d);
    unified_diff("n.txt", &before, a.s, a.len, &d, &add, &rem);
    ck_assert_uint_eq(d.len, 0);
    ck_assert_uint_eq(add + rem, 0);
    sbuf_free(&a);
    sbuf_free(&b);
    sbuf_free(&d);
}
END_TEST

/* ------------------------------------------------------------------- globs */

START_TEST(test_glob)
{
    ck_assert(glob_match("*.o", "a.o"));
    ck_assert(!glob_match("*.o", "dir/a.o"));
    ck_assert(glob_match("a?c", "abc"));
    ck_assert(!glob_match("a?c", "a/c"));
    ck_assert(glob_match("[a-c]x", "bx"));
    ck_assert(!glob_match("[!a-c]x", "bx"));
    ck_assert(glob_match("**/foo", "foo"));
    ck_assert(glob_match("**/foo", "a/b/foo"));
    ck_assert(glob_match("a/**", "a/b/c"));
    ck_assert(glob_match("a/**/b", "a/b"));
    ck_assert(glob_match("a/**/b", "a/x/y/b"));
    ck_assert(!glob_match("a/**/b", "a/x/y/c"));
    ck_assert(glob_match("\\*lit", "*lit"));
    ck_assert(!glob_match("\\*lit", "xlit"));
    int budget = BRACE_MAX;
    ck_assert(glob_match_braces("*.{c,h}", "x.h", &budget));
    ck_assert(!glob_match_braces("*.{c,h}", "x.cc", &budget));
    ck_assert(glob_match_braces("src/*.{ts,tsx}", "src/a.tsx", &budget));
}
END_TEST

/* ----------------------------------------------------------- list / search */

static void
make_tree(void)
{
    mk(".git");
    put(".git/HEAD", "ref\n");
    mk(".git/info");
    put(".git/info/exclude", "secret.env\n");
    put(".gitignore", "# build output\n*.o\n!keep.o\nbuild/\n/top.txt\ndocs/**/*.tmp\n");
    put("top.txt", "t\n");
    put("main.c", "int main(void) { return helper(); }\n");
    put("main.o", "");
    put("keep.o", "");
    put("secret.env", "TOKEN=1\n");
    mk("build");
    put("build/out.c", "int helper(void);\n");
    mk("src");
    put("src/top.txt", "not anchored here\n");
    put("src/util.c", "int helper(void)\n{\n    return 42;\n}\n");
    put("src/util.h", "int helper(void);\n");
    put("src/.gitignore", "gen/\n*.log\n");
    mk("src/gen");
    put("src/gen/x.c", "int helper;\n");
    put("src/run.log", "helper\n");
    mk("docs");
    mk("docs/a");
    put("docs/a/n.tmp", "");
    put("docs/a/n.md", "helper docs\n");
    put_bytes("src/blob.bin", "helper\0\0", 8);
}

START_TEST(test_list_honours_gitignore)
{
    setup();
    make_tree();
    ck_assert_int_eq(file_tools_list(ws, ".", true, &out), 0);
    ck_assert_str_eq(text(), ".gitignore\ndocs/\nkeep.o\nmain.c\nsrc/\n"
                             "docs/a/\nsrc/.gitignore\nsrc/blob.bin\nsrc/top.txt\nsrc/util.c\n"
                             "src/util.h\ndocs/a/n.md\n");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_list(ws, "src", false, &out), 0);
    ck_assert_str_eq(text(), "src/.gitignore\nsrc/blob.bin\nsrc/top.txt\nsrc/util.c\n"
                             "src/util.h\n");
    /* The ancestors' rules apply to a subdirectory listed on its own. */
    sbuf_reset(&out);
    put("src/extra.o", "");
    ck_assert_int_eq(file_tools_list(ws, "src", false, &out), 0);
    ck_assert_ptr_null(strstr(text(), "extra.o"));
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_list(ws, "../", false, &out), -EXDEV);
    teardown();
}
END_TEST

START_TEST(test_list_is_capped)
{
    setup();
    mk("many");
    for (int i = 0; i < FILE_TOOLS_LIST_MAX + 50; i++) {
        char p[64];
        snprintf(p, sizeof p, "many/f%04d", i);
        put(p, "");
    }
    ck_assert_int_eq(file_tools_list(ws, ".", true, &out), 0);
    size_t lines = 0;
    for (const char *p = text(); *p != '\0'; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, FILE_TOOLS_LIST_MAX);
    ck_assert_ptr_nonnull(strstr(text(), "many/\nmany/f0000\n"));
    ck_assert_ptr_nonnull(strstr(text(), "(cut at 1000 entries; list a subdirectory, or without "
                                         "recursive, to see the rest)"));
    teardown();
}
END_TEST

START_TEST(test_search)
{
    setup();
    make_tree();
    ck_assert_int_eq(file_tools_search(ws, ".", "help\\w+\\(", NULL, &out), 0);
    ck_assert_str_eq(text(), "3 matches in 3 files (skipped 1 binary file)\n"
                             "main.c:1: int main(void) { return helper(); }\n"
                             "src/util.c:1: int helper(void)\n"
                             "src/util.h:1: int helper(void);\n");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_search(ws, ".", "helper", "*.{c,md}", &out), 0);
    ck_assert_str_eq(text(), "3 matches in 3 files\n"
                             "main.c:1: int main(void) { return helper(); }\n"
                             "src/util.c:1: int helper(void)\n"
                             "docs/a/n.md:1: helper docs\n");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_search(ws, "src/util.c", "^\\s+return", NULL, &out), 0);
    ck_assert_str_eq(text(), "1 match in 1 file\nsrc/util.c:3:     return 42;\n");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_search(ws, ".", "nothing-like-this", NULL, &out), 0);
    ck_assert_str_eq(text(), "no matches in 8 files searched (skipped 1 binary file)\n");
    sbuf_reset(&out);
    ck_assert_int_eq(file_tools_search(ws, ".", "a(b", NULL, &out), -EINVAL);
    ck_assert_ptr_nonnull(strstr(text(), "the regex is not valid at offset 3: "));
    teardown();
}
END_TEST

START_TEST(test_search_is_capped_with_counts)
{
    setup();
    struct sbuf many = {0};
    for (int i = 0; i < 120; i++)
        sbuf_adds(&many, "match me\nnot this\n");
    put_bytes("a.txt", many.s, many.len);
    put_bytes("b.txt", many.s, many.len);
    sbuf_free(&many);
    ck_assert_int_eq(file_tools_search(ws, ".", "^match", NULL, &out), 0);
    ck_assert(strncmp(text(), "240 matches in 2 files; showing the first 100\n", 46) == 0);
    size_t lines = 0;
    for (const char *p = text(); *p != '\0'; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, 101);
    ck_assert_ptr_nonnull(strstr(text(), "\na.txt:199: match me\n"));
    ck_assert_ptr_null(strstr(text(), "b.txt:"));
    teardown();
}
END_TEST

static Suite *
file_tools_suite(void)
{
    Suite *s = suite_create("file_tools");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_read_whole_and_ranges);
    tcase_add_test(tc, test_read_refuses_binary_and_large_files);
    tcase_add_test(tc, test_write_new_and_existing_file);
    tcase_add_test(tc, test_replace_exact);
    tcase_add_test(tc, test_replace_legacy_markers_and_several_blocks);
    tcase_add_test(tc, test_replace_whitespace_tolerant);
    tcase_add_test(tc, test_replace_ambiguous_changes_nothing);
    tcase_add_test(tc, test_replace_missing_gives_nearest_lines_and_is_all_or_nothing);
    tcase_add_test(tc, test_replace_edge_cases);
    tcase_add_test(tc, test_diff_hunks);
    tcase_add_test(tc, test_glob);
    tcase_add_test(tc, test_list_honours_gitignore);
    tcase_add_test(tc, test_list_is_capped);
    tcase_add_test(tc, test_search);
    tcase_add_test(tc, test_search_is_capped_with_counts);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(file_tools_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
