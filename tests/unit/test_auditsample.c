/* test_auditsample: the rolling content sample of the drift audit.
 * Consecutive passes cover the ring without gap or overlap (every key in
 * exactly one pass of a lap, wrap-around included); spans from a fraction
 * and from a byte budget; laps counted; the cursor survives a save and
 * load, and a broken state file is refused. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/mirrord/auditsample.h"

#define NKEYS 20000

static void test_rotation_covers_each_key_once(void **state)
{
	static uint64_t keys[NKEYS];
	static uint8_t hits[NKEYS];
	struct auditsample s = { .cursor = UINT64_MAX - 12345 };   /* wraps in lap 1 */
	uint64_t span = auditsample_span(70000, 0, 0);             /* 7%: 15 passes a lap */
	char name[32];
	int laps = 0, passes = 0;

	(void)state;
	for (int i = 0; i < NKEYS; i++) {
		int n = snprintf(name, sizeof(name), "dir/file%d", i);
		keys[i] = auditsample_key(name, (size_t)n);
	}
	while (laps == 0) {
		for (int i = 0; i < NKEYS; i++)
			hits[i] += auditsample_in(s.cursor, span, keys[i]);
		laps += auditsample_advance(&s, span, 1000);
		passes++;
	}
	assert_int_equal(passes, 15);          /* ceil(1 / 0.07) */
	assert_int_equal(s.laps, 1);
	assert_int_equal(s.passes, 15);
	/* 15 spans of 7% reach 105%: the keys of the first 5% are hashed twice
	 * (the new lap has begun), every other key exactly once */
	int once = 0, twice = 0;
	for (int i = 0; i < NKEYS; i++) {
		assert_true(hits[i] == 1 || hits[i] == 2);
		once += hits[i] == 1;
		twice += hits[i] == 2;
	}
	assert_true(twice > NKEYS * 3 / 100 && twice < NKEYS * 7 / 100);
	assert_int_equal(once + twice, NKEYS);
}

static void test_sample_size(void **state)
{
	char name[32];
	int in = 0;

	(void)state;
	uint64_t span = auditsample_span(10000, 0, 0);        /* 1% */
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(name, sizeof(name), "f%d", i);
		in += auditsample_in(42, span, auditsample_key(name, (size_t)n));
	}
	assert_true(in > 800 && in < 1200);
	assert_int_equal(auditsample_span(1000000, 0, 0), UINT64_MAX);
	assert_int_equal(auditsample_span(0, 100, 0), UINT64_MAX);      /* size unknown */
	assert_int_equal(auditsample_span(0, 200, 100), UINT64_MAX);    /* more than all */
	uint64_t quarter = auditsample_span(0, 25, 100);
	assert_true(quarter > (UINT64_MAX / 4) - (1ull << 20) && quarter < (UINT64_MAX / 4) + (1ull << 20));
	assert_true(auditsample_in(5, UINT64_MAX, 4));
	assert_false(auditsample_in(5, 1, 4));
	assert_true(auditsample_in(UINT64_MAX, 2, 0));                  /* wraps */
}

static void test_full_pass_keeps_cursor(void **state)
{
	struct auditsample s = { .cursor = 77, .lap_done = 5 };

	(void)state;
	assert_true(auditsample_advance(&s, UINT64_MAX, 9));
	assert_int_equal(s.cursor, 77);
	assert_int_equal(s.laps, 1);
	assert_int_equal(s.lap_done, 0);
	assert_int_equal(s.tree_bytes, 9);
}

static void test_persistence(void **state)
{
	char dir[] = "/tmp/test_auditsample.XXXXXX", file[64];
	struct auditsample s = { 0xfedcba9876543210ull, 123, 4, 5000, 6, 1700000000 }, t;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/audit", dir);
	assert_int_equal(auditsample_load(file, &t), 0);        /* none yet */
	assert_int_equal(t.cursor, 0);
	assert_int_equal(auditsample_save(file, &s), 0);
	assert_int_equal(auditsample_load(file, &t), 0);
	assert_memory_equal(&s, &t, sizeof(s));
	assert_non_null(f = fopen(file, "w"));
	fputs("cursor banana\n", f);
	fclose(f);
	assert_int_equal(auditsample_load(file, &t), -EINVAL);
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotation_covers_each_key_once),
		cmocka_unit_test(test_sample_size),
		cmocka_unit_test(test_full_pass_keeps_cursor),
		cmocka_unit_test(test_persistence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
