/* test_listing: the sink's names per listed directory.  An entry of
 * another directory between a listing's entries neither cuts nor takes
 * over its names (A-B-A); an empty listing prunes everything; an entry of
 * the directory itself starts its listing anew; the root's children are
 * the root's; a directory whose names gave way to LISTING_DIRS others
 * during its listing is not pruned, unless its entry started it anew;
 * names from before the last DIR_DONE give way unmarked. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "listing.h"

static void note(struct listing *ls, const char *path)
{
	assert_int_equal(listing_note(ls, path, strlen(path)), 0);
}

static bool has(const struct listing_names *ns, const char *name)
{
	return listing_names_has(ns, name, strlen(name));
}

static enum listing_end done(struct listing *ls, const char *dir, struct listing_names *ns)
{
	return listing_done(ls, dir, strlen(dir), ns);
}

static void test_interleaved(void **state)
{
	struct listing *ls = listing_new();
	struct listing_names ns;

	(void)state;
	assert_non_null(ls);
	listing_dir_entry(ls, "d", 1);
	note(ls, "d");                       /* the entry of d, in its parent */
	note(ls, "d/b");
	note(ls, "d/a");
	assert_true(listing_current(ls, "d", 1));
	note(ls, "x/y");                     /* elsewhere, in between */
	assert_false(listing_current(ls, "d", 1));
	note(ls, "d/c");
	assert_int_equal(done(ls, "d", &ns), LISTING_NAMES);
	assert_int_equal(ns.n, 3);
	assert_string_equal(ns.v[0], "a");  /* sorted */
	assert_true(has(&ns, "a"));
	assert_true(has(&ns, "b"));
	assert_true(has(&ns, "c"));
	assert_false(has(&ns, "y"));
	assert_false(has(&ns, "d"));
	assert_true(listing_names_has(&ns, "abc", 1));    /* "a" of "abc" */
	assert_false(listing_names_has(&ns, "ab", 2));
	listing_names_free(&ns);
	/* x's names are still x's */
	assert_int_equal(done(ls, "x", &ns), LISTING_NAMES);
	assert_int_equal(ns.n, 1);
	listing_names_free(&ns);
	listing_free(ls);
}

static void test_empty_and_anew(void **state)
{
	struct listing *ls = listing_new();
	struct listing_names ns;

	(void)state;
	/* a listing with no child after an entry elsewhere: prune all */
	listing_dir_entry(ls, "e", 1);
	note(ls, "e");
	assert_int_equal(done(ls, "e", &ns), LISTING_EMPTY);
	assert_int_equal(ns.n, 0);
	assert_false(has(&ns, "e"));
	/* names noted before the directory's own entry are not its listing's */
	note(ls, "f/old");
	listing_dir_entry(ls, "f", 1);
	note(ls, "f/new");
	assert_int_equal(done(ls, "f", &ns), LISTING_NAMES);
	assert_int_equal(ns.n, 1);
	assert_true(has(&ns, "new"));
	listing_names_free(&ns);
	/* the root's children ("e" above too) */
	note(ls, "top");
	note(ls, "sub/deep");
	note(ls, "top2");
	assert_int_equal(done(ls, "", &ns), LISTING_NAMES);
	assert_int_equal(ns.n, 3);
	assert_true(has(&ns, "e"));
	assert_true(has(&ns, "top2"));
	assert_false(has(&ns, "deep"));
	listing_names_free(&ns);
	/* forgotten once done */
	assert_int_equal(done(ls, "", &ns), LISTING_EMPTY);
	listing_free(ls);
}

static void test_gave_way(void **state)
{
	struct listing *ls = listing_new();
	struct listing_names ns;
	char p[32];

	(void)state;
	note(ls, "d/a");
	for (int i = 0; i < LISTING_DIRS; i++) {
		snprintf(p, sizeof(p), "o%d/x", i);
		note(ls, p);
	}
	note(ls, "d/b");                     /* d's a gave way */
	assert_int_equal(done(ls, "d", &ns), LISTING_LOST);
	assert_int_equal(ns.n, 0);
	/* the mark goes with that DIR_DONE */
	note(ls, "d/c");
	assert_int_equal(done(ls, "d", &ns), LISTING_NAMES);
	listing_names_free(&ns);
	/* gave way, then its entry starts it anew: pruned by the new names */
	note(ls, "g/a");
	for (int i = 0; i < LISTING_DIRS; i++) {
		snprintf(p, sizeof(p), "q%d/x", i);
		note(ls, p);
	}
	listing_dir_entry(ls, "g", 1);
	note(ls, "g/b");
	assert_int_equal(done(ls, "g", &ns), LISTING_NAMES);
	assert_int_equal(ns.n, 1);
	listing_names_free(&ns);
	/* names noted before the last DIR_DONE give way unmarked: listings
	 * follow one another, so they were no listing under way */
	note(ls, "s/stale");
	assert_int_equal(done(ls, "other", &ns), LISTING_EMPTY);
	for (int i = 0; i < LISTING_DIRS; i++) {
		snprintf(p, sizeof(p), "t%d/x", i);
		note(ls, p);
	}
	note(ls, "s/a");
	assert_int_equal(done(ls, "s", &ns), LISTING_NAMES);
	assert_int_equal(ns.n, 1);
	assert_true(has(&ns, "a"));
	listing_names_free(&ns);
	/* reset forgets marks too */
	note(ls, "h/a");
	for (int i = 0; i < LISTING_DIRS; i++) {
		snprintf(p, sizeof(p), "r%d/x", i);
		note(ls, p);
	}
	listing_reset(ls);
	assert_int_equal(done(ls, "h", &ns), LISTING_EMPTY);
	listing_free(ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_empty_and_anew),
		cmocka_unit_test(test_gave_way),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
