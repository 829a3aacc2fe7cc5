/*
 * sbuf: growable byte buffers.  Owns only the bytes it holds.
 */
#include <stdlib.h>
#include <string.h>

#include "careti/sbuf.h"
#include "careti/xmalloc.h"

void
sbuf_add(struct sbuf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
}

void
sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

static int
dump_cb(const char *buffer, size_t size, void *data)
{
    sbuf_add(data, buffer, size);
    return 0;
}

void
sbuf_add_json(struct sbuf *b, const json_t *j)
{
    json_dump_callback(j, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
}

void
sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    if (b->s != NULL)
        b->s[0] = '\0';
}

void
sbuf_free(struct sbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
