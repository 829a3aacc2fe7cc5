/*
 * sbuf: growable byte buffers.  Owns only the bytes it holds.
 */
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/sbuf.h"
#include "careti/core/text.h"
#include "careti/core/xmalloc.h"

void
sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1)
            cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
}

void
sbuf_add(struct sbuf *b, const void *data, size_t len)
{
    sbuf_reserve(b, len);
    if (len > 0)
        memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
}

void
sbuf_add_int(struct sbuf *b, int64_t v)
{
    char digits[TEXT_U64_MAX + 1];
    if (v < 0)
        sbuf_add(b, "-", 1);
    /* The magnitude as unsigned: -INT64_MIN does not fit in an int64_t. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    sbuf_add(b, digits, text_u64(digits, mag));
}

void
sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

/* Bytes that must be escaped inside a JSON string: quote, backslash and
 * controls.  Everything else, UTF-8 included, is copied as is (jansson
 * strings are valid UTF-8 already). */
static bool
needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

void
sbuf_add_json_string(struct sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    sbuf_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c))
            continue;
        sbuf_add(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        sbuf_add(b, esc, n);
    }
    sbuf_add(b, s + run, len - run);
    sbuf_add(b, "\"", 1);
}

void
sbuf_add_json(struct sbuf *b, const json_t *j)
{
    char num[40];
    int n;
    if (j == NULL) { /* a constructor refused its input; never crash on it */
        sbuf_add(b, "null", 4);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        bool first = true;
        sbuf_add(b, "{", 1);
        json_object_foreach((json_t *)j, key, v)
        {
            if (!first)
                sbuf_add(b, ",", 1);
            first = false;
            sbuf_add_json_string(b, key, strlen(key));
            sbuf_add(b, ":", 1);
            sbuf_add_json(b, v);
        }
        sbuf_add(b, "}", 1);
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        sbuf_add(b, "[", 1);
        json_array_foreach(j, i, v)
        {
            if (i > 0)
                sbuf_add(b, ",", 1);
            sbuf_add_json(b, v);
        }
        sbuf_add(b, "]", 1);
        return;
    }
    case JSON_STRING:
        sbuf_add_json_string(b, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        sbuf_add_int(b, json_integer_value(j));
        return;
    case JSON_REAL: {
        /* Shortest of 10 significant digits, as jansson's REAL_PRECISION(10). */
        n = snprintf(num, sizeof num, "%.10g", json_real_value(j));
        sbuf_add(b, num, (size_t)n);
        if (strpbrk(num, ".eEni") == NULL)
            sbuf_add(b, ".0", 2);
        return;
    }
    case JSON_TRUE:
        sbuf_add(b, "true", 4);
        return;
    case JSON_FALSE:
        sbuf_add(b, "false", 5);
        return;
    case JSON_NULL:
        sbuf_add(b, "null", 4);
        return;
    }
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

void
sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    sbuf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
