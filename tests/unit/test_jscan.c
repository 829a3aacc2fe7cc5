/*
 * Unit tests for the allocation-free JSON scanner (src/wire/jscan.c).  Its one
 * promise is checked against jansson itself: whatever jscan vouches for,
 * json_loadb(..., 0) accepts as an object with the same members.  Fixed
 * cases cover each jansson rule; seeded mutations of real stream frames
 * look for the cases nobody thought of (make fuzz goes further).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../src/wire/jscan.c"
#include "careti/core/sbuf.h"

/* jscan's verdict on TEXT, after checking it against jansson's: a vouched
 * object must load, and each member jscan found must equal jansson's. */
static bool
vouched(const char *text, size_t len)
{
    struct jscan_object o;
    bool ok = jscan_object(text, len, &o);
    if (!ok)
        return false;
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    ck_assert_msg(obj != NULL, "jscan vouched for what jansson refuses (%s): %.*s", jerr.text,
                  (int)len, text);
    ck_assert_msg(json_is_object(obj), "jscan vouched for a non-object: %.*s", (int)len, text);
    ck_assert_uint_le(json_object_size(obj), o.n);
    for (size_t i = 0; i < o.n; i++) {
        char key[256];
        ck_assert_uint_lt(o.m[i].key_len, sizeof key);
        memcpy(key, o.m[i].key, o.m[i].key_len);
        key[o.m[i].key_len] = '\0';
        const struct jscan_member *last = jscan_get(&o, key);
        json_t *want = json_object_get(obj, key);
        ck_assert_msg(want != NULL, "member %s is not in jansson's object", key);
        json_t *got = json_loadb(last->value, last->value_len, JSON_DECODE_ANY, &jerr);
        ck_assert_msg(got != NULL && json_equal(got, want), "member %s differs: %.*s", key,
                      (int)last->value_len, last->value);
        json_decref(got);
    }
    json_decref(obj);
    return true;
}

static bool
vouched_s(const char *text)
{
    return vouched(text, strlen(text));
}

static const char *const frames[] = {
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-05-01T09:00:01.000000002Z\",\"message\":"
    "{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}",
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
    "[{\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"a.c\",\"n\":2}}}]},"
    "\"done\":false}",
    "{\"model\":\"m\",\"done\":true,\"done_reason\":\"stop\",\"total_duration\":5123456789,"
    "\"prompt_eval_count\":812,\"eval_count\":240,\"eval_duration\":4700000000}",
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\\"q\\\" \\/ \\ud83d\\ude00\"},"
    "\"finish_reason\":null}]}",
    "{\"a\":[1,-2,0.5,-0.25,true,false,null,{},[],\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]}",
};

START_TEST(test_stream_frames_are_vouched_for)
{
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++)
        ck_assert_msg(vouched_s(frames[i]), "declined: %s", frames[i]);
    ck_assert(vouched_s(" \t\r\n{} \n"));
    ck_assert(vouched_s("{\"\":\"\"}"));
    ck_assert(vouched_s("{\"k\":1,\"k\":2}")); /* duplicates: the last one, as jansson */
}
END_TEST

/* Everything jansson refuses, and what jscan leaves to jansson. */
START_TEST(test_declines)
{
    static const char *const bad[] = {
        "", "   ", "[]", "\"s\"", "1", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
        "{,}", "{\"a\":1 \"b\":2}", "{\"a\":1}x", "{\"a\":1}{}", "{a:1}", "{'a':1}",
        "{\"a\":tru}", "{\"a\":True}", "{\"a\":nul}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":+1}", "{\"a\":0x1}", "{\"a\":NaN}", "{\"a\":[1,]}", "{\"a\":[1}",
        "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\u0000\"}",             /* jansson refuses NUL without JSON_ALLOW_NUL */
        "{\"a\":\"\\udc00\"}",             /* a lone low surrogate */
        "{\"a\":\"\\ud800\"}",             /* a high one with nothing after */
        "{\"a\":\"\\ud800\\u0041\"}",      /* a high one with no low one */
        "{\"a\":\"tab\there\"}",           /* a raw control character */
        "{\"a\":\"\xc0\xaf\"}",            /* overlong */
        "{\"a\":\"\xed\xa0\x80\"}",        /* an encoded surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}",    /* past U+10FFFF */
        "{\"a\":\"\xe2\x82\"}",            /* cut short */
        "{\"a\":\"\x80\"}",                /* a lone continuation byte */
        "{\"a\":\"\xff\"}",
        "{\"a\":1e5}",                     /* exponents: jansson's call (overflow) */
        "{\"a\":12345678901234567890}",    /* too long to be sure it fits */
        "{\"k\\u0065y\":1}",               /* escaped keys are not matched byte-wise */
        "\xef\xbb\xbf{}",                  /* a byte order mark */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!vouched_s(bad[i]), "vouched for: %s", bad[i]);
    /* A NUL byte inside the length. */
    ck_assert(!vouched("{\"a\":\"x\0y\"}", 11));
    ck_assert(!vouched("{\"a\":1}\0", 8));
    /* Nesting past the bound is left to jansson. */
    char deep[400] = "{\"a\":";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    ck_assert(!vouched_s(deep));
    /* More members than the table holds. */
    char many[1024] = "{";
    for (int i = 0; i <= JSCAN_MAX_MEMBERS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"k%d\":%d", i ? "," : "",
                 i, i);
    strcat(many, "}");
    ck_assert(!vouched_s(many));
}
END_TEST

START_TEST(test_member_helpers)
{
    const char *t = "{\"t\":true,\"f\":false,\"n\":null,\"e\":\"\",\"s\":\"x\",\"a\":[ ],"
                    "\"b\":[0],\"o\":{},\"i\":-42,\"r\":2.5,\"big\":123456789012}";
    struct jscan_object o;
    ck_assert(jscan_object(t, strlen(t), &o));
    ck_assert(jscan_is_true(jscan_get(&o, "t")));
    ck_assert(!jscan_is_true(jscan_get(&o, "f")));
    ck_assert(!jscan_is_true(jscan_get(&o, "missing")));
    ck_assert(jscan_is_null(jscan_get(&o, "n")));
    ck_assert(jscan_is_empty_string(jscan_get(&o, "e")));
    ck_assert(!jscan_is_empty_string(jscan_get(&o, "s")));
    ck_assert(jscan_is_string(jscan_get(&o, "s")));
    ck_assert(jscan_is_empty_array(jscan_get(&o, "a")));
    ck_assert(!jscan_is_empty_array(jscan_get(&o, "b")));
    ck_assert(jscan_is_array(jscan_get(&o, "b")));
    ck_assert(jscan_is_object(jscan_get(&o, "o")));
    ck_assert(!jscan_is_object(jscan_get(&o, "b")));
    ck_assert_int_eq(jscan_integer(jscan_get(&o, "i")), -42);
    ck_assert_int_eq(jscan_integer(jscan_get(&o, "r")), 0); /* as json_integer_value */
    ck_assert_int_eq(jscan_integer(jscan_get(&o, "s")), 0);
    ck_assert_int_eq(jscan_integer(jscan_get(&o, "missing")), 0);
    ck_assert_int_eq(jscan_integer(jscan_get(&o, "big")), 123456789012LL);
}
END_TEST

START_TEST(test_more_member_helpers)
{
    const char *t = "{\"f\":false,\"t\":true,\"s\":\"qwen3:8b\",\"u\":\"caf\u00e9\","
                    "\"q\":\"a\\\"b\",\"n\":0}";
    struct jscan_object o;
    ck_assert(jscan_object(t, strlen(t), &o));
    ck_assert(jscan_is_false(jscan_get(&o, "f")));
    ck_assert(!jscan_is_false(jscan_get(&o, "t")));
    ck_assert(!jscan_is_false(jscan_get(&o, "n")));
    ck_assert(!jscan_is_false(jscan_get(&o, "missing")));
    ck_assert(jscan_is_plain_string(jscan_get(&o, "s")));
    ck_assert(jscan_is_plain_string(jscan_get(&o, "u"))); /* UTF-8 is plain */
    ck_assert(!jscan_is_plain_string(jscan_get(&o, "q")));
    ck_assert(!jscan_is_plain_string(jscan_get(&o, "n")));
    ck_assert(!jscan_is_plain_string(jscan_get(&o, "missing")));
}
END_TEST

/* Each element of a vouched-for array, as jansson has it, in order. */
START_TEST(test_array_elements)
{
    static const char *const arrays[] = {
        "[]", "[ ]", "[1]", "[ {\"role\":\"user\"} , \"s\\\"]\" ,[[],{}],null,-2.5 ]",
        "[{\"a\":[1,{\"b\":\"]}\"}]},true]",
    };
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        char text[256];
        snprintf(text, sizeof text, "{\"a\":%s}", arrays[k]);
        struct jscan_object o;
        ck_assert_msg(jscan_object(text, strlen(text), &o), "not vouched for: %s", text);
        json_t *root = json_loads(text, 0, NULL);
        json_t *want = json_object_get(root, "a");
        struct jscan_iter it;
        struct jscan_member elem;
        size_t i = 0;
        jscan_array_begin(jscan_get(&o, "a"), &it);
        while (jscan_array_next(&it, &elem)) {
            ck_assert_ptr_null(elem.key);
            json_t *got = json_loadb(elem.value, elem.value_len, JSON_DECODE_ANY, NULL);
            ck_assert_msg(got != NULL && json_equal(got, json_array_get(want, i)),
                          "element %zu of %s: %.*s", i, arrays[k], (int)elem.value_len, elem.value);
            json_decref(got);
            i++;
        }
        ck_assert_uint_eq(i, json_array_size(want));
        json_decref(root);
    }
}
END_TEST

/* An object element's members come with it; one with too many does not
 * stop the walk. */
START_TEST(test_array_element_members)
{
    struct sbuf big = {0};
    sbuf_adds(&big, "{\"a\":[{\"role\":\"user\",\"content\":\"hi\"},{");
    for (int i = 0; i < JSCAN_MAX_MEMBERS + 1; i++)
        sbuf_adds(&big, i ? ",\"k\":1" : "\"k\":1");
    sbuf_adds(&big, "},2]}");
    struct jscan_object o;
    ck_assert(jscan_object(big.s, big.len, &o));
    struct jscan_iter it;
    struct jscan_member elem;
    jscan_array_begin(jscan_get(&o, "a"), &it);
    ck_assert(jscan_array_next(&it, &elem));
    ck_assert(it.members_vouched);
    ck_assert_uint_eq(it.members.n, 2);
    ck_assert(jscan_is_string(jscan_get(&it.members, "role")));
    ck_assert(jscan_array_next(&it, &elem));
    ck_assert(!it.members_vouched);
    ck_assert_uint_eq(elem.value_len, big.len - strlen("{\"a\":[{\"role\":\"user\",\"content\":\"hi\"},") - strlen(",2]}"));
    ck_assert(jscan_array_next(&it, &elem));
    ck_assert(!it.members_vouched);
    ck_assert(!jscan_array_next(&it, &elem));
    sbuf_free(&big);
}
END_TEST

/* One to three seeded edits of BUF[0, *LEN) (at most CAP bytes): a byte
 * that matters to JSON replaced, inserted or deleted. */
static void
mutate(char *buf, size_t *len, size_t cap, uint32_t *rng)
{
    static const unsigned char interesting[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0',
                                                '-', '.', 'e', 'u', ' ', '\n', 0x00, 0x1f,
                                                0x7f, 0x80, 0xc3, 0xe2, 0xed, 0xf0, 0xff};
    int edits = 1 + (int)(*rng % 3);
    for (int e = 0; e < edits; e++) {
        *rng = *rng * 1103515245u + 12345u;
        size_t at = (*rng >> 8) % *len;
        unsigned char c = interesting[(*rng >> 20) % sizeof interesting];
        switch ((*rng >> 4) % 3) {
        case 0: /* replace */
            buf[at] = (char)c;
            break;
        case 1: /* insert */
            if (*len + 1 < cap) {
                memmove(buf + at + 1, buf + at, *len - at);
                buf[at] = (char)c;
                (*len)++;
            }
            break;
        default: /* delete */
            if (*len > 1) {
                memmove(buf + at, buf + at + 1, *len - at - 1);
                (*len)--;
            }
            break;
        }
    }
}

/* Seeded mutations of real frames: whatever jscan vouches for, jansson
 * must accept with the same members (vouched() asserts it). */
START_TEST(test_mutations_never_vouch_for_what_jansson_refuses)
{
    uint32_t rng = 12345;
    size_t vouched_count = 0;
    for (int round = 0; round < 20000; round++) {
        const char *seed = frames[(size_t)round % (sizeof frames / sizeof frames[0])];
        char buf[512];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        mutate(buf, &len, sizeof buf, &rng);
        vouched_count += vouched(buf, len);
    }
    /* Many mutations stay valid (a changed letter in a string): the
     * property was exercised, not just declined every time. */
    ck_assert_uint_gt(vouched_count, 1000);
}
END_TEST

/* Stream frames alike but for a few bytes, as a server's are. */
static const char *const like_frames[] = {
    "{\"id\":\"c-1\",\"created\":17,\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}",
    "{\"id\":\"c-1\",\"created\":1767,\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"b\"}}]"
    "}",
    "{\"id\":\"c-1\",\"created\":17 ,\"model\":\"m\" ,\"choices\":[]}",
    "{\"id\":\"c-1\",\"created\":17,\"model\":\"m\",\"choices\":[],\"usage\":{\"a\":1}}",
    "{\"id\":\"c-1\"}",
};

/* jscan_object_like gives jscan_object's verdict and members, whatever
 * the earlier frame it compares with: the next frame of a stream, the
 * same frame, or either broken by seeded edits. */
START_TEST(test_like_frames_scan_as_alone)
{
    const char *const *sets[] = {frames, like_frames};
    size_t set_n[] = {sizeof frames / sizeof frames[0], sizeof like_frames / sizeof like_frames[0]};
    uint32_t rng = 777;
    size_t compared = 0, vouched_count = 0;
    for (int round = 0; round < 40000; round++) {
        const char *const *set = sets[round % 2];
        size_t n = set_n[round % 2];
        const char *prev = set[(size_t)(round / 2) % n];
        const char *seed = set[(size_t)(round / 2 / n) % n];
        struct jscan_object like;
        if (!jscan_object(prev, strlen(prev), &like))
            continue;
        char buf[512];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        if ((round / 2) % 4 != 0) /* some frames whole, as they come */
            mutate(buf, &len, sizeof buf, &rng);
        struct jscan_object alone, with;
        bool a = jscan_object(buf, len, &alone);
        size_t same;
        bool w = jscan_object_like(buf, len, &with, &like, &same);
        ck_assert_uint_le(same, with.n);
        ck_assert_msg(a == w, "verdicts differ on %.*s after %s", (int)len, buf, prev);
        compared++;
        if (!a)
            continue;
        vouched_count++;
        ck_assert_uint_eq(alone.n, with.n);
        for (size_t i = 0; i < alone.n; i++) {
            ck_assert(alone.m[i].key == with.m[i].key && alone.m[i].key_len == with.m[i].key_len);
            ck_assert(alone.m[i].value == with.m[i].value &&
                      alone.m[i].value_len == with.m[i].value_len);
        }
    }
    ck_assert_uint_gt(vouched_count, 2000);
    ck_assert_uint_gt(compared - vouched_count, 2000);
    /* A frame's own members are compared, not scanned: a number that
     * goes on past the earlier one's end is still read whole. */
    struct jscan_object like, o;
    ck_assert(jscan_object(like_frames[0], strlen(like_frames[0]), &like));
    size_t same;
    ck_assert(jscan_object_like(like_frames[1], strlen(like_frames[1]), &o, &like, &same));
    ck_assert_int_eq(jscan_integer(jscan_get(&o, "created")), 1767);
    ck_assert_uint_eq(same, 2); /* id and model */
    ck_assert(jscan_object_like(like_frames[0], strlen(like_frames[0]), &o, &like, &same));
    ck_assert_uint_eq(same, 4);
    ck_assert(jscan_object_like(like_frames[0], strlen(like_frames[0]), &o, NULL, &same));
    ck_assert_uint_eq(same, 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("jscan");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stream_frames_are_vouched_for);
    tcase_add_test(tc, test_declines);
    tcase_add_test(tc, test_member_helpers);
    tcase_add_test(tc, test_more_member_helpers);
    tcase_add_test(tc, test_array_elements);
    tcase_add_test(tc, test_array_element_members);
    tcase_add_test(tc, test_mutations_never_vouch_for_what_jansson_refuses);
    tcase_add_test(tc, test_like_frames_scan_as_alone);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
