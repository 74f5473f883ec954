/* progress: how far a long pass is (the start-up walk, a full
 * reconciliation): a log line every few seconds (done of total, rate, an
 * estimate of the time left), and the figures `mirrorctl status` shows
 * while it runs (progress_view).  Pure bookkeeping; times in ms. */
#ifndef MIRRORD_PROGRESS_H
#define MIRRORD_PROGRESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROGRESS_EVERY_MS 5000

/* What the pass is, for the status. */
enum progress_phase {
	PROGRESS_NONE,          /* no pass runs (or one not reported) */
	PROGRESS_WALK,          /* the start-up walk of the tree index */
	PROGRESS_INITIAL,       /* a full pass before the sink was ever in sync */
	PROGRESS_RECONCILE,     /* a full pass later (overflow, dropped sink...) */
};

/* Where the total comes from: it is an estimate either way. */
enum progress_source {
	PROGRESS_TOTAL_NONE,    /* unknown (yet) */
	PROGRESS_TOTAL_INDEX,   /* the rows of the previous run's tree index */
	PROGRESS_TOTAL_COUNT,   /* counted by a walk beside the pass (precount.h) */
	PROGRESS_TOTAL_PREVIOUS, /* the paths of this run's last walk or pass */
	PROGRESS_TOTAL_LISTED,  /* the pass has listed the whole tree: exact */
};

struct progress {
	uint64_t total;         /* expected items, 0 if unknown */
	uint64_t done;
	uint64_t t0, next;
	enum progress_phase phase;
	enum progress_source from;
	bool bytes_set;         /* bytes0 is known */
	uint64_t bytes0;        /* bytes on the connection when the pass began */
};

/* A snapshot for the status (all zero, phase PROGRESS_NONE: none runs). */
struct progress_view {
	enum progress_phase phase;
	enum progress_source from;
	uint64_t done, total;   /* total 0: unknown */
	uint64_t bytes;         /* sent since the pass began */
	uint64_t elapsed_ms;
	double rate;            /* items per second, over the pass so far */
	double byte_rate;       /* bytes per second, likewise */
	double percent;         /* < 0: unknown */
	int64_t eta_s;          /* seconds left, -1: unknown */
};

/* Starts with phase PROGRESS_NONE and no total source. */
void progress_start(struct progress *p, uint64_t total, uint64_t now);
/* Count n items; true when a line is due (then the next is due later). */
bool progress_step(struct progress *p, uint64_t n, uint64_t now);
/* Only count; only tell whether a line is due (then the next is later). */
void progress_add(struct progress *p, uint64_t n);
bool progress_due(struct progress *p, uint64_t now);
/* "D of T paths (P%), R/s, about S s left" (or "D paths, R/s" without a
 * total, or once past it) into buf. */
void progress_format(const struct progress *p, uint64_t now, char *buf, size_t len);

/* Seconds left at the average rate so far: done of total in elapsed_ms.
 * -1 when it cannot be told: no total, nothing done yet, or past the
 * total (an estimate that was too low).  0 once done == total. */
int64_t progress_eta(uint64_t done, uint64_t total, uint64_t elapsed_ms);
/* The figures of p at now; bytes: on the connection now (the pass's own
 * are those since bytes0, set at the first call); pending: items counted
 * done by progress_step that are not complete yet (sent, not acknowledged),
 * not reported done. */
void progress_view(struct progress *p, uint64_t now, uint64_t bytes, uint64_t pending,
		   struct progress_view *ret);
/* "D of T paths complete on the sink (P%, total by SRC), B bytes sent,
 * R paths/s, about S s left" (total and time left only when known) into
 * buf: a pass's log line. */
void progress_view_format(const struct progress_view *v, char *buf, size_t len);
/* "walk", "initial", "reconcile"; NULL for PROGRESS_NONE. */
const char *progress_phase_name(enum progress_phase ph);
/* "index", "count", "previous", "listed"; NULL for PROGRESS_TOTAL_NONE. */
const char *progress_source_name(enum progress_source s);

#endif
