/*
 * The live event stream (GET /careti/v1/events): every subscriber gets
 * every event as an SSE frame, serialised once.  Lets an editor and a
 * terminal attached to the same session both see it live.
 */
#ifndef CARETI_EVENTS_H
#define CARETI_EVENTS_H

#include <jansson.h>

#include "careti/http/http_server.h"

struct events;

/* A hub; never NULL.  Free with events_free() (ends every stream). */
struct events *events_new(void);
void events_free(struct events *ev);

/* End every subscriber's stream (the daemon is stopping). */
void events_end_all(struct events *ev);

/* Make REQ a subscriber: the response stays open, and ends when the
 * client leaves or the hub is freed. */
void events_subscribe(struct events *ev, struct http_request *req);

/* Send "event: TYPE" with DATA (borrowed) to every subscriber. */
void events_publish(struct events *ev, const char *type, const json_t *data);

#endif
