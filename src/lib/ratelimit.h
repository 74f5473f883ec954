/* ratelimit: a byte-rate limiter (a virtual-clock token bucket) for reads
 * that must not exceed a configured rate, such as the drift audit's content
 * hashing on both ends of a mirror.
 *
 * The caller asks before it reads: ratelimit_take() charges n bytes and
 * says how long to wait before reading them, so that over any interval T
 * at most rate * T + burst bytes are read.  The arithmetic is pure (the
 * caller passes the time) so it can be tested without a clock;
 * ratelimit_wait() is the sleeping convenience. */
#ifndef MIRROR_RATELIMIT_H
#define MIRROR_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	uint64_t rate;        /* bytes per second, 0 = unlimited */
	uint64_t burst_ns;    /* credit an idle limiter may bank, in time */
	uint64_t free_at;     /* virtual time (ns) at which the bytes charged
			       * so far are paid for */
};

/* burst: bytes that may be read at once after an idle period (at least one
 * read's worth; the limit holds over any interval up to that slack). */
void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst);
/* Charge n bytes at now_ns (a monotonic clock); the nanoseconds to wait
 * before reading them (0: read now). */
uint64_t ratelimit_take(struct ratelimit *rl, uint64_t now_ns, uint64_t n);
/* Charge n bytes and sleep (CLOCK_MONOTONIC) as long as needed. */
void ratelimit_wait(struct ratelimit *rl, uint64_t n);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ratelimit_now_ns(void);

#endif
