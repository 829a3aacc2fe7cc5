/*
 * Bounded copies, decimal numbers and hex digits.  They exist
 * for the per-request path, where snprintf's "%s" cost hundreds of
 * instructions a call for what is a strlen and a memcpy.  Pure.
 */
#ifndef CARETI_TEXT_H
#define CARETI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Longest decimal text_u64 writes, without its NUL. */
#define TEXT_U64_MAX 20

/* Copy SRC into DST (SIZE bytes, at least 1), cut to fit and always
 * NUL-terminated.  Returns strlen(SRC): SIZE or more means it was cut. */
size_t text_copy(char *dst, size_t size, const char *src);
/* The same for the first N bytes of SRC (which need no NUL); returns N. */
size_t text_copyn(char *dst, size_t size, const char *src, size_t n);
/* Write V in decimal to DST (TEXT_U64_MAX + 1 bytes), NUL-terminated;
 * returns its length. */
size_t text_u64(char *dst, uint64_t v);
/* The value of hex digit C (either case), or -1.  Inline: decoders call
 * it per byte. */
static inline int
text_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
/* Whether C may be part of an HTTP token (RFC 9110 tchar), such as a
 * header field name. */
static inline bool
text_is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

#endif
