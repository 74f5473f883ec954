/* test_hb: heartbeat round trips, deterministic mutation (every bit flip,
 * every truncation, extension), replays, wrong keys, and key-file rules. */
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

#include "hb.h"
#include "hmac.h"

static const uint8_t key[] = "0123456789abcdef-shared-key";
#define KEYLEN (sizeof(key) - 1)

static struct hb_msg sample(uint64_t seq)
{
	struct hb_msg m;

	memset(&m, 0, sizeof(m));
	snprintf(m.node.name, sizeof(m.node.name), "web1");
	m.node.state = FSM_MASTER;
	m.node.priority = 150;
	m.node.term = 0x0102030405060708ull;
	m.node.position = 1700000000123ull;
	m.seq = seq;
	m.time_ms = 1700000000999ull;
	return m;
}

static void test_round_trip(void **state)
{
	uint8_t buf[HB_MAX_LEN];
	struct hb_msg in = sample(42), out;
	int n;

	n = hb_encode(&in, key, KEYLEN, buf, sizeof(buf));
	assert_int_equal(n, HB_HDR_LEN + 4 + HMAC_LEN);
	assert_int_equal(hb_decode(buf, (size_t)n, key, KEYLEN, &out), HB_OK);
	assert_string_equal(out.node.name, "web1");
	assert_int_equal(out.node.state, FSM_MASTER);
	assert_int_equal(out.node.priority, 150);
	assert_true(out.node.term == in.node.term);
	assert_true(out.node.position == in.node.position);
	assert_true(out.seq == 42);
	assert_true(out.time_ms == in.time_ms);
}

static void test_encode_errors(void **state)
{
	uint8_t buf[HB_MAX_LEN];
	struct hb_msg m = sample(1);
	int n;

	n = hb_encode(&m, key, KEYLEN, buf, sizeof(buf));
	assert_int_equal(hb_encode(&m, key, KEYLEN, buf, (size_t)n - 1), -ENOBUFS);
	for (size_t len = 0; len < 8; len++)
		assert_int_equal(hb_encode(&m, key, KEYLEN, buf, len), -ENOBUFS);
	m.node.name[0] = '\0';
	assert_int_equal(hb_encode(&m, key, KEYLEN, buf, sizeof(buf)), -EINVAL);
	m = sample(1);
	m.node.name[1] = ' ';
	assert_int_equal(hb_encode(&m, key, KEYLEN, buf, sizeof(buf)), -EINVAL);
	m = sample(1);
	m.node.state = FSM_STATE_COUNT;
	assert_int_equal(hb_encode(&m, key, KEYLEN, buf, sizeof(buf)), -EINVAL);
	m = sample(1);
	memset(m.node.name, 'x', HB_NAME_MAX);
	assert_int_equal(hb_encode(&m, key, KEYLEN, buf, sizeof(buf)), HB_MAX_LEN);
}

static void test_every_bit_flip_rejected(void **state)
{
	uint8_t good[HB_MAX_LEN], bad[HB_MAX_LEN];
	struct hb_msg m = sample(7), out;
	struct hb_rx rx = { 0 };
	int n = hb_encode(&m, key, KEYLEN, good, sizeof(good));

	assert_true(n > 0);
	for (int i = 0; i < n * 8; i++) {
		memcpy(bad, good, (size_t)n);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		memset(&out, 0xa5, sizeof(out));
		assert_int_not_equal(hb_accept(&rx, bad, (size_t)n, key, KEYLEN, &out),
				     HB_OK);
		assert_int_equal(rx.have_seq, 0);
	}
	assert_int_equal(rx.count[HB_OK], 0);
	assert_true(rx.count[HB_BAD_HMAC] > 0);
	assert_true(rx.count[HB_BAD_MAGIC] == 32);
	assert_true(rx.count[HB_BAD_VERSION] == 8);
	/* the original still passes afterwards */
	assert_int_equal(hb_accept(&rx, good, (size_t)n, key, KEYLEN, &out), HB_OK);
}

static void test_truncation_and_extension(void **state)
{
	uint8_t good[HB_MAX_LEN + 8];
	struct hb_msg m = sample(9), out;
	int n = hb_encode(&m, key, KEYLEN, good, sizeof(good));

	assert_true(n > 0);
	for (int len = 0; len < n; len++)
		assert_int_not_equal(hb_decode(good, (size_t)len, key, KEYLEN, &out),
				     HB_OK);
	for (int extra = 1; extra < 8; extra++)
		assert_int_equal(hb_decode(good, (size_t)n + (size_t)extra, key, KEYLEN,
					   &out), HB_BAD_LEN);
}

static void test_wrong_key(void **state)
{
	static const uint8_t other[] = "0123456789abcdef-shared-kez";
	uint8_t buf[HB_MAX_LEN];
	struct hb_msg m = sample(3), out;
	int n = hb_encode(&m, key, KEYLEN, buf, sizeof(buf));

	assert_int_equal(hb_decode(buf, (size_t)n, other, sizeof(other) - 1, &out),
			 HB_BAD_HMAC);
	assert_int_equal(hb_decode(buf, (size_t)n, key, KEYLEN - 1, &out), HB_BAD_HMAC);
}

static void test_replay(void **state)
{
	uint8_t a[HB_MAX_LEN], b[HB_MAX_LEN];
	struct hb_msg ma = sample(100), mb = sample(101), out;
	struct hb_rx rx = { .peer_name = "web1" };
	int na = hb_encode(&ma, key, KEYLEN, a, sizeof(a));
	int nb = hb_encode(&mb, key, KEYLEN, b, sizeof(b));

	assert_int_equal(hb_accept(&rx, a, (size_t)na, key, KEYLEN, &out), HB_OK);
	assert_int_equal(hb_accept(&rx, a, (size_t)na, key, KEYLEN, &out), HB_REPLAY);
	assert_int_equal(hb_accept(&rx, b, (size_t)nb, key, KEYLEN, &out), HB_OK);
	assert_true(out.seq == 101);
	assert_int_equal(hb_accept(&rx, a, (size_t)na, key, KEYLEN, &out), HB_REPLAY);
	assert_int_equal(hb_accept(&rx, b, (size_t)nb, key, KEYLEN, &out), HB_REPLAY);
	assert_true(rx.last_seq == 101);
	assert_int_equal(rx.count[HB_REPLAY], 3);
	assert_int_equal(rx.count[HB_OK], 2);
}

static void test_unexpected_peer(void **state)
{
	uint8_t buf[HB_MAX_LEN];
	struct hb_msg m = sample(5), out;
	struct hb_rx rx = { .peer_name = "web2" };
	int n = hb_encode(&m, key, KEYLEN, buf, sizeof(buf));

	assert_int_equal(hb_accept(&rx, buf, (size_t)n, key, KEYLEN, &out), HB_BAD_PEER);
	assert_int_equal(rx.have_seq, 0);
}

static void test_verdict_names(void **state)
{
	assert_string_equal(hb_verdict_name(HB_REPLAY), "replay");
	assert_string_equal(hb_verdict_name(HB_VERDICT_COUNT), "unknown");
}

static char *write_key(const char *content, mode_t mode)
{
	char *path = strdup("/tmp/test_hb_key.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void test_key_file(void **state)
{
	uint8_t *k = NULL;
	size_t len = 0;
	char *p;

	p = write_key("a-good-long-shared-secret\n", 0600);
	assert_int_equal(hmac_key_load(p, &k, &len), 0);
	assert_int_equal(len, 25);
	assert_memory_equal(k, "a-good-long-shared-secret", 25);
	hmac_key_free(k, len);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(hmac_key_load(p, &k, &len), -EPERM);
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(hmac_key_load(p, &k, &len), -EPERM);
	unlink(p);
	free(p);
	p = write_key("short\n", 0600);
	assert_int_equal(hmac_key_load(p, &k, &len), -EINVAL);
	unlink(p);
	free(p);
	assert_int_equal(hmac_key_load("/nonexistent/key", &k, &len), -ENOENT);
}

static void test_random(void **state)
{
	uint64_t a = 0, b = 0;

	assert_int_equal(hmac_random(&a, sizeof(a)), 0);
	assert_int_equal(hmac_random(&b, sizeof(b)), 0);
	assert_true(a != b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_every_bit_flip_rejected),
		cmocka_unit_test(test_truncation_and_extension),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_unexpected_peer),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
