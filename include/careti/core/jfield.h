/*
 * jfield: reading members of jansson objects, the way every module reads
 * request bodies, catalogues and database rows.  No allocation; nothing
 * here takes or returns a reference.
 */
#ifndef CARETI_JFIELD_H
#define CARETI_JFIELD_H

#include <jansson.h>

/* OBJ's member KEY if it is a string, else NULL.  OBJ may be NULL or not
 * an object.  The text lives as long as OBJ. */
const char *jfield_str(const json_t *obj, const char *key);

/* The same, with FALLBACK where jfield_str gives NULL. */
const char *jfield_str_or(const json_t *obj, const char *key, const char *fallback);

/* Set DST[DST_KEY] to SRC[SRC_KEY] (a new reference) when SRC has that
 * member; otherwise leave DST alone.  SRC may be NULL. */
void jfield_copy(json_t *dst, const char *dst_key, const json_t *src, const char *src_key);

#endif
