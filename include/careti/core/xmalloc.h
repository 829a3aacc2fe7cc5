/*
 * Allocation that never returns NULL.  Running out of memory in a daemon
 * that bounds every input is a bug or a dying machine; aborting with a
 * message is more useful than a cascade of half-handled failures.
 */
#ifndef CARETI_XMALLOC_H
#define CARETI_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Allocate SIZE bytes; aborts on failure.  Caller frees with free(). */
void *xmalloc(size_t size);
/* Allocate N zeroed elements of SIZE bytes; aborts on failure or overflow. */
void *xcalloc(size_t n, size_t size);
/* Resize P (may be NULL) to SIZE bytes; aborts on failure. */
void *xrealloc(void *p, size_t size);
/* Copy of S (must not be NULL); caller frees. */
char *xstrdup(const char *s);
/* Copy of the first LEN bytes of S, NUL-terminated; caller frees. */
char *xstrndup(const char *s, size_t len);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* vprintf into a new string; caller frees. */
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Route jansson's allocations through xmalloc so OOM handling is uniform. */
void xmalloc_init_json(void);

#endif
