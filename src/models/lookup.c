/*
 * lookup: finding the model a client names across the providers: the
 * catalogues made fresh first, resolution against the config, and the
 * refusals worded for a person (the closest names, how to fetch it, why
 * its servers are down).  Owns only the waits for catalogues; never
 * touches a client request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/xmalloc.h"
#include "careti/models/lookup.h"

struct lookup {
    struct providers *providers;
    const struct config *cfg;
};

struct lookup *
lookup_new(struct providers *providers)
{
    struct lookup *l = xcalloc(1, sizeof *l);
    l->providers = providers;
    return l;
}

void
lookup_free(struct lookup *l)
{
    free(l);
}

void
lookup_set_config(struct lookup *l, const struct config *cfg)
{
    l->cfg = cfg;
}

static size_t
build_views(struct lookup *l, struct catalogue_view *views, size_t max)
{
    size_t n = providers_count(l->providers);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        struct provider *p = providers_at(l->providers, i);
        views[i] = (struct catalogue_view){provider_name(p), provider_type(p), provider_models(p),
                                           provider_reachable(p), provider_can_fetch(p)};
    }
    return n;
}

/* NEAR_MISS: NAME is a typo of a name in SUGGEST, so fetching NAME is not
 * the fix. */
static void
not_found_message(struct lookup *l, const char *name, const char *suggest, bool near_miss,
                  char *out, size_t outlen)
{
    char hint[320] = "";
    char bare[256];
    const char *at = strrchr(name, '@');
    snprintf(bare, sizeof bare, "%.*s", at ? (int)(at - name) : (int)strlen(name), name);
    /* name@provider: the hint is for that provider; else the first that
     * can fetch models. */
    for (size_t i = 0; i < providers_count(l->providers) && !near_miss; i++) {
        struct provider *p = providers_at(l->providers, i);
        bool named = at != NULL && strcmp(provider_name(p), at + 1) == 0;
        if (named || (at == NULL && provider_reachable(p) && provider_can_fetch(p))) {
            provider_fetch_hint(p, bare, hint, sizeof hint);
            break;
        }
    }
    snprintf(out, outlen, "model '%s' not found on %s%s%s%s%s%s", bare,
             at ? at + 1 : "any provider",
             suggest[0] ? "; closest: " : "", suggest, hint[0] ? "; get it with " : "", hint,
             "; `caretictl models` lists what is installed");
}

/* An alias (the default model, often) whose model no server has: say
 * which it is, where it is set, how to fetch it and how to pick another. */
static void
alias_missing_message(struct lookup *l, const struct resolution *res, const char *suggest,
                      char *out, size_t outlen)
{
    char hint[320] = "";
    const char *file = l->cfg->path ? l->cfg->path : "the built-in defaults";
    provider_fetch_hint(providers_find(l->providers, res->cand[0].provider), res->cand[0].model,
                        hint, sizeof hint);
    int w;
    if (res->is_default)
        w = snprintf(out, outlen, "the default model '%s' (defaults.model in %s)", res->name,
                     file);
    else
        w = snprintf(out, outlen, "model '%s' (models.%s in %s)", res->name, res->name, file);
    size_t used = w < 0 ? 0 : (size_t)w < outlen ? (size_t)w : outlen - 1;
    snprintf(out + used, outlen - used,
             " is %s on %s, which is not installed there%s%s; get it with %s, or name an "
             "installed model (caretictl -m MODEL; `caretictl models` lists them)",
             res->cand[0].model, res->cand[0].provider, suggest[0] ? "; closest: " : "", suggest,
             hint);
}

/* The providers that could serve the model are down: say why for each. */
static void
unreachable_message(struct lookup *l, const char *name, char *out, size_t outlen)
{
    bool any_up = false;
    for (size_t i = 0; i < providers_count(l->providers); i++)
        any_up |= provider_reachable(providers_at(l->providers, i));
    size_t used = any_up ? (size_t)snprintf(out, outlen,
                                            "model '%s' is on a provider that is not answering: ",
                                            name)
                         : (size_t)snprintf(out, outlen, "no model server answered: ");
    size_t start = used;
    for (size_t i = 0; i < providers_count(l->providers) && used < outlen; i++) {
        struct provider *p = providers_at(l->providers, i);
        if (provider_reachable(p) || *provider_last_error(p) == '\0')
            continue;
        int w = snprintf(out + used, outlen - used, "%s%s", used > start ? "; " : "",
                         provider_last_error(p));
        if (w > 0)
            used += (size_t)w;
    }
    if (used == start && used < outlen)
        snprintf(out + used, outlen - used, "no providers are configured");
}

static void
bad_provider_message(struct lookup *l, const char *name, char *out, size_t outlen)
{
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < providers_count(l->providers); i++) {
        int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                         provider_name(providers_at(l->providers, i)));
        if (w < 0 || (size_t)w >= sizeof names - used)
            break;
        used += (size_t)w;
    }
    snprintf(out, outlen, "'%s' names no configured provider after @; providers: %s", name, names);
}

struct lookup_wait {
    struct lookup *l;
    char *model;
    bool refreshed;
    bool asked;     /* the servers were asked about tools once already */
    size_t probing; /* answers still awaited */
    lookup_cb cb;
    void *arg;
};

static void on_resolve_catalogues(void *arg);

static void
on_tools_answer(void *arg)
{
    struct lookup_wait *w = arg;
    if (--w->probing == 0)
        on_resolve_catalogues(w); /* again: the config may have been reloaded meanwhile */
}

/*
 * Decide RES->native_tools for an alias set to auto or a plain name:
 * native when every candidate's server says the model takes tools.
 * Returns false when servers were asked (W is called back once all have
 * answered), true when decided.
 */
static bool
decide_tools(struct lookup *l, struct lookup_wait *w, struct resolution *res)
{
    if (res->tools != MODEL_TOOLS_AUTO)
        return true;
    bool native = res->n > 0;
    w->probing = 1; /* held while asking, so no answer finishes the wait early */
    for (size_t i = 0; i < res->n; i++) {
        struct provider *p = providers_find(l->providers, res->cand[i].provider);
        int says =
            p ? provider_native_tools(p, res->cand[i].model, w->asked ? NULL : on_tools_answer, w)
              : 0;
        if (says < 0 && !w->asked)
            w->probing++;
        native &= says == 1;
    }
    w->asked = true;
    if (--w->probing > 0)
        return false;
    res->native_tools = native;
    return true;
}

static void
on_resolve_catalogues(void *arg)
{
    struct lookup_wait *w = arg;
    struct lookup *l = w->l;
    struct catalogue_view views[32];
    size_t nv = build_views(l, views, 32);
    struct resolution res;
    char suggest[512];
    char msg[1024] = "";
    int status = 0;
    enum resolve_result rr = resolve_model(l->cfg, w->model, views, nv, &res, suggest,
                                           sizeof suggest);
    if (rr != RESOLVE_OK && !w->refreshed) {
        /* A miss may be a model pulled a moment ago: look again. */
        w->refreshed = true;
        providers_refresh(l->providers, true, on_resolve_catalogues, w);
        return;
    }
    switch (rr) {
    case RESOLVE_OK:
        if (!decide_tools(l, w, &res))
            return;
        break;
    case RESOLVE_NOT_FOUND:
        status = 404;
        if (res.alias)
            alias_missing_message(l, &res, suggest, msg, sizeof msg);
        else
            not_found_message(l, res.name, suggest, res.near_miss, msg, sizeof msg);
        break;
    case RESOLVE_UNREACHABLE:
        status = 502;
        unreachable_message(l, res.name, msg, sizeof msg);
        break;
    case RESOLVE_BAD_PROVIDER:
        status = 404;
        bad_provider_message(l, res.name, msg, sizeof msg);
        break;
    }
    w->cb(status, &res, msg, w->arg);
    free(w->model);
    free(w);
}

const char *
lookup_alias_tools(struct lookup *l, const struct config_model *m)
{
    if (m->tools != MODEL_TOOLS_AUTO)
        return config_model_tools_name(m->tools);
    bool native = m->n_providers > 0;
    for (size_t i = 0; i < m->n_providers; i++) {
        struct provider *p = providers_find(l->providers, m->providers[i]);
        int says = p ? provider_native_tools(p, m->model, NULL, NULL) : 0;
        if (says < 0)
            return NULL;
        native &= says == 1;
    }
    return native ? "native" : "text";
}

long
lookup_loaded_context(struct lookup *l, const char *provider, const char *model)
{
    return provider_loaded_context(providers_find(l->providers, provider), model);
}

void
lookup_model(struct lookup *l, const char *model, lookup_cb cb, void *arg)
{
    struct lookup_wait *w = xcalloc(1, sizeof *w);
    w->l = l;
    w->model = xstrdup(model ? model : "");
    w->cb = cb;
    w->arg = arg;
    /* Fresh catalogues answer at once; stale ones are fetched first. */
    providers_refresh(l->providers, false, on_resolve_catalogues, w);
}
