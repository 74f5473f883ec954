/* test_compress: zstd chunks, round trip and refusal paths. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compress.h"

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (uint8_t)seed;
	}
	return p;
}

static uint8_t *text_bytes(size_t n)
{
	static const char line[] = "GET /index.html HTTP/1.1 200 4312 \"Mozilla/5.0\"\n";
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)line[(i + i / 977) % (sizeof(line) - 1)];
	return p;
}

static void round_trip(struct compress *c, const uint8_t *in, size_t n)
{
	size_t cap = compress_bound(n);
	uint8_t *z = malloc(cap), *back = malloc(n + 1);
	long zn, bn;

	assert_non_null(z);
	assert_non_null(back);
	zn = compress_chunk(c, in, n, z, cap);
	assert_true(zn > 0);
	assert_true((size_t)zn <= n - n / 32);
	bn = compress_expand(c, z, (size_t)zn, back, n + 1);
	assert_int_equal(bn, (long)n);
	assert_memory_equal(back, in, n);
	free(z);
	free(back);
}

static void test_round_trip(void **state)
{
	static const int levels[] = { 1, 3, 19 };
	static const size_t sizes[] = { 4096, 256 * 1024, 1024 * 1024 + 3 };

	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		struct compress *c = compress_new(levels[l]);

		assert_non_null(c);
		/* The same context serves many chunks in a row. */
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			uint8_t *p = text_bytes(sizes[s]);

			round_trip(c, p, sizes[s]);
			free(p);
		}
		compress_free(c);
	}
	compress_free(NULL);
}

static void test_does_not_pay(void **state)
{
	struct compress *c = compress_new(3);
	size_t n = 128 * 1024;
	uint8_t *p = random_bytes(n, 88172645463325252ull);
	uint8_t *z = malloc(compress_bound(n));

	assert_non_null(c);
	assert_non_null(z);
	assert_int_equal(compress_chunk(c, p, n, z, compress_bound(n)), 0);
	/* Tiny inputs never pay either. */
	assert_int_equal(compress_chunk(c, "ab", 2, z, compress_bound(2)), 0);
	assert_int_equal(compress_chunk(c, "", 0, z, compress_bound(0)), 0);
	/* Half random, half constant: compressible, but only just. */
	memset(p + n / 2, 'x', n / 2);
	round_trip(c, p, n);
	free(z);
	free(p);
	compress_free(c);
}

static void test_corrupt(void **state)
{
	struct compress *c = compress_new(3);
	size_t n = 64 * 1024, cap = compress_bound(n);
	uint8_t *p = text_bytes(n), *z = malloc(cap), *back = malloc(n);
	long zn;

	assert_non_null(c);
	zn = compress_chunk(c, p, n, z, cap);
	assert_true(zn > 16);
	/* Not a frame at all. */
	assert_int_equal(compress_expand(c, p, 100, back, n), -EBADMSG);
	assert_int_equal(compress_expand(c, z, 0, back, n), -EBADMSG);
	/* Truncated frame. */
	assert_int_equal(compress_expand(c, z, (size_t)zn - 1, back, n), -EBADMSG);
	assert_int_equal(compress_expand(c, z, 5, back, n), -EBADMSG);
	/* Damaged body: an error or bounded output, never a crash.  Frames
	 * carry no checksum (the end-to-end file hash catches bad content). */
	for (long i = 4; i < zn; i += 3) {
		long r;

		z[i] ^= 0x5a;
		r = compress_expand(c, z, (size_t)zn, back, n);
		assert_true(r == -EBADMSG || r == -EMSGSIZE || (r >= 0 && r <= (long)n));
		z[i] ^= 0x5a;
	}
	/* The context still works after the failures. */
	assert_int_equal(compress_expand(c, z, (size_t)zn, back, n), (long)n);
	assert_memory_equal(back, p, n);
	free(p);
	free(z);
	free(back);
	compress_free(c);
}

static void test_out_too_small(void **state)
{
	struct compress *c = compress_new(3);
	size_t n = 64 * 1024, cap = compress_bound(n);
	uint8_t *p = text_bytes(n), *z = malloc(cap), *back = malloc(n);
	long zn;

	assert_non_null(c);
	zn = compress_chunk(c, p, n, z, cap);
	assert_true(zn > 0);
	assert_int_equal(compress_expand(c, z, (size_t)zn, back, n - 1), -EMSGSIZE);
	assert_int_equal(compress_expand(c, z, (size_t)zn, back, 0), -EMSGSIZE);
	assert_int_equal(compress_expand(c, z, (size_t)zn, back, n), (long)n);
	free(p);
	free(z);
	free(back);
	compress_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_does_not_pay),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_out_too_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
