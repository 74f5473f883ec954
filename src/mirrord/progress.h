/* progress: how far a long pass is (the start-up walk, a full
 * reconciliation), for a log line every few seconds: done of total, rate,
 * and an estimate of the time left.  Pure bookkeeping; times in ms. */
#ifndef MIRRORD_PROGRESS_H
#define MIRRORD_PROGRESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROGRESS_EVERY_MS 5000

struct progress {
	uint64_t total;         /* expected items, 0 if unknown */
	uint64_t done;
	uint64_t t0, next;
};

void progress_start(struct progress *p, uint64_t total, uint64_t now);
/* Count n items; true when a line is due (then the next is due later). */
bool progress_step(struct progress *p, uint64_t n, uint64_t now);
/* "D of T paths (P%), R/s, about S s left" (or "D paths, R/s" without a
 * total, or once past it) into buf. */
void progress_format(const struct progress *p, uint64_t now, char *buf, size_t len);

#endif
