/*
 * ctl_acp_rpc: JSON-RPC 2.0 framing for `caretictl acp`, one message per
 * line.  Classifies a line as a request, a notification, an answer to one
 * of our requests, or something to answer with an error; builds the
 * messages the bridge writes.  Pure: no I/O, never fatal on bad input.
 */
#include <stdio.h>
#include <string.h>

#include "ctl_acp.h"

static void
invalid(struct acp_msg *m, int code, const char *msg)
{
    m->kind = ACP_MSG_INVALID;
    m->err_code = code;
    snprintf(m->err_msg, sizeof m->err_msg, "%s", msg);
}

/* A JSON-RPC id is a string, an integer or null; we answer requests whose
 * id we can echo. */
static bool
valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

void
acp_msg_parse(const char *line, size_t len, struct acp_msg *m)
{
    json_error_t jerr;
    memset(m, 0, sizeof *m);
    if (len > ACP_MAX_LINE) {
        invalid(m, ACP_PARSE_ERROR, "message too long");
        return;
    }
    m->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (m->root == NULL) {
        char why[200];
        snprintf(why, sizeof why, "parse error: %s at column %d", jerr.text, jerr.column);
        invalid(m, ACP_PARSE_ERROR, why);
        return;
    }
    if (!json_is_object(m->root)) {
        invalid(m, ACP_INVALID_REQUEST,
                json_is_array(m->root) ? "batches are not supported; send one message per line"
                                       : "a message must be a JSON object");
        return;
    }
    json_t *id = json_object_get(m->root, "id");
    if (id != NULL && valid_id(id))
        m->id = id;
    const char *version = json_string_value(json_object_get(m->root, "jsonrpc"));
    if (version == NULL || strcmp(version, "2.0") != 0) {
        invalid(m, ACP_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
        return;
    }
    if (id != NULL && !valid_id(id)) {
        invalid(m, ACP_INVALID_REQUEST, "\"id\" must be a string, an integer or null");
        return;
    }
    json_t *method = json_object_get(m->root, "method");
    if (method != NULL) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            invalid(m, ACP_INVALID_REQUEST, "\"method\" must be a non-empty string");
            return;
        }
        m->params = json_object_get(m->root, "params");
        if (m->params != NULL && !json_is_object(m->params) && !json_is_null(m->params)) {
            /* ACP's params are always objects; positional ones mean nothing. */
            m->kind = id ? ACP_MSG_INVALID : ACP_MSG_NOTIFICATION;
            m->method = json_string_value(method);
            if (id) {
                m->err_code = ACP_INVALID_PARAMS;
                snprintf(m->err_msg, sizeof m->err_msg, "params must be an object");
            }
            return;
        }
        if (json_is_null(m->params))
            m->params = NULL;
        m->method = json_string_value(method);
        m->kind = id ? ACP_MSG_REQUEST : ACP_MSG_NOTIFICATION;
        return;
    }
    m->result = json_object_get(m->root, "result");
    m->error = json_object_get(m->root, "error");
    if (id == NULL || (m->result == NULL) == (m->error == NULL)) {
        invalid(m, ACP_INVALID_REQUEST,
                "a message needs a \"method\", or an \"id\" and one of \"result\" and \"error\"");
        return;
    }
    m->kind = ACP_MSG_RESPONSE;
}

void
acp_msg_clear(struct acp_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

static json_t *
copy_id(const json_t *id)
{
    return id ? json_deep_copy(id) : json_null();
}

json_t *
acp_result_take(const json_t *id, json_t *result)
{
    return json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", copy_id(id), "result",
                     result ? result : json_null());
}

json_t *
acp_error(const json_t *id, int code, const char *message)
{
    return json_pack("{s:s, s:o, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", copy_id(id), "error",
                     "code", code, "message", message);
}

json_t *
acp_notification_take(const char *method, json_t *params)
{
    return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

json_t *
acp_request_take(long long id, const char *method, json_t *params)
{
    return json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id, "method",
                     method, "params", params);
}
