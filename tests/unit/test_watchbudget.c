/* test_watchbudget: the watch budget (caps, watches in use) and the
 * directory count, on the real /proc and a temp tree. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "exclude.h"
#include "../../src/mirrord/watchbudget.h"

static char dir[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_watchbudget.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void mk(const char *rel, bool is_dir)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (is_dir) {
		assert_int_equal(mkdir(p, 0755), 0);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

static void test_fdinfo_lines(void **state)
{
	static const char text[] =
		"pos:\t0\nflags:\t02004000\nmnt_id:\t15\nino:\t1057\n"
		"inotify wd:2 ino:7 sdev:800001 mask:fce ignored_mask:0 fhandle-bytes:8\n"
		"inotify wd:1 ino:2 sdev:800001 mask:fce ignored_mask:0 fhandle-bytes:8\n"
		"xinotify wd:3 not at the start of the line\n"
		"inotify w\n"
		"inotify wd:4";  /* last line without a newline counts */
	(void)state;
	assert_int_equal(watchbudget_count_fdinfo(text, sizeof(text) - 1), 3);
	assert_int_equal(watchbudget_count_fdinfo("", 0), 0);
	assert_int_equal(watchbudget_count_fdinfo("inotify wd", 10), 0);
}

static void test_suggest(void **state)
{
	struct watchbudget b = { .max = 8192, .used = 1000 };
	(void)state;

	/* 1000 + 10000 * 1.5 = 16000 -> 16384 */
	assert_int_equal(watchbudget_suggest(&b, 10000), 16384);
	/* a little short: never below the cap + 1024 */
	assert_int_equal(watchbudget_suggest(&b, 100), 8192 + 1024);
	b.used = UINT64_MAX - 10;
	assert_int_equal(watchbudget_suggest(&b, 100), UINT64_MAX);
	b = (struct watchbudget){ .max = 100, .used = 150 };
	assert_int_equal(watchbudget_free(&b), 0);
	b.used = 40;
	assert_int_equal(watchbudget_free(&b), 60);
}

static void test_count_dirs(void **state)
{
	struct exclude *ex = exclude_new();
	uint64_t n = 0;
	char link[128], ln[128];
	(void)state;

	mk("a", true);
	mk("a/b", true);
	mk("a/b/c", true);
	mk("a/f", false);
	mk("cache", true);
	mk("cache/x", true);
	mk("keep", true);
	mk("keep/cache", false);        /* a file: "cache/" does not match it */
	snprintf(link, sizeof(link), "%s/a", dir);
	snprintf(ln, sizeof(ln), "%s/ln", dir);
	assert_int_equal(symlink(link, ln), 0);   /* not followed */
	assert_int_equal(watchbudget_count_dirs(dir, NULL, &n), 0);
	assert_int_equal(n, 7);         /* root, a, a/b, a/b/c, cache, cache/x, keep */
	assert_non_null(ex);
	assert_int_equal(exclude_add(ex, "cache/"), 0);
	assert_int_equal(watchbudget_count_dirs(dir, ex, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(exclude_add(ex, "/a/b"), 0);
	assert_int_equal(watchbudget_count_dirs(dir, ex, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(watchbudget_count_dirs("/nonexistent/test_watchbudget", ex, &n), -ENOENT);
	exclude_free(ex);
}

/* Our own watches show in the budget, across fdinfo read pieces. */
static void test_read_counts_our_watches(void **state)
{
	struct watchbudget b0, b1;
	char p[128];
	int fd;
	(void)state;

	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "d%03d", i);
		mk(p, true);
	}
	assert_int_equal(watchbudget_read(&b0), 0);
	assert_true(b0.max > 0);
	assert_true(b0.max <= b0.max_global);
	assert_true(b0.processes >= 1);
	fd = inotify_init1(IN_CLOEXEC);
	assert_true(fd >= 0);
	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "%s/d%03d", dir, i);
		assert_true(inotify_add_watch(fd, p, IN_CREATE) >= 0);
	}
	assert_int_equal(watchbudget_read(&b1), 0);
	/* other processes of ours may come and go meanwhile: at least ours */
	assert_true(b1.used >= 300);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdinfo_lines),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test_setup_teardown(test_count_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_counts_our_watches, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
