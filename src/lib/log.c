/* log: syslog or stderr, with a small rate limiter for repeated lines. */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "mirrord";
static bool log_stderr = true;
static int log_max = LOG_INFO;

/* Rate limiter state: the last message text and how often it repeated. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_last[256];
static time_t log_window_start;
static unsigned log_repeats;
static unsigned log_dropped;

void log_open(const char *ident, bool to_stderr, int max_prio)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_max = max_prio;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(int max_prio)
{
	log_max = max_prio;
}

int log_level(void)
{
	return log_max;
}

static const char *prio_name(int prio)
{
	static const char *names[] = { "emerg", "alert", "crit", "error",
				       "warning", "notice", "info", "debug" };
	return prio >= 0 && prio <= LOG_DEBUG ? names[prio] : "?";
}

static void log_emit(int prio, const char *line)
{
	if (!log_stderr) {
		syslog(prio, "%s", line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32] = "";

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && localtime_r(&ts.tv_sec, &tm))
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s[%s]: %s\n", stamp, ts.tv_nsec / 1000000,
		log_ident, prio_name(prio), line);
}

/* Returns true when the line may be printed; updates the repeat counters. */
static bool log_admit(const char *line, time_t now, unsigned *ret_dropped)
{
	*ret_dropped = 0;
	if (strncmp(line, log_last, sizeof(log_last) - 1) != 0 ||
	    now - log_window_start >= LOG_WINDOW_SEC) {
		*ret_dropped = log_dropped;
		size_t n = strnlen(line, sizeof(log_last) - 1);
		memcpy(log_last, line, n);
		log_last[n] = '\0';
		log_window_start = now;
		log_repeats = 0;
		log_dropped = 0;
	}
	if (++log_repeats <= LOG_BURST)
		return true;
	log_dropped++;
	return false;
}

void log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	unsigned dropped;

	if (prio > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap); /* long lines are cut, by design */
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	bool ok = log_admit(line, time(NULL), &dropped);
	if (dropped > 0) {
		char note[64];
		snprintf(note, sizeof(note), "(previous message repeated %u more times)", dropped);
		log_emit(LOG_NOTICE, note);
	}
	if (ok)
		log_emit(prio, line);
	pthread_mutex_unlock(&log_lock);
}
