/*
 * Edit distance between short strings, for "did you mean" suggestions
 * (config keys, model names).  Pure.
 */
#ifndef CARETI_STRDIST_H
#define CARETI_STRDIST_H

#include <stddef.h>

/* Levenshtein distance between A and B; SIZE_MAX when either is over 255
 * bytes (suggestions for such names are not useful). */
size_t strdist(const char *a, const char *b);

#endif
