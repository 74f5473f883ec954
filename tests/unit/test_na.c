/* test_na: the unsolicited neighbour advertisement, byte by byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "na.h"

static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };

static void test_packet(void **state)
{
	static const uint8_t want[NA_LEN] = {
		136, 0, 0, 0,                            /* NA, code 0, checksum (kernel) */
		0x20, 0, 0, 0,                           /* R=0 S=0 O=1 */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,      /* target 2001:db8::100 */
		0, 0, 0, 0, 0, 0, 0x01, 0x00,
		2, 1,                                    /* target link-layer address */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,
	};
	uint8_t buf[64];
	struct in6_addr ip;

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::100", &ip), 1);
	assert_int_equal(na_build(buf, sizeof(buf), mac, &ip), NA_LEN);
	assert_memory_equal(buf, want, NA_LEN);
	assert_int_equal(buf[NA_LEN], 0xee);     /* nothing written beyond */
}

static void test_flags(void **state)
{
	uint8_t buf[NA_LEN];
	struct in6_addr ip;

	assert_int_equal(inet_pton(AF_INET6, "2001:db8:ffff::1", &ip), 1);
	assert_int_equal(na_build(buf, sizeof(buf), mac, &ip), NA_LEN);
	/* unsolicited to ff02::1: Solicited must be clear, or receivers drop it */
	assert_int_equal(buf[4] & 0x40, 0);
	assert_int_equal(buf[4] & 0x80, 0);      /* not a router */
	assert_int_equal(buf[4] & 0x20, 0x20);   /* override the cached address */
	assert_memory_equal(buf + 8, ip.s6_addr, 16);
	assert_int_equal(buf[25] * 8, NA_LEN - 24);  /* option length in 8-byte units */
}

static void test_short_buffer(void **state)
{
	uint8_t buf[NA_LEN];
	struct in6_addr ip = IN6ADDR_ANY_INIT;

	for (size_t len = 0; len < NA_LEN; len++)
		assert_int_equal(na_build(buf, len, mac, &ip), -ENOBUFS);
	assert_int_equal(na_build(buf, NA_LEN, mac, &ip), NA_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packet),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
