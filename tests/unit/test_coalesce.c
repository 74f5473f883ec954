/* test_coalesce: the live source's dirty set, with a fake clock. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/mirrord/coalesce.h"

#define T(c, p, f, now) assert_int_equal(coalesce_touch(c, p, strlen(p), f, now), 0)

/* Pop the next item and check it ("" for to when a PATH item). */
static void expect(struct coalesce *c, uint64_t now, enum coalesce_kind kind, const char *path,
		   const char *to)
{
	struct coalesce_item it;

	assert_int_equal(coalesce_pop(c, now, &it), 1);
	assert_int_equal(it.kind, kind);
	assert_string_equal(it.path, path);
	assert_int_equal(it.len, strlen(path));
	if (kind == COALESCE_RENAME)
		assert_string_equal(it.to, to);
	else
		assert_null(it.to);
	coalesce_item_clear(&it);
}

static void expect_none(struct coalesce *c, uint64_t now)
{
	struct coalesce_item it;

	assert_int_equal(coalesce_pop(c, now, &it), 0);
}

static void test_settle(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);

	(void)state;
	assert_non_null(c);
	assert_int_equal(coalesce_wait_ms(c, 0), -1);
	T(c, "a", 0, 100);
	T(c, "b", 0, 101);
	assert_int_equal(coalesce_wait_ms(c, 100), 10);
	expect_none(c, 109);
	T(c, "a", 0, 105);          /* re-touch moves a behind b */
	assert_int_equal(coalesce_count(c), 2);
	expect(c, 111, COALESCE_PATH, "b", NULL);
	expect_none(c, 111);
	assert_int_equal(coalesce_wait_ms(c, 111), 4);
	expect(c, 115, COALESCE_PATH, "a", NULL);
	assert_int_equal(coalesce_count(c), 0);
	assert_int_equal(coalesce_wait_ms(c, 115), -1);
	/* a thousand rewrites of one file: one item */
	for (uint64_t t = 200; t < 1200; t++)
		T(c, "log", 0, t);
	assert_int_equal(coalesce_count(c), 1);
	expect_none(c, 1205);
	expect(c, 1209, COALESCE_PATH, "log", NULL);
	assert_int_equal(coalesce_stats(c)->merged, 1 + 999);
	coalesce_free(c);
}

static void test_close_write(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);

	(void)state;
	T(c, "x", 0, 0);
	T(c, "y", COALESCE_CLOSED, 1);  /* due at once, ahead of x */
	assert_int_equal(coalesce_wait_ms(c, 1), 0);
	expect(c, 1, COALESCE_PATH, "y", NULL);
	expect_none(c, 1);
	T(c, "x", COALESCE_CLOSED, 2);
	expect(c, 2, COALESCE_PATH, "x", NULL);
	/* a new directory goes before a file closed inside it */
	T(c, "d", COALESCE_CREATED, 3);
	T(c, "d/e", COALESCE_CREATED, 3);
	T(c, "d", 0, 4);                /* created: keeps its place */
	T(c, "d/e/f", COALESCE_CREATED | COALESCE_CLOSED, 4);
	expect(c, 4, COALESCE_PATH, "d", NULL);
	expect(c, 4, COALESCE_PATH, "d/e", NULL);
	expect(c, 4, COALESCE_PATH, "d/e/f", NULL);
	expect_none(c, 4);
	coalesce_free(c);
}

static void test_rename_pair(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);

	(void)state;
	T(c, "other", 0, 0);
	T(c, "dir/a", 0, 0);
	assert_int_equal(coalesce_moved_from(c, 7, "dir", 3, 1), 0);
	assert_int_equal(coalesce_moved_to(c, 7, "new", 3, 1), 0);
	/* before the rename: what is not under dir, at once */
	expect(c, 1, COALESCE_PATH, "other", NULL);
	expect(c, 1, COALESCE_RENAME, "dir", "new");
	expect_none(c, 1);
	/* after it, settled: the pending child under its new name, and the
	 * destination itself */
	expect(c, 11, COALESCE_PATH, "new/a", NULL);
	expect(c, 11, COALESCE_PATH, "new", NULL);
	expect_none(c, 100);
	assert_int_equal(coalesce_stats(c)->renames, 1);
	coalesce_free(c);
}

static void test_rename_elided(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);

	(void)state;
	/* editor pattern: write a temp file, rename it over the target */
	T(c, ".f.tmp", COALESCE_CREATED, 0);
	assert_int_equal(coalesce_moved_from(c, 9, ".f.tmp", 6, 1), 0);
	assert_int_equal(coalesce_moved_to(c, 9, "f", 1, 1), 0);
	/* the temporary name too (absent: a delete): a listing read when it
	 * was sent may have put it on the sink */
	expect(c, 11, COALESCE_PATH, "f", NULL);
	expect(c, 11, COALESCE_PATH, ".f.tmp", NULL);
	expect_none(c, 100);
	assert_int_equal(coalesce_stats(c)->renames_elided, 1);
	assert_int_equal(coalesce_stats(c)->renames, 0);
	/* the same, and the new f moves on before it was sent: the sink's
	 * old f must go, so f is sent (as absent) too */
	T(c, ".f.tmp", COALESCE_CREATED, 200);
	assert_int_equal(coalesce_moved_from(c, 10, ".f.tmp", 6, 200), 0);
	assert_int_equal(coalesce_moved_to(c, 10, "f", 1, 200), 0);
	assert_int_equal(coalesce_moved_from(c, 11, "f", 1, 201), 0);
	assert_int_equal(coalesce_moved_to(c, 11, "g", 1, 201), 0);
	expect(c, 211, COALESCE_PATH, ".f.tmp", NULL);
	expect(c, 211, COALESCE_PATH, "g", NULL);
	expect(c, 211, COALESCE_PATH, "f", NULL);
	expect_none(c, 300);
	coalesce_free(c);
}

static void test_rename_elided_dir(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);

	(void)state;
	/* a directory made, a file in it, moved before either was sent: the
	 * new name with its file, then the old name (a listing of its parent
	 * may have sent it already: absent here, the sink drops it) */
	T(c, "a/new", COALESCE_CREATED, 0);
	T(c, "a/new/x", COALESCE_CREATED, 0);
	assert_int_equal(coalesce_moved_from(c, 3, "a/new", 5, 1), 0);
	assert_int_equal(coalesce_moved_to(c, 3, "b/new", 5, 1), 0);
	expect(c, 11, COALESCE_PATH, "b/new", NULL);
	expect(c, 11, COALESCE_PATH, "b/new/x", NULL);
	expect(c, 11, COALESCE_PATH, "a/new", NULL);
	expect_none(c, 100);
	assert_int_equal(coalesce_stats(c)->renames_elided, 1);
	assert_int_equal(coalesce_stats(c)->renames, 0);
	coalesce_free(c);
}

static void test_moves_unpaired(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);
	struct coalesce_item it;

	(void)state;
	assert_int_equal(coalesce_moved_from(c, 1, "gone", 4, 0), 0);
	assert_int_equal(coalesce_wait_ms(c, 0), 10);
	assert_true(coalesce_move_pending(c, 1));
	assert_false(coalesce_move_pending(c, 2));
	expect_none(c, 9);
	/* expired: a plain touch of the old path (absent on disk: delete) */
	assert_int_equal(coalesce_pop(c, 10, &it), 0);
	assert_false(coalesce_move_pending(c, 1));
	expect(c, 20, COALESCE_PATH, "gone", NULL);
	assert_int_equal(coalesce_moved_to(c, 2, "in", 2, 30), 0);
	assert_int_equal(coalesce_pop(c, 40, &it), 1);
	assert_true(it.created);
	assert_string_equal(it.path, "in");
	coalesce_item_clear(&it);
	assert_int_equal(coalesce_stats(c)->moves_out, 1);
	assert_int_equal(coalesce_stats(c)->moves_in, 1);
	/* more pending moves than slots: the oldest expires early */
	for (uint32_t i = 0; i < COALESCE_MOVES + 1; i++) {
		char p[16];
		snprintf(p, sizeof(p), "m%u", i);
		assert_int_equal(coalesce_moved_from(c, 100 + i, p, strlen(p), 50), 0);
	}
	assert_int_equal(coalesce_count(c), 1);
	coalesce_free(c);
}

static void test_bound(void **state)
{
	struct coalesce *c = coalesce_new(3, 10);

	(void)state;
	T(c, "a", 0, 0);
	T(c, "b", 0, 0);
	T(c, "c", 0, 0);
	assert_int_equal(coalesce_touch(c, "d", 1, 0, 0), -ENOSPC);
	T(c, "a", 0, 1);                 /* merging still works when full */
	assert_int_equal(coalesce_moved_from(c, 3, "a", 1, 1), 0);
	assert_int_equal(coalesce_moved_to(c, 3, "z", 1, 1), -ENOSPC);
	assert_int_equal(coalesce_touch(c, "bad\0x", 5, 0, 0), -EINVAL);
	coalesce_clear(c);
	assert_int_equal(coalesce_count(c), 0);
	assert_int_equal(coalesce_wait_ms(c, 0), -1);
	T(c, "d", 0, 0);
	assert_null(coalesce_new(0, 10));
	coalesce_free(c);
	coalesce_free(NULL);
}

static void test_root_rename_prefix(void **state)
{
	struct coalesce *c = coalesce_new(16, 10);

	(void)state;
	/* "ab" is not under "a" */
	T(c, "ab", 0, 0);
	T(c, "a/x", 0, 0);
	assert_int_equal(coalesce_moved_from(c, 5, "a", 1, 0), 0);
	assert_int_equal(coalesce_moved_to(c, 5, "b", 1, 0), 0);
	expect(c, 0, COALESCE_PATH, "ab", NULL);
	expect(c, 0, COALESCE_RENAME, "a", "b");
	expect(c, 10, COALESCE_PATH, "b/x", NULL);
	expect(c, 10, COALESCE_PATH, "b", NULL);
	coalesce_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settle),
		cmocka_unit_test(test_close_write),
		cmocka_unit_test(test_rename_pair),
		cmocka_unit_test(test_rename_elided),
		cmocka_unit_test(test_rename_elided_dir),
		cmocka_unit_test(test_moves_unpaired),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_root_rename_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
