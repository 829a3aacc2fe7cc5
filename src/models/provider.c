/*
 * provider: the registry of model servers, each with its request queue
 * and cached catalogue.  Owns the provider objects (refcounted), their
 * catalogue JSON, and the in-flight catalogue fetches.  What differs
 * between kinds of server is in provider_<kind>.c behind struct
 * provider_kind: this file dispatches through it and never tests a kind.
 * Never blocks: catalogues come through upstream; a server that does not
 * answer is marked unreachable and skipped, never fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"
#include "careti/models/provider.h"
#include "provider_int.h"

/* Catalogues are refreshed after this long, and on a miss; a server that
 * did not answer is tried again sooner, so that one started a moment ago
 * is seen within seconds.  The same refusal is logged again only after
 * CATALOGUE_RELOG_MS: a burst of requests each forcing a fetch from a
 * server that is down must not flood the log. */
#define CATALOGUE_TTL_MS 30000
#define CATALOGUE_RETRY_MS 2000
#define CATALOGUE_RELOG_MS 60000
#define CATALOGUE_MAX_BYTES (8 * 1024 * 1024)

struct provider_wait {
    struct provider *p;
    provider_slot_cb cb;
    void *arg;
    struct provider_wait *next;
};

struct provider {
    int refs;
    char *name;
    enum provider_type type;
    const struct provider_kind *kind;
    char *base;
    char *api_key;
    char *ca_file;
    struct config_timeouts timeouts;
    long max_concurrent;
    long max_queue;
    size_t active;
    size_t queued;
    struct provider_wait *queue_head, *queue_tail;
    /* catalogue */
    json_t *models;
    uint64_t fetched_ms;
    bool ever_fetched;
    bool reachable;
    char last_error[320];
    char logged_error[320]; /* the refusal last logged; "" once it answers */
    uint64_t logged_ms;
    struct fetch *fetching;
    struct tools_probe *probes; /* servers asked whether a model takes tools */
    struct providers *reg;
};

struct fetch;

/* Someone waiting for a tools probe's answer. */
struct probe_waiter {
    providers_refreshed_cb cb;
    void *arg;
    struct probe_waiter *next;
};

/* One question to a server: does MODEL take tools natively? */
struct tools_probe {
    struct provider *p;
    char *model;
    struct probe_waiter *waiters;
    struct tools_probe *next;
};

/* A fetch finished: BODY is the parsed JSON of a 200 answer without a
 * top-level "error", else NULL with FAILURE/DETAIL/STATUS saying why. */
typedef void (*fetch_done_fn)(struct fetch *f, json_t *body, enum upstream_failure failure,
                              const char *detail);

/* One GET of a provider's JSON route (a catalogue may take two for LM
 * Studio).  Every fetch is listed in the registry so shutdown can stop it. */
struct fetch {
    struct providers *reg;
    struct provider *p;
    struct fetch *prev, *next;
    char *path;
    char *post; /* the body POSTed, or NULL for a GET */
    struct tools_probe *probe;
    fetch_done_fn done;
    provider_json_cb user_cb;
    void *user_arg;
    struct upstream_req *req;
    struct sbuf body;
    int status;
};

struct refresh_waiter {
    providers_refreshed_cb cb;
    void *arg;
    struct refresh_waiter *next;
};

struct providers {
    uv_loop_t *loop;
    struct upstream *up;
    struct provider **list;
    size_t n;
    size_t fetches_running;
    struct fetch *fetches;
    char *config_path; /* for messages */
    bool closing;
    struct refresh_waiter *waiters;
    bool freed;
};


/* The kinds' tables, by the config's type. */
static const struct provider_kind *const kinds[] = {
    [PROVIDER_OLLAMA] = &provider_kind_ollama,
    [PROVIDER_LMSTUDIO] = &provider_kind_lmstudio,
    [PROVIDER_OPENAI] = &provider_kind_openai,
};

struct providers *
providers_new(uv_loop_t *loop, struct upstream *up)
{
    struct providers *reg = xcalloc(1, sizeof *reg);
    reg->loop = loop;
    reg->up = up;
    return reg;
}

static char *
normalise_base(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(url + n - 3, "/v1", 3) == 0)
        n -= 3;
    while (n > 0 && url[n - 1] == '/')
        n--;
    return xstrndup(url, n);
}

static void
provider_free(struct provider *p)
{
    free(p->name);
    free(p->base);
    free(p->api_key);
    free(p->ca_file);
    json_decref(p->models);
    free(p);
}

void
provider_ref(struct provider *p)
{
    p->refs++;
}

void
provider_unref(struct provider *p)
{
    if (p != NULL && --p->refs == 0)
        provider_free(p);
}

static void notify_waiters_if_idle(struct providers *reg);
static void probe_done(struct fetch *f, json_t *body, enum upstream_failure failure,
                       const char *detail);

void
providers_configure(struct providers *reg, const struct config *cfg)
{
    struct provider **fresh = xcalloc(cfg->n_providers, sizeof *fresh);
    free(reg->config_path);
    reg->config_path = cfg->path ? xstrdup(cfg->path) : NULL;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct config_provider *c = &cfg->providers[i];
        char *base = normalise_base(c->base_url);
        struct provider *old = providers_find(reg, c->name);
        struct provider *p = xcalloc(1, sizeof *p);
        p->refs = 1;
        p->reg = reg;
        p->name = xstrdup(c->name);
        p->type = c->type;
        p->kind = kinds[c->type];
        p->base = base;
        p->api_key = xstrdup(c->api_key);
        p->ca_file = xstrdup(c->ca_file);
        p->timeouts = c->timeouts;
        p->max_concurrent = c->max_concurrent;
        p->max_queue = c->max_queue;
        p->reachable = true;
        if (old != NULL && old->type == p->type && strcmp(old->base, p->base) == 0 &&
            old->ever_fetched) {
            p->models = json_incref(old->models);
            p->fetched_ms = old->fetched_ms;
            p->ever_fetched = true;
            p->reachable = old->reachable;
            memcpy(p->last_error, old->last_error, sizeof p->last_error);
        }
        if (p->models == NULL)
            p->models = json_array();
        fresh[i] = p;
    }
    /* Requests in flight keep their old providers through their refs;
     * fetches in flight finish against the old objects and are dropped. */
    for (size_t i = 0; i < reg->n; i++)
        provider_unref(reg->list[i]);
    free(reg->list);
    reg->list = fresh;
    reg->n = cfg->n_providers;
}

void
providers_free(struct providers *reg)
{
    if (reg == NULL)
        return;
    /* Whoever waits for a refresh is told now (with what is cached), so
     * nothing waiting is left holding memory; a refresh asked for from
     * here on answers at once. */
    reg->closing = true;
    while (reg->waiters != NULL) {
        struct refresh_waiter *w = reg->waiters;
        reg->waiters = w->next;
        w->cb(w->arg);
        free(w);
    }
    /* Tools probes are answered (nothing learnt) while the registry is
     * still whole: their waiters resolve names against it.  A waiter may
     * start fetches of its own, so the walk starts over after each. */
    struct fetch *pf = reg->fetches;
    while (pf != NULL) {
        if (pf->probe == NULL) {
            pf = pf->next;
            continue;
        }
        if (pf->req != NULL)
            upstream_cancel(pf->req);
        pf->req = NULL;
        probe_done(pf, NULL, UPSTREAM_OTHER, "the daemon is stopping");
        pf = reg->fetches;
    }
    for (size_t i = 0; i < reg->n; i++)
        provider_unref(reg->list[i]);
    free(reg->list);
    free(reg->config_path);
    while (reg->fetches != NULL) {
        struct fetch *f = reg->fetches;
        reg->fetches = f->next;
        if (f->req != NULL)
            upstream_cancel(f->req);
        if (f == f->p->fetching) /* the catalogue's own fetch */
            f->p->fetching = NULL;
        else
            f->user_cb(NULL, "the daemon is stopping", f->user_arg);
        provider_unref(f->p);
        sbuf_free(&f->body);
        free(f->path);
        free(f->post);
        free(f);
    }
    struct refresh_waiter *w = reg->waiters;
    while (w != NULL) {
        struct refresh_waiter *next = w->next;
        free(w);
        w = next;
    }
    free(reg);
}

size_t
providers_count(const struct providers *reg)
{
    return reg->n;
}

struct provider *
providers_at(const struct providers *reg, size_t i)
{
    return i < reg->n ? reg->list[i] : NULL;
}

struct provider *
providers_find(const struct providers *reg, const char *name)
{
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->list[i]->name, name) == 0)
            return reg->list[i];
    return NULL;
}

const char *
provider_name(const struct provider *p)
{
    return p->name;
}

enum provider_type
provider_type(const struct provider *p)
{
    return p->type;
}

const char *
provider_base(const struct provider *p)
{
    return p->base;
}

const char *
provider_api_key(const struct provider *p)
{
    return p->api_key;
}

const char *
provider_ca_file(const struct provider *p)
{
    return p->ca_file;
}

const struct config_timeouts *
provider_timeouts(const struct provider *p)
{
    return &p->timeouts;
}

char *
provider_url(const struct provider *p, const char *path)
{
    /* Once per request: two copies, not a printf. */
    size_t base_len = strlen(p->base), path_len = strlen(path);
    char *url = xmalloc(base_len + path_len + 1);
    memcpy(url, p->base, base_len);
    memcpy(url + base_len, path, path_len + 1);
    return url;
}

void
provider_describe_failure(const struct provider *p, enum upstream_failure failure,
                          const char *detail, const char *config_path, char *out, size_t outlen)
{
    const char *where = config_path ? config_path : "your caretid.yaml";
    const char *start = p->kind->start;
    switch (failure) {
    case UPSTREAM_CONNECT_REFUSED:
        snprintf(out, outlen,
                 "%s at %s refused the connection: %s, or base_url fixed in %s", p->name,
                 p->base, start, where);
        return;
    case UPSTREAM_DNS:
        snprintf(out, outlen, "%s at %s: the host name does not resolve (%s); fix base_url in %s",
                 p->name, p->base, detail, where);
        return;
    case UPSTREAM_CONNECT_TIMEOUT:
        snprintf(out, outlen,
                 "%s at %s did not accept a connection within %ld s: %s, or base_url fixed in %s",
                 p->name, p->base, p->timeouts.connect_s, start, where);
        return;
    case UPSTREAM_FIRST_BYTE_TIMEOUT:
        snprintf(out, outlen,
                 "%s at %s sent nothing within %ld s (first_byte_s); a cold model load can take "
                 "minutes: raise providers[].timeouts.first_byte_s in %s if it is still loading",
                 p->name, p->base, p->timeouts.first_byte_s, where);
        return;
    case UPSTREAM_IDLE_TIMEOUT:
        snprintf(out, outlen,
                 "%s at %s stalled for more than %ld s in the middle of its answer (idle_s); "
                 "the answer is incomplete",
                 p->name, p->base, p->timeouts.idle_s);
        return;
    case UPSTREAM_DROPPED:
        snprintf(out, outlen,
                 "%s at %s closed the connection in the middle of its answer (%s); the answer "
                 "is incomplete",
                 p->name, p->base, detail);
        return;
    case UPSTREAM_TLS:
        snprintf(out, outlen,
                 "%s at %s: the TLS connection failed (%s); if the server's certificate is "
                 "signed by your own CA, set providers[].ca_file to that CA's PEM file in %s",
                 p->name, p->base, detail, where);
        return;
    case UPSTREAM_OK:
    case UPSTREAM_OTHER:
        break;
    }
    snprintf(out, outlen, "%s at %s: %s", p->name, p->base, detail);
}

void
provider_fetch_hint(const struct provider *p, const char *model, char *out, size_t outlen)
{
    p->kind->fetch_hint(p->name, model, out, outlen);
}

/* ---- what the kind of server does ---- */

bool
provider_type_implies_latest(enum provider_type type)
{
    return kinds[type]->implies_latest;
}

enum wire
provider_wire(const struct provider *p)
{
    return p->kind->wire;
}

bool
provider_takes_num_ctx(const struct provider *p)
{
    return p->kind->takes_num_ctx;
}

long
provider_loaded_context(const struct provider *p, const char *model)
{
    if (p == NULL || p->kind->takes_num_ctx)
        return 0;
    return (long)json_integer_value(
        json_object_get(provider_model_entry(p, model), "context_length"));
}

bool
provider_can_pull(const struct provider *p)
{
    return p->kind->can_pull;
}

bool
provider_has_ps(const struct provider *p)
{
    return p->kind->has_ps;
}

bool
provider_can_fetch(const struct provider *p)
{
    return p->kind->can_fetch;
}

bool
provider_rejects_json_object(const struct provider *p)
{
    return p->kind->rejects_json_object;
}

const char *
provider_label(const struct provider *p)
{
    return p->kind->label;
}

const char *
provider_version_path(const struct provider *p)
{
    return p->kind->version_path;
}

const char *
provider_start_fix(const struct provider *p)
{
    return p->kind->start_fix;
}

char *
provider_models_dir(const struct provider *p)
{
    const struct provider_kind *k = p->kind;
    if (k->models_home_dir == NULL)
        return NULL;
    const char *env = k->models_env ? getenv(k->models_env) : NULL;
    if (env != NULL && *env != '\0')
        return xstrdup(env);
    const char *home = getenv("HOME");
    return xasprintf("%s/%s", home ? home : "", k->models_home_dir);
}

void
provider_load_hint(const struct provider *p, const char *model, long want, long loaded,
                   char *out, size_t outlen)
{
    if (p->kind->load_hint != NULL)
        p->kind->load_hint(model, want, loaded, out, outlen);
    else if (outlen > 0)
        out[0] = '\0';
}

/* ---- catalogue ---- */

static void
fetch_on_head(int status, const char *content_type, void *arg)
{
    struct fetch *f = arg;
    (void)content_type;
    f->status = status;
}

static bool
fetch_writable(void *arg)
{
    (void)arg;
    return true;
}

static void
fetch_on_data(const char *data, size_t len, void *arg)
{
    struct fetch *f = arg;
    if (f->body.len + len > CATALOGUE_MAX_BYTES) {
        f->status = -1; /* too big to be a model list: reported as unusable */
        return;
    }
    sbuf_add(&f->body, data, len);
}

static void fetch_on_done(enum upstream_failure failure, const struct cerr *err, void *arg);

static const struct upstream_callbacks fetch_callbacks = {
    fetch_on_head,
    fetch_writable,
    fetch_on_data,
    fetch_on_done,
};

static void
fetch_request(struct fetch *f, const char *path)
{
    struct provider *p = f->p;
    char *url = provider_url(p, path);
    struct upstream_opts o = {
        .method = f->post ? "POST" : "GET",
        .url = url,
        .body = f->post,
        .body_len = f->post ? strlen(f->post) : 0,
        .api_key = p->api_key,
        .ca_file = p->ca_file,
        .connect_timeout_ms = p->timeouts.connect_s * 1000,
        .first_byte_timeout_ms = 15000,
        .idle_timeout_ms = 15000,
    };
    free(f->path);
    f->path = xstrdup(path);
    sbuf_reset(&f->body);
    f->status = 0;
    f->req = upstream_start(f->reg->up, &o, &fetch_callbacks, f);
    free(url);
}

static void
fetch_unlink_free(struct fetch *f)
{
    struct providers *reg = f->reg;
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        reg->fetches = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    sbuf_free(&f->body);
    free(f->path);
    free(f->post);
    provider_unref(f->p);
    free(f);
}

/* Start a GET of PATH on P, or a POST of POST (copied) when not NULL. */
static struct fetch *
fetch_start(struct provider *p, const char *path, const char *post, fetch_done_fn done)
{
    struct fetch *f = xcalloc(1, sizeof *f);
    f->reg = p->reg;
    f->p = p;
    f->done = done;
    f->post = post ? xstrdup(post) : NULL;
    provider_ref(p);
    f->next = f->reg->fetches;
    if (f->next != NULL)
        f->next->prev = f;
    f->reg->fetches = f;
    fetch_request(f, path);
    return f;
}

static void
notify_waiters_if_idle(struct providers *reg)
{
    if (reg->fetches_running > 0)
        return;
    struct refresh_waiter *w = reg->waiters;
    reg->waiters = NULL;
    while (w != NULL) {
        struct refresh_waiter *next = w->next;
        w->cb(w->arg);
        free(w);
        w = next;
    }
}

static void
fetch_on_done(enum upstream_failure failure, const struct cerr *err, void *arg)
{
    struct fetch *f = arg;
    json_t *body = NULL;
    f->req = NULL;
    if (failure == UPSTREAM_OK && f->status == 200)
        body = json_loadb(f->body.s ? f->body.s : "", f->body.len, 0, NULL);
    /* LM Studio answers unknown routes with 200 and an error object. */
    if (body != NULL && json_object_get(body, "error") != NULL) {
        json_decref(body);
        body = NULL;
    }
    f->done(f, body, failure, err ? err->msg : "");
    json_decref(body);
}

/* Copy the tools answers of OLD's entries into FRESH's entries for the
 * same model (same name and digest) whose catalogue did not say. */
static void
keep_tools_answers(const json_t *old, json_t *fresh)
{
    size_t i, j;
    json_t *e, *o;
    json_array_foreach(fresh, i, e)
    {
        if (json_object_get(e, "tools") != NULL)
            continue;
        json_array_foreach((json_t *)old, j, o)
        {
            json_t *tools = json_object_get(o, "tools");
            json_t *d_old = json_object_get(o, "digest"), *d_new = json_object_get(e, "digest");
            if (tools != NULL && jfield_str(o, "name") != NULL &&
                strcmp(jfield_str(o, "name"), jfield_str(e, "name")) == 0 &&
                (d_old == d_new || json_equal(d_old, d_new))) {
                json_object_set(e, "tools", tools);
                break;
            }
        }
    }
}

static void
catalogue_done(struct fetch *f, json_t *body, enum upstream_failure failure, const char *detail)
{
    struct provider *p = f->p;
    struct providers *reg = f->reg;
    if (body == NULL && failure == UPSTREAM_OK && p->kind->catalogue_fallback != NULL &&
        strcmp(f->path, p->kind->catalogue_path) == 0) {
        /* e.g. an older LM Studio without /api/v0: the fallback route. */
        fetch_request(f, p->kind->catalogue_fallback);
        return;
    }
    if (body != NULL) {
        json_t *models = p->kind->normalise(p->name, body);
        /* A server that was down in between may have been restarted
         * with other models or templates: ask it again. */
        if (p->reachable)
            keep_tools_answers(p->models, models);
        json_decref(p->models);
        p->models = models;
        p->last_error[0] = '\0';
    } else if (failure != UPSTREAM_OK) {
        provider_describe_failure(p, failure, detail, reg->config_path, p->last_error,
                                  sizeof p->last_error);
    } else {
        snprintf(p->last_error, sizeof p->last_error,
                 "%s at %s answered the model list with HTTP %d; is base_url right?", p->name,
                 p->base, f->status);
    }
    p->fetched_ms = uv_now(reg->loop);
    p->ever_fetched = true;
    p->reachable = body != NULL;
    if (body == NULL && (strcmp(p->logged_error, p->last_error) != 0 ||
                         p->fetched_ms - p->logged_ms >= CATALOGUE_RELOG_MS)) {
        log_warn("catalogue: %s", p->last_error);
        memcpy(p->logged_error, p->last_error, sizeof p->logged_error);
        p->logged_ms = p->fetched_ms;
    } else if (body != NULL && p->logged_error[0] != '\0') {
        log_info("catalogue: %s at %s answers again", p->name, p->base);
        p->logged_error[0] = '\0';
    }
    p->fetching = NULL;
    fetch_unlink_free(f);
    reg->fetches_running--;
    notify_waiters_if_idle(reg);
}

static void
get_json_done(struct fetch *f, json_t *body, enum upstream_failure failure, const char *detail)
{
    char why[400] = "";
    if (body == NULL && failure != UPSTREAM_OK)
        provider_describe_failure(f->p, failure, detail, f->reg->config_path, why, sizeof why);
    else if (body == NULL)
        snprintf(why, sizeof why, "%s at %s answered %s with HTTP %d", f->p->name, f->p->base,
                 f->path, f->status);
    f->user_cb(body, body ? NULL : why, f->user_arg);
    fetch_unlink_free(f);
}

/* A tools probe answered (BODY) or failed (NULL): keep the answer in the
 * model's catalogue entry, then tell whoever waits. */
static void
probe_done(struct fetch *f, json_t *body, enum upstream_failure failure, const char *detail)
{
    struct tools_probe *pr = f->probe;
    struct provider *p = pr->p;
    bool native = body != NULL && p->kind->tools_from_probe(body);
    json_t *e = (json_t *)provider_model_entry(p, pr->model);
    /* A failed probe is kept as "text" too, or every turn would wait for
     * it again; a server that was down is asked again once it is back
     * (keep_tools_answers). */
    if (e != NULL && !p->reg->closing) {
        provider_entry_set_tools(e, native);
        if (body == NULL)
            log_info("%s: could not learn whether %s takes tools (%s %s: %s); using text", p->name,
                     pr->model, f->path, failure == UPSTREAM_OK ? "answered" : "failed",
                     failure == UPSTREAM_OK ? "no usable answer" : detail);
    }
    struct tools_probe **pp = &p->probes;
    while (*pp != pr)
        pp = &(*pp)->next;
    *pp = pr->next;
    fetch_unlink_free(f); /* P may be gone after this */
    struct probe_waiter *w = pr->waiters;
    while (w != NULL) {
        struct probe_waiter *next = w->next;
        w->cb(w->arg);
        free(w);
        w = next;
    }
    free(pr->model);
    free(pr);
}

/* MODEL's catalogue entry on P, where an alias may name an Ollama model
 * without its implied ":latest". */
static const json_t *
entry_for(const struct provider *p, const char *model)
{
    const json_t *e = provider_model_entry(p, model);
    if (e == NULL && p != NULL && p->kind->implies_latest && strchr(model, ':') == NULL) {
        char *tagged = xasprintf("%s:latest", model);
        e = provider_model_entry(p, tagged);
        free(tagged);
    }
    return e;
}

int
provider_native_tools(struct provider *p, const char *model, providers_refreshed_cb cb, void *arg)
{
    const json_t *e = entry_for(p, model);
    if (e == NULL)
        return 0;
    model = jfield_str(e, "name"); /* the probe asks for, and keeps, the listed name */
    const char *tools = jfield_str(e, "tools");
    if (tools != NULL)
        return strcmp(tools, "native") == 0;
    if (p->kind->tools_probe_path == NULL || !p->reachable || p->reg->closing)
        return 0;
    if (cb == NULL)
        return -1;
    struct tools_probe *pr = p->probes;
    while (pr != NULL && strcmp(pr->model, model) != 0)
        pr = pr->next;
    if (pr == NULL) {
        pr = xcalloc(1, sizeof *pr);
        pr->p = p;
        pr->model = xstrdup(model);
        pr->next = p->probes;
        p->probes = pr;
        char *post = NULL;
        if (p->kind->tools_probe_post) {
            json_t *req = json_pack("{s:s}", "model", model);
            post = json_dumps(req, JSON_COMPACT);
            json_decref(req);
        }
        /* upstream reports even a failure to start from the loop, so
         * the probe is set before anything can finish. */
        struct fetch *f = fetch_start(p, p->kind->tools_probe_path, post, probe_done);
        f->probe = pr;
        free(post);
    }
    struct probe_waiter **tail = &pr->waiters;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = xcalloc(1, sizeof **tail);
    (*tail)->cb = cb;
    (*tail)->arg = arg;
    return -1;
}

bool
provider_caps_have(const json_t *caps, const char *word)
{
    size_t i;
    json_t *c;
    json_array_foreach((json_t *)caps, i, c)
    {
        if (json_is_string(c) && strcmp(json_string_value(c), word) == 0)
            return true;
    }
    return false;
}

void
provider_entry_set_tools(json_t *e, bool native)
{
    json_object_set_new(e, "tools", json_string(native ? "native" : "text"));
}

void
provider_get_json(struct provider *p, const char *path, provider_json_cb cb, void *arg)
{
    struct fetch *f = fetch_start(p, path, NULL, get_json_done);
    f->user_cb = cb;
    f->user_arg = arg;
}

void
providers_refresh(struct providers *reg, bool force, providers_refreshed_cb cb, void *arg)
{
    if (reg->closing) {
        cb(arg);
        return;
    }
    uint64_t now = uv_now(reg->loop);
    /* Waiters are answered in the order they came, so requests keep
     * their order into the providers' queues. */
    struct refresh_waiter *w = xmalloc(sizeof *w);
    *w = (struct refresh_waiter){cb, arg, NULL};
    struct refresh_waiter **tail = &reg->waiters;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = w;
    for (size_t i = 0; i < reg->n; i++) {
        struct provider *p = reg->list[i];
        bool stale = !p->ever_fetched ||
                     now - p->fetched_ms >= (p->reachable ? CATALOGUE_TTL_MS : CATALOGUE_RETRY_MS);
        if (p->fetching == NULL && (force || stale)) {
            reg->fetches_running++;
            p->fetching = fetch_start(p, p->kind->catalogue_path, NULL, catalogue_done);
        }
    }
    notify_waiters_if_idle(reg);
}

size_t
providers_queued(const struct providers *reg)
{
    size_t n = 0;
    for (size_t i = 0; i < reg->n; i++)
        n += reg->list[i]->queued;
    return n;
}

const json_t *
provider_models(const struct provider *p)
{
    return p->models;
}

const json_t *
provider_model_entry(const struct provider *p, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)(p ? p->models : NULL), i, e)
    {
        const char *n = jfield_str(e, "name");
        if (n != NULL && name != NULL && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

bool
provider_reachable(const struct provider *p)
{
    return p->reachable;
}

const char *
provider_last_error(const struct provider *p)
{
    return p->last_error;
}

json_t *
providers_status_json(const struct providers *reg)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < reg->n; i++) {
        const struct provider *p = reg->list[i];
        json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", p->name, "type",
                              config_provider_type_name(p->type), "base_url", p->base, "active",
                              (json_int_t)p->active, "queued", (json_int_t)p->queued);
        if (p->ever_fetched) {
            json_object_set_new(e, "reachable", json_boolean(p->reachable));
            json_object_set_new(e, "checked_s_ago",
                                json_integer((json_int_t)((uv_now(reg->loop) - p->fetched_ms) /
                                                          1000)));
            json_object_set_new(e, "models", json_integer((json_int_t)json_array_size(p->models)));
            if (!p->reachable)
                json_object_set_new(e, "error", json_string(p->last_error));
        }
        json_array_append_new(arr, e);
    }
    return arr;
}

/* ---- concurrency ---- */

int
provider_acquire(struct provider *p, provider_slot_cb cb, void *arg, struct provider_wait **wait)
{
    *wait = NULL;
    if (p->max_concurrent == 0 || p->active < (size_t)p->max_concurrent) {
        p->active++;
        return 1;
    }
    if (p->queued >= (size_t)p->max_queue)
        return -1;
    struct provider_wait *w = xcalloc(1, sizeof *w);
    w->p = p;
    w->cb = cb;
    w->arg = arg;
    if (p->queue_tail != NULL)
        p->queue_tail->next = w;
    else
        p->queue_head = w;
    p->queue_tail = w;
    p->queued++;
    provider_ref(p);
    *wait = w;
    return 0;
}

static void
dequeue(struct provider *p, struct provider_wait *w)
{
    struct provider_wait **pp = &p->queue_head;
    struct provider_wait *prev = NULL;
    while (*pp != NULL && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = w->next;
    if (p->queue_tail == w)
        p->queue_tail = prev;
    p->queued--;
}

void
provider_release(struct provider *p)
{
    p->active--;
    struct provider_wait *w = p->queue_head;
    if (w == NULL)
        return;
    dequeue(p, w);
    p->active++;
    provider_slot_cb cb = w->cb;
    void *arg = w->arg;
    free(w);
    cb(true, arg);
    provider_unref(p);
}

void
provider_wait_cancel(struct provider_wait *w)
{
    struct provider *p = w->p;
    dequeue(p, w);
    free(w);
    provider_unref(p);
}
