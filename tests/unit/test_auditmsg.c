/* test_auditmsg: the drift audit's messages.  Round trips of requests,
 * ends and records; every truncation of a record batch and flipped bytes
 * (an error or a valid record, never a crash or a leak); names that are
 * not one path component, bad kinds and paths refused; the batch bound. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auditmsg.h"
#include "entry.h"
#include "proto.h"

static void put_recs(struct wbuf *b)
{
	struct audit_item f = { .name = "file", .name_len = 4, .type = ENT_FILE, .mode = 0644,
				.uid = 1, .gid = 2, .size = 12345, .mtime_sec = -5,
				.mtime_nsec = 999999999, .has_digest = true };
	struct audit_item l = { .name = "link", .name_len = 4, .type = ENT_SYMLINK,
				.link = "../x y", .link_len = 6, .size = 6 };
	struct audit_item d = { .name = "", .name_len = 0, .type = ENT_BLK, .rdev = 0x801 };

	memset(f.digest, 0xab, HASH_LEN);
	wbuf_init(b, PROTO_BATCH_MAX);
	auditmsg_put_rec(b, &f);
	auditmsg_put_rec(b, &l);
	auditmsg_put_rec(b, &d);
	assert_int_equal(b->err, 0);
}

static void test_rec_round_trip(void **state)
{
	struct wbuf b;
	struct rbuf r;
	struct audit_item it;

	(void)state;
	put_recs(&b);
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(auditmsg_get_rec(&r, &it), 1);
	assert_string_equal(it.name, "file");
	assert_int_equal(it.type, ENT_FILE);
	assert_int_equal(it.size, 12345);
	assert_int_equal(it.mtime_sec, -5);
	assert_int_equal(it.mtime_nsec, 999999999);
	assert_true(it.has_digest);
	assert_int_equal(it.digest[15], 0xab);
	audit_item_clear(&it);
	assert_int_equal(auditmsg_get_rec(&r, &it), 1);
	assert_string_equal(it.link, "../x y");
	assert_false(it.has_digest);
	audit_item_clear(&it);
	assert_int_equal(auditmsg_get_rec(&r, &it), 1);
	assert_int_equal(it.name_len, 0);
	assert_int_equal(it.rdev, 0x801);
	audit_item_clear(&it);
	assert_int_equal(auditmsg_get_rec(&r, &it), 0);
	wbuf_free(&b);
}

/* Decode a whole payload; the number of records, or the error. */
static int decode_all(const uint8_t *p, size_t n)
{
	struct rbuf r;
	struct audit_item it;
	int rc, count = 0;

	rbuf_init(&r, p, n);
	while ((rc = auditmsg_get_rec(&r, &it)) == 1) {
		count++;
		audit_item_clear(&it);
	}
	return rc < 0 ? rc : count;
}

static void test_truncated_and_mutants(void **state)
{
	struct wbuf b;

	(void)state;
	put_recs(&b);
	for (size_t n = 0; n < b.len; n++) {
		int rc = decode_all(b.data, n);
		assert_true(rc == -EBADMSG || (rc >= 0 && rc < 3));
	}
	uint8_t *copy = malloc(b.len);
	assert_non_null(copy);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(copy, b.data, b.len);
			copy[i] ^= (uint8_t)(1u << bit);
			int rc = decode_all(copy, b.len);
			assert_true(rc == -EBADMSG || rc >= 0);
		}
	}
	free(copy);
	wbuf_free(&b);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "a/b", ".", "..", "x\0y" };
	static const size_t lens[] = { 3, 1, 2, 3 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct audit_item it = { .name = (char *)bad[i], .name_len = lens[i],
					 .type = ENT_FILE };
		struct wbuf b;
		wbuf_init(&b, PROTO_BATCH_MAX);
		auditmsg_put_rec(&b, &it);
		assert_int_equal(decode_all(b.data, b.len), -EBADMSG);
		wbuf_free(&b);
	}
	struct audit_item hl = { .name = "h", .name_len = 1, .type = ENT_HARDLINK };
	struct wbuf b;
	wbuf_init(&b, PROTO_BATCH_MAX);
	auditmsg_put_rec(&b, &hl);
	assert_int_equal(decode_all(b.data, b.len), -EBADMSG);
	wbuf_free(&b);
}

static void test_req_and_end(void **state)
{
	struct wbuf out;
	struct wire_hdr h;
	struct auditmsg_req q = { .rate = 10485760, .kind = AUDITMSG_HASH, .path = "a/b",
				  .len = 3 }, g;
	struct auditmsg_end e = { .status = -ENOENT, .records = 7, .bytes = 99 }, ge;

	(void)state;
	wbuf_init(&out, 1 << 20);
	auditmsg_put_req(&out, &q);
	assert_int_equal(wire_hdr_decode(out.data, 1 << 20, &h), 0);
	assert_int_equal(h.type, MSG_AUDIT_REQ);
	assert_int_equal(proto_check_frame(&h, TO_SINK), 0);
	assert_int_equal(proto_check_frame(&h, TO_SOURCE), -EBADMSG);
	assert_int_equal(auditmsg_get_req(out.data + WIRE_HDR_LEN, h.len, &g), 0);
	assert_int_equal(g.rate, q.rate);
	assert_int_equal(g.kind, AUDITMSG_HASH);
	assert_memory_equal(g.path, "a/b", 3);
	/* a bad kind, a bad path */
	out.data[WIRE_HDR_LEN + 8] = 9;
	assert_int_equal(auditmsg_get_req(out.data + WIRE_HDR_LEN, h.len, &g), -EBADMSG);
	wbuf_reset(&out);
	q.kind = AUDITMSG_LIST;
	q.path = "a/../b";
	q.len = 6;
	auditmsg_put_req(&out, &q);
	assert_int_equal(auditmsg_get_req(out.data + WIRE_HDR_LEN, out.len - WIRE_HDR_LEN, &g),
			 -EBADMSG);
	wbuf_reset(&out);
	auditmsg_put_end(&out, &e);
	assert_int_equal(wire_hdr_decode(out.data, 1 << 20, &h), 0);
	assert_int_equal(proto_check_frame(&h, TO_SOURCE), 0);
	assert_int_equal(auditmsg_get_end(out.data + WIRE_HDR_LEN, h.len, &ge), 0);
	assert_int_equal(ge.status, -ENOENT);
	assert_int_equal(ge.records, 7);
	assert_int_equal(ge.bytes, 99);
	out.data[WIRE_HDR_LEN] = 0;          /* status > 0 is not an errno */
	assert_int_equal(auditmsg_get_end(out.data + WIRE_HDR_LEN, h.len, &ge), -EBADMSG);
	wbuf_free(&out);
}

static void test_batch_bound_and_order(void **state)
{
	char name[256], link[4097];
	struct audit_item it = { .name = name, .name_len = 255, .type = ENT_SYMLINK,
				 .link = link, .link_len = 4096 };
	struct wbuf b;
	int n = 0;

	(void)state;
	memset(name, 'n', sizeof(name));
	memset(link, 'l', sizeof(link));
	wbuf_init(&b, PROTO_BATCH_MAX);
	while (!auditmsg_batch_full(&b)) {
		auditmsg_put_rec(&b, &it);
		n++;
	}
	assert_int_equal(b.err, 0);
	assert_true(b.len <= PROTO_BATCH_MAX);
	assert_int_equal(decode_all(b.data, b.len), n);
	wbuf_free(&b);

	struct audit_item v[3] = { { .name = "b", .name_len = 1 }, { .name = "ab", .name_len = 2 },
				   { .name = "a", .name_len = 1 } };
	qsort(v, 3, sizeof(v[0]), audit_item_cmp);
	assert_string_equal(v[0].name, "a");
	assert_string_equal(v[1].name, "ab");
	assert_string_equal(v[2].name, "b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rec_round_trip),
		cmocka_unit_test(test_truncated_and_mutants),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_req_and_end),
		cmocka_unit_test(test_batch_bound_and_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
