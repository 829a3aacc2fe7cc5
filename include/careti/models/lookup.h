/*
 * Finding the model a client names: the alias or name resolved against
 * the config and the providers' catalogues, made fresh when stale, with
 * refusals worded for a person.  Shared by the model routes, the session
 * turns and the doctor.
 */
#ifndef CARETI_LOOKUP_H
#define CARETI_LOOKUP_H

#include "careti/config/config.h"
#include "careti/models/provider.h"
#include "careti/models/resolve.h"

struct lookup;

/* A lookup over PROVIDERS, which must outlive it.  Never NULL; free with
 * lookup_free() (NULL allowed) once no lookup is waiting. */
struct lookup *lookup_new(struct providers *providers);
void lookup_free(struct lookup *l);

/* The config in force (borrowed; call again after every reload). */
void lookup_set_config(struct lookup *l, const struct config *cfg);

/* A model name was resolved: STATUS 0 and RES on success, else the HTTP
 * status (404, 502) and ERROR worded for a person.  RES is borrowed. */
typedef void (*lookup_cb)(int status, const struct resolution *res, const char *error, void *arg);

/* Resolve MODEL (NULL or "": defaults.model) against the config and the
 * catalogues, refreshing stale ones first and all of them once on a
 * miss.  RES->native_tools is decided too: for an alias with tools:
 * auto, or a name that is not an alias, the candidates' servers are
 * asked whether the model takes tools the first time (each answer is
 * kept with its catalogue), and a server that cannot say means text.
 * CB runs from the loop, possibly before this returns. */
void lookup_model(struct lookup *l, const char *model, lookup_cb cb, void *arg);

/* How an agent would offer tools to alias M now, from the config and
 * the answers kept so far, asking no server: "native", "text", or NULL
 * while a server has not been asked yet.  Static string. */
const char *lookup_alias_tools(struct lookup *l, const struct config_model *m);

/* The context window MODEL was loaded with on an OpenAI-compatible
 * PROVIDER, from its catalogue; 0 when unknown or for Ollama (which takes
 * num_ctx per request). */
long lookup_loaded_context(struct lookup *l, const char *provider, const char *model);

#endif
