/*
 * resolve: model names to providers.  Pure functions over the config and
 * catalogue snapshots; owns nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/jfield.h"
#include "careti/core/strdist.h"
#include "careti/core/text.h"
#include "careti/models/provider.h"
#include "careti/models/resolve.h"

static bool
catalogue_has(const struct catalogue_view *v, const char *name, char *found, size_t found_len)
{
    size_t i;
    json_t *m;
    bool try_tag = provider_type_implies_latest(v->type) && strchr(name, ':') == NULL;
    size_t name_len = strlen(name);
    json_array_foreach((json_t *)v->models, i, m)
    {
        const char *n = jfield_str(m, "name");
        if (n == NULL)
            continue;
        /* NAME, or NAME:latest where Ollama implies the tag. */
        if (strcmp(n, name) == 0 ||
            (try_tag && strncmp(n, name, name_len) == 0 && strcmp(n + name_len, ":latest") == 0)) {
            text_copy(found, found_len, n);
            return true;
        }
    }
    return false;
}

static void
add_candidate(struct resolution *out, const char *provider, const char *model)
{
    if (out->n >= RESOLVE_MAX_CANDIDATES)
        return;
    text_copy(out->cand[out->n].provider, sizeof out->cand[0].provider, provider);
    text_copy(out->cand[out->n].model, sizeof out->cand[0].model, model);
    out->n++;
}

/* How far NAME is from the installed name N, for ranking suggestions. */
static size_t
name_distance(const char *name, const char *n)
{
    size_t d = strdist(name, n);
    /* "llama3.3" is one edit from "llama3.2:latest" as users see it. */
    const char *colon = strchr(n, ':');
    if (colon != NULL && strchr(name, ':') == NULL) {
        char bare[256];
        snprintf(bare, sizeof bare, "%.*s", (int)(colon - n), n);
        size_t db = strdist(name, bare);
        if (db < d)
            d = db;
    }
    return d;
}

/* Whether A and B are equal once their digits are skipped. */
static bool
same_but_digits(const char *a, const char *b)
{
    for (;;) {
        while (*a >= '0' && *a <= '9')
            a++;
        while (*b >= '0' && *b <= '9')
            b++;
        if (*a != *b)
            return false;
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
}

/* Whether NAME looks like a typo of N: at most two edits away, and not
 * merely another tag or size or version of the same model
 * ("qwen3-coder:480b" for "qwen3-coder:30b", "gemma-3-4b" for
 * "gemma-3-12b": models one may well fetch). */
static bool
near_miss(const char *name, const char *n)
{
    size_t base = strcspn(name, ":");
    bool same_base = strncmp(name, n, base) == 0 && (n[base] == ':' || n[base] == '\0');
    /* Without a tag, NAME is compared with N's name before its tag. */
    char bare[256];
    snprintf(bare, sizeof bare, "%.*s",
             strchr(name, ':') == NULL ? (int)strcspn(n, ":") : (int)strlen(n), n);
    return !same_base && !same_but_digits(name, bare) && name_distance(name, n) <= 2;
}

struct suggestion {
    size_t d;
    const char *name, *provider;
};

/* Keep N (from PROVIDER) among the three closest to NAME in BEST.  An
 * alias is a short word of one's own: only a typo's distance counts. */
static void
consider(struct suggestion *best, const char *name, const char *n, const char *provider,
         bool alias, bool *near)
{
    size_t d = name_distance(name, n);
    *near |= near_miss(name, n);
    /* A shared prefix ("qwen3" for "qwen3:8b") is a strong hint. */
    if (strncmp(name, n, strcspn(name, ":")) == 0)
        d = d > 2 ? d - 2 : 0;
    /* Far-off names are noise, not suggestions. */
    size_t limit = alias ? 2 : strlen(name) / 2 > 3 ? strlen(name) / 2 : 3;
    if (d > limit)
        return;
    for (size_t k = 0; k < 3; k++) {
        if (d < best[k].d) {
            memmove(&best[k + 1], &best[k], (2 - k) * sizeof best[0]);
            best[k] = (struct suggestion){d, n, provider};
            break;
        }
    }
}

/* Up to three names close to NAME, installed ones and then the config's
 * aliases ("name (alias)"), into SUGGEST; *NEAR when one of them is a
 * typo's distance away. */
static void
suggest_names(const struct config *cfg, const char *name, const struct catalogue_view *views,
              size_t n_views, char *suggest, size_t suggest_len, bool *near)
{
    struct suggestion best[3] = {{SIZE_MAX, NULL, NULL}, {SIZE_MAX, NULL, NULL},
                                 {SIZE_MAX, NULL, NULL}};
    for (size_t v = 0; v < n_views; v++) {
        size_t i;
        json_t *m;
        json_array_foreach((json_t *)views[v].models, i, m)
        {
            const char *n = jfield_str(m, "name");
            if (n != NULL)
                consider(best, name, n, views[v].provider, false, near);
        }
    }
    for (size_t i = 0; cfg != NULL && i < cfg->n_models; i++)
        consider(best, name, cfg->models[i].alias, "alias", true, near);
    suggest[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < 3 && best[k].name != NULL; k++) {
        int w = snprintf(suggest + used, suggest_len - used, "%s%s (%s)", k ? ", " : "",
                         best[k].name, best[k].provider);
        if (w < 0 || (size_t)w >= suggest_len - used) {
            suggest[used] = '\0'; /* whole entries only */
            break;
        }
        used += (size_t)w;
    }
}

/* Whether no target of the alias in OUT can be served: each is on a
 * reachable server whose complete catalogue lacks it.  A server that is
 * down or lists only what it loaded gets the request, and its answer. */
static bool
alias_missing(const struct resolution *out, const struct catalogue_view *views, size_t n_views)
{
    for (size_t c = 0; c < out->n; c++) {
        const struct catalogue_view *v = NULL;
        for (size_t i = 0; i < n_views && v == NULL; i++)
            if (strcmp(views[i].provider, out->cand[c].provider) == 0)
                v = &views[i];
        char found[256];
        if (v == NULL || !v->reachable || !v->complete ||
            catalogue_has(v, out->cand[c].model, found, sizeof found))
            return false;
    }
    return out->n > 0;
}

enum resolve_result
resolve_model(const struct config *cfg, const char *name, const struct catalogue_view *views,
              size_t n_views, struct resolution *out, char *suggest, size_t suggest_len)
{
    memset(out, 0, sizeof *out);
    suggest[0] = '\0';
    if (name == NULL || *name == '\0')
        name = cfg->defaults.model;
    text_copy(out->name, sizeof out->name, name);
    out->is_default = strcmp(name, cfg->defaults.model) == 0;
    out->context_length = cfg->defaults.context_length;

    for (size_t i = 0; i < cfg->n_models; i++) {
        const struct config_model *m = &cfg->models[i];
        if (strcmp(m->alias, name) != 0)
            continue;
        for (size_t j = 0; j < m->n_providers; j++)
            add_candidate(out, m->providers[j], m->model);
        if (m->context_length > 0)
            out->context_length = m->context_length;
        out->options = m->options;
        out->tools = m->tools;
        out->native_tools = m->tools == MODEL_TOOLS_NATIVE;
        out->alias = true;
        if (alias_missing(out, views, n_views)) {
            suggest_names(NULL, m->model, views, n_views, suggest, suggest_len,
                          &out->near_miss);
            return RESOLVE_NOT_FOUND;
        }
        return RESOLVE_OK;
    }

    const char *at = strrchr(name, '@');
    if (at != NULL && at != name && at[1] != '\0') {
        char model[256];
        text_copyn(model, sizeof model, name, (size_t)(at - name));
        for (size_t v = 0; v < n_views; v++) {
            if (strcmp(views[v].provider, at + 1) != 0)
                continue;
            char found[256];
            if (views[v].reachable && !catalogue_has(&views[v], model, found, sizeof found)) {
                suggest_names(NULL, model, &views[v], 1, suggest, suggest_len, &out->near_miss);
                return RESOLVE_NOT_FOUND;
            }
            add_candidate(out, views[v].provider, views[v].reachable ? found : model);
            return RESOLVE_OK;
        }
        return RESOLVE_BAD_PROVIDER;
    }

    bool any_reachable = false;
    for (size_t v = 0; v < n_views; v++) {
        char found[256];
        any_reachable |= views[v].reachable;
        if (views[v].reachable && catalogue_has(&views[v], name, found, sizeof found))
            add_candidate(out, views[v].provider, found);
    }
    if (out->n > 0)
        return RESOLVE_OK;
    if (!any_reachable)
        return RESOLVE_UNREACHABLE;
    /* On a provider that is down now: say so, not "not found". */
    for (size_t v = 0; v < n_views; v++) {
        char found[256];
        if (!views[v].reachable && catalogue_has(&views[v], name, found, sizeof found))
            return RESOLVE_UNREACHABLE;
    }
    suggest_names(cfg, name, views, n_views, suggest, suggest_len, &out->near_miss);
    return RESOLVE_NOT_FOUND;
}
