/*
 * Decoding an HTTP/1.1 chunked body (RFC 9112, 7.1) as it arrives, in
 * pieces cut anywhere.  The http:// client decodes answers with it rather
 * than with http-parser, whose work per chunk was most of what reading a
 * streamed answer cost: a model server sends one chunk per token.  Pure:
 * bytes in, runs of body bytes out.
 */
#ifndef CARETI_CHUNKED_H
#define CARETI_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

enum chunked_status {
    CHUNKED_MORE,    /* all of the bytes were body so far: give more */
    CHUNKED_DONE,    /* the body ended (last chunk, trailers, blank line) */
    CHUNKED_ERROR,   /* the bytes are not a chunked body: chunked_error says why */
    CHUNKED_STOPPED, /* the piece callback asked to stop */
};

struct chunked {
    int state;
    uint64_t left; /* of the chunk being read, or its size being parsed */
    const char *error;
};

/* Body bytes AT[0, LEN) (LEN > 0); return 0 to go on, anything else to
 * stop. */
typedef int (*chunked_piece_cb)(void *arg, const char *at, size_t len);

/* Ready C for a new body. */
void chunked_init(struct chunked *c);
/* Decode DATA[0, LEN), handing each run of body bytes to PIECE, in
 * order.  *USED is how many bytes were taken: all of them (MORE), up to
 * the end of the body (DONE), up to the offending byte (ERROR), or up to
 * the end of the run PIECE stopped at (STOPPED).  LEN may be 0.  After
 * DONE or ERROR, C takes nothing more until chunked_init. */
enum chunked_status chunked_decode(struct chunked *c, const char *data, size_t len, size_t *used,
                                   chunked_piece_cb piece, void *arg);
/* What was wrong, after CHUNKED_ERROR ("invalid chunk size", ...). */
const char *chunked_error(const struct chunked *c);

#endif
