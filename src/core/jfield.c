/*
 * jfield: small readers over jansson objects, shared so that each module
 * does not grow its own.  Owns nothing.
 */
#include "careti/core/jfield.h"

const char *
jfield_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

const char *
jfield_str_or(const json_t *obj, const char *key, const char *fallback)
{
    const char *s = jfield_str(obj, key);
    return s != NULL ? s : fallback;
}

void
jfield_copy(json_t *dst, const char *dst_key, const json_t *src, const char *src_key)
{
    json_t *v = json_object_get(src, src_key);
    if (v != NULL)
        json_object_set(dst, dst_key, v);
}
