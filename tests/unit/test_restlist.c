/* test_restlist: the record lists of the journal-driven restore: round
 * trips of every record kind, every truncation of a valid batch, flipped
 * bytes (an error or a valid record, never a crash), bad paths and kinds. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "restlist.h"

static void batch_changes(struct wbuf *b)
{
	static const struct restlist_change cs[] = {
		{ 1, 1, "a", "", 1, 0 },
		{ 2, 3, "dir/x", "dir/y", 5, 5 },
		{ 3, 4, "", "", 0, 0 },
		{ 9, 2, "with space/\n", "", 12, 0 },
	};

	wbuf_init(b, PROTO_BATCH_MAX);
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
		restlist_put_change(b, &cs[i]);
	assert_int_equal(b->err, 0);
}

static void test_change_round_trip(void **state)
{
	struct wbuf b;
	struct rbuf r;
	struct restlist_change c;

	(void)state;
	batch_changes(&b);
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(restlist_get_change(&r, &c), 1);
	assert_int_equal(c.seq, 1);
	assert_int_equal(c.op, 1);
	assert_memory_equal(c.path, "a", 1);
	assert_int_equal(c.len2, 0);
	assert_int_equal(restlist_get_change(&r, &c), 1);
	assert_int_equal(c.op, 3);
	assert_int_equal(c.len2, 5);
	assert_memory_equal(c.path2, "dir/y", 5);
	assert_int_equal(restlist_get_change(&r, &c), 1);
	assert_int_equal(c.len, 0);
	assert_int_equal(restlist_get_change(&r, &c), 1);
	assert_int_equal(c.seq, 9);
	assert_int_equal(restlist_get_change(&r, &c), 0);
	wbuf_free(&b);
}

/* Every prefix of a valid batch decodes to whole records, then an error
 * or the end; never past the data. */
static void test_change_truncated(void **state)
{
	struct wbuf b;
	struct restlist_change c;

	(void)state;
	batch_changes(&b);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		struct rbuf r;
		int rc;

		memcpy(copy, b.data, n);
		rbuf_init(&r, copy, n);
		while ((rc = restlist_get_change(&r, &c)) == 1)
			;
		assert_true(rc == 0 || rc == -EBADMSG);
		free(copy);
	}
	wbuf_free(&b);
}

static void test_change_mutants(void **state)
{
	struct wbuf b;
	struct restlist_change c;

	(void)state;
	batch_changes(&b);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct rbuf r;
			int rc;

			b.data[i] ^= (uint8_t)(1u << bit);
			rbuf_init(&r, b.data, b.len);
			while ((rc = restlist_get_change(&r, &c)) == 1)
				assert_true(c.op >= 1 && c.op <= 5);
			assert_true(rc == 0 || rc == -EBADMSG);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	wbuf_free(&b);
}

static void test_bad_paths(void **state)
{
	static const char *const bad[] = { "/abs", "a//b", "../x", "a/./b", "trail/" };
	struct restlist_item it;
	struct wbuf b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct restlist_item in = { RESTLIST_PATH, bad[i], strlen(bad[i]) };
		struct rbuf r;

		wbuf_init(&b, PROTO_BATCH_MAX);
		restlist_put_item(&b, &in);
		rbuf_init(&r, b.data, b.len);
		assert_int_equal(restlist_get_item(&r, &it), -EBADMSG);
		wbuf_free(&b);
	}
	struct restlist_item kind = { 7, "a", 1 };
	struct rbuf r;
	wbuf_init(&b, PROTO_BATCH_MAX);
	restlist_put_item(&b, &kind);
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(restlist_get_item(&r, &it), -EBADMSG);
	wbuf_free(&b);
}

static void test_items_and_digests(void **state)
{
	struct restlist_item in = { RESTLIST_SCAN, "d/e", 3 }, it;
	struct restlist_digest d = { .type = 1, .size = 12345, .path = "f", .len = 1 }, o;
	struct wbuf b;
	struct rbuf r;

	(void)state;
	memset(d.digest, 0x5a, sizeof(d.digest));
	wbuf_init(&b, PROTO_BATCH_MAX);
	restlist_put_item(&b, &in);
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(restlist_get_item(&r, &it), 1);
	assert_int_equal(it.kind, RESTLIST_SCAN);
	assert_int_equal(it.len, 3);
	assert_int_equal(restlist_get_item(&r, &it), 0);
	wbuf_reset(&b);
	restlist_put_digest(&b, &d);
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(restlist_get_digest(&r, &o), 1);
	assert_int_equal(o.size, 12345);
	assert_memory_equal(o.digest, d.digest, HASH_LEN);
	assert_int_equal(restlist_get_digest(&r, &o), 0);
	wbuf_free(&b);
}

static void test_head_and_batch_bound(void **state)
{
	struct restlist_head h = { 0x1122334455667788ull, 1, 0, RESTLIST_COMPLETE }, o;
	char path[4096];
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 64);
	restlist_put_head(&b, &h);
	assert_int_equal(b.len, 25);
	assert_int_equal(restlist_get_head(b.data, b.len, &o), 0);
	assert_true(o.journal_id == h.journal_id);
	b.data[24] = 3;
	assert_int_equal(restlist_get_head(b.data, b.len, &o), -EBADMSG);
	assert_int_equal(restlist_get_head(b.data, b.len - 1, &o), -EBADMSG);
	wbuf_free(&b);
	/* a batch that says it is not full always takes the largest record */
	memset(path, 'x', sizeof(path));
	wbuf_init(&b, PROTO_BATCH_MAX);
	struct restlist_change c = { 1, 3, path, path, sizeof(path), sizeof(path) };
	while (!restlist_batch_full(&b))
		restlist_put_change(&b, &c);
	assert_int_equal(b.err, 0);
	assert_true(b.len <= PROTO_BATCH_MAX);
	wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change_round_trip),
		cmocka_unit_test(test_change_truncated),
		cmocka_unit_test(test_change_mutants),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_items_and_digests),
		cmocka_unit_test(test_head_and_batch_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
