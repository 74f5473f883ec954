/* test_cursors: the acknowledgement cursors of a mirror's sinks, the
 * journal's floor they allow, and the drop of a sink beyond the bound; and
 * a real journal acknowledged and compacted by that floor. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/lib/journal.h"
#include "../../src/mirrord/cursors.h"

/* The floor is the slowest retained sink; acks only move forward. */
static void test_floor_is_slowest(void **state)
{
	struct cursors *c = cursors_new(3, 10, 1000);

	(void)state;
	assert_non_null(c);
	assert_int_equal(cursors_count(c), 3);
	assert_int_equal(cursors_floor(c, 50), 10);
	cursors_ack(c, 0, 40);
	cursors_ack(c, 1, 30);
	assert_int_equal(cursors_floor(c, 50), 10);   /* sink 2 holds it */
	cursors_ack(c, 2, 35);
	assert_int_equal(cursors_floor(c, 50), 30);
	cursors_ack(c, 1, 20);                          /* backwards: ignored */
	assert_int_equal(cursors_get(c, 1), 30);
	cursors_ack(c, 7, 99);                          /* no such sink */
	assert_int_equal(cursors_floor(c, 50), 30);
	cursors_free(c);
}

/* A sink more than max behind is dropped, stops holding the floor, and
 * ignores acks until it rejoins after a tree pass. */
static void test_drop_and_rejoin(void **state)
{
	struct cursors *c = cursors_new(2, 0, 100);
	uint64_t mask = 0;

	(void)state;
	assert_non_null(c);
	cursors_ack(c, 0, 100);
	assert_int_equal(cursors_drop_behind(c, 100, &mask), 0);   /* exactly max */
	assert_int_equal(mask, 0);
	assert_int_equal(cursors_floor(c, 100), 0);
	cursors_ack(c, 0, 150);
	assert_int_equal(cursors_drop_behind(c, 150, &mask), 1);
	assert_int_equal(mask, 2);
	assert_true(cursors_dropped(c, 1));
	assert_false(cursors_dropped(c, 0));
	assert_int_equal(cursors_floor(c, 150), 150);   /* the journal moves on */
	assert_int_equal(cursors_drop_behind(c, 400, &mask), 1);   /* sink 0 too */
	assert_int_equal(mask, 1);
	assert_int_equal(cursors_floor(c, 400), 400);   /* none kept: all of it */
	cursors_ack(c, 1, 160);                          /* dropped: ignored */
	assert_int_equal(cursors_get(c, 1), 0);
	cursors_rejoin(c, 1, 390);
	assert_false(cursors_dropped(c, 1));
	assert_int_equal(cursors_floor(c, 400), 390);
	assert_int_equal(cursors_drop_behind(c, 400, NULL), 0);
	cursors_free(c);
}

/* A full journal: the sinks at the lowest cursor go, when they hold
 * anything back. */
static void test_drop_slowest(void **state)
{
	struct cursors *c = cursors_new(3, 10, 1000);
	uint64_t mask = 0;

	(void)state;
	assert_non_null(c);
	assert_int_equal(cursors_drop_slowest(c, 10, &mask), 0);   /* none behind */
	cursors_ack(c, 0, 50);
	assert_int_equal(cursors_drop_slowest(c, 50, &mask), 2);   /* 1 and 2 share it */
	assert_int_equal(mask, 6);
	assert_int_equal(cursors_floor(c, 50), 50);
	assert_int_equal(cursors_drop_slowest(c, 50, &mask), 0);   /* 0 is in sync */
	assert_int_equal(mask, 0);
	cursors_rejoin(c, 2, 45);
	assert_int_equal(cursors_drop_slowest(c, 50, &mask), 1);
	assert_int_equal(mask, 4);
	cursors_free(c);
}

/* A full reconciliation covers every sink, dropped or not. */
static void test_reset(void **state)
{
	struct cursors *c = cursors_new(3, 5, 10);

	(void)state;
	assert_non_null(c);
	assert_int_equal(cursors_drop_behind(c, 100, NULL), 3);
	cursors_reset(c, 100);
	for (size_t i = 0; i < 3; i++) {
		assert_false(cursors_dropped(c, i));
		assert_int_equal(cursors_get(c, i), 100);
	}
	assert_int_equal(cursors_floor(c, 120), 100);
	cursors_free(c);
	cursors_free(NULL);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

/* Two sinks share a journal: it keeps what the slower one lacks until that
 * one falls beyond the bound; then it is compacted past it, and the
 * dropped sink can no longer resume from it (a tree pass must). */
static void test_journal_floor(void **state)
{
	char dir[] = "/tmp/test_cursors.XXXXXX";
	struct journal *j = NULL;
	struct journal_iter *it = NULL;
	struct journal_stats st;
	struct cursors *c;
	char name[16];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(journal_open(dir, &j), 0);
	assert_non_null(c = cursors_new(2, 0, 5));
	for (int i = 1; i <= 10; i++) {
		int n = snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(journal_append(j, JOURNAL_UPSERT, name, (size_t)n, NULL, 0,
						NULL), 0);
	}
	assert_int_equal(journal_sync(j), 0);
	cursors_ack(c, 0, 10);
	cursors_ack(c, 1, 6);
	assert_int_equal(cursors_drop_behind(c, 10, NULL), 0);
	assert_int_equal(journal_ack(j, cursors_floor(c, 10)), 0);
	assert_int_equal(journal_compact(j), 0);
	journal_get_stats(j, &st);
	assert_int_equal(st.acked_seq, 6);
	assert_int_equal(st.live_count, 4);          /* what sink 1 still lacks */
	assert_int_equal(journal_iter_new(j, 7, &it), 0);   /* sink 1 resumes */
	journal_iter_free(it);
	for (int i = 11; i <= 20; i++) {             /* sink 1 is stopped */
		int n = snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(journal_append(j, JOURNAL_UPSERT, name, (size_t)n, NULL, 0,
						NULL), 0);
	}
	assert_int_equal(journal_sync(j), 0);
	cursors_ack(c, 0, 20);
	assert_int_equal(cursors_drop_behind(c, 20, NULL), 1);
	assert_int_equal(cursors_floor(c, 20), 20);
	assert_int_equal(journal_ack(j, 20), 0);
	assert_int_equal(journal_compact(j), 0);
	journal_get_stats(j, &st);
	assert_int_equal(st.keep_from, 21);
	assert_int_equal(st.live_count, 0);
	assert_int_equal(st.file_bytes, JOURNAL_HDR_LEN);
	assert_int_equal(journal_iter_new(j, 7, &it), -ERANGE);   /* sink 1: reconcile */
	cursors_rejoin(c, 1, 20);                    /* after a tree pass */
	assert_int_equal(journal_iter_new(j, cursors_get(c, 1) + 1, &it), 0);
	journal_iter_free(it);
	cursors_free(c);
	journal_close(j);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_is_slowest),
		cmocka_unit_test(test_drop_and_rejoin),
		cmocka_unit_test(test_drop_slowest),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_journal_floor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
