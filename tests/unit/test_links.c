/* test_links: names of files known to the live source, by inode. */
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

#include "../../src/mirrord/links.h"

#define ADD(k, ino, p) assert_int_equal(links_add(k, 1, ino, p, strlen(p)), 0)

static void expect_names(struct links *k, uint64_t ino, const char *const *want, size_t n)
{
	const struct links_group *g = links_get(k, 1, ino);

	if (n == 0) {
		assert_null(g);
		return;
	}
	assert_non_null(g);
	assert_int_equal(g->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(g->v[i], want[i]);
		assert_int_equal(g->lens[i], strlen(want[i]));
	}
}

static void test_add_order(void **state)
{
	struct links *k = links_new(4);
	(void)state;

	ADD(k, 7, "a");
	ADD(k, 7, "d/b");
	ADD(k, 7, "a");                 /* once */
	expect_names(k, 7, (const char *[]){ "a", "d/b" }, 2);
	expect_names(k, 8, NULL, 0);
	assert_int_equal(links_count(k), 1);
	assert_int_equal(links_add(k, 1, 9, "x\0y", 3), -EINVAL);
	links_free(k);
	links_free(NULL);
}

static void test_set_drop(void **state)
{
	struct links *k = links_new(4);
	(void)state;

	ADD(k, 7, "a");
	ADD(k, 7, "b");
	ADD(k, 7, "c");
	links_drop(k, 1, 7, 1);
	expect_names(k, 7, (const char *[]){ "a", "c" }, 2);
	assert_int_equal(links_set(k, 1, 7, "z", 1), 0);
	expect_names(k, 7, (const char *[]){ "z" }, 1);
	links_drop(k, 1, 7, 5);         /* no such index: nothing */
	links_drop(k, 1, 7, 0);         /* last name: the inode goes */
	expect_names(k, 7, NULL, 0);
	assert_int_equal(links_count(k), 0);
	links_free(k);
}

static void test_bounds(void **state)
{
	struct links *k = links_new(2);
	char name[16];
	(void)state;

	ADD(k, 1, "a");
	ADD(k, 2, "b");
	assert_int_equal(links_add(k, 1, 3, "c", 1), -ENOSPC);
	ADD(k, 2, "b2");                /* a known inode may grow */
	for (int i = 2; i < LINKS_NAMES_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ADD(k, 2, name);
	}
	assert_int_equal(links_add(k, 1, 2, "one-too-many", 12), -E2BIG);
	links_clear(k);
	assert_int_equal(links_count(k), 0);
	ADD(k, 3, "c");
	links_free(k);
}

static void test_find_name(void **state)
{
	struct links *k = links_new(8);
	uint64_t dev, ino;
	size_t i;
	(void)state;

	ADD(k, 1, "solo");              /* one name: not a group */
	assert_int_equal(links_find_name(k, "solo", 4, 0, 0, &dev, &ino, &i), 0);
	ADD(k, 2, "a");
	ADD(k, 2, "b");
	assert_int_equal(links_find_name(k, "b", 1, 0, 0, &dev, &ino, &i), 1);
	assert_int_equal(dev, 1);
	assert_int_equal(ino, 2);
	assert_int_equal(i, 1);
	/* the inode it names now is not asked about */
	assert_int_equal(links_find_name(k, "b", 1, 1, 2, &dev, &ino, &i), 0);
	links_drop(k, 1, 2, 1);         /* back to one name: off the list */
	assert_int_equal(links_find_name(k, "a", 1, 0, 0, &dev, &ino, &i), 0);
	ADD(k, 2, "c");
	assert_int_equal(links_set(k, 1, 2, "a", 1), 0);
	assert_int_equal(links_find_name(k, "a", 1, 0, 0, &dev, &ino, &i), 0);
	links_free(k);
}

static void test_doubt(void **state)
{
	struct links *k = links_new(4);
	(void)state;

	ADD(k, 1, "a");
	ADD(k, 1, "d/b");
	assert_true(links_doubt(k, 1, 1, 1));
	assert_true(links_get(k, 1, 1)->doubt[1]);
	assert_false(links_doubt(k, 1, 1, 1));  /* twice: the caller drops it */
	ADD(k, 1, "d/b");                      /* seen again: no doubt */
	assert_false(links_get(k, 1, 1)->doubt[1]);
	assert_true(links_doubt(k, 1, 1, 1));
	assert_int_equal(links_rename(k, "d", 1, "e", 1), 0);   /* moved: no doubt */
	expect_names(k, 1, (const char *[]){ "a", "e/b" }, 2);
	assert_false(links_get(k, 1, 1)->doubt[1]);
	assert_false(links_doubt(k, 1, 1, 9));
	links_free(k);
}

static void test_rename(void **state)
{
	struct links *k = links_new(4);
	(void)state;

	ADD(k, 1, "d/x");
	ADD(k, 1, "dd/y");
	ADD(k, 1, "d");
	assert_int_equal(links_rename(k, "d", 1, "e/f", 3), 0);
	expect_names(k, 1, (const char *[]){ "e/f/x", "dd/y", "e/f" }, 3);
	links_free(k);
}

/* One-name inodes are kept compact: what links_get shows of them, their
 * doubt and renames behave as for groups. */
static void test_one_name(void **state)
{
	struct links *k = links_new(8);
	const struct links_group *g;
	(void)state;

	ADD(k, 1, "d/a");
	ADD(k, 2, "d/sub/b");
	ADD(k, 3, "dd/c");
	g = links_get(k, 1, 1);
	assert_true(links_doubt(k, 1, 1, 0));
	assert_true(g->doubt[0]);               /* the view shows the map */
	assert_false(links_doubt(k, 1, 1, 0));
	assert_false(links_doubt(k, 1, 1, 1));
	assert_int_equal(links_set(k, 1, 1, "d/a", 3), 0);     /* same name: kept */
	assert_true(links_get(k, 1, 1)->doubt[0]);
	/* longer and shorter names; not the look-alike directory */
	assert_int_equal(links_rename(k, "d", 1, "a/much/longer/directory", 23), 0);
	expect_names(k, 1, (const char *[]){ "a/much/longer/directory/a" }, 1);
	assert_false(links_get(k, 1, 1)->doubt[0]);
	expect_names(k, 2, (const char *[]){ "a/much/longer/directory/sub/b" }, 1);
	expect_names(k, 3, (const char *[]){ "dd/c" }, 1);
	assert_int_equal(links_rename(k, "a/much/longer/directory/sub", 27, "s", 1), 0);
	expect_names(k, 2, (const char *[]){ "s/b" }, 1);
	/* a second name makes a group of both, doubt kept */
	assert_true(links_doubt(k, 1, 3, 0));
	ADD(k, 3, "e");
	expect_names(k, 3, (const char *[]){ "dd/c", "e" }, 2);
	g = links_get(k, 1, 3);
	assert_true(g->doubt[0]);
	assert_false(g->doubt[1]);
	/* a group walked while its names are dropped stays in place */
	links_drop(k, 1, 3, 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->v[0], "e");
	links_drop(k, 1, 3, 0);
	assert_null(links_get(k, 1, 3));
	links_drop(k, 1, 2, 0);
	assert_null(links_get(k, 1, 2));
	assert_int_equal(links_count(k), 1);
	links_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_order),
		cmocka_unit_test(test_set_drop),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_find_name),
		cmocka_unit_test(test_doubt),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_one_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
