/*
 * path: "~" and "${VAR}" expansion with XDG fallbacks, and default
 * locations.  Owns no state; never creates files (that is rundir's job).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "careti/core/path.h"
#include "careti/core/xmalloc.h"

#define CARETI_RUNTIME_SUFFIX "/careti"

static const char *home_dir(void);

/* XDG variables that have a specified default below $HOME. */
static const struct {
    const char *name;
    const char *home_relative;
} xdg_fallbacks[] = {
    {"XDG_CONFIG_HOME", "/.config"},
    {"XDG_STATE_HOME", "/.local/state"},
    {"XDG_DATA_HOME", "/.local/share"},
    {"XDG_CACHE_HOME", "/.cache"},
};

struct strbuf {
    char *s;
    size_t len, cap;
};

static void
sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

char *
path_expand(const char *in, struct cerr *err)
{
    struct strbuf out = {0};
    const char *p = in;

    sb_add(&out, "", 0);
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
        const char *home = home_dir();
        if (home == NULL) {
            cerr_set(err, -ENOENT, 0, "cannot expand ~ in \"%s\": HOME is not set", in);
            goto fail;
        }
        sb_add(&out, home, strlen(home));
        p++;
    }
    while (*p != '\0') {
        if (p[0] != '$' || p[1] != '{') {
            sb_add(&out, p, 1);
            p++;
            continue;
        }
        const char *close = strchr(p + 2, '}');
        if (close == NULL) {
            cerr_set(err, -EINVAL, 0, "unterminated ${ in \"%s\"", in);
            goto fail;
        }
        char name[128];
        size_t nlen = (size_t)(close - (p + 2));
        if (nlen == 0 || nlen >= sizeof name) {
            cerr_set(err, -EINVAL, 0, "bad variable name in \"%s\"", in);
            goto fail;
        }
        memcpy(name, p + 2, nlen);
        name[nlen] = '\0';
        p = close + 1;

        const char *value = getenv(name);
        if (value != NULL && *value != '\0') {
            sb_add(&out, value, strlen(value));
            continue;
        }
        /* XDG_RUNTIME_DIR has no specified default; ours is the socket's
         * fallback directory, so "${XDG_RUNTIME_DIR}/careti/x" and the
         * built-in default socket agree on a machine without it. */
        if (strcmp(name, "XDG_RUNTIME_DIR") == 0 &&
            strncmp(p, CARETI_RUNTIME_SUFFIX, strlen(CARETI_RUNTIME_SUFFIX)) == 0 &&
            (p[strlen(CARETI_RUNTIME_SUFFIX)] == '/' ||
             p[strlen(CARETI_RUNTIME_SUFFIX)] == '\0')) {
            char dir[64];
            int n = snprintf(dir, sizeof dir, "/tmp/careti-%u", (unsigned)getuid());
            sb_add(&out, dir, (size_t)n);
            p += strlen(CARETI_RUNTIME_SUFFIX);
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof xdg_fallbacks / sizeof xdg_fallbacks[0]; i++)
            if (strcmp(xdg_fallbacks[i].name, name) == 0)
                break;
        const char *home = home_dir();
        if (i == sizeof xdg_fallbacks / sizeof xdg_fallbacks[0] || home == NULL) {
            /* `export X=` and a missing export need different fixes. */
            cerr_set(err, -ENOENT, 0, "cannot expand \"%s\": ${%s} is %s", in, name,
                     value != NULL ? "set but empty" : "not set");
            goto fail;
        }
        sb_add(&out, home, strlen(home));
        sb_add(&out, xdg_fallbacks[i].home_relative, strlen(xdg_fallbacks[i].home_relative));
    }
    return out.s;
fail:
    free(out.s);
    return NULL;
}

char *
path_default_socket(void)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt != NULL && *rt != '\0')
        return xasprintf("%s/careti/caretid.sock", rt);
    return xasprintf("/tmp/careti-%u/caretid.sock", (unsigned)getuid());
}

char *
path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

static const char *
home_dir(void)
{
    const char *home = getenv("HOME");
    if (home != NULL && *home != '\0')
        return home;
    /* getpwuid is fine here: called at start-up and reload, off the loop. */
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : NULL;
}
