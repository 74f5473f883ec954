/* log: one line per event, to syslog/journald or to stderr in the foreground.
 *
 * Program code logs where a decision is made, with context (mirror name, peer,
 * path, errno text).  Library code returns negative errno values and logs at
 * debug level at most.  Messages use syslog priorities (LOG_ERR ... LOG_DEBUG).
 * Repeated identical messages are rate-limited: after LOG_BURST copies within
 * LOG_WINDOW_SEC seconds further copies are dropped and counted. */
#ifndef MIRROR_LOG_H
#define MIRROR_LOG_H

#include <stdbool.h>
#include <syslog.h>

#define LOG_BURST 10
#define LOG_WINDOW_SEC 10

/* Open the log.  ident is borrowed for the life of the process.  With
 * to_stderr the lines go to stderr (foreground), otherwise to syslog.
 * Messages above max_prio (e.g. LOG_DEBUG) are discarded. */
void log_open(const char *ident, bool to_stderr, int max_prio);
void log_set_level(int max_prio);
int log_level(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
