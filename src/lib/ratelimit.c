/* ratelimit: byte-rate limiter.  See ratelimit.h. */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "ratelimit.h"

#define NS 1000000000ull

void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst)
{
	rl->rate = rate;
	rl->burst_ns = rate ? (uint64_t)((double)burst * NS / (double)rate) : 0;
	rl->free_at = 0;
}

uint64_t ratelimit_take(struct ratelimit *rl, uint64_t now_ns, uint64_t n)
{
	if (rl->rate == 0)
		return 0;
	/* an idle limiter banks at most burst_ns of credit */
	uint64_t floor = now_ns > rl->burst_ns ? now_ns - rl->burst_ns : 0;
	if (rl->free_at < floor)
		rl->free_at = floor;
	/* these bytes are read once everything charged before them (and
	 * they themselves) is paid for: within rate * T + burst over any T */
	rl->free_at += (uint64_t)((double)n * NS / (double)rl->rate);
	uint64_t ready = rl->free_at;
	return ready > now_ns ? ready - now_ns : 0;
}

uint64_t ratelimit_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

void ratelimit_wait(struct ratelimit *rl, uint64_t n)
{
	uint64_t ns = ratelimit_take(rl, ratelimit_now_ns(), n);
	struct timespec ts = { (time_t)(ns / NS), (long)(ns % NS) };

	while (ns > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
