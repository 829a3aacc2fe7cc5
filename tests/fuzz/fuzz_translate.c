/*
 * libFuzzer harness for src/translate.c: arbitrary bytes as an upstream
 * stream, in every mode (endpoint x upstream dialect x client dialect x
 * streamed or not), fed in pieces cut where the input says; then as a
 * client request body for translate_request.  Inputs are capped so a run
 * stays fast; everything is freed (LeakSanitizer checks).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "careti/translate.h"
#include "careti/xmalloc.h"

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
        .wall_start_s = 1767225600,
        .start_ns = 1000,
        .seed = 7,
    };
    struct xlate *x = xlate_new(&p);
    struct sbuf out = {0};
    struct cerr err;
    size_t step = cut ? cut : 1, off = 0;
    enum xlate_status st = XLATE_MORE;
    uint64_t now = 2000;
    while (off < size && st == XLATE_MORE) {
        size_t n = size - off < step ? size - off : step;
        st = xlate_feed(x, (const char *)data + off, n, now += 1000, &out, &err);
        off += n;
    }
    if (st == XLATE_MORE)
        st = xlate_end(x, now, &out, &err);
    if (st == XLATE_ERROR)
        xlate_error(x, err.msg, &out);
    sbuf_free(&out);
    xlate_free(x);

    /* The same bytes as a client's request body. */
    json_t *req = json_loadb((const char *)data, size, 0, NULL);
    if (req != NULL) {
        json_t *alias = json_pack("{s:f, s:i}", "temperature", 0.5, "num_predict", 9);
        struct translate_params tp = {"up", (mode & 64) ? 4096 : 0, alias, (mode & 128) != 0};
        json_t *outj = translate_request(p.ep, p.client, p.upstream, req, &tp, &err);
        if (outj != NULL) {
            struct sbuf b = {0};
            sbuf_add_json(&b, outj);
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
