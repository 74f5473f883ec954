/* test_watch: the inotify watcher thread, on real inotify in a temp dir. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "exclude.h"
#include "../../src/mirrord/watch.h"

#define QUEUED_PATH "/proc/sys/fs/inotify/max_queued_events"
#define WAIT_MS 3000

struct fx {
	char dir[64];
	struct watch *w;
	struct exclude *ex;
	struct fx *sub;         /* a second watcher's fixture, or NULL */
};

static long saved_queued = -1;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_watch.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static void write_long(const char *path, long v)
{
	FILE *fp = fopen(path, "we");

	if (fp) {
		fprintf(fp, "%ld\n", v);
		fclose(fp);
	}
}

static void restore_queued(void)
{
	if (saved_queued > 0)
		write_long(QUEUED_PATH, saved_queued);
	saved_queued = -1;
}

static void fx_stop(struct fx *f)
{
	if (!f)
		return;
	fx_stop(f->sub);
	watch_stop(f->w);
	free(f->sub);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	restore_queued();
	fx_stop(f);
	exclude_free(f->ex);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void start(struct fx *f)
{
	assert_int_equal(watch_start(f->dir, f->ex, &f->w), 0);
	assert_non_null(f->w);
}

static char *at(struct fx *f, const char *rel)
{
	static char buf[8192];

	assert_true((size_t)snprintf(buf, sizeof(buf), "%s/%s", f->dir, rel) < sizeof(buf));
	return buf;
}

static void put(struct fx *f, const char *rel, const char *data)
{
	int fd = open(at(f, rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(close(fd), 0);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next record within the deadline; false on timeout. */
static bool next(struct fx *f, struct watch_rec *rec, long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = watch_fd(f->w), .events = POLLIN };
		int r = watch_read(f->w, rec);
		long left = deadline - now_ms();

		if (r == 1)
			return true;
		assert_int_equal(r, -EAGAIN);
		if (left <= 0)
			return false;
		assert_true(poll(&p, 1, (int)left) >= 0);
	}
}

/* Read until a record of kind for path arrives; copy it to *out. */
static bool expect(struct fx *f, enum watch_kind kind, const char *path, size_t len,
		   struct watch_rec *out)
{
	long deadline = now_ms() + WAIT_MS;
	struct watch_rec rec;

	while (next(f, &rec, deadline)) {
		if (rec.kind == kind && rec.path_len == len && !memcmp(rec.path, path, len)) {
			if (out)
				*out = rec;
			return true;
		}
	}
	return false;
}

#define EXPECT(f, kind, path) assert_true(expect(f, kind, path, strlen(path), NULL))

static void test_close_write(void **state)
{
	struct fx *f = *state;
	struct watch_rec rec;

	start(f);
	assert_true(watch_count(f->w) == 1);
	put(f, "hello", "world");
	assert_true(expect(f, WATCH_CREATE, "hello", 5, &rec));
	assert_false(rec.is_dir);
	EXPECT(f, WATCH_MODIFY, "hello");
	EXPECT(f, WATCH_CLOSE_WRITE, "hello");
}

static void test_existing_tree_watched(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdir(at(f, "pre"), 0755), 0);
	assert_int_equal(mkdir(at(f, "pre/sub"), 0755), 0);
	start(f);
	assert_int_equal(watch_count(f->w), 3);
	put(f, "pre/sub/x", "1");
	EXPECT(f, WATCH_CLOSE_WRITE, "pre/sub/x");
}

static void test_mkdir_p_then_file_no_miss(void **state)
{
	struct fx *f = *state;

	start(f);
	for (int i = 0; i < 20; i++) {
		char p[64];

		snprintf(p, sizeof(p), "a%d", i);
		assert_int_equal(mkdir(at(f, p), 0755), 0);
		snprintf(p, sizeof(p), "a%d/b", i);
		assert_int_equal(mkdir(at(f, p), 0755), 0);
		snprintf(p, sizeof(p), "a%d/b/c", i);
		assert_int_equal(mkdir(at(f, p), 0755), 0);
		snprintf(p, sizeof(p), "a%d/b/c/file", i);
		put(f, p, "x");
	}
	for (int i = 0; i < 20; i++) {
		char p[64];
		long deadline = now_ms() + WAIT_MS;
		struct watch_rec rec;
		bool seen = false;

		/* Either the watch landed first (real CREATE) or the scan
		 * found it (CREATE from the scan): both say CREATE. */
		snprintf(p, sizeof(p), "a%d/b/c/file", i);
		while (!seen && next(f, &rec, deadline))
			seen = rec.kind == WATCH_CREATE && !strcmp(rec.path, p);
		assert_true(seen);
	}
	assert_int_equal(watch_count(f->w), 61);
	/* and the new directories are watched */
	put(f, "a7/b/c/later", "y");
	EXPECT(f, WATCH_CLOSE_WRITE, "a7/b/c/later");
}

/* watch.c's inotify_add_watch (linked with --wrap): once armed, the watch
 * of race_from is followed by a rename to race_to, as if the directory
 * moved between its watch and its listing.  Runs in the watcher thread. */
int __real_inotify_add_watch(int fd, const char *path, uint32_t mask);
int __wrap_inotify_add_watch(int fd, const char *path, uint32_t mask);
static char *race_from, *race_to;

int __wrap_inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	int wd = __real_inotify_add_watch(fd, path, mask);
	char *from = __atomic_load_n(&race_from, __ATOMIC_ACQUIRE);

	if (from && !strcmp(path, from) && __atomic_exchange_n(&race_from, NULL, __ATOMIC_ACQ_REL))
		(void)rename(from, race_to);
	return wd;
}

/* A directory moved in, watched, then renamed before it was listed: its
 * rename must find it unlisted, and what it holds is reported under the
 * new name (and watched). */
static void test_dir_moved_before_listed(void **state)
{
	struct fx *f = *state;
	char stage[128], from[128], to[128], p[192];

	snprintf(stage, sizeof(stage), "%s-stage", f->dir);
	snprintf(from, sizeof(from), "%s/nr", f->dir);
	snprintf(to, sizeof(to), "%s/mv", f->dir);
	assert_int_equal(mkdir(stage, 0755), 0);
	snprintf(p, sizeof(p), "%s/d1", stage);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d1/d2", stage);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d1/d2/f", stage);
	assert_int_equal(close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
	start(f);
	race_to = to;
	__atomic_store_n(&race_from, from, __ATOMIC_RELEASE);
	assert_int_equal(rename(stage, from), 0);
	EXPECT(f, WATCH_DIR_CREATED, "mv/d1");
	EXPECT(f, WATCH_DIR_CREATED, "mv/d1/d2");
	EXPECT(f, WATCH_CREATE, "mv/d1/d2/f");
	assert_null(__atomic_load_n(&race_from, __ATOMIC_ACQUIRE));
	put(f, "mv/d1/d2/g", "x");
	EXPECT(f, WATCH_CLOSE_WRITE, "mv/d1/d2/g");
}

static void test_rename_file_cookie(void **state)
{
	struct fx *f = *state;
	struct watch_rec from, to;
	char a[8192];

	put(f, "old", "x");
	start(f);
	snprintf(a, sizeof(a), "%s", at(f, "old"));
	assert_int_equal(rename(a, at(f, "new")), 0);
	assert_true(expect(f, WATCH_MOVED_FROM, "old", 3, &from));
	assert_true(expect(f, WATCH_MOVED_TO, "new", 3, &to));
	assert_int_not_equal(from.cookie, 0);
	assert_int_equal(from.cookie, to.cookie);
}

static void test_rename_dir_then_write(void **state)
{
	struct fx *f = *state;
	struct watch_rec from, to;
	char a[8192];

	assert_int_equal(mkdir(at(f, "d1"), 0755), 0);
	assert_int_equal(mkdir(at(f, "d1/inner"), 0755), 0);
	assert_int_equal(mkdir(at(f, "other"), 0755), 0);
	start(f);
	snprintf(a, sizeof(a), "%s", at(f, "d1"));
	assert_int_equal(rename(a, at(f, "other/d2")), 0);
	assert_true(expect(f, WATCH_MOVED_FROM, "d1", 2, &from));
	assert_true(from.is_dir);
	assert_true(expect(f, WATCH_MOVED_TO, "other/d2", 8, &to));
	assert_int_equal(from.cookie, to.cookie);
	put(f, "other/d2/inner/f", "z");
	EXPECT(f, WATCH_CLOSE_WRITE, "other/d2/inner/f");
}

/* A directory rename moves what lies below it: to a longer name, to a
 * shorter one elsewhere, and two renames queued before either is read. */
static void test_rename_deep(void **state)
{
	struct fx *f = *state;
	char a[8192];
	const char *lng = "a-directory-name-longer-than-the-first";

	assert_int_equal(mkdir(at(f, "a"), 0755), 0);
	assert_int_equal(mkdir(at(f, "a/b"), 0755), 0);
	assert_int_equal(mkdir(at(f, "a/b/c"), 0755), 0);
	assert_int_equal(mkdir(at(f, "p"), 0755), 0);
	assert_int_equal(mkdir(at(f, "p/r"), 0755), 0);
	start(f);
	assert_int_equal(watch_count(f->w), 6);
	snprintf(a, sizeof(a), "%s", at(f, "a"));
	assert_int_equal(rename(a, at(f, lng)), 0);
	put(f, "a-directory-name-longer-than-the-first/b/c/f", "1");
	EXPECT(f, WATCH_CLOSE_WRITE, "a-directory-name-longer-than-the-first/b/c/f");
	snprintf(a, sizeof(a), "%s", at(f, "a-directory-name-longer-than-the-first/b"));
	assert_int_equal(rename(a, at(f, "x")), 0);
	put(f, "x/c/g", "2");
	EXPECT(f, WATCH_CLOSE_WRITE, "x/c/g");
	put(f, "a-directory-name-longer-than-the-first/h", "3");
	EXPECT(f, WATCH_CLOSE_WRITE, "a-directory-name-longer-than-the-first/h");
	assert_int_equal(rmdir(at(f, "x/c")), -1);     /* not empty */
	assert_int_equal(unlink(at(f, "x/c/f")), 0);
	assert_int_equal(unlink(at(f, "x/c/g")), 0);
	assert_int_equal(rmdir(at(f, "x/c")), 0);
	EXPECT(f, WATCH_DELETE, "x/c");
	for (long d = now_ms() + WAIT_MS; watch_count(f->w) != 5 && now_ms() < d;)
		usleep(1000);
	assert_int_equal(watch_count(f->w), 5);
	/* both renames queued before the first is read */
	snprintf(a, sizeof(a), "%s", at(f, "p"));
	assert_int_equal(rename(a, at(f, "q")), 0);
	snprintf(a, sizeof(a), "%s", at(f, "q/r"));
	assert_int_equal(rename(a, at(f, "r2")), 0);
	put(f, "r2/i", "4");
	EXPECT(f, WATCH_CLOSE_WRITE, "r2/i");
	put(f, "q/j", "5");
	EXPECT(f, WATCH_CLOSE_WRITE, "q/j");
	assert_int_equal(watch_count(f->w), 5);
}

static void test_move_dir_out_and_in(void **state)
{
	struct fx *f = *state;
	char out[128], in[8192];

	snprintf(out, sizeof(out), "%s.out", f->dir);
	assert_int_equal(mkdir(out, 0755), 0);
	assert_int_equal(mkdir(at(f, "leaving"), 0755), 0);
	start(f);
	assert_int_equal(watch_count(f->w), 2);
	snprintf(in, sizeof(in), "%s", at(f, "leaving"));
	assert_int_equal(rename(in, out), 0);
	EXPECT(f, WATCH_MOVED_FROM, "leaving");
	/* watches for the departed directory are dropped once idle */
	for (long d = now_ms() + WAIT_MS; watch_count(f->w) != 1 && now_ms() < d;)
		usleep(1000);
	assert_int_equal(watch_count(f->w), 1);
	/* moved back in: reported as a new directory with its contents */
	snprintf(in, sizeof(in), "%s/kept", out);
	int fd = open(in, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rename(out, at(f, "back")), 0);
	EXPECT(f, WATCH_DIR_CREATED, "back");
	EXPECT(f, WATCH_CREATE, "back/kept");
	put(f, "back/new", "1");
	EXPECT(f, WATCH_CLOSE_WRITE, "back/new");
}

static void test_delete_and_attrib(void **state)
{
	struct fx *f = *state;
	struct watch_rec rec;

	put(f, "victim", "x");
	assert_int_equal(mkdir(at(f, "dir"), 0755), 0);
	start(f);
	assert_int_equal(chmod(at(f, "victim"), 0600), 0);
	EXPECT(f, WATCH_ATTRIB, "victim");
	assert_int_equal(unlink(at(f, "victim")), 0);
	EXPECT(f, WATCH_DELETE, "victim");
	assert_int_equal(rmdir(at(f, "dir")), 0);
	assert_true(expect(f, WATCH_DELETE, "dir", 3, &rec));
	assert_true(rec.is_dir);
	for (long d = now_ms() + WAIT_MS; watch_count(f->w) != 1 && now_ms() < d;)
		usleep(1000);
	assert_int_equal(watch_count(f->w), 1);
}

static void test_newline_and_high_bytes(void **state)
{
	struct fx *f = *state;
	const char name[] = "new\nline\xff";

	start(f);
	put(f, name, "x");
	assert_true(expect(f, WATCH_CLOSE_WRITE, name, sizeof(name) - 1, NULL));
}

static void test_exclude(void **state)
{
	struct fx *f = *state;

	f->ex = exclude_new();
	assert_non_null(f->ex);
	assert_int_equal(exclude_add(f->ex, "*.swp"), 0);
	assert_int_equal(exclude_add(f->ex, "/cache/"), 0);
	assert_int_equal(mkdir(at(f, "cache"), 0755), 0);
	start(f);
	assert_int_equal(watch_count(f->w), 1);
	put(f, "a.swp", "x");
	put(f, "cache/x", "x");
	put(f, "marker", "x");
	/* everything before the marker was excluded */
	struct watch_rec rec;
	long deadline = now_ms() + WAIT_MS;

	while (next(f, &rec, deadline) && strcmp(rec.path, "marker"))
		assert_true(strcmp(rec.path, "a.swp") && strncmp(rec.path, "cache", 5));
	assert_string_equal(rec.path, "marker");
}

static void test_overflow(void **state)
{
	struct fx *f = *state;
	FILE *fp = fopen(QUEUED_PATH, "re");
	bool overflow = false;
	struct watch_rec rec;
	long deadline;

	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%ld", &saved_queued), 1);
	fclose(fp);
	/* the kernel reads the limit when the inotify instance is created */
	write_long(QUEUED_PATH, 64);
	put(f, "a", "x");
	put(f, "b", "x");
	start(f);
	restore_queued();
	/* Not reading: the pipe fills, the thread blocks, the queue overflows.
	 * Alternate two names so the kernel cannot merge the events. */
	for (int i = 0; i < 200000; i++)
		assert_int_equal(chmod(at(f, i & 1 ? "a" : "b"), i & 2 ? 0600 : 0644), 0);
	deadline = now_ms() + 10000;
	while (!overflow && next(f, &rec, deadline))
		overflow = rec.kind == WATCH_OVERFLOW;
	assert_true(overflow);
}

/* A watcher of the subdirectory sub of f's directory, as a second fixture
 * (its records are read with the same helpers); teardown stops it. */
static struct fx *sub_fx(struct fx *f, const char *sub)
{
	struct fx *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	assert_true((size_t)snprintf(g->dir, sizeof(g->dir), "%s/%s", f->dir, sub) <
		    sizeof(g->dir));
	assert_int_equal(mkdir(g->dir, 0755), 0);
	f->sub = g;
	return g;
}

/* Nothing for a path starting with pre arrives within ms. */
static bool quiet_for(struct fx *f, const char *pre, long ms)
{
	long deadline = now_ms() + ms;
	struct watch_rec rec;

	while (next(f, &rec, deadline))
		if (rec.path_len >= strlen(pre) && !memcmp(rec.path, pre, strlen(pre)))
			return false;
	return true;
}

/* Two roots in one process: each watcher reports its own tree only, a
 * rename in one is not seen by the other, and stopping one leaves the
 * other running. */
static void test_two_roots(void **state)
{
	struct fx *f = *state, *a = sub_fx(f, "a"), *b = sub_fx(a, "../b");
	struct watch_rec from, to;
	char old[8192];

	put(a, "x", "1");
	assert_int_equal(watch_start(a->dir, NULL, &a->w), 0);
	assert_int_equal(watch_start(b->dir, NULL, &b->w), 0);
	snprintf(old, sizeof(old), "%s", at(a, "x"));
	assert_int_equal(rename(old, at(a, "x2")), 0);
	put(b, "y", "2");
	assert_true(expect(a, WATCH_MOVED_FROM, "x", 1, &from));
	assert_true(expect(a, WATCH_MOVED_TO, "x2", 2, &to));
	assert_int_equal(from.cookie, to.cookie);
	EXPECT(b, WATCH_CLOSE_WRITE, "y");
	assert_true(quiet_for(b, "x", 300));
	assert_true(quiet_for(a, "y", 300));
	watch_stop(a->w);
	a->w = NULL;
	put(b, "z", "3");
	EXPECT(b, WATCH_CLOSE_WRITE, "z");
}

/* Overflow when one busy root floods the shared kernel queue (one
 * libinotifytools instance per process): events of every root were lost,
 * so every root is told to rescan, the quiet one too, and both go on. */
static bool saw_overflow(struct fx *f)
{
	struct watch_rec rec;

	while (next(f, &rec, now_ms() + 10000))
		if (rec.kind == WATCH_OVERFLOW)
			return true;
	return false;
}

static void test_overflow_all_roots(void **state)
{
	struct fx *f = *state, *a = sub_fx(f, "a"), *b = sub_fx(a, "../b");
	FILE *fp = fopen(QUEUED_PATH, "re");
	struct watch_rec rec;

	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%ld", &saved_queued), 1);
	fclose(fp);
	put(a, "p", "x");
	put(a, "q", "x");
	write_long(QUEUED_PATH, 64);
	assert_int_equal(watch_start(a->dir, NULL, &a->w), 0);
	restore_queued();
	assert_int_equal(watch_start(b->dir, NULL, &b->w), 0);
	put(b, "y", "2");
	EXPECT(b, WATCH_CLOSE_WRITE, "y");
	for (int i = 0; i < 200000; i++)
		assert_int_equal(chmod(at(a, i & 1 ? "p" : "q"), i & 2 ? 0600 : 0644), 0);
	assert_true(saw_overflow(a));
	assert_true(saw_overflow(b));
	while (next(b, &rec, now_ms() + 300))
		;       /* the rest of the burst's records */
	put(b, "z", "3");
	EXPECT(b, WATCH_CLOSE_WRITE, "z");
}

static void test_missing_root(void **state)
{
	struct fx *f = *state;
	struct watch *w = NULL;

	assert_int_equal(watch_start(at(f, "nope"), NULL, &w), -ENOENT);
	assert_null(w);
}

static void test_many_dirs_cost(void **state)
{
	struct fx *f = *state;
	struct timespec t0, t1;
	char p[64];

	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof(p), "d%d", i);
		assert_int_equal(mkdir(at(f, p), 0755), 0);
		for (int k = 0; k < 100; k++) {
			snprintf(p, sizeof(p), "d%d/s%d", i, k);
			assert_int_equal(mkdir(at(f, p), 0755), 0);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	start(f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(watch_count(f->w), 10101);
	print_message("watch: 10101 directories watched in %.1f ms\n",
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	put(f, "d99/s99/f", "x");
	EXPECT(f, WATCH_CLOSE_WRITE, "d99/s99/f");
}

/* The initial walk's order is the ordered walk's: path + "/" bytewise,
 * the root first. */
static void test_dir_cmp(void **state)
{
	static const char *const v[] = { "", "a b", "a-b", "a.b", "a", "a/x", "a/x/y",
					 "a/x0", "a0", "b", "b\xff", "\xff" };
	size_t n = sizeof(v) / sizeof(v[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int c = watch_dir_cmp(v[i], strlen(v[i]), v[j], strlen(v[j]));

			if (i < j)
				assert_true(c < 0);
			else if (i > j)
				assert_true(c > 0);
			else
				assert_int_equal(c, 0);
		}
	}
}

static int cmp_paths(const void *pa, const void *pb)
{
	const char *a = *(char *const *)pa, *b = *(char *const *)pb;

	return watch_dir_cmp(a, strlen(a), b, strlen(b));
}

/* A reader that lists each directory as soon as watch_wait_dir lets it,
 * in the walk's order, while the watches are still being added: a file
 * made there right after is an event, never missed. */
static void test_async_start_frontier(void **state)
{
	static const char *const top[] = { "a", "a b", "a-b", "a.b", "a0" };
	struct fx *f = *state;
	enum { NT = 5, NS = 300 };
	char *dirs[NT * NS + NT], p[64];
	size_t n = 0;
	int seen = 0;

	for (int i = 0; i < NT; i++) {
		assert_int_equal(mkdir(at(f, top[i]), 0755), 0);
		assert_non_null(dirs[n++] = strdup(top[i]));
		for (int k = 0; k < NS; k++) {
			snprintf(p, sizeof(p), "%s/s%d", top[i], k);
			assert_int_equal(mkdir(at(f, p), 0755), 0);
			assert_non_null(dirs[n++] = strdup(p));
		}
	}
	qsort(dirs, n, sizeof(*dirs), cmp_paths);
	assert_int_equal(watch_start_async(f->dir, NULL, &f->w), 0);
	/* the last directories first (the wait is the whole initial walk's),
	 * then the others in the walk's order, as idxwalk lists them */
	for (size_t k = 0; k < n; k++) {
		size_t i = k < 100 ? n - 1 - k : k - 100;

		watch_wait_dir(f->w, dirs[i], strlen(dirs[i]));
		snprintf(p, sizeof(p), "%s/new", dirs[i]);
		put(f, p, "x");
	}
	assert_int_equal(watch_start_result(f->w, true), 0);
	assert_int_equal(watch_count(f->w), n + 1);
	long deadline = now_ms() + WAIT_MS;
	struct watch_rec rec;
	while (seen < (int)n && next(f, &rec, deadline))
		seen += rec.kind == WATCH_CLOSE_WRITE;
	assert_int_equal(seen, (int)n);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
}

/* Read what is buffered without waiting; count the CLOSE_WRITE records. */
static int read_ready(struct fx *f)
{
	struct watch_rec rec;
	int r, n = 0;

	while ((r = watch_read(f->w, &rec)) == 1)
		n += rec.kind == WATCH_CLOSE_WRITE;
	assert_int_equal(r, -EAGAIN);
	return n;
}

/* Once a sync point is reached, every event made before the request can be
 * read at once, without waiting for the thread. */
static void test_sync_point(void **state)
{
	struct fx *f = *state;
	char name[32];
	int seen = 0;

	start(f);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		put(f, name, "x");
	}
	uint64_t gen = watch_sync_request(f->w);
	long deadline = now_ms() + WAIT_MS;

	assert_true(gen > 0);
	while (!watch_synced(f->w, gen)) {
		struct pollfd p = { .fd = watch_fd(f->w), .events = POLLIN };

		assert_true(now_ms() < deadline);
		seen += read_ready(f);
		assert_true(poll(&p, 1, 5) >= 0);
	}
	seen += read_ready(f);
	assert_int_equal(seen, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_point, setup, teardown),
		cmocka_unit_test(test_dir_cmp),
		cmocka_unit_test_setup_teardown(test_async_start_frontier, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_tree_watched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p_then_file_no_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_file_cookie, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_dir_then_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_dir_out_and_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_attrib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newline_and_high_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclude, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_moved_before_listed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_all_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_dirs_cost, setup, teardown),
	};

	if (access(QUEUED_PATH, W_OK) != 0 && getenv("CI") && !strcmp(getenv("CI"), "true")) {
		fprintf(stderr, "test_watch: needs root for %s\n", QUEUED_PATH);
		return 1;
	}
	if (access(QUEUED_PATH, W_OK) != 0) {
		fprintf(stderr, "test_watch: SKIP, needs root for %s\n", QUEUED_PATH);
		return 77;
	}
	atexit(restore_queued);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
