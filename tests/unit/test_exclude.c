/* test_exclude: the pattern table of exclude.h, matches and non-matches. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* exclude.h has a slash-star inside its comment; tolerate it (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "exclude.h"

struct row {
	const char *pattern;
	const char *path;
	bool is_dir;
	bool match;
};

static const struct row rows[] = {
	/* no '/': last component at any depth */
	{ "*.swp", "a.swp", false, true },
	{ "*.swp", "dir/sub/.x.swp", false, true },
	{ "*.swp", "a.swp.txt", false, false },
	{ "*.swp", "x.swp/file", false, true },      /* inside a matched dir */
	{ "core", "core", false, true },
	{ "core", "a/core", true, true },
	{ "core", "acore", false, false },
	{ "core", "core2", false, false },
	/* leading '/': anchored */
	{ "/cache/", "cache", true, true },
	{ "/cache/", "cache", false, false },        /* dir-only */
	{ "/cache/", "cache/deep/file", false, true },
	{ "/cache/", "sub/cache", true, false },
	{ "/cache/", "cachex", true, false },
	{ "/top", "top", false, true },
	{ "/top", "a/top", false, false },
	/* trailing '/': directories only */
	{ "tmp/", "tmp", true, true },
	{ "tmp/", "a/b/tmp", true, true },
	{ "tmp/", "a/b/tmp", false, false },
	{ "tmp/", "a/tmp/f", false, true },
	/* inner '/': whole relative path, '*' does not cross '/' */
	{ "a/*.o", "a/x.o", false, true },
	{ "a/*.o", "a/b/x.o", false, false },
	{ "a/*.o", "z/a/x.o", false, false },
	{ "a/*.o", "a/x.c", false, false },
	/* '?' and classes */
	{ "file?.txt", "file1.txt", false, true },
	{ "file?.txt", "file12.txt", false, false },
	{ "a?b", "a/b", false, false },
	{ "[abc]*.log", "b-2024.log", false, true },
	{ "[abc]*.log", "d-2024.log", false, false },
	{ "[!x]y", "zy", false, true },
	{ "[!x]y", "xy", false, false },
	{ "[]]z", "]z", false, true },
	/* "**" crosses '/' */
	{ "/logs/**", "logs/a/b/c.txt", false, true },
	{ "/logs/**", "logsx/a", false, false },
	{ "**/build", "build", true, true },
	{ "**/build", "x/y/build", true, true },
	{ "**/build", "x/y/builds", true, false },
	{ "a/**/z", "a/z", false, true },
	{ "a/**/z", "a/b/c/z", false, true },
	{ "a/**/z", "a/b/c/zz", false, false },
	{ "a/**/z", "b/a/z", false, false },
	{ "**.bak", "x/y/f.bak", false, true },
	{ "**.bak", "x/y/f.bak2", false, false },
	{ "x/**/*.o", "x/p/q/r.o", false, true },
	{ "x/**/*.o", "x/p/q/r.c", false, false },
	/* odd bytes: newline, 0xff */
	{ "*\n*", "dir/a\nb", false, true },
	{ "\xff*", "d/\xff\xfe", false, true },
	{ "\xff*", "d/\xfe\xff", false, false },
	/* escapes */
	{ "\\*", "*", false, true },
	{ "\\*", "x", false, false },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct exclude *ex = exclude_new();
		bool m;

		assert_non_null(ex);
		assert_int_equal(exclude_add(ex, rows[i].pattern), 0);
		m = exclude_match(ex, rows[i].path, strlen(rows[i].path), rows[i].is_dir);
		if (m != rows[i].match)
			fail_msg("row %zu: pattern \"%s\" path \"%s\" dir=%d: got %d", i,
				 rows[i].pattern, rows[i].path, rows[i].is_dir, m);
		exclude_free(ex);
	}
}

static void test_bad_patterns(void **state)
{
	static const char *bad[] = { "", "/", "//", "a//b", "[abc", "x/[", "a/**/**/**/**/**/b" };
	struct exclude *ex = exclude_new();

	(void)state;
	assert_non_null(ex);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(exclude_add(ex, bad[i]), -EINVAL);
	assert_int_equal(exclude_count(ex), 0);
	exclude_free(ex);
}

static void test_set(void **state)
{
	struct exclude *ex = exclude_new();

	(void)state;
	assert_non_null(ex);
	assert_false(exclude_match(ex, "a", 1, false));
	assert_int_equal(exclude_add(ex, "*.swp"), 0);
	assert_int_equal(exclude_add(ex, "/cache/"), 0);
	assert_int_equal(exclude_count(ex), 2);
	assert_true(exclude_match(ex, "x/y.swp", 7, false));
	assert_true(exclude_match(ex, "cache/f", 7, false));
	assert_false(exclude_match(ex, "x/cache", 7, true));
	/* len is honoured: the bytes after it are not looked at */
	assert_false(exclude_match(ex, "y.swpX", 6, false));
	assert_true(exclude_match(ex, "y.swpX", 5, false));
	/* the root never matches */
	assert_false(exclude_match(ex, "", 0, true));
	exclude_free(ex);
	exclude_free(NULL);
	assert_int_equal(exclude_count(NULL), 0);
	assert_false(exclude_match(NULL, "a.swp", 5, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bad_patterns),
		cmocka_unit_test(test_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
