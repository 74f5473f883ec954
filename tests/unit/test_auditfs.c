/* test_auditfs: one side's view of its tree for the drift audit.  A
 * listing is sorted, names only, leaves out temporaries and excluded
 * paths, reports symlinks unfollowed; stat and hash of single paths; the
 * hash matches hash_buf, keeps to the rate limiter, refuses non-files and
 * symlinks; missing and non-directory paths give their errno. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auditfs.h"
#include "entry.h"
#include "hash.h"

#define BIG (256 * 1024)

static char root[] = "/tmp/test_auditfs.XXXXXX";
static int rootfd = -1;
static uint8_t *big;

static void put(const char *rel, const void *p, size_t n)
{
	int fd = openat(rootfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(root) || (rootfd = open(root, O_RDONLY | O_DIRECTORY)) < 0)
		return -1;
	big = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	put("b", "bee", 3);
	put("a", "ay", 2);
	put("big", big, BIG);
	put("skip.log", "x", 1);
	put(".mirrord.tmp.0123456789abcdef", "t", 1);
	if (mkdirat(rootfd, "d", 0750) < 0 || symlinkat("target/../x", rootfd, "l") < 0)
		return -1;
	put("d/inner", "i", 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	close(rootfd);
	free(big);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_list(void **state)
{
	struct exclude *ex = exclude_new();
	struct audit_item *v;
	size_t n;

	(void)state;
	assert_int_equal(exclude_add(ex, "*.log"), 0);
	assert_int_equal(auditfs_list(rootfd, "", 0, ex, 100, &v, &n), 0);
	assert_int_equal(n, 5);
	static const char *const want[] = { "a", "b", "big", "d", "l" };
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i].name, want[i]);
	assert_int_equal(v[0].type, ENT_FILE);
	assert_int_equal(v[0].size, 2);
	assert_int_equal(v[0].mode, 0640);
	assert_int_equal(v[3].type, ENT_DIR);
	assert_int_equal(v[4].type, ENT_SYMLINK);
	assert_string_equal(v[4].link, "target/../x");
	assert_int_equal(v[4].size, 11);
	assert_false(v[0].has_digest);
	audit_items_free(v, n);
	/* no excludes: the log is there, the temporary never */
	assert_int_equal(auditfs_list(rootfd, "", 0, NULL, 100, &v, &n), 0);
	assert_int_equal(n, 6);
	audit_items_free(v, n);
	assert_int_equal(auditfs_list(rootfd, "", 0, NULL, 3, &v, &n), -E2BIG);
	assert_int_equal(auditfs_list(rootfd, "d", 1, ex, 100, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "inner");
	audit_items_free(v, n);
	assert_int_equal(auditfs_list(rootfd, "nope", 4, ex, 100, &v, &n), -ENOENT);
	assert_int_equal(auditfs_list(rootfd, "a", 1, ex, 100, &v, &n), -ENOTDIR);
	assert_int_equal(auditfs_list(rootfd, "l", 1, ex, 100, &v, &n), -ELOOP);
	exclude_free(ex);
}

static int stop_at_two(void *ctx, struct audit_item *it)
{
	int *n = ctx;

	(void)it;
	return ++*n == 2 ? -ECANCELED : 0;
}

static int keep(void *ctx, struct audit_item *it)
{
	struct audit_item *kept = ctx;

	if (strcmp(it->name, "a") != 0)
		return 0;
	*kept = *it;
	return 1;                     /* taken over: freed by the caller */
}

static void test_each(void **state)
{
	struct audit_item kept = { 0 };
	int n = 0;

	(void)state;
	assert_int_equal(auditfs_each(rootfd, "", 0, NULL, stop_at_two, &n), -ECANCELED);
	assert_int_equal(n, 2);
	assert_int_equal(auditfs_each(rootfd, "", 0, NULL, keep, &kept), 0);
	assert_string_equal(kept.name, "a");
	audit_item_clear(&kept);
	assert_int_equal(auditfs_each(rootfd, "nope", 4, NULL, keep, &kept), -ENOENT);
}

static void test_stat(void **state)
{
	struct audit_item it;

	(void)state;
	assert_int_equal(auditfs_stat(rootfd, "d/inner", 7, &it), 0);
	assert_int_equal(it.type, ENT_FILE);
	assert_int_equal(it.size, 1);
	assert_string_equal(it.name, "");
	audit_item_clear(&it);
	assert_int_equal(auditfs_stat(rootfd, "l", 1, &it), 0);
	assert_int_equal(it.type, ENT_SYMLINK);
	audit_item_clear(&it);
	assert_int_equal(auditfs_stat(rootfd, "gone", 4, &it), -ENOENT);
}

static void test_hash(void **state)
{
	struct audit_item it;
	uint8_t want[HASH_LEN];
	uint64_t bytes = 0;

	(void)state;
	hash_buf(big, BIG, want);
	assert_int_equal(auditfs_hash(rootfd, "big", 3, NULL, NULL, &it, &bytes), 0);
	assert_true(it.has_digest);
	assert_memory_equal(it.digest, want, HASH_LEN);
	assert_int_equal(it.size, BIG);
	assert_int_equal(bytes, BIG);
	audit_item_clear(&it);
	assert_int_equal(auditfs_hash(rootfd, "d", 1, NULL, NULL, &it, &bytes), -EINVAL);
	assert_int_equal(auditfs_hash(rootfd, "l", 1, NULL, NULL, &it, &bytes), -ELOOP);
	assert_int_equal(auditfs_hash(rootfd, "gone", 4, NULL, NULL, &it, &bytes), -ENOENT);
	volatile sig_atomic_t stop = 1;
	assert_int_equal(auditfs_hash(rootfd, "big", 3, NULL, &stop, &it, &bytes), -EINTR);
}

static void test_hash_throttled(void **state)
{
	struct ratelimit rl;
	struct audit_item it;
	uint64_t bytes = 0;

	(void)state;
	ratelimit_init(&rl, 1024 * 1024, AUDITFS_CHUNK);
	uint64_t t0 = ratelimit_now_ns();
	assert_int_equal(auditfs_hash(rootfd, "big", 3, &rl, NULL, &it, &bytes), 0);
	double secs = (double)(ratelimit_now_ns() - t0) / 1e9;
	audit_item_clear(&it);
	/* 256 KiB at 1 MiB/s, less the 64 KiB burst: 0.1875 s */
	assert_true(secs >= 0.18);
	assert_true(secs <= 0.40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_hash_throttled),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
