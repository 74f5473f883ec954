/* test_hash: XXH3-128 digests, streamed, one-shot and from a file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "hash.h"

/* Canonical XXH3-128 (seed 0) of "" and "abc", from the reference
 * implementation's one-shot XXH3_128bits(). */
static const uint8_t kat_empty[HASH_LEN] = {
	0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47, 0x98, 0xd8,
	0x60, 0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49, 0x7f,
};
static const uint8_t kat_abc[HASH_LEN] = {
	0x06, 0xb0, 0x5a, 0xb6, 0x73, 0x3a, 0x61, 0x85,
	0x78, 0xaf, 0x5f, 0x94, 0x89, 0x2f, 0x39, 0x50,
};

static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

static void test_known_answers(void **state)
{
	uint8_t d[HASH_LEN];
	struct hash *h = hash_new();

	assert_non_null(h);
	hash_buf("", 0, d);
	assert_memory_equal(d, kat_empty, HASH_LEN);
	hash_buf(NULL, 0, d);
	assert_memory_equal(d, kat_empty, HASH_LEN);
	hash_buf("abc", 3, d);
	assert_memory_equal(d, kat_abc, HASH_LEN);

	hash_final(h, d);
	assert_memory_equal(d, kat_empty, HASH_LEN);
	hash_update(h, "a", 1);
	hash_update(h, "bc", 2);
	hash_final(h, d);
	assert_memory_equal(d, kat_abc, HASH_LEN);
	hash_reset(h);
	hash_update(h, "abc", 3);
	hash_final(h, d);
	assert_memory_equal(d, kat_abc, HASH_LEN);
	hash_free(h);
	hash_free(NULL);
}

/* Streaming in pieces of every awkward size gives the one-shot digest. */
static void test_streaming_pieces(void **state)
{
	static const size_t steps[] = { 1, 2, 3, 7, 15, 100, 240, 10000, 200000 };
	const size_t n = 1000003;
	uint8_t *p = pattern(n, 7);
	uint8_t want[HASH_LEN], got[HASH_LEN];
	struct hash *h = hash_new();

	assert_non_null(h);
	hash_buf(p, n, want);
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		hash_reset(h);
		for (size_t off = 0; off < n; off += steps[s])
			hash_update(h, p + off, n - off < steps[s] ? n - off : steps[s]);
		hash_final(h, got);
		assert_memory_equal(got, want, HASH_LEN);
	}
	/* A one-byte change changes the digest. */
	p[n / 2] ^= 1;
	hash_buf(p, n, got);
	assert_memory_not_equal(got, want, HASH_LEN);
	hash_free(h);
	free(p);
}

static int tmpfile_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("test_hash", MFD_CLOEXEC);

	assert_true(fd >= 0);
	if (n)
		assert_int_equal(write(fd, p, n), (ssize_t)n);
	/* hash_fd reads from offset 0 whatever the file position. */
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)n);
	return fd;
}

static void check_fd(size_t n)
{
	uint8_t *p = pattern(n, (uint32_t)n);
	uint8_t want[HASH_LEN], got[HASH_LEN];
	int fd = tmpfile_with(p, n);

	hash_buf(p, n, want);
	memset(got, 0, sizeof(got));
	assert_int_equal(hash_fd(fd, got), 0);
	assert_memory_equal(got, want, HASH_LEN);
	close(fd);
	free(p);
}

static void test_fd(void **state)
{
	check_fd(0);
	check_fd(3);
	check_fd(256 * 1024);
	check_fd(256 * 1024 + 1);
	check_fd(3 * 1024 * 1024 + 17);
}

static void test_fd_error(void **state)
{
	uint8_t d[HASH_LEN];

	assert_int_equal(hash_fd(-1, d), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_streaming_pieces),
		cmocka_unit_test(test_fd),
		cmocka_unit_test(test_fd_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
