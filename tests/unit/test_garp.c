/* test_garp: the gratuitous ARP frame, byte by byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "garp.h"

static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };

static void test_frame(void **state)
{
	static const uint8_t want[GARP_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,      /* dst broadcast */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,      /* src */
		0x08, 0x06,                              /* ARP */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04,      /* Ether, IPv4, 6, 4 */
		0x00, 0x01,                              /* request */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,      /* sender MAC */
		192, 0, 2, 100,                          /* sender IP */
		0, 0, 0, 0, 0, 0,                        /* target MAC */
		192, 0, 2, 100,                          /* target IP */
	};
	uint8_t buf[64];
	struct in_addr ip;

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(inet_pton(AF_INET, "192.0.2.100", &ip), 1);
	assert_int_equal(garp_build(buf, sizeof(buf), mac, ip), GARP_LEN);
	assert_memory_equal(buf, want, GARP_LEN);
	assert_int_equal(buf[GARP_LEN], 0xee);   /* nothing written beyond */
}

static void test_short_buffer(void **state)
{
	uint8_t buf[GARP_LEN];
	struct in_addr ip = { 0 };

	for (size_t len = 0; len < GARP_LEN; len++)
		assert_int_equal(garp_build(buf, len, mac, ip), -ENOBUFS);
	assert_int_equal(garp_build(buf, GARP_LEN, mac, ip), GARP_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
