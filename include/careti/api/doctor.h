/*
 * GET /careti/v1/doctor: the setup guide's checks, each with a status
 * (ok, warn, fail), one line of evidence and one line of fix.  Memory and
 * disk come from /proc and statvfs, or from CARETI_DOCTOR_FIXTURES
 * (files "meminfo" and "statvfs") for tests.
 */
#ifndef CARETI_DOCTOR_H
#define CARETI_DOCTOR_H

#include <uv.h>

#include "careti/config/config.h"
#include "careti/http/http_server.h"
#include "careti/http/router.h"
#include "careti/models/lookup.h"
#include "careti/models/provider.h"
#include "careti/store/session_store.h"
#include "careti/upstream/upstream.h"

struct doctor;

/* Never NULL; every argument must outlive it. */
struct doctor *doctor_new(uv_loop_t *loop, struct http_server *srv, struct lookup *lookup,
                          struct providers *providers, struct upstream *up);
/* The config in force (borrowed; call again after a reload) and where the
 * daemon keeps its socket path. */
void doctor_set_config(struct doctor *dr, const struct config *cfg, char *const *socket);
/* The agent state store whose readiness the doctor reports (borrowed;
 * NULL: none is checked). */
void doctor_set_store(struct doctor *dr, const struct store *st);
void doctor_register(struct doctor *dr, struct router *r);
void doctor_free(struct doctor *dr);

#endif
