/*
 * jscan: vouch for a JSON object and find its members without building
 * anything.  The stream translator's fast path for the bulk of an answer:
 * an object jscan vouches for is one jansson's json_loadb(..., 0) accepts
 * too.  Where it cannot be sure cheaply (escaped keys, long numbers,
 * exponents, deep nesting, many members) it declines, and the caller
 * parses with jansson as before, so errors keep jansson's wording.
 */
#ifndef CARETI_JSCAN_H
#define CARETI_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define JSCAN_MAX_MEMBERS 24

struct jscan_member {
    const char *key; /* the key's bytes between its quotes (never escaped) */
    size_t key_len;
    const char *value; /* the value's bytes, from its first to its last */
    size_t value_len;
};

struct jscan_object {
    struct jscan_member m[JSCAN_MAX_MEMBERS];
    size_t n;
};

/* True when TEXT[0, LEN) is exactly one JSON object, whitespace around it
 * allowed, that jscan vouches for; OUT then holds its members, pointing
 * into TEXT.  False means "not vouched for", not "invalid".  TEXT need not
 * be NUL-terminated. */
bool jscan_object(const char *text, size_t len, struct jscan_object *out);
/* jscan_object for the next of a stream's frames: a member of TEXT that
 * is, byte for byte, the member at the same place in LIKE (the members of
 * an object jscan_object or jscan_object_like vouched for, pointing into
 * text that is still there) is compared, not scanned again; *SAME says
 * how many were.  Same verdict and members as jscan_object.  LIKE may be
 * NULL. */
bool jscan_object_like(const char *text, size_t len, struct jscan_object *out,
                       const struct jscan_object *like, size_t *same);
/* jscan_object, reading in the same pass the members of the object that
 * is the value of the top-level member KEY into INNER.  *FOUND tells
 * whether KEY's value (the last, for duplicate keys) is an object; INNER
 * then holds its members.  Declines as jscan_object does, and also when
 * that object has more than JSCAN_MAX_MEMBERS members. */
bool jscan_object_inner(const char *text, size_t len, struct jscan_object *out, const char *key,
                        struct jscan_object *inner, bool *found);

/* The member named KEY (the last one, as in jansson), or NULL.  Inline:
 * callers name keys with literals, whose length and comparison the
 * compiler then works out, and a frame is asked for several. */
static inline const struct jscan_member *
jscan_get(const struct jscan_object *o, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = o->n; i-- > 0;)
        if (o->m[i].key_len == kl && memcmp(o->m[i].key, key, kl) == 0)
            return &o->m[i];
    return NULL;
}

/* Walking the elements of an array jscan vouched for. */
struct jscan_iter {
    const char *p, *end;
    /* The members of the element jscan_array_next last gave, read in the
     * same pass, when it is an object of at most JSCAN_MAX_MEMBERS. */
    struct jscan_object members;
    bool members_vouched;
};
/* Start at the first element of M's value, which must be a vouched-for
 * array (jscan_is_array). */
void jscan_array_begin(const struct jscan_member *m, struct jscan_iter *it);
/* The next element's value into ELEM (its key is NULL); false after the
 * last. */
bool jscan_array_next(struct jscan_iter *it, struct jscan_member *elem);
/* The members of O, which point into FROM, now point at the same places
 * in TO, a copy of FROM. */
void jscan_rebase(struct jscan_object *o, const char *from, const char *to);
/* Whether a member's value is the literal false.  NULL-safe. */
bool jscan_is_false(const struct jscan_member *m);
/* Whether a member's value is a string without escapes, whose text is
 * then the bytes between its quotes.  NULL-safe. */
bool jscan_is_plain_string(const struct jscan_member *m);
/* Whether a member's value is the literal true / null, the empty string
 * "", or an empty array [] (whitespace inside allowed).  NULL-safe: a
 * missing member is none of them. */
bool jscan_is_true(const struct jscan_member *m);
bool jscan_is_null(const struct jscan_member *m);
bool jscan_is_empty_string(const struct jscan_member *m);
bool jscan_is_empty_array(const struct jscan_member *m);

/* A member's value as an integer, as json_integer_value reads it: 0 when
 * it is missing or not an integer.  NULL-safe. */
long long jscan_integer(const struct jscan_member *m);

/* Whether a member's value is a string / an array / an object.  NULL-safe. */
bool jscan_is_string(const struct jscan_member *m);
bool jscan_is_array(const struct jscan_member *m);
bool jscan_is_object(const struct jscan_member *m);

#endif
