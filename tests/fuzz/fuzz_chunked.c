/*
 * libFuzzer harness for src/wire/chunked.c: arbitrary bytes as a chunked body,
 * fed in pieces cut where the first byte says.  Decoding must end at most
 * once, never hand out more bytes than came in, and, where http-parser
 * also decodes the bytes to their end, give the same body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "careti/wire/chunked.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct body {
    char bytes[FUZZ_MAX_INPUT];
    size_t len;
};

static struct body ours, theirs;
static int theirs_done;

static int
on_piece(void *arg, const char *at, size_t len)
{
    struct body *b = arg;
    if (len == 0 || b->len + len > sizeof b->bytes)
        abort();
    memcpy(b->bytes + b->len, at, len);
    b->len += len;
    return 0;
}

static int
hp_body(http_parser *p, const char *at, size_t len)
{
    (void)p;
    return on_piece(&theirs, at, len);
}

static int
hp_done(http_parser *p)
{
    (void)p;
    theirs_done = 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    size_t step = data[0] ? data[0] : 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1, off = 0, used;
    struct chunked c;
    chunked_init(&c);
    ours.len = 0;
    enum chunked_status st = CHUNKED_MORE;
    while (st == CHUNKED_MORE && off < len) {
        size_t n = len - off < step ? len - off : step;
        st = chunked_decode(&c, in + off, n, &used, on_piece, &ours);
        if (used > n || (st == CHUNKED_MORE && used != n))
            abort();
        off += used;
    }
    if (ours.len > len || (st == CHUNKED_ERROR && chunked_error(&c)[0] == '\0'))
        abort();
    if (st == CHUNKED_DONE) {
        static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        http_parser_settings s = {.on_body = hp_body, .on_message_complete = hp_done};
        http_parser p;
        http_parser_init(&p, HTTP_RESPONSE);
        theirs.len = 0;
        theirs_done = 0;
        http_parser_execute(&p, &s, head, sizeof head - 1);
        http_parser_execute(&p, &s, in, off);
        if (theirs_done && HTTP_PARSER_ERRNO(&p) == HPE_OK &&
            (theirs.len != ours.len || memcmp(theirs.bytes, ours.bytes, ours.len) != 0))
            abort();
    }
    return 0;
}
