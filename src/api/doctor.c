/*
 * doctor: GET /careti/v1/doctor checks the well-known ways a local model
 * setup fails (no server on the port, a misspelt model, a context window
 * cut by the server, too little memory or disk, a slow model, commands
 * without a sandbox) and says the fix for each (the session database
 * among them).  Owns one check
 * run per request; holds the request
 * id, never its pointer, across the provider calls it makes.  Never
 * blocks: /proc and statvfs are read on the thread pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "careti/agent/command.h"
#include "careti/api/doctor.h"
#include "careti/core/jfield.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"
#include "careti/http/router.h"
#include "careti/models/relay.h"

struct doctor {
    uv_loop_t *loop;
    struct http_server *srv;
    struct lookup *lookup;
    struct providers *providers;
    struct upstream *up;
    const struct config *cfg;
    char *const *socket; /* the daemon's, which socket activation may replace */
    const struct store *store;
};

/* One doctor run. */
struct run {
    struct doctor *dr;
    uint64_t request_id;
    int pending;
    json_t *checks;
    /* read on the thread pool */
    uv_work_t work;
    double mem_gib;
    char mem_error[640];
    bool landlock_fixed; /* a fixture stands for the kernel's answer */
    int landlock_abi;
    json_t *disks; /* [{provider, dir, free, total, error?}] */
    /* the default model */
    struct resolution res;
    int resolve_status;
    char resolve_error[1024];
    json_t *show;  /* Ollama /api/show of it */
    json_t *ps;    /* Ollama /api/ps */
    json_t *probe_done;
    char probe_error[512];
    json_t *versions; /* provider name -> version text */
};

static void maybe_finish(struct run *r);
static void check_store(struct run *r);

static void
add_check(struct run *r, const char *name, const char *status, const char *evidence,
          const char *fix)
{
    json_array_append_new(r->checks, json_pack("{s:s, s:s, s:s, s:s?}", "check", name, "status",
                                               status, "evidence", evidence, "fix", fix));
}

/* ---- memory and disk (thread pool) ---- */

static const char *
fixture(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("CARETI_DOCTOR_FIXTURES");
    if (dir == NULL || *dir == '\0')
        return NULL;
    snprintf(buf, len, "%s/%s", dir, name);
    return buf;
}

static void
read_memory(struct run *r)
{
    char path[512];
    const char *p = fixture("meminfo", path, sizeof path);
    FILE *f = fopen(p ? p : "/proc/meminfo", "r");
    if (f == NULL) {
        snprintf(r->mem_error, sizeof r->mem_error, "cannot read %s (%s)",
                 p ? p : "/proc/meminfo", strerror(errno));
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            r->mem_gib = (double)kb / (1024.0 * 1024.0);
    }
    fclose(f);
}

static void
read_disk(json_t *d)
{
    const char *dir = jfield_str(d, "dir");
    char path[512];
    const char *fx = fixture("statvfs", path, sizeof path);
    if (fx != NULL) {
        /* A fixture: "FREE_BYTES TOTAL_BYTES". */
        FILE *f = fopen(fx, "r");
        unsigned long long free_b = 0, total = 0;
        if (f != NULL && fscanf(f, "%llu %llu", &free_b, &total) == 2) {
            json_object_set_new(d, "free", json_integer((json_int_t)free_b));
            json_object_set_new(d, "total", json_integer((json_int_t)total));
        }
        if (f != NULL)
            fclose(f);
        return;
    }
    /* The models directory may not exist yet: measure where it will be. */
    char probe[512];
    snprintf(probe, sizeof probe, "%s", dir);
    struct statvfs st;
    while (statvfs(probe, &st) != 0) {
        char *slash = strrchr(probe, '/');
        if (slash == NULL || slash == probe) {
            json_object_set_new(d, "error", json_string(strerror(errno)));
            return;
        }
        *slash = '\0';
    }
    json_object_set_new(d, "free", json_integer((json_int_t)st.f_bavail * (json_int_t)st.f_frsize));
    json_object_set_new(d, "total", json_integer((json_int_t)st.f_blocks * (json_int_t)st.f_frsize));
}

/* A fixture "landlock" holds what command_landlock_abi() would answer:
 * an ABI version, or a negative errno for a kernel without Landlock. */
static void
read_landlock_fixture(struct run *r)
{
    char path[512];
    const char *fx = fixture("landlock", path, sizeof path);
    FILE *f = fx ? fopen(fx, "r") : NULL;
    if (f == NULL)
        return;
    r->landlock_fixed = fscanf(f, "%d", &r->landlock_abi) == 1;
    fclose(f);
}

static void
on_host_work(uv_work_t *w)
{
    struct run *r = w->data;
    read_memory(r);
    read_landlock_fixture(r);
    size_t i;
    json_t *d;
    json_array_foreach(r->disks, i, d) read_disk(d);
}

static void
on_host_done(uv_work_t *w, int status)
{
    struct run *r = w->data;
    (void)status;
    r->pending--;
    maybe_finish(r);
}

/* ---- provider calls (loop) ---- */

/* A GET to a provider the run waits for. */
struct part {
    struct run *run;
    char provider[64];
    bool ps; /* /api/ps; otherwise the version */
};

static void
on_provider_json(json_t *body, const char *error, void *arg)
{
    struct part *p = arg;
    struct run *r = p->run;
    if (!p->ps)
        json_object_set_new(r->versions, p->provider,
                            json_string(body ? jfield_str_or(body, "version", "?")
                                             : error));
    else if (body != NULL)
        r->ps = json_incref(body);
    free(p);
    r->pending--;
    maybe_finish(r);
}

/* provider_get_json only GETs; /api/show is a POST, so it goes through a
 * raw relay with a sink that keeps the body. */
struct collect {
    struct run *run;
    struct sbuf body;
    bool show; /* /api/show; otherwise the probe */
};

static void
collect_start(void *arg, const char *ct)
{
    (void)arg;
    (void)ct;
}

static bool
collect_writable(void *arg)
{
    (void)arg;
    return true;
}

static void
collect_write(void *arg, const char *data, size_t len)
{
    struct collect *c = arg;
    sbuf_add(&c->body, data, len);
}

static void
collect_finish(struct collect *c, const char *error)
{
    struct run *r = c->run;
    if (c->show) {
        json_t *j = error ? NULL : json_loadb(c->body.s ? c->body.s : "", c->body.len, 0, NULL);
        r->show = j;
    } else {
        /* The probe streams NDJSON: keep the final object or the error. */
        char *line = c->body.s;
        while (line != NULL && *line != '\0') {
            char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            json_t *j = json_loadb(line, n, 0, NULL);
            if (jfield_str(j, "error") != NULL)
                snprintf(r->probe_error, sizeof r->probe_error, "%s",
                         jfield_str(j, "error"));
            if (json_is_true(json_object_get(j, "done"))) {
                json_decref(r->probe_done);
                r->probe_done = json_incref(j);
            }
            json_decref(j);
            line = nl ? nl + 1 : NULL;
        }
        if (error != NULL)
            snprintf(r->probe_error, sizeof r->probe_error, "%s", error);
    }
    sbuf_free(&c->body);
    free(c);
    r->pending--;
    maybe_finish(r);
}

static void
collect_end(void *arg, const char *body, size_t len)
{
    struct collect *c = arg;
    if (body != NULL)
        sbuf_add(&c->body, body, len);
    collect_finish(c, NULL);
}

static void
collect_fail(void *arg, int status, const char *msg)
{
    (void)status;
    collect_finish(arg, msg);
}

static const struct relay_sink collect_sink = {
    collect_start, collect_writable, collect_write, collect_end, collect_fail,
};

static void
start_collect(struct run *r, bool show, json_t *body, const char *raw_path, bool stream)
{
    struct doctor *dr = r->dr;
    struct collect *c = xcalloc(1, sizeof *c);
    c->run = r;
    c->show = show;
    struct relay_spec spec = {
        .what = show ? "doctor show" : "doctor probe",
        .up = dr->up,
        .providers = dr->providers,
        .res = &r->res,
        .ep = EP_CHAT,
        .client = WIRE_OLLAMA,
        .client_stream = stream,
        .body = body,
        .config_path = dr->cfg->path,
        .raw_path = raw_path,
    };
    r->pending++;
    struct relay *rl = relay_new(&spec, &collect_sink, c);
    relay_go(rl);
}

static void
on_default_resolved(int status, const struct resolution *res, const char *error, void *arg)
{
    struct run *r = arg;
    r->resolve_status = status;
    if (status != 0) {
        snprintf(r->resolve_error, sizeof r->resolve_error, "%s", error);
    } else {
        r->res = *res;
        struct provider *p = providers_find(r->dr->providers, res->cand[0].provider);
        /* A server that takes the window per request: the context check
         * reads the model's own limits (/api/show) and what is loaded
         * (/api/ps). */
        if (p != NULL && provider_takes_num_ctx(p)) {
            json_t *show = json_pack("{s:s}", "model", res->cand[0].model);
            start_collect(r, true, show, "/api/show", false);
            json_decref(show);
            struct part *pt = xcalloc(1, sizeof *pt);
            pt->run = r;
            pt->ps = true;
            r->pending++;
            provider_get_json(p, "/api/ps", on_provider_json, pt);
        }
        json_t *probe = json_pack("{s:[{s:s, s:s}], s:b, s:{s:i}}", "messages", "role", "user",
                                  "content", "Reply with the single word OK.", "stream", 1,
                                  "options", "num_predict", 16);
        start_collect(r, false, probe, NULL, true);
        json_decref(probe);
    }
    r->pending--;
    maybe_finish(r);
}

/* ---- the checks ---- */

/* Servers' answers may lack a name: never compare a NULL. */
static bool
same_name(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The default model's field FIELD in its provider's catalogue, or NULL. */
static json_t *
model_entry(struct run *r, const char *field)
{
    struct provider *p = providers_find(r->dr->providers, r->res.cand[0].provider);
    return json_object_get(provider_model_entry(p, r->res.cand[0].model), field);
}

static void
check_providers(struct run *r)
{
    for (size_t i = 0; i < providers_count(r->dr->providers); i++) {
        struct provider *p = providers_at(r->dr->providers, i);
        char name[96], evidence[512];
        snprintf(name, sizeof name, "provider %s", provider_name(p));
        if (!provider_reachable(p)) {
            add_check(r, name, "fail", provider_last_error(p), provider_start_fix(p));
            continue;
        }
        const char *version = jfield_str(r->versions, provider_name(p));
        snprintf(evidence, sizeof evidence, "%s at %s answers%s%s, %zu models", provider_name(p),
                 provider_base(p), version ? ": version " : "", version ? version : "",
                 json_array_size(provider_models(p)));
        add_check(r, name, "ok", evidence, NULL);
    }
}

/* The guide's advice by memory: a 30B coder model is the smallest that is
 * reliable at tool use. */
static void
check_memory(struct run *r)
{
    char evidence[256], fix[256];
    if (r->mem_error[0]) {
        add_check(r, "memory", "warn", r->mem_error, "check /proc/meminfo");
        return;
    }
    double g = r->mem_gib;
    const char *status = "ok";
    if (g >= 120)
        snprintf(fix, sizeof fix, "GLM-4.5-Air 4-bit fits (about 60 GB)");
    else if (g >= 60)
        snprintf(fix, sizeof fix, "Qwen3 Coder 30B 8-bit fits (about 32 GB): ollama pull "
                                  "qwen3-coder:30b-a3b-q8_0");
    else if (g >= 30)
        snprintf(fix, sizeof fix, "Qwen3 Coder 30B 4-bit fits (about 17 GB): ollama pull "
                                  "qwen3-coder:30b");
    else if (g >= 20) {
        /* The 30B model loads, but its context competes with everything
         * else for what is left. */
        status = "warn";
        snprintf(fix, sizeof fix,
                 "Qwen3 Coder 30B 4-bit (about 19 GB) fits with little to spare: keep "
                 "settings.context_length modest (32768) and close large programs");
    } else {
        status = "warn";
        snprintf(fix, sizeof fix,
                 "models under 30B often fail at tool use; the best that fits is %s",
                 g >= 16 ? "qwen3:14b (about 9 GB)" : g >= 8 ? "qwen3:8b (about 5 GB)"
                                                             : "qwen3:4b (about 3 GB)");
    }
    snprintf(evidence, sizeof evidence, "%.1f GiB of memory", g);
    add_check(r, "memory", status, evidence, fix);
}

static void
check_default_model(struct run *r)
{
    char evidence[1024], fix[512];
    if (r->resolve_status != 0) {
        add_check(r, "default model", "fail", r->resolve_error,
                  "pull it, or set defaults.model to an installed model (caretictl models)");
        return;
    }
    /* An alias resolves without its servers: one of them must answer. */
    struct provider *up = NULL;
    for (size_t i = 0; i < r->res.n && up == NULL; i++) {
        struct provider *p = providers_find(r->dr->providers, r->res.cand[i].provider);
        if (p != NULL && provider_reachable(p))
            up = p;
    }
    if (up == NULL) {
        struct provider *p = providers_find(r->dr->providers, r->res.cand[0].provider);
        snprintf(evidence, sizeof evidence, "%s is %s on %s, which is not answering: %s",
                 r->res.name, r->res.cand[0].model, r->res.cand[0].provider,
                 p ? provider_last_error(p) : "no such provider");
        add_check(r, "default model", "fail", evidence,
                  p ? provider_start_fix(p) : "fix the provider in defaults.model's alias");
        return;
    }
    double size = json_number_value(model_entry(r, "size"));
    const char *quant = json_string_value(model_entry(r, "quantization"));
    snprintf(evidence, sizeof evidence, "%s is %s on %s%s%s", r->res.name, r->res.cand[0].model,
             r->res.cand[0].provider, quant ? ", " : "", quant ? quant : "");
    if (size > 0 && r->mem_gib > 0 && size > 0.8 * r->mem_gib * 1073741824.0) {
        snprintf(fix, sizeof fix,
                 "%.1f GB is over 80%% of memory: choose a smaller quantization or model",
                 size / 1e9);
        add_check(r, "default model", "warn", evidence, fix);
        return;
    }
    add_check(r, "default model", "ok", evidence, NULL);
}

static long
show_num_ctx(const json_t *show)
{
    const char *params = jfield_str(show, "parameters");
    for (const char *p = params; p != NULL && *p != '\0';) {
        if (strncmp(p, "num_ctx", 7) == 0 && (p[7] == ' ' || p[7] == '\t'))
            return strtol(p + 7, NULL, 10);
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

static void
check_context(struct run *r)
{
    if (r->resolve_status != 0)
        return;
    char evidence[512], fix[512];
    long configured = r->res.context_length;
    struct provider *p = providers_find(r->dr->providers, r->res.cand[0].provider);
    if (p != NULL && provider_takes_num_ctx(p)) {
        json_t *info = json_object_get(r->show, "model_info");
        const char *arch = jfield_str(info, "general.architecture");
        char key[128];
        snprintf(key, sizeof key, "%s.context_length", arch ? arch : "");
        long trained = (long)json_integer_value(json_object_get(info, key));
        long modelfile = show_num_ctx(r->show);
        long loaded = 0;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(r->ps, "models"), i, m)
            if (same_name(jfield_str(m, "name"), r->res.cand[0].model))
                loaded = (long)json_integer_value(json_object_get(m, "context_length"));
        long server_alone = modelfile > 0 ? modelfile : 0;
        snprintf(evidence, sizeof evidence,
                 "configured %ld; trained maximum %ld; Modelfile num_ctx %ld; loaded now %ld%s",
                 configured, trained, modelfile, loaded,
                 server_alone > 0 && server_alone < configured
                     ? " (the server alone would cut prompts to the Modelfile's num_ctx)"
                     : "");
        if (trained > 0 && trained < configured) {
            snprintf(fix, sizeof fix,
                     "the model stops at %ld tokens: set context_length to %ld for it", trained,
                     trained);
            add_check(r, "context length", "warn", evidence, fix);
        } else {
            add_check(r, "context length", "ok", evidence,
                      "caretid sends num_ctx with every request to Ollama, so the server's own "
                      "default (4096 to 32768, or the Modelfile's) does not cut the window");
        }
        return;
    }
    long loaded = (long)json_number_value(model_entry(r, "context_length"));
    char how[384];
    if (json_is_false(model_entry(r, "loaded"))) {
        snprintf(evidence, sizeof evidence, "%s is not loaded in %s", r->res.cand[0].model,
                 r->res.cand[0].provider);
        provider_load_hint(p, r->res.cand[0].model, configured, 0, fix, sizeof fix);
        add_check(r, "context length", "warn", evidence, fix);
        return;
    }
    snprintf(evidence, sizeof evidence, "configured %ld; the server loaded it with %ld",
             configured, loaded);
    if (loaded > 0 && loaded < configured) {
        provider_load_hint(p, r->res.cand[0].model, configured, loaded, how, sizeof how);
        snprintf(fix, sizeof fix,
                 "the server cuts prompts at %ld tokens: %s (caretid plans turns within %ld "
                 "meanwhile)",
                 loaded, how, loaded);
        add_check(r, "context length", "warn", evidence, fix);
    } else {
        add_check(r, "context length", "ok", evidence, NULL);
    }
}

static void
check_compact_prompt(struct run *r)
{
    if (r->dr->cfg->defaults.compact_prompt)
        add_check(r, "compact prompt", "ok", "defaults.compact_prompt is true", NULL);
    else
        add_check(r, "compact prompt", "warn", "defaults.compact_prompt is false",
                  "set defaults.compact_prompt: true; local models follow a short prompt better");
}

/* Which sandbox agent commands run in.  The kernel is asked on the loop
 * (a syscall, then cached), never from the thread pool. */
static void
check_sandbox(struct run *r)
{
    if (!r->dr->cfg->agent.sandbox) {
        add_check(r, "sandbox", "ok", "off (agent.sandbox: off)", NULL);
        return;
    }
    int abi = r->landlock_fixed ? r->landlock_abi : command_landlock_abi();
    if (abi > 0) {
        char evidence[64];
        snprintf(evidence, sizeof evidence, "landlock (ABI %d)", abi);
        add_check(r, "sandbox", "ok", evidence, NULL);
        return;
    }
    add_check(r, "sandbox", "warn",
              "unavailable (kernel without Landlock): commands run unsandboxed",
              abi == -EOPNOTSUPP
                  ? "the kernel has Landlock but it is off: add landlock to its lsm= boot "
                    "parameter; or set agent.sandbox: off to say that unsandboxed is meant"
                  : "run a kernel built with Landlock (CONFIG_SECURITY_LANDLOCK, Linux 5.13 and "
                    "later; Debian 12's has it); or set agent.sandbox: off to say that "
                    "unsandboxed is meant");
}

static void
check_cache_settings(struct run *r)
{
    add_check(r, "KV cache and flash attention", "ok",
              "not visible through the servers' APIs",
              "for Ollama run `ollama serve` with OLLAMA_FLASH_ATTENTION=1 and keep "
              "OLLAMA_KV_CACHE_TYPE=f16; in LM Studio, turn on Flash Attention and keep the K/V "
              "cache unquantized in the model's load settings");
}

static void
check_disk(struct run *r)
{
    size_t i;
    json_t *d;
    json_array_foreach(r->disks, i, d)
    {
        char name[96], evidence[512];
        snprintf(name, sizeof name, "disk for %s",
                 jfield_str(d, "provider"));
        const char *err = jfield_str(d, "error");
        double free_b = json_number_value(json_object_get(d, "free"));
        if (err != NULL) {
            snprintf(evidence, sizeof evidence, "%s: %s",
                     jfield_str(d, "dir"), err);
            add_check(r, name, "warn", evidence, "check where the models are kept");
            continue;
        }
        snprintf(evidence, sizeof evidence, "%.1f GB free where %s keeps models (%s)",
                 free_b / 1e9, jfield_str(d, "provider"),
                 jfield_str(d, "dir"));
        if (free_b < 5e9)
            add_check(r, name, "fail", evidence,
                      "free space before pulling: a 30B model at 4 bits is about 17 GB");
        else if (free_b < 20e9)
            add_check(r, name, "warn", evidence,
                      "a 30B model at 4 bits needs about 17 GB, at 8 bits about 32 GB");
        else
            add_check(r, name, "ok", evidence, NULL);
    }
}

static void
check_probe(struct run *r)
{
    if (r->resolve_status != 0)
        return;
    char evidence[512];
    if (r->probe_error[0] || r->probe_done == NULL) {
        add_check(r, "probe", "fail",
                  r->probe_error[0] ? r->probe_error : "the answer ended before it was complete",
                  "fix the failures above, then `caretictl ask -v hello`");
        return;
    }
    double load = (double)json_integer_value(json_object_get(r->probe_done, "load_duration")) / 1e9;
    double n = (double)json_integer_value(json_object_get(r->probe_done, "eval_count"));
    double d = (double)json_integer_value(json_object_get(r->probe_done, "eval_duration"));
    double tps = d > 0 ? n * 1e9 / d : 0;
    snprintf(evidence, sizeof evidence, "load %.1f s, %.1f tokens/s", load, tps);
    if (tps > 0 && tps < 5)
        add_check(r, "probe", "warn", evidence,
                  "below the 5-20 tokens/s usual for local models: try a smaller model or "
                  "quantization, and check it fits in GPU memory (caretictl ps)");
    else
        add_check(r, "probe", "ok", evidence,
                  load > 30 ? "a cold load this long is normal for large models; it is paid "
                              "once per load"
                            : NULL);
}

static void
maybe_finish(struct run *r)
{
    if (r->pending > 0)
        return;
    struct http_request *req = http_server_find_request(r->dr->srv, r->request_id);
    if (req != NULL) {
        check_store(r);
        check_providers(r);
        check_memory(r);
        check_default_model(r);
        check_context(r);
        check_compact_prompt(r);
        check_sandbox(r);
        check_cache_settings(r);
        check_disk(r);
        check_probe(r);
        json_t *out = json_pack("{s:O}", "checks", r->checks);
        http_respond_json_take(req, 200, out);
    }
    json_decref(r->checks);
    json_decref(r->disks);
    json_decref(r->show);
    json_decref(r->ps);
    json_decref(r->probe_done);
    json_decref(r->versions);
    free(r);
}

/* The session database: opened, whole by PRAGMA quick_check, writable,
 * and still the file at its path.  The store's reason reads "agent
 * state: WHAT; FIX": the evidence is WHAT, the fix the rest. */
static void
check_store(struct run *r)
{
    const struct store *st = r->dr->store;
    if (st == NULL)
        return;
    if (store_ready(st)) {
        char evidence[640];
        snprintf(evidence, sizeof evidence,
                 "%s passed quick_check at start and is written to", store_path(st));
        add_check(r, "agent state", "ok", evidence, NULL);
        return;
    }
    if (!store_failed(st)) {
        add_check(r, "agent state", "warn", "the session database is still being opened",
                  "run caretictl doctor again in a moment");
        return;
    }
    char evidence[512];
    const char *why = store_error(st);
    if (strncmp(why, "agent state: ", 13) == 0)
        why += 13;
    snprintf(evidence, sizeof evidence, "%s", why);
    char *fix = strstr(evidence, "; ");
    if (fix != NULL) {
        *fix = '\0';
        fix += 2;
    }
    add_check(r, "agent state", "fail", evidence,
              fix ? fix : "fix what it says, then restart caretid");
}

static void
on_catalogues(void *arg)
{
    struct run *r = arg;
    struct doctor *dr = r->dr;
    char daemon_line[512];
    snprintf(daemon_line, sizeof daemon_line, "caretid answers on %s", *dr->socket);
    add_check(r, "daemon", "ok", daemon_line, NULL);
    for (size_t i = 0; i < providers_count(dr->providers); i++) {
        struct provider *p = providers_at(dr->providers, i);
        if (provider_version_path(p) != NULL && provider_reachable(p)) {
            struct part *pt = xcalloc(1, sizeof *pt);
            pt->run = r;
            snprintf(pt->provider, sizeof pt->provider, "%s", provider_name(p));
            r->pending++;
            provider_get_json(p, provider_version_path(p), on_provider_json, pt);
        }
        /* Disk only matters for a server on this machine. */
        const char *base = provider_base(p);
        bool local = strstr(base, "://127.") != NULL || strstr(base, "://localhost") != NULL ||
                     strstr(base, "://[::1]") != NULL;
        char *dir = local ? provider_models_dir(p) : NULL;
        if (dir != NULL) {
            json_array_append_new(r->disks,
                                  json_pack("{s:s, s:s}", "provider", provider_name(p), "dir", dir));
            free(dir);
        }
    }
    r->work.data = r;
    r->pending++;
    if (uv_queue_work(dr->loop, &r->work, on_host_work, on_host_done) != 0) {
        snprintf(r->mem_error, sizeof r->mem_error, "cannot read memory (thread pool)");
        r->pending--;
    }
    r->pending++;
    lookup_model(dr->lookup, NULL, on_default_resolved, r);
    r->pending--; /* the catalogue wait itself */
    maybe_finish(r);
}

static void
on_doctor(struct http_request *req, void *arg)
{
    struct doctor *dr = arg;
    struct run *r = xcalloc(1, sizeof *r);
    r->dr = dr;
    r->request_id = http_request_id(req);
    r->checks = json_array();
    r->disks = json_array();
    r->versions = json_object();
    r->pending = 1;
    /* Fresh catalogues: the doctor reports what is true now. */
    providers_refresh(dr->providers, true, on_catalogues, r);
}

struct doctor *
doctor_new(uv_loop_t *loop, struct http_server *srv, struct lookup *lookup,
           struct providers *providers, struct upstream *up)
{
    struct doctor *dr = xcalloc(1, sizeof *dr);
    dr->loop = loop;
    dr->srv = srv;
    dr->lookup = lookup;
    dr->providers = providers;
    dr->up = up;
    return dr;
}

void
doctor_set_config(struct doctor *dr, const struct config *cfg, char *const *socket)
{
    dr->cfg = cfg;
    dr->socket = socket;
}

void
doctor_set_store(struct doctor *dr, const struct store *st)
{
    dr->store = st;
}

void
doctor_register(struct doctor *dr, struct router *r)
{
    router_add(r, "GET", "/careti/v1/doctor", on_doctor, dr);
}

void
doctor_free(struct doctor *dr)
{
    free(dr);
}
