/*
 * The wire contract between caretid and its clients (caretictl, editor
 * plugins): version numbers, routes, exit codes.  Bump CARETI_API_VERSION
 * when a route's request or response changes in a way an existing client
 * would notice (a field removed, renamed or retyped, a route gone); new
 * routes and new fields beside the old ones keep the version.
 */
#ifndef CARETI_PROTO_H
#define CARETI_PROTO_H

#define CARETI_VERSION "0.1.0"
#define CARETI_API_VERSION 1

#define CARETI_ROUTE_HEALTH "/careti/v1/health"
#define CARETI_ROUTE_STATUS "/careti/v1/status"
#define CARETI_ROUTE_RELOAD "/careti/v1/reload"

/* caretictl exit codes (caretictl(1) EXIT STATUS). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_ERROR 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_NO_DAEMON 3
#define CTL_EXIT_NEEDS_USER 4 /* agent: a question, or an approval with no one to ask */
#define CTL_EXIT_INTERRUPTED 130

/* caretid exit codes (caretid(8) EXIT STATUS). */
#define CARETID_EXIT_OK 0
#define CARETID_EXIT_FAILURE 1
#define CARETID_EXIT_USAGE 2

#endif
