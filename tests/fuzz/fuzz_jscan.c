/*
 * libFuzzer harness for src/wire/jscan.c, differential against jansson: the
 * input is one frame.  Whatever jscan vouches for, json_loadb(..., 0)
 * must accept as an object whose members equal the ones jscan found;
 * anything else aborts, which libFuzzer reports with the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "careti/wire/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct jscan_object o;
    bool ok = jscan_object(text, size, &o);
    /* Scanned against an earlier stream frame, the verdict and members
     * are the same (jscan_object_like compares what repeats). */
    static const char earlier[] = "{\"id\":\"c-1\",\"object\":\"chat.completion.chunk\","
                                  "\"created\":17,\"model\":\"m\",\"choices\":[]}";
    struct jscan_object like, with;
    size_t same;
    if (!jscan_object(earlier, sizeof earlier - 1, &like) ||
        jscan_object_like(text, size, &with, &like, &same) != ok ||
        (ok && (with.n != o.n || memcmp(with.m, o.m, o.n * sizeof o.m[0]) != 0))) {
        fprintf(stderr, "jscan_object_like disagrees with jscan_object\n");
        abort();
    }
    if (!ok)
        return 0;
    json_error_t jerr;
    json_t *obj = json_loadb(text, size, 0, &jerr);
    if (obj == NULL || !json_is_object(obj)) {
        fprintf(stderr, "jscan vouched for what jansson refuses: %s\n", jerr.text);
        abort();
    }
    for (size_t i = 0; i < o.n; i++) {
        char key[1024];
        if (o.m[i].key_len >= sizeof key)
            continue;
        memcpy(key, o.m[i].key, o.m[i].key_len);
        key[o.m[i].key_len] = '\0';
        const struct jscan_member *m = jscan_get(&o, key);
        json_t *want = json_object_get(obj, key);
        json_t *got = json_loadb(m->value, m->value_len, JSON_DECODE_ANY, &jerr);
        if (want == NULL || got == NULL || !json_equal(got, want)) {
            fprintf(stderr, "member %s differs from jansson's\n", key);
            abort();
        }
        if (jscan_is_true(m) != json_is_true(want) || jscan_is_null(m) != json_is_null(want) ||
            jscan_is_string(m) != json_is_string(want) || jscan_is_array(m) != json_is_array(want) ||
            jscan_is_object(m) != json_is_object(want) ||
            jscan_integer(m) != (long long)json_integer_value(want)) {
            fprintf(stderr, "a helper disagrees with jansson on member %s\n", key);
            abort();
        }
        json_decref(got);
    }
    json_decref(obj);
    return 0;
}
