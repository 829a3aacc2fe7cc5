/*
 * libFuzzer harness for src/wire/translate.c: arbitrary bytes as an upstream
 * stream, in every mode (endpoint x upstream dialect x client dialect x
 * streamed or not), fed in pieces cut where the input says; then as a
 * client request body for translate_request.  Each stream is translated
 * twice, through the jscan fast path and parsed in full, and the two must
 * agree; a request body within one dialect is also made from its bytes,
 * which must agree with translate_request.  Inputs are capped so a run stays fast; everything is freed
 * (LeakSanitizer checks).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/xmalloc.h"
#include "careti/wire/jscan.h"
#include "careti/wire/translate.h"

#include "../common/stream_compare.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_MAX_INPUT)
        return 0;
    uint8_t mode = data[0], cut = data[1];
    data += 2;
    size -= 2;
    struct xlate_params p = {
        .ep = (enum endpoint)(mode % 3),
        .upstream = (mode >> 2) & 1 ? WIRE_OPENAI : WIRE_OLLAMA,
        .client = (mode >> 3) & 1 ? WIRE_OPENAI : WIRE_OLLAMA,
        .client_stream = (mode >> 4) & 1,
        .include_usage = (mode >> 5) & 1,
        .model = "m",
        .wall_start_ns = 1767225600LL * 1000000000LL,
        .start_ns = 1000,
        .seed = 7,
    };
    struct sbuf out[2] = {{0}};
    struct cerr err[2] = {{0}};
    enum xlate_status st[2];
    long usage[2][2];
    uint64_t first_token[2];
    /* Twice: through the fast path, then with every frame parsed in full;
     * both must say the same. */
    for (int full = 0; full < 2; full++) {
        p.full_parse = full;
        struct xlate *x = xlate_new(&p);
        size_t step = cut ? cut : 1, off = 0;
        uint64_t now = 2000;
        st[full] = XLATE_MORE;
        while (off < size && st[full] == XLATE_MORE) {
            size_t n = size - off < step ? size - off : step;
            st[full] = xlate_feed(x, (const char *)data + off, n, now += 1000, &out[full], &err[full]);
            off += n;
        }
        if (st[full] == XLATE_MORE)
            st[full] = xlate_end(x, now, &out[full], &err[full]);
        if (st[full] == XLATE_ERROR)
            xlate_error(x, err[full].msg, &out[full]);
        xlate_usage(x, &usage[full][0], &usage[full][1]);
        first_token[full] = xlate_first_token_ns(x);
        sbuf_add(&out[full], "", 0);
        xlate_free(x);
    }
    if (st[0] != st[1] || strcmp(err[0].msg, err[1].msg) != 0 || usage[0][0] != usage[1][0] ||
        usage[0][1] != usage[1][1] || first_token[0] != first_token[1] ||
        !stream_same_output(out[0].s, out[1].s, p.client == WIRE_OPENAI && p.client_stream)) {
        fprintf(stderr, "fast path and full parse differ: status %d/%d, \"%s\" / \"%s\"\n",
                st[0], st[1], err[0].msg, err[1].msg);
        abort();
    }
    sbuf_free(&out[0]);
    sbuf_free(&out[1]);

    /* The same bytes as a client's request body. */
    json_t *req = json_loadb((const char *)data, size, 0, NULL);
    if (req != NULL) {
        json_t *alias = json_pack("{s:f, s:i}", "temperature", 0.5, "num_predict", 9);
        struct translate_params tp = {"up", (mode & 64) ? 4096 : 0, alias, (mode & 128) != 0};
        json_t *outj = translate_request(p.ep, p.client, p.upstream, req, &tp, &err[0]);
        if (outj != NULL) {
            struct sbuf b = {0};
            sbuf_add_json(&b, outj);
            sbuf_free(&b);
        }
        /* Within a dialect, the body made from the bytes must be the same
         * JSON, and a request refused above must be declined. */
        struct jscan_object top;
        if (p.client == p.upstream && jscan_object((const char *)data, size, &top)) {
            struct sbuf b = {0};
            if (translate_request_bytes(p.ep, p.client, &top, &tp, &b)) {
                json_t *got = json_loadb(b.s, b.len, 0, NULL);
                if (outj == NULL || got == NULL || !json_equal(got, outj)) {
                    fprintf(stderr, "the request from bytes differs: %s\n", b.s);
                    abort();
                }
                json_decref(got);
            }
            sbuf_free(&b);
        }
        json_decref(outj);
        json_decref(alias);
        json_decref(req);
    }
    char msg[64];
    translate_error_message((const char *)data, size, msg, sizeof msg);
    return 0;
}
