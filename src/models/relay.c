/*
 * relay: one client request served by a provider.  Owns the translated
 * upstream body, the stream translator, the provider slot and the
 * upstream transfer until the client's request ends.  It must never leave
 * a client with an answer that looks finished when it is not: truncation
 * and upstream faults become in-band errors once bytes have gone out, and
 * HTTP errors before.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "careti/core/log.h"
#include "careti/core/sbuf.h"
#include "careti/core/text.h"
#include "careti/core/xmalloc.h"
#include "careti/http/router.h"
#include "careti/models/metrics.h"
#include "careti/models/relay.h"
#include "careti/wire/jscan.h"

/* Error bodies from a provider are short; a bound keeps a misbehaving
 * one from filling memory. */
#define RELAY_MAX_ERROR_BODY (1024 * 1024)
/* A non-streamed answer is aggregated before it goes out. */
#define RELAY_MAX_AGGREGATE (64 * 1024 * 1024)

struct relay {
    struct metrics *metrics;
    const struct relay_sink *sink;
    void *sink_arg;
    char what[64]; /* "POST /api/chat", for logs */
    struct upstream *up;
    struct providers *providers;
    /* The resolution, without its unused candidate slots: a relay is
     * made per request, and zeroing eight of them cost more than the
     * rest of its setup. */
    char name[sizeof ((struct resolution *)0)->name]; /* what the client asked for */
    long context_length;
    json_t *alias_options; /* a reference: a reload may free the config meanwhile */
    struct resolve_candidate *cands; /* N_CANDS, tried in order */
    size_t n_cands;
    size_t cand;
    enum endpoint ep;
    enum wire client;
    enum wire upstream_wire;
    bool client_stream;
    bool include_usage;
    json_t *body; /* NULL while only RAW is known */
    /* The client's body as it came, with its members, when jscan vouched
     * for it (see relay_spec). */
    struct sbuf raw;
    struct jscan_object *scanned;
    char *config_path;
    char *raw_path;
    struct provider *prov;
    bool have_slot;
    struct provider_wait *wait;
    struct upstream_req *ureq;
    struct xlate *x;
    struct sbuf out;
    struct sbuf errbody;
    int status;
    bool error_mode;   /* the provider answered with an error */
    bool started;      /* response head sent to the client */
    bool finished;     /* the sink has been told the outcome */
    char tried[512];   /* failures of earlier candidates, for the last message */
    uint64_t start_ns;
};

static void try_candidate(struct relay *r);

static void
relay_free(struct relay *r)
{
    if (r->wait != NULL)
        provider_wait_cancel(r->wait);
    if (r->have_slot)
        provider_release(r->prov);
    provider_unref(r->prov);
    xlate_free(r->x);
    sbuf_free(&r->out);
    sbuf_free(&r->errbody);
    json_decref(r->body);
    sbuf_free(&r->raw);
    free(r->scanned);
    free(r->config_path);
    free(r->raw_path);
    free(r->cands);
    json_decref(r->alias_options);
    free(r);
}

static void
record(struct relay *r, int status, const char *kind)
{
    if (r->metrics == NULL)
        return;
    long prompt = -1, completion = -1;
    uint64_t first = 0;
    if (r->x != NULL) {
        xlate_usage(r->x, &prompt, &completion);
        first = xlate_first_token_ns(r->x);
    }
    struct metrics_sample smp = {
        .provider = r->prov ? provider_name(r->prov) : "",
        .model = r->name,
        .status = status,
        .error_kind = kind,
        .ttft_s = first ? (double)(first - r->start_ns) / 1e9 : -1,
        .prompt_tokens = prompt,
        .completion_tokens = completion,
        .duration_s = (double)(uv_hrtime() - r->start_ns) / 1e9,
    };
    metrics_record(r->metrics, &smp);
    if (r->started)
        metrics_stream_close(r->metrics);
}

/* End the request after a failure of KIND, in whichever form fits now. */
static void
fail(struct relay *r, int status, const char *kind, const char *msg)
{
    if (r->finished)
        return;
    r->finished = true;
    record(r, status, kind);
    log_warn("%s: %s", r->what, msg);
    if (!r->started) {
        r->sink->fail(r->sink_arg, status, msg);
        return;
    }
    sbuf_reset(&r->out);
    xlate_error(r->x, msg, &r->out);
    r->sink->write(r->sink_arg, r->out.s, r->out.len);
    r->sink->end(r->sink_arg, NULL, 0);
}

void
relay_cancel(struct relay *r)
{
    if (!r->finished)
        record(r, 499, "client_gone");
    r->finished = true;
    /* The provider must stop generating now, not when it next writes. */
    if (r->ureq != NULL) {
        upstream_cancel(r->ureq);
        r->ureq = NULL;
    }
    relay_free(r);
}

void
relay_resume(struct relay *r)
{
    if (r->ureq != NULL)
        upstream_resume(r->ureq);
}

static const char *
client_content_type(const struct relay *r)
{
    if (!r->client_stream || r->ep == EP_EMBED)
        return "application/json";
    return r->client == WIRE_OPENAI ? "text/event-stream" : "application/x-ndjson";
}

/* Send the client its streamed answer's head. */
static void
start_client_stream(struct relay *r)
{
    r->started = true;
    if (r->metrics != NULL)
        metrics_stream_open(r->metrics);
    r->sink->start(r->sink_arg, client_content_type(r));
}

static void
on_head(int status, const char *content_type, void *arg)
{
    struct relay *r = arg;
    r->status = status;
    /* A JSON answer where a stream was asked for is an error object
     * (LM Studio answers unknown routes with 200 and one). */
    bool json_body = content_type != NULL && strstr(content_type, "application/json") != NULL;
    bool one_object = status == 200 && json_body && r->ep != EP_EMBED && r->raw_path == NULL;
    if (status >= 400 || (one_object && r->upstream_wire == WIRE_OPENAI)) {
        r->error_mode = true;
        return;
    }
    /* Ollama answers in one object, not a stream, when it fails
     * ({"error":"..."} under 200) or only loads a model: the client's
     * head waits until that object is read, so an error can still be an
     * HTTP error (on_done, finish_ok). */
    if (one_object)
        return;
    if (r->client_stream && r->ep != EP_EMBED)
        start_client_stream(r);
}

static bool
writable(void *arg)
{
    struct relay *r = arg;
    return !r->started || r->sink->writable(r->sink_arg);
}

static void
finish_ok(struct relay *r)
{
    r->finished = true;
    /* Before record(), which closes the stream in the metrics. */
    if (!r->started && r->client_stream && r->ep != EP_EMBED)
        start_client_stream(r); /* held back by on_head */
    record(r, 200, NULL);
    if (r->started) {
        if (r->out.len > 0)
            r->sink->write(r->sink_arg, r->out.s, r->out.len);
        r->sink->end(r->sink_arg, NULL, 0);
        return;
    }
    r->sink->end(r->sink_arg, r->out.s ? r->out.s : "", r->out.len);
}

/* Into MSG: a broken stream, ERR from the translator, with the provider
 * and its base URL.  Its code says whose words ERR has: -EIO for the
 * server's own error, else ours. */
static void
stream_error_message(const struct relay *r, const struct cerr *err, char *msg, size_t msglen)
{
    bool theirs = err->code == -EIO;
    snprintf(msg, msglen, "%s (%s)%s: %s", provider_name(r->prov), provider_base(r->prov),
             theirs ? " answered" : "", err->msg);
}

static void
on_data(const char *data, size_t len, void *arg)
{
    struct relay *r = arg;
    if (r->finished)
        return;
    if (r->error_mode) {
        if (r->errbody.len + len <= RELAY_MAX_ERROR_BODY)
            sbuf_add(&r->errbody, data, len);
        return;
    }
    struct cerr err = {0};
    if (r->started)
        sbuf_reset(&r->out);
    if (r->raw_path != NULL) {
        if (r->started)
            r->sink->write(r->sink_arg, data, len);
        else if (r->out.len + len <= RELAY_MAX_AGGREGATE)
            sbuf_add(&r->out, data, len);
        return;
    }
    /* What comes out is about what went in: room for it at once. */
    sbuf_reserve(&r->out, len);
    enum xlate_status st = xlate_feed(r->x, data, len, uv_hrtime(), &r->out, &err);
    if (!r->started && r->out.len > RELAY_MAX_AGGREGATE)
        st = XLATE_ERROR, cerr_set(&err, -EMSGSIZE, 502, "the answer is over 64 MiB");
    if (st == XLATE_MORE) {
        if (r->started && r->out.len > 0)
            r->sink->write(r->sink_arg, r->out.s, r->out.len);
        return;
    }
    if (st == XLATE_ERROR || st == XLATE_ERROR_PASSED) {
        /* A broken stream: stop reading it; the connection is not reused. */
        upstream_cancel(r->ureq);
        r->ureq = NULL;
        char msg[512];
        stream_error_message(r, &err, msg, sizeof msg);
        if (st == XLATE_ERROR_PASSED && r->started) {
            /* The provider's own in-band error was passed on as is. */
            r->finished = true;
            record(r, 200, "upstream_error");
            r->sink->write(r->sink_arg, r->out.s, r->out.len);
            r->sink->end(r->sink_arg, NULL, 0);
        } else {
            fail(r, 502, err.code == -EMSGSIZE ? "too_large" : "bad_stream", msg);
        }
        relay_free(r);
        return;
    }
    if (!r->client_stream) {
        sbuf_reset(&r->out);
        xlate_end(r->x, uv_hrtime(), &r->out, &err);
    }
    /* The client has its whole answer now; the transfer is left to end on
     * its own, so the connection is kept for the next request.  The
     * relay is freed in on_done. */
    finish_ok(r);
}

static const char *
failure_kind(enum upstream_failure f)
{
    switch (f) {
    case UPSTREAM_CONNECT_REFUSED:
        return "connect_refused";
    case UPSTREAM_DNS:
        return "dns";
    case UPSTREAM_CONNECT_TIMEOUT:
        return "connect_timeout";
    case UPSTREAM_FIRST_BYTE_TIMEOUT:
        return "first_byte_timeout";
    case UPSTREAM_IDLE_TIMEOUT:
        return "idle_timeout";
    case UPSTREAM_DROPPED:
        return "dropped";
    case UPSTREAM_TLS:
        return "tls";
    case UPSTREAM_OK:
    case UPSTREAM_OTHER:
        break;
    }
    return "transport";
}

static bool
retriable(enum upstream_failure f)
{
    return f == UPSTREAM_CONNECT_REFUSED || f == UPSTREAM_DNS || f == UPSTREAM_CONNECT_TIMEOUT;
}

static void
on_done(enum upstream_failure failure, const struct cerr *uerr, void *arg)
{
    struct relay *r = arg;
    r->ureq = NULL;
    if (r->finished) {
        relay_free(r);
        return;
    }
    char msg[640];
    if (failure != UPSTREAM_OK) {
        provider_describe_failure(r->prov, failure, uerr ? uerr->msg : "", r->config_path, msg,
                                  sizeof msg);
        if (!r->started && retriable(failure) && r->cand + 1 < r->n_cands) {
            log_info("failover: %s", msg);
            size_t used = strlen(r->tried);
            snprintf(r->tried + used, sizeof r->tried - used, "%s%s", used ? "; " : "",
                     provider_name(r->prov));
            r->cand++;
            try_candidate(r);
            return;
        }
        int status = failure == UPSTREAM_FIRST_BYTE_TIMEOUT ? 504 : 502;
        if (r->tried[0] != '\0') {
            size_t used = strlen(msg);
            snprintf(msg + used, sizeof msg - used, " (also unreachable: %s)", r->tried);
        }
        fail(r, status, failure_kind(failure), msg);
        relay_free(r);
        return;
    }
    if (r->error_mode) {
        char upstream_msg[400];
        if (!translate_error_message(r->errbody.s ? r->errbody.s : "", r->errbody.len,
                                     upstream_msg, sizeof upstream_msg))
            snprintf(upstream_msg, sizeof upstream_msg, "HTTP %d with %s", r->status,
                     r->errbody.len ? "a body that is not an error object" : "no body");
        snprintf(msg, sizeof msg, "%s (%s) answered: %s", provider_name(r->prov),
                 provider_base(r->prov), upstream_msg);
        fail(r, r->status >= 400 ? r->status : 502,
             r->status >= 500 || r->status < 400 ? "upstream_5xx" : "upstream_4xx", msg);
        relay_free(r);
        return;
    }
    struct cerr err = {0};
    if (r->raw_path != NULL) {
        if (r->started)
            sbuf_reset(&r->out);
        finish_ok(r);
        relay_free(r);
        return;
    }
    sbuf_reset(&r->out);
    enum xlate_status st = xlate_end(r->x, uv_hrtime(), &r->out, &err);
    if (st == XLATE_END) {
        finish_ok(r);
    } else {
        /* The server's own error before the client's head went is its
         * one-object answer under 200 (on_head), counted as LM Studio's. */
        bool theirs = err.code == -EIO;
        stream_error_message(r, &err, msg, sizeof msg);
        fail(r, 502, theirs && !r->started ? "upstream_5xx" : theirs ? "bad_stream" : "truncated",
             msg);
    }
    relay_free(r);
}

static const struct upstream_callbacks relay_callbacks = {
    on_head,
    writable,
    on_data,
    on_done,
};

static const char *
upstream_path(enum endpoint ep, enum wire w)
{
    static const char *const paths[][2] = {
        [EP_CHAT] = {"/v1/chat/completions", "/api/chat"},
        [EP_GENERATE] = {"/v1/completions", "/api/generate"},
        [EP_EMBED] = {"/v1/embeddings", "/api/embed"},
    };
    return paths[ep][w == WIRE_OLLAMA];
}

/* The upstream body through the parsed request into TEXT; false with ERR
 * when the request is refused.  A body known only as bytes is parsed
 * now: it is to be translated, or translate_request_bytes declined. */
static bool
upstream_body_from_tree(struct relay *r, const struct translate_params *tp, struct sbuf *text,
                        struct cerr *err)
{
    if (r->body == NULL) {
        json_error_t jerr;
        r->body = json_loadb(r->raw.s, r->raw.len, 0, &jerr);
        if (r->body == NULL) { /* jscan vouches only for what jansson accepts */
            cerr_set(err, -EINVAL, 400, "invalid JSON in the request body: %s", jerr.text);
            return false;
        }
    }
    json_t *ubody;
    if (r->raw_path != NULL) {
        ubody = json_deep_copy(r->body);
        json_object_del(ubody, "name");
        json_object_set_new(ubody, "model", json_string(tp->upstream_model));
    } else {
        ubody = translate_request(r->ep, r->client, r->upstream_wire, r->body, tp, err);
    }
    if (ubody == NULL)
        return false;
    sbuf_add_json(text, ubody);
    json_decref(ubody);
    return true;
}

/* The one place that decides how the client's body becomes the
 * upstream's: passed on as bytes, with only the members we own rewritten
 * (same dialect, a body jscan vouched for, and translate_request_bytes
 * able to); otherwise through the parsed tree.  The body goes into TEXT;
 * returns how, for the debug log, or NULL with ERR when the request is
 * refused. */
static const char *
upstream_body(struct relay *r, const struct translate_params *tp, struct sbuf *text,
              struct cerr *err)
{
    if (r->scanned != NULL && r->raw_path == NULL && r->client == r->upstream_wire &&
        translate_request_bytes(r->ep, r->client, r->scanned, tp, text))
        return "pass-through as bytes";
    if (!upstream_body_from_tree(r, tp, text, err))
        return NULL;
    return r->raw_path != NULL               ? "provider route, parsed"
           : r->client == r->upstream_wire ? "pass-through, parsed"
                                           : "translated";
}

/* The wall clock, in ns since the epoch, at MONO_NS on uv_hrtime's
 * clock.  The offset between the two clocks is only ever raised, so the
 * times answers carry (created_at) follow the wall clock forward but never
 * go back from one request to the next, even when the clock is set back. */
static int64_t
wall_ns_at(uint64_t mono_ns)
{
    static int64_t offset = INT64_MIN;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - (int64_t)uv_hrtime();
    if (now > offset)
        offset = now;
    return offset + (int64_t)mono_ns;
}

static void
start_transfer(struct relay *r)
{
    struct cerr err = {0};
    const struct resolve_candidate *c = &r->cands[r->cand];
    struct translate_params tp = {
        .upstream_model = c->model,
        .num_ctx = r->upstream_wire == WIRE_OLLAMA ? r->context_length : 0,
        .alias_options = r->alias_options,
        .upstream_is_lmstudio = provider_rejects_json_object(r->prov),
    };
    struct sbuf text = {0};
    const char *how = upstream_body(r, &tp, &text, &err);
    if (how == NULL) {
        fail(r, err.http_status ? err.http_status : 400, "bad_request", err.msg);
        relay_free(r);
        return;
    }
    char *url = provider_url(r->prov, r->raw_path ? r->raw_path : upstream_path(r->ep, r->upstream_wire));
    const struct config_timeouts *t = provider_timeouts(r->prov);
    struct upstream_opts o = {
        .method = "POST",
        .url = url,
        .api_key = provider_api_key(r->prov),
        .ca_file = provider_ca_file(r->prov),
        .body = text.s,
        .body_len = text.len,
        .connect_timeout_ms = t->connect_s * 1000,
        .first_byte_timeout_ms = t->first_byte_s * 1000,
        .idle_timeout_ms = t->idle_s * 1000,
    };
    struct xlate_params xp = {
        .ep = r->ep,
        .upstream = r->upstream_wire,
        .client = r->client,
        .client_stream = r->client_stream,
        .include_usage = r->include_usage,
        .model = r->name,
        .wall_start_ns = wall_ns_at(r->start_ns),
        .start_ns = r->start_ns,
        .seed = (uint32_t)(r->start_ns ^ (uintptr_t)r),
    };
    xlate_free(r->x);
    r->x = xlate_new(&xp);
    log_debug("%s: %s: %s, to %s (model %s)", r->what, provider_name(r->prov), how, url,
              c->model);
    r->ureq = upstream_start(r->up, &o, &relay_callbacks, r);
    free(url);
    sbuf_free(&text);
}

static void
on_slot(bool ok, void *arg)
{
    struct relay *r = arg;
    r->wait = NULL;
    if (!ok) {
        fail(r, 503, "queue_closed", "the provider's queue was closed");
        relay_free(r);
        return;
    }
    r->have_slot = true;
    start_transfer(r);
}

static void
try_candidate(struct relay *r)
{
    const struct resolve_candidate *c = &r->cands[r->cand];
    if (r->have_slot) {
        provider_release(r->prov);
        r->have_slot = false;
    }
    provider_unref(r->prov);
    r->prov = providers_find(r->providers, c->provider);
    if (r->prov == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "provider \"%s\" is not configured", c->provider);
        fail(r, 500, "internal", msg);
        relay_free(r);
        return;
    }
    provider_ref(r->prov);
    r->upstream_wire = provider_wire(r->prov);
    int got = provider_acquire(r->prov, on_slot, r, &r->wait);
    if (got < 0) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "%s is busy: its queue of waiting requests is full (max_queue); retry shortly",
                 provider_name(r->prov));
        fail(r, 429, "queue_full", msg);
        relay_free(r);
        return;
    }
    if (got == 1) {
        r->have_slot = true;
        start_transfer(r);
    }
}

struct relay *
relay_new(const struct relay_spec *spec, const struct relay_sink *sink, void *sink_arg)
{
    struct relay *r = xcalloc(1, sizeof *r);
    r->sink = sink;
    r->sink_arg = sink_arg;
    r->metrics = spec->metrics;
    text_copy(r->what, sizeof r->what, spec->what ? spec->what : "request");
    r->up = spec->up;
    r->providers = spec->providers;
    const struct resolution *res = spec->res;
    text_copy(r->name, sizeof r->name, res->name);
    r->context_length = res->context_length;
    r->alias_options = json_incref((json_t *)res->options);
    r->n_cands = res->n;
    r->cands = xcalloc(res->n > 0 ? res->n : 1, sizeof r->cands[0]);
    memcpy(r->cands, res->cand, res->n * sizeof r->cands[0]);
    r->ep = spec->ep;
    r->client = spec->client;
    r->client_stream = spec->client_stream;
    r->include_usage = spec->include_usage;
    r->body = json_incref((json_t *)spec->body);
    if (spec->scanned != NULL) {
        /* A copy of the bytes, and of the members, moved onto it. */
        sbuf_add(&r->raw, spec->raw_body, spec->raw_body_len);
        r->scanned = xmalloc(sizeof *r->scanned);
        *r->scanned = *spec->scanned;
        jscan_rebase(r->scanned, spec->raw_body, r->raw.s);
    }
    r->config_path = spec->config_path ? xstrdup(spec->config_path) : NULL;
    r->raw_path = spec->raw_path ? xstrdup(spec->raw_path) : NULL;
    r->start_ns = uv_hrtime();
    return r;
}

void
relay_go(struct relay *r)
{
    try_candidate(r);
}

/* ---- the HTTP sink: a client request on our own server ---- */

struct http_sink {
    struct http_request *req;
    struct relay *relay;
};

/* The request is over: stop listening for its abort and drain. */
static void
http_sink_detach(struct http_sink *hs)
{
    http_request_on_abort(hs->req, NULL, NULL);
    http_request_on_drain(hs->req, NULL, NULL);
}

static void
http_sink_start(void *arg, const char *content_type)
{
    struct http_sink *hs = arg;
    http_response_start(hs->req, 200, content_type,
                        strcmp(content_type, "text/event-stream") == 0
                            ? "Cache-Control: no-cache\r\n"
                            : NULL);
}

static void
on_client_drained(struct http_request *req, void *arg)
{
    struct http_sink *hs = arg;
    (void)req;
    relay_resume(hs->relay);
}

static bool
http_sink_writable(void *arg)
{
    struct http_sink *hs = arg;
    if (http_response_writable(hs->req))
        return true;
    http_request_on_drain(hs->req, on_client_drained, hs);
    return false;
}

static void
http_sink_write(void *arg, const char *data, size_t len)
{
    struct http_sink *hs = arg;
    http_response_write(hs->req, data, len);
}

static void
http_sink_end(void *arg, const char *body, size_t len)
{
    struct http_sink *hs = arg;
    http_sink_detach(hs);
    if (body == NULL)
        http_response_end(hs->req);
    else
        http_respond(hs->req, 200, "application/json", NULL, body, len);
    free(hs);
}

static void
http_sink_fail(void *arg, int status, const char *msg)
{
    struct http_sink *hs = arg;
    http_sink_detach(hs);
    router_respond_error(hs->req, status, "%s", msg);
    free(hs);
}

static void
on_client_gone(struct http_request *req, void *arg)
{
    struct http_sink *hs = arg;
    (void)req;
    relay_cancel(hs->relay);
    free(hs);
}

static const struct relay_sink http_sink_ops = {
    http_sink_start, http_sink_writable, http_sink_write, http_sink_end, http_sink_fail,
};

void
relay_start(const struct relay_spec *spec, struct http_request *req)
{
    struct http_sink *hs = xcalloc(1, sizeof *hs);
    char what[64];
    struct relay_spec s = *spec;
    /* "METHOD PATH", cut to fit. */
    size_t used = text_copy(what, sizeof what, http_request_method(req));
    if (used + 1 < sizeof what) {
        what[used] = ' ';
        text_copy(what + used + 1, sizeof what - used - 1, http_request_path(req));
    }
    s.what = what;
    hs->req = req;
    http_request_on_abort(req, on_client_gone, hs);
    hs->relay = relay_new(&s, &http_sink_ops, hs);
    /* The relay may end the request before returning (a 400, a full
     * queue): HS is then freed, so nothing here touches it after. */
    relay_go(hs->relay);
}
