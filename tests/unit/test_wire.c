/* test_wire: frame header codec and the wbuf/rbuf payload codecs, with
 * bounds, short reads over tiny buffers and error latching. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static void test_hdr_round_trip(void **state)
{
	static const uint32_t lens[] = { 0, 1, 255, 256, 65535, 65536, WIRE_MAX_PAYLOAD };
	uint8_t p[WIRE_HDR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct wire_hdr h = { .len = lens[i], .type = (uint8_t)(i * 37 + 1),
				      .flags = (uint8_t)(0xff - i) };
		struct wire_hdr d;

		memset(p, 0xaa, sizeof(p));
		wire_hdr_encode(p, &h);
		assert_int_equal(p[6], 0);
		assert_int_equal(p[7], 0);
		assert_int_equal(wire_hdr_decode(p, WIRE_MAX_PAYLOAD, &d), 0);
		assert_int_equal(d.len, h.len);
		assert_int_equal(d.type, h.type);
		assert_int_equal(d.flags, h.flags);
	}
}

static void test_hdr_big_endian(void **state)
{
	struct wire_hdr h = { .len = 0x00010203, .type = 0x0a, .flags = 0x01 };
	static const uint8_t want[WIRE_HDR_LEN] = { 0x00, 0x01, 0x02, 0x03, 0x0a, 0x01, 0, 0 };
	uint8_t p[WIRE_HDR_LEN];

	(void)state;
	wire_hdr_encode(p, &h);
	assert_memory_equal(p, want, sizeof(want));
}

static void test_hdr_bounds(void **state)
{
	struct wire_hdr h = { .len = WIRE_MAX_PAYLOAD + 1, .type = 1 };
	struct wire_hdr d = { .len = 7, .type = 7, .flags = 7 };
	uint8_t p[WIRE_HDR_LEN];

	(void)state;
	wire_hdr_encode(p, &h);
	assert_int_equal(wire_hdr_decode(p, WIRE_MAX_PAYLOAD, &d), -EMSGSIZE);
	/* nothing written on failure */
	assert_int_equal(d.len, 7);
	assert_int_equal(d.type, 7);
	/* the bound is the caller's, not a constant */
	h.len = 100;
	wire_hdr_encode(p, &h);
	assert_int_equal(wire_hdr_decode(p, 99, &d), -EMSGSIZE);
	assert_int_equal(wire_hdr_decode(p, 100, &d), 0);
	assert_int_equal(d.len, 100);
	/* all-ones length */
	memset(p, 0xff, 4);
	assert_int_equal(wire_hdr_decode(p, WIRE_MAX_PAYLOAD, &d), -EMSGSIZE);
}

static void test_hdr_reserved(void **state)
{
	struct wire_hdr h = { .len = 10, .type = 2, .flags = 0 };
	struct wire_hdr d;
	uint8_t p[WIRE_HDR_LEN];

	(void)state;
	for (int byte = 6; byte < 8; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			wire_hdr_encode(p, &h);
			p[byte] ^= (uint8_t)(1u << bit);
			assert_int_equal(wire_hdr_decode(p, WIRE_MAX_PAYLOAD, &d), -EBADMSG);
		}
	}
}

static void test_wbuf_put_and_read_back(void **state)
{
	struct wbuf b;
	struct rbuf r;
	const uint8_t *p;
	size_t n;

	(void)state;
	wbuf_init(&b, 1024);
	wbuf_put_u8(&b, 0x81);
	wbuf_put_u16(&b, 0x8283);
	wbuf_put_u32(&b, 0x84858687u);
	wbuf_put_u64(&b, 0x88898a8b8c8d8e8full);
	wbuf_put_bytes(&b, "hello", 5);
	wbuf_put_bytes(&b, "", 0);
	wbuf_put_raw(&b, "xyz", 3);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 4 + 5 + 4 + 3);
	assert_int_equal(b.data[1], 0x82);     /* big-endian */
	assert_int_equal(b.data[2], 0x83);

	rbuf_init(&r, b.data, b.len);
	assert_int_equal(rbuf_get_u8(&r), 0x81);
	assert_int_equal(rbuf_get_u16(&r), 0x8283);
	assert_int_equal(rbuf_get_u32(&r), 0x84858687u);
	assert_true(rbuf_get_u64(&r) == 0x88898a8b8c8d8e8full);
	rbuf_get_bytes(&r, 5, &p, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	rbuf_get_bytes(&r, 0, &p, &n);
	assert_int_equal(n, 0);
	assert_int_equal(rbuf_left(&r), 3);
	assert_int_not_equal(rbuf_end(&r), 0);          /* trailing bytes */
	p = rbuf_get_raw(&r, 3);
	assert_non_null(p);
	assert_memory_equal(p, "xyz", 3);
	assert_int_equal(rbuf_left(&r), 0);
	assert_int_equal(rbuf_end(&r), 0);
	wbuf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.limit, 1024);
}

/* The limit is a hard cap, exact to the byte, and the error latches. */
static void test_wbuf_limit(void **state)
{
	static const size_t limits[] = { 0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 1000 };

	(void)state;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		size_t lim = limits[i];
		struct wbuf b;

		wbuf_init(&b, lim);
		for (size_t k = 0; k < lim; k++)
			wbuf_put_u8(&b, (uint8_t)k);
		assert_int_equal(b.err, 0);
		assert_int_equal(b.len, lim);
		assert_true(b.cap <= lim);
		for (size_t k = 0; k < lim; k++)
			assert_int_equal(b.data[k], (uint8_t)k);
		wbuf_put_u8(&b, 1);
		assert_int_equal(b.err, -EMSGSIZE);
		assert_int_equal(b.len, lim);
		/* latched: later puts that would fit are refused too */
		wbuf_consume(&b, lim);
		assert_int_equal(b.len, 0);
		assert_null(wbuf_reserve(&b, 0));
		wbuf_put_u8(&b, 1);
		assert_int_equal(b.len, 0);
		assert_int_equal(b.err, -EMSGSIZE);
		wbuf_reset(&b);
		assert_int_equal(b.err, 0);
		if (lim >= 1) {
			wbuf_put_u8(&b, 9);
			assert_int_equal(b.err, 0);
			assert_int_equal(b.len, 1);
		}
		wbuf_free(&b);
	}
}

static void test_wbuf_overflow_sizes(void **state)
{
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 16);
	wbuf_put_u64(&b, 1);
	wbuf_put_u32(&b, 2);
	wbuf_put_u64(&b, 3);            /* 12 + 8 > 16 */
	assert_int_equal(b.err, -EMSGSIZE);
	assert_int_equal(b.len, 12);
	wbuf_reset(&b);
	assert_null(wbuf_reserve(&b, SIZE_MAX));
	assert_int_equal(b.err, -EMSGSIZE);
	wbuf_reset(&b);
	wbuf_put_bytes(&b, "0123456789abcdef", 13);  /* 4 + 13 > 16 */
	assert_int_equal(b.err, -EMSGSIZE);
	wbuf_reset(&b);
	wbuf_put_bytes(&b, "0123456789abcdef", (size_t)UINT32_MAX + 1);
	assert_int_equal(b.err, -EMSGSIZE);
	wbuf_free(&b);
	wbuf_free(&b);                  /* twice is harmless */
}

static void test_wbuf_consume(void **state)
{
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 64);
	wbuf_put_raw(&b, "abcdefgh", 8);
	wbuf_consume(&b, 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "defgh", 5);
	wbuf_consume(&b, 0);
	assert_int_equal(b.len, 5);
	wbuf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	wbuf_free(&b);
}

/* Every integer and byte-string read over every truncation of a valid
 * buffer: short reads fail with -EBADMSG, latch, and return zeros. */
static void test_rbuf_short_reads(void **state)
{
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 256);
	wbuf_put_u8(&b, 0xa1);
	wbuf_put_u16(&b, 0xa2a3);
	wbuf_put_u32(&b, 0xa4a5a6a7u);
	wbuf_put_u64(&b, 0xa8a9aaabacadaeafull);
	wbuf_put_bytes(&b, "payload", 7);
	assert_int_equal(b.err, 0);
	for (size_t cut = 0; cut < b.len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);   /* exact size: ASan sees overreads */
		struct rbuf r;
		const uint8_t *p = (const uint8_t *)"x";
		size_t n = 99;

		assert_non_null(copy);
		memcpy(copy, b.data, cut);
		rbuf_init(&r, copy, cut);
		(void)rbuf_get_u8(&r);
		(void)rbuf_get_u16(&r);
		(void)rbuf_get_u32(&r);
		(void)rbuf_get_u64(&r);
		rbuf_get_bytes(&r, 64, &p, &n);
		assert_int_equal(r.err, -EBADMSG);
		assert_int_equal(rbuf_end(&r), -EBADMSG);
		assert_null(p);
		assert_int_equal(n, 0);
		/* once failed, every later read fails, even a zero-length one */
		assert_int_equal(rbuf_get_u8(&r), 0);
		assert_null(rbuf_get_raw(&r, 0));
		free(copy);
	}
	wbuf_free(&b);
}

static void test_rbuf_values_on_short(void **state)
{
	static const uint8_t three[3] = { 1, 2, 3 };
	struct rbuf r;

	(void)state;
	rbuf_init(&r, three, 3);
	assert_int_equal(rbuf_get_u32(&r), 0);
	assert_int_equal(r.err, -EBADMSG);
	rbuf_init(&r, three, 3);
	assert_int_equal(rbuf_get_u16(&r), 0x0102);
	assert_int_equal(rbuf_get_u16(&r), 0);
	assert_int_equal(rbuf_left(&r), 1);
	rbuf_init(&r, NULL, 0);
	assert_int_equal(rbuf_end(&r), 0);
	assert_null(rbuf_get_raw(&r, 1));
	assert_int_equal(rbuf_end(&r), -EBADMSG);
}

static void test_rbuf_bytes_max(void **state)
{
	struct wbuf b;
	struct rbuf r;
	const uint8_t *p;
	size_t n;

	(void)state;
	wbuf_init(&b, 64);
	wbuf_put_bytes(&b, "abcdef", 6);
	rbuf_init(&r, b.data, b.len);
	rbuf_get_bytes(&r, 5, &p, &n);          /* length over max */
	assert_int_equal(r.err, -EBADMSG);
	assert_null(p);
	assert_int_equal(n, 0);
	rbuf_init(&r, b.data, b.len);
	rbuf_get_bytes(&r, 6, &p, &n);
	assert_int_equal(rbuf_end(&r), 0);
	assert_int_equal(n, 6);
	/* a length prefix that points past the end */
	wbuf_reset(&b);
	wbuf_put_u32(&b, 0xffffffffu);
	wbuf_put_raw(&b, "ab", 2);
	rbuf_init(&r, b.data, b.len);
	rbuf_get_bytes(&r, SIZE_MAX, &p, &n);
	assert_int_equal(r.err, -EBADMSG);
	assert_null(p);
	wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_round_trip),
		cmocka_unit_test(test_hdr_big_endian),
		cmocka_unit_test(test_hdr_bounds),
		cmocka_unit_test(test_hdr_reserved),
		cmocka_unit_test(test_wbuf_put_and_read_back),
		cmocka_unit_test(test_wbuf_limit),
		cmocka_unit_test(test_wbuf_overflow_sizes),
		cmocka_unit_test(test_wbuf_consume),
		cmocka_unit_test(test_rbuf_short_reads),
		cmocka_unit_test(test_rbuf_values_on_short),
		cmocka_unit_test(test_rbuf_bytes_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
