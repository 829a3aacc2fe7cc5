/*
 * The daemon's configuration: a YAML file validated against one table of
 * keys (src/config/config.c), from which the loader, --check-config output and
 * the documentation's key list all come.  A struct config is immutable
 * once loaded; reload builds a new one and swaps it in whole.
 */
#ifndef CARETI_CONFIG_H
#define CARETI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "careti/core/cerr.h"
#include "careti/core/log.h"

enum provider_type { PROVIDER_OLLAMA, PROVIDER_LMSTUDIO, PROVIDER_OPENAI };

struct config_timeouts {
    long connect_s;
    long first_byte_s;
    long idle_s;
};

struct config_provider {
    char *name;
    enum provider_type type;
    char *base_url;
    char *api_key; /* secret: never logged or printed */
    char *ca_file; /* https: CA bundle trusted instead of the system's; "" = system */
    struct config_timeouts timeouts;
    long max_concurrent; /* 0 = unlimited */
    long max_queue;
};

/* models.<alias>.tools: how the agent offers its tools to the model. */
enum model_tools {
    MODEL_TOOLS_AUTO,   /* as the server says the model supports */
    MODEL_TOOLS_NATIVE, /* the API's tools field (OpenAI tools, Ollama tools) */
    MODEL_TOOLS_TEXT,   /* described in the prompt, parsed from the text */
};

struct config_model {
    char *alias;
    char **providers; /* tried in order (failover) */
    size_t n_providers;
    char *model;
    long context_length; /* 0 = use defaults.context_length */
    json_t *options;     /* object merged under the client's options, or NULL */
    enum model_tools tools;
};

struct config_daemon {
    char *socket;
    char **listen;
    size_t n_listen;
    bool allow_remote;
    char *auth_token; /* secret; "" means the generated one, "off" none */
    char **allowed_hosts;
    size_t n_allowed_hosts;
    char **allowed_origins;
    size_t n_allowed_origins;
    char *state_dir;
    enum log_level log_level;
    long max_body_bytes;
    long shutdown_grace_s;
    long header_timeout_s;
    long idle_timeout_s;
    long max_connections;
    long request_log_days; /* 0: never pruned */
};

struct config_defaults {
    char *model;
    long context_length;
    bool compact_prompt;
};

/* What an agent's tool call needs before it runs, per category. */
enum approval_category { APPROVAL_READ, APPROVAL_EDIT, APPROVAL_COMMAND, APPROVAL_CATEGORIES };
enum approval_policy { APPROVAL_AUTO, APPROVAL_ASK, APPROVAL_DENY };

struct config_agent {
    long max_steps; /* agent.max_steps: 1..1000, default 50 */
    /* agent.approvals.{read,edit,command}: auto|ask|deny; defaults auto, ask, ask */
    enum approval_policy approvals[APPROVAL_CATEGORIES];
    bool sandbox;            /* agent.sandbox: landlock (true, default) | off */
    long command_timeout_s;  /* agent.command_timeout_s: 1..86400, default 120 */
    long approval_timeout_s; /* agent.approval_timeout_s: 1..604800, default 600 */
};

struct config {
    char *path; /* file it came from; NULL for built-in defaults */
    struct config_daemon daemon;
    struct config_provider *providers;
    size_t n_providers;
    struct config_model *models;
    size_t n_models;
    struct config_defaults defaults;
    struct config_agent agent;
};

/*
 * Find the config file: EXPLICIT (from --config) if not NULL, then
 * $CARETI_CONFIG, $XDG_CONFIG_HOME/careti/caretid.yaml and
 * /etc/careti/caretid.yaml.  Returns a new path the caller frees, or NULL
 * when none exists (built-in defaults apply).  An explicit path is
 * returned even if missing so that loading it reports the error.
 */
char *config_find(const char *explicit_path);

/*
 * Load PATH (NULL: built-in defaults only) into a new config.  Returns
 * NULL with ERR holding "file:line:col: key: problem" on any error;
 * unknown keys are errors with a did-you-mean.  Reads the file and the
 * environment; safe to call off the loop thread.  Caller frees with
 * config_free().
 */
struct config *config_load(const char *path, struct cerr *err);

/* True when TOKEN (daemon.auth_token) turns the TCP token off. */
bool config_token_is_off(const char *token);

/* Free CFG; NULL is allowed. */
void config_free(struct config *cfg);

/* Write the effective configuration as YAML to OUT, secrets redacted. */
void config_dump(const struct config *cfg, FILE *out);

/* Look up a provider by name; NULL if absent.  Borrowed pointer. */
const struct config_provider *config_provider_find(const struct config *cfg, const char *name);

/* "ollama", "lmstudio" or "openai". */
const char *config_provider_type_name(enum provider_type type);

/* "auto", "ask" or "deny"; static.  Pure. */
const char *config_approval_policy_name(enum approval_policy p);
/* The policy named S ("auto", "ask", "deny"), or -1 for anything else
 * (NULL too).  Pure. */
int config_approval_policy_parse(const char *s);
/* "read", "edit" or "command"; static.  Pure. */
const char *config_approval_category_name(enum approval_category c);
/* "auto", "native" or "text"; static.  Pure. */
const char *config_model_tools_name(enum model_tools t);

/*
 * Split a listen address "host:port" or "[v6]:port" into HOST (NUL-ended,
 * HOSTLEN bytes at most) and *PORT (0-65535; 0 picks a free port).
 * Returns 0 or -EINVAL.  Pure.
 */
int config_listen_parse(const char *spec, char *host, size_t hostlen, int *port);

/* True when HOST is "localhost", in 127.0.0.0/8 or ::1.  Pure. */
bool config_host_is_loopback(const char *host);

/* Call FN for every key in the table with its dotted name ("daemon.socket",
 * "providers[].name", "models.*.model"); used by docs tests. */
void config_each_key(void (*fn)(const char *dotted, void *arg), void *arg);

#endif
