/*
 * libFuzzer harness for caretictl acp's pure parts (src/cli/ctl_acp_rpc.c,
 * src/cli/ctl_acp_map.c): every input line is classified, and an answer
 * built for what is not a request must be one JSON-RPC error; the same
 * bytes as a unified diff, a plan and a prompt must give valid JSON or
 * nothing.  Anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../src/cli/ctl_acp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the bridge writes must dump as one line of JSON. */
static void
must_dump(json_t *v, const char *what)
{
    if (v == NULL)
        return;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL || strchr(s, '\n') != NULL) {
        fprintf(stderr, "%s does not dump as one line\n", what);
        abort();
    }
    free(s);
    json_decref(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    struct acp_msg m;
    acp_msg_parse((const char *)data, size, &m);
    if (m.kind == ACP_MSG_INVALID) {
        if (m.err_code > -32000 || m.err_code < -32700 || m.err_msg[0] == '\0')
            abort();
        must_dump(acp_error(m.id, m.err_code, m.err_msg), "an error");
    } else if ((m.kind == ACP_MSG_REQUEST || m.kind == ACP_MSG_NOTIFICATION) && m.method == NULL) {
        abort();
    } else if (m.kind == ACP_MSG_RESPONSE && m.id == NULL) {
        abort();
    }
    if (m.kind == ACP_MSG_REQUEST) {
        const char *why = NULL;
        char *text = acp_prompt_text(json_object_get(m.params, "prompt"), &why);
        if ((text == NULL) == (why == NULL))
            abort();
        free(text);
    }
    acp_msg_clear(&m);

    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *utf8 = json_string(s); /* NULL unless UTF-8, as the daemon's JSON always is */
    if (utf8 != NULL) {
        json_decref(utf8);
        must_dump(acp_diff_block("/w/a.c", s), "a diff block");
        must_dump(acp_plan_entries(s), "plan entries");
        json_t *args = json_pack("{s:s, s:s, s:s}", "path", s, "command", s, "regex", s);
        char *title = acp_tool_title("search_files", args);
        json_t *t = json_string(title);
        if (t == NULL || strchr(title, '\n') != NULL)
            abort();
        json_decref(t);
        free(title);
        json_decref(args);
    }
    free(s);
    return 0;
}
