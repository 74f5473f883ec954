/* progress: how far a long pass is (see progress.h). */
#include "config.h"

#include <stdio.h>

#include "progress.h"

void progress_start(struct progress *p, uint64_t total, uint64_t now)
{
	*p = (struct progress){ .total = total, .t0 = now, .next = now + PROGRESS_EVERY_MS };
}

void progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
}

bool progress_due(struct progress *p, uint64_t now)
{
	if (now < p->next)
		return false;
	p->next = now + PROGRESS_EVERY_MS;
	return true;
}

bool progress_step(struct progress *p, uint64_t n, uint64_t now)
{
	progress_add(p, n);
	return progress_due(p, now);
}

int64_t progress_eta(uint64_t done, uint64_t total, uint64_t elapsed_ms)
{
	if (total == 0 || done == 0 || done > total)
		return -1;
	if (elapsed_ms == 0)
		elapsed_ms = 1;
	/* (total - done) / (done / elapsed), without overflow for any tree
	 * (paths < 2^40, elapsed < 2^24 s) */
	return (int64_t)((double)(total - done) * (double)elapsed_ms / (double)done / 1000.0);
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
	snprintf(buf, len, "%llu of %llu paths (%llu%%), %llu/s, about %lld s left",
		 (unsigned long long)p->done, (unsigned long long)p->total,
		 (unsigned long long)(p->done * 100 / p->total), (unsigned long long)rate,
		 (long long)progress_eta(p->done, p->total, ms));
}

void progress_view(struct progress *p, uint64_t now, uint64_t bytes, uint64_t pending,
		   struct progress_view *ret)
{
	uint64_t ms = now > p->t0 ? now - p->t0 : 0;
	double s = ms > 0 ? (double)ms / 1000.0 : 0.001;
	uint64_t done = p->done > pending ? p->done - pending : 0;

	if (!p->bytes_set || bytes < p->bytes0) {
		p->bytes_set = true;
		p->bytes0 = bytes;
	}
	*ret = (struct progress_view){
		.phase = p->phase, .from = p->total ? p->from : PROGRESS_TOTAL_NONE,
		.done = done, .total = p->total, .bytes = bytes - p->bytes0,
		.elapsed_ms = ms, .percent = -1,
	};
	ret->rate = (double)done / s;
	ret->byte_rate = (double)ret->bytes / s;
	ret->eta_s = progress_eta(done, p->total, ms);
	if (p->total > 0) {
		/* never 100 % while the pass runs: the total is an estimate */
		double pc = (double)done * 100.0 / (double)p->total;
		ret->percent = pc > 99.9 ? 99.9 : pc;
	}
}

void progress_view_format(const struct progress_view *v, char *buf, size_t len)
{
	char total[32] = "", pc[64] = "", left[48] = "";
	const char *from = progress_source_name(v->from);

	if (v->total > 0 && from) {
		snprintf(total, sizeof(total), " of %llu", (unsigned long long)v->total);
		snprintf(pc, sizeof(pc), " (%.1f%%, total by %s)", v->percent >= 0 ? v->percent : 0,
			 from);
	}
	if (v->eta_s >= 0)
		snprintf(left, sizeof(left), ", about %lld s left", (long long)v->eta_s);
	snprintf(buf, len, "%llu%s paths complete on the sink%s, %llu bytes sent, %.0f paths/s%s",
		 (unsigned long long)v->done, total, pc, (unsigned long long)v->bytes, v->rate,
		 left);
}

const char *progress_phase_name(enum progress_phase ph)
{
	switch (ph) {
	case PROGRESS_WALK: return "walk";
	case PROGRESS_INITIAL: return "initial";
	case PROGRESS_RECONCILE: return "reconcile";
	case PROGRESS_NONE: break;
	}
	return NULL;
}

const char *progress_source_name(enum progress_source s)
{
	switch (s) {
	case PROGRESS_TOTAL_INDEX: return "index";
	case PROGRESS_TOTAL_COUNT: return "count";
	case PROGRESS_TOTAL_PREVIOUS: return "previous";
	case PROGRESS_TOTAL_LISTED: return "listed";
	case PROGRESS_TOTAL_NONE: break;
	}
	return NULL;
}
