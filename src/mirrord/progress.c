/* progress: how far a long pass is (see progress.h). */
#include "config.h"

#include <stdio.h>

#include "progress.h"

void progress_start(struct progress *p, uint64_t total, uint64_t now)
{
	*p = (struct progress){ .total = total, .t0 = now, .next = now + PROGRESS_EVERY_MS };
}

bool progress_step(struct progress *p, uint64_t n, uint64_t now)
{
	p->done += n;
	if (now < p->next)
		return false;
	p->next = now + PROGRESS_EVERY_MS;
	return true;
}

void progress_format(const struct progress *p, uint64_t now, char *buf, size_t len)
{
	uint64_t ms = now > p->t0 ? now - p->t0 : 1;
	uint64_t rate = p->done * 1000 / ms;

	if (p->total == 0 || p->done > p->total || p->done == 0) {
		snprintf(buf, len, "%llu paths, %llu/s", (unsigned long long)p->done,
			 (unsigned long long)rate);
		return;
	}
	uint64_t left_s = (p->total - p->done) * ms / p->done / 1000;
	snprintf(buf, len, "%llu of %llu paths (%llu%%), %llu/s, about %llu s left",
		 (unsigned long long)p->done, (unsigned long long)p->total,
		 (unsigned long long)(p->done * 100 / p->total), (unsigned long long)rate,
		 (unsigned long long)left_s);
}
