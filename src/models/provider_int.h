/*
 * provider_int: what differs between the kinds of model server (Ollama,
 * LM Studio, other OpenAI-compatible servers such as llama.cpp's), as one
 * table of operations per kind.  Each kind's table and quirks live in
 * src/models/provider_<kind>.c; provider.c dispatches through the table
 * and never tests a kind itself.  Shared by the provider files only.
 */
#ifndef CARETI_PROVIDER_INT_H
#define CARETI_PROVIDER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "careti/wire/translate.h"

/* Adds a kind's own fields of catalogue entry M to the normalised E. */
typedef void (*provider_entry_fn)(json_t *e, const json_t *m);

struct provider_kind {
    enum wire wire; /* the dialect its chat routes speak */
    /* The model list, and the route tried when that one answers 200
     * with something that is not a list (NULL: none). */
    const char *catalogue_path;
    const char *catalogue_fallback;
    /* A new array of {"name","provider",...} from the catalogue BODY
     * of the server called PROVIDER; never NULL. */
    json_t *(*normalise)(const char *provider, const json_t *body);
    bool implies_latest;      /* "name" means "name:latest" */
    bool takes_num_ctx;       /* the window is set per request, not at load */
    bool can_pull;            /* answers /api/pull */
    bool has_ps;              /* answers /api/ps */
    bool can_fetch;           /* fetches a model by name with a command of its own */
    bool rejects_json_object; /* refuses response_format {"type":"json_object"} */
    const char *label;        /* for a person: "LM Studio" */
    const char *version_path; /* the server's version route, or NULL */
    /* How to start the server: ends "refused the connection: START, or
     * base_url fixed", and the doctor's fix for a server that is down. */
    const char *start;
    const char *start_fix;
    /* The models directory under $HOME, or NULL when the server keeps
     * them where caretid cannot tell; MODELS_ENV overrides it if set. */
    const char *models_home_dir;
    const char *models_env;
    /* Write how to get MODEL onto the server called PROVIDER. */
    void (*fetch_hint)(const char *provider, const char *model, char *out, size_t outlen);
    /* Write how to load MODEL with a window of WANT tokens; LOADED is
     * the window it has now (0: not loaded). */
    void (*load_hint)(const char *model, long want, long loaded, char *out, size_t outlen);
    /* Whether a model takes tools natively, when its catalogue entry
     * does not say ("tools" set by normalise): the route that asks
     * (NULL: none; with TOOLS_PROBE_POST a POST of {"model": name}, else
     * a GET) and what its answer BODY says (true: native). */
    const char *tools_probe_path;
    bool tools_probe_post;
    bool (*tools_from_probe)(const json_t *body);
};

extern const struct provider_kind provider_kind_ollama;
extern const struct provider_kind provider_kind_lmstudio;
extern const struct provider_kind provider_kind_openai;

/* Whether the JSON array CAPS has the string WORD; false when CAPS is
 * not an array. */
bool provider_caps_have(const json_t *caps, const char *word);
/* Mark catalogue entry E as taking tools natively or not ("tools":
 * "native" or "text"), as its server said. */
void provider_entry_set_tools(json_t *e, bool native);

/* The entries of an OpenAI-style {"data":[{"id":...}]} list as
 * {"name","provider"} plus what EXTRA adds from each; a new array. */
json_t *provider_openai_list(const char *provider, const json_t *body, provider_entry_fn extra);

#endif
