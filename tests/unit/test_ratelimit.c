/* test_ratelimit: the byte-rate limiter.  With a simulated clock: a
 * reader that always waits as told never exceeds rate * T + burst over any
 * window and keeps up the rate; an idle limiter banks at most one burst;
 * rate 0 never waits.  With the real clock: 512 KiB at 2 MiB/s take a
 * quarter of a second, within 10%. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

#define NS 1000000000ull
#define KIB 1024ull

/* Read total bytes in chunks at rate, sleeping as told on a simulated
 * clock; check every window of w ns against rate * w + burst. */
static void simulate(uint64_t rate, uint64_t burst, uint64_t chunk, uint64_t total)
{
	struct ratelimit rl;
	uint64_t now = 5 * NS, start = now, n = total / chunk;
	uint64_t *at = test_calloc(n, sizeof(*at));

	ratelimit_init(&rl, rate, burst);
	for (uint64_t i = 0; i < n; i++) {
		now += ratelimit_take(&rl, now, chunk);
		at[i] = now;              /* the chunk is read at this instant */
		now += 1000;              /* the read itself */
	}
	/* any window [at[i], at[j]] holds j - i + 1 chunks */
	for (uint64_t i = 0; i < n; i += 7)
		for (uint64_t j = i; j < n; j += 13) {
			double allowed = (double)(at[j] - at[i]) / NS * rate + burst + chunk;
			assert_true((double)(j - i + 1) * chunk <= allowed);
		}
	/* and the rate is reached, not just kept below */
	double secs = (double)(now - start) / NS;
	double got = (double)total / secs;
	assert_true(got <= rate * 1.10 + (double)burst / secs);
	assert_true(got >= rate * 0.95);
	test_free(at);
}

static void test_accuracy_simulated(void **state)
{
	(void)state;
	simulate(1024 * KIB, 64 * KIB, 128 * KIB, 8 * 1024 * KIB);
	simulate(10 * 1024 * KIB, 64 * KIB, 64 * KIB, 64 * 1024 * KIB);
	simulate(100 * KIB, 4 * KIB, 4 * KIB, 1024 * KIB);
}

static void test_idle_banks_one_burst(void **state)
{
	struct ratelimit rl;
	uint64_t now = 100 * NS;

	(void)state;
	ratelimit_init(&rl, 1024 * KIB, 64 * KIB);
	assert_int_equal(ratelimit_take(&rl, now, 64 * KIB), 0);   /* the burst */
	assert_true(ratelimit_take(&rl, now, 64 * KIB) > 0);       /* then the rate */
	now += 3600 * NS;                                          /* an hour idle */
	assert_int_equal(ratelimit_take(&rl, now, 64 * KIB), 0);
	uint64_t w = ratelimit_take(&rl, now, 64 * KIB);
	assert_true(w >= NS / 16 - 1000 && w <= NS / 16 + 1000);   /* 64 KiB at 1 MiB/s */
}

static void test_unlimited(void **state)
{
	struct ratelimit rl;

	(void)state;
	ratelimit_init(&rl, 0, 64 * KIB);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ratelimit_take(&rl, 1, 1ull << 30), 0);
}

static void test_accuracy_real_clock(void **state)
{
	struct ratelimit rl;
	uint64_t rate = 2048 * KIB, total = 512 * KIB, chunk = 32 * KIB;

	(void)state;
	ratelimit_init(&rl, rate, chunk);
	uint64_t t0 = ratelimit_now_ns();
	for (uint64_t done = 0; done < total; done += chunk)
		ratelimit_wait(&rl, chunk);
	double secs = (double)(ratelimit_now_ns() - t0) / NS;
	/* total - burst must take (total - chunk) / rate at least */
	double want = (double)(total - chunk) / rate;
	assert_true(secs >= want * 0.98);
	assert_true(secs <= want * 1.10 + 0.05);   /* a busy machine oversleeps */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accuracy_simulated),
		cmocka_unit_test(test_idle_banks_one_burst),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_accuracy_real_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
