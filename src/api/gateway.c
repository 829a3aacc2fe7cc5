/*
 * gateway: the model routes of both dialects (/v1/... and /api/...).
 * Validates what clients send, resolves the model against the config and
 * the provider catalogues, and hands the request to a relay.  Owns the
 * small state of requests waiting for a catalogue; holds request ids,
 * never pointers, across that wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "careti/api/gateway.h"
#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "careti/http/router.h"
#include "careti/models/lookup.h"
#include "careti/models/relay.h"
#include "careti/models/resolve.h"
#include "careti/wire/jscan.h"

/* What /api/version reports: an Ollama version whose API we serve, so
 * tools that check for features find them. */
#define GATEWAY_OLLAMA_VERSION "0.12.10"

enum route_kind { RK_MODEL, RK_LIST_OPENAI, RK_LIST_OLLAMA, RK_SHOW, RK_PULL, RK_PS };

struct route_def {
    const char *method;
    const char *path;
    enum route_kind kind;
    enum endpoint ep;
    enum wire client;
};

/* A route's definition with the gateway it belongs to, as router arg. */
struct bound_route {
    struct route_def def;
    struct gateway *g;
};

struct gateway {
    struct bound_route bound[16];
    struct metrics *metrics;
    struct http_server *srv;
    struct upstream *up;
    struct providers *providers;
    struct lookup *lookup;
    const struct config *cfg;
};

/* A request waiting for catalogues. */
struct pending {
    struct gateway *g;
    uint64_t request_id;
    enum route_kind kind;
    enum endpoint ep;
    enum wire client;
    bool stream;
    bool include_usage;
    char *model;
    json_t *body;
    /* Or, for a chat or generate body jscan vouched for, its members:
     * they point into the request's body, which lives as long as the
     * request does. */
    struct jscan_object *scanned;
};


static const struct route_def gateway_routes[] = {
    {"POST", "/v1/chat/completions", RK_MODEL, EP_CHAT, WIRE_OPENAI},
    {"POST", "/v1/completions", RK_MODEL, EP_GENERATE, WIRE_OPENAI},
    {"POST", "/v1/embeddings", RK_MODEL, EP_EMBED, WIRE_OPENAI},
    {"GET", "/v1/models", RK_LIST_OPENAI, EP_CHAT, WIRE_OPENAI},
    {"POST", "/api/chat", RK_MODEL, EP_CHAT, WIRE_OLLAMA},
    {"POST", "/api/generate", RK_MODEL, EP_GENERATE, WIRE_OLLAMA},
    {"POST", "/api/embed", RK_MODEL, EP_EMBED, WIRE_OLLAMA},
    {"GET", "/api/tags", RK_LIST_OLLAMA, EP_CHAT, WIRE_OLLAMA},
    {"POST", "/api/show", RK_SHOW, EP_CHAT, WIRE_OLLAMA},
    {"POST", "/api/pull", RK_PULL, EP_CHAT, WIRE_OLLAMA},
    {"GET", "/api/ps", RK_PS, EP_CHAT, WIRE_OLLAMA},
};

#define N_GATEWAY_ROUTES (sizeof gateway_routes / sizeof gateway_routes[0])

static void on_catalogues(void *arg);

struct gateway *
gateway_new(struct http_server *srv, struct upstream *up, struct providers *providers,
            struct lookup *lookup, struct metrics *metrics)
{
    struct gateway *g = xcalloc(1, sizeof *g);
    g->metrics = metrics;
    g->srv = srv;
    g->up = up;
    g->providers = providers;
    g->lookup = lookup;
    return g;
}

void
gateway_free(struct gateway *g)
{
    free(g);
}

void
gateway_set_config(struct gateway *g, const struct config *cfg)
{
    g->cfg = cfg;
}

static void
pending_free(struct pending *p)
{
    free(p->model);
    json_decref(p->body);
    free(p->scanned);
    free(p);
}

static bool show_from_catalogue(struct gateway *g, struct http_request *req,
                                const struct resolution *res);

/* Bytes of text in a request's prompt: message contents (strings, and the
 * text parts of arrays), /api/generate's prompt and system, and the tools'
 * definitions.  Images and the JSON around them are not counted. */
static size_t
prompt_text_bytes(const json_t *body)
{
    size_t n = strlen(jfield_str_or(body, "prompt", "")) + strlen(jfield_str_or(body, "system", ""));
    size_t i, j;
    json_t *m, *part;
    json_array_foreach(json_object_get(body, "messages"), i, m)
    {
        const json_t *content = json_object_get(m, "content");
        if (json_is_string(content))
            n += json_string_length(content);
        json_array_foreach(content, j, part)
            n += strlen(jfield_str_or(part, "text", ""));
    }
    const json_t *tools = json_object_get(body, "tools");
    if (tools != NULL) {
        char *t = json_dumps(tools, JSON_COMPACT);
        n += t ? strlen(t) : 0;
        free(t);
    }
    return n;
}

/* A server that loaded the model with a window of its own (llama.cpp's
 * -c, LM Studio's load) cuts or rejects a longer prompt in its own words:
 * refuse one that clearly cannot fit, with the fix.  "Clearly": even at
 * six bytes a token, more than the text of any tokenizer averages, it
 * would not.  Returns true after answering REQ. */
static bool
refuse_over_window(struct pending *pd, struct http_request *req, const struct resolution *res)
{
    struct provider *p = providers_find(pd->g->providers, res->cand[0].provider);
    long window = provider_loaded_context(p, res->cand[0].model);
    size_t raw_len = 0;
    const char *raw = http_request_body(req, &raw_len);
    if (pd->ep == EP_EMBED || window <= 0 || raw_len / 6 <= (size_t)window)
        return false; /* the whole body fits: its text does */
    /* Read through jscan, unparsed: parse it now, once, for a large one. */
    json_t *parsed = pd->body ? NULL : json_loadb(raw, raw_len, 0, NULL);
    size_t text = prompt_text_bytes(pd->body ? pd->body : parsed);
    json_decref(parsed);
    if (text / 6 <= (size_t)window)
        return false;
    long tokens = (long)(text / 4), want = res->context_length;
    while (want < tokens + tokens / 4)
        want *= 2;
    char hint[384];
    provider_load_hint(p, res->cand[0].model, want, window, hint, sizeof hint);
    router_respond_error(req, 400,
                         "the prompt is about %ld tokens (%zu bytes of text), more than the "
                         "%ld-token window %s loaded %s with; %s, or send a shorter prompt",
                         tokens, text, window, res->cand[0].provider, res->cand[0].model, hint);
    return true;
}

static void
on_model_resolved(int status, const struct resolution *res, const char *error, void *arg)
{
    struct pending *pd = arg;
    struct gateway *g = pd->g;
    struct http_request *req = http_server_find_request(g->srv, pd->request_id);
    if (req == NULL) { /* the client left while we waited */
        pending_free(pd);
        return;
    }
    if (status != 0) {
        /* Unresolved names are not series of their own: a client could
         * invent any number of them. */
        struct metrics_sample smp = {
            .provider = "",
            .model = "",
            .status = status,
            .error_kind = status == 404 ? "model_not_found" : "unreachable",
            .ttft_s = -1,
            .prompt_tokens = -1,
            .completion_tokens = -1,
        };
        metrics_record(g->metrics, &smp);
        router_respond_error(req, status, "%s", error);
    } else if (pd->kind == RK_MODEL && refuse_over_window(pd, req, res)) {
        /* answered */
    } else if (pd->kind != RK_SHOW || !show_from_catalogue(g, req, res)) {
        size_t raw_len = 0;
        struct relay_spec spec = {
            .up = g->up,
            .providers = g->providers,
            .res = res,
            .ep = pd->ep,
            .client = pd->client,
            .client_stream = pd->stream,
            .include_usage = pd->include_usage,
            .body = pd->body,
            .scanned = pd->scanned,
            .raw_body = pd->scanned ? http_request_body(req, &raw_len) : NULL,
            .raw_body_len = raw_len,
            .config_path = g->cfg->path,
            .raw_path = pd->kind == RK_SHOW ? "/api/show" : NULL,
            .metrics = g->metrics,
        };
        relay_start(&spec, req);
    }
    pending_free(pd);
}

/* ---- listings ---- */

static const json_t *
alias_target(const struct config_model *m, struct providers *reg)
{
    for (size_t j = 0; j < m->n_providers; j++) {
        const json_t *e = provider_model_entry(providers_find(reg, m->providers[j]), m->model);
        if (e != NULL)
            return e;
    }
    return NULL;
}

static void
list_openai(struct gateway *g, struct http_request *req)
{
    json_t *data = json_array();
    for (size_t i = 0; i < g->cfg->n_models; i++) {
        const struct config_model *m = &g->cfg->models[i];
        char *of = xasprintf("%s@%s", m->model, m->providers[0]);
        long configured = m->context_length ? m->context_length : g->cfg->defaults.context_length;
        /* A server that sets the window at load gives the model that one,
         * whatever is configured: show what requests really get. */
        long loaded =
            provider_loaded_context(providers_find(g->providers, m->providers[0]), m->model);
        json_t *entry = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "id", m->alias, "object",
                                  "model", "created", 0, "owned_by", "careti", "alias_of", of,
                                  "provider", m->providers[0], "context_length",
                                  (json_int_t)(loaded > 0 ? loaded : configured));
        if (loaded > 0)
            json_object_set_new(entry, "configured_context_length", json_integer(configured));
        const char *tools = lookup_alias_tools(g->lookup, m);
        if (tools != NULL)
            json_object_set_new(entry, "tools", json_string(tools));
        json_array_append_new(data, entry);
        free(of);
    }
    for (size_t p = 0; p < providers_count(g->providers); p++) {
        size_t i;
        json_t *e;
        /* A provider that is down lists nothing, not its last list. */
        if (!provider_reachable(providers_at(g->providers, p)))
            continue;
        json_array_foreach((json_t *)provider_models(providers_at(g->providers, p)), i, e)
        {
            json_t *entry = json_deep_copy(e);
            json_object_set(entry, "id", json_object_get(e, "name"));
            json_object_set_new(entry, "object", json_string("model"));
            json_object_set_new(entry, "created", json_integer(0));
            json_object_set(entry, "owned_by", json_object_get(e, "provider"));
            json_object_del(entry, "name");
            json_object_del(entry, "details");
            json_array_append_new(data, entry);
        }
    }
    http_respond_json_take(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static json_t *
ollama_tag_entry(const char *name, const json_t *e)
{
    json_t *details = json_deep_copy(json_object_get(e, "details"));
    if (details == NULL) {
        details = json_pack("{s:s, s:s, s:s, s:s}", "parent_model", "", "format", "gguf",
                            "family", jfield_str_or(e, "family", ""),
                            "parameter_size", "");
        jfield_copy(details, "quantization_level", e, "quantization");
    }
    json_t *t = json_pack("{s:s, s:s, s:s, s:I, s:s, s:o, s:O}", "name", name, "model", name,
                          "modified_at",
                          jfield_str_or(e, "modified_at", "1970-01-01T00:00:00Z"),
                          "size", json_integer_value(json_object_get(e, "size")), "digest",
                          jfield_str_or(e, "digest", ""),
                          "details", details, "provider", json_object_get(e, "provider"));
    jfield_copy(t, "context_length", e, "context_length");
    return t;
}

static void
list_ollama(struct gateway *g, struct http_request *req)
{
    json_t *models = json_array();
    for (size_t i = 0; i < g->cfg->n_models; i++) {
        const struct config_model *m = &g->cfg->models[i];
        const json_t *target = alias_target(m, g->providers);
        json_t *stub = json_pack("{s:s}", "provider", m->providers[0]);
        json_t *t = ollama_tag_entry(m->alias, target ? target : stub);
        json_decref(stub);
        json_array_append_new(models, t);
    }
    for (size_t p = 0; p < providers_count(g->providers); p++) {
        size_t i;
        json_t *e;
        if (!provider_reachable(providers_at(g->providers, p)))
            continue;
        json_array_foreach((json_t *)provider_models(providers_at(g->providers, p)), i, e)
            json_array_append_new(models,
                                  ollama_tag_entry(jfield_str(e, "name"), e));
    }
    http_respond_json_take(req, 200, json_pack("{s:o}", "models", models));
}

/* /api/ps gathers every Ollama provider's own /api/ps and adds the models
 * other providers' catalogues report as loaded. */
struct ps_gather {
    struct gateway *g;
    uint64_t request_id;
    size_t waiting;
    json_t *models;
    json_t *errors;
};

/* One provider's part of a gather. */
struct ps_part {
    struct ps_gather *ps;
    const char *provider; /* kept alive by the fetch's provider ref */
};

static void ps_reply(struct ps_gather *ps);

static void
on_ps_answer(json_t *body, const char *error, void *arg)
{
    struct ps_part *part = arg;
    struct ps_gather *ps = part->ps;
    const char *provider = part->provider;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "models"), i, m)
    {
        json_t *e = json_deep_copy(m);
        json_object_set_new(e, "provider", json_string(provider));
        json_array_append_new(ps->models, e);
    }
    if (error != NULL)
        json_array_append_new(ps->errors, json_string(error));
    free(arg);
    if (--ps->waiting == 0)
        ps_reply(ps);
}

static void
list_loaded(struct gateway *g, struct http_request *req)
{
    struct ps_gather *ps = xcalloc(1, sizeof *ps);
    ps->g = g;
    ps->request_id = http_request_id(req);
    ps->models = json_array();
    ps->errors = json_array();
    ps->waiting = 1; /* held until every request is out */
    for (size_t p = 0; p < providers_count(g->providers); p++) {
        struct provider *prov = providers_at(g->providers, p);
        if (!provider_has_ps(prov) || !provider_reachable(prov))
            continue;
        struct ps_part *part = xmalloc(sizeof *part);
        *part = (struct ps_part){ps, provider_name(prov)};
        ps->waiting++;
        provider_get_json(prov, "/api/ps", on_ps_answer, part);
    }
    if (--ps->waiting == 0)
        ps_reply(ps);
}

static void
ps_reply(struct ps_gather *ps)
{
    struct gateway *g = ps->g;
    struct http_request *req = http_server_find_request(g->srv, ps->request_id);
    json_t *models = ps->models;
    for (size_t p = 0; req != NULL && p < providers_count(g->providers); p++) {
        size_t i;
        json_t *e;
        json_array_foreach((json_t *)provider_models(providers_at(g->providers, p)), i, e)
        {
            if (!json_is_true(json_object_get(e, "loaded")))
                continue;
            json_t *t = ollama_tag_entry(jfield_str(e, "name"), e);
            json_object_set_new(t, "size_vram", json_integer(0));
            json_object_set_new(t, "expires_at", json_string("2318-01-01T00:00:00Z"));
            json_array_append_new(models, t);
        }
    }
    if (req != NULL) {
        json_t *answer = json_pack("{s:O}", "models", models);
        if (json_array_size(ps->errors) > 0)
            json_object_set(answer, "errors", ps->errors);
        http_respond_json_take(req, 200, answer);
    }
    json_decref(ps->models);
    json_decref(ps->errors);
    free(ps);
}

/* /api/show for a model on an OpenAI-compatible server, from its catalogue;
 * a server speaking Ollama's dialect answers /api/show itself. */
static bool
show_from_catalogue(struct gateway *g, struct http_request *req, const struct resolution *res)
{
    struct provider *p = providers_find(g->providers, res->cand[0].provider);
    if (p == NULL || provider_wire(p) == WIRE_OLLAMA)
        return false;
    const json_t *e = provider_model_entry(p, res->cand[0].model);
    if (e == NULL)
        return false;
    const char *arch = jfield_str_or(e, "family", "unknown");
    json_t *info = json_pack("{s:s}", "general.architecture", arch);
    json_t *ctx = json_object_get(e, "max_context_length");
    if (ctx == NULL)
        ctx = json_object_get(e, "context_length");
    if (ctx != NULL) {
        char *key = xasprintf("%s.context_length", arch);
        json_object_set(info, key, ctx);
        free(key);
    }
    json_t *t = ollama_tag_entry(res->cand[0].model, e);
    json_t *show = json_pack("{s:s, s:s, s:s, s:O, s:o, s:[s], s:s}", "modelfile", "",
                             "parameters", "", "template", "", "details",
                             json_object_get(t, "details"), "model_info", info, "capabilities",
                             "completion", "provider", provider_name(p));
    json_decref(t);
    http_respond_json_take(req, 200, show);
    return true;
}

static void
on_catalogues(void *arg)
{
    struct pending *pd = arg;
    struct http_request *req = http_server_find_request(pd->g->srv, pd->request_id);
    if (req == NULL) { /* the client left while we waited */
        pending_free(pd);
        return;
    }
    switch (pd->kind) {
    case RK_LIST_OPENAI:
        list_openai(pd->g, req);
        break;
    case RK_LIST_OLLAMA:
        list_ollama(pd->g, req);
        break;
    case RK_PS:
        list_loaded(pd->g, req);
        break;
    case RK_PULL: {
        /* Pull is Ollama's: send it to the named or the first provider that can. */
        struct provider *target = NULL;
        const char *at = strrchr(pd->model, '@');
        for (size_t i = 0; i < providers_count(pd->g->providers) && target == NULL; i++) {
            struct provider *p = providers_at(pd->g->providers, i);
            if (at ? strcmp(provider_name(p), at + 1) == 0 : provider_can_pull(p))
                target = p;
        }
        if (target == NULL || !provider_can_pull(target)) {
            char hint[300];
            struct provider *any = target ? target : providers_at(pd->g->providers, 0);
            if (any != NULL && !provider_can_pull(any) && provider_can_fetch(any)) {
                char bare[256];
                snprintf(bare, sizeof bare, "%.*s",
                         at ? (int)(at - pd->model) : (int)strlen(pd->model), pd->model);
                provider_fetch_hint(any, bare, hint, sizeof hint);
                router_respond_error(req, 400,
                                     "pull works with Ollama providers only; for %s run %s",
                                     provider_label(any), hint);
            } else {
                router_respond_error(req, 400,
                                     "pull works with Ollama providers only, and none is "
                                     "configured");
            }
            break;
        }
        struct resolution res = {.n = 1};
        snprintf(res.cand[0].provider, sizeof res.cand[0].provider, "%s", provider_name(target));
        snprintf(res.cand[0].model, sizeof res.cand[0].model, "%.*s",
                 at ? (int)(at - pd->model) : (int)strlen(pd->model), pd->model);
        snprintf(res.name, sizeof res.name, "%s", res.cand[0].model);
        struct relay_spec spec = {
            .up = pd->g->up,
            .providers = pd->g->providers,
            .res = &res,
            .ep = EP_CHAT,
            .client = WIRE_OLLAMA,
            .client_stream = pd->stream,
            .body = pd->body,
            .config_path = pd->g->cfg->path,
            .raw_path = "/api/pull",
            /* Not counted: a pull is not a model request, and its names
             * would make series of their own. */
        };
        relay_start(&spec, req);
        break;
    }
    case RK_MODEL:
    case RK_SHOW:
        break; /* resolved through lookup_model */
    }
    pending_free(pd);
}

/* ---- request validation ---- */

static json_t *
parse_body(struct http_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    if (len == 0) {
        router_respond_error(req, 400, "missing request body: send a JSON object");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (j == NULL) {
        router_respond_error(req, 400, "invalid JSON in the request body at line %d, column %d: %s",
                             jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        router_respond_error(req, 400, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* Field checks every dialect shares; responds 400 naming the field. */
static bool
validate(struct http_request *req, const struct route_def *rd, json_t *body, const char **model,
         bool *stream, bool *include_usage)
{
    json_t *m = json_object_get(body, "model");
    if (m == NULL && rd->client == WIRE_OLLAMA)
        m = json_object_get(body, "name"); /* older Ollama clients */
    if (m != NULL && !json_is_string(m)) {
        router_respond_error(req, 400, "model must be a string naming a model");
        return false;
    }
    *model = m ? json_string_value(m) : NULL;
    if (rd->kind == RK_PULL && (*model == NULL || **model == '\0')) {
        router_respond_error(req, 400, "model is required: the name of the model to pull");
        return false;
    }
    json_t *s = json_object_get(body, "stream");
    if (s != NULL && !json_is_boolean(s)) {
        router_respond_error(req, 400, "stream must be true or false");
        return false;
    }
    /* Ollama streams unless told not to; OpenAI only when asked. */
    bool streams_by_default = rd->client == WIRE_OLLAMA && rd->kind != RK_SHOW;
    *stream = rd->ep != EP_EMBED && rd->kind != RK_SHOW && (s ? json_is_true(s) : streams_by_default);
    json_t *so = json_object_get(body, "stream_options");
    json_t *iu = json_object_get(so, "include_usage");
    if (iu != NULL && !json_is_boolean(iu)) {
        router_respond_error(req, 400, "stream_options.include_usage must be true or false");
        return false;
    }
    *include_usage = json_is_true(iu);
    if (rd->kind != RK_MODEL)
        return true;
    if (rd->ep == EP_CHAT) {
        json_t *msgs = json_object_get(body, "messages");
        if (!json_is_array(msgs) || (rd->client == WIRE_OPENAI && json_array_size(msgs) == 0)) {
            router_respond_error(req, 400, "messages must be %s array of {role, content} objects",
                                 rd->client == WIRE_OPENAI ? "a non-empty" : "an");
            return false;
        }
        size_t i;
        json_t *msg;
        json_array_foreach(msgs, i, msg)
        {
            const char *role = jfield_str(msg, "role");
            if (role == NULL) {
                router_respond_error(req, 400, "messages[%zu].role must be a string (system, "
                                               "user, assistant or tool)", i);
                return false;
            }
        }
    } else if (rd->ep == EP_GENERATE) {
        json_t *prompt = json_object_get(body, "prompt");
        if (!json_is_string(prompt) && !(rd->client == WIRE_OPENAI && json_is_array(prompt))) {
            router_respond_error(req, 400, "prompt must be a string");
            return false;
        }
    } else {
        json_t *input = json_object_get(body, "input");
        if (input == NULL)
            input = json_object_get(body, "prompt");
        if (!json_is_string(input) && !json_is_array(input)) {
            router_respond_error(req, 400, "input must be a string or an array of strings");
            return false;
        }
    }
    return true;
}

/* A model field jscan vouched for, as validate() reads it: true with
 * *MODEL set (NULL when absent) or false when validate() must look. */
static bool
scanned_model(const struct route_def *rd, const struct jscan_object *top, char **model)
{
    const struct jscan_member *m = jscan_get(top, "model");
    if (m == NULL && rd->client == WIRE_OLLAMA)
        m = jscan_get(top, "name"); /* older Ollama clients */
    *model = NULL;
    if (m == NULL)
        return true;
    if (!jscan_is_plain_string(m))
        return false;
    *model = xstrndup(m->value + 1, m->value_len - 2);
    return true;
}

/* Whether every messages[i] is an object with a string role, as
 * validate() wants. */
static bool
scanned_roles(const struct jscan_member *msgs)
{
    struct jscan_iter it;
    struct jscan_member elem;
    jscan_array_begin(msgs, &it);
    while (jscan_array_next(&it, &elem)) {
        if (!it.members_vouched || !jscan_is_string(jscan_get(&it.members, "role")))
            return false;
    }
    return true;
}

/* Whether RD's bodies are read from their bytes when jscan vouches for
 * them: chat and generate requests, where a long conversation would
 * otherwise be parsed into a tree only to be written out again. */
static bool
reads_bytes(const struct route_def *rd)
{
    return rd->kind == RK_MODEL && (rd->ep == EP_CHAT || rd->ep == EP_GENERATE);
}

/*
 * validate() for a body of a reads_bytes() route that jscan vouched for
 * (TOP).  True, with the same results (*MODEL owned by the caller, NULL
 * when absent), when every field is plainly right; false, answering
 * nothing and allocating nothing, when validate() on the parsed body must
 * decide: that keeps one set of error messages.
 */
static bool
validate_scanned(const struct route_def *rd, const struct jscan_object *top, char **model,
                 bool *stream, bool *include_usage)
{
    const struct jscan_member *s = jscan_get(top, "stream");
    if (s != NULL && !jscan_is_true(s) && !jscan_is_false(s))
        return false;
    const struct jscan_member *so = jscan_get(top, "stream_options");
    const struct jscan_member *iu = NULL;
    struct jscan_object so_members;
    if (jscan_is_object(so)) {
        if (!jscan_object(so->value, so->value_len, &so_members))
            return false;
        iu = jscan_get(&so_members, "include_usage");
    }
    if (iu != NULL && !jscan_is_true(iu) && !jscan_is_false(iu))
        return false;
    if (rd->ep == EP_CHAT) {
        const struct jscan_member *msgs = jscan_get(top, "messages");
        if (!jscan_is_array(msgs) || (rd->client == WIRE_OPENAI && jscan_is_empty_array(msgs)) ||
            !scanned_roles(msgs))
            return false;
    } else {
        const struct jscan_member *prompt = jscan_get(top, "prompt");
        if (!jscan_is_string(prompt) && !(rd->client == WIRE_OPENAI && jscan_is_array(prompt)))
            return false;
    }
    if (!scanned_model(rd, top, model))
        return false;
    /* Ollama streams unless told not to; OpenAI only when asked. */
    *stream = s != NULL ? jscan_is_true(s) : rd->client == WIRE_OLLAMA;
    *include_usage = jscan_is_true(iu);
    return true;
}

static void
on_bound_route(struct http_request *req, void *arg)
{
    const struct bound_route *br = arg;
    const struct route_def *rd = &br->def;
    struct gateway *g = br->g;
    json_t *body = NULL;
    struct jscan_object *scanned = NULL;
    const char *model = NULL;
    char *scanned_model = NULL;
    bool stream = false, include_usage = false;
    if (strcmp(rd->method, "POST") == 0) {
        if (reads_bytes(rd)) {
            size_t len;
            const char *text = http_request_body(req, &len);
            scanned = xmalloc(sizeof *scanned);
            if (!jscan_object(text, len, scanned) ||
                !validate_scanned(rd, scanned, &scanned_model, &stream, &include_usage)) {
                free(scanned);
                scanned = NULL;
            }
        }
        if (scanned == NULL) {
            body = parse_body(req);
            if (body == NULL)
                return;
            if (!validate(req, rd, body, &model, &stream, &include_usage)) {
                json_decref(body);
                return;
            }
        }
    }
    struct pending *pd = xcalloc(1, sizeof *pd);
    pd->g = g;
    pd->request_id = http_request_id(req);
    pd->kind = rd->kind;
    pd->ep = rd->ep;
    pd->client = rd->client;
    pd->stream = stream;
    pd->include_usage = include_usage;
    pd->model = scanned_model != NULL ? scanned_model : xstrdup(model ? model : "");
    pd->body = body;
    pd->scanned = scanned;
    if (rd->kind == RK_MODEL || rd->kind == RK_SHOW)
        lookup_model(g->lookup, pd->model, on_model_resolved, pd);
    else
        providers_refresh(g->providers, false, on_catalogues, pd);
}

static void
on_root(struct http_request *req, void *arg)
{
    (void)arg;
    http_respond(req, 200, "text/plain; charset=utf-8", NULL, "Ollama is running", 17);
}

static void
on_version(struct http_request *req, void *arg)
{
    (void)arg;
    http_respond_json_take(req, 200, json_pack("{s:s, s:s}", "version", GATEWAY_OLLAMA_VERSION,
                                          "caretid", CARETI_VERSION));
}

void
gateway_register(struct gateway *g, struct router *r)
{
    _Static_assert(N_GATEWAY_ROUTES <= sizeof g->bound / sizeof g->bound[0], "bound[] too small");
    for (size_t i = 0; i < N_GATEWAY_ROUTES; i++) {
        g->bound[i].def = gateway_routes[i];
        g->bound[i].g = g;
        router_add(r, gateway_routes[i].method, gateway_routes[i].path, on_bound_route,
                   &g->bound[i]);
    }
    router_add(r, "GET", "/", on_root, g);
    router_add(r, "GET", "/api/version", on_version, g);
}
