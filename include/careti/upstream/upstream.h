/*
 * Outgoing HTTP requests to model servers, on the libuv loop with no
 * thread per request and connections reused.  http:// goes over our own
 * HTTP/1.1 client; https:// through libcurl's multi_socket interface,
 * loaded only when needed (upstream_load_https).  Callers get the
 * response head, body bytes as they arrive, and one completion.
 */
#ifndef CARETI_UPSTREAM_H
#define CARETI_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "careti/core/cerr.h"

struct upstream;
struct upstream_req;

/* Why a transfer failed, so callers can word the error for the user. */
enum upstream_failure {
    UPSTREAM_OK,
    UPSTREAM_CONNECT_REFUSED,
    UPSTREAM_DNS,
    UPSTREAM_CONNECT_TIMEOUT,
    UPSTREAM_FIRST_BYTE_TIMEOUT,
    UPSTREAM_IDLE_TIMEOUT,
    UPSTREAM_DROPPED, /* connection closed or reset mid-response */
    UPSTREAM_TLS,     /* the TLS handshake failed: untrusted or wrong certificate */
    UPSTREAM_OTHER,
};

struct upstream_callbacks {
    /* The status line and headers arrived.  CONTENT_TYPE may be NULL. */
    void (*on_head)(int status, const char *content_type, void *arg);
    /* True when the caller can take more bytes now; when false the
     * transfer pauses until upstream_resume(). */
    bool (*writable)(void *arg);
    /* Body bytes, in order.  May call upstream_cancel(). */
    void (*on_data)(const char *data, size_t len, void *arg);
    /* The transfer ended: FAILURE is UPSTREAM_OK for a complete response
     * (whatever its status); ERR describes a failure.  Not called after
     * upstream_cancel().  The request is freed after this returns. */
    void (*on_done)(enum upstream_failure failure, const struct cerr *err, void *arg);
};

struct upstream_opts {
    const char *method;  /* "GET" or "POST" */
    const char *url;
    const char *api_key; /* may be NULL or "": then no Authorization header */
    const char *ca_file; /* https: CA bundle to trust instead of the system's; may be NULL */
    const char *body;    /* copied; may be NULL */
    size_t body_len;
    long connect_timeout_ms;
    long first_byte_timeout_ms;
    long idle_timeout_ms;
};

/* A manager on LOOP; never NULL.  Close with upstream_close(). */
struct upstream *upstream_new(uv_loop_t *loop);

/* Cancel every transfer (no callbacks) and close every connection; the
 * memory is freed once the loop has run the close callbacks. */
void upstream_close(struct upstream *up);

/* Start a transfer.  CB and ARG must stay valid until on_done or
 * upstream_cancel.  Never NULL; failures to start are reported through
 * on_done from the loop, never re-entrantly from here. */
struct upstream_req *upstream_start(struct upstream *up, const struct upstream_opts *opts,
                                    const struct upstream_callbacks *cb, void *arg);

/* Abort REQ: its connection is closed at once so the server stops
 * generating; no callback runs afterwards.  Safe inside callbacks. */
void upstream_cancel(struct upstream_req *req);

/* Resume a transfer paused because writable() said false.  May call
 * on_data before returning. */
void upstream_resume(struct upstream_req *req);

/* Load what https:// requests need (libcurl and its TLS library), so the
 * first one does not load it on the loop.  Blocks on disk: call it before
 * the loop runs or from a worker thread; safe from any thread, and only
 * the first call does anything.  False, with ERR set, when it cannot be
 * loaded; https:// requests then fail with that message. */
bool upstream_load_https(struct cerr *err);

/* Transfers in progress, for status and metrics. */
size_t upstream_active(const struct upstream *up);

#endif
