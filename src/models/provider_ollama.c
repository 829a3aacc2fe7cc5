/*
 * provider_ollama: Ollama's quirks.  Its catalogue is /api/tags, a name
 * without a tag means ":latest", it takes num_ctx with every request
 * (so caretid, not the load, sets the window), and it has routes of its
 * own: /api/pull, /api/ps, /api/show, /api/version.  Whether a model
 * takes tools is in its capabilities: on /api/tags in recent versions,
 * else on /api/show.  Owns no state.
 */
#include <stdio.h>

#include "careti/core/jfield.h"
#include "provider_int.h"

static json_t *normalise_tags(const char *provider, const json_t *body);
static void fetch_hint(const char *provider, const char *model, char *out, size_t outlen);
static bool tools_from_show(const json_t *body);

const struct provider_kind provider_kind_ollama = {
    .wire = WIRE_OLLAMA,
    .catalogue_path = "/api/tags",
    .normalise = normalise_tags,
    .implies_latest = true,
    .takes_num_ctx = true,
    .can_pull = true,
    .has_ps = true,
    .can_fetch = true,
    .label = "Ollama",
    .version_path = "/api/version",
    .start = "`ollama serve` must be running",
    .start_fix = "start Ollama (`ollama serve`; it listens on 11434 by default) or fix base_url",
    .models_home_dir = ".ollama/models",
    .models_env = "OLLAMA_MODELS",
    .fetch_hint = fetch_hint,
    .tools_probe_path = "/api/show",
    .tools_probe_post = true,
    .tools_from_probe = tools_from_show,
};

/* /api/tags' {"models":[{"name","size","details":{...}}]} as catalogue
 * entries; a new array. */
static json_t *
normalise_tags(const char *provider, const json_t *body)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "models"), i, m)
    {
        const char *name = jfield_str(m, "name");
        if (name == NULL)
            name = jfield_str(m, "model");
        if (name == NULL)
            continue;
        json_t *d = json_object_get(m, "details");
        json_t *e = json_pack("{s:s, s:s}", "name", name, "provider", provider);
        json_object_set(e, "size",
                        json_object_get(m, "size") ? json_object_get(m, "size") : json_null());
        jfield_copy(e, "quantization", d, "quantization_level");
        jfield_copy(e, "parameter_size", d, "parameter_size");
        jfield_copy(e, "family", d, "family");
        jfield_copy(e, "modified_at", m, "modified_at");
        jfield_copy(e, "digest", m, "digest");
        jfield_copy(e, "details", m, "details");
        json_t *caps = json_object_get(m, "capabilities");
        if (json_is_array(caps))
            provider_entry_set_tools(e, provider_caps_have(caps, "tools"));
        json_array_append_new(out, e);
    }
    return out;
}

/* /api/show's capabilities (absent before Ollama 0.6.4: no tools). */
static bool
tools_from_show(const json_t *body)
{
    return provider_caps_have(json_object_get(body, "capabilities"), "tools");
}

static void
fetch_hint(const char *provider, const char *model, char *out, size_t outlen)
{
    (void)provider;
    snprintf(out, outlen, "`ollama pull %s`", model);
}
