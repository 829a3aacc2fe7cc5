/*
 * The configured model servers: their URLs and credentials, a bounded
 * queue of requests per server, and each one's model catalogue, fetched
 * through upstream and cached.  Providers are refcounted so a request in
 * flight keeps its provider alive across a reload.
 */
#ifndef CARETI_PROVIDER_H
#define CARETI_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "careti/config/config.h"
#include "careti/upstream/upstream.h"
#include "careti/wire/translate.h"

struct providers;
struct provider;
struct provider_wait;

/* A registry on LOOP using UP for its requests; never NULL. */
struct providers *providers_new(uv_loop_t *loop, struct upstream *up);
/* Drop the registry's references; providers still used by requests live
 * on until released.  NULL is allowed. */
void providers_free(struct providers *reg);

/* Rebuild the provider list from CFG.  A provider whose name, type and
 * URL are unchanged keeps its cached catalogue. */
void providers_configure(struct providers *reg, const struct config *cfg);

size_t providers_count(const struct providers *reg);
/* Borrowed; valid until the next providers_configure() unless ref'd. */
struct provider *providers_at(const struct providers *reg, size_t i);
struct provider *providers_find(const struct providers *reg, const char *name);

void provider_ref(struct provider *p);
void provider_unref(struct provider *p);

const char *provider_name(const struct provider *p);
enum provider_type provider_type(const struct provider *p);
/* base_url without a trailing slash or /v1. */
const char *provider_base(const struct provider *p);
const char *provider_api_key(const struct provider *p);
/* The CA bundle to trust for https://, or "" for the system's. */
const char *provider_ca_file(const struct provider *p);
const struct config_timeouts *provider_timeouts(const struct provider *p);
/* A new string: the provider's base joined with PATH ("/api/chat"). */
char *provider_url(const struct provider *p, const char *path);

/*
 * Word a failure to reach P for a person: what happened, at which URL,
 * and what to do (start the server, fix base_url in CONFIG_PATH).
 * DETAIL is the transport's text.  Writes into OUT.
 */
void provider_describe_failure(const struct provider *p, enum upstream_failure failure,
                               const char *detail, const char *config_path, char *out,
                               size_t outlen);
/* The command that fetches MODEL on P ("ollama pull MODEL", "lms get MODEL"). */
void provider_fetch_hint(const struct provider *p, const char *model, char *out, size_t outlen);

/* ---- what the kind of server does ----
 * Each kind's answers live in src/models/provider_<kind>.c; callers ask
 * these instead of testing provider_type().  P is never NULL unless said. */

/* Whether a model name without a tag means NAME:latest on TYPE's servers. */
bool provider_type_implies_latest(enum provider_type type);
/* The dialect P's chat, generate and embed routes speak. */
enum wire provider_wire(const struct provider *p);
/* Whether P takes the context window with every request (num_ctx), so
 * caretid, not the load, sets it. */
bool provider_takes_num_ctx(const struct provider *p);
/* The window P's server loaded MODEL with, from the catalogue; 0 when
 * unknown, when P takes it per request, or when P is NULL. */
long provider_loaded_context(const struct provider *p, const char *model);
/* Whether P answers /api/pull. */
bool provider_can_pull(const struct provider *p);
/* Whether P answers /api/ps with the models it has loaded. */
bool provider_has_ps(const struct provider *p);
/* Whether P's server fetches a model by name with a command of its own
 * (the one provider_fetch_hint names). */
bool provider_can_fetch(const struct provider *p);
/* Whether P refuses response_format {"type":"json_object"}. */
bool provider_rejects_json_object(const struct provider *p);
/* P's kind of server for a person ("LM Studio"); static. */
const char *provider_label(const struct provider *p);
/* The route answering P's server version, or NULL; static. */
const char *provider_version_path(const struct provider *p);
/* What to do when P does not answer ("start Ollama (...) or fix
 * base_url"); static. */
const char *provider_start_fix(const struct provider *p);
/* A new string: where P's server keeps its models on this machine, or
 * NULL when caretid cannot tell.  Reads the environment. */
char *provider_models_dir(const struct provider *p);
/* Write how to load MODEL on P with a window of WANT tokens; LOADED is
 * the window it has now, 0 when it is not loaded.  "" when P takes the
 * window per request. */
void provider_load_hint(const struct provider *p, const char *model, long want, long loaded,
                        char *out, size_t outlen);

/* ---- catalogue ---- */

typedef void (*providers_refreshed_cb)(void *arg);

/* Refresh every catalogue older than its TTL (all of them when FORCE),
 * concurrently; CB runs once all have answered or failed.  CB may run
 * before this returns when nothing needed fetching. */
void providers_refresh(struct providers *reg, bool force, providers_refreshed_cb cb, void *arg);

/* The cached models: an array of {"name","provider","size",
 * "quantization","context_length","loaded",...}; borrowed, may be empty. */
const json_t *provider_models(const struct provider *p);
/* The cached entry for the model called NAME, or NULL (also when P is
 * NULL); borrowed. */
const json_t *provider_model_entry(const struct provider *p, const char *name);
/*
 * Whether MODEL on P takes the agent's tools natively, as its server
 * says (Ollama: capabilities has "tools"; LM Studio: "tool_use";
 * llama.cpp: /props chat_template_caps.supports_tool_calls).  Returns 1
 * yes; 0 no, also when P is NULL, MODEL is not in its catalogue, the
 * server cannot say, or asking failed; -1 not known yet.  Then, with CB,
 * the server is asked (once, however many wait) and CB runs from the
 * loop, never before this returns, once the answer is kept with the
 * catalogue (also at shutdown, with nothing learnt); without CB nothing
 * is asked.  The answer is kept across catalogue refreshes while the
 * server stays reachable and the model's digest is unchanged.
 */
int provider_native_tools(struct provider *p, const char *model, providers_refreshed_cb cb,
                          void *arg);
/* Whether the last catalogue fetch reached the server, and if not why. */
bool provider_reachable(const struct provider *p);
const char *provider_last_error(const struct provider *p);

/* The answer to provider_get_json: BODY (borrowed) on success, else NULL
 * and ERROR worded for a person. */
typedef void (*provider_json_cb)(json_t *body, const char *error, void *arg);

/* GET PATH on P and parse the JSON answer; CB always runs exactly once,
 * from the loop (also at shutdown, with an error). */
void provider_get_json(struct provider *p, const char *path, provider_json_cb cb, void *arg);

/* Requests waiting in every provider's queue. */
size_t providers_queued(const struct providers *reg);

/* A new JSON array describing every provider for status. */
json_t *providers_status_json(const struct providers *reg);

/* ---- concurrency ---- */

/* A slot was granted (OK) or the wait was refused/ended (!OK). */
typedef void (*provider_slot_cb)(bool ok, void *arg);

/*
 * Take a request slot on P.  Returns 1 when granted at once, 0 when queued
 * (CB runs later; *WAIT lets the caller give up), -1 when the queue is
 * full (429).  Release a granted slot with provider_release().
 */
int provider_acquire(struct provider *p, provider_slot_cb cb, void *arg,
                     struct provider_wait **wait);
void provider_release(struct provider *p);
/* Leave the queue; CB is not called. */
void provider_wait_cancel(struct provider_wait *wait);

#endif
