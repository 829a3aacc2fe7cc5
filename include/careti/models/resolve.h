/*
 * Model-name resolution: which provider(s) serve the model a client
 * named, under which name, with which context length and options.  Pure:
 * works on the config and on catalogue snapshots, so it is unit-tested
 * without servers.
 */
#ifndef CARETI_RESOLVE_H
#define CARETI_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "careti/config/config.h"

#define RESOLVE_MAX_CANDIDATES 8

/* What the resolver may look at for one provider. */
struct catalogue_view {
    const char *provider;
    enum provider_type type;
    const json_t *models; /* entries with a "name" */
    bool reachable;
    /* The catalogue lists every model the server can serve (Ollama, LM
     * Studio), so a name missing from it is missing; false for servers
     * that answer any name with what they loaded (llama.cpp). */
    bool complete;
};

struct resolve_candidate {
    char provider[64];
    char model[256];
};

struct resolution {
    struct resolve_candidate cand[RESOLVE_MAX_CANDIDATES];
    size_t n; /* tried in order: failover */
    long context_length;
    const json_t *options; /* the alias's options, borrowed from the config */
    char name[256];        /* the name the client sees */
    enum model_tools tools; /* the alias's models.<alias>.tools; AUTO for any other name */
    /* Whether an agent sends its tools' schemas in the request's own
     * field (OpenAI tools, Ollama tools) rather than in the prompt: the
     * alias's tools when native or text, else what every candidate's
     * server says (lookup_model decides it; resolve_model leaves it
     * false unless the alias says native). */
    bool native_tools;
    bool alias;            /* NAME is a config alias; cand[] are its targets, also on NOT_FOUND */
    bool is_default;       /* NAME is defaults.model, named or implied */
    bool near_miss;        /* NOT_FOUND: NAME is a typo of an installed name or alias */
};

enum resolve_result {
    RESOLVE_OK,
    RESOLVE_NOT_FOUND,   /* 404: SUGGEST lists close names */
    RESOLVE_UNREACHABLE, /* no provider that could have it answered */
    RESOLVE_BAD_PROVIDER /* name@provider with an unknown provider */
};

/*
 * Resolve NAME (NULL or "" means defaults.model): a config alias first,
 * then NAME@PROVIDER, then the first provider whose catalogue has it
 * (":latest" implied for Ollama names without a tag).  An alias is
 * NOT_FOUND when every server it names is reachable, has a complete
 * catalogue and lacks its model.  On NOT_FOUND, SUGGEST gets up to three
 * closest names, comma-separated, each as "name (provider)" or, for an
 * alias of the config, "name (alias)".
 */
enum resolve_result resolve_model(const struct config *cfg, const char *name,
                                  const struct catalogue_view *views, size_t n_views,
                                  struct resolution *out, char *suggest, size_t suggest_len);

#endif
