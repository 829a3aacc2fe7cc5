/*
 * provider_lmstudio: LM Studio's quirks.  It speaks OpenAI's dialect, but
 * its richer catalogue is /api/v0/models (state, quantization, the window
 * a model was loaded with), falling back to /v1/models on older versions
 * that answer unknown routes with 200 and an error object; it fetches and
 * loads models with `lms`, and refuses response_format json_object.
 * Whether a model takes tools is in its /api/v0 entry's capabilities
 * ("tool_use", since 0.3.16); without them it is taken as text.
 * Owns no state.
 */
#include <stdio.h>
#include <string.h>

#include "careti/core/jfield.h"
#include "provider_int.h"

static json_t *normalise_models(const char *provider, const json_t *body);
static void fetch_hint(const char *provider, const char *model, char *out, size_t outlen);
static void load_hint(const char *model, long want, long loaded, char *out, size_t outlen);

const struct provider_kind provider_kind_lmstudio = {
    .wire = WIRE_OPENAI,
    .catalogue_path = "/api/v0/models",
    .catalogue_fallback = "/v1/models",
    .normalise = normalise_models,
    .can_fetch = true,
    .rejects_json_object = true,
    .label = "LM Studio",
    .start = "start LM Studio's server (Developer tab, or `lms server start`)",
    .start_fix = "start LM Studio's server (Developer tab, or `lms server start`; port 1234 by "
                 "default) or fix base_url",
    .models_home_dir = ".lmstudio/models",
    .fetch_hint = fetch_hint,
    .load_hint = load_hint,
};

/* The /api/v0 fields of entry M: its state, quantization, and the window
 * it was loaded with (else the most it can take). */
static void
v0_fields(json_t *e, const json_t *m)
{
    jfield_copy(e, "quantization", m, "quantization");
    json_t *state = json_object_get(m, "state");
    if (json_is_string(state))
        json_object_set_new(e, "loaded",
                            json_boolean(strcmp(json_string_value(state), "loaded") == 0));
    json_t *ctx = json_object_get(m, "loaded_context_length");
    if (!json_is_integer(ctx))
        ctx = json_object_get(m, "max_context_length");
    if (json_is_integer(ctx))
        json_object_set(e, "context_length", ctx);
    jfield_copy(e, "max_context_length", m, "max_context_length");
    jfield_copy(e, "type", m, "type");
    jfield_copy(e, "family", m, "arch");
    provider_entry_set_tools(e, provider_caps_have(json_object_get(m, "capabilities"), "tool_use"));
}

static json_t *
normalise_models(const char *provider, const json_t *body)
{
    return provider_openai_list(provider, body, v0_fields);
}

static void
fetch_hint(const char *provider, const char *model, char *out, size_t outlen)
{
    (void)provider;
    snprintf(out, outlen, "`lms get %s`, then load it", model);
}

static void
load_hint(const char *model, long want, long loaded, char *out, size_t outlen)
{
    if (loaded == 0)
        snprintf(out, outlen, "load it with the context you want: lms load %s --context-length %ld",
                 model, want);
    else
        snprintf(out, outlen, "reload it with `lms load %s --context-length %ld`", model, want);
}
