/* test_worker: one background thread, one job at a time. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "worker.h"

struct job {
	atomic_int go;          /* the job waits until this is set */
	int runs;
	int rc;
};

static void nap(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

static int job_fn(void *arg)
{
	struct job *j = arg;

	while (!atomic_load(&j->go))
		nap();
	j->runs++;
	return j->rc;
}

static void test_one_job(void **state)
{
	struct worker *w = worker_new();
	struct job j = { .rc = -EIO };

	(void)state;
	assert_non_null(w);
	assert_false(worker_busy(w));
	assert_false(worker_done(w));
	assert_int_equal(worker_wait(w), 0);               /* no job */
	assert_int_equal(worker_start(w, job_fn, &j), 0);
	assert_true(worker_busy(w));
	assert_int_equal(worker_start(w, job_fn, &j), -EBUSY);
	for (int i = 0; i < 20; i++)
		nap();
	assert_false(worker_done(w));                       /* held by go */
	atomic_store(&j.go, 1);
	for (int i = 0; i < 5000 && !worker_done(w); i++)
		nap();
	assert_true(worker_done(w));
	assert_int_equal(worker_wait(w), -EIO);
	assert_false(worker_busy(w));
	assert_int_equal(j.runs, 1);
	/* and again: the thread stays for the next job */
	j.rc = 7;
	assert_int_equal(worker_start(w, job_fn, &j), 0);
	assert_int_equal(worker_wait(w), 7);
	assert_int_equal(j.runs, 2);
	worker_free(w);
}

/* Freed with a job running: the job ends first. */
static void test_free_running(void **state)
{
	struct worker *w = worker_new();
	struct job j = { .go = 1 };

	(void)state;
	assert_non_null(w);
	assert_int_equal(worker_start(w, job_fn, &j), 0);
	worker_free(w);
	assert_int_equal(j.runs, 1);
	worker_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_job),
		cmocka_unit_test(test_free_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
