/*
 * jscan: a validating JSON scanner that allocates nothing.  It exists for
 * one promise: whatever it vouches for, jansson accepts (json_loadb with
 * no flags), so a stream may take the fast path without changing which
 * frames are errors.  Every rule below mirrors a jansson rejection; where
 * matching jansson exactly would be costly (number ranges), it declines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "careti/core/text.h"
#include "careti/wire/jscan.h"

/* Deeper values are rare in model streams; jansson allows 2048. */
#define JSCAN_MAX_DEPTH 64
/* An integer of up to 18 digits fits jansson's json_int_t; a longer one
 * might not ("too big integer"), so it is left to jansson. */
#define JSCAN_MAX_NUMBER 18

struct scan {
    const char *p, *end;
};

/* A top-level member whose object value's members are read too. */
struct capture {
    const char *key;
    size_t key_len;
    struct jscan_object *inner;
    bool found;
};

/* An earlier object whose members need no second scan where they
 * repeat, and how many did. */
struct likeness {
    const struct jscan_object *like;
    size_t same;
};

/* The scanner's small steps are forced inline: a call per value and per
 * string was a third of what scanning a frame cost. */
#define JSCAN_HOT static inline __attribute__((always_inline))

static bool scan_container(struct scan *s, int depth, struct jscan_object *out, struct capture *cap,
                           struct likeness *like);
static bool skip_container(struct scan *s, int depth);

JSCAN_HOT void
skip_ws(struct scan *s)
{
    /* Model servers send compact JSON: the usual answer is "none". */
    if (s->p < s->end && (unsigned char)*s->p > ' ')
        return;
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Step over C, with whitespace before it allowed; false when something
 * else comes first.  Compact JSON has C right there. */
JSCAN_HOT bool
skip_past(struct scan *s, char c)
{
    if (s->p >= s->end || *s->p != c) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != c)
            return false;
    }
    s->p++;
    return true;
}

static int
hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = text_hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* One UTF-8 sequence of two or more bytes at s->p, as jansson checks it:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool
scan_utf8(struct scan *s)
{
    const unsigned char *u = (const unsigned char *)s->p;
    size_t avail = (size_t)(s->end - s->p);
    unsigned c = u[0];
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return false;
    if (avail < n)
        return false;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return false;
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    s->p += n;
    return true;
}

/* The high bit of each byte of W that a string scan must stop at: a
 * quote, a backslash, a control or the start of a non-ASCII sequence.
 * Bits above the lowest may be spurious (borrows), so only the lowest is
 * read. */
JSCAN_HOT uint64_t
word_stops(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    return ((((w - ones * 0x20) | (quote - ones) | (backslash - ones)) & ~w) | w) & highs;
}

/* The first byte from P on that a string scan must stop at, or END. */
JSCAN_HOT const char *
skip_plain(const char *p, const char *end)
{
    /* Most of a frame is plain ASCII text: sixteen or eight bytes at a
     * time, which was a quarter of the relay's CPU one byte at a time. */
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(' ');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* Signed, bytes of 0x80 and up are below ' ' too: controls and
         * non-ASCII stop the scan alike. */
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                 _mm_cmpeq_epi8(v, backslash)),
                                    _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(stop);
        if (mask != 0)
            return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof w);
        uint64_t stops = word_stops(w);
        if (stops != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + __builtin_ctzll(stops) / 8;
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' &&
           *p != '\\')
        p++;
    return p;
}

/* The rest of a string from s->p, inside it: escapes, UTF-8 and the
 * closing quote.  *ESCAPED tells whether it held a backslash. */
static bool
scan_string_rest(struct scan *s, bool *escaped)
{
    while (s->p < s->end) {
        s->p = skip_plain(s->p, s->end);
        if (s->p == s->end)
            break;
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            if (!scan_utf8(s))
                return false;
            continue;
        }
        *escaped = true; /* the loop above stops only at these four */
        if (s->end - s->p < 2)
            return false;
        char e = s->p[1];
        if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
            s->p += 2;
            continue;
        }
        if (e != 'u' || s->end - s->p < 6)
            return false;
        int v = hex4(s->p + 2);
        if (v <= 0 || (v >= 0xDC00 && v <= 0xDFFF))
            return false; /* \u0000, bad hex, a lone low surrogate */
        s->p += 6;
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
                return false;
            int lo = hex4(s->p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return false;
            s->p += 6;
        }
    }
    return false;
}

/* A string at s->p (on its opening quote).  Inline for the common case,
 * a key or a short value with nothing to unescape: a call per string was
 * most of what scanning a frame cost. */
JSCAN_HOT bool
scan_string(struct scan *s, bool *escaped)
{
    const char *p = skip_plain(s->p + 1, s->end);
    if (p < s->end && *p == '"') {
        s->p = p + 1;
        return true;
    }
    s->p = p;
    return scan_string_rest(s, escaped);
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
scan_number(struct scan *s)
{
    const char *start = s->p;
    if (*s->p == '-')
        s->p++;
    if (s->p >= s->end || !is_digit(*s->p))
        return false;
    if (*s->p == '0') {
        s->p++;
        if (s->p < s->end && is_digit(*s->p))
            return false;
    } else {
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return false;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    /* An exponent can overflow a double: jansson's call. */
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
        return false;
    return s->p - start <= JSCAN_MAX_NUMBER;
}

static bool
scan_literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

JSCAN_HOT bool
scan_value(struct scan *s, int depth)
{
    if (s->p >= s->end)
        return false;
    bool escaped = false;
    switch (*s->p) {
    case '{':
    case '[':
        return skip_container(s, depth);
    case '"':
        return scan_string(s, &escaped);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        return scan_number(s);
    }
}

/* A member's key at s->p, its colon and the white space after, into M:
 * keys with escapes are declined (their bytes are not their text). */
JSCAN_HOT bool
scan_key(struct scan *s, struct jscan_member *m)
{
    bool escaped = false;
    if (s->p >= s->end || *s->p != '"')
        return false;
    m->key = s->p + 1;
    if (!scan_string(s, &escaped) || escaped)
        return false;
    m->key_len = (size_t)(s->p - 1 - m->key);
    if (!skip_past(s, ':'))
        return false;
    skip_ws(s);
    return true;
}

/* Whether the member at s->p is, byte for byte, the member at the same
 * place in LIKE, an object vouched for at the same depth; then M is it,
 * and s->p is past it.  Its bytes, ending where the next byte ends a
 * value, scan as they scanned there: a memcmp instead of a scan. */
JSCAN_HOT bool
same_member(struct scan *s, struct likeness *like, size_t i, struct jscan_member *m)
{
    if (like == NULL || i >= like->like->n)
        return false;
    const struct jscan_member *pm = &like->like->m[i];
    const char *span = pm->key - 1; /* its opening quote */
    size_t len = (size_t)(pm->value + pm->value_len - span);
    if ((size_t)(s->end - s->p) <= len || memcmp(s->p, span, len) != 0)
        return false;
    char next = s->p[len];
    if (next != ',' && next != '}' && next != ' ' && next != '\t' && next != '\n' && next != '\r')
        return false; /* a number would go on, or the object is broken there */
    m->key = s->p + 1;
    m->key_len = pm->key_len;
    m->value = s->p + (pm->value - span);
    m->value_len = pm->value_len;
    s->p += len;
    like->same++;
    return true;
}

/* An object or array at s->p (on its bracket); members go to OUT when
 * not NULL, and CAP (when not NULL) reads one member's object as well.
 * LIKE, when not NULL, is an object vouched for at this depth whose
 * members need no second scan (same_member). */
static bool
scan_container(struct scan *s, int depth, struct jscan_object *out, struct capture *cap,
               struct likeness *like)
{
    bool object = *s->p == '{';
    char close = object ? '}' : ']';
    if (depth >= JSCAN_MAX_DEPTH)
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (size_t i = 0;; i++) {
        struct jscan_member m = {0};
        if (object && same_member(s, like, i, &m)) {
            /* vouched for already, where LIKE has it */
        } else {
            if (object && !scan_key(s, &m))
                return false;
            m.value = s->p;
            if (cap != NULL && m.key_len == cap->key_len &&
                memcmp(m.key, cap->key, m.key_len) == 0) {
                /* The last of duplicate keys counts, as in jansson. */
                cap->found = s->p < s->end && *s->p == '{';
                if (cap->found) {
                    cap->inner->n = 0;
                    if (!scan_container(s, depth + 1, cap->inner, NULL, NULL))
                        return false;
                } else if (!scan_value(s, depth + 1)) {
                    return false;
                }
            } else if (!scan_value(s, depth + 1)) {
                return false;
            }
            m.value_len = (size_t)(s->p - m.value);
        }
        if (out != NULL) {
            if (out->n == JSCAN_MAX_MEMBERS)
                return false;
            out->m[out->n++] = m;
        }
        if (skip_past(s, ','))
            skip_ws(s);
        else
            return skip_past(s, close);
    }
}

/* scan_container for a value inside a member, whose members nobody
 * reads: most of a frame, scanned with nothing kept. */
static bool
skip_container(struct scan *s, int depth)
{
    bool object = *s->p == '{';
    char close = object ? '}' : ']';
    if (depth >= JSCAN_MAX_DEPTH)
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (;;) {
        struct jscan_member m;
        if (object && !scan_key(s, &m))
            return false;
        if (!scan_value(s, depth + 1))
            return false;
        if (skip_past(s, ','))
            skip_ws(s);
        else
            return skip_past(s, close);
    }
}

static bool
scan_top(const char *text, size_t len, struct jscan_object *out, struct capture *cap,
         struct likeness *like)
{
    struct scan s = {text, text + len};
    out->n = 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{' || !scan_container(&s, 0, out, cap, like))
        return false;
    skip_ws(&s);
    return s.p == s.end;
}

bool
jscan_object(const char *text, size_t len, struct jscan_object *out)
{
    return scan_top(text, len, out, NULL, NULL);
}

bool
jscan_object_like(const char *text, size_t len, struct jscan_object *out,
                  const struct jscan_object *like, size_t *same)
{
    struct likeness l = {like, 0};
    bool ok = scan_top(text, len, out, NULL, like != NULL ? &l : NULL);
    *same = l.same;
    return ok;
}

bool
jscan_object_inner(const char *text, size_t len, struct jscan_object *out, const char *key,
                   struct jscan_object *inner, bool *found)
{
    struct capture cap = {key, strlen(key), inner, false};
    bool ok = scan_top(text, len, out, &cap, NULL);
    *found = ok && cap.found;
    return ok;
}

static bool
value_is(const struct jscan_member *m, const char *text)
{
    size_t n = strlen(text);
    return m != NULL && m->value_len == n && memcmp(m->value, text, n) == 0;
}

bool
jscan_is_true(const struct jscan_member *m)
{
    return value_is(m, "true");
}

bool
jscan_is_false(const struct jscan_member *m)
{
    return value_is(m, "false");
}

bool
jscan_is_plain_string(const struct jscan_member *m)
{
    return jscan_is_string(m) && memchr(m->value, '\\', m->value_len) == NULL;
}

void
jscan_array_begin(const struct jscan_member *m, struct jscan_iter *it)
{
    it->p = m->value + 1;
    it->end = m->value + m->value_len - 1; /* before the closing bracket */
}

bool
jscan_array_next(struct jscan_iter *it, struct jscan_member *elem)
{
    struct scan s = {it->p, it->end};
    skip_ws(&s);
    if (s.p < s.end && *s.p == ',') {
        s.p++;
        skip_ws(&s);
    }
    if (s.p >= s.end)
        return false;
    /* Vouched for already: scanning again only finds where it ends, and
     * an object's members are read on the way. */
    *elem = (struct jscan_member){NULL, 0, s.p, 0};
    it->members.n = 0;
    it->members_vouched = false;
    if (*s.p == '{') {
        const char *start = s.p;
        it->members_vouched = scan_container(&s, 1, &it->members, NULL, NULL);
        if (!it->members_vouched) { /* too many members to keep */
            s.p = start;
            it->members.n = 0;
        }
    }
    if (!it->members_vouched && !scan_value(&s, 1))
        return false;
    elem->value_len = (size_t)(s.p - elem->value);
    it->p = s.p;
    return true;
}

void
jscan_rebase(struct jscan_object *o, const char *from, const char *to)
{
    for (size_t i = 0; i < o->n; i++) {
        o->m[i].key = to + (o->m[i].key - from);
        o->m[i].value = to + (o->m[i].value - from);
    }
}

bool
jscan_is_null(const struct jscan_member *m)
{
    return value_is(m, "null");
}

bool
jscan_is_empty_string(const struct jscan_member *m)
{
    return value_is(m, "\"\"");
}

bool
jscan_is_empty_array(const struct jscan_member *m)
{
    if (!jscan_is_array(m))
        return false;
    struct scan s = {m->value + 1, m->value + m->value_len};
    skip_ws(&s);
    return s.p < s.end && *s.p == ']';
}

/* A vouched-for value's type shows in its first byte. */
static bool
value_starts(const struct jscan_member *m, char c)
{
    return m != NULL && m->value_len > 0 && m->value[0] == c;
}

bool
jscan_is_string(const struct jscan_member *m)
{
    return value_starts(m, '"');
}

bool
jscan_is_array(const struct jscan_member *m)
{
    return value_starts(m, '[');
}

bool
jscan_is_object(const struct jscan_member *m)
{
    return value_starts(m, '{');
}

long long
jscan_integer(const struct jscan_member *m)
{
    if (m == NULL || m->value_len == 0 || m->value_len > JSCAN_MAX_NUMBER ||
        (m->value[0] != '-' && !is_digit(m->value[0])))
        return 0;
    if (memchr(m->value, '.', m->value_len) != NULL)
        return 0; /* a real: json_integer_value gives 0 */
    char digits[JSCAN_MAX_NUMBER + 1]; /* strtoll needs the end marked */
    memcpy(digits, m->value, m->value_len);
    digits[m->value_len] = '\0';
    return strtoll(digits, NULL, 10);
}
