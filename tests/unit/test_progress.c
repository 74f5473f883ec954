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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due_and_eta),
		cmocka_unit_test(test_no_total),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
