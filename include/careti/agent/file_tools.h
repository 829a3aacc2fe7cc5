/*
 * The agent's file tools, each confined to a workspace: read_file,
 * write_to_file, replace_in_file, list_files and search_files (Cline's
 * names and parameters).  Each tool writes what the model should see
 * into a caller-owned sbuf, on success and on failure alike: a failure's
 * text (the reason, and for a failed edit the nearest lines) is longer
 * than a struct cerr holds and is meant for the model, not for a log.
 * Every function that touches the disk blocks: call it from a worker
 * thread.
 */
#ifndef CARETI_FILE_TOOLS_H
#define CARETI_FILE_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include "careti/agent/workspace.h"
#include "careti/core/sbuf.h"

/* read_file's limit without a line range, and on what a range returns. */
#define FILE_TOOLS_READ_MAX (256 * 1024)
/* Bytes of a file looked at for a NUL to call it binary. */
#define FILE_TOOLS_BINARY_PROBE 8192
/* Entries list_files returns. */
#define FILE_TOOLS_LIST_MAX 1000
/* Matches search_files shows (it counts on past them). */
#define FILE_TOOLS_SEARCH_SHOW 100
/* Files search_files reads, and the size over which it skips one. */
#define FILE_TOOLS_SEARCH_FILES 20000
#define FILE_TOOLS_SEARCH_FILE_MAX (4 * 1024 * 1024)

/*
 * read_file: the text of PATH, or of its lines START_LINE to END_LINE
 * (1-based, inclusive; 0 for "from the first" / "to the last").  Refuses
 * a binary file (a NUL in its first 8 KiB), a directory, and a file over
 * FILE_TOOLS_READ_MAX read without a range, saying how to read a part.
 * OUT gets the text exactly as stored, or the reason.  Returns 0 or a
 * negative errno.  Blocking: call from a worker thread.
 */
int file_tools_read(const struct workspace *ws, const char *path, long start_line, long end_line,
                    struct sbuf *out);

/*
 * list_files: the entries of the directory PATH (recursive: its whole
 * tree, breadth first, not into symlinked directories), one a line,
 * relative to the workspace, directories ending in "/", sorted within
 * each directory.  Skips ".git" and what .gitignore files (and
 * .git/info/exclude) ignore; see file_tools.c for the subset of
 * gitignore supported.  Stops at FILE_TOOLS_LIST_MAX entries and says
 * so on its last line.  Returns 0 or a negative errno (OUT: the reason).
 * Blocking: call from a worker thread.
 */
int file_tools_list(const struct workspace *ws, const char *path, bool recursive, struct sbuf *out);

/*
 * search_files: lines matching the PCRE2 regular expression REGEX in the
 * files under PATH (a directory, searched recursively, or one file)
 * whose name matches FILE_PATTERN (a glob with *, ?, [..] and {a,b};
 * against the relative path when it has a "/"; NULL or "" for every
 * file).  Skips what list_files skips, binary files and files over
 * FILE_TOOLS_SEARCH_FILE_MAX.  OUT gets "path:line: text" lines, at
 * most FILE_TOOLS_SEARCH_SHOW, after a first line of counts ("300
 * matches in 41 files; showing the first 100").  A bad expression is
 * -EINVAL with PCRE2's reason and offset.  Returns 0 or a negative
 * errno.  Blocking: call from a worker thread.
 */
int file_tools_search(const struct workspace *ws, const char *path, const char *regex,
                      const char *file_pattern, struct sbuf *out);

/*
 * An edit prepared but not yet written: the new content, a unified diff
 * of it for the approval prompt, and the file as it was, for undo.
 */
struct file_tools_edit;

/*
 * write_to_file, first half: prepare replacing PATH's content (or
 * creating it) with the LEN bytes of CONTENT.  On success *EDIT is set
 * (free with file_tools_edit_free) and OUT is left alone; on failure OUT
 * gets the reason.  Returns 0 or a negative errno.  Blocking.
 */
int file_tools_prepare_write(const struct workspace *ws, const char *path, const char *content,
                             size_t len, struct file_tools_edit **edit, struct sbuf *out);

/*
 * replace_in_file, first half: apply the SEARCH/REPLACE blocks of DIFF
 * ("------- SEARCH" / "=======" / "+++++++ REPLACE", or "<<<<<<< SEARCH"
 * / ">>>>>>> REPLACE") to PATH's content, in order, in memory.  Each
 * SEARCH must match exactly one place, exactly or else with each line's
 * surrounding whitespace ignored; an empty SEARCH only fits an empty
 * file.  All blocks apply or none: when one matches nowhere or in
 * several places, -ENOENT or -EEXIST and OUT says which block, why, and
 * the file's nearest lines (or the matching line numbers).  On success
 * *EDIT is set and OUT is left alone.  Blocking.
 */
int file_tools_prepare_replace(const struct workspace *ws, const char *path, const char *diff,
                               struct file_tools_edit **edit, struct sbuf *out);

/*
 * Second half: write E's content atomically, unless the file changed on
 * disk since E was prepared (-ESTALE: nothing is written).  OUT gets a
 * line for the model ("wrote src/a.c (+3 -1)") or the reason.  Returns 0
 * or a negative errno.  Blocking.
 */
int file_tools_apply(const struct workspace *ws, const struct file_tools_edit *e, struct sbuf *out);

/* E's workspace-relative path; lives as long as E. */
const char *file_tools_edit_path(const struct file_tools_edit *e);
/* E's unified diff ("--- a/p", "+++ b/p", hunks with 3 lines of
 * context; "--- /dev/null" for a new file; "" when nothing changes);
 * lives as long as E. */
const char *file_tools_edit_diff(const struct file_tools_edit *e);
/* Lines E adds and removes (the diff's + and - lines). */
void file_tools_edit_counts(const struct file_tools_edit *e, size_t *added, size_t *removed);
/* The file before E (absent, or its bytes and mode): what undo restores;
 * lives as long as E. */
const struct workspace_file *file_tools_edit_before(const struct file_tools_edit *e);
/* The content E writes (LEN bytes, NUL-terminated); lives as long as E. */
const char *file_tools_edit_after(const struct file_tools_edit *e, size_t *len);
/* Free E; NULL is fine. */
void file_tools_edit_free(struct file_tools_edit *e);

#endif
