/* test_sinkfail: the rescans after the sink's failures, with a fake clock. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/mirrord/sinkfail.h"

#define NOTE(sf, d, now) sinkfail_note(sf, d, strlen(d), now)

static void expect_due(struct sinkfail *sf, uint64_t now, const char *dir)
{
	const char *d;
	size_t len;

	assert_true(sinkfail_due(sf, now, &d, &len));
	assert_string_equal(d, dir);
	assert_int_equal(len, strlen(dir));
}

static void test_first_rescan_waits(void **state)
{
	struct sinkfail *sf = sinkfail_new();
	const char *d;
	size_t len;

	(void)state;
	assert_non_null(sf);
	assert_false(sinkfail_waiting(sf));
	assert_int_equal(sinkfail_wait_ms(sf, 0), -1);
	assert_int_equal(NOTE(sf, "a/b", 1000), SINKFAIL_RETRY);
	assert_true(sinkfail_waiting(sf));
	assert_int_equal(sinkfail_wait_ms(sf, 1000), SINKFAIL_FIRST_MS);
	assert_false(sinkfail_due(sf, 1000 + SINKFAIL_FIRST_MS - 1, &d, &len));
	expect_due(sf, 1000 + SINKFAIL_FIRST_MS, "a/b");
	assert_false(sinkfail_due(sf, 5000, &d, &len));
	assert_false(sinkfail_waiting(sf));
	sinkfail_free(sf);
}

/* Failures while a rescan waits ride on it. */
static void test_coalesced(void **state)
{
	struct sinkfail *sf = sinkfail_new();
	const char *d;
	size_t len;

	(void)state;
	assert_int_equal(NOTE(sf, "a", 0), SINKFAIL_RETRY);
	assert_int_equal(NOTE(sf, "a", 10), SINKFAIL_RETRY);
	assert_int_equal(NOTE(sf, "", 20), SINKFAIL_RETRY);
	expect_due(sf, 1000, "a");
	expect_due(sf, 1000, "");
	assert_false(sinkfail_due(sf, 1000, &d, &len));
	sinkfail_free(sf);
}

/* A path that keeps failing is given up after SINKFAIL_TRIES rescans, each
 * later than the last, and tried again after a quiet SINKFAIL_FORGET_MS. */
static void test_gives_up(void **state)
{
	struct sinkfail *sf = sinkfail_new();
	uint64_t now = 0, last_wait = 0;

	(void)state;
	for (int i = 0; i < SINKFAIL_TRIES; i++) {
		assert_int_equal(NOTE(sf, "x", now), SINKFAIL_RETRY);
		int64_t w = sinkfail_wait_ms(sf, now);
		assert_true((uint64_t)w > last_wait);
		last_wait = (uint64_t)w;
		now += (uint64_t)w;
		expect_due(sf, now, "x");
	}
	assert_int_equal(NOTE(sf, "x", now), SINKFAIL_GIVEN_UP);
	assert_int_equal(NOTE(sf, "x", now + 1), SINKFAIL_QUIET);
	assert_false(sinkfail_waiting(sf));
	now += SINKFAIL_FORGET_MS + 1;
	assert_int_equal(NOTE(sf, "x", now), SINKFAIL_RETRY);
	sinkfail_free(sf);
}

/* The table is bounded: old entries make room, waiting ones do not. */
static void test_bounded(void **state)
{
	struct sinkfail *sf = sinkfail_new();
	char d[32];
	const char *got;
	size_t len;

	(void)state;
	for (int i = 0; i < SINKFAIL_MAX; i++) {
		snprintf(d, sizeof(d), "d%d", i);
		assert_int_equal(NOTE(sf, d, (uint64_t)i), SINKFAIL_RETRY);
	}
	assert_int_equal(NOTE(sf, "more", 300), -ENOSPC);
	assert_true(sinkfail_due(sf, 100000, &got, &len));    /* one rescan made */
	assert_int_equal(NOTE(sf, "more", 100000), SINKFAIL_RETRY);
	sinkfail_free(sf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_rescan_waits),
		cmocka_unit_test(test_coalesced),
		cmocka_unit_test(test_gives_up),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
