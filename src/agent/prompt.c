/*
 * prompt: the agent's system prompt, written for local models: short,
 * and the same bytes for every step of a session, so a model server
 * reuses its cached prefix.  Nothing in it changes with time or place:
 * the environment goes into the first user message instead.  Owns only
 * constant text and the few prompts built from it, made once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/agent/prompt.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"

static const char intro[] =
    "You are a coding agent working in the user's repository. You read files, edit them and "
    "run commands to complete the task, one tool per message, and wait for each result.\n"
    "Rules:\n"
    "- Paths are relative to the workspace; you cannot leave it.\n"
    "- Read a file before you edit it. Prefer replace_in_file for small edits.\n"
    "- Never guess a result: use a tool, or ask the user.\n"
    "- Be brief. When the task is done, use attempt_completion.\n";

static const char plan_intro[] =
    "You are in plan mode: you may only read and search. Explore what you need, then answer "
    "with plan_mode_respond: a short, numbered plan of the changes. The user switches to act "
    "mode to carry it out.\n";

static const char text_format[] =
    "To use a tool, write its call as XML and nothing after it:\n"
    "<read_file>\n<path>src/main.c</path>\n</read_file>\n";

struct tool_doc {
    const char *name;
    bool read_only; /* offered in plan mode */
    const char *text;
};

static const struct tool_doc tools[] = {
    {"read_file", true,
     "## read_file\nRead a file. <path> (required); <start_line>, <end_line> (optional) for a "
     "part of a long file.\n"},
    {"list_files", true,
     "## list_files\nList a directory. <path> (required); <recursive> true or false.\n"},
    {"search_files", true,
     "## search_files\nSearch file contents with a regular expression. <path>, <regex> "
     "(required); <file_pattern> (optional glob such as *.c).\n"},
    {"write_to_file", false,
     "## write_to_file\nCreate or replace a whole file. <path>, <content> (the complete "
     "file).\n"},
    {"replace_in_file", false,
     "## replace_in_file\nEdit part of a file. <path>, <diff> with one or more blocks:\n"
     "------- SEARCH\n[exact lines from the file]\n=======\n[new lines]\n+++++++ REPLACE\n"
     "Each SEARCH must match the file exactly, once; keep blocks small, in file order.\n"},
    {"execute_command", false,
     "## execute_command\nRun a shell command in the workspace. <command> (required); "
     "<requires_approval> true for commands that change or delete things outside what you "
     "were asked, install software or reach the network.\n"},
    {"ask_followup_question", true,
     "## ask_followup_question\nAsk the user when you cannot go on without an answer. "
     "<question> (required); <options> (optional JSON array of 2 to 5 strings).\n"},
    {"attempt_completion", false,
     "## attempt_completion\nSay the task is done. <result>: what you did, in one or two "
     "sentences.\n"},
    {"plan_mode_respond", true,
     "## plan_mode_respond\nGive your plan. <response> (required).\n"},
};

/* The prompts, made on first use: they never change afterwards. */
static char *made[2][2];

static char *
make_prompt(enum agent_mode mode, bool native)
{
    struct sbuf b = {0};
    sbuf_adds(&b, intro);
    if (mode == AGENT_MODE_PLAN)
        sbuf_adds(&b, plan_intro);
    if (!native)
        sbuf_adds(&b, text_format);
    sbuf_adds(&b, "# Tools\n");
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (agent_tool_offered(mode, tools[i].name))
            sbuf_adds(&b, tools[i].text);
    return b.s;
}

const char *
agent_prompt(enum agent_mode mode, bool native)
{
    char **slot = &made[mode == AGENT_MODE_PLAN][native];
    if (*slot == NULL)
        *slot = make_prompt(mode, native);
    return *slot;
}

bool
agent_tool_offered(enum agent_mode mode, const char *name)
{
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        if (strcmp(tools[i].name, name) != 0)
            continue;
        return mode == AGENT_MODE_PLAN ? tools[i].read_only
                                       : strcmp(name, "plan_mode_respond") != 0;
    }
    return false;
}
