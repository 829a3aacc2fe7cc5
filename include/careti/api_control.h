/*
 * The daemon's own routes under /careti/v1: health, status, reload.
 */
#ifndef CARETI_API_CONTROL_H
#define CARETI_API_CONTROL_H

#include "careti/daemon.h"
#include "careti/http_server.h"
#include "careti/router.h"

/* Add the control routes to R; handlers use D and look requests up in
 * SRV after async hops.  D and SRV must outlive R. */
void api_control_register(struct router *r, struct daemon *d, struct http_server *srv);

#endif
