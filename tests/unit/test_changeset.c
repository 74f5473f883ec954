/* test_changeset: the requests of a journal-driven restore: parents added,
 * sorted parent first, duplicates and paths beneath a SCAN dropped, slave
 * renames kept in order, RESCAN "" asks for the whole tree. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/restore/changeset.h"
#include "journal.h"
#include "restlist.h"

static void add(struct changeset *cs, bool slave, unsigned op, const char *p, const char *p2)
{
	assert_int_equal(changeset_add(cs, slave, op, p, strlen(p), p2, p2 ? strlen(p2) : 0), 0);
}

static void expect(const struct changeset *cs, size_t i, uint8_t kind, const char *path)
{
	const struct changeset_req *q = changeset_get(cs, i);

	assert_int_equal(q->kind, kind);
	assert_string_equal(q->path, path);
}

static void test_paths_and_parents(void **state)
{
	struct changeset *cs = changeset_new();

	(void)state;
	add(cs, true, JOURNAL_UPSERT, "d/f", NULL);
	add(cs, true, JOURNAL_CREATE, "d/g", NULL);
	add(cs, false, JOURNAL_DELETE, "top", NULL);
	add(cs, true, JOURNAL_UPSERT, "d/f", NULL);
	add(cs, false, JOURNAL_REPAIR, "r", NULL);     /* the drift audit's, an upsert */
	assert_int_equal(changeset_finish(cs), 0);
	assert_int_equal(changeset_count(cs), 6);
	expect(cs, 0, RESTLIST_PATH, "");
	expect(cs, 1, RESTLIST_PATH, "d");
	expect(cs, 2, RESTLIST_PATH, "d/f");
	expect(cs, 3, RESTLIST_PATH, "d/g");
	expect(cs, 4, RESTLIST_PATH, "r");
	expect(cs, 5, RESTLIST_PATH, "top");
	assert_int_equal(changeset_renames(cs), 0);
	changeset_free(cs);
}

static void test_renames_and_scans(void **state)
{
	struct changeset *cs = changeset_new();

	(void)state;
	add(cs, true, JOURNAL_UPSERT, "a/x", NULL);
	add(cs, true, JOURNAL_RENAME, "a", "b");
	add(cs, true, JOURNAL_UPSERT, "b/y", NULL);
	add(cs, true, JOURNAL_RENAME, "b/y", "c");
	add(cs, false, JOURNAL_RENAME, "m", "n");
	assert_int_equal(changeset_finish(cs), 0);
	/* "", a, a/x, b (SCAN covers b/y), c, m (SCAN), n (SCAN) */
	assert_int_equal(changeset_count(cs), 7);
	expect(cs, 0, RESTLIST_PATH, "");
	expect(cs, 1, RESTLIST_PATH, "a");
	expect(cs, 2, RESTLIST_PATH, "a/x");
	expect(cs, 3, RESTLIST_SCAN, "b");
	expect(cs, 4, RESTLIST_SCAN, "c");
	expect(cs, 5, RESTLIST_SCAN, "m");
	expect(cs, 6, RESTLIST_SCAN, "n");
	assert_int_equal(changeset_renames(cs), 2);   /* the slave's only, in order */
	assert_string_equal(changeset_rename_get(cs, 0)->from, "a");
	assert_string_equal(changeset_rename_get(cs, 1)->to, "c");
	changeset_free(cs);
}

static void test_rescan(void **state)
{
	struct changeset *cs = changeset_new();

	(void)state;
	assert_int_equal(changeset_add(cs, true, JOURNAL_RESCAN, "", 0, NULL, 0), 1);
	add(cs, true, JOURNAL_RESCAN, "s", NULL);
	add(cs, true, JOURNAL_UPSERT, "s/deep/f", NULL);
	add(cs, true, JOURNAL_UPSERT, "s-1", NULL);
	assert_int_equal(changeset_finish(cs), 0);
	assert_int_equal(changeset_count(cs), 3);
	expect(cs, 0, RESTLIST_PATH, "");
	expect(cs, 1, RESTLIST_SCAN, "s");
	expect(cs, 2, RESTLIST_PATH, "s-1");
	assert_int_equal(changeset_add(cs, true, 99, "x", 1, NULL, 0), -EINVAL);
	changeset_free(cs);
	changeset_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_and_parents),
		cmocka_unit_test(test_renames_and_scans),
		cmocka_unit_test(test_rescan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
