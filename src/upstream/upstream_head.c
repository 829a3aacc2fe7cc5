/*
 * upstream_head: a model server's response head as both transports read
 * it (status, Content-Type, a redirect's Location), and the words that
 * refuse a redirect.  Pure: no I/O, no allocation, and it knows no
 * transport and no request, so the transports depend on it and it on
 * nothing of theirs.
 */
#include <stdio.h>
#include <string.h>

#include "upstream_int.h"

static void append(char *dst, size_t cap, const char *at, size_t len, bool *cut);

void
upstream_head_reset(struct upstream_head *h)
{
    h->status = 0;
    h->content_type[0] = '\0';
    h->location[0] = '\0';
    h->location_cut = false;
}

void
upstream_head_add_type(struct upstream_head *h, const char *at, size_t len)
{
    bool cut = false;
    append(h->content_type, sizeof h->content_type, at, len, &cut);
}

void
upstream_head_add_location(struct upstream_head *h, const char *at, size_t len)
{
    append(h->location, sizeof h->location, at, len, &h->location_cut);
}

const char *
upstream_head_type(struct upstream_head *h)
{
    char *s = h->content_type;
    size_t len = strlen(s), skip = 0;
    while (skip < len && strchr(" \t", s[skip]) != NULL)
        skip++;
    while (len > skip && strchr(" \t\r\n", s[len - 1]) != NULL)
        len--;
    memmove(s, s + skip, len - skip);
    s[len - skip] = '\0';
    return s[0] != '\0' ? s : NULL;
}

bool
upstream_is_redirect(int status)
{
    return status >= 300 && status < 400;
}

void
upstream_redirect_why(const struct upstream_head *h, char *why, size_t whylen)
{
    const char *loc = h->location;
    size_t len = strlen(loc);
    while (len > 0 && strchr(" \t", *loc) != NULL)
        loc++, len--;
    while (len > 0 && strchr(" \t\r\n", loc[len - 1]) != NULL)
        len--;
    if (len > 0)
        snprintf(why, whylen,
                 "answered HTTP %d, a redirect to %.*s%s, which caretid does not follow: point "
                 "base_url at the final address",
                 h->status, (int)len, loc, h->location_cut ? "..." : "");
    else
        snprintf(why, whylen,
                 "answered HTTP %d, a redirect without a Location, which caretid does not "
                 "follow: point base_url at the final address",
                 h->status);
}

/* Append LEN bytes at AT to the string DST (CAP bytes with its NUL);
 * what does not fit is dropped and *CUT set. */
static void
append(char *dst, size_t cap, const char *at, size_t len, bool *cut)
{
    size_t used = strlen(dst);
    size_t room = cap - 1 - used;
    if (len > room) {
        len = room;
        *cut = true;
    }
    memcpy(dst + used, at, len);
    dst[used + len] = '\0';
}
