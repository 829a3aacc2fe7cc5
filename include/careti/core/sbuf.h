/*
 * A growable byte buffer for building responses.  Never fails: growth
 * goes through xmalloc.
 */
#ifndef CARETI_SBUF_H
#define CARETI_SBUF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sbuf {
    char *s; /* NUL-terminated when not NULL */
    size_t len;
    size_t cap;
};

/* Make room for EXTRA more bytes at once, so appending them piece by
 * piece does not grow the buffer several times. */
void sbuf_reserve(struct sbuf *b, size_t extra);
/* Append LEN bytes of DATA. */
void sbuf_add(struct sbuf *b, const void *data, size_t len);
/* Append printf-style text. */
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append V in decimal. */
void sbuf_add_int(struct sbuf *b, int64_t v);
/* Append a NUL-terminated string. */
void sbuf_adds(struct sbuf *b, const char *s);
/* Append J as compact JSON (does not take the reference).  Several times
 * faster than json_dumps on large strings: runs of plain bytes are copied
 * whole. */
void sbuf_add_json(struct sbuf *b, const json_t *j);
/* Append the LEN bytes of S (valid UTF-8) as a JSON string, quoted and
 * escaped as sbuf_add_json would. */
void sbuf_add_json_string(struct sbuf *b, const char *s, size_t len);
/* Forget the contents, keep the memory. */
void sbuf_reset(struct sbuf *b);
/* Release the memory; the buffer may be reused. */
void sbuf_free(struct sbuf *b);

#endif
