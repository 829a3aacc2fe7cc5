/*
 * provider_openai: any other OpenAI-compatible server (llama.cpp's
 * llama-server, vLLM, ...).  Its catalogue is /v1/models; llama.cpp's
 * adds the window it was started with (meta.n_ctx), which -c sets and
 * -np divides among its slots.  It cannot fetch or load models by
 * name: the hints say how to restart it.  Whether its model takes tools
 * is llama.cpp's /props chat_template_caps.supports_tool_calls; a
 * server without /props (vLLM, ...) is taken as text.  Owns no state.
 */
#include <stdio.h>

#include "careti/core/jfield.h"
#include "provider_int.h"

static json_t *normalise_models(const char *provider, const json_t *body);
static void fetch_hint(const char *provider, const char *model, char *out, size_t outlen);
static void load_hint(const char *model, long want, long loaded, char *out, size_t outlen);
static bool tools_from_props(const json_t *body);

const struct provider_kind provider_kind_openai = {
    .wire = WIRE_OPENAI,
    .catalogue_path = "/v1/models",
    .normalise = normalise_models,
    .label = "an OpenAI-compatible server",
    .start = "the server must be running",
    .start_fix = "start the server or fix base_url",
    .fetch_hint = fetch_hint,
    .load_hint = load_hint,
    .tools_probe_path = "/props",
    .tools_from_probe = tools_from_props,
};

json_t *
provider_openai_list(const char *provider, const json_t *body, provider_entry_fn extra)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "data"), i, m)
    {
        const char *id = jfield_str(m, "id");
        if (id == NULL)
            continue;
        json_t *e = json_pack("{s:s, s:s}", "name", id, "provider", provider);
        extra(e, m);
        json_array_append_new(out, e);
    }
    return out;
}

/* llama.cpp's meta: the window it was started with. */
static void
meta_fields(json_t *e, const json_t *m)
{
    json_t *ctx = json_object_get(json_object_get(m, "meta"), "n_ctx");
    if (json_is_integer(ctx))
        json_object_set(e, "context_length", ctx);
}

static json_t *
normalise_models(const char *provider, const json_t *body)
{
    return provider_openai_list(provider, body, meta_fields);
}

/* llama.cpp's /props: whether the chat template renders tool calls. */
static bool
tools_from_props(const json_t *body)
{
    return json_is_true(
        json_object_get(json_object_get(body, "chat_template_caps"), "supports_tool_calls"));
}

/* llama.cpp's server is the common case: name its flags, and that -np
 * splits the window, since a window cut by it looks like a bug. */
static void
fetch_hint(const char *provider, const char *model, char *out, size_t outlen)
{
    snprintf(out, outlen,
             "a restart of %s with `-m` naming %s's file and `-c` the window you want "
             "(llama.cpp's flags; `-np N` divides -c among N slots)",
             provider, model);
}

static void
load_hint(const char *model, long want, long loaded, char *out, size_t outlen)
{
    (void)loaded;
    snprintf(out, outlen,
             "restart the server with `-m` naming %s's file and `-c %ld` (llama.cpp's flags; "
             "`-np N` divides -c among N slots, so give N times that)",
             model, want);
}
