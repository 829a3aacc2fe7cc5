/*
 * The upstream module's inside, shared by its three files: upstream.c
 * owns a request's life (callbacks, first-byte and idle timers, cancel,
 * completion); upstream_http.c carries http:// requests over its own
 * HTTP/1.1 connections; upstream_curl.c carries https:// requests through
 * libcurl, loaded only when it is needed.  Nothing outside the
 * module includes this header.
 */
#ifndef CARETI_UPSTREAM_INT_H
#define CARETI_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "careti/core/cerr.h"
#include "careti/upstream/upstream.h"

struct uhttp;
struct ucurl;
struct uhttp_conn;
struct ucurl_xfer;

struct upstream {
    uv_loop_t *loop;
    struct uhttp *http;
    struct ucurl *curl; /* NULL until an https:// request needs it */
    struct upstream_req *reqs;
    size_t active;
    bool closing;
    /* Inside upstream_start or upstream_resume: completions wait for the
     * loop, so the caller is never called back from its own call. */
    int in_caller;
};

/*
 * One request as its caller sees it.  The transport's own state (a
 * connection, a curl handle) points back here while it works for the
 * request and lets go of it on completion or abort, so either side may
 * end first.
 */
struct upstream_req {
    struct upstream *up;
    const struct upstream_callbacks *cb;
    void *arg;
    uv_timer_t timer; /* first byte, then idle; also a deferred failure */
    long first_byte_ms, idle_ms;
    /* The idle timer is armed once per quiet spell, not per chunk: when
     * it fires it compares with the last data and re-arms if needed. */
    bool idle_armed;
    uint64_t last_data_ms;
    int status; /* known once the transport has the head */
    char content_type[128];
    /* A redirect's Location as it came (see upstream_req_add_location):
     * short enough that the message naming it fits a struct cerr. */
    char location[128];
    bool location_cut;
    bool head_sent;
    bool paused;
    bool cancelled;
    bool finished;
    bool deferred; /* an outcome to report from the loop */
    enum upstream_failure deferred_failure;
    struct cerr deferred_err;
    struct uhttp_conn *conn;   /* http:// transport, while it works for us */
    struct ucurl_xfer *xfer;   /* https:// transport, likewise */
    struct upstream_req *prev, *next;
};

/* What a transport's data delivery came to. */
enum upstream_take {
    UPSTREAM_TAKEN,    /* the caller has the bytes */
    UPSTREAM_PAUSED,   /* not taken: keep them until upstream_resume */
    UPSTREAM_DROPPED_BY_CALLER, /* cancelled meanwhile: stop, touch nothing */
};

/* Hand body bytes to the caller, sending the head first if it has not
 * gone yet. */
enum upstream_take upstream_req_data(struct upstream_req *req, const char *data, size_t len);

/* The transport is done with REQ (it has already let go): report
 * FAILURE (with WHY, a short text, when not UPSTREAM_OK) and free REQ,
 * from the loop when this runs inside the caller's own call. */
void upstream_req_done(struct upstream_req *req, enum upstream_failure failure, const char *why);

/* True for a redirect (3xx): no model server should answer with one, and
 * following it would send the prompt, and the api_key, where the
 * configuration never said.  The transport fails the request with the
 * words of upstream_redirect_why, and discards the redirect's body. */
bool upstream_is_redirect(int status);

/* Append LEN bytes of a Location header's value to REQ's, which a
 * transport empties at each new response head; what does not fit is
 * marked as cut. */
void upstream_req_add_location(struct upstream_req *req, const char *at, size_t len);

/* Into WHY (WHYLEN bytes): REQ's redirect, its status and Location, and
 * the fix; the caller prefixes the provider and its base_url. */
void upstream_redirect_why(const struct upstream_req *req, char *why, size_t whylen);

/* The http:// transport.  uhttp_new never fails; uhttp_close drops every
 * connection without callbacks. */
struct uhttp *uhttp_new(uv_loop_t *loop);
void uhttp_close(struct uhttp *h);
void uhttp_start(struct uhttp *h, struct upstream_req *req, const struct upstream_opts *opts);
/* Let go of REQ at once, closing its connection so the server sees the
 * client leave; no callbacks follow. */
void uhttp_abort(struct upstream_req *req);
void uhttp_resume(struct upstream_req *req);

/* The https:// transport.  ucurl_load loads libcurl once, from any
 * thread; ucurl_new returns NULL, with ERR set, when it cannot be loaded. */
bool ucurl_load(struct cerr *err);
struct ucurl *ucurl_new(uv_loop_t *loop, struct cerr *err);
void ucurl_close(struct ucurl *c);
void ucurl_start(struct ucurl *c, struct upstream_req *req, const struct upstream_opts *opts);
void ucurl_abort(struct upstream_req *req);
void ucurl_resume(struct upstream_req *req);

#endif
