/*
 * tools: the coding agent's tools as the turn engine sees them: their
 * names and parameters (Cline's, for the text-form parser and the native
 * schemas), which approval category each falls in, and running the file
 * tools off the loop.  Commands run through command.h.
 */
#ifndef CARETI_TOOLS_H
#define CARETI_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "careti/agent/file_tools.h"
#include "careti/agent/prompt.h"
#include "careti/agent/toolcall_parser.h"
#include "careti/agent/workspace.h"
#include "careti/core/sbuf.h"

enum agent_tool {
    TOOL_READ_FILE,
    TOOL_LIST_FILES,
    TOOL_SEARCH_FILES,
    TOOL_WRITE_TO_FILE,
    TOOL_REPLACE_IN_FILE,
    TOOL_EXECUTE_COMMAND,
    TOOL_ASK_FOLLOWUP_QUESTION,
    TOOL_ATTEMPT_COMPLETION,
    TOOL_PLAN_MODE_RESPOND,
    TOOL_COUNT,
};

/* The approval category of a tool; TOOL_CATEGORY_NONE needs none. */
enum tool_category { TOOL_CATEGORY_READ, TOOL_CATEGORY_EDIT, TOOL_CATEGORY_COMMAND,
                     TOOL_CATEGORY_NONE };

/* The tool named NAME, or -1. */
int agent_tool_find(const char *name);
const char *agent_tool_name(enum agent_tool tool);
enum tool_category agent_tool_category(enum agent_tool tool);
/* "read", "edit", "command" (or "none"). */
const char *agent_tool_category_name(enum tool_category c);

/* Every tool in the parser's terms (static, never freed). */
const struct toolcall_tool *agent_tools_for_parser(size_t *n);

/* The tools MODE offers, as an OpenAI/Ollama `tools` array; a new
 * reference.  The same JSON for the same mode, always. */
json_t *agent_tools_schemas(enum agent_mode mode);

/* ARGS's parameter NAME as text: strings as they are, booleans and
 * numbers written out, NULL when absent (or another type). */
const char *agent_tool_arg(const json_t *args, const char *name, char *buf, size_t buflen);

/* Whether TOOL's required parameters are all in ARGS; else WHY names the
 * first missing one, for the model. */
bool agent_tool_args_ok(enum agent_tool tool, const json_t *args, char *why, size_t whylen);

/*
 * A file tool run on libuv's thread pool.  TOOL is one of the file tools;
 * PREPARE_ONLY for an edit stops at the prepared edit (for the approval:
 * its diff), else an edit is written.  When done, CB runs on the loop
 * with the job: OK, the text for the model in OUT, and for an edit EDIT
 * (prepared, and written unless prepare-only).  The job is the caller's
 * to free with tool_job_free after CB.
 */
struct tool_job {
    uv_work_t work;
    const struct workspace *ws;
    enum agent_tool tool;
    json_t *args;
    bool prepare_only; /* edits: stop before writing */
    bool apply_only;   /* edits: EDIT was prepared: write it now */
    struct file_tools_edit *edit;
    struct sbuf out;
    int rc;
    void (*cb)(struct tool_job *job);
    void *arg;
};

/* Queue JOB (filled by the caller) on LOOP. Returns 0 or a libuv error. */
int tool_job_queue(uv_loop_t *loop, struct tool_job *job);
void tool_job_free(struct tool_job *job);

#endif
