/*
 * file_tools: the agent's read_file, write_to_file, replace_in_file,
 * list_files and search_files, over a workspace (workspace.c does every
 * path resolution; this file never opens a path from a string itself,
 * only names inside directories it holds).  Edits are prepared in
 * memory (new content, unified diff, the old content for undo) and
 * written only by file_tools_apply, after the approval.  Each tool's
 * answer, success or failure, is text for the model.  Blocking
 * throughout: the agent calls it from libuv's thread pool.
 *
 * gitignore subset (list_files, search_files): .gitignore files in the
 * directories walked and their ancestors up to the workspace, and the
 * root's .git/info/exclude; blank lines, "#" comments, "\" escapes, "!"
 * negation, a leading or middle "/" anchoring to the file's directory, a
 * trailing "/" for directories only, "*", "?", "[a-z]"/"[!a]" classes,
 * and "**" (leading, trailing, or between two slashes), the last
 * matching pattern winning and deeper files over shallower.  Not
 * supported: core.excludesFile and the global ignore file, "[[:alpha:]]"
 * classes, escaped trailing spaces, and the index (a tracked file that
 * matches a pattern is skipped like an untracked one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "careti/agent/file_tools.h"
#include "careti/core/xmalloc.h"

/* Lines of context around a change in a unified diff. */
#define DIFF_CONTEXT 3
/* The largest LCS table the diff builds (cells of 4 bytes); a bigger
 * changed middle is shown as all removed, then all added. */
#define DIFF_MAX_CELLS (2u * 1024 * 1024)
/* Characters of a line quoted in a message or a search result. */
#define QUOTE_MAX 200
/* Lines offered when a SEARCH block matches nothing. */
#define NEAREST_LINES 3
/* Line numbers listed when a SEARCH block matches several places. */
#define AMBIGUOUS_SHOWN 5
/* Bytes of a .gitignore read; patterns longer than this are skipped. */
#define IGNORE_FILE_MAX (1024 * 1024)
#define IGNORE_PATTERN_MAX 512
/* Directory depth a walk goes to. */
#define WALK_DEPTH_MAX 128
/* read_file's read size, and the largest file it counts lines of to
 * suggest a range. */
#define READ_CHUNK 65536
#define READ_COUNT_MAX (64 * 1024 * 1024)
/* Brace alternatives a file pattern may expand to. */
#define BRACE_MAX 64

/* A line of text: LEN bytes at P without its "\r\n" or "\n"; CR when it
 * ended "\r\n", NL when it ended at all (the last line may not). */
struct line {
    const char *p;
    size_t len;
    bool cr, nl;
};

struct lines {
    struct line *v;
    size_t n, cap;
};

struct file_tools_edit {
    char *path; /* workspace-relative */
    struct workspace_file before;
    char *after;
    size_t after_len;
    struct sbuf diff;
    size_t added, removed;
};

/* One SEARCH/REPLACE block, its lines pointing into the diff text. */
struct block {
    struct lines search, replace;
};

struct ignore_rule {
    char *pat;
    bool neg, dir_only, anchored;
};

/* The patterns of one .gitignore, whose directory is BASE ("" for the
 * workspace root), and the sets above it. */
struct ignore_set {
    struct ignore_rule *rules;
    size_t n;
    char *base;
    const struct ignore_set *parent;
};

struct walk_entry {
    const char *rel;  /* workspace-relative path */
    const char *name; /* its last component */
    bool is_dir;      /* a directory, not a symlink to one */
    bool is_reg;      /* a regular file, not a symlink to one */
    int dirfd;        /* the directory holding NAME */
};

/* Returns 0 to go on, 1 to stop the walk. */
typedef int (*walk_cb)(void *arg, const struct walk_entry *e);

static void lines_split(struct lines *ls, const char *data, size_t len);
static void lines_push(struct lines *ls, struct line l);
static void lines_render(const struct lines *ls, struct sbuf *out);
static bool line_eq(const struct line *a, const struct line *b);
static bool line_eq_trim(const struct line *a, const struct line *b);
static void trim(const struct line *l, const char **p, size_t *len);
static void quote_line(struct sbuf *out, const char *p, size_t len);
static bool has_nul(const char *data, size_t len);
static int parse_blocks(const char *diff, struct block **blocks, size_t *nblocks, struct sbuf *out);
static int apply_block(struct lines *cur, const struct block *b, size_t index, size_t count,
                       bool crlf, const char *path, struct sbuf *out);
static void describe_miss(const struct lines *cur, const struct block *b, struct sbuf *out);
static double similarity(const char *a, size_t alen, const char *b, size_t blen);
static void unified_diff(const char *path, const struct workspace_file *before, const char *after,
                         size_t after_len, struct sbuf *out, size_t *added, size_t *removed);
static struct file_tools_edit *edit_new(const char *rel, struct workspace_file *before_take,
                                        char *after_take, size_t after_len);
static int walk(const struct workspace *ws, const char *path, bool recursive, walk_cb cb, void *arg,
                struct sbuf *out);
static bool glob_match(const char *p, const char *s);
static bool glob_match_braces(const char *p, const char *s, int *budget);
static void add_count(struct sbuf *out, size_t n, const char *one, const char *many);

/* ---------------------------------------------------------------- read_file */

int
file_tools_read(const struct workspace *ws, const char *path, long start_line, long end_line,
                struct sbuf *out)
{
    struct cerr err = {0};
    struct sbuf text = {0};
    int rc = 0;
    char *buf = NULL;
    /* O_NONBLOCK: a FIFO would wait for a writer, holding a worker for
     * good; it opens at once and is refused below.  Files ignore it. */
    int fd = workspace_openat(ws, path, O_RDONLY | O_NONBLOCK, 0, &err);
    if (fd < 0) {
        sbuf_adds(out, err.msg);
        return fd;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        sbuf_adds(out, "error reading ");
        sbuf_adds(out, path);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        sbuf_adds(out, path);
        sbuf_adds(out, " is a directory; use list_files to see what it holds");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        sbuf_adds(out, path);
        sbuf_adds(out, " is not a regular file");
        goto out;
    }
    bool ranged = start_line > 0 || end_line > 0;
    if (start_line <= 0)
        start_line = 1;
    if (end_line <= 0)
        end_line = LONG_MAX;
    if (start_line > end_line) {
        rc = -EINVAL;
        sbuf_adds(out, "start_line is after end_line; give start_line <= end_line");
        goto out;
    }
    buf = xmalloc(READ_CHUNK);
    ssize_t got = pread(fd, buf, FILE_TOOLS_BINARY_PROBE, 0);
    if (got > 0 && has_nul(buf, (size_t)got)) {
        rc = -EINVAL;
        sbuf_adds(out, path);
        sbuf_adds(out, " is a binary file (a NUL byte in its first 8 KiB); read_file reads text "
                       "only");
        goto out;
    }
    /* Without a range, a big file is refused before it is read; the
     * line count (when cheap to get) helps the model pick a range. */
    bool whole_too_big = !ranged && st.st_size > FILE_TOOLS_READ_MAX;
    bool count_only = whole_too_big;
    if (whole_too_big && st.st_size > READ_COUNT_MAX) {
        rc = -EFBIG;
        sbuf_adds(out, path);
        sbuf_adds(out, " is ");
        sbuf_add_int(out, (int64_t)st.st_size);
        sbuf_adds(out, " bytes, over read_file's limit of 256 KiB; read a part with start_line "
                       "and end_line, e.g. start_line 1 and end_line 2000");
        goto out;
    }
    size_t line = 1, total = 0;
    char last = '\n';
    bool too_big = false, in_range = start_line == 1;
    for (;;) {
        ssize_t r = read(fd, buf, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            sbuf_adds(out, "error reading ");
            sbuf_adds(out, path);
            goto out;
        }
        if (r == 0 || (long)line > end_line)
            break;
        total += (size_t)r;
        last = buf[r - 1];
        const char *p = buf, *end = buf + r;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl != NULL ? nl + 1 : end;
            if (in_range && !count_only) {
                sbuf_add(&text, p, (size_t)(stop - p));
                if (text.len > FILE_TOOLS_READ_MAX) {
                    too_big = true;
                    count_only = true;
                }
            }
            if (nl != NULL) {
                line++;
                in_range = (long)line >= start_line && (long)line <= end_line;
            }
            p = stop;
        }
    }
    /* LINE is one more than the newlines seen: a last line without one
     * counts, an empty tail after the last newline does not. */
    size_t lines = total == 0 ? 0 : last == '\n' ? line - 1 : line;
    if (whole_too_big) {
        rc = -EFBIG;
        size_t per = lines > 0 ? total / lines + 1 : total;
        size_t fit = per > 0 ? FILE_TOOLS_READ_MAX / per : 1;
        sbuf_adds(out, path);
        sbuf_adds(out, " is ");
        sbuf_add_int(out, (int64_t)total);
        sbuf_adds(out, " bytes (");
        add_count(out, lines, "line", "lines");
        sbuf_adds(out, "), over read_file's limit of 256 KiB; read a part with start_line and "
                       "end_line, e.g. start_line 1 and end_line ");
        sbuf_add_int(out, (int64_t)(fit > 0 ? fit : 1));
        goto out;
    }
    if (too_big) {
        rc = -EFBIG;
        sbuf_adds(out, "lines ");
        sbuf_add_int(out, start_line);
        if (end_line != LONG_MAX) {
            sbuf_adds(out, "-");
            sbuf_add_int(out, end_line);
        } else {
            sbuf_adds(out, " to the end");
        }
        sbuf_adds(out, " of ");
        sbuf_adds(out, path);
        sbuf_adds(out, " are over read_file's limit of 256 KiB; read fewer lines at a time");
        goto out;
    }
    if (ranged && (size_t)start_line > lines && lines > 0) {
        rc = -EINVAL;
        sbuf_adds(out, path);
        sbuf_adds(out, " has only ");
        add_count(out, lines, "line", "lines");
        sbuf_adds(out, "; start_line must be at most that");
        goto out;
    }
    if (text.len > 0)
        sbuf_add(out, text.s, text.len);
out:
    sbuf_free(&text);
    free(buf);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ edits */

/* The start of every edit: PATH's place in the workspace (*REL, the
 * caller frees it) and what the file holds now (*BEFORE).  Returns 0, or
 * a negative errno with the reason for the model in OUT (and *REL NULL). */
static int
edit_begin(const struct workspace *ws, const char *path, char **rel,
           struct workspace_file *before, struct sbuf *out)
{
    struct cerr err = {0};
    *rel = workspace_relpath(ws, path, &err);
    if (*rel == NULL) {
        sbuf_adds(out, err.msg);
        return err.code;
    }
    /* PATH, not REL: messages name the path as the model wrote it. */
    int rc = workspace_read(ws, path, WORKSPACE_MAX_FILE, before, &err);
    if (rc < 0) {
        sbuf_adds(out, err.msg);
        workspace_file_clear(before);
        free(*rel);
        *rel = NULL;
    }
    return rc;
}

int
file_tools_prepare_write(const struct workspace *ws, const char *path, const char *content,
                         size_t len, struct file_tools_edit **edit, struct sbuf *out)
{
    struct workspace_file before = {0};
    char *rel;
    *edit = NULL;
    int rc = edit_begin(ws, path, &rel, &before, out);
    if (rc < 0)
        return rc;
    *edit = edit_new(rel, &before, xstrndup(content, len), len);
    free(rel);
    return 0;
}

int
file_tools_prepare_replace(const struct workspace *ws, const char *path, const char *diff,
                           struct file_tools_edit **edit, struct sbuf *out)
{
    struct workspace_file before = {0};
    struct block *blocks = NULL;
    size_t nblocks = 0;
    struct lines cur = {0};
    struct sbuf after = {0};
    char *rel;
    *edit = NULL;
    int rc = edit_begin(ws, path, &rel, &before, out);
    if (rc < 0)
        return rc;
    if (!before.exists) {
        rc = -ENOENT;
        sbuf_adds(out, path);
        sbuf_adds(out, " does not exist; create it with write_to_file");
        goto out;
    }
    if (has_nul(before.data, before.len)) {
        rc = -EINVAL;
        sbuf_adds(out, path);
        sbuf_adds(out, " is a binary file; replace_in_file edits text only");
        goto out;
    }
    rc = parse_blocks(diff, &blocks, &nblocks, out);
    if (rc < 0)
        goto out;
    lines_split(&cur, before.data, before.len);
    bool crlf = cur.n > 0 && cur.v[0].cr;
    for (size_t i = 0; i < nblocks; i++) {
        rc = apply_block(&cur, &blocks[i], i, nblocks, crlf, path, out);
        if (rc < 0)
            goto out;
    }
    lines_render(&cur, &after);
    if (after.s == NULL)
        sbuf_add(&after, "", 0);
    *edit = edit_new(rel, &before, after.s, after.len);
    after.s = NULL;
    rc = 0;
out:
    for (size_t i = 0; i < nblocks; i++) {
        free(blocks[i].search.v);
        free(blocks[i].replace.v);
    }
    free(blocks);
    free(cur.v);
    sbuf_free(&after);
    workspace_file_clear(&before);
    free(rel);
    return rc;
}

int
file_tools_apply(const struct workspace *ws, const struct file_tools_edit *e, struct sbuf *out)
{
    struct cerr err = {0};
    int rc = workspace_write(ws, e->path, e->after, e->after_len, &e->before, NULL, &err);
    if (rc < 0) {
        sbuf_adds(out, err.msg);
        return rc;
    }
    sbuf_adds(out, e->before.exists ? "wrote " : "created ");
    sbuf_adds(out, e->path);
    sbuf_adds(out, " (+");
    sbuf_add_int(out, (int64_t)e->added);
    sbuf_adds(out, " -");
    sbuf_add_int(out, (int64_t)e->removed);
    sbuf_adds(out, ")");
    return 0;
}

const char *
file_tools_edit_path(const struct file_tools_edit *e)
{
    return e->path;
}

const char *
file_tools_edit_diff(const struct file_tools_edit *e)
{
    return e->diff.s != NULL ? e->diff.s : "";
}

void
file_tools_edit_counts(const struct file_tools_edit *e, size_t *added, size_t *removed)
{
    *added = e->added;
    *removed = e->removed;
}

const struct workspace_file *
file_tools_edit_before(const struct file_tools_edit *e)
{
    return &e->before;
}

const char *
file_tools_edit_after(const struct file_tools_edit *e, size_t *len)
{
    *len = e->after_len;
    return e->after;
}

void
file_tools_edit_free(struct file_tools_edit *e)
{
    if (e == NULL)
        return;
    free(e->path);
    workspace_file_clear(&e->before);
    free(e->after);
    sbuf_free(&e->diff);
    free(e);
}

/* ------------------------------------------------------------- list_files */

struct list_state {
    struct sbuf *out;
    size_t count;
    bool cut;
};

static int
on_list_entry(void *arg, const struct walk_entry *e)
{
    struct list_state *ls = arg;
    if (ls->count == FILE_TOOLS_LIST_MAX) {
        ls->cut = true;
        return 1;
    }
    ls->count++;
    sbuf_adds(ls->out, e->rel);
    sbuf_adds(ls->out, e->is_dir ? "/\n" : "\n");
    return 0;
}

int
file_tools_list(const struct workspace *ws, const char *path, bool recursive, struct sbuf *out)
{
    struct sbuf listing = {0};
    struct list_state ls = {.out = &listing};
    int rc = walk(ws, path, recursive, on_list_entry, &ls, out);
    if (rc < 0) {
        sbuf_free(&listing);
        return rc;
    }
    if (ls.count == 0) {
        sbuf_adds(out, "(no files in ");
        sbuf_adds(out, path);
        sbuf_adds(out, ")");
    } else {
        sbuf_add(out, listing.s, listing.len);
    }
    if (ls.cut) {
        sbuf_adds(out, "(cut at ");
        sbuf_add_int(out, FILE_TOOLS_LIST_MAX);
        sbuf_adds(out, " entries; list a subdirectory");
        sbuf_adds(out, recursive ? ", or without recursive," : "");
        sbuf_adds(out, " to see the rest)");
    }
    sbuf_free(&listing);
    return 0;
}

/* ----------------------------------------------------------- search_files */

struct search_state {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    const char *file_pattern; /* NULL: every file */
    struct sbuf shown;
    size_t matches, files_matched, files_searched, shown_n;
    size_t skipped_big, skipped_binary, too_costly;
    bool files_cut;
};

static void
search_buffer(struct search_state *s, const char *rel, const char *data, size_t len)
{
    bool any = false;
    size_t lineno = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        size_t llen = (size_t)(stop - p);
        if (llen > 0 && p[llen - 1] == '\r')
            llen--;
        lineno++;
        int r = pcre2_match(s->code, (PCRE2_SPTR)p, llen, 0, 0, s->md, s->mctx);
        if (r >= 0) {
            any = true;
            s->matches++;
            if (s->shown_n < FILE_TOOLS_SEARCH_SHOW) {
                s->shown_n++;
                sbuf_adds(&s->shown, rel);
                sbuf_adds(&s->shown, ":");
                sbuf_add_int(&s->shown, (int64_t)lineno);
                sbuf_adds(&s->shown, ": ");
                quote_line(&s->shown, p, llen);
                sbuf_adds(&s->shown, "\n");
            }
        } else if (r != PCRE2_ERROR_NOMATCH) {
            s->too_costly++;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (any)
        s->files_matched++;
}

static int
on_search_entry(void *arg, const struct walk_entry *e)
{
    struct search_state *s = arg;
    if (!e->is_reg)
        return 0;
    if (s->file_pattern != NULL) {
        int budget = BRACE_MAX;
        const char *subject = strchr(s->file_pattern, '/') != NULL ? e->rel : e->name;
        if (!glob_match_braces(s->file_pattern, subject, &budget))
            return 0;
    }
    if (s->files_searched == FILE_TOOLS_SEARCH_FILES) {
        s->files_cut = true;
        return 1;
    }
    int fd = openat(e->dirfd, e->name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    if (st.st_size > FILE_TOOLS_SEARCH_FILE_MAX) {
        s->skipped_big++;
        close(fd);
        return 0;
    }
    struct sbuf data = {0};
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || data.len + (size_t)r > FILE_TOOLS_SEARCH_FILE_MAX)
            break;
        sbuf_add(&data, chunk, (size_t)r);
    }
    close(fd);
    size_t probe = data.len < FILE_TOOLS_BINARY_PROBE ? data.len : FILE_TOOLS_BINARY_PROBE;
    if (data.len > 0 && has_nul(data.s, probe)) {
        s->skipped_binary++;
    } else {
        s->files_searched++;
        if (data.len > 0)
            search_buffer(s, e->rel, data.s, data.len);
    }
    sbuf_free(&data);
    return 0;
}

int
file_tools_search(const struct workspace *ws, const char *path, const char *regex,
                  const char *file_pattern, struct sbuf *out)
{
    struct search_state s = {
        .file_pattern = file_pattern != NULL && *file_pattern != '\0' ? file_pattern : NULL};
    int errcode, rc;
    PCRE2_SIZE erroff;
    if (regex == NULL || *regex == '\0') {
        sbuf_adds(out, "the regex is empty; give a regular expression to search for");
        return -EINVAL;
    }
    /* MATCH_INVALID_UTF: files that are not UTF-8 are searched, not refused. */
    s.code = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &errcode, &erroff, NULL);
    if (s.code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        sbuf_adds(out, "the regex is not valid at offset ");
        sbuf_add_int(out, (int64_t)erroff);
        sbuf_adds(out, ": ");
        sbuf_adds(out, (const char *)msg);
        sbuf_adds(out, " (PCRE2 syntax, like Perl's)");
        return -EINVAL;
    }
    /* JIT is a speed-up only; without it pcre2_match interprets. */
    pcre2_jit_compile(s.code, PCRE2_JIT_COMPLETE);
    s.md = pcre2_match_data_create_from_pattern(s.code, NULL);
    s.mctx = pcre2_match_context_create(NULL);
    /* A pathological expression costs one line, not the worker thread. */
    pcre2_set_match_limit(s.mctx, 1000000);
    pcre2_set_depth_limit(s.mctx, 10000);
    if (s.md == NULL || s.mctx == NULL)
        abort(); /* out of memory, as xmalloc */
    rc = walk(ws, path, true, on_search_entry, &s, out);
    if (rc < 0)
        goto out;
    if (s.matches == 0) {
        sbuf_adds(out, "no matches in ");
        add_count(out, s.files_searched, "file", "files");
        sbuf_adds(out, " searched");
    } else {
        add_count(out, s.matches, "match", "matches");
        sbuf_adds(out, " in ");
        add_count(out, s.files_matched, "file", "files");
        if (s.matches > s.shown_n) {
            sbuf_adds(out, "; showing the first ");
            sbuf_add_int(out, (int64_t)s.shown_n);
        }
    }
    if (s.skipped_binary + s.skipped_big > 0) {
        sbuf_adds(out, " (skipped ");
        if (s.skipped_binary > 0)
            add_count(out, s.skipped_binary, "binary file", "binary files");
        if (s.skipped_binary > 0 && s.skipped_big > 0)
            sbuf_adds(out, " and ");
        if (s.skipped_big > 0) {
            add_count(out, s.skipped_big, "file", "files");
            sbuf_adds(out, " over 4 MiB");
        }
        sbuf_adds(out, ")");
    }
    if (s.files_cut) {
        sbuf_adds(out, "; stopped after ");
        add_count(out, FILE_TOOLS_SEARCH_FILES, "file", "files");
        sbuf_adds(out, ", search a subdirectory or narrow file_pattern");
    }
    if (s.too_costly > 0) {
        sbuf_adds(out, "; ");
        add_count(out, s.too_costly, "line was", "lines were");
        sbuf_adds(out, " too costly for this regex and skipped");
    }
    sbuf_adds(out, "\n");
    if (s.shown.len > 0)
        sbuf_add(out, s.shown.s, s.shown.len);
out:
    sbuf_free(&s.shown);
    pcre2_match_context_free(s.mctx);
    pcre2_match_data_free(s.md);
    pcre2_code_free(s.code);
    return rc;
}

/* ------------------------------------------------------------------ lines */

static void
lines_push(struct lines *ls, struct line l)
{
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? ls->cap * 2 : 64;
        ls->v = xrealloc(ls->v, ls->cap * sizeof *ls->v);
    }
    ls->v[ls->n++] = l;
}

static void
lines_split(struct lines *ls, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct line l = {.p = p, .len = (size_t)((nl != NULL ? nl : end) - p), .nl = nl != NULL};
        if (l.nl && l.len > 0 && p[l.len - 1] == '\r') {
            l.len--;
            l.cr = true;
        }
        lines_push(ls, l);
        p = nl != NULL ? nl + 1 : end;
    }
}

static void
lines_render(const struct lines *ls, struct sbuf *out)
{
    for (size_t i = 0; i < ls->n; i++) {
        sbuf_add(out, ls->v[i].p, ls->v[i].len);
        if (ls->v[i].cr)
            sbuf_add(out, "\r", 1);
        if (ls->v[i].nl)
            sbuf_add(out, "\n", 1);
    }
}

/* Same text; the line ending is not compared, so a SEARCH block written
 * with "\n" matches a file with "\r\n". */
static bool
line_eq(const struct line *a, const struct line *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

static void
trim(const struct line *l, const char **p, size_t *len)
{
    const char *s = l->p, *e = l->p + l->len;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v'))
        s++;
    while (e > s &&
           (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\f' || e[-1] == '\v'))
        e--;
    *p = s;
    *len = (size_t)(e - s);
}

static bool
line_eq_trim(const struct line *a, const struct line *b)
{
    const char *ap, *bp;
    size_t al, bl;
    trim(a, &ap, &al);
    trim(b, &bp, &bl);
    return al == bl && memcmp(ap, bp, al) == 0;
}

/* Append up to QUOTE_MAX bytes of the line, marking a cut. */
static void
quote_line(struct sbuf *out, const char *p, size_t len)
{
    if (len <= QUOTE_MAX) {
        sbuf_add(out, p, len);
        return;
    }
    size_t cut = QUOTE_MAX;
    /* Do not split a UTF-8 sequence. */
    while (cut > 0 && ((unsigned char)p[cut] & 0xC0) == 0x80)
        cut--;
    sbuf_add(out, p, cut);
    sbuf_adds(out, " [...]");
}

static bool
has_nul(const char *data, size_t len)
{
    return memchr(data, '\0', len) != NULL;
}

static void
add_count(struct sbuf *out, size_t n, const char *one, const char *many)
{
    sbuf_add_int(out, (int64_t)n);
    sbuf_adds(out, " ");
    sbuf_adds(out, n == 1 ? one : many);
}

/* ---------------------------------------------------- SEARCH/REPLACE blocks */

/* Whether LINE (trailing blanks ignored) is a run of 3 or more of the
 * characters in RUN, an optional space, WORD and an optional ">". */
static bool
is_marker(const char *p, size_t len, const char *run, const char *word)
{
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    size_t i = 0;
    while (i < len && strchr(run, p[i]) != NULL && p[i] != '\0')
        i++;
    if (i < 3)
        return false;
    if (i < len && p[i] == ' ')
        i++;
    size_t wl = strlen(word);
    if (len - i < wl || memcmp(p + i, word, wl) != 0)
        return false;
    i += wl;
    if (i < len && p[i] == '>')
        i++;
    return i == len;
}

static bool
is_separator(const char *p, size_t len)
{
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    if (len < 3)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] != '=')
            return false;
    return true;
}

static const char block_format[] = "each block is:\n"
                                   "------- SEARCH\n"
                                   "exact lines from the file\n"
                                   "=======\n"
                                   "the lines to put in their place\n"
                                   "+++++++ REPLACE";

/* Parse DIFF into blocks whose lines point into DIFF.  Text outside the
 * blocks is ignored (models wrap them in prose or fences). */
static int
parse_blocks(const char *diff, struct block **blocks, size_t *nblocks, struct sbuf *out)
{
    enum { OUTSIDE, SEARCH, REPLACE } state = OUTSIDE;
    struct lines all = {0};
    size_t cap = 0;
    if (diff != NULL)
        lines_split(&all, diff, strlen(diff));
    *blocks = NULL;
    *nblocks = 0;
    for (size_t i = 0; i < all.n; i++) {
        struct line l = all.v[i];
        /* The block's own lines keep their text; their ending is the
         * file's, chosen when they are placed. */
        l.cr = false;
        l.nl = true;
        switch (state) {
        case OUTSIDE:
            if (is_marker(l.p, l.len, "-<", "SEARCH")) {
                if (*nblocks == cap) {
                    cap = cap ? cap * 2 : 4;
                    *blocks = xrealloc(*blocks, cap * sizeof **blocks);
                }
                memset(&(*blocks)[(*nblocks)++], 0, sizeof **blocks);
                state = SEARCH;
            }
            break;
        case SEARCH:
            if (is_separator(l.p, l.len))
                state = REPLACE;
            else
                lines_push(&(*blocks)[*nblocks - 1].search, l);
            break;
        case REPLACE:
            if (is_marker(l.p, l.len, "+>", "REPLACE"))
                state = OUTSIDE;
            else
                lines_push(&(*blocks)[*nblocks - 1].replace, l);
            break;
        }
    }
    free(all.v);
    if (*nblocks == 0) {
        sbuf_adds(out, "no SEARCH/REPLACE block found in diff; ");
        sbuf_adds(out, block_format);
        return -EINVAL;
    }
    if (state != OUTSIDE) {
        sbuf_adds(out, "the last SEARCH/REPLACE block is not finished (");
        sbuf_adds(out, state == SEARCH ? "no ======= line" : "no +++++++ REPLACE line");
        sbuf_adds(out, "), so the file was not changed; ");
        sbuf_adds(out, block_format);
        return -EINVAL;
    }
    return 0;
}

/* Count the places the N lines of S occur in CUR (EQ comparing lines);
 * fills up to AMBIGUOUS_SHOWN of them into AT. */
static size_t
find_all(const struct lines *cur, const struct lines *s,
         bool (*eq)(const struct line *, const struct line *), size_t *at)
{
    size_t count = 0;
    for (size_t i = 0; s->n <= cur->n && i <= cur->n - s->n; i++) {
        size_t j = 0;
        while (j < s->n && eq(&cur->v[i + j], &s->v[j]))
            j++;
        if (j == s->n) {
            if (count < AMBIGUOUS_SHOWN)
                at[count] = i;
            count++;
        }
    }
    return count;
}

static void
block_name(struct sbuf *out, size_t index, size_t count)
{
    sbuf_adds(out, "the SEARCH block");
    if (count > 1) {
        sbuf_adds(out, " ");
        sbuf_add_int(out, (int64_t)index + 1);
        sbuf_adds(out, " of ");
        sbuf_add_int(out, (int64_t)count);
    }
}

/* Apply block B to CUR in place, or explain in OUT why not. */
static int
apply_block(struct lines *cur, const struct block *b, size_t index, size_t count, bool crlf,
            const char *path, struct sbuf *out)
{
    size_t at[AMBIGUOUS_SHOWN];
    size_t start, found;
    const char *after_earlier =
        index > 0 ? "(Line numbers count the earlier blocks' changes.)\n" : "";
    if (b->search.n == 0) {
        if (cur->n > 0) {
            block_name(out, index, count);
            sbuf_adds(out, " is empty, which fits only an empty file, and ");
            sbuf_adds(out, path);
            sbuf_adds(out, " is not; the file was not changed. Put the lines to replace in the "
                           "SEARCH part, or use write_to_file to rewrite the whole file");
            return -EINVAL;
        }
        start = 0;
    } else {
        found = find_all(cur, &b->search, line_eq, at);
        if (found == 0)
            found = find_all(cur, &b->search, line_eq_trim, at);
        if (found == 0) {
            block_name(out, index, count);
            sbuf_adds(out, " matches nothing in ");
            sbuf_adds(out, path);
            sbuf_adds(out, ", so the file was not changed (no block was applied).\n");
            sbuf_adds(out, after_earlier);
            describe_miss(cur, b, out);
            sbuf_adds(out, "\nCopy the lines exactly as they are in the file; read it again if "
                           "it may have changed.");
            return -ENOENT;
        }
        if (found > 1) {
            block_name(out, index, count);
            sbuf_adds(out, " matches ");
            sbuf_add_int(out, (int64_t)found);
            sbuf_adds(out, " places in ");
            sbuf_adds(out, path);
            sbuf_adds(out, " (at line");
            sbuf_adds(out, found > 1 ? "s " : " ");
            for (size_t i = 0; i < found && i < AMBIGUOUS_SHOWN; i++) {
                if (i > 0)
                    sbuf_adds(out, ", ");
                sbuf_add_int(out, (int64_t)at[i] + 1);
            }
            sbuf_adds(out, found > AMBIGUOUS_SHOWN ? ", ...)" : ")");
            sbuf_adds(out, ", so the file was not changed. Add the lines around it to the "
                           "SEARCH part so that it matches one place only.");
            if (index > 0) {
                sbuf_adds(out, " ");
                sbuf_add(out, after_earlier, strlen(after_earlier) - 1);
            }
            return -EEXIST;
        }
        start = at[0];
    }
    /* The file's last line may lack a newline; if the block replaces it,
     * so does the block's last line. */
    size_t end = start + b->search.n;
    bool keep_no_nl = end == cur->n && cur->n > 0 && !cur->v[cur->n - 1].nl;
    size_t n = cur->n - b->search.n + b->replace.n;
    struct line *v = xmalloc((n > 0 ? n : 1) * sizeof *v);
    if (start > 0)
        memcpy(v, cur->v, start * sizeof *v);
    for (size_t i = 0; i < b->replace.n; i++) {
        v[start + i] = b->replace.v[i];
        v[start + i].cr = crlf;
    }
    if (keep_no_nl && b->replace.n > 0) {
        v[start + b->replace.n - 1].nl = false;
        v[start + b->replace.n - 1].cr = false;
    }
    if (end < cur->n)
        memcpy(v + start + b->replace.n, cur->v + end, (cur->n - end) * sizeof *v);
    free(cur->v);
    cur->v = v;
    cur->n = cur->cap = n;
    if (cur->cap == 0)
        cur->cap = 1;
    return 0;
}

/* For a block that matched nothing: where its start does match and
 * then stops, else the lines most like its first line. */
static void
describe_miss(const struct lines *cur, const struct block *b, struct sbuf *out)
{
    /* The longest run of the block's leading lines found (trimmed). */
    size_t best_at = 0, best_len = 0;
    for (size_t i = 0; i < cur->n; i++) {
        size_t j = 0;
        while (j < b->search.n && i + j < cur->n && line_eq_trim(&cur->v[i + j], &b->search.v[j]))
            j++;
        if (j > best_len) {
            best_len = j;
            best_at = i;
        }
    }
    const struct line *first = NULL;
    for (size_t j = 0; j < b->search.n && first == NULL; j++) {
        const char *p;
        size_t len;
        trim(&b->search.v[j], &p, &len);
        if (len > 0)
            first = &b->search.v[j];
    }
    if (best_len > 0 && first != NULL && !line_eq_trim(first, &cur->v[best_at]))
        best_len = 0; /* only blank lines matched: no anchor */
    if (best_len > 0) {
        if (best_len == 1) {
            sbuf_adds(out, "Its first line matches line ");
            sbuf_add_int(out, (int64_t)best_at + 1);
        } else {
            sbuf_adds(out, "Its first ");
            sbuf_add_int(out, (int64_t)best_len);
            sbuf_adds(out, " lines match lines ");
            sbuf_add_int(out, (int64_t)best_at + 1);
            sbuf_adds(out, "-");
            sbuf_add_int(out, (int64_t)(best_at + best_len));
        }
        size_t k = best_at + best_len;
        if (k < cur->n) {
            sbuf_adds(out, ", but then line ");
            sbuf_add_int(out, (int64_t)k + 1);
            sbuf_adds(out, " of the file reads:\n    ");
            quote_line(out, cur->v[k].p, cur->v[k].len);
            sbuf_adds(out, "\nwhere the block has:\n    ");
        } else {
            sbuf_adds(out, ", but the file ends there, before the block's line:\n    ");
        }
        quote_line(out, b->search.v[best_len].p, b->search.v[best_len].len);
        return;
    }
    if (first == NULL) {
        sbuf_adds(out, "Its SEARCH part has only blank lines.");
        return;
    }
    const char *fp;
    size_t flen;
    trim(first, &fp, &flen);
    size_t top[NEAREST_LINES];
    double score[NEAREST_LINES];
    size_t ntop = 0;
    for (size_t i = 0; i < cur->n; i++) {
        const char *p;
        size_t len;
        trim(&cur->v[i], &p, &len);
        if (len == 0)
            continue;
        double sc = similarity(fp, flen, p, len);
        if (sc <= 0)
            continue;
        size_t pos = ntop;
        while (pos > 0 && score[pos - 1] < sc)
            pos--;
        if (pos >= NEAREST_LINES)
            continue;
        size_t last = ntop < NEAREST_LINES ? ntop : NEAREST_LINES - 1;
        for (size_t k = last; k > pos; k--) {
            top[k] = top[k - 1];
            score[k] = score[k - 1];
        }
        top[pos] = i;
        score[pos] = sc;
        if (ntop < NEAREST_LINES)
            ntop++;
    }
    if (ntop == 0) {
        sbuf_adds(out, "No line of the file resembles its first line:\n    ");
        quote_line(out, first->p, first->len);
        return;
    }
    sbuf_adds(out, "The file's lines most like its first line (");
    quote_line(out, fp, flen);
    sbuf_adds(out, ") are:");
    for (size_t k = 0; k < ntop; k++) {
        sbuf_adds(out, "\n  ");
        sbuf_add_int(out, (int64_t)top[k] + 1);
        sbuf_adds(out, ": ");
        quote_line(out, cur->v[top[k]].p, cur->v[top[k]].len);
    }
}

/* Dice coefficient over character bigrams of the first 256 bytes of A
 * and B: 0 (nothing shared) to 1 (same bigrams).  Linear, unlike an
 * edit distance, so scoring every line of a long file stays cheap. */
static double
similarity(const char *a, size_t alen, const char *b, size_t blen)
{
    enum { SLOTS = 1024, CAP = 256 };
    unsigned short have[SLOTS] = {0}, used[SLOTS] = {0};
    alen = alen < CAP ? alen : CAP;
    blen = blen < CAP ? blen : CAP;
    if (alen < 2 || blen < 2)
        return alen == blen && alen > 0 && a[0] == b[0] ? 1.0 : 0.0;
    for (size_t i = 0; i + 1 < alen; i++)
        have[((unsigned char)a[i] * 31u + (unsigned char)a[i + 1]) % SLOTS]++;
    size_t shared = 0;
    for (size_t i = 0; i + 1 < blen; i++) {
        unsigned h = ((unsigned char)b[i] * 31u + (unsigned char)b[i + 1]) % SLOTS;
        if (used[h] < have[h]) {
            used[h]++;
            shared++;
        }
    }
    return 2.0 * (double)shared / (double)((alen - 1) + (blen - 1));
}

/* ------------------------------------------------------------ unified diff */

/* Whole-line equality for the diff: text and ending. */
static bool
diff_eq(const struct line *a, const struct line *b)
{
    return a->len == b->len && a->cr == b->cr && a->nl == b->nl && memcmp(a->p, b->p, a->len) == 0;
}

/* One line of the edit script: ' ' kept, '-' removed, '+' added; A and B
 * are its 0-based numbers in the old and the new text. */
struct op {
    char kind;
    size_t a, b;
};

static void
emit_line(struct sbuf *out, char kind, const struct line *l)
{
    sbuf_add(out, &kind, 1);
    sbuf_add(out, l->p, l->len);
    sbuf_adds(out, "\n");
    if (!l->nl)
        sbuf_adds(out, "\\ No newline at end of file\n");
}

static void
hunk_range(struct sbuf *out, size_t start, size_t count)
{
    /* An empty range names the line before it (0 at the top). */
    sbuf_add_int(out, (int64_t)(count == 0 ? start : start + 1));
    if (count != 1) {
        sbuf_adds(out, ",");
        sbuf_add_int(out, (int64_t)count);
    }
}

static void
unified_diff(const char *path, const struct workspace_file *before, const char *after,
             size_t after_len, struct sbuf *out, size_t *added, size_t *removed)
{
    struct lines x = {0}, y = {0};
    if (before->exists)
        lines_split(&x, before->data, before->len);
    lines_split(&y, after, after_len);
    *added = *removed = 0;
    /* The common head and tail, then an LCS of the middle. */
    size_t pre = 0;
    while (pre < x.n && pre < y.n && diff_eq(&x.v[pre], &y.v[pre]))
        pre++;
    size_t suf = 0;
    while (suf < x.n - pre && suf < y.n - pre && diff_eq(&x.v[x.n - 1 - suf], &y.v[y.n - 1 - suf]))
        suf++;
    size_t n = x.n - pre - suf, m = y.n - pre - suf;
    struct op *ops = xmalloc((x.n + y.n + 1) * sizeof *ops);
    size_t nops = 0;
    for (size_t i = 0; i < pre; i++)
        ops[nops++] = (struct op){' ', i, i};
    if (n > 0 && m > 0 && (n + 1) * (m + 1) <= DIFF_MAX_CELLS) {
        /* L[i][j]: LCS length of the middles' suffixes from i and j. */
        uint32_t *L = xcalloc((n + 1) * (m + 1), sizeof *L);
        for (size_t i = n; i-- > 0;)
            for (size_t j = m; j-- > 0;)
                L[i * (m + 1) + j] = diff_eq(&x.v[pre + i], &y.v[pre + j])
                                         ? L[(i + 1) * (m + 1) + j + 1] + 1
                                         : (L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1]
                                                ? L[(i + 1) * (m + 1) + j]
                                                : L[i * (m + 1) + j + 1]);
        size_t i = 0, j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && diff_eq(&x.v[pre + i], &y.v[pre + j])) {
                ops[nops++] = (struct op){' ', pre + i, pre + j};
                i++, j++;
            } else if (j == m || (i < n && L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1])) {
                ops[nops++] = (struct op){'-', pre + i, pre + j};
                i++;
            } else {
                ops[nops++] = (struct op){'+', pre + i, pre + j};
                j++;
            }
        }
        free(L);
    } else {
        for (size_t i = 0; i < n; i++)
            ops[nops++] = (struct op){'-', pre + i, pre};
        for (size_t j = 0; j < m; j++)
            ops[nops++] = (struct op){'+', pre + n, pre + j};
    }
    for (size_t i = 0; i < suf; i++)
        ops[nops++] = (struct op){' ', pre + n + i, pre + m + i};

    for (size_t k = 0; k < nops; k++) {
        if (ops[k].kind == '+')
            (*added)++;
        else if (ops[k].kind == '-')
            (*removed)++;
    }
    if (*added + *removed > 0) {
        sbuf_adds(out, before->exists ? "--- a/" : "--- /dev/null");
        if (before->exists)
            sbuf_adds(out, path);
        sbuf_adds(out, "\n+++ b/");
        sbuf_adds(out, path);
        sbuf_adds(out, "\n");
    }
    /* Hunks: runs of changes with DIFF_CONTEXT kept lines around them,
     * merged when the kept lines between two runs are few. */
    size_t k = 0;
    while (k < nops) {
        while (k < nops && ops[k].kind == ' ')
            k++;
        if (k == nops)
            break;
        size_t first = k >= DIFF_CONTEXT ? k - DIFF_CONTEXT : 0;
        size_t last = k; /* one past the hunk's last op */
        for (;;) {
            while (last < nops && ops[last].kind != ' ')
                last++;
            size_t kept = 0;
            while (last + kept < nops && ops[last + kept].kind == ' ')
                kept++;
            if (last + kept == nops || kept > 2 * DIFF_CONTEXT) {
                last += kept < DIFF_CONTEXT ? kept : DIFF_CONTEXT;
                break;
            }
            last += kept;
        }
        size_t ca = 0, cb = 0;
        for (size_t i = first; i < last; i++) {
            ca += ops[i].kind != '+';
            cb += ops[i].kind != '-';
        }
        sbuf_adds(out, "@@ -");
        hunk_range(out, ops[first].a, ca);
        sbuf_adds(out, " +");
        hunk_range(out, ops[first].b, cb);
        sbuf_adds(out, " @@\n");
        for (size_t i = first; i < last; i++)
            emit_line(out, ops[i].kind, ops[i].kind == '+' ? &y.v[ops[i].b] : &x.v[ops[i].a]);
        k = last;
    }
    free(ops);
    free(x.v);
    free(y.v);
}

static struct file_tools_edit *
edit_new(const char *rel, struct workspace_file *before_take, char *after_take, size_t after_len)
{
    struct file_tools_edit *e = xcalloc(1, sizeof *e);
    e->path = xstrdup(rel);
    e->before = *before_take;
    memset(before_take, 0, sizeof *before_take);
    e->after = after_take;
    e->after_len = after_len;
    unified_diff(e->path, &e->before, e->after, e->after_len, &e->diff, &e->added, &e->removed);
    return e;
}

/* ------------------------------------------------------------- gitignore */

/* Parse the .gitignore text DATA into SET's rules. */
static void
ignore_parse(struct ignore_set *set, const char *data, size_t len)
{
    struct lines ls = {0};
    lines_split(&ls, data, len);
    set->rules = xcalloc(ls.n > 0 ? ls.n : 1, sizeof *set->rules);
    for (size_t i = 0; i < ls.n; i++) {
        const char *p = ls.v[i].p;
        size_t n = ls.v[i].len;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t') && !(n > 1 && p[n - 2] == '\\'))
            n--;
        if (n == 0 || p[0] == '#' || n > IGNORE_PATTERN_MAX)
            continue;
        struct ignore_rule r = {0};
        if (p[0] == '!') {
            r.neg = true;
            p++, n--;
        } else if (p[0] == '\\' && n > 1 && (p[1] == '#' || p[1] == '!')) {
            p++, n--;
        }
        if (n > 0 && p[n - 1] == '/') {
            r.dir_only = true;
            n--;
        }
        if (n == 0)
            continue;
        r.anchored = memchr(p, '/', n) != NULL;
        if (p[0] == '/')
            p++, n--;
        if (n == 0)
            continue;
        r.pat = xstrndup(p, n);
        set->rules[set->n++] = r;
    }
    free(ls.v);
}

/* Load the ignore file NAME (".gitignore", or "info/exclude" under
 * ".git") in the directory DIRFD, for BASE; NULL when there is none. */
static struct ignore_set *
ignore_load(int dirfd, const char *name, const char *base, const struct ignore_set *parent)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    struct sbuf data = {0};
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= IGNORE_FILE_MAX) {
        char chunk[8192];
        ssize_t r;
        while ((r = read(fd, chunk, sizeof chunk)) > 0 && data.len < IGNORE_FILE_MAX)
            sbuf_add(&data, chunk, (size_t)r);
    }
    close(fd);
    struct ignore_set *set = xcalloc(1, sizeof *set);
    set->base = xstrdup(base);
    set->parent = parent;
    ignore_parse(set, data.s != NULL ? data.s : "", data.len);
    sbuf_free(&data);
    return set;
}

static void
ignore_free(struct ignore_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->rules[i].pat);
    free(set->rules);
    free(set->base);
    free(set);
}

/* Whether the entry REL (workspace-relative; NAME its last component)
 * is ignored by CHAIN and the sets above it: the last matching rule,
 * read from the root's sets down, decides. */
static bool
ignored(const struct ignore_set *chain, const char *rel, const char *name, bool is_dir)
{
    const struct ignore_set *sets[WALK_DEPTH_MAX + 2];
    size_t n = 0;
    for (const struct ignore_set *s = chain; s != NULL && n < sizeof sets / sizeof *sets;
         s = s->parent)
        sets[n++] = s;
    bool result = false;
    while (n-- > 0) {
        const struct ignore_set *s = sets[n];
        size_t bl = strlen(s->base);
        const char *sub = rel;
        if (bl > 0) {
            if (strncmp(rel, s->base, bl) != 0 || rel[bl] != '/')
                continue;
            sub = rel + bl + 1;
        }
        for (size_t i = 0; i < s->n; i++) {
            const struct ignore_rule *r = &s->rules[i];
            if (r->dir_only && !is_dir)
                continue;
            if (glob_match(r->pat, r->anchored ? sub : name))
                result = !r->neg;
        }
    }
    return result;
}

/* ------------------------------------------------------------------- globs */

/* Match one bracket expression at *P against C; advances *P past it.
 * Returns -1 when the pattern has no closing "]" (then "[" is literal). */
static int
class_match(const char **pp, char c)
{
    const char *p = *pp + 1;
    bool negate = *p == '!' || *p == '^';
    if (negate)
        p++;
    bool hit = false;
    const char *start = p;
    while (*p != '\0' && (*p != ']' || p == start)) {
        char lo = *p, hi = *p;
        if (lo == '\\' && p[1] != '\0')
            lo = hi = *++p;
        if (p[1] == '-' && p[2] != ']' && p[2] != '\0') {
            p += 2;
            hi = *p;
            if (hi == '\\' && p[1] != '\0')
                hi = *++p;
        }
        if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
            hit = true;
        p++;
    }
    if (*p != ']')
        return -1;
    *pp = p + 1;
    return hit != negate && c != '/';
}

/* Whether the whole of S matches the glob P: "*" and "?" stop at "/",
 * "**" crosses it ("**" + "/" also matches no directory at all). */
static bool
glob_match(const char *p, const char *s)
{
    for (;;) {
        switch (*p) {
        case '\0':
            return *s == '\0';
        case '*':
            if (p[1] == '*') {
                const char *rest = p + 2;
                while (*rest == '*')
                    rest++;
                if (*rest == '/') {
                    /* "**" + "/": zero or more whole directories. */
                    if (glob_match(rest + 1, s))
                        return true;
                    for (const char *t = s; *t != '\0'; t++)
                        if (*t == '/' && glob_match(rest + 1, t + 1))
                            return true;
                    return false;
                }
                for (const char *t = s;; t++) {
                    if (glob_match(rest, t))
                        return true;
                    if (*t == '\0')
                        return false;
                }
            }
            for (const char *t = s;; t++) {
                if (glob_match(p + 1, t))
                    return true;
                if (*t == '\0' || *t == '/')
                    return false;
            }
        case '?':
            if (*s == '\0' || *s == '/')
                return false;
            p++, s++;
            break;
        case '[': {
            if (*s == '\0')
                return false;
            const char *q = p;
            int r = class_match(&q, *s);
            if (r < 0) {
                if (*s != '[')
                    return false;
                p++, s++;
                break;
            }
            if (!r)
                return false;
            p = q, s++;
            break;
        }
        case '\\':
            if (p[1] != '\0')
                p++;
            /* fall through */
        default:
            if (*p != *s)
                return false;
            p++, s++;
            break;
        }
    }
}

/* glob_match after expanding the first "{a,b}" group of P (then the
 * next, recursively); BUDGET bounds the expansions. */
static bool
glob_match_braces(const char *p, const char *s, int *budget)
{
    const char *open = strchr(p, '{');
    const char *close = open != NULL ? strchr(open, '}') : NULL;
    if (close == NULL)
        return glob_match(p, s);
    const char *alt = open + 1;
    for (;;) {
        const char *comma = memchr(alt, ',', (size_t)(close - alt));
        const char *alt_end = comma != NULL ? comma : close;
        if (--*budget < 0)
            return false;
        struct sbuf one = {0};
        sbuf_add(&one, p, (size_t)(open - p));
        sbuf_add(&one, alt, (size_t)(alt_end - alt));
        sbuf_adds(&one, close + 1);
        bool hit = glob_match_braces(one.s, s, budget);
        sbuf_free(&one);
        if (hit)
            return true;
        if (comma == NULL)
            return false;
        alt = comma + 1;
    }
}

/* ------------------------------------------------------------------- walk */

struct dir_item {
    char *rel;
    const struct ignore_set *ign;
    size_t depth;
};

struct walk_state {
    struct dir_item *queue;
    size_t head, n, cap;
    struct ignore_set **sets; /* every set loaded, freed at the end */
    size_t nsets, capsets;
};

static void
walk_keep_set(struct walk_state *w, struct ignore_set *set)
{
    if (w->nsets == w->capsets) {
        w->capsets = w->capsets ? w->capsets * 2 : 16;
        w->sets = xrealloc(w->sets, w->capsets * sizeof *w->sets);
    }
    w->sets[w->nsets++] = set;
}

static void
walk_push(struct walk_state *w, char *rel_take, const struct ignore_set *ign, size_t depth)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->queue = xrealloc(w->queue, w->cap * sizeof *w->queue);
    }
    w->queue[w->n++] = (struct dir_item){rel_take, ign, depth};
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Visit the entries of directory ITEM, sorted; queue its directories
 * when RECURSIVE.  Returns 1 when CB stopped, else 0. */
static int
walk_dir(const struct workspace *ws, struct walk_state *w, const struct dir_item *item,
         bool recursive, walk_cb cb, void *arg)
{
    int fd = workspace_openat(ws, item->rel, O_RDONLY | O_DIRECTORY, 0, NULL);
    if (fd < 0)
        return 0; /* vanished or unreadable since it was listed: skip it */
    const struct ignore_set *ign = item->ign;
    struct ignore_set *own =
        ignore_load(fd, ".gitignore", strcmp(item->rel, ".") == 0 ? "" : item->rel, ign);
    if (own != NULL) {
        walk_keep_set(w, own);
        ign = own;
    }
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        close(fd);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, ".git") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stop || fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            free(names[i]);
            continue;
        }
        char *rel = strcmp(item->rel, ".") == 0 ? xstrdup(names[i])
                                                : xasprintf("%s/%s", item->rel, names[i]);
        struct walk_entry e = {.rel = rel,
                               .name = names[i],
                               .is_dir = S_ISDIR(st.st_mode),
                               .is_reg = S_ISREG(st.st_mode),
                               .dirfd = fd};
        if (ignored(ign, rel, names[i], e.is_dir)) {
            free(rel);
        } else {
            stop = cb(arg, &e);
            if (!stop && e.is_dir && recursive && item->depth + 1 < WALK_DEPTH_MAX)
                walk_push(w, rel, ign, item->depth + 1);
            else
                free(rel);
        }
        free(names[i]);
    }
    free(names);
    close(fd);
    return stop;
}

/*
 * Walk PATH (a directory, breadth first; or one file, visited alone),
 * calling CB for each entry not ignored.  The .gitignore files of PATH's
 * ancestors apply too.  Returns 0, or a negative errno with OUT saying
 * why PATH cannot be walked.
 */
static int
walk(const struct workspace *ws, const char *path, bool recursive, walk_cb cb, void *arg,
     struct sbuf *out)
{
    struct cerr err = {0};
    struct walk_state w = {0};
    char *rel = workspace_relpath(ws, path, &err);
    if (rel == NULL) {
        sbuf_adds(out, err.msg);
        return err.code;
    }
    int fd = workspace_openat(ws, rel, O_RDONLY | O_NONBLOCK, 0, &err);
    if (fd < 0) {
        sbuf_adds(out, err.msg);
        free(rel);
        return fd;
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    close(fd);
    if (rc < 0) {
        sbuf_adds(out, "error reading ");
        sbuf_adds(out, path);
        free(rel);
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        /* One file, named on purpose: no ignore rules. */
        char *name = strrchr(rel, '/');
        char *dir = name != NULL ? xstrndup(rel, (size_t)(name - rel)) : xstrdup(".");
        int dfd = workspace_openat(ws, dir, O_PATH | O_DIRECTORY, 0, &err);
        if (dfd >= 0) {
            struct walk_entry e = {.rel = rel,
                                   .name = name != NULL ? name + 1 : rel,
                                   .is_reg = S_ISREG(st.st_mode),
                                   .dirfd = dfd};
            cb(arg, &e);
            close(dfd);
        }
        free(dir);
        free(rel);
        return 0;
    }
    /* The ignore files above PATH: the root's exclude file, then each
     * ancestor's .gitignore (PATH's own is read when it is walked). */
    const struct ignore_set *chain = NULL;
    int xfd = workspace_openat(ws, ".git/info", O_PATH | O_DIRECTORY, 0, NULL);
    if (xfd >= 0) {
        struct ignore_set *set = ignore_load(xfd, "exclude", "", chain);
        close(xfd);
        if (set != NULL) {
            walk_keep_set(&w, set);
            chain = set;
        }
    }
    if (strcmp(rel, ".") != 0) {
        size_t n = strlen(rel);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && rel[i] != '/')
                continue;
            /* The ancestor: "" (the root) at i == 0, else rel[0, i). */
            char *base = xstrndup(rel, i);
            int afd = workspace_openat(ws, i == 0 ? "." : base, O_PATH | O_DIRECTORY, 0, NULL);
            if (afd >= 0) {
                struct ignore_set *set = ignore_load(afd, ".gitignore", base, chain);
                close(afd);
                if (set != NULL) {
                    walk_keep_set(&w, set);
                    chain = set;
                }
            }
            free(base);
        }
    }
    walk_push(&w, rel, chain, 0);
    while (w.head < w.n) {
        struct dir_item item = w.queue[w.head++];
        int stop = walk_dir(ws, &w, &item, recursive, cb, arg);
        free(item.rel);
        if (stop)
            break;
    }
    while (w.head < w.n)
        free(w.queue[w.head++].rel);
    free(w.queue);
    for (size_t i = 0; i < w.nsets; i++)
        ignore_free(w.sets[i]);
    free(w.sets);
    return 0;
}
