/*
 * cerr: fills caller-owned error reports.  Must never allocate: it runs on
 * out-of-resource paths.
 */
#include <stdarg.h>
#include <stdio.h>

#include "careti/cerr.h"

int
cerr_set(struct cerr *err, int code, int http_status, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
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
