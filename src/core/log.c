/*
 * log: leveled lines on stderr.  Owns the process-wide level and format.
 * Writes are small single fprintf calls on an unbuffered stream; it must
 * never be handed a secret.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "careti/core/log.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static bool journal_format;
static const char *log_progname = "caretid";

/* syslog priorities, as the journal expects them in <N> prefixes. */
static const struct {
    const char *name;
    int priority;
} level_table[] = {
    [LOG_LEVEL_ERROR] = {"error", 3},
    [LOG_LEVEL_WARN] = {"warn", 4},
    [LOG_LEVEL_INFO] = {"info", 6},
    [LOG_LEVEL_DEBUG] = {"debug", 7},
};

void
log_init(const char *progname)
{
    log_progname = progname;
    const char *js = getenv("JOURNAL_STREAM");
    journal_format = js != NULL && *js != '\0';
    setvbuf(stderr, NULL, _IOLBF, 0);
}

void
log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level
log_get_level(void)
{
    return current_level;
}

const char *
log_level_name(enum log_level level)
{
    return level_table[level].name;
}

int
log_level_parse(const char *name, enum log_level *level)
{
    for (size_t i = 0; i < sizeof level_table / sizeof level_table[0]; i++) {
        if (strcmp(level_table[i].name, name) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char raw[2048], line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Messages quote what clients and model servers sent: a control byte
     * must not start a forged line or reach a terminal as an escape. */
    size_t o = 0;
    for (const unsigned char *r = (const unsigned char *)raw; *r != '\0' && o + 5 < sizeof line;
         r++) {
        if (*r < 0x20 || *r == 0x7f)
            o += (size_t)snprintf(line + o, sizeof line - o, "\\x%02x", *r);
        else
            line[o++] = (char)*r;
    }
    line[o] = '\0';
    if (journal_format) {
        fprintf(stderr, "<%d>%s\n", level_table[level].priority, line);
        return;
    }
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld %s[%s] %s\n", stamp, ts.tv_nsec / 1000000L, log_progname,
            level_table[level].name, line);
}
