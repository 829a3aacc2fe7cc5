/*
 * events: SSE fan-out.  Owns the subscriber list (requests held until
 * their clients leave).  A subscriber too slow to keep up is dropped by
 * the HTTP server's write limit, never buffered without bound.
 */
#include <stdlib.h>

#include "careti/api/events.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"

struct subscriber {
    struct events *ev;
    struct http_request *req;
    struct subscriber *next;
};

struct events {
    struct subscriber *subs;
};

struct events *
events_new(void)
{
    return xcalloc(1, sizeof(struct events));
}

static void
unlink_sub(struct events *ev, struct subscriber *s)
{
    for (struct subscriber **pp = &ev->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            return;
        }
    }
}

static void
on_gone(struct http_request *req, void *arg)
{
    struct subscriber *s = arg;
    (void)req;
    unlink_sub(s->ev, s);
    free(s);
}

void
events_subscribe(struct events *ev, struct http_request *req)
{
    struct subscriber *s = xcalloc(1, sizeof *s);
    s->ev = ev;
    s->req = req;
    s->next = ev->subs;
    ev->subs = s;
    http_request_on_abort(req, on_gone, s);
    http_response_start(req, 200, "text/event-stream", "Cache-Control: no-cache\r\n");
    /* A comment first, so clients see the stream is open. */
    http_response_write(req, ": careti events\n\n", 17);
}

void
events_publish(struct events *ev, const char *type, const json_t *data)
{
    if (ev->subs == NULL)
        return;
    struct sbuf frame = {0};
    sbuf_adds(&frame, "event: ");
    sbuf_adds(&frame, type);
    sbuf_adds(&frame, "\ndata: ");
    sbuf_add_json(&frame, data);
    sbuf_adds(&frame, "\n\n");
    struct subscriber *s = ev->subs;
    while (s != NULL) {
        /* A write may drop a slow client, which unlinks it: step first. */
        struct subscriber *next = s->next;
        http_response_write(s->req, frame.s, frame.len);
        s = next;
    }
    sbuf_free(&frame);
}

void
events_end_all(struct events *ev)
{
    while (ev->subs != NULL) {
        struct subscriber *s = ev->subs;
        ev->subs = s->next;
        http_request_on_abort(s->req, NULL, NULL);
        http_response_end(s->req);
        free(s);
    }
}

void
events_free(struct events *ev)
{
    if (ev == NULL)
        return;
    events_end_all(ev);
    free(ev);
}
