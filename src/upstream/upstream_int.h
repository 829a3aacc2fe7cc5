/*
 * The upstream room's inside.  upstream.c owns a request's life (the
 * caller's callbacks, first-byte and idle timers, cancel, the one
 * completion) and picks its transport from the table below by the URL's
 * scheme.  A transport (upstream_http.c for http://, upstream_curl.c for
 * https://) carries bytes and reports through the sink it was given; it
 * never calls upstream.c, and never sees inside a request.  Both read
 * response heads with upstream_head.c.  Nothing outside the room includes
 * this header.
 */
#ifndef CARETI_UPSTREAM_INT_H
#define CARETI_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "careti/core/cerr.h"
#include "careti/upstream/upstream.h"

/* ---- upstream_head.c: a response head, as both transports read it ---- */

/* What a transport keeps of the head being read.  Content-Type and
 * Location are cut to fit; a cut Location is marked, so the message
 * naming it says so and still fits a struct cerr. */
struct upstream_head {
    int status;
    char content_type[128];
    char location[128];
    bool location_cut;
};

/* Forget the head: a new response (after a 1xx, or on a reused
 * connection) begins. */
void upstream_head_reset(struct upstream_head *h);

/* Append LEN bytes of a Content-Type (or Location) value to H's; values
 * may come in pieces.  Leading blanks and a trailing CRLF are for the
 * reader: upstream_head_type and upstream_redirect_why trim them. */
void upstream_head_add_type(struct upstream_head *h, const char *at, size_t len);
void upstream_head_add_location(struct upstream_head *h, const char *at, size_t len);

/* H's Content-Type without surrounding blanks, or NULL when it has none. */
const char *upstream_head_type(struct upstream_head *h);

/* True for a redirect (3xx): no model server should answer with one, and
 * following it would send the prompt, and the api_key, where the
 * configuration never said.  The transport fails the request with the
 * words of upstream_redirect_why, and discards the redirect's body. */
bool upstream_is_redirect(int status);

/* Into WHY (WHYLEN bytes): H's redirect, its status and Location, and the
 * fix; the caller prefixes the provider and its base_url. */
void upstream_redirect_why(const struct upstream_head *h, char *why, size_t whylen);

/* ---- the transports ---- */

/* upstream.c's request; a transport only hands it back to its sink. */
struct upstream_req;

/* What handing body bytes to the request came to. */
enum upstream_delivery {
    UPSTREAM_TAKEN,    /* the caller has the bytes */
    UPSTREAM_PAUSED,   /* not taken: keep them until the transport's resume */
    UPSTREAM_CANCELLED, /* the caller cancelled meanwhile: the transport has
                         * already let go (abort ran); stop, touch nothing */
};

/*
 * How a transport reports on the requests it carries: upstream.c's side,
 * given to the transport's new.  The calls for one request come in this
 * order: head at most once per response, data any number of times after
 * it, done once; nothing after done or after the transport's abort.
 */
struct upstream_sink {
    /* The final response's head (not a 1xx, not a redirect): STATUS and
     * CONTENT_TYPE, which may be NULL and is copied.  Never calls back:
     * the caller hears of it with the first body bytes, or at done. */
    void (*head)(struct upstream_req *req, int status, const char *content_type);
    /* Body bytes, in order.  May run the caller's callbacks, which may
     * cancel the request (then the transport's abort has run already). */
    enum upstream_delivery (*data)(struct upstream_req *req, const char *data, size_t len);
    /* The transport has let go of REQ: FAILURE (with WHY, a short text,
     * when not UPSTREAM_OK) ends it.  REQ is not to be named again. */
    void (*done)(struct upstream_req *req, enum upstream_failure failure, const char *why);
};

/*
 * One transport: the URLs it carries (by scheme) and its operations.  A
 * transport instance serves every request of one loop; its state for one
 * request is an opaque pointer, returned by start, that abort and resume
 * take.
 */
struct upstream_transport {
    const char *name;   /* for logs: "http/1.1", "curl" */
    const char *scheme; /* the URLs it carries start with this, e.g. "http://" */
    /* Load what the transport needs from disk (may block: see
     * upstream_load_https), from any thread; 0 or a negative errno with
     * ERR set.  Only the first call does anything. */
    int (*load)(struct cerr *err);
    /* An instance on LOOP reporting to SINK, or NULL with ERR set when
     * the transport cannot be loaded. */
    void *(*new)(uv_loop_t *loop, const struct upstream_sink *sink, struct cerr *err);
    /* Close T once every request it carried has ended or been aborted:
     * pooled connections close, memory is freed from their close
     * callbacks.  No sink call follows. */
    void (*close)(void *t);
    /* Carry REQ as OPTS say (OPTS need not outlive the call).  Returns the
     * transport's state for REQ, or NULL when it has already reported REQ
     * done, from inside this call. */
    void *(*start)(void *t, struct upstream_req *req, const struct upstream_opts *opts);
    /* Let go of the request at once, closing its connection so the
     * server sees the client leave; no sink call follows.  Safe inside
     * the sink's data. */
    void (*abort)(void *x);
    /* The caller can take bytes again after data said UPSTREAM_PAUSED:
     * deliver what was kept, and read on.  May call the sink. */
    void (*resume)(void *x);
};

extern const struct upstream_transport upstream_http_transport;
extern const struct upstream_transport upstream_curl_transport;

#endif
