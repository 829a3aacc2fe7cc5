/*
 * stream_compare: whether two client streams say the same thing, for the
 * tests that hold translate.c's fast path to its full translation.  Equal
 * bytes, or the same frames (SSE events or NDJSON lines) with equal JSON
 * in each: the fast path keeps the upstream's own escapes.
 */
#ifndef CARETI_TESTS_STREAM_COMPARE_H
#define CARETI_TESTS_STREAM_COMPARE_H

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

static bool
stream_same_output(const char *a, const char *b, bool sse)
{
    if (strcmp(a, b) == 0)
        return true;
    const char *sep = sse ? "\n\n" : "\n";
    size_t seplen = strlen(sep);
    while (*a != '\0' && *b != '\0') {
        const char *ea = strstr(a, sep), *eb = strstr(b, sep);
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la) != 0) {
            size_t skip = sse && la >= 6 && lb >= 6 ? 6 : 0; /* "data: " */
            json_t *ja = json_loadb(a + skip, la - skip, JSON_DECODE_ANY, NULL);
            json_t *jb = json_loadb(b + skip, lb - skip, JSON_DECODE_ANY, NULL);
            bool eq = ja != NULL && jb != NULL && json_equal(ja, jb);
            json_decref(ja);
            json_decref(jb);
            if (!eq)
                return false;
        }
        a += la + (ea ? seplen : 0);
        b += lb + (eb ? seplen : 0);
    }
    return *a == '\0' && *b == '\0';
}

#endif
