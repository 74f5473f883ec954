/* test_index: the persistent tree index. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "index.h"

struct fx {
	char dir[64];
	char file[96];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_index.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->file, sizeof(f->file), "%s/index", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(index_remove(f->file), 0);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static struct index_rec rec(uint64_t size)
{
	return (struct index_rec){ .type = 1, .mode = 0644, .uid = 1, .gid = 2,
				   .size = size, .mtime_ns = -5, .ino = 77 };
}

static void build(struct fx *f, unsigned n)
{
	struct index *ix = NULL;
	char p[32];

	assert_int_equal(index_create(f->file, &ix), 0);
	assert_int_equal(access(f->file, F_OK), -1);     /* not before it is finished */
	struct index_rec r = rec(0);
	assert_int_equal(index_put(ix, "", 0, &r), 0);
	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(p, sizeof(p), "d/f%u", i);
		r = rec(i);
		assert_int_equal(index_put(ix, p, (size_t)len, &r), 0);
	}
	struct index_meta m = { .journal_id = 0xfedcba9876543210ull, .seq = 42, .sink_id = 9,
				.conf_hash = 3, .listed_from = 40 };
	assert_int_equal(index_finish(ix, &m), 0);
	index_close(ix);
}

static void test_roundtrip(void **state)
{
	struct fx *f = *state;
	struct index *ix = NULL;
	struct index_meta m;
	struct index_rec r;

	assert_int_equal(index_open(f->file, &ix), -ENOENT);
	build(f, 1000);
	assert_int_equal(index_open(f->file, &ix), 0);
	assert_int_equal(index_meta(ix, &m), 0);
	assert_true(m.journal_id == 0xfedcba9876543210ull);
	assert_int_equal(m.seq, 42);
	assert_int_equal(m.sink_id, 9);
	assert_int_equal(m.conf_hash, 3);
	assert_int_equal(m.listed_from, 40);
	assert_int_equal(m.rows, 1001);
	assert_int_equal(index_lookup(ix, "", 0, &r), 1);
	for (unsigned i = 0; i < 1000; i++) {
		char p[32];
		int len = snprintf(p, sizeof(p), "d/f%u", i);
		if (i == 3 || i == 500)
			continue;
		assert_int_equal(index_lookup(ix, p, (size_t)len, &r), 1);
		assert_int_equal(r.size, i);
		assert_int_equal(r.mtime_ns, -5);
		assert_int_equal(r.mode, 0644);
		assert_int_equal(r.ino, 77);
	}
	assert_int_equal(index_lookup(ix, "d/nope", 6, &r), 0);

	/* every row, in path order (bytewise) */
	const char *p, *prev = NULL;
	size_t len, n = 0;
	char last[32] = "";
	assert_int_equal(index_rows_begin(ix), 0);
	assert_int_equal(index_rows_begin(ix), -EINVAL);
	while (index_rows_next(ix, &p, &len, &r) == 1) {
		char cur[32];
		assert_true(len < sizeof(cur));
		memcpy(cur, p, len);
		cur[len] = '\0';
		if (prev)
			assert_true(strcmp(last, cur) < 0);
		prev = last;
		strcpy(last, cur);
		n++;
	}
	assert_int_equal(n, 1001);
	assert_int_equal(index_rows_end(ix, false), 0);
	index_close(ix);
}

static int stage_some(struct index *ix)
{
	struct index_rec r = rec(12345);
	const char *p;
	size_t len;
	int rc;

	assert_int_equal(index_rows_begin(ix), 0);
	assert_int_equal(index_rows_next(ix, &p, &len, &r), 1);
	assert_int_equal(len, 0);                  /* the root first */
	r = rec(12345);
	if ((rc = index_stage(ix, "d/f1", 4, &r, true)) < 0 ||
	    (rc = index_stage(ix, "d/new", 5, &r, false)) < 0 ||
	    (rc = index_stage(ix, "d/f3", 4, NULL, true)) < 0 ||
	    (rc = index_stage(ix, "d/f4", 4, NULL, true)) < 0)
		return rc;
	return 0;
}

static void test_apply_in_place(void **state)
{
	struct fx *f = *state;
	struct index *ix = NULL;
	struct index_meta m;
	struct index_rec r;

	build(f, 10);
	/* staged, not applied (a crash before the sink acknowledged): as before */
	assert_int_equal(index_open(f->file, &ix), 0);
	assert_int_equal(stage_some(ix), 0);
	assert_int_equal(index_rows_end(ix, true), 0);
	index_close(ix);
	assert_int_equal(index_open(f->file, &ix), 0);
	assert_int_equal(index_meta(ix, &m), 0);
	assert_int_equal(m.seq, 42);
	assert_int_equal(m.rows, 11);
	assert_int_equal(index_lookup(ix, "d/f3", 4, &r), 1);
	assert_int_equal(index_lookup(ix, "d/new", 5, &r), 0);
	assert_int_equal(index_lookup(ix, "d/f1", 4, &r), 1);
	assert_int_equal(r.size, 1);
	/* dropped at the end of the read: applying changes nothing but meta */
	assert_int_equal(stage_some(ix), 0);
	assert_int_equal(index_rows_end(ix, false), 0);
	m.seq = 43;
	assert_int_equal(index_apply(ix, &m), 0);
	assert_int_equal(index_lookup(ix, "d/f3", 4, &r), 1);
	index_close(ix);
	/* applied: rows and meta in place */
	assert_int_equal(index_open(f->file, &ix), 0);
	assert_int_equal(stage_some(ix), 0);
	assert_int_equal(index_apply(ix, &m), -EINVAL);      /* still reading */
	assert_int_equal(index_rows_end(ix, true), 0);
	m.seq = 50;
	m.sink_id = 77;
	m.listed_from = 0;                         /* the listing acknowledged */
	assert_int_equal(index_apply(ix, &m), 0);
	index_close(ix);
	assert_int_equal(index_open(f->file, &ix), 0);
	assert_int_equal(index_meta(ix, &m), 0);
	assert_int_equal(m.seq, 50);
	assert_int_equal(m.sink_id, 77);
	assert_int_equal(m.listed_from, 0);
	assert_true(m.journal_id == 0xfedcba9876543210ull);
	assert_int_equal(m.rows, 10);              /* 11 + 1 new - 2 gone */
	assert_int_equal(index_lookup(ix, "d/f3", 4, &r), 0);
	assert_int_equal(index_lookup(ix, "d/f4", 4, &r), 0);
	assert_int_equal(index_lookup(ix, "d/new", 5, &r), 1);
	assert_int_equal(r.size, 12345);
	assert_int_equal(index_lookup(ix, "d/f1", 4, &r), 1);
	assert_int_equal(r.size, 12345);
	assert_int_equal(index_lookup(ix, "d/f2", 4, &r), 1);
	assert_int_equal(r.size, 2);
	index_close(ix);
}

static void test_unfinished_is_not_an_index(void **state)
{
	struct fx *f = *state;
	struct index *ix = NULL, *old = NULL;
	struct index_rec r = rec(1);

	build(f, 10);
	assert_int_equal(index_create(f->file, &ix), 0);
	assert_int_equal(index_put(ix, "x", 1, &r), 0);
	index_close(ix);                           /* discarded */
	assert_int_equal(index_open(f->file, &old), 0);
	assert_int_equal(index_lookup(old, "x", 1, &r), 0);
	assert_int_equal(index_lookup(old, "d/f9", 4, &r), 1);
	index_close(old);
}

static void test_garbage_file(void **state)
{
	struct fx *f = *state;
	struct index *ix = NULL;
	FILE *fp = fopen(f->file, "w");

	assert_non_null(fp);
	fputs("not a database at all, just some text that is long enough\n", fp);
	fclose(fp);
	assert_true(index_open(f->file, &ix) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unfinished_is_not_an_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
