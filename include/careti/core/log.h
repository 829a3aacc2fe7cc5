/*
 * Logging to stderr.  Under systemd (JOURNAL_STREAM set) lines carry <N>
 * priority prefixes and no timestamps, since the journal adds its own.
 * Never log secrets: callers pass URLs and names, never tokens or keys.
 */
#ifndef CARETI_LOG_H
#define CARETI_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Decide the output format from the environment; call once at start. */
void log_init(const char *progname);
/* Set the lowest level printed. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Name of LEVEL ("error", "warn", "info", "debug"). */
const char *log_level_name(enum log_level level);
/* Parse NAME into *LEVEL; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
