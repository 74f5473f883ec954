/* test_progress: progress lines of long passes. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/mirrord/progress.h"

static void test_due_and_eta(void **state)
{
	struct progress p;
	char buf[128];

	(void)state;
	progress_start(&p, 1000, 10000);
	assert_false(progress_step(&p, 100, 11000));
	assert_true(progress_step(&p, 150, 15000));           /* 250 in 5 s */
	progress_format(&p, 15000, buf, sizeof(buf));
	assert_string_equal(buf, "250 of 1000 paths (25%), 50/s, about 15 s left");
	assert_false(progress_step(&p, 1, 16000));
	assert_true(progress_step(&p, 1, 20000));
}

static void test_no_total(void **state)
{
	struct progress p;
	char buf[128];

	(void)state;
	progress_start(&p, 0, 0);
	progress_step(&p, 30, 3000);
	progress_format(&p, 3000, buf, sizeof(buf));
	assert_string_equal(buf, "30 paths, 10/s");
	progress_start(&p, 10, 0);                            /* past the total */
	progress_step(&p, 20, 1000);
	progress_format(&p, 1000, buf, sizeof(buf));
	assert_string_equal(buf, "20 paths, 20/s");
}

static void test_eta(void **state)
{
	(void)state;
	assert_int_equal(progress_eta(250, 1000, 5000), 15);     /* 50/s, 750 left */
	assert_int_equal(progress_eta(1000, 1000, 5000), 0);
	assert_int_equal(progress_eta(1, 3, 999), 1);            /* 1.998 s: floor */
	assert_int_equal(progress_eta(0, 1000, 5000), -1);       /* nothing done yet */
	assert_int_equal(progress_eta(10, 0, 5000), -1);         /* no total */
	assert_int_equal(progress_eta(1001, 1000, 5000), -1);    /* estimate too low */
	assert_int_equal(progress_eta(5, 10, 0), 0);             /* no time yet: no div 0 */
	/* a large tree over a long time does not overflow */
	assert_int_equal(progress_eta(1ull << 39, 1ull << 40, 86400000ull * 30), 86400 * 30);
}

static void test_view(void **state)
{
	struct progress p;
	struct progress_view v;

	(void)state;
	progress_start(&p, 2000, 1000);
	p.phase = PROGRESS_INITIAL;
	p.from = PROGRESS_TOTAL_COUNT;
	progress_view(&p, 1000, 5000, 0, &v);          /* bytes so far: the base */
	assert_int_equal(v.phase, PROGRESS_INITIAL);
	assert_int_equal(v.bytes, 0);
	assert_int_equal(v.eta_s, -1);
	assert_true(v.percent == 0.0);
	progress_step(&p, 500, 3000);
	progress_view(&p, 3000, 5000 + 4096, 0, &v);   /* 500 in 2 s, 4 KiB sent */
	assert_int_equal(v.done, 500);
	assert_int_equal(v.total, 2000);
	assert_int_equal(v.from, PROGRESS_TOTAL_COUNT);
	assert_int_equal(v.bytes, 4096);
	assert_int_equal(v.elapsed_ms, 2000);
	assert_true(v.rate > 249.9 && v.rate < 250.1);
	assert_true(v.byte_rate > 2047.9 && v.byte_rate < 2048.1);
	assert_true(v.percent > 24.9 && v.percent < 25.1);
	assert_int_equal(v.eta_s, 6);                /* 1500 at 250/s */
	progress_step(&p, 1600, 4000);              /* past the estimate */
	progress_view(&p, 4000, 9000, 0, &v);
	assert_true(v.percent > 99.8 && v.percent < 99.95);   /* never 100 while it runs */
	assert_int_equal(v.eta_s, -1);
	assert_string_equal(progress_phase_name(v.phase), "initial");
	assert_string_equal(progress_source_name(v.from), "count");
	assert_null(progress_phase_name(PROGRESS_NONE));
	progress_view(&p, 4000, 9000, 600, &v);     /* 600 sent, not complete */
	assert_int_equal(v.done, 1500);
	assert_int_equal(v.eta_s, 1);                /* 500 left at 500/s */
	progress_view(&p, 4000, 9000, 5000, &v);    /* more pending than counted */
	assert_int_equal(v.done, 0);
	assert_int_equal(v.eta_s, -1);
}

static void test_view_no_total(void **state)
{
	struct progress p;
	struct progress_view v;

	(void)state;
	progress_start(&p, 0, 0);
	p.phase = PROGRESS_WALK;
	p.from = PROGRESS_TOTAL_INDEX;               /* no total: no source either */
	progress_step(&p, 4096, 1000);
	progress_view(&p, 1000, 0, 0, &v);
	assert_int_equal(v.total, 0);
	assert_int_equal(v.from, PROGRESS_TOTAL_NONE);
	assert_true(v.percent < 0);
	assert_int_equal(v.eta_s, -1);
	assert_true(v.rate > 4095.9 && v.rate < 4096.1);
	assert_null(progress_source_name(v.from));
}

static void test_view_format(void **state)
{
	struct progress_view v = { .phase = PROGRESS_INITIAL, .from = PROGRESS_TOTAL_COUNT,
				   .done = 250, .total = 1000, .bytes = 4096, .rate = 50,
				   .percent = 25, .eta_s = 15 };
	char buf[256];

	(void)state;
	progress_view_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "250 of 1000 paths complete on the sink (25.0%, total by "
			    "count), 4096 bytes sent, 50 paths/s, about 15 s left");
	v = (struct progress_view){ .phase = PROGRESS_RECONCILE, .done = 7, .rate = 3.5,
				    .percent = -1, .eta_s = -1 };
	progress_view_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "7 paths complete on the sink, 0 bytes sent, 4 paths/s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due_and_eta),
		cmocka_unit_test(test_no_total),
		cmocka_unit_test(test_eta),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_view_no_total),
		cmocka_unit_test(test_view_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
