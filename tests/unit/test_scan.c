/* test_scan: walk order, entry fields, hardlinks, excludes, one_fs, odd
 * names, vanished entries, scan_stat, and bounded memory on 20,000 files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

/* exclude.h has a slash-star inside its comment; tolerate it (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "scan.h"

struct fixture {
	char *dir;
	int rootfd;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	const char *tmp = getenv("TMPDIR");

	if (!fx)
		return -1;
	if (asprintf(&fx->dir, "%s/test_scan.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return -1;
	if (!mkdtemp(fx->dir))
		return -1;
	fx->rootfd = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx->rootfd < 0)
		return -1;
	*state = fx;
	return 0;
}

static int rm_cb(const char *dir)
{
	char *cmd;
	int r;

	if (asprintf(&cmd, "rm -rf '%s'", dir) < 0)
		return -1;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int r;

	close(fx->rootfd);
	r = rm_cb(fx->dir);
	free(fx->dir);
	free(fx);
	return r;
}

static void mkfile(int dfd, const char *name, const char *data, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* All items of one walk, flattened. */
struct item {
	int kind;
	struct entry e;
};

struct walk {
	struct item *v;
	size_t n;
};

static void walk_run(int rootfd, const struct scan_opts *opts, struct walk *w)
{
	struct scan *s = scan_new(rootfd, opts);

	assert_non_null(s);
	memset(w, 0, sizeof(*w));
	for (;;) {
		struct entry e = { 0 };
		int k = scan_next(s, &e);

		if (k < 0)
			fail_msg("scan_next: %s at \"%s\"", strerror(-k), e.path ? e.path : "?");
		if (k == SCAN_END)
			break;
		w->v = realloc(w->v, (w->n + 1) * sizeof(*w->v));
		assert_non_null(w->v);
		w->v[w->n].kind = k;
		w->v[w->n++].e = e;
	}
	scan_free(s);
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		entry_clear(&w->v[i].e);
	free(w->v);
}

static const struct entry *walk_find(const struct walk *w, const char *path)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].kind == SCAN_ENTRY && !strcmp(w->v[i].e.path, path))
			return &w->v[i].e;
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Check that w, from index *pos, holds exactly the entries of the '|'
 * separated sorted list want (any order), then SCAN_DIR_DONE for dir. */
static void expect_group(const struct walk *w, size_t *pos, const char *want, const char *dir)
{
	char *got[64], buf[1024] = "";
	size_t n = 0;

	while (*pos < w->n && w->v[*pos].kind == SCAN_ENTRY) {
		assert_true(n < 64);
		got[n++] = w->v[(*pos)++].e.path;
	}
	qsort(got, n, sizeof(got[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i ? "|" : "");
		strcat(buf, got[i]);
	}
	assert_string_equal(buf, want);
	assert_true(*pos < w->n);
	assert_int_equal(w->v[*pos].kind, SCAN_DIR_DONE);
	assert_string_equal(w->v[*pos].e.path, dir);
	assert_int_equal(w->v[*pos].e.type, 0);
	(*pos)++;
}

static void build_small(int r)
{
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1600000000, 987654321 } };
	int d1;

	mkfile(r, "a", "hello", 0640);
	assert_int_equal(utimensat(r, "a", ts, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(mkdirat(r, "d1", 0750), 0);
	d1 = openat(r, "d1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d1 >= 0);
	mkfile(d1, "f2", "", 04755);
	assert_int_equal(mkdirat(d1, "sub", 01777), 0);
	assert_int_equal(fchmodat(d1, "sub", 01777, 0), 0);
	assert_int_equal(close(d1), 0);
	assert_int_equal(symlinkat("d1", r, "link"), 0);
	assert_int_equal(mkfifoat(r, "fifo", 0600), 0);
}

static void test_order_and_fields(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { 0 };
	const struct entry *e;
	struct walk w;
	size_t pos = 1;

	build_small(fx->rootfd);
	walk_run(fx->rootfd, &opts, &w);
	assert_int_equal(w.v[0].kind, SCAN_ENTRY);
	assert_string_equal(w.v[0].e.path, "");
	assert_int_equal(w.v[0].e.path_len, 0);
	assert_int_equal(w.v[0].e.type, ENT_DIR);
	expect_group(&w, &pos, "a|d1|fifo|link", "");
	expect_group(&w, &pos, "d1/f2|d1/sub", "d1");
	expect_group(&w, &pos, "", "d1/sub");
	assert_int_equal(pos, w.n);

	e = walk_find(&w, "a");
	assert_int_equal(e->type, ENT_FILE);
	assert_int_equal(e->path_len, 1);
	assert_int_equal(e->mode, 0640);
	assert_int_equal(e->size, 5);
	assert_int_equal(e->uid, getuid());
	assert_int_equal(e->gid, getgid());
	assert_int_equal(e->mtime_sec, 1600000000);
	assert_int_equal(e->mtime_nsec, 987654321);
	assert_int_equal(e->nlink, 1);
	assert_null(e->link);
	e = walk_find(&w, "d1/f2");
	assert_int_equal(e->type, ENT_FILE);
	assert_int_equal(e->mode, 04755);
	assert_int_equal(e->size, 0);
	e = walk_find(&w, "d1/sub");
	assert_int_equal(e->type, ENT_DIR);
	assert_int_equal(e->mode, 01777);
	e = walk_find(&w, "link");
	assert_int_equal(e->type, ENT_SYMLINK);
	assert_int_equal(e->link_len, 2);
	assert_string_equal(e->link, "d1");
	e = walk_find(&w, "fifo");
	assert_int_equal(e->type, ENT_FIFO);
	assert_int_equal(e->mode, 0600);
	walk_free(&w);
}

/* one_level: the root's listing only, no subdirectory entered */
static void test_one_level(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { .one_level = true };
	struct walk w;
	size_t pos = 1;

	build_small(fx->rootfd);
	walk_run(fx->rootfd, &opts, &w);
	assert_string_equal(w.v[0].e.path, "");
	expect_group(&w, &pos, "a|d1|fifo|link", "");
	assert_int_equal(pos, w.n);
	assert_null(walk_find(&w, "d1/f2"));
	walk_free(&w);
}

static void test_hardlinks(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { 0 };
	struct exclude *ex;
	const struct entry *e;
	struct walk w;

	mkfile(fx->rootfd, "h1", "x", 0644);
	assert_int_equal(mkdirat(fx->rootfd, "d", 0755), 0);
	assert_int_equal(linkat(fx->rootfd, "h1", fx->rootfd, "d/h2", 0), 0);
	assert_int_equal(linkat(fx->rootfd, "h1", fx->rootfd, "d/h3", 0), 0);
	mkfile(fx->rootfd, "single", "y", 0644);
	walk_run(fx->rootfd, &opts, &w);
	e = walk_find(&w, "h1");
	assert_int_equal(e->type, ENT_FILE);
	assert_int_equal(e->nlink, 3);
	for (int i = 0; i < 2; i++) {
		e = walk_find(&w, i ? "d/h3" : "d/h2");
		assert_int_equal(e->type, ENT_HARDLINK);
		assert_string_equal(e->link, "h1");
		assert_int_equal(e->link_len, 2);
	}
	assert_int_equal(walk_find(&w, "single")->type, ENT_FILE);
	walk_free(&w);

	/* with the first name excluded, the next one becomes the file */
	ex = exclude_new();
	assert_non_null(ex);
	assert_int_equal(exclude_add(ex, "/h1"), 0);
	opts.ex = ex;
	walk_run(fx->rootfd, &opts, &w);
	assert_null(walk_find(&w, "h1"));
	{
		const struct entry *a = walk_find(&w, "d/h2"), *b = walk_find(&w, "d/h3");
		const struct entry *first = a->type == ENT_FILE ? a : b;
		const struct entry *second = first == a ? b : a;

		assert_int_equal(first->type, ENT_FILE);
		assert_int_equal(second->type, ENT_HARDLINK);
		assert_string_equal(second->link, first->path);
	}
	walk_free(&w);
	exclude_free(ex);
}

/* names_only: the same items in the same order as a full walk, each with
 * its path and type only (hardlinks as files, no xattrs), excludes
 * applied. */
static void test_names_only(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts full = { 0 }, names = { .names_only = true };
	struct exclude *ex = exclude_new();
	struct walk a, b;

	build_small(fx->rootfd);
	assert_int_equal(linkat(fx->rootfd, "a", fx->rootfd, "d1/a2", 0), 0);
	assert_int_equal(mkdirat(fx->rootfd, "skip", 0755), 0);
	mkfile(fx->rootfd, "skip/inner", "z", 0644);
	assert_non_null(ex);
	assert_int_equal(exclude_add(ex, "/skip/"), 0);
	full.ex = names.ex = ex;
	walk_run(fx->rootfd, &full, &a);
	walk_run(fx->rootfd, &names, &b);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		const struct entry *x = &a.v[i].e, *y = &b.v[i].e;
		assert_int_equal(a.v[i].kind, b.v[i].kind);
		assert_string_equal(x->path, y->path);
		assert_int_equal(x->type == ENT_HARDLINK ? ENT_FILE : x->type, y->type);
		assert_null(y->xattrs);
		assert_null(y->link);
	}
	assert_null(walk_find(&b, "skip/inner"));
	assert_int_equal(walk_find(&b, "fifo")->type, ENT_FIFO);
	assert_int_equal(walk_find(&b, "link")->type, ENT_SYMLINK);
	walk_free(&a);
	walk_free(&b);
	exclude_free(ex);
}

static void test_exclude_prunes(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { 0 };
	struct exclude *ex = exclude_new();
	struct walk w;
	size_t pos = 1;

	assert_non_null(ex);
	assert_int_equal(exclude_add(ex, "*.tmp"), 0);
	assert_int_equal(exclude_add(ex, "/skip/"), 0);
	assert_int_equal(mkdirat(fx->rootfd, "skip", 0755), 0);
	mkfile(fx->rootfd, "skip/inner", "z", 0644);
	assert_int_equal(mkdirat(fx->rootfd, "keep", 0755), 0);
	mkfile(fx->rootfd, "keep/x.tmp", "z", 0644);
	mkfile(fx->rootfd, "keep/x.txt", "z", 0644);
	mkfile(fx->rootfd, "top.tmp", "z", 0644);
	opts.ex = ex;
	walk_run(fx->rootfd, &opts, &w);
	expect_group(&w, &pos, "keep", "");
	expect_group(&w, &pos, "keep/x.txt", "keep");
	assert_int_equal(pos, w.n);
	walk_free(&w);
	exclude_free(ex);
}

static void test_one_fs(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { .one_fs = true };
	char *mnt;
	struct walk w;
	size_t pos = 1;
	int r;

	assert_int_equal(mkdirat(fx->rootfd, "same", 0755), 0);
	mkfile(fx->rootfd, "same/f", "1", 0644);
	assert_int_equal(mkdirat(fx->rootfd, "mnt", 0755), 0);
	assert_true(asprintf(&mnt, "%s/mnt", fx->dir) > 0);
	r = mount("test_scan", mnt, "tmpfs", 0, "size=1m");
	if (r < 0) {
		const char *ci = getenv("CI");

		free(mnt);
		if (ci && !strcmp(ci, "true"))
			fail_msg("mount tmpfs: %s (needs root)", strerror(errno));
		print_message("one_fs: cannot mount tmpfs (%s), skipping\n", strerror(errno));
		skip();
	}
	mkfile(fx->rootfd, "mnt/other", "2", 0644);
	walk_run(fx->rootfd, &opts, &w);
	expect_group(&w, &pos, "mnt|same", "");
	expect_group(&w, &pos, "same/f", "same");
	assert_int_equal(pos, w.n);
	walk_free(&w);
	/* without one_fs the mount is entered */
	opts.one_fs = false;
	walk_run(fx->rootfd, &opts, &w);
	assert_non_null(walk_find(&w, "mnt/other"));
	walk_free(&w);
	assert_int_equal(umount(mnt), 0);
	free(mnt);
}

static void test_odd_names(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { 0 };
	char longname[256], *target, *p;
	const struct entry *e;
	struct walk w;

	memset(longname, 'n', 255);
	longname[255] = '\0';
	target = malloc(3001);
	assert_non_null(target);
	memset(target, 't', 3000);
	target[3000] = '\0';
	assert_int_equal(mkdirat(fx->rootfd, "a\nb", 0755), 0);
	mkfile(fx->rootfd, "a\nb/\xff\xfe", "q", 0644);
	assert_int_equal(asprintf(&p, "a\nb/%s", longname), 4 + 255);
	mkfile(fx->rootfd, p, "", 0644);
	assert_int_equal(symlinkat(target, fx->rootfd, "longlink"), 0);
	walk_run(fx->rootfd, &opts, &w);
	assert_int_equal(walk_find(&w, "a\nb")->type, ENT_DIR);
	e = walk_find(&w, "a\nb/\xff\xfe");
	assert_non_null(e);
	assert_int_equal(e->path_len, 6);
	e = walk_find(&w, p);
	assert_non_null(e);
	assert_int_equal(e->path_len, 4 + 255);
	e = walk_find(&w, "longlink");
	assert_int_equal(e->link_len, 3000);
	assert_memory_equal(e->link, target, 3001);
	assert_int_equal(w.n, 1 + 2 + 1 + 2 + 1);
	walk_free(&w);
	free(p);
	free(target);
}

static void test_xattrs(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { .xattrs = true };
	const struct entry *e;
	char *p;
	struct walk w;

	mkfile(fx->rootfd, "x", "", 0644);
	assert_true(asprintf(&p, "%s/x", fx->dir) > 0);
	assert_int_equal(setxattr(p, "user.scan_test", "value42", 7, 0), 0);
	walk_run(fx->rootfd, &opts, &w);
	e = walk_find(&w, "x");
	assert_non_null(e->xattrs);
	assert_non_null(memmem(e->xattrs, e->xattrs_len, "user.scan_test", 14));
	assert_non_null(memmem(e->xattrs, e->xattrs_len, "value42", 7));
	walk_free(&w);
	opts.xattrs = false;
	walk_run(fx->rootfd, &opts, &w);
	assert_null(walk_find(&w, "x")->xattrs);
	walk_free(&w);
	free(p);
}

/* Names already read by readdir but gone before fstatat are skipped. */
static void test_vanished(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { 0 };
	struct entry e = { 0 };
	struct scan *s;
	char name[16];
	int k, n = 0;

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		mkfile(fx->rootfd, name, "", 0644);
	}
	s = scan_new(fx->rootfd, &opts);
	assert_non_null(s);
	assert_int_equal(scan_next(s, &e), SCAN_ENTRY);   /* root */
	entry_clear(&e);
	assert_int_equal(scan_next(s, &e), SCAN_ENTRY);   /* first child */
	entry_clear(&e);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(unlinkat(fx->rootfd, name, 0), 0);
	}
	while ((k = scan_next(s, &e)) == SCAN_ENTRY) {
		n++;
		entry_clear(&e);
	}
	assert_int_equal(k, SCAN_DIR_DONE);
	assert_int_equal(n, 0);
	entry_clear(&e);
	assert_int_equal(scan_next(s, &e), SCAN_END);
	assert_int_equal(scan_next(s, &e), SCAN_END);
	scan_free(s);
	scan_free(NULL);
}

static void test_scan_stat(void **state)
{
	struct fixture *fx = *state;
	struct entry e = { 0 };

	build_small(fx->rootfd);
	assert_int_equal(scan_stat(fx->rootfd, "d1/f2", 5, false, &e), 0);
	assert_string_equal(e.path, "d1/f2");
	assert_int_equal(e.type, ENT_FILE);
	assert_int_equal(e.mode, 04755);
	entry_clear(&e);
	assert_int_equal(scan_stat(fx->rootfd, "link", 4, false, &e), 0);
	assert_int_equal(e.type, ENT_SYMLINK);
	assert_string_equal(e.link, "d1");
	entry_clear(&e);
	assert_int_equal(scan_stat(fx->rootfd, "", 0, true, &e), 0);
	assert_int_equal(e.type, ENT_DIR);
	assert_string_equal(e.path, "");
	entry_clear(&e);
	/* a symlink in the middle is never followed */
	assert_true(scan_stat(fx->rootfd, "link/f2", 7, false, &e) < 0);
	assert_int_equal(scan_stat(fx->rootfd, "d1/nope", 7, false, &e), -ENOENT);
	assert_int_equal(scan_stat(fx->rootfd, "../etc", 6, false, &e), -EINVAL);
	assert_int_equal(scan_stat(fx->rootfd, "d1//f2", 6, false, &e), -EINVAL);
	assert_int_equal(scan_stat(fx->rootfd, "/d1", 3, false, &e), -EINVAL);
	assert_null(e.path);
}

static size_t heap_now(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* 20,000 files with long names: holding every path would take > 3 MiB; the
 * walk must stay far below that. */
static void test_big_bounded(void **state)
{
	struct fixture *fx = *state;
	struct scan_opts opts = { 0 };
	struct entry e = { 0 };
	char name[200];
	size_t base, peak = 0;
	struct scan *s;
	int k, files = 0, dirs = 0;

	for (int d = 0; d < 20; d++) {
		int dfd;

		snprintf(name, sizeof(name), "dir%02d", d);
		assert_int_equal(mkdirat(fx->rootfd, name, 0755), 0);
		dfd = openat(fx->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(dfd >= 0);
		for (int i = 0; i < 1000; i++) {
			int fd;

			snprintf(name, sizeof(name), "%0150d", i);
			fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			assert_true(fd >= 0);
			assert_int_equal(close(fd), 0);
		}
		assert_int_equal(close(dfd), 0);
	}
	base = heap_now();
	s = scan_new(fx->rootfd, &opts);
	assert_non_null(s);
	while ((k = scan_next(s, &e)) != SCAN_END) {
		size_t now = heap_now();

		assert_true(k > 0);
		if (k == SCAN_ENTRY && e.type == ENT_FILE)
			files++;
		if (k == SCAN_ENTRY && e.type == ENT_DIR)
			dirs++;
		entry_clear(&e);
		if (now > base && now - base > peak)
			peak = now - base;
	}
	scan_free(s);
	assert_int_equal(files, 20000);
	assert_int_equal(dirs, 21);
	print_message("scan of 20,000 files: heap peak %zu bytes above start\n", peak);
	assert_true(peak < 512 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclude_prunes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_fs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_stat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
