/*
 * chunked: an HTTP/1.1 chunked body decoder, fed as bytes arrive.  Owns
 * nothing; keeps its place between calls in struct chunked.  A chunk
 * line is its size in hex, then optional extensions (ignored), then CRLF;
 * the data is followed by CRLF.  A bare LF is refused there, as
 * http-parser refuses it.  Trailer lines after the last chunk are
 * checked for their shape (name, colon, value, CRLF) and skipped.
 */
#include <string.h>

#include "careti/core/text.h"
#include "careti/wire/chunked.h"

enum {
    ST_SIZE_START,   /* the first hex digit of a chunk size */
    ST_SIZE,         /* more hex digits */
    ST_EXT,          /* extensions, up to the end of the line */
    ST_SIZE_LF,      /* the LF after the size line's CR */
    ST_DATA,         /* LEFT bytes of chunk data */
    ST_DATA_CR,      /* the CRLF after the data */
    ST_DATA_LF,
    ST_TRAILER,       /* at the start of a trailer line, or the blank end line */
    ST_TRAILER_NAME,  /* a trailer field's name, up to its colon */
    ST_TRAILER_VALUE, /* its value, up to the CR */
    ST_TRAILER_LF,    /* the LF that ends the trailer line */
    ST_END_LF,       /* the LF of the blank line that ends the body */
    ST_DONE,
    ST_ERROR,
};

/* A size above this cannot take one more hex digit without overflowing. */
#define CHUNKED_SIZE_LIMIT (UINT64_MAX >> 4)

void
chunked_init(struct chunked *c)
{
    *c = (struct chunked){.state = ST_SIZE_START};
}

const char *
chunked_error(const struct chunked *c)
{
    return c->error != NULL ? c->error : "no error";
}

enum chunked_status
chunked_decode(struct chunked *c, const char *data, size_t len, size_t *used,
               chunked_piece_cb piece, void *arg)
{
    /* The place is kept in locals while the bytes are walked, and written
     * back before a piece is handed out and at the end. */
    int state = c->state;
    uint64_t left = c->left;
    size_t i = 0;
    enum chunked_status st = CHUNKED_MORE;
    const char *why = NULL;
    if (state == ST_DONE || state == ST_ERROR) {
        *used = 0;
        return state == ST_DONE ? CHUNKED_DONE : CHUNKED_ERROR;
    }
    while (i < len && st == CHUNKED_MORE) {
        switch (state) {
        case ST_SIZE_START:
        case ST_SIZE: {
            int d;
            while (i < len && (d = text_hex_digit(data[i])) >= 0) {
                if (left > CHUNKED_SIZE_LIMIT) {
                    why = "chunk size too large";
                    break;
                }
                left = left * 16 + (uint64_t)d;
                state = ST_SIZE;
                i++;
            }
            if (why != NULL || i == len)
                break;
            char ch = data[i];
            /* The usual size line, "7a\r\n", in one step. */
            if (state == ST_SIZE && ch == '\r' && i + 1 < len && data[i + 1] == '\n') {
                i += 2;
                state = left > 0 ? ST_DATA : ST_TRAILER;
                break;
            }
            if (state == ST_SIZE_START || (ch != ';' && ch != ' ' && ch != '\t' && ch != '\r')) {
                why = "invalid chunk size";
                break;
            }
            state = ch == '\r' ? ST_SIZE_LF : ST_EXT;
            i++;
            break;
        }
        case ST_EXT:
            /* Extensions mean nothing to us: on to the end of the line. */
            while (i < len && data[i] != '\r' && data[i] != '\n')
                i++;
            if (i == len)
                break;
            if (data[i] == '\n') {
                why = "invalid chunk size line";
                break;
            }
            state = ST_SIZE_LF;
            i++;
            break;
        case ST_SIZE_LF:
            if (data[i] != '\n') {
                why = "invalid chunk size line";
                break;
            }
            i++;
            state = left > 0 ? ST_DATA : ST_TRAILER;
            break;
        case ST_DATA: {
            size_t take = len - i < left ? len - i : (size_t)left;
            left -= take;
            state = left == 0 ? ST_DATA_CR : ST_DATA;
            c->state = state;
            c->left = left;
            if (piece(arg, data + i, take) != 0)
                st = CHUNKED_STOPPED;
            i += take;
            break;
        }
        case ST_DATA_CR:
            if (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n') {
                i += 2;
                state = ST_SIZE_START;
                break;
            }
            /* The CRLF is cut by the end of the read: a byte at a time. */
            /* fall through */
        case ST_DATA_LF:
            if (data[i] != (state == ST_DATA_CR ? '\r' : '\n')) {
                why = "chunk data longer than its size";
                break;
            }
            i++;
            state = state == ST_DATA_CR ? ST_DATA_LF : ST_SIZE_START;
            break;
        case ST_TRAILER:
            if (data[i] == '\r') {
                state = ST_END_LF;
            } else if (text_is_tchar((unsigned char)data[i])) {
                state = ST_TRAILER_NAME;
            } else {
                why = "invalid trailer line";
                break;
            }
            i++;
            break;
        case ST_TRAILER_NAME:
            if (data[i] == ':') {
                state = ST_TRAILER_VALUE;
            } else if (!text_is_tchar((unsigned char)data[i])) {
                why = "invalid trailer field name";
                break;
            }
            i++;
            break;
        case ST_TRAILER_VALUE: {
            /* A bare LF would let a pipelined request hide in the
             * trailers for a reader that ends lines at LF. */
            while (i < len && data[i] != '\r' && data[i] != '\n')
                i++;
            if (i == len)
                break;
            if (data[i] == '\n') {
                why = "trailer line ends without CR";
                break;
            }
            i++;
            state = ST_TRAILER_LF;
            break;
        }
        case ST_TRAILER_LF:
            if (data[i] != '\n') {
                why = "trailer line ends without LF";
                break;
            }
            i++;
            state = ST_TRAILER;
            break;
        case ST_END_LF:
            if (data[i] != '\n') {
                why = "invalid end of the chunked body";
                break;
            }
            i++;
            state = ST_DONE;
            st = CHUNKED_DONE;
            break;
        }
        if (why != NULL) {
            state = ST_ERROR;
            c->error = why;
            st = CHUNKED_ERROR;
        }
    }
    c->state = state;
    c->left = left;
    *used = i;
    return st;
}
