/* test_retain: versioned retention on the sink (retain.c with apply.c, the
 * index file of vindex.c), in a temporary directory.  "test_retain --bench"
 * instead times overwrites with and without retention. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "apply.h"
#include "hash.h"
#include "pitview.h"
#include "retain.h"
#include "tmptree.h"
#include "vindex.h"

struct fixture {
	char dir[TMPTREE_DIR_MAX], vdir[TMPTREE_DIR_MAX + 88];
	int rootfd, vfd;
	struct retain *rt;
	struct apply *a;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int open_all(struct fixture *fx, const struct retain_limits *lim)
{
	struct apply_opts o = { 0 };

	fx->rt = retain_open("m", fx->vdir, fx->rootfd, lim);
	o.retain = fx->rt;
	fx->a = apply_new(fx->rootfd, &o);
	fx->vfd = open(fx->vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fx->rt && fx->a && fx->vfd >= 0 ? 0 : -1;
}

static void close_all(struct fixture *fx)
{
	apply_free(fx->a);
	retain_free(fx->rt);
	if (fx->vfd >= 0)
		close(fx->vfd);
	fx->a = NULL;
	fx->rt = NULL;
	fx->vfd = -1;
}

static int setup_lim(void **state, const struct retain_limits *lim)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char root[TMPTREE_DIR_MAX + 8];

	if (!fx || tmptree_make(fx->dir, "retain", "root") < 0)
		return -1;
	snprintf(fx->vdir, sizeof(fx->vdir), "%s/state/m/versions", fx->dir);
	snprintf(root, sizeof(root), "%s/root", fx->dir);
	fx->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx->rootfd < 0 || open_all(fx, lim) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	struct retain_limits lim = { .keep_sec = 3600 };

	return setup_lim(state, &lim);
}

static int setup_count(void **state)
{
	struct retain_limits lim = { .count = 2 };

	return setup_lim(state, &lim);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int r;

	close_all(fx);
	close(fx->rootfd);
	r = tmptree_remove(fx->dir);
	free(fx);
	return r;
}

static void shell(struct fixture *fx, const char *cmd)
{
	tmptree_shell(fx->dir, "root", cmd);
}

static void put(struct fixture *fx, const char *path, const char *data)
{
	struct entry e = { .type = ENT_FILE, .mode = 0640, .size = strlen(data) };
	uint8_t d[HASH_LEN];
	struct apply_file *f;

	e.path = (char *)path;
	e.path_len = strlen(path);
	assert_int_equal(apply_file_open(fx->a, &e, &f), 0);
	assert_int_equal(apply_file_write(f, data, e.size), 0);
	hash_buf(data, e.size, d);
	assert_int_equal(apply_file_close(f, d), 0);
	assert_int_equal(apply_commit(fx->a), 0);
}

static void mkdir_e(struct fixture *fx, const char *path)
{
	struct entry e = { .type = ENT_DIR, .mode = 0755 };

	e.path = (char *)path;
	e.path_len = strlen(path);
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(apply_commit(fx->a), 0);
}


static void load(struct fixture *fx, struct vindex *v)
{
	*v = (struct vindex){ 0 };
	assert_int_equal(vindex_load(fx->vfd, RETAIN_INDEX, false, v), 0);
	assert_int_equal(v->bad, 0);
}

/* Content of the node path had at t (through a point-in-time view). */
static char *at_time(struct fixture *fx, const char *path, int64_t t)
{
	struct pitview *pv;
	enum pitview_kind k;
	struct vindex v;
	char *src, *out;
	size_t slen;

	load(fx, &v);
	assert_int_equal(pitview_build(&v, t, &pv), 0);
	assert_int_equal(pitview_resolve(pv, path, strlen(path), &k, &src, &slen), 0);
	out = k == PITVIEW_ABSENT ? NULL :
	      tmptree_slurp(k == PITVIEW_TREE ? fx->rootfd : fx->vfd, src);
	free(src);
	pitview_free(pv);
	vindex_free(&v);
	return out ? strdup(out) : strdup("(absent)");
}

static void expect_at(struct fixture *fx, const char *path, int64_t t, const char *want)
{
	char *got = at_time(fx, path, t);

	assert_string_equal(got, want);
	free(got);
}

static void test_overwrite_and_delete(void **state)
{
	struct fixture *fx = *state;
	struct vindex v;

	put(fx, "f", "one\n");
	put(fx, "f", "two\n");
	assert_string_equal(tmptree_slurp(fx->rootfd, "f"), "two\n");
	assert_int_equal(apply_delete(fx->a, "f", 1), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(faccessat(fx->rootfd, "f", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	load(fx, &v);
	assert_int_equal(v.n, 3);
	assert_int_equal(v.recs[0].op, VINDEX_CREATE);
	assert_int_equal(v.recs[1].op, VINDEX_OVERWRITE);
	assert_int_equal(v.recs[2].op, VINDEX_DELETE);
	assert_string_equal(tmptree_slurp(fx->vfd, v.recs[1].stored), "one\n");
	assert_string_equal(tmptree_slurp(fx->vfd, v.recs[2].stored), "two\n");
	assert_true(v.recs[1].size > 0);
	assert_non_null(strstr(v.recs[1].stored, "/f@"));
	vindex_free(&v);
	/* the index survives a restart */
	close_all(fx);
	struct retain_limits lim = { .keep_sec = 3600 };
	assert_int_equal(open_all(fx, &lim), 0);
	load(fx, &v);
	assert_int_equal(v.n, 3);
	vindex_free(&v);
}

static void test_point_in_time(void **state)
{
	struct fixture *fx = *state;
	int64_t t0, t1, t2;

	mkdir_e(fx, "d");
	put(fx, "d/a", "a1\n");
	put(fx, "d/b", "b1\n");
	t0 = now_ns();
	put(fx, "d/a", "a2\n");                       /* overwrite */
	put(fx, "d/new", "n\n");                      /* create */
	assert_int_equal(apply_rename(fx->a, "d/b", 3, "d/c", 3), 0);   /* rename */
	assert_int_equal(apply_commit(fx->a), 0);
	t1 = now_ns();
	put(fx, "d/x", "x\n");
	assert_int_equal(apply_rename(fx->a, "d/x", 3, "d/a", 3), 0);   /* rename over */
	mkdir_e(fx, "e");
	assert_int_equal(apply_rename(fx->a, "d", 1, "e/d", 3), 0);     /* dir moved */
	t2 = now_ns();
	assert_int_equal(apply_delete(fx->a, "e", 1), 0);               /* rm -r */
	assert_int_equal(apply_commit(fx->a), 0);

	expect_at(fx, "d/a", t0, "a1\n");
	expect_at(fx, "d/b", t0, "b1\n");
	expect_at(fx, "d/c", t0, "(absent)");
	expect_at(fx, "d/new", t0, "(absent)");
	expect_at(fx, "d/a", t1, "a2\n");
	expect_at(fx, "d/c", t1, "b1\n");
	expect_at(fx, "d/new", t1, "n\n");
	expect_at(fx, "d/x", t1, "(absent)");
	expect_at(fx, "e/d/a", t2, "x\n");
	expect_at(fx, "e/d/c", t2, "b1\n");
	expect_at(fx, "d/a", t2, "(absent)");
	expect_at(fx, "e", now_ns(), "(absent)");
}

static void test_replace_types(void **state)
{
	struct fixture *fx = *state;
	struct entry l = { .type = ENT_SYMLINK, .mode = 0777 };
	int64_t t0;

	mkdir_e(fx, "dir");
	put(fx, "dir/f", "in dir\n");
	t0 = now_ns();
	put(fx, "dir", "now a file\n");               /* a directory replaced by a file */
	l.path = "dir";
	l.path_len = 3;
	l.link = "target";
	l.link_len = 6;
	assert_int_equal(apply_entry(fx->a, &l), 0);  /* a file replaced by a symlink */
	assert_int_equal(apply_commit(fx->a), 0);
	expect_at(fx, "dir/f", t0, "in dir\n");
	shell(fx, "test -L dir");
}

static void test_prune_age(void **state)
{
	struct fixture *fx = *state;
	struct vindex v;
	int64_t t, t0 = now_ns();

	put(fx, "f", "one\n");
	put(fx, "f", "two\n");
	assert_int_equal(apply_delete(fx->a, "f", 1), 0);
	load(fx, &v);
	char *s1 = strdup(v.recs[1].stored);
	vindex_free(&v);
	assert_int_equal(faccessat(fx->vfd, s1, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	/* an old day directory no record uses (a crash between keep and log) */
	tmptree_shell(fx->vdir, NULL, "mkdir -p 2001-01-01/d && echo x > 2001-01-01/d/f@0");
	t = now_ns();
	assert_int_equal(retain_tick(fx->rt, t), 0);                    /* nothing old */
	assert_int_equal(faccessat(fx->vfd, "2001-01-01", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(fx->vfd, s1, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(retain_tick(fx->rt, t + 7200ll * 1000000000), 2);
	assert_int_equal(faccessat(fx->vfd, s1, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	load(fx, &v);
	assert_int_equal(v.n, 0);
	assert_true(v.horizon > t0 && v.horizon < t);
	vindex_free(&v);
	free(s1);
	/* only the index is left: the day directories went with their versions */
	struct stat st;
	assert_int_equal(fstatat(fx->vfd, RETAIN_INDEX, &st, 0), 0);
	tmptree_shell(fx->vdir, NULL, "test \"$(ls)\" = index");
	/* a view before the horizon is refused */
	struct pitview *pv;
	load(fx, &v);
	assert_int_equal(pitview_build(&v, t0, &pv), -ERANGE);
	vindex_free(&v);
}

static void test_prune_count(void **state)
{
	struct fixture *fx = *state;
	struct vindex v;

	put(fx, "f", "1\n");
	put(fx, "f", "2\n");
	put(fx, "f", "3\n");
	put(fx, "f", "4\n");
	put(fx, "g", "g1\n");
	put(fx, "g", "g2\n");
	int64_t t = now_ns();
	assert_int_equal(retain_tick(fx->rt, t), 1);
	load(fx, &v);
	size_t kept_f = 0, logged_f = 0;
	for (size_t i = 0; i < v.n; i++) {
		if (v.recs[i].op != VINDEX_OVERWRITE || strcmp(v.recs[i].path, "f"))
			continue;
		logged_f++;       /* the dropped record stays in the file for now */
		if (!tmptree_slurp(fx->vfd, v.recs[i].stored))
			continue;
		kept_f++;
		assert_string_not_equal(tmptree_slurp(fx->vfd, v.recs[i].stored), "1\n");
	}
	assert_int_equal(kept_f, 2);
	assert_int_equal(logged_f, 3);
	assert_true(v.horizon > 0 && v.horizon < t);   /* appended as an H record */
	vindex_free(&v);
	/* once half the file is dropped records, it is rewritten without them */
	put(fx, "f", "5\n");
	put(fx, "f", "6\n");
	put(fx, "f", "7\n");
	assert_int_equal(retain_tick(fx->rt, t + 120ll * 1000000000), 3);
	load(fx, &v);
	assert_int_equal(v.n, 3);             /* g's version and f's two newest */
	for (size_t i = 0; i < v.n; i++)
		assert_non_null(v.recs[i].op == VINDEX_OVERWRITE ?
				tmptree_slurp(fx->vfd, v.recs[i].stored) : "");
	vindex_free(&v);
}

/* Versions on another file system (/dev/shm, a tmpfs, while the tree is
 * under TMPDIR): kept by copies, and a removal still removes. */
static void test_other_fs(void **state)
{
	struct fixture *fx = *state;
	struct retain_limits lim = { .keep_sec = 3600 };
	char shm[] = "/dev/shm/mirrord-test-retain-XXXXXX";
	struct stat a, b;
	struct vindex v;

	assert_non_null(mkdtemp(shm));
	close_all(fx);
	snprintf(fx->vdir, sizeof(fx->vdir), "%s/versions", shm);
	assert_int_equal(open_all(fx, &lim), 0);
	assert_int_equal(fstat(fx->vfd, &a), 0);
	assert_int_equal(fstat(fx->rootfd, &b), 0);
	if (a.st_dev == b.st_dev)
		print_message("note: /dev/shm is on the tree's file system here: no copies\n");
	mkdir_e(fx, "d");
	put(fx, "d/f", "one\n");
	put(fx, "d/f", "two\n");
	assert_int_equal(apply_delete(fx->a, "d", 1), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(faccessat(fx->rootfd, "d", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	load(fx, &v);
	assert_int_equal(v.n, 4);
	assert_string_equal(tmptree_slurp(fx->vfd, v.recs[2].stored), "one\n");
	char *f = NULL;
	assert_true(asprintf(&f, "%s/f", v.recs[3].stored) > 0);
	assert_string_equal(tmptree_slurp(fx->vfd, f), "two\n");
	assert_int_equal(fstatat(fx->vfd, f, &a, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(a.st_mode & 07777, 0640);
	free(f);
	vindex_free(&v);
	close_all(fx);
	assert_int_equal(tmptree_remove(shm), 0);
}

static void test_index_format(void **state)
{
	struct vindex_rec r = { .t_ns = 1234567890123456789, .op = VINDEX_RENAME, .path = "a b%c\n",
				.len = 6, .to = "x\x7fy", .tolen = 3 }, back;
	char *line;
	size_t n;

	(void)state;
	line = vindex_format(&r, &n);
	assert_non_null(line);
	assert_int_equal(line[n - 1], '\n');
	assert_null(memchr(line, '\n', n - 1));
	assert_int_equal(vindex_parse(line, n - 1, &back), 0);
	assert_int_equal(back.t_ns, r.t_ns);
	assert_int_equal(back.op, 'R');
	assert_int_equal(back.len, 6);
	assert_memory_equal(back.path, r.path, 6);
	assert_memory_equal(back.to, r.to, 3);
	assert_null(back.stored);
	vindex_rec_clear(&back);
	free(line);
	assert_int_equal(vindex_parse("1 O 0 a . .", 11, &back), -EINVAL);   /* no stored */
	assert_int_equal(vindex_parse("1 Q 0 a . .", 11, &back), -EINVAL);
	assert_int_equal(vindex_parse("1 C 0 a%00 . .", 14, &back), -EINVAL);
	assert_int_equal(vindex_parse("x C 0 a . .", 11, &back), -EINVAL);

	/* a cut last line is dropped */
	struct vindex v = { 0 };
	const char img[] = "5 H 0 . . .\n7 C 0 a . .\n9 D 4 a 2001/a@x .\n10 C 0 b";
	size_t good;
	assert_int_equal(vindex_parse_all(&v, img, sizeof(img) - 1, &good), 0);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.horizon, 5);
	assert_int_equal(good, sizeof(img) - 1 - strlen("10 C 0 b"));
	vindex_free(&v);
}

static void test_stored_name(void **state)
{
	char *s = retain_stored_name("a/b", 3, 86400ll * 1000000000 + 3723000000001, 0);

	(void)state;
	assert_string_equal(s, "1970-01-02/a/b@010203.000000001");
	free(s);
	s = retain_stored_name("b", 1, 0, 2);
	assert_string_equal(s, "1970-01-01/b@000000.000000000-2");
	free(s);
	/* a long last name is cut to fit NAME_MAX with its suffix */
	char longp[300];
	memset(longp, 'n', sizeof(longp));
	memcpy(longp, "dir/", 4);
	s = retain_stored_name(longp, sizeof(longp), 0, 0);
	assert_non_null(s);
	assert_int_equal(strlen(strrchr(s, '/') + 1), 255);
	assert_non_null(strstr(s, "1970-01-01/dir/nnn"));
	free(s);
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One round: 2,000 overwrites of 4 KiB files (200 files), one commit per
 * 50 as the sink's group commit does; seconds. */
static double bench_round(struct fixture *fx, int round)
{
	static char data[4097];
	char path[32];
	double t0 = mono();

	memset(data, 'a' + round % 26, 4096);
	for (int i = 0; i < 2000; i++) {
		struct entry e = { .type = ENT_FILE, .mode = 0644, .size = 4096 };
		uint8_t d[HASH_LEN];
		struct apply_file *f;

		snprintf(path, sizeof(path), "f%03d", i % 200);
		data[0] = (char)i;
		e.path = path;
		e.path_len = strlen(path);
		hash_buf(data, 4096, d);
		if (apply_file_open(fx->a, &e, &f) < 0 || apply_file_write(f, data, 4096) < 0 ||
		    apply_file_close(f, d) < 0 || (i % 50 == 49 && apply_commit(fx->a) < 0))
			return -1;
	}
	return mono() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* test_retain --bench: the sink's cost of keeping versions, in process:
 * alternating rounds of 2,000 overwrites without and with retention. */
static int bench(void)
{
	struct retain_limits lim = { .keep_sec = 86400 };
	struct fixture *plain, *kept;
	double tp[7], tk[7];
	struct apply_opts o = { 0 };

	if (setup_lim((void **)&plain, &lim) < 0 || setup_lim((void **)&kept, &lim) < 0)
		return 1;
	apply_free(plain->a);                 /* the plain one keeps nothing */
	plain->a = apply_new(plain->rootfd, &o);
	for (int r = 0; r < 7; r++) {
		tp[r] = bench_round(r % 2 ? kept : plain, r) ;
		tk[r] = bench_round(r % 2 ? plain : kept, r);
		if (r % 2) {
			double t = tp[r];
			tp[r] = tk[r];
			tk[r] = t;
		}
		if (tp[r] < 0 || tk[r] < 0)
			return 1;
	}
	qsort(tp, 7, sizeof(*tp), cmp_double);
	qsort(tk, 7, sizeof(*tk), cmp_double);
	printf("2,000 overwrites of 4 KiB, commit per 50, median of 7 alternating rounds: "
	       "without versions %.1f us each, with %.1f us each (ratio %.2f)\n",
	       tp[3] / 2000 * 1e6, tk[3] / 2000 * 1e6, tk[3] / tp[3]);
	return teardown((void **)&plain) < 0 || teardown((void **)&kept) < 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overwrite_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_point_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_count, setup_count, teardown),
		cmocka_unit_test_setup_teardown(test_other_fs, setup, teardown),
		cmocka_unit_test(test_index_format),
		cmocka_unit_test(test_stored_name),
	};

	if (argc == 2 && strcmp(argv[1], "--bench") == 0)
		return bench();
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
