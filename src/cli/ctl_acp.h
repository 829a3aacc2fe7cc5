/*
 * caretictl acp's pure parts, shared by ctl_acp.c and its tests: the
 * JSON-RPC 2.0 framing of one line (ctl_acp_rpc.c) and the mapping of the
 * daemon's agent events to ACP v1 values (ctl_acp_map.c).  No I/O here.
 */
#ifndef CARETI_CLI_CTL_ACP_H
#define CARETI_CLI_CTL_ACP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* JSON-RPC 2.0 error codes (and ACP's). */
#define ACP_PARSE_ERROR (-32700)
#define ACP_INVALID_REQUEST (-32600)
#define ACP_METHOD_NOT_FOUND (-32601)
#define ACP_INVALID_PARAMS (-32602)
#define ACP_INTERNAL_ERROR (-32603)
#define ACP_RESOURCE_NOT_FOUND (-32002)

/* A line is at most this long; a longer one is answered with a parse error
 * and skipped up to its newline. */
#define ACP_MAX_LINE (8 * 1024 * 1024)

enum acp_msg_kind {
    ACP_MSG_INVALID,      /* answer err_code/err_msg to id (JSON null when unknown) */
    ACP_MSG_REQUEST,      /* method, params, id */
    ACP_MSG_NOTIFICATION, /* method, params */
    ACP_MSG_RESPONSE,     /* id, result or error: an answer to one of our requests */
};

struct acp_msg {
    enum acp_msg_kind kind;
    json_t *root;       /* the parsed line (owned; acp_msg_clear drops it) */
    json_t *id;         /* borrowed from root; NULL when absent */
    const char *method; /* borrowed */
    json_t *params;     /* borrowed; NULL when absent */
    json_t *result;     /* borrowed (responses) */
    json_t *error;      /* borrowed (responses) */
    int err_code;       /* ACP_MSG_INVALID */
    char err_msg[200];
};

/* Classify one line (without its newline).  Never fails: malformed input
 * is ACP_MSG_INVALID with the error to answer.  Clear M after. */
void acp_msg_parse(const char *line, size_t len, struct acp_msg *m);
void acp_msg_clear(struct acp_msg *m);

/* New references: a response with RESULT (stolen; NULL means JSON null),
 * an error response, a notification and a request with PARAMS (stolen).
 * ID is copied; NULL is JSON null. */
json_t *acp_result_take(const json_t *id, json_t *result);
json_t *acp_error(const json_t *id, int code, const char *message);
json_t *acp_notification_take(const char *method, json_t *params);
json_t *acp_request_take(long long id, const char *method, json_t *params);

/* The ACP tool kind of one of the agent's tools ("other" for unknown). */
const char *acp_tool_kind(const char *tool);

/* Whether the bridge shows TOOL as a tool call: the question, completion
 * and plan tools are shown as the agent's message (and plan) instead. */
bool acp_tool_shown(const char *tool);

/* A short title for a call of TOOL with ARGUMENTS, such as "Read src/a.c"
 * or "Run `make`".  Caller frees. */
char *acp_tool_title(const char *tool, const json_t *arguments);

/* PATH made absolute against WORKSPACE (may be NULL).  Caller frees;
 * NULL when PATH is NULL or empty. */
char *acp_abs_path(const char *workspace, const char *path);

/*
 * An ACP `diff` tool-call content block for the unified DIFF of an edit
 * of ABS_PATH, rebuilt from the hunks: oldText is the hunks' context and
 * removed lines, newText their context and added lines (so both hold only
 * the regions the edit touched, not the whole file).  A diff whose only
 * hunk starts at -0,0 (a new file) has oldText null.  New reference, or
 * NULL when DIFF has no hunk.
 */
json_t *acp_diff_block(const char *abs_path, const char *diff);

/* The ACP stop reason for the daemon's `done` STOP_REASON (with STATUS for
 * daemons or chat sessions that send none).  NULL for `error`: the prompt
 * then answers a JSON-RPC error. */
const char *acp_stop_reason(const char *stop_reason, const char *status);

/* Plan entries (`plan` update's `entries`) from a plan's text: each list
 * item ("- x", "* x", "1. x") is an entry; a text with none is one entry.
 * New reference. */
json_t *acp_plan_entries(const char *plan);

/* The text to send the daemon for an ACP prompt (an array of content
 * blocks): text blocks as they are, resource links as "@URI", embedded
 * resources as their URI and a fenced copy of their text.  Caller frees;
 * NULL with *WHY set when nothing usable is in it. */
char *acp_prompt_text(const json_t *blocks, const char **why);

#endif
