/*
 * cerr: fills caller-owned error reports.  Must never allocate: it runs on
 * out-of-resource paths.
 */
#include <stdarg.h>
#include <stdio.h>

#include "careti/core/cerr.h"

/* Length of the valid UTF-8 sequence at S, 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                             : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 2 && s[0] < 0xC2)
        return 0; /* overlong */
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

void
cerr_make_utf8(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

int
cerr_set(struct cerr *err, int code, int http_status, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Messages quote what servers and clients sent, and end up in JSON,
     * which must be UTF-8; a cut at the buffer's end can split a
     * character too. */
    cerr_make_utf8(err->msg);
    err->code = code;
    err->http_status = http_status;
    return code;
}

void
cerr_clear(struct cerr *err)
{
    err->code = 0;
    err->http_status = 0;
    err->msg[0] = '\0';
}
