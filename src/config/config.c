/*
 * config: loads and validates caretid.yaml against one table of keys.
 * Owns struct config values (built whole, then handed over; never edited
 * after load).  Sole includer of yaml.h.  Must never touch the event loop
 * or log: it runs on worker threads during reload and reports through
 * struct cerr only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "careti/config/config.h"
#include "careti/core/path.h"
#include "careti/core/strdist.h"
#include "careti/core/xmalloc.h"

enum cfg_type {
    CT_STRING,
    CT_SECRET,
    CT_PATH,
    CT_INT,
    CT_BOOL,
    CT_LOG_LEVEL,
    CT_PROVIDER_TYPE,
    CT_POLICY,      /* enum approval_policy */
    CT_SANDBOX,     /* bool: landlock or off */
    CT_MODEL_TOOLS, /* enum model_tools */
    CT_STRLIST,     /* a sequence of strings, or one string */
    CT_SECTION,
    CT_PROVIDER_SEQ,
    CT_MODEL_MAP,
    CT_JSON_OBJECT,
};

struct cfg_table;

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t offset;
    size_t count_offset; /* CT_STRLIST: where the element count lives */
    const struct cfg_table *sub;
    long min, max;
    const char *def; /* default, written as it would be in YAML; NULL: none */
    bool required;
    const char *help;
};

struct cfg_table {
    const struct cfg_key *keys;
    size_t n;
};

#define KEY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct cfg_key timeouts_keys[] = {
    {"connect_s", CT_INT, offsetof(struct config_timeouts, connect_s), 0, NULL, 1, 3600, "5",
     false, "seconds to establish the connection"},
    {"first_byte_s", CT_INT, offsetof(struct config_timeouts, first_byte_s), 0, NULL, 1, 86400,
     "600", false, "seconds until the first byte of the answer (a cold model load is slow)"},
    {"idle_s", CT_INT, offsetof(struct config_timeouts, idle_s), 0, NULL, 1, 86400, "120", false,
     "seconds allowed between two chunks of a streamed answer"},
};
static const struct cfg_table timeouts_table = {timeouts_keys, KEY_COUNT(timeouts_keys)};

static const struct cfg_key provider_keys[] = {
    {"name", CT_STRING, offsetof(struct config_provider, name), 0, NULL, 0, 0, NULL, true,
     "unique name, used in name@provider and in messages"},
    {"type", CT_PROVIDER_TYPE, offsetof(struct config_provider, type), 0, NULL, 0, 0, NULL, true,
     "ollama, lmstudio or openai (any other OpenAI-compatible server)"},
    {"base_url", CT_STRING, offsetof(struct config_provider, base_url), 0, NULL, 0, 0, NULL, true,
     "http:// or https:// URL of the server"},
    {"api_key", CT_SECRET, offsetof(struct config_provider, api_key), 0, NULL, 0, 0, "\"\"",
     false, "sent as a Bearer token; never logged"},
    {"ca_file", CT_PATH, offsetof(struct config_provider, ca_file), 0, NULL, 0, 0, "\"\"", false,
     "https only: PEM file of the CA that signed the server's certificate; empty means the "
     "system's CAs"},
    {"timeouts", CT_SECTION, offsetof(struct config_provider, timeouts), 0, &timeouts_table, 0, 0,
     NULL, false, "per-provider timeouts"},
    {"max_concurrent", CT_INT, offsetof(struct config_provider, max_concurrent), 0, NULL, 0,
     100000, "0", false, "requests in flight at once; 0 means unlimited"},
    {"max_queue", CT_INT, offsetof(struct config_provider, max_queue), 0, NULL, 0, 1000000, "256",
     false, "requests waiting beyond max_concurrent before 429"},
};
static const struct cfg_table provider_table = {provider_keys, KEY_COUNT(provider_keys)};

static const struct cfg_key model_keys[] = {
    {"provider", CT_STRLIST, offsetof(struct config_model, providers),
     offsetof(struct config_model, n_providers), NULL, 0, 0, NULL, true,
     "provider name, or a list tried in order when one is unreachable"},
    {"model", CT_STRING, offsetof(struct config_model, model), 0, NULL, 0, 0, NULL, true,
     "the model's name on the provider"},
    {"context_length", CT_INT, offsetof(struct config_model, context_length), 0, NULL, 0,
     16777216, "0", false, "context window in tokens; 0 means defaults.context_length"},
    {"options", CT_JSON_OBJECT, offsetof(struct config_model, options), 0, NULL, 0, 0, NULL,
     false, "options merged under the client's (Ollama options names)"},
    {"tools", CT_MODEL_TOOLS, offsetof(struct config_model, tools), 0, NULL, 0, 0, "auto", false,
     "how the agent's tools reach the model: native (the API's tools field), text (in the "
     "prompt), or auto (native when the server says the model supports tools)"},
};
static const struct cfg_table model_table = {model_keys, KEY_COUNT(model_keys)};

static const struct cfg_key daemon_keys[] = {
    {"socket", CT_PATH, offsetof(struct config_daemon, socket), 0, NULL, 0, 0,
     "${XDG_RUNTIME_DIR}/careti/caretid.sock", false, "Unix socket path"},
    {"listen", CT_STRLIST, offsetof(struct config_daemon, listen),
     offsetof(struct config_daemon, n_listen), NULL, 0, 0, "[]", false,
     "TCP listeners as host:port; loopback only unless allow_remote"},
    {"allow_remote", CT_BOOL, offsetof(struct config_daemon, allow_remote), 0, NULL, 0, 0,
     "false", false, "allow non-loopback listen addresses (requires auth_token)"},
    {"auth_token", CT_SECRET, offsetof(struct config_daemon, auth_token), 0, NULL, 0, 0, "\"\"",
     false,
     "TCP requests need Authorization: Bearer <token>; unset: a token generated into "
     "state_dir/tcp-token; off: none (loopback only)"},
    {"allowed_hosts", CT_STRLIST, offsetof(struct config_daemon, allowed_hosts),
     offsetof(struct config_daemon, n_allowed_hosts), NULL, 0, 0, "[]", false,
     "Host names TCP requests may name besides localhost and IP addresses"},
    {"allowed_origins", CT_STRLIST, offsetof(struct config_daemon, allowed_origins),
     offsetof(struct config_daemon, n_allowed_origins), NULL, 0, 0, "[]", false,
     "browser origins (scheme://host:port) allowed to call the TCP listeners"},
    {"state_dir", CT_PATH, offsetof(struct config_daemon, state_dir), 0, NULL, 0, 0,
     "${XDG_STATE_HOME}/careti", false, "where agent state is kept"},
    {"log_level", CT_LOG_LEVEL, offsetof(struct config_daemon, log_level), 0, NULL, 0, 0, "info",
     false, "error, warn, info or debug"},
    {"max_body_bytes", CT_INT, offsetof(struct config_daemon, max_body_bytes), 0, NULL, 1024,
     1073741824, "67108864", false, "largest request body accepted (413 beyond)"},
    {"shutdown_grace_s", CT_INT, offsetof(struct config_daemon, shutdown_grace_s), 0, NULL, 0,
     3600, "10", false, "seconds in-flight responses may take to finish on SIGTERM"},
    {"header_timeout_s", CT_INT, offsetof(struct config_daemon, header_timeout_s), 0, NULL, 1,
     3600, "10", false, "seconds a client has to send a request's headers"},
    {"idle_timeout_s", CT_INT, offsetof(struct config_daemon, idle_timeout_s), 0, NULL, 1, 86400,
     "60", false, "seconds an idle keep-alive connection, or a stalled body, is kept"},
    {"max_connections", CT_INT, offsetof(struct config_daemon, max_connections), 0, NULL, 1,
     65536, "1024", false, "open client connections at once; more are closed on accept"},
    {"request_log_days", CT_INT, offsetof(struct config_daemon, request_log_days), 0, NULL, 0,
     36500, "90", false, "days of the request log kept (0: all)"},
};
static const struct cfg_table daemon_table = {daemon_keys, KEY_COUNT(daemon_keys)};

static const struct cfg_key defaults_keys[] = {
    {"model", CT_STRING, offsetof(struct config_defaults, model), 0, NULL, 0, 0,
     "qwen3-coder:30b", false, "model alias or name used when a client names none"},
    {"context_length", CT_INT, offsetof(struct config_defaults, context_length), 0, NULL, 512,
     16777216, "262144", false, "context window sent to Ollama as num_ctx"},
    {"compact_prompt", CT_BOOL, offsetof(struct config_defaults, compact_prompt), 0, NULL, 0, 0,
     "true", false, "use the compact agent prompt suited to local models"},
};
static const struct cfg_table defaults_table = {defaults_keys, KEY_COUNT(defaults_keys)};

/* Offsets into config_agent.approvals, in enum approval_category order
 * (config_approval_category_name gives the same names). */
static const struct cfg_key approvals_keys[] = {
    {"read", CT_POLICY, APPROVAL_READ * sizeof(enum approval_policy), 0, NULL, 0, 0, "auto", false,
     "read_file, list_files, search_files"},
    {"edit", CT_POLICY, APPROVAL_EDIT * sizeof(enum approval_policy), 0, NULL, 0, 0, "ask", false,
     "write_to_file, replace_in_file"},
    {"command", CT_POLICY, APPROVAL_COMMAND * sizeof(enum approval_policy), 0, NULL, 0, 0, "ask",
     false, "execute_command"},
};
static const struct cfg_table approvals_table = {approvals_keys, KEY_COUNT(approvals_keys)};

static const struct cfg_key agent_keys[] = {
    {"max_steps", CT_INT, offsetof(struct config_agent, max_steps), 0, NULL, 1, 1000, "50", false,
     "model calls one agent turn may make before it stops (max_steps)"},
    {"approvals", CT_SECTION, offsetof(struct config_agent, approvals), 0, &approvals_table, 0, 0,
     NULL, false, "per tool category: auto, ask or deny"},
    {"sandbox", CT_SANDBOX, offsetof(struct config_agent, sandbox), 0, NULL, 0, 0, "landlock",
     false,
     "landlock (commands write only in the workspace and the temporary directory, where "
     "the kernel has Landlock) or off"},
    {"command_timeout_s", CT_INT, offsetof(struct config_agent, command_timeout_s), 0, NULL, 1,
     86400, "120", false, "seconds a command may run before its process group is killed"},
    {"approval_timeout_s", CT_INT, offsetof(struct config_agent, approval_timeout_s), 0, NULL, 1,
     604800, "600", false, "seconds a turn waits for an approval before it stops (needs_user)"},
};
static const struct cfg_table agent_table = {agent_keys, KEY_COUNT(agent_keys)};

static const struct cfg_key root_keys[] = {
    {"daemon", CT_SECTION, offsetof(struct config, daemon), 0, &daemon_table, 0, 0, NULL, false,
     "the daemon itself"},
    {"providers", CT_PROVIDER_SEQ, offsetof(struct config, providers),
     offsetof(struct config, n_providers), &provider_table, 0, 0, NULL, false,
     "model servers; default: ollama and lmstudio on their usual ports"},
    {"models", CT_MODEL_MAP, offsetof(struct config, models), offsetof(struct config, n_models),
     &model_table, 0, 0, NULL, false, "aliases: name -> provider(s), model, context"},
    {"defaults", CT_SECTION, offsetof(struct config, defaults), 0, &defaults_table, 0, 0, NULL,
     false, "defaults for requests that do not say"},
    {"agent", CT_SECTION, offsetof(struct config, agent), 0, &agent_table, 0, 0, NULL, false,
     "the coding agent: steps, approvals, the command sandbox"},
};
static const struct cfg_table root_table = {root_keys, KEY_COUNT(root_keys)};

static const char *const provider_type_names[] = {
    [PROVIDER_OLLAMA] = "ollama",
    [PROVIDER_LMSTUDIO] = "lmstudio",
    [PROVIDER_OPENAI] = "openai",
};

static const char *const approval_policy_names[] = {
    [APPROVAL_AUTO] = "auto",
    [APPROVAL_ASK] = "ask",
    [APPROVAL_DENY] = "deny",
};

static const char *const approval_category_names[] = {
    [APPROVAL_READ] = "read",
    [APPROVAL_EDIT] = "edit",
    [APPROVAL_COMMAND] = "command",
};

/* Index 0 is false: agent.sandbox is a bool underneath. */
static const char *const sandbox_names[] = {"off", "landlock"};

static const char *const model_tools_names[] = {
    [MODEL_TOOLS_AUTO] = "auto",
    [MODEL_TOOLS_NATIVE] = "native",
    [MODEL_TOOLS_TEXT] = "text",
};

static const struct {
    const char *name;
    enum provider_type type;
    const char *base_url;
} builtin_providers[] = {
    {"ollama", PROVIDER_OLLAMA, "http://127.0.0.1:11434"},
    {"lmstudio", PROVIDER_LMSTUDIO, "http://127.0.0.1:1234"},
};

/* Where a key was seen, so checks made after parsing can point at it. */
struct mark {
    char *path;
    size_t line, column;
};

struct loader {
    const char *file;
    yaml_document_t *doc;
    struct cerr *err;
    struct mark *marks;
    size_t n_marks;
};

static int apply_defaults(struct loader *ld, const struct cfg_table *t, void *base);
static int load_table(struct loader *ld, const struct cfg_table *t, void *base,
                      yaml_node_t *map, const char *prefix);
static void free_table(const struct cfg_table *t, void *base);
static int validate(struct loader *ld, struct config *cfg);

char *
config_find(const char *explicit_path)
{
    if (explicit_path != NULL)
        return xstrdup(explicit_path);
    const char *env = getenv("CARETI_CONFIG");
    if (env != NULL && *env != '\0')
        return xstrdup(env);
    struct stat st;
    char *user = path_expand("${XDG_CONFIG_HOME}/careti/caretid.yaml", NULL);
    if (user != NULL && stat(user, &st) == 0)
        return user;
    free(user);
    if (stat("/etc/careti/caretid.yaml", &st) == 0)
        return xstrdup("/etc/careti/caretid.yaml");
    return NULL;
}

/* Report an error at NODE (may be NULL) in the "file:line:col: key: problem" shape. */
static int
fail_at(struct loader *ld, yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail_at(struct loader *ld, yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char problem[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (node != NULL)
        return cerr_set(ld->err, -EINVAL, 400, "%s:%zu:%zu: %s: %s", ld->file,
                        node->start_mark.line + 1, node->start_mark.column + 1, key, problem);
    return cerr_set(ld->err, -EINVAL, 400, "%s: %s: %s", ld->file, key, problem);
}

static int
fail_at_mark(struct loader *ld, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_at_mark(struct loader *ld, const char *key, const char *fmt, ...)
{
    char problem[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < ld->n_marks; i++)
        if (strcmp(ld->marks[i].path, key) == 0)
            return cerr_set(ld->err, -EINVAL, 400, "%s:%zu:%zu: %s: %s", ld->file,
                            ld->marks[i].line, ld->marks[i].column, key, problem);
    return cerr_set(ld->err, -EINVAL, 400, "%s: %s: %s", ld->file, key, problem);
}

/* snprintf for dotted key names; a name cut at the buffer's end is still
 * a usable pointer into the file, so truncation is accepted here. */
static void
key_path(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
key_path(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

static void
remember(struct loader *ld, const char *path, yaml_node_t *node)
{
    ld->marks = xrealloc(ld->marks, (ld->n_marks + 1) * sizeof *ld->marks);
    ld->marks[ld->n_marks].path = xstrdup(path);
    ld->marks[ld->n_marks].line = node->start_mark.line + 1;
    ld->marks[ld->n_marks].column = node->start_mark.column + 1;
    ld->n_marks++;
}

static const char *
nearest_key(const struct cfg_table *t, const char *word)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < t->n; i++) {
        size_t d = strdist(word, t->keys[i].name);
        if (d < best_d) {
            best_d = d;
            best = t->keys[i].name;
        }
    }
    size_t limit = strlen(word) / 3 > 2 ? strlen(word) / 3 : 2;
    return best_d <= limit ? best : NULL;
}

static bool
scalar_is_plain(yaml_node_t *node)
{
    return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *
scalar_text(yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

static bool
parse_long(const char *s, long *out)
{
    if (*s == '\0')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool
parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "on"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "off"};
    for (size_t i = 0; i < KEY_COUNT(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* The names a word-valued key takes, by its type: index i is the value i. */
struct enum_type {
    const char *const *names;
    size_t n;
};

static const struct enum_type enum_types[] = {
    [CT_PROVIDER_TYPE] = {provider_type_names, KEY_COUNT(provider_type_names)},
    [CT_POLICY] = {approval_policy_names, KEY_COUNT(approval_policy_names)},
    [CT_SANDBOX] = {sandbox_names, KEY_COUNT(sandbox_names)},
    [CT_MODEL_TOOLS] = {model_tools_names, KEY_COUNT(model_tools_names)},
};

static void
enum_store(enum cfg_type type, void *field, size_t i)
{
    if (type == CT_PROVIDER_TYPE)
        *(enum provider_type *)field = (enum provider_type)i;
    else if (type == CT_POLICY)
        *(enum approval_policy *)field = (enum approval_policy)i;
    else if (type == CT_SANDBOX)
        *(bool *)field = i != 0;
    else
        *(enum model_tools *)field = (enum model_tools)i;
}

static size_t
enum_load(enum cfg_type type, const void *field)
{
    const enum provider_type *pt = field;
    const enum approval_policy *ap = field;
    const enum model_tools *mt = field;
    if (type == CT_PROVIDER_TYPE)
        return (size_t)*pt;
    if (type == CT_POLICY)
        return (size_t)*ap;
    if (type == CT_SANDBOX)
        return *(const bool *)field ? 1 : 0;
    return (size_t)*mt;
}

/* "a, b or c" into OUT. */
static void
enum_accepted(const struct enum_type *e, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < e->n && used < outlen; i++) {
        const char *sep = i == 0 ? "" : i + 1 == e->n ? " or " : ", ";
        int w = snprintf(out + used, outlen - used, "%s%s", sep, e->names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/*
 * Set a scalar-typed field from TEXT.  NODE is NULL when TEXT is a table
 * default; PLAIN says whether YAML quoting was absent (numbers and
 * booleans must be plain, as YAML types them).
 */
static int
set_scalar(struct loader *ld, const struct cfg_key *k, void *field, const char *text, bool plain,
           yaml_node_t *node, const char *path)
{
    switch (k->type) {
    case CT_STRING:
    case CT_SECRET: {
        char **s = field;
        free(*s);
        *s = xstrdup(plain && (strcmp(text, "~") == 0 || strcmp(text, "null") == 0) ? "" : text);
        return 0;
    }
    case CT_PATH: {
        struct cerr perr;
        char *expanded = path_expand(text, &perr);
        if (expanded == NULL)
            return fail_at(ld, node, path, "%s", perr.msg);
        /* Empty is "not set" for a path whose default is empty (ca_file);
         * for the others it is a mistake. */
        bool may_be_empty = k->def != NULL && k->def[0] == '"';
        if (*expanded == '\0' && !may_be_empty) {
            free(expanded);
            return fail_at(ld, node, path, "empty path");
        }
        char **s = field;
        free(*s);
        *s = expanded;
        return 0;
    }
    case CT_INT: {
        long v;
        if (!plain || !parse_long(text, &v) || v < k->min || v > k->max)
            return fail_at(ld, node, path, "expected an integer from %ld to %ld, got \"%s\"",
                           k->min, k->max, text);
        *(long *)field = v;
        return 0;
    }
    case CT_BOOL:
        if (!plain || !parse_bool(text, field))
            return fail_at(ld, node, path, "expected true or false, got \"%s\"", text);
        return 0;
    case CT_LOG_LEVEL:
        if (log_level_parse(text, field) != 0)
            return fail_at(ld, node, path,
                           "expected error, warn, info or debug, got \"%s\"", text);
        return 0;
    case CT_PROVIDER_TYPE:
    case CT_POLICY:
    case CT_SANDBOX:
    case CT_MODEL_TOOLS: {
        const struct enum_type *e = &enum_types[k->type];
        for (size_t i = 0; i < e->n; i++) {
            if (strcmp(text, e->names[i]) == 0) {
                enum_store(k->type, field, i);
                return 0;
            }
        }
        char accepted[128];
        enum_accepted(e, accepted, sizeof accepted);
        return fail_at(ld, node, path, "expected %s, got \"%s\"", accepted, text);
    }
    case CT_STRLIST: {
        char ***list = field;
        size_t *count = (size_t *)((char *)field - k->offset + k->count_offset);
        for (size_t i = 0; i < *count; i++)
            free((*list)[i]);
        free(*list);
        *list = NULL;
        *count = 0;
        if (plain && strcmp(text, "[]") == 0)
            return 0;
        *list = xmalloc(sizeof **list);
        (*list)[0] = xstrdup(text);
        *count = 1;
        return 0;
    }
    case CT_SECTION:
    case CT_PROVIDER_SEQ:
    case CT_MODEL_MAP:
    case CT_JSON_OBJECT:
        return fail_at(ld, node, path, "expected a mapping, not a single value");
    }
    return 0;
}

static json_t *
yaml_to_json(struct loader *ld, yaml_node_t *node, int depth)
{
    if (depth > 32)
        return NULL;
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        const char *s = scalar_text(node);
        if (!scalar_is_plain(node))
            return json_string(s);
        long l;
        bool b;
        if (parse_long(s, &l))
            return json_integer(l);
        if (parse_bool(s, &b))
            return json_boolean(b);
        if (strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || *s == '\0')
            return json_null();
        char *end;
        double d = strtod(s, &end);
        if (end != s && *end == '\0')
            return json_real(d);
        return json_string(s);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *v = yaml_to_json(ld, yaml_document_get_node(ld->doc, *it), depth + 1);
            if (v == NULL) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        json_t *obj = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
             p < node->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
            json_t *v = yaml_to_json(ld, yaml_document_get_node(ld->doc, p->value), depth + 1);
            if (kn->type != YAML_SCALAR_NODE || v == NULL) {
                json_decref(v);
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, scalar_text(kn), v);
        }
        return obj;
    }
    case YAML_NO_NODE:
        break;
    }
    return NULL;
}

static int
load_strlist(struct loader *ld, const struct cfg_key *k, void *field, yaml_node_t *node,
             const char *path)
{
    if (node->type == YAML_SCALAR_NODE)
        return set_scalar(ld, k, field, scalar_text(node), false, node, path);
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, node, path, "expected a list of strings");
    char ***list = field;
    size_t *count = (size_t *)((char *)field - k->offset + k->count_offset);
    set_scalar(ld, k, field, "[]", true, node, path);
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    *list = xcalloc(n, sizeof **list);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE) {
            char ipath[256];
            key_path(ipath, sizeof ipath, "%s[%zu]", path, i);
            return fail_at(ld, item, ipath, "expected a string");
        }
        (*list)[i] = xstrdup(scalar_text(item));
        *count = i + 1;
    }
    return 0;
}

static int
load_provider_seq(struct loader *ld, const struct cfg_key *k, void *field, yaml_node_t *node,
                  const char *path)
{
    struct config_provider **arr = field;
    size_t *count = (size_t *)((char *)field - k->offset + k->count_offset);
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, node, path, "expected a list of providers (- name: ...)");
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    *arr = xcalloc(n, sizeof **arr);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]);
        char ipath[64];
        key_path(ipath, sizeof ipath, "%s[%zu]", path, i);
        *count = i + 1;
        int rc = apply_defaults(ld, k->sub, &(*arr)[i]);
        if (rc == 0)
            rc = load_table(ld, k->sub, &(*arr)[i], item, ipath);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
load_model_map(struct loader *ld, const struct cfg_key *k, void *field, yaml_node_t *node,
               const char *path)
{
    struct config_model **arr = field;
    size_t *count = (size_t *)((char *)field - k->offset + k->count_offset);
    if (node->type != YAML_MAPPING_NODE)
        return fail_at(ld, node, path, "expected a mapping of alias: {provider, model}");
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    *arr = xcalloc(n, sizeof **arr);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, p->value);
        if (kn->type != YAML_SCALAR_NODE || *scalar_text(kn) == '\0')
            return fail_at(ld, kn, path, "model aliases must be non-empty names");
        for (size_t j = 0; j < i; j++)
            if (strcmp((*arr)[j].alias, scalar_text(kn)) == 0)
                return fail_at(ld, kn, path, "alias \"%s\" is defined twice", scalar_text(kn));
        char apath[256];
        key_path(apath, sizeof apath, "%s.%s", path, scalar_text(kn));
        *count = i + 1;
        (*arr)[i].alias = xstrdup(scalar_text(kn));
        int rc = apply_defaults(ld, k->sub, &(*arr)[i]);
        if (rc == 0)
            rc = load_table(ld, k->sub, &(*arr)[i], vn, apath);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
load_value(struct loader *ld, const struct cfg_key *k, void *field, yaml_node_t *node,
           const char *path)
{
    switch (k->type) {
    case CT_STRING:
    case CT_SECRET:
    case CT_PATH:
    case CT_INT:
    case CT_BOOL:
    case CT_LOG_LEVEL:
    case CT_PROVIDER_TYPE:
    case CT_POLICY:
    case CT_SANDBOX:
    case CT_MODEL_TOOLS:
        if (node->type != YAML_SCALAR_NODE)
            return fail_at(ld, node, path, "expected a single value, not a %s",
                           node->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return set_scalar(ld, k, field, scalar_text(node), scalar_is_plain(node), node, path);
    case CT_STRLIST:
        return load_strlist(ld, k, field, node, path);
    case CT_SECTION:
        return load_table(ld, k->sub, field, node, path);
    case CT_PROVIDER_SEQ:
        return load_provider_seq(ld, k, field, node, path);
    case CT_MODEL_MAP:
        return load_model_map(ld, k, field, node, path);
    case CT_JSON_OBJECT: {
        if (node->type != YAML_MAPPING_NODE)
            return fail_at(ld, node, path, "expected a mapping of option: value");
        json_t **obj = field;
        json_decref(*obj);
        *obj = yaml_to_json(ld, node, 0);
        if (*obj == NULL)
            return fail_at(ld, node, path, "options must be plain values, lists or mappings");
        return 0;
    }
    }
    return 0;
}

static int
load_table(struct loader *ld, const struct cfg_table *t, void *base, yaml_node_t *map,
           const char *prefix)
{
    if (map->type == YAML_SCALAR_NODE && scalar_is_plain(map) && *scalar_text(map) == '\0')
        map = NULL; /* "daemon:" with nothing under it */
    if (map != NULL && map->type != YAML_MAPPING_NODE)
        return fail_at(ld, map, *prefix ? prefix : "(top level)", "expected a mapping of keys");
    uint64_t seen = 0;
    for (yaml_node_pair_t *p = map ? map->data.mapping.pairs.start : NULL;
         map != NULL && p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return fail_at(ld, kn, *prefix ? prefix : "(top level)", "keys must be plain names");
        const char *name = scalar_text(kn);
        char path[256];
        key_path(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        size_t i;
        for (i = 0; i < t->n; i++)
            if (strcmp(t->keys[i].name, name) == 0)
                break;
        if (i == t->n) {
            const char *near = nearest_key(t, name);
            if (near != NULL)
                return fail_at(ld, kn, path, "unknown key; did you mean \"%s\"?", near);
            return fail_at(ld, kn, path, "unknown key");
        }
        if (seen & (UINT64_C(1) << i))
            return fail_at(ld, kn, path, "key given twice");
        seen |= UINT64_C(1) << i;
        remember(ld, path, kn);
        int rc = load_value(ld, &t->keys[i], (char *)base + t->keys[i].offset, vn, path);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->keys[i].required && !(seen & (UINT64_C(1) << i))) {
            char path[256];
            key_path(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", t->keys[i].name);
            return fail_at(ld, map, path, "required key is missing (%s)", t->keys[i].help);
        }
    }
    return 0;
}

static int
apply_defaults(struct loader *ld, const struct cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_key *k = &t->keys[i];
        void *field = (char *)base + k->offset;
        int rc = 0;
        if (k->type == CT_SECTION)
            rc = apply_defaults(ld, k->sub, field);
        else if (k->def != NULL)
            rc = set_scalar(ld, k, field, k->def[0] == '"' ? "" : k->def, k->def[0] != '"',
                            NULL, k->name);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void
free_table(const struct cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_key *k = &t->keys[i];
        void *field = (char *)base + k->offset;
        switch (k->type) {
        case CT_STRING:
        case CT_SECRET:
        case CT_PATH:
            free(*(char **)field);
            break;
        case CT_INT:
        case CT_BOOL:
        case CT_LOG_LEVEL:
        case CT_PROVIDER_TYPE:
        case CT_POLICY:
        case CT_SANDBOX:
        case CT_MODEL_TOOLS:
            break;
        case CT_STRLIST: {
            char **list = *(char ***)field;
            size_t n = *(size_t *)((char *)base + k->count_offset);
            for (size_t j = 0; j < n; j++)
                free(list[j]);
            free(list);
            break;
        }
        case CT_SECTION:
            free_table(k->sub, field);
            break;
        case CT_PROVIDER_SEQ: {
            struct config_provider *arr = *(struct config_provider **)field;
            size_t n = *(size_t *)((char *)base + k->count_offset);
            for (size_t j = 0; j < n; j++)
                free_table(k->sub, &arr[j]);
            free(arr);
            break;
        }
        case CT_MODEL_MAP: {
            struct config_model *arr = *(struct config_model **)field;
            size_t n = *(size_t *)((char *)base + k->count_offset);
            for (size_t j = 0; j < n; j++) {
                free(arr[j].alias);
                free_table(k->sub, &arr[j]);
            }
            free(arr);
            break;
        }
        case CT_JSON_OBJECT:
            json_decref(*(json_t **)field);
            break;
        }
    }
}

static void
add_builtin_providers(struct config *cfg)
{
    struct loader quiet = {.file = "(built-in)"};
    size_t n = KEY_COUNT(builtin_providers);
    cfg->providers = xcalloc(n, sizeof *cfg->providers);
    for (size_t i = 0; i < n; i++) {
        struct config_provider *p = &cfg->providers[i];
        apply_defaults(&quiet, &provider_table, p);
        p->name = xstrdup(builtin_providers[i].name);
        p->type = builtin_providers[i].type;
        p->base_url = xstrdup(builtin_providers[i].base_url);
        cfg->n_providers = i + 1;
    }
}

struct config *
config_load(const char *path, struct cerr *err)
{
    struct config *cfg = xcalloc(1, sizeof *cfg);
    struct loader ld = {.file = path ? path : "(built-in defaults)", .err = err};
    yaml_parser_t parser;
    yaml_document_t doc;
    bool parser_ready = false, doc_ready = false;
    FILE *f = NULL;
    int rc;

    if (apply_defaults(&ld, &root_table, cfg) != 0)
        goto fail;
    if (path != NULL) {
        cfg->path = xstrdup(path);
        f = fopen(path, "rb");
        if (f == NULL) {
            cerr_set(err, -errno, 400, "%s: cannot read the config file (%s)", path,
                     strerror(errno));
            goto fail;
        }
        if (!yaml_parser_initialize(&parser)) {
            cerr_set(err, -ENOMEM, 500, "%s: cannot initialise the YAML parser", path);
            goto fail;
        }
        parser_ready = true;
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &doc)) {
            cerr_set(err, -EINVAL, 400, "%s:%zu:%zu: YAML syntax error: %s%s%s", path,
                     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "invalid document",
                     parser.context ? " " : "", parser.context ? parser.context : "");
            goto fail;
        }
        doc_ready = true;
        ld.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root != NULL && load_table(&ld, &root_table, cfg, root, "") != 0)
            goto fail;
    }
    bool providers_given = false;
    for (size_t i = 0; i < ld.n_marks; i++)
        if (strcmp(ld.marks[i].path, "providers") == 0)
            providers_given = true;
    if (!providers_given)
        add_builtin_providers(cfg);
    if (validate(&ld, cfg) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    rc = -1;
out:
    if (doc_ready)
        yaml_document_delete(&doc);
    if (parser_ready)
        yaml_parser_delete(&parser);
    if (f != NULL)
        fclose(f);
    for (size_t i = 0; i < ld.n_marks; i++)
        free(ld.marks[i].path);
    free(ld.marks);
    if (rc != 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

int
config_listen_parse(const char *spec, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = spec;
    size_t hl;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':')
            return -EINVAL;
        h = spec + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)) != NULL)
            return -EINVAL;
        hl = (size_t)(colon - spec);
    }
    long p;
    if (hl == 0 || hl >= hostlen || !parse_long(colon + 1, &p) || p < 0 || p > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

bool
config_host_is_loopback(const char *host)
{
    unsigned char addr[16];
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, addr) == 1)
        return addr[0] == 127;
    if (inet_pton(AF_INET6, host, addr) == 1) {
        static const unsigned char v6_loopback[16] = {[15] = 1};
        return memcmp(addr, v6_loopback, 16) == 0;
    }
    return false;
}

bool
config_token_is_off(const char *token)
{
    return token != NULL && strcmp(token, "off") == 0;
}

static int
validate(struct loader *ld, struct config *cfg)
{
    struct config_daemon *d = &cfg->daemon;
    if (d->allow_remote && (*d->auth_token == '\0' || config_token_is_off(d->auth_token)))
        return fail_at_mark(ld, "daemon.allow_remote",
                            "allow_remote needs daemon.auth_token set, so that remote clients "
                            "must authenticate");
    for (size_t i = 0; i < d->n_listen; i++) {
        char host[256];
        int port;
        if (config_listen_parse(d->listen[i], host, sizeof host, &port) != 0)
            return fail_at_mark(ld, "daemon.listen",
                                "\"%s\" is not host:port (e.g. 127.0.0.1:11435 or [::1]:11435)",
                                d->listen[i]);
        if (!config_host_is_loopback(host) && !d->allow_remote)
            return fail_at_mark(ld, "daemon.listen",
                                "\"%s\" is not a loopback address; set daemon.allow_remote: true "
                                "and daemon.auth_token to listen beyond this machine",
                                d->listen[i]);
    }
    for (size_t i = 0; i < cfg->n_providers; i++) {
        struct config_provider *p = &cfg->providers[i];
        char key[64];
        key_path(key, sizeof key, "providers[%zu].name", i);
        if (*p->name == '\0' || strchr(p->name, '@') != NULL || strchr(p->name, '/') != NULL)
            return fail_at_mark(ld, key, "provider names must be non-empty, without @ or /");
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->providers[j].name, p->name) == 0)
                return fail_at_mark(ld, key, "provider \"%s\" is defined twice", p->name);
        key_path(key, sizeof key, "providers[%zu].base_url", i);
        if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0)
            return fail_at_mark(ld, key, "\"%s\" must start with http:// or https://",
                                p->base_url);
        const char *authority = strstr(p->base_url, "://") + 3;
        if (memchr(authority, '@', strcspn(authority, "/?#")) != NULL)
            return fail_at_mark(ld, key,
                                "a user name or password in base_url is not supported; put the "
                                "server's key in api_key");
        key_path(key, sizeof key, "providers[%zu].ca_file", i);
        if (*p->ca_file != '\0' && access(p->ca_file, R_OK) != 0)
            return fail_at_mark(ld, key, "cannot read %s: %s", p->ca_file, strerror(errno));
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        struct config_model *m = &cfg->models[i];
        char key[256];
        key_path(key, sizeof key, "models.%s.provider", m->alias);
        if (m->n_providers == 0)
            return fail_at_mark(ld, key, "name at least one provider");
        for (size_t j = 0; j < m->n_providers; j++)
            if (config_provider_find(cfg, m->providers[j]) == NULL)
                return fail_at_mark(ld, key, "no provider is named \"%s\" under providers:",
                                    m->providers[j]);
        key_path(key, sizeof key, "models.%s.model", m->alias);
        if (*m->model == '\0')
            return fail_at_mark(ld, key, "the model name is empty");
    }
    return 0;
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free_table(&root_table, cfg);
    free(cfg->path);
    free(cfg);
}

const struct config_provider *
config_provider_find(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strcmp(cfg->providers[i].name, name) == 0)
            return &cfg->providers[i];
    return NULL;
}

const char *
config_provider_type_name(enum provider_type type)
{
    return provider_type_names[type];
}

const char *
config_approval_policy_name(enum approval_policy p)
{
    return approval_policy_names[p];
}

int
config_approval_policy_parse(const char *s)
{
    for (size_t i = 0; s != NULL && i < KEY_COUNT(approval_policy_names); i++)
        if (strcmp(s, approval_policy_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *
config_approval_category_name(enum approval_category c)
{
    return approval_category_names[c];
}

const char *
config_model_tools_name(enum model_tools t)
{
    return model_tools_names[t];
}

static void
dump_string(FILE *out, const char *s)
{
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(text ? text : "\"\"", out);
    free(text);
    json_decref(j);
}

static void dump_table(const struct cfg_table *t, const void *base, FILE *out, int indent,
                       bool first_inline);

static void
dump_value(const struct cfg_key *k, const void *base, FILE *out, int indent)
{
    const void *field = (const char *)base + k->offset;
    switch (k->type) {
    case CT_STRING:
    case CT_PATH:
        fputc(' ', out);
        dump_string(out, *(char *const *)field);
        fputc('\n', out);
        break;
    case CT_SECRET:
        fputs(**(char *const *)field ? " \"<redacted>\"\n" : " \"\"\n", out);
        break;
    case CT_INT:
        fprintf(out, " %ld\n", *(const long *)field);
        break;
    case CT_BOOL:
        fprintf(out, " %s\n", *(const bool *)field ? "true" : "false");
        break;
    case CT_LOG_LEVEL:
        fprintf(out, " %s\n", log_level_name(*(const enum log_level *)field));
        break;
    case CT_PROVIDER_TYPE:
    case CT_POLICY:
    case CT_SANDBOX:
    case CT_MODEL_TOOLS:
        fprintf(out, " %s\n", enum_types[k->type].names[enum_load(k->type, field)]);
        break;
    case CT_STRLIST: {
        char *const *list = *(char **const *)field;
        size_t n = *(const size_t *)((const char *)base + k->count_offset);
        fputs(" [", out);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ", " : "", out);
            dump_string(out, list[i]);
        }
        fputs("]\n", out);
        break;
    }
    case CT_SECTION:
        fputc('\n', out);
        dump_table(k->sub, field, out, indent + 2, false);
        break;
    case CT_PROVIDER_SEQ: {
        const struct config_provider *arr = *(struct config_provider *const *)field;
        size_t n = *(const size_t *)((const char *)base + k->count_offset);
        fputs(n ? "\n" : " []\n", out);
        for (size_t i = 0; i < n; i++) {
            fprintf(out, "%*s- ", indent + 2, "");
            dump_table(k->sub, &arr[i], out, indent + 4, true);
        }
        break;
    }
    case CT_MODEL_MAP: {
        const struct config_model *arr = *(struct config_model *const *)field;
        size_t n = *(const size_t *)((const char *)base + k->count_offset);
        fputs(n ? "\n" : " {}\n", out);
        for (size_t i = 0; i < n; i++) {
            fprintf(out, "%*s", indent + 2, "");
            dump_string(out, arr[i].alias);
            fputs(":\n", out);
            dump_table(k->sub, &arr[i], out, indent + 4, false);
        }
        break;
    }
    case CT_JSON_OBJECT: {
        json_t *obj = *(json_t *const *)field;
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        fprintf(out, " %s\n", text ? text : "{}");
        free(text);
        break;
    }
    }
}

static void
dump_table(const struct cfg_table *t, const void *base, FILE *out, int indent, bool first_inline)
{
    for (size_t i = 0; i < t->n; i++) {
        if (!(first_inline && i == 0))
            fprintf(out, "%*s", indent, "");
        fprintf(out, "%s:", t->keys[i].name);
        dump_value(&t->keys[i], base, out, indent);
    }
}

void
config_dump(const struct config *cfg, FILE *out)
{
    fprintf(out, "# effective configuration from %s\n",
            cfg->path ? cfg->path : "built-in defaults");
    dump_table(&root_table, cfg, out, 0, false);
}

static void
each_key(const struct cfg_table *t, const char *prefix,
         void (*fn)(const char *dotted, void *arg), void *arg)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_key *k = &t->keys[i];
        char dotted[128];
        key_path(dotted, sizeof dotted, "%s%s%s", prefix, *prefix ? "." : "", k->name);
        fn(dotted, arg);
        if (k->type == CT_SECTION) {
            each_key(k->sub, dotted, fn, arg);
        } else if (k->type == CT_PROVIDER_SEQ) {
            key_path(dotted, sizeof dotted, "%s%s%s[]", prefix, *prefix ? "." : "", k->name);
            each_key(k->sub, dotted, fn, arg);
        } else if (k->type == CT_MODEL_MAP) {
            key_path(dotted, sizeof dotted, "%s%s%s.*", prefix, *prefix ? "." : "", k->name);
            each_key(k->sub, dotted, fn, arg);
        }
    }
}

void
config_each_key(void (*fn)(const char *dotted, void *arg), void *arg)
{
    each_key(&root_table, "", fn, arg);
}
