/* test_pitview: point-in-time views from versions logs, pure logic. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pitview.h"
#include "vindex.h"

/* Build an index from "T OP SIZE PATH STORED TO" lines. */
static void index_of(struct vindex *v, const char *img)
{
	size_t good;

	*v = (struct vindex){ 0 };
	assert_int_equal(vindex_parse_all(v, img, strlen(img), &good), 0);
	assert_int_equal(good, strlen(img));
	assert_int_equal(v->bad, 0);
}

/* "tree:SRC", "stored:SRC" or "absent" for path at t. */
static char *where(const struct vindex *v, int64_t t, const char *path)
{
	struct pitview *pv;
	enum pitview_kind k;
	char *src, *out = NULL;
	size_t slen;

	assert_int_equal(pitview_build(v, t, &pv), 0);
	assert_int_equal(pitview_resolve(pv, path, strlen(path), &k, &src, &slen), 0);
	if (k == PITVIEW_ABSENT)
		out = strdup("absent");
	else
		assert_true(asprintf(&out, "%s:%s", k == PITVIEW_TREE ? "tree" : "stored", src) > 0);
	assert_true(k == PITVIEW_ABSENT || strlen(src) == slen);
	free(src);
	pitview_free(pv);
	return out;
}

static void expect(const struct vindex *v, int64_t t, const char *path, const char *want)
{
	char *got = where(v, t, path);

	assert_string_equal(got, want);
	free(got);
}

static void test_basic(void **state)
{
	struct vindex v;

	(void)state;
	index_of(&v, "1 H 0 . . .\n"
		     "10 C 0 a . .\n"
		     "20 O 5 a s/a@20 .\n"
		     "30 D 5 b s/b@30 .\n"
		     "40 C 0 c . .\n");
	expect(&v, 5, "a", "absent");
	expect(&v, 15, "a", "stored:s/a@20");
	expect(&v, 25, "a", "tree:a");
	expect(&v, 25, "b", "stored:s/b@30");
	expect(&v, 25, "b/deep/x", "stored:s/b@30/deep/x");
	expect(&v, 35, "b", "tree:b");       /* gone now: the reader finds nothing */
	expect(&v, 35, "c", "absent");
	expect(&v, 45, "c", "tree:c");
	struct pitview *pv;
	assert_int_equal(pitview_build(&v, 0, &pv), -ERANGE);
	vindex_free(&v);
}

static void test_renames(void **state)
{
	struct vindex v;

	(void)state;
	/* d/x renamed to d/y, then d to e, then e/y overwritten */
	index_of(&v, "1 H 0 . . .\n"
		     "10 R 0 d/x . d/y\n"
		     "20 R 0 d . e\n"
		     "30 O 3 e/y s/y@30 .\n"
		     "40 C 0 e/new . .\n");
	expect(&v, 5, "d/x", "stored:s/y@30");   /* overwritten after it moved */
	expect(&v, 5, "d/y", "absent");
	expect(&v, 5, "e", "absent");
	expect(&v, 5, "d/other", "tree:e/other");
	expect(&v, 15, "d/y", "stored:s/y@30");
	expect(&v, 35, "e/y", "tree:e/y");
	expect(&v, 25, "e/y", "stored:s/y@30");
	expect(&v, 25, "e/new", "absent");
	expect(&v, 25, "d", "tree:d");        /* not in the tree now either */
	vindex_free(&v);
	/* a rename over a kept target, undone: the target comes back */
	index_of(&v, "1 H 0 . . .\n"
		     "10 D 3 t s/t@10 .\n"
		     "10 R 0 f . t\n");
	expect(&v, 5, "t", "stored:s/t@10");
	expect(&v, 5, "f", "tree:t");
	vindex_free(&v);
	/* a directory removed whole after files beneath it changed */
	index_of(&v, "1 H 0 . . .\n"
		     "10 O 3 d/a s/a@10 .\n"
		     "20 D 9 d s/d@20 .\n");
	expect(&v, 5, "d/a", "stored:s/a@10");
	expect(&v, 5, "d/b", "stored:s/d@20/b");
	expect(&v, 15, "d/a", "stored:s/d@20/a");
	vindex_free(&v);
}

static int collect(void *ctx, const char *name, size_t n)
{
	char *buf = ctx;

	strncat(buf, name, n);
	strcat(buf, ",");
	return 0;
}

static void test_children(void **state)
{
	struct pitview *pv;
	struct vindex v;
	char buf[256] = "";

	(void)state;
	index_of(&v, "1 H 0 . . .\n"
		     "10 D 3 d/gone s/g@10 .\n"
		     "20 D 3 d/sub/deep s/x@20 .\n"
		     "30 C 0 d/new . .\n");
	assert_int_equal(pitview_build(&v, 5, &pv), 0);
	assert_int_equal(pitview_children(pv, "d", 1, collect, buf), 0);
	assert_string_equal(buf, "gone,");           /* deeper and absent ones left out */
	buf[0] = '\0';
	assert_int_equal(pitview_children(pv, "", 0, collect, buf), 0);
	assert_string_equal(buf, "");
	pitview_free(pv);
	vindex_free(&v);
}

/* 100,000 logged changes after T: the view is built and read in well
 * under a second (a linear list would take minutes). */
static void test_many(void **state)
{
	struct vindex v = { 0 };
	struct pitview *pv;
	enum pitview_kind k;
	char path[64], stored[80], *src;
	size_t slen;
	clock_t c0 = clock();

	(void)state;
	for (int i = 0; i < 100000; i++) {
		struct vindex_rec r = { .t_ns = 10 + i, .path = path };
		snprintf(path, sizeof(path), "d%d/f%d", i % 100, i / 3);
		r.len = strlen(path);
		if (i % 3 == 0) {
			r.op = VINDEX_CREATE;
		} else {
			snprintf(stored, sizeof(stored), "s/%s@%d", path, i);
			r.op = VINDEX_OVERWRITE;
			r.stored = stored;
		}
		assert_int_equal(vindex_add(&v, &r), 0);
	}
	assert_int_equal(pitview_build(&v, 5, &pv), 0);
	for (int i = 0; i < 100000; i += 7) {
		snprintf(path, sizeof(path), "d%d/f%d", i % 100, i / 3);
		assert_int_equal(pitview_resolve(pv, path, strlen(path), &k, &src, &slen), 0);
		free(src);
	}
	assert_int_equal(pitview_resolve(pv, "d3/f1", 5, &k, &src, &slen), 0);
	assert_int_equal(k, PITVIEW_ABSENT);  /* created at i = 3, after T */
	free(src);
	assert_int_equal(pitview_resolve(pv, "d1/f0", 5, &k, &src, &slen), 0);
	assert_string_equal(src, "s/d1/f0@1");   /* overwritten at i = 1, after T */
	free(src);
	pitview_free(pv);
	assert_int_equal(pitview_build(&v, 12, &pv), 0);
	assert_int_equal(pitview_resolve(pv, "d1/f0", 5, &k, &src, &slen), 0);
	assert_string_equal(src, "d1/f0");       /* as it is now */
	free(src);
	pitview_free(pv);
	vindex_free(&v);
	double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
	print_message("100,000 records: %.2f s of CPU\n", secs);
	assert_true(secs < 5.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_renames),
		cmocka_unit_test(test_children),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
