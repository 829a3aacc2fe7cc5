/* Unit tests for the chunked body decoder (src/wire/chunked.c).  Fixed cases
 * cover each part of the format and each refusal; then seeded random
 * bodies, cut at random places, must decode to what http-parser makes of
 * the same bytes, and seeded mutations of them must end exactly once,
 * never with more body than was sent. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "../../src/wire/chunked.c"

struct collected {
    char body[65536];
    size_t len;
    int pieces;
    int stop_after; /* ask to stop after this many pieces; 0: never */
};

static int
collect(void *arg, const char *at, size_t len)
{
    struct collected *c = arg;
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(c->len + len, sizeof c->body);
    memcpy(c->body + c->len, at, len);
    c->len += len;
    c->pieces++;
    return c->stop_after != 0 && c->pieces >= c->stop_after;
}

/* Decode TEXT in pieces of STEP bytes (0: at once); returns the status,
 * *USED the bytes taken in all. */
static enum chunked_status
decode(const char *text, size_t len, size_t step, struct collected *out, size_t *used)
{
    struct chunked c;
    chunked_init(&c);
    memset(out, 0, offsetof(struct collected, stop_after));
    enum chunked_status st = CHUNKED_MORE;
    size_t off = 0;
    while (st == CHUNKED_MORE && off < len) {
        size_t n = step == 0 || len - off < step ? len - off : step, took;
        st = chunked_decode(&c, text + off, n, &took, collect, out);
        ck_assert_uint_le(took, n);
        if (st == CHUNKED_MORE)
            ck_assert_uint_eq(took, n);
        off += took;
    }
    *used = off;
    return st;
}

static enum chunked_status
decode_s(const char *text, struct collected *out)
{
    size_t used;
    return decode(text, strlen(text), 0, out, &used);
}

START_TEST(test_format)
{
    static struct collected out;
    ck_assert_int_eq(decode_s("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", &out), CHUNKED_DONE);
    ck_assert_uint_eq(out.len, 5);
    ck_assert(memcmp(out.body, "abcde", 5) == 0);
    /* hex in either case, extensions, trailers */
    ck_assert_int_eq(decode_s("A;name=v\r\n0123456789\r\n1f \r\n0123456789012345678901234567890\r\n"
                              "0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
                              &out),
                     CHUNKED_DONE);
    ck_assert_uint_eq(out.len, 41);
    ck_assert_int_eq(decode_s("0\r\n\r\n", &out), CHUNKED_DONE);
    ck_assert_uint_eq(out.len, 0);
    /* what follows the body is not taken */
    size_t used;
    const char *two = "1\r\nx\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
    ck_assert_int_eq(decode(two, strlen(two), 0, &out, &used), CHUNKED_DONE);
    ck_assert_uint_eq(used, strlen("1\r\nx\r\n0\r\n\r\n"));
    /* unfinished */
    ck_assert_int_eq(decode_s("5\r\nab", &out), CHUNKED_MORE);
    ck_assert_uint_eq(out.len, 2);
}
END_TEST

START_TEST(test_refusals)
{
    static struct collected out;
    static const char *const bad[] = {
        "\r\n",                        /* no size */
        "x\r\n",                       /* not hex */
        "-1\r\n",                      /* not hex */
        "3\rabc\r\n",                  /* CR without LF */
        "3\r\nabcd\r\n0\r\n\r\n",      /* data longer than its size */
        "3\r\nabc\rX",                 /* CR then not LF after the data */
        "0\r\n\rX",                    /* a bad blank line at the end */
        "1000000000000000000\r\n",     /* a size that overflows */
        "3\nabc\r\n",                  /* a bare LF, as http-parser refuses it */
        "3\r\nabc\n0\r\n\r\n",
        "0\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(decode_s(bad[i], &out) == CHUNKED_ERROR, "accepted: %s", bad[i]);
        ck_assert_str_ne(chunked_error(&(struct chunked){.error = NULL}), "");
    }
    struct chunked c;
    chunked_init(&c);
    size_t used;
    ck_assert_int_eq(chunked_decode(&c, "zz", 2, &used, collect, &out), CHUNKED_ERROR);
    ck_assert_uint_eq(used, 0);
    ck_assert_str_eq(chunked_error(&c), "invalid chunk size");
    /* and nothing more afterwards */
    ck_assert_int_eq(chunked_decode(&c, "1\r\nx", 4, &used, collect, &out), CHUNKED_ERROR);
    ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_trailer_lines_must_be_fields)
{
    static struct collected out;
    ck_assert_int_eq(decode_s("1\r\na\r\n0\r\nX-T: v\r\nY:\r\n\r\n", &out), CHUNKED_DONE);
    /* A bare LF after the last chunk would hide what follows in
     * "trailers" for one reader and not another. */
    const char *bad[] = {
        "0\r\n\nGET / HTTP/1.1\r\n\r\n", /* bare LF line */
        "0\r\nX-T: v\nY: w\r\n\r\n",    /* a trailer ended by a bare LF */
        "0\r\nnot a field\r\n\r\n",       /* no colon, a space in the name */
        "0\r\n: v\r\n\r\n",               /* no name */
        "0\r\nX-T: v\r\r\n\r\n",         /* CR not followed by LF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t step = 0; step < 3; step++) {
            size_t used;
            ck_assert_msg(decode(bad[i], strlen(bad[i]), step, &out, &used) == CHUNKED_ERROR,
                          "accepted: %s (step %zu)", bad[i], step);
        }
    }
}
END_TEST

START_TEST(test_stop)
{
    static struct collected out;
    out.stop_after = 1;
    struct chunked c;
    chunked_init(&c);
    size_t used;
    const char *t = "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
    ck_assert_int_eq(chunked_decode(&c, t, strlen(t), &used, collect, &out), CHUNKED_STOPPED);
    ck_assert_uint_eq(used, strlen("2\r\nab"));
    ck_assert_uint_eq(out.len, 2);
    out.stop_after = 0;
}
END_TEST

/* http-parser's view of BODY as a chunked response's body. */
static struct collected hp_out;
static bool hp_done;

static int
hp_on_body(http_parser *p, const char *at, size_t len)
{
    (void)p;
    memcpy(hp_out.body + hp_out.len, at, len);
    hp_out.len += len;
    return 0;
}

static int
hp_on_complete(http_parser *p)
{
    (void)p;
    hp_done = true;
    return 0;
}

static bool
http_parser_decodes(const char *body, size_t len)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    http_parser_settings s = {.on_body = hp_on_body, .on_message_complete = hp_on_complete};
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    hp_out.len = 0;
    hp_done = false;
    size_t n = http_parser_execute(&p, &s, head, sizeof head - 1);
    ck_assert_uint_eq(n, sizeof head - 1);
    http_parser_execute(&p, &s, body, len);
    return hp_done && HTTP_PARSER_ERRNO(&p) == HPE_OK;
}

static uint32_t rng = 20261202;

static uint32_t
next(uint32_t n)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) % n;
}

/* A random well-formed body of a few chunks, in varied spellings. */
static size_t
random_body(char *out, size_t cap, char *want, size_t *want_len)
{
    size_t n = 0;
    *want_len = 0;
    int chunks = (int)next(6);
    for (int k = 0; k < chunks; k++) {
        size_t size = 1 + next(next(2) ? 20 : 300);
        n += (size_t)snprintf(out + n, cap - n, next(2) ? "%zx" : "%zX", size);
        if (next(4) == 0)
            n += (size_t)snprintf(out + n, cap - n, ";ext=%u", next(100));
        n += (size_t)snprintf(out + n, cap - n, next(4) ? "\r\n" : " \r\n");
        for (size_t i = 0; i < size; i++)
            want[(*want_len)++] = out[n++] = (char)(' ' + next(95));
        n += (size_t)snprintf(out + n, cap - n, "\r\n");
    }
    n += (size_t)snprintf(out + n, cap - n, "0\r\n%s\r\n", next(3) ? "" : "T: v\r\n");
    return n;
}

START_TEST(test_same_as_http_parser)
{
    static char body[16384], want[16384];
    static struct collected out;
    for (int round = 0; round < 2000; round++) {
        size_t want_len, len = random_body(body, sizeof body, want, &want_len), used;
        ck_assert(http_parser_decodes(body, len));
        ck_assert_uint_eq(hp_out.len, want_len);
        size_t step = next(3) ? 1 + next(len) : 1;
        ck_assert_int_eq(decode(body, len, step, &out, &used), CHUNKED_DONE);
        ck_assert_uint_eq(used, len);
        ck_assert_uint_eq(out.len, want_len);
        ck_assert(memcmp(out.body, want, want_len) == 0);
    }
}
END_TEST

START_TEST(test_mutations_end_once_and_never_add_bytes)
{
    static char body[16384], want[16384];
    static struct collected out;
    static const char interesting[] = "\r\n;0aF \tz";
    int errors = 0, done = 0;
    for (int round = 0; round < 3000; round++) {
        size_t want_len, len = random_body(body, sizeof body, want, &want_len), used;
        for (int e = 0; e < 1 + (int)next(3); e++)
            body[next(len)] = next(2) ? interesting[next(sizeof interesting - 1)] : (char)next(256);
        enum chunked_status st = decode(body, len, 1 + next(16), &out, &used);
        ck_assert(st == CHUNKED_DONE || st == CHUNKED_ERROR || st == CHUNKED_MORE);
        ck_assert_uint_le(used, len);
        ck_assert_uint_le(out.len, len); /* body bytes come from the input only */
        errors += st == CHUNKED_ERROR;
        done += st == CHUNKED_DONE;
        /* A body both decoders finish must be the same body.  Where they
         * differ, this one is the stricter: http-parser, built lenient,
         * takes any byte where the last CRLF is due. */
        if (st == CHUNKED_DONE && http_parser_decodes(body, used))
            ck_assert(hp_out.len == out.len && memcmp(hp_out.body, out.body, out.len) == 0);
    }
    ck_assert_int_gt(errors, 300);
    ck_assert_int_gt(done, 300);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("chunked");
    TCase *tc = tcase_create("chunked");
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_stop);
    tcase_add_test(tc, test_trailer_lines_must_be_fields);
    tcase_add_test(tc, test_same_as_http_parser);
    tcase_add_test(tc, test_mutations_end_once_and_never_add_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
