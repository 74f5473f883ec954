/* progress: mirror-restore's progress line.  On a TTY a thread redraws
 * "files, bytes, rate, ETA" twice a second from counters the transfer
 * updates; elsewhere nothing is drawn and the caller prints plain summary
 * lines. */
#ifndef RESTORE_PROGRESS_H
#define RESTORE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress_src {
	const uint64_t *entries;      /* entries handled so far; borrowed */
	const uint64_t *bytes;        /* bytes received so far; borrowed */
	uint64_t expected;            /* entries expected (0: unknown, no ETA) */
	const char *label;            /* borrowed */
};

struct progress;

/* NULL when stderr is not a TTY (or on ENOMEM): then no line is drawn.
 * The counters are read without locks while the transfer writes them
 * (aligned 64-bit loads: a display may lag, never corrupt anything). */
struct progress *progress_start(const struct progress_src *src);
/* Stop the thread and clear the line.  NULL is a no-op. */
void progress_stop(struct progress *p);

#endif
