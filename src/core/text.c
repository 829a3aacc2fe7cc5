/*
 * text: bounded copies, decimal numbers and hex digits.
 * Owns nothing.
 */
#include <string.h>

#include "careti/core/text.h"

size_t
text_copyn(char *dst, size_t size, const char *src, size_t n)
{
    size_t take = n < size ? n : size - 1;
    memcpy(dst, src, take);
    dst[take] = '\0';
    return n;
}

size_t
text_copy(char *dst, size_t size, const char *src)
{
    return text_copyn(dst, size, src, strlen(src));
}

size_t
text_u64(char *dst, uint64_t v)
{
    char rev[TEXT_U64_MAX];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = rev[n - 1 - i];
    dst[n] = '\0';
    return n;
}
