/* test_session: whole transfer sessions over a socketpair, without
 * namespaces.  The receiver runs in a thread (blocking loop), the sender in
 * the main thread (non-blocking loop), fed by a tree scan exactly as push.c
 * does; the HELLO handshake is the program's business and is skipped.
 *
 * Each test builds a source tree and an empty or pre-populated sink tree in
 * a fresh temp dir, syncs, and compares the two trees in process with
 * scan.h: type, mode, owner, size, content, mtime in ns, symlink targets,
 * hardlink groups and xattr blobs (plus treecmp when $TREECMP names it).
 * Then protocol violations fed straight to receiver_frame(): each must fail
 * the frame or the one operation, never crash, and touch nothing outside
 * the root.
 *
 * Under valgrind openat2 is missing,
 * so there the sink resolves paths with path.c's component walk instead:
 * running both covers both. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

/* exclude.h has a slash-star inside its comment; tolerate it (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "fsmeta.h"
#include "hash.h"
#include "log.h"
#include "proto.h"
#include "receiver.h"
#include "scan.h"
#include "sender.h"
#include "session.h"
#include "stream.h"

#define PASS_TIMEOUT_S 60
#define MIB (1024u * 1024u)

struct fixture {
	char *base;             /* temp dir holding src/, dst/ and outside/ */
	int basefd, srcfd, dstfd;
	struct timespec t0;
};

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (!fx || asprintf(&fx->base, "%s/test_session.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return -1;
	if (!mkdtemp(fx->base))
		return -1;
	fx->basefd = open(fx->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx->basefd < 0 || mkdirat(fx->basefd, "src", 0755) < 0 ||
	    mkdirat(fx->basefd, "dst", 0755) < 0 || mkdirat(fx->basefd, "outside", 0755) < 0)
		return -1;
	fx->srcfd = openat(fx->basefd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx->dstfd = openat(fx->basefd, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx->srcfd < 0 || fx->dstfd < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &fx->t0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char *cmd;
	int r;

	print_message("    (%.2f s)\n", elapsed(&fx->t0));
	close(fx->srcfd);
	close(fx->dstfd);
	close(fx->basefd);
	if (asprintf(&cmd, "rm -rf '%s'", fx->base) < 0)
		return -1;
	r = system(cmd);
	free(cmd);
	free(fx->base);
	free(fx);
	return r == 0 ? 0 : -1;
}

/* ---- tree building ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 32);
}

static void set_mtime(int dfd, const char *name, int64_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	assert_int_equal(utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* A file of size bytes of pseudo-random content (not compressible). */
static void mkfile_sized(int dfd, const char *name, size_t size, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t *buf = malloc(size ? size : 1);

	assert_true(fd >= 0);
	assert_non_null(buf);
	fill_random(buf, size);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	free(buf);
	set_mtime(dfd, name, 1600000000 + (int64_t)(rng() % 100000), (long)(rng() % 1000000000));
}

static int truncate_at(int dfd, const char *name, off_t size)
{
	int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
	int r = fd >= 0 && ftruncate(fd, size) == 0 ? 0 : -1;

	if (fd >= 0)
		close(fd);
	return r;
}

static void mkfile_text(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void mkdir_p(int dfd, const char *path)
{
	char *p = strdup(path);

	assert_non_null(p);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		assert_true(mkdirat(dfd, p, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	assert_true(mkdirat(dfd, p, 0755) == 0 || errno == EEXIST);
	free(p);
}

static bool exists_at(int dfd, const char *path)
{
	struct stat st;

	return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static size_t count_children(int dfd, const char *path)
{
	size_t n = 0;
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- one sync pass ---- */

struct rthread {
	int fd, rootfd;
	int rc;
	bool started;
	struct receiver_stats st;
};

/* No cmocka asserts here: they longjmp and belong to the main thread. */
static void *receiver_main(void *arg)
{
	struct rthread *t = arg;
	struct stream *s = stream_new(t->fd);
	struct receiver_opts ro = { .mirror = "test",
				    .meta_flags = FSMETA_XATTRS |
						  (geteuid() == 0 ? FSMETA_OWNER : 0) };
	struct receiver *r = s ? receiver_new(t->rootfd, &ro, stream_out(s)) : NULL;

	if (!s)
		close(t->fd);
	if (!r) {
		t->rc = -ENOMEM;
	} else {
		t->started = true;
		t->rc = session_run_receiver(s, r, "test receiver");
		t->st = *receiver_stats(r);
	}
	receiver_free(r);
	stream_free(s);
	return NULL;
}

struct pass {
	int sender_rc;
	int receiver_rc;
	uint64_t scan_errors;
	struct sender_stats ss;
	struct receiver_stats rs;
	struct stream_stats wire;
};

static volatile sig_atomic_t g_stop;

static void on_alarm(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* A feed of given operations (then the end), for passes that are no scan. */
struct list_feed {
	struct sender_op *ops;
	size_t n, next;
	unsigned answered, answered_ok;   /* on_file calls */
	unsigned written;                 /* of them with content sent */
	uint64_t last_size;
};

static int list_feed_next(void *ctx, struct sender_op *ret)
{
	struct list_feed *f = ctx;

	if (f->next == f->n)
		return 2;
	*ret = f->ops[f->next];
	memset(&f->ops[f->next++], 0, sizeof(*ret));
	return 1;
}

static void list_on_file(void *ctx, const struct entry *e, int status, bool written)
{
	struct list_feed *f = ctx;

	f->answered++;
	f->answered_ok += status == 0;
	f->last_size = e->size;
	f->written += written;
}

static void run_pass_feed(struct fixture *fx, struct list_feed *lf, struct pass *ret);

/* Sync src -> dst over a socketpair; fills ret. */
static void run_pass(struct fixture *fx, struct pass *ret)
{
	run_pass_feed(fx, NULL, ret);
}

/* With lf, its operations instead of a scan of src. */
static void run_pass_feed(struct fixture *fx, struct list_feed *lf, struct pass *ret)
{
	int sv[2];
	pthread_t th;
	sigset_t block, old;
	struct rthread t = { .rootfd = fx->dstfd };
	struct scan_opts so = { .xattrs = true };
	struct sender_scan_feed feed = { .mirror = "test" };
	struct sigaction sa = { .sa_handler = on_alarm };

	memset(ret, 0, sizeof(*ret));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.fd = sv[1];
	/* SIGALRM (the watchdog) must interrupt the sender's poll, not the
	 * receiver thread. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
	assert_int_equal(pthread_create(&th, NULL, receiver_main, &t), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);

	assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
	struct stream *s = stream_new(sv[0]);
	assert_non_null(s);
	feed.scan = scan_new(fx->srcfd, &so);
	assert_non_null(feed.scan);
	struct sender_feed sf = { sender_scan_feed_next, &feed };
	struct sender_opts opts = { .mirror = "test", .compress_level = 1 };
	if (lf) {
		sf = (struct sender_feed){ list_feed_next, lf };
		opts.on_file = list_on_file;
		opts.ctx = lf;
	}
	struct sender *snd = sender_new(fx->srcfd, &opts, &sf);
	assert_non_null(snd);

	g_stop = 0;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	alarm(PASS_TIMEOUT_S);
	ret->sender_rc = session_run_sender(s, snd, &g_stop);
	alarm(0);
	ret->ss = *sender_stats(snd);
	ret->wire = *stream_stats(s);
	ret->scan_errors = feed.errors;
	assert_int_equal(sender_in_flight(snd), 0);
	sender_free(snd);
	scan_free(feed.scan);
	stream_free(s);           /* closes sv[0]: the receiver sees the end */
	assert_int_equal(pthread_join(th, NULL), 0);
	ret->receiver_rc = t.rc;
	ret->rs = t.st;
	assert_true(t.started);
}

/* A pass that must succeed without per-operation errors. */
static void run_pass_ok(struct fixture *fx, struct pass *ret)
{
	run_pass(fx, ret);
	assert_int_equal(ret->sender_rc, 0);
	assert_int_equal(ret->receiver_rc, 0);
	assert_int_equal(ret->scan_errors, 0);
	assert_int_equal(ret->ss.errors, 0);
	assert_int_equal(ret->ss.retries, 0);
	assert_int_equal(ret->rs.errors, 0);
}

/* ---- tree comparison ---- */

struct node {
	struct entry e;         /* ENT_HARDLINK folded into ENT_FILE */
	const char *group;      /* smallest path sharing the inode (files) */
	blkcnt_t blocks;
};

struct tree {
	struct node *v;
	size_t n, cap;
};

static int cmp_node_path(const void *a, const void *b)
{
	const struct entry *x = &((const struct node *)a)->e;
	const struct entry *y = &((const struct node *)b)->e;
	size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
	int c = memcmp(x->path, y->path, n);

	return c ? c : (x->path_len > y->path_len) - (x->path_len < y->path_len);
}

static int cmp_node_ino(const void *a, const void *b)
{
	const struct node *x = *(const struct node *const *)a;
	const struct node *y = *(const struct node *const *)b;

	if (x->e.ino != y->e.ino)
		return x->e.ino < y->e.ino ? -1 : 1;
	return cmp_node_path(x, y);
}

static void tree_load(int rootfd, struct tree *t)
{
	struct scan_opts so = { .xattrs = true };
	struct scan *sc = scan_new(rootfd, &so);
	struct entry e = { 0 };
	int rc;

	memset(t, 0, sizeof(*t));
	assert_non_null(sc);
	while ((rc = scan_next(sc, &e)) != SCAN_END) {
		if (rc < 0)
			fail_msg("scan error at '%s': %s", e.path ? e.path : "?", strerror(-rc));
		if (rc == SCAN_DIR_DONE) {
			entry_clear(&e);
			continue;
		}
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 256;
			t->v = realloc(t->v, t->cap * sizeof(*t->v));
			assert_non_null(t->v);
		}
		struct node *nd = &t->v[t->n++];
		memset(nd, 0, sizeof(*nd));
		if (e.type == ENT_HARDLINK) {
			free(e.link);
			e.link = NULL;
			e.link_len = 0;
			e.type = ENT_FILE;
		}
		struct stat st;
		assert_int_equal(fstatat(rootfd, e.path_len ? e.path : ".", &st,
					 AT_SYMLINK_NOFOLLOW), 0);
		nd->blocks = st.st_blocks;
		nd->e = e;
		memset(&e, 0, sizeof(e));
	}
	scan_free(sc);
	qsort(t->v, t->n, sizeof(*t->v), cmp_node_path);
	/* hardlink groups: the smallest path of each inode */
	struct node **by = calloc(t->n + 1, sizeof(*by));
	size_t m = 0;
	assert_non_null(by);
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].e.type == ENT_FILE)
			by[m++] = &t->v[i];
	qsort(by, m, sizeof(*by), cmp_node_ino);
	for (size_t i = 0; i < m; i++)
		by[i]->group = i > 0 && by[i - 1]->e.ino == by[i]->e.ino ? by[i - 1]->group
									 : by[i]->e.path;
	free(by);
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		entry_clear(&t->v[i].e);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool same_content(int afd, int bfd, const char *path, uint64_t size)
{
	int a = openat(afd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int b = openat(bfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	uint8_t ha[HASH_LEN], hb[HASH_LEN];
	struct stat sa, sb;
	bool ok = a >= 0 && b >= 0 && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
		  (uint64_t)sa.st_size == size && (uint64_t)sb.st_size == size &&
		  hash_fd(a, ha) == 0 && hash_fd(b, hb) == 0 && memcmp(ha, hb, HASH_LEN) == 0;

	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return ok;
}

/* Number of differences between the two trees; each is printed. */
static unsigned tree_diff(int afd, int bfd)
{
	struct tree a, b;
	unsigned nd = 0;
	size_t i = 0, j = 0;

	tree_load(afd, &a);
	tree_load(bfd, &b);
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : cmp_node_path(&a.v[i], &b.v[j]);
		if (c != 0) {
			const struct entry *e = c < 0 ? &a.v[i++].e : &b.v[j++].e;
			print_message("only in %s: '%s'\n", c < 0 ? "source" : "sink", e->path);
			nd++;
			continue;
		}
		const struct node *x = &a.v[i++], *y = &b.v[j++];
		const struct entry *p = &x->e, *q = &y->e;
		const char *why = NULL;
		if (p->type != q->type)
			why = "type";
		else if (p->mode != q->mode)
			why = "mode";
		else if (p->uid != q->uid || p->gid != q->gid)
			why = "owner";
		else if (p->type == ENT_FILE && p->size != q->size)
			why = "size";
		else if (p->type != ENT_SYMLINK &&
			 (p->mtime_sec != q->mtime_sec || p->mtime_nsec != q->mtime_nsec))
			why = "mtime";
		else if (p->type == ENT_SYMLINK && !same_bytes(p->link, p->link_len, q->link, q->link_len))
			why = "symlink target";
		else if (!same_bytes(p->xattrs, p->xattrs_len, q->xattrs, q->xattrs_len))
			why = "xattrs";
		else if (p->type == ENT_FILE && strcmp(x->group, y->group) != 0)
			why = "hardlink group";
		else if (p->type == ENT_FILE && !same_content(afd, bfd, p->path, p->size))
			why = "content";
		else if (p->type == ENT_FILE && x->blocks * 512 < (blkcnt_t)p->size / 2 &&
			 y->blocks * 512 >= (blkcnt_t)q->size / 2)
			why = "sparseness";
		if (why) {
			print_message("'%s' differs: %s\n", p->path, why);
			nd++;
		}
	}
	tree_free(&a);
	tree_free(&b);
	return nd;
}

/* Also ask treecmp (the integration tests' oracle) when $TREECMP names it. */
static void treecmp_agrees(const struct fixture *fx)
{
	const char *tool = getenv("TREECMP");
	char *cmd;

	if (!tool || !*tool)
		return;
	assert_true(asprintf(&cmd, "'%s' '%s/src' '%s/dst'", tool, fx->base, fx->base) > 0);
	int r = system(cmd);
	free(cmd);
	assert_true(WIFEXITED(r));
	assert_int_equal(WEXITSTATUS(r), 0);
}

static void assert_converged(const struct fixture *fx)
{
	assert_int_equal(tree_diff(fx->srcfd, fx->dstfd), 0);
	treecmp_agrees(fx);
}

/* ---- sessions ---- */

static void test_empty_tree(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.ops, 2);            /* root ENTRY, its DIR_DONE */
	assert_int_equal(p.ss.files_whole + p.ss.files_delta, 0);
	assert_int_equal(p.rs.entries, 1);
	assert_int_equal(p.rs.files, 0);
	assert_int_equal(count_children(fx->dstfd, "."), 0);
}

static const size_t sizes[] = { 0, 1, 4095, 4096, 70000, 3 * MIB };
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

static void build_sized_tree(int rootfd)
{
	static const mode_t modes[] = { 0644, 0600, 0755, 0444, 0640, 04755 };
	char name[64];

	mkdir_p(rootfd, "a/b/c");
	mkdir_p(rootfd, "d");
	for (size_t i = 0; i < N_SIZES; i++) {
		snprintf(name, sizeof(name), "%s/f%zu", i % 2 ? "a/b/c" : "a", sizes[i]);
		mkfile_sized(rootfd, name, sizes[i], modes[i]);
		snprintf(name, sizeof(name), "d/g%zu", sizes[i]);
		mkfile_sized(rootfd, name, sizes[i], 0644);
	}
	assert_int_equal(fchmodat(rootfd, "a/b", 0711, 0), 0);
	set_mtime(rootfd, "a/b/c", 1500000000, 1);
	set_mtime(rootfd, "a/b", 1500000001, 999999999);
	set_mtime(rootfd, "a", 1500000002, 5);
	set_mtime(rootfd, "d", 1500000003, 0);
}

/* Sizes around the page and delta thresholds, nested dirs, then a second
 * pass over the unchanged tree that moves no content at all. */
static void test_sizes_and_unchanged_resync(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	build_sized_tree(fx->srcfd);
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole, 2 * N_SIZES);
	assert_int_equal(p.ss.files_delta, 0);
	assert_int_equal(p.rs.files, 2 * N_SIZES);
	assert_int_equal(p.rs.deltas, 0);
	assert_true(p.ss.bytes_read >= 2 * (3 * MIB + 70000 + 8192));

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole, 0);
	assert_int_equal(p.ss.files_delta, 0);
	assert_int_equal(p.ss.bytes_read, 0);
	assert_int_equal(p.ss.data_bytes_sent, 0);
	assert_int_equal(p.rs.files, 0);
	assert_true(p.wire.bytes_out < 64 * 1024);
}

/* One byte changed inside a 3 MiB file goes by delta. */
static void test_delta_one_byte(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	mkdir_p(fx->srcfd, "x/y");
	mkfile_sized(fx->srcfd, "x/y/big", 3 * MIB, 0644);
	mkfile_sized(fx->srcfd, "x/mid", 70000, 0644);
	run_pass_ok(fx, &p);
	assert_int_equal(p.ss.files_whole, 2);
	assert_converged(fx);

	int fd = openat(fx->srcfd, "x/y/big", O_RDWR | O_CLOEXEC);
	uint8_t c;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 1500001), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, 1500001), 1);
	close(fd);
	set_mtime(fx->srcfd, "x/y/big", 1700000000, 424242);
	set_mtime(fx->srcfd, "x/y", 1700000001, 1);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_delta, 1);
	assert_int_equal(p.ss.files_whole, 0);
	assert_int_equal(p.rs.deltas, 1);
	assert_int_equal(p.rs.files, 1);
	assert_true(p.ss.data_bytes_sent < 128 * 1024);
	assert_true(p.ss.delta_saved > 2 * MIB);
	assert_true(p.wire.bytes_out < 256 * 1024);
}

/* Extra files and directories on the sink go at DIR_DONE, at every depth,
 * including under a directory that is empty on the source. */
static void test_prune_extra(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	mkdir_p(fx->srcfd, "keep/sub");
	mkdir_p(fx->srcfd, "empty");
	mkfile_text(fx->srcfd, "keep/a", "a\n");
	mkfile_text(fx->srcfd, "keep/sub/b", "b\n");
	mkfile_text(fx->srcfd, "top", "top\n");

	mkdir_p(fx->dstfd, "old/deep/er");
	mkfile_text(fx->dstfd, "old/deep/er/f", "x");
	mkfile_text(fx->dstfd, "stale", "x");
	mkdir_p(fx->dstfd, "keep/sub/gone");
	mkfile_text(fx->dstfd, "keep/sub/gone/f", "x");
	mkfile_text(fx->dstfd, "keep/extra", "x");
	mkdir_p(fx->dstfd, "empty/junk");
	mkfile_text(fx->dstfd, "empty/junk2", "x");
	assert_int_equal(symlinkat("top", fx->dstfd, "keep/sub/link"), 0);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_false(exists_at(fx->dstfd, "old"));
	assert_false(exists_at(fx->dstfd, "stale"));
	assert_false(exists_at(fx->dstfd, "keep/extra"));
	assert_false(exists_at(fx->dstfd, "keep/sub/gone"));
	assert_false(exists_at(fx->dstfd, "keep/sub/link"));
	assert_int_equal(count_children(fx->dstfd, "empty"), 0);

	/* delete on the source, prune on the next pass */
	assert_int_equal(unlinkat(fx->srcfd, "keep/sub/b", 0), 0);
	assert_int_equal(unlinkat(fx->srcfd, "keep/sub", AT_REMOVEDIR), 0);
	assert_int_equal(unlinkat(fx->srcfd, "top", 0), 0);
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_false(exists_at(fx->dstfd, "keep/sub"));
}

/* A file becomes a directory and a directory becomes a file (and a symlink
 * becomes a file, a file a symlink) between passes. */
static void test_type_changes(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	mkfile_text(fx->srcfd, "f2d", "file first\n");
	mkdir_p(fx->srcfd, "d2f/sub");
	mkfile_text(fx->srcfd, "d2f/x", "x\n");
	mkfile_sized(fx->srcfd, "d2f/sub/y", 20000, 0644);
	mkfile_sized(fx->srcfd, "bigf2d", 40000, 0644);
	mkdir_p(fx->srcfd, "bigd2f");
	mkfile_sized(fx->srcfd, "bigd2f/z", 40000, 0644);
	assert_int_equal(symlinkat("f2d", fx->srcfd, "l2f"), 0);
	mkfile_text(fx->srcfd, "f2l", "soon a link\n");
	run_pass_ok(fx, &p);
	assert_converged(fx);

	assert_int_equal(unlinkat(fx->srcfd, "f2d", 0), 0);
	mkdir_p(fx->srcfd, "f2d/inner");
	mkfile_text(fx->srcfd, "f2d/inner/new", "new\n");
	char *cmd;
	assert_true(asprintf(&cmd, "rm -rf '%s/src/d2f' '%s/src/bigd2f' '%s/src/bigf2d'",
			     fx->base, fx->base, fx->base) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	mkfile_sized(fx->srcfd, "d2f", 5000, 0600);
	mkfile_sized(fx->srcfd, "bigd2f", 50000, 0600);   /* delta-sized, basis is a dir */
	mkdir_p(fx->srcfd, "bigf2d");
	mkfile_sized(fx->srcfd, "bigf2d/w", 30000, 0644);
	assert_int_equal(unlinkat(fx->srcfd, "l2f", 0), 0);
	mkfile_text(fx->srcfd, "l2f", "was a link\n");
	assert_int_equal(unlinkat(fx->srcfd, "f2l", 0), 0);
	assert_int_equal(symlinkat("d2f", fx->srcfd, "f2l"), 0);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_delta, 0);
}

/* Symlinks, dangling and pointing out of the tree, are copied as links and
 * never followed. */
static void test_symlinks(void **state)
{
	struct fixture *fx = *state;
	struct pass p;
	char *out;

	mkdir_p(fx->srcfd, "dir");
	mkfile_text(fx->srcfd, "dir/target", "t\n");
	assert_int_equal(symlinkat("target", fx->srcfd, "dir/rel"), 0);
	assert_int_equal(symlinkat("../dir", fx->srcfd, "dir/updir"), 0);
	assert_int_equal(symlinkat("no/such/thing", fx->srcfd, "dangling"), 0);
	assert_true(asprintf(&out, "%s/outside", fx->base) > 0);
	assert_int_equal(symlinkat(out, fx->srcfd, "abs"), 0);
	free(out);
	assert_int_equal(symlinkat("dir", fx->srcfd, "todir"), 0);
	assert_int_equal(symlinkat("x\ny\xff", fx->srcfd, "odd"), 0);
	set_mtime(fx->srcfd, "dangling", 1234567890, 12345);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(count_children(fx->basefd, "outside"), 0);

	/* retarget one link, keep the rest */
	assert_int_equal(unlinkat(fx->srcfd, "dangling", 0), 0);
	assert_int_equal(symlinkat("dir/target", fx->srcfd, "dangling"), 0);
	run_pass_ok(fx, &p);
	assert_converged(fx);
}

static void build_link_group(int rootfd)
{
	mkdir_p(rootfd, "a");
	mkdir_p(rootfd, "b/c");
	assert_int_equal(linkat(rootfd, "one", rootfd, "a/two", 0), 0);
	assert_int_equal(linkat(rootfd, "one", rootfd, "b/c/three", 0), 0);
	assert_int_equal(linkat(rootfd, "pair1", rootfd, "b/pair2", 0), 0);
	mkfile_text(rootfd, "b/single", "single\n");
}

static void assert_link_group(const struct fixture *fx)
{
	struct stat a, b, c;

	assert_int_equal(fstatat(fx->dstfd, "one", &a, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fstatat(fx->dstfd, "a/two", &b, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fstatat(fx->dstfd, "b/c/three", &c, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(a.st_nlink, 3);
	assert_true(a.st_ino == b.st_ino && a.st_ino == c.st_ino);
}

/* A group of three names for one inode across directories becomes one
 * inode on the sink.  The first name (in the root, so scanned first) already
 * reached the sink in an earlier pass; the new names are hardlinks to it. */
static void test_hardlinks(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	mkfile_sized(fx->srcfd, "one", 30000, 0640);
	mkfile_text(fx->srcfd, "pair1", "pair\n");
	set_mtime(fx->srcfd, "pair1", 1600000000, 3);
	run_pass_ok(fx, &p);
	assert_converged(fx);

	build_link_group(fx->srcfd);
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_link_group(fx);
	assert_int_equal(p.ss.files_whole, 1);           /* b/single */
	assert_int_equal(p.ss.files_delta, 0);

	/* unchanged: nothing moves, the group stays */
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole + p.ss.files_delta, 0);

	/* a new mode for the group: all its names are in the tree, so the
	 * sink changes it in place, without content */
	assert_int_equal(fchmodat(fx->srcfd, "one", 0604, 0), 0);
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_link_group(fx);
	assert_int_equal(p.ss.files_whole + p.ss.files_delta, 0);

	/* one name leaves the group */
	assert_int_equal(unlinkat(fx->srcfd, "b/c/three", 0), 0);
	run_pass_ok(fx, &p);
	assert_converged(fx);
}

/* A file of the sink's tree that someone on the sink made a hardlink to a
 * file outside the tree, with the source's size and mtime but another mode:
 * the sink replaces its name and leaves the outside file alone. */
static void test_hardlink_outside(void **state)
{
	struct fixture *fx = *state;
	struct pass p;
	struct stat st;

	mkfile_text(fx->srcfd, "victim", "secret\n");
	assert_int_equal(fchmodat(fx->srcfd, "victim", 0666, 0), 0);
	set_mtime(fx->srcfd, "victim", 1600000000, 5);
	mkfile_text(fx->basefd, "outside/keep", "secret\n");
	assert_int_equal(fchmodat(fx->basefd, "outside/keep", 0600, 0), 0);
	set_mtime(fx->basefd, "outside/keep", 1600000000, 5);
	assert_int_equal(linkat(fx->basefd, "outside/keep", fx->dstfd, "victim", 0), 0);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(fstatat(fx->basefd, "outside/keep", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(fstatat(fx->dstfd, "victim", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(p.ss.files_whole + p.ss.files_delta, 1);
}

/* The same group in one pass onto an empty sink: the first name's content
 * and its hardlinks travel together, so the target is renamed into place in
 * the same batch as the links are made (receiver_idle() commits first). */
static void test_hardlinks_fresh(void **state)
{
	struct fixture *fx = *state;
	struct pass p;

	mkfile_sized(fx->srcfd, "one", 30000, 0640);
	mkfile_text(fx->srcfd, "pair1", "pair\n");
	build_link_group(fx->srcfd);
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_link_group(fx);
	assert_int_equal(p.ss.files_whole, 3);
}

static void test_xattrs(void **state)
{
	struct fixture *fx = *state;
	struct pass p;
	static const char big[] = "a longer value \0 with a NUL inside";

	mkdir_p(fx->srcfd, "d");
	mkfile_text(fx->srcfd, "d/f", "with xattrs\n");
	if (setxattr(fx->base, "user.probe", "1", 1, 0) < 0 && errno == ENOTSUP) {
		const char *ci = getenv("CI");
		if (ci && !strcmp(ci, "true"))
			fail_msg("no user xattrs on the test file system");
		skip();
	}
	char *path;
	assert_true(asprintf(&path, "%s/src/d/f", fx->base) > 0);
	assert_int_equal(setxattr(path, "user.mirror", "value", 5, 0), 0);
	assert_int_equal(setxattr(path, "user.bin", big, sizeof(big), 0), 0);
	free(path);
	assert_true(asprintf(&path, "%s/src/d", fx->base) > 0);
	assert_int_equal(setxattr(path, "user.dir", "on a dir", 8, 0), 0);
	free(path);
	set_mtime(fx->srcfd, "d/f", 1600000000, 1);
	set_mtime(fx->srcfd, "d", 1600000000, 2);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	char v[16] = "";
	assert_true(asprintf(&path, "%s/dst/d/f", fx->base) > 0);
	assert_int_equal(getxattr(path, "user.mirror", v, sizeof(v)), 5);
	assert_memory_equal(v, "value", 5);

	/* an xattr removed on the source goes on the sink, content unchanged */
	char *spath;
	assert_true(asprintf(&spath, "%s/src/d/f", fx->base) > 0);
	assert_int_equal(removexattr(spath, "user.bin"), 0);
	free(spath);
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole, 0);
	assert_true(getxattr(path, "user.bin", v, sizeof(v)) < 0);
	free(path);
}

/* A 32 MiB file with two 4 KiB islands of data stays sparse. */
static void test_sparse(void **state)
{
	struct fixture *fx = *state;
	struct pass p;
	uint8_t island[4096];
	int fd = openat(fx->srcfd, "sparse", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32 * MIB), 0);
	fill_random(island, sizeof(island));
	assert_int_equal(pwrite(fd, island, sizeof(island), 4 * MIB), 4096);
	fill_random(island, sizeof(island));
	assert_int_equal(pwrite(fd, island, sizeof(island), 20 * MIB + 8192), 4096);
	close(fd);
	set_mtime(fx->srcfd, "sparse", 1600000000, 7);

	run_pass_ok(fx, &p);
	assert_converged(fx);
	struct stat st;
	assert_int_equal(fstatat(fx->dstfd, "sparse", &st, 0), 0);
	assert_int_equal(st.st_size, 32 * MIB);
	assert_true((uint64_t)st.st_blocks * 512 <= 256 * 1024);
	assert_true(p.ss.data_bytes_sent < 1 * MIB);
}

/* Names with a newline, 0xff bytes, spaces, a leading dash, 255 bytes. */
static void test_odd_names(void **state)
{
	struct fixture *fx = *state;
	struct pass p;
	char longname[256];

	memset(longname, 'L', 255);
	longname[255] = '\0';
	mkdir_p(fx->srcfd, "dir\nwith newline");
	mkdir_p(fx->srcfd, "\xff\xfe");
	mkfile_text(fx->srcfd, "dir\nwith newline/file\n", "nl\n");
	mkfile_text(fx->srcfd, "\xff\xfe/\xff", "ff\n");
	mkfile_text(fx->srcfd, "-dash", "dash\n");
	mkfile_text(fx->srcfd, " sp ace ", "sp\n");
	mkfile_text(fx->srcfd, "tab\there", "tab\n");
	mkfile_text(fx->srcfd, longname, "long\n");
	mkfile_text(fx->srcfd, ".mirrordish", "not a temp\n");
	/* a sink-only odd name is pruned */
	mkfile_text(fx->dstfd, "\xff\n", "extra");

	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole, 7);
	assert_false(exists_at(fx->dstfd, "\xff\n"));
}

/* 3000 small files: thousands of operations and NEEDs in flight. */
static void test_many_files(void **state)
{
	struct fixture *fx = *state;
	struct pass p;
	char name[64];

	for (int d = 0; d < 30; d++) {
		snprintf(name, sizeof(name), "d%02d", d);
		mkdir_p(fx->srcfd, name);
		int dfd = openat(fx->srcfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(dfd >= 0);
		for (int i = 0; i < 100; i++) {
			snprintf(name, sizeof(name), "f%03d", i);
			mkfile_sized(dfd, name, (size_t)(rng() % 300), 0644);
		}
		close(dfd);
	}
	/* a few already present and equal on the sink, a few stale */
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole, 3000);
	assert_int_equal(p.rs.files, 3000);
	assert_int_equal(p.ss.ops, 1 + 30 + 3000 + 31);

	/* touch 100 of them and sync again */
	for (int d = 0; d < 30; d += 3)
		for (int i = 0; i < 100; i += 10) {
			snprintf(name, sizeof(name), "d%02d/f%03d", d, i);
			mkfile_sized(fx->srcfd, name, 100, 0600);
		}
	run_pass_ok(fx, &p);
	assert_converged(fx);
	assert_int_equal(p.ss.files_whole, 100);
}

/* ---- appends to a growing file ---- */

/* One SOP_APPEND of src/name from base, as the live feed makes it. */
static void append_op(struct fixture *fx, const char *name, uint64_t base, struct sender_op *op)
{
	memset(op, 0, sizeof(*op));
	assert_int_equal(scan_stat(fx->srcfd, name, strlen(name), true, &op->e), 0);
	op->kind = SOP_APPEND;
	op->base = base;
}

static void grow_file(int dfd, const char *name, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	uint8_t *buf = malloc(n);

	assert_true(fd >= 0);
	assert_non_null(buf);
	fill_random(buf, n);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
	free(buf);
}

/* dst/name holds exactly the first n bytes of src/name. */
static bool same_prefix(struct fixture *fx, const char *name, uint64_t n)
{
	int a = openat(fx->srcfd, name, O_RDONLY | O_CLOEXEC);
	int b = openat(fx->dstfd, name, O_RDONLY | O_CLOEXEC);
	uint8_t *x = malloc(n + 1), *y = malloc(n + 1);
	bool same = a >= 0 && b >= 0 && x && y && pread(a, x, n, 0) == (ssize_t)n &&
		    pread(b, y, n + 1, 0) == (ssize_t)n && memcmp(x, y, n) == 0;

	close(a);
	close(b);
	free(x);
	free(y);
	return same;
}

/* dst/name equals src/name: content and mtime. */
static bool same_file(struct fixture *fx, const char *name)
{
	struct entry a = { 0 }, b = { 0 };
	size_t len = strlen(name);
	bool same = scan_stat(fx->srcfd, name, len, false, &a) == 0 &&
		    scan_stat(fx->dstfd, name, len, false, &b) == 0 &&
		    a.mtime_sec == b.mtime_sec && a.mtime_nsec == b.mtime_nsec &&
		    same_content(fx->srcfd, fx->dstfd, name, a.size);

	entry_clear(&a);
	entry_clear(&b);
	return same;
}

/* Only the new bytes travel, and the sink's copy becomes our prefix. */
static void test_append_ships_new_bytes(void **state)
{
	struct fixture *fx = *state;
	struct list_feed lf = { 0 };
	struct sender_op op;
	struct pass p;

	mkfile_sized(fx->srcfd, "log", 100000, 0644);
	run_pass_ok(fx, &p);
	grow_file(fx->srcfd, "log", 3 * MIB + 17);   /* several DATA frames */
	append_op(fx, "log", 100000, &op);
	grow_file(fx->srcfd, "log", 5000);           /* grows on while sent */
	lf.ops = &op;
	lf.n = 1;
	run_pass_feed(fx, &lf, &p);
	assert_int_equal(p.sender_rc, 0);
	assert_int_equal(p.ss.appends, 1);
	assert_int_equal(p.ss.retries, 0);
	assert_int_equal(p.rs.appends, 1);
	assert_int_equal(p.rs.files, 0);
	assert_true(p.ss.data_bytes_sent <= 3 * MIB + 17 + 1024);
	assert_true(p.ss.bytes_read == 3 * MIB + 17);
	assert_int_equal(lf.answered_ok, 1);
	assert_int_equal(lf.written, 1);
	assert_true(lf.last_size == 100000 + 3 * MIB + 17);
	assert_true(same_prefix(fx, "log", 100000 + 3 * MIB + 17));
}

/* A file the sink already holds is answered ok but not written: only
 * written content may resolve an error alert (the sink-failure backoff
 * rescans a directory whose other files are equal). */
static void test_equal_file_not_written(void **state)
{
	struct fixture *fx = *state;
	struct list_feed lf = { 0 };
	struct sender_op op;
	struct pass p;

	mkfile_sized(fx->srcfd, "same", 5000, 0644);
	run_pass_ok(fx, &p);
	memset(&op, 0, sizeof(op));
	assert_int_equal(scan_stat(fx->srcfd, "same", 4, true, &op.e), 0);
	op.kind = SOP_ENTRY;
	lf.ops = &op;
	lf.n = 1;
	run_pass_feed(fx, &lf, &p);
	assert_int_equal(p.sender_rc, 0);
	assert_int_equal(lf.answered, 1);
	assert_int_equal(lf.answered_ok, 1);
	assert_int_equal(lf.written, 0);
}

/* The sink's copy does not end as ours: the append is refused and the
 * file goes the normal way, so the trees still converge. */
static void test_append_refused_falls_back(void **state)
{
	struct fixture *fx = *state;
	struct list_feed lf = { 0 };
	struct sender_op op;
	struct pass p;

	mkfile_sized(fx->srcfd, "log", 50000, 0644);
	run_pass_ok(fx, &p);
	mkfile_sized(fx->dstfd, "log", 50000, 0644);  /* same size, other bytes */
	grow_file(fx->srcfd, "log", 4096);
	append_op(fx, "log", 50000, &op);
	lf.ops = &op;
	lf.n = 1;
	run_pass_feed(fx, &lf, &p);
	assert_int_equal(p.sender_rc, 0);
	assert_int_equal(p.ss.appends_refused, 1);
	assert_int_equal(p.ss.retries, 1);
	assert_int_equal(p.rs.appends, 0);
	assert_int_equal(p.rs.files, 1);
	assert_int_equal(lf.answered, 2);             /* refused, then the ENTRY */
	assert_int_equal(lf.answered_ok, 1);
	assert_true(same_file(fx, "log"));

	/* shorter than the op says (it shrank): sent as an ENTRY at once */
	append_op(fx, "log", 50000, &op);
	assert_int_equal(truncate_at(fx->srcfd, "log", 1000), 0);
	lf = (struct list_feed){ .ops = &op, .n = 1 };
	run_pass_feed(fx, &lf, &p);
	assert_int_equal(p.sender_rc, 0);
	assert_int_equal(p.ss.appends, 0);
	assert_int_equal(p.rs.appends, 0);
	assert_true(same_file(fx, "log"));
}

/* A sink copy with our size and mtime but other bytes (changed behind the
 * mirror's back) is left alone by a normal pass, and replaced by an ENTRY
 * with SOP_FORCE (the drift audit's repair), by delta. */
static void test_force_same_size_and_mtime(void **state)
{
	struct fixture *fx = *state;
	struct list_feed lf = { 0 };
	struct sender_op op = { .kind = SOP_ENTRY, .flags = SOP_FORCE };
	struct pass p;
	uint8_t c = 0x42;

	mkfile_sized(fx->srcfd, "f", 100000, 0644);
	set_mtime(fx->srcfd, "f", 1700000000, 123);
	run_pass_ok(fx, &p);
	int fd = openat(fx->dstfd, "f", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &c, 1, 50000), 1);
	close(fd);
	set_mtime(fx->dstfd, "f", 1700000000, 123);
	run_pass_ok(fx, &p);
	assert_int_equal(p.rs.files, 0);
	assert_false(same_file(fx, "f"));

	assert_int_equal(scan_stat(fx->srcfd, "f", 1, false, &op.e), 0);
	lf.ops = &op;
	lf.n = 1;
	run_pass_feed(fx, &lf, &p);
	assert_int_equal(p.sender_rc, 0);
	assert_int_equal(p.rs.files, 1);
	assert_int_equal(p.ss.files_delta, 1);
	assert_true(same_file(fx, "f"));
}

/* ---- protocol violations fed to receiver_frame() ---- */

struct raw {
	struct fixture *fx;
	struct wbuf out;        /* the receiver's replies */
	struct wbuf in;         /* frames we build */
	struct receiver *r;
};

static void raw_open(struct raw *rw, struct fixture *fx)
{
	struct receiver_opts ro = { .mirror = "raw", .meta_flags = FSMETA_XATTRS };

	memset(rw, 0, sizeof(*rw));
	rw->fx = fx;
	wbuf_init(&rw->out, 64 * MIB);
	wbuf_init(&rw->in, 64 * MIB);
	rw->r = receiver_new(fx->dstfd, &ro, &rw->out);
	assert_non_null(rw->r);
}

static void raw_close(struct raw *rw)
{
	receiver_free(rw->r);
	wbuf_free(&rw->out);
	wbuf_free(&rw->in);
}

/* Feed every frame built in rw->in; returns the first negative result, or
 * the last result. */
static int raw_feed(struct raw *rw)
{
	size_t off = 0;
	int rc = 0;

	assert_int_equal(rw->in.err, 0);
	while (off < rw->in.len) {
		struct wire_hdr h;
		assert_true(rw->in.len - off >= WIRE_HDR_LEN);
		assert_int_equal(wire_hdr_decode(rw->in.data + off, WIRE_MAX_PAYLOAD, &h), 0);
		assert_int_equal(proto_check_frame(&h, TO_SINK), 0);
		rc = receiver_frame(rw->r, &h, rw->in.data + off + WIRE_HDR_LEN);
		off += WIRE_HDR_LEN + h.len;
		if (rc < 0)
			break;
	}
	wbuf_reset(&rw->in);
	return rc;
}

/* Find the first reply of type in rw->out; its payload or NULL. */
static const uint8_t *raw_reply(struct raw *rw, uint8_t type, struct wire_hdr *ret)
{
	for (size_t off = 0; off + WIRE_HDR_LEN <= rw->out.len; off += WIRE_HDR_LEN + ret->len) {
		assert_int_equal(wire_hdr_decode(rw->out.data + off, WIRE_MAX_PAYLOAD, ret), 0);
		assert_int_equal(proto_check_frame(ret, TO_SOURCE), 0);
		if (ret->type == type)
			return rw->out.data + off + WIRE_HDR_LEN;
	}
	return NULL;
}

static void file_entry(struct entry *e, const char *path, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)path;
	e->path_len = strlen(path);
	e->type = ENT_FILE;
	e->mode = 0644;
	e->size = size;
	e->mtime_sec = 1600000000;
}

static void put_file_end(struct wbuf *b, uint64_t id, const void *data, size_t n)
{
	struct proto_file_end m = { .id = id, .status = FILE_OK, .size = n };

	hash_buf(data, n, m.digest);
	proto_put_file_end(b, &m);
}

/* APPEND frames straight to receiver_frame(): applied in place after the
 * commit, refused with DONE(-ESTALE) when the copy differs, and never
 * interleaved with other operations. */
static void raw_append(struct wbuf *b, uint64_t id, const char *path, const char *have,
		       const char *add)
{
	struct proto_append m = { .id = id, .path = (char *)path, .path_len = strlen(path),
				  .base = strlen(have), .length = strlen(add) };
	struct proto_file_end fe = { .id = id, .status = FILE_OK, .size = m.base + m.length };

	m.tail_len = m.base < PROTO_TAIL_MAX ? (uint32_t)m.base : PROTO_TAIL_MAX;
	hash_buf(have + m.base - m.tail_len, m.tail_len, m.tail);
	proto_put_append(b, &m);
	proto_put_chunk(b, MSG_DATA, 0, id, add, m.length);
	hash_buf(add, m.length, fe.digest);
	proto_put_file_end(b, &fe);
}

/* Commit until nothing waits: the batch a commit hands to the commit
 * thread, and the syncfs a commit leaves owed, are both done (a bounded
 * number of calls, as the input stays quiet). */
static void commit_all(struct receiver *r)
{
	for (int i = 0; i < 4 && receiver_commit_wait(r) >= 0; i++)
		assert_int_equal(receiver_idle(r), 0);
	assert_int_equal(receiver_commit_wait(r), -1);
}

static int32_t raw_done(struct raw *rw, uint64_t want)
{
	struct wire_hdr h;

	for (size_t off = 0; off + WIRE_HDR_LEN <= rw->out.len; off += WIRE_HDR_LEN + h.len) {
		uint64_t id;
		int32_t st;
		assert_int_equal(wire_hdr_decode(rw->out.data + off, WIRE_MAX_PAYLOAD, &h), 0);
		if (h.type == MSG_DONE &&
		    proto_get_done(rw->out.data + off + WIRE_HDR_LEN, h.len, &id, &st) == 0 &&
		    id == want)
			return st;
	}
	return 1;                /* no DONE */
}

static void test_raw_append(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct entry e;

	mkfile_text(fx->dstfd, "log", "0123456789");
	assert_int_equal(symlinkat("../outside", fx->dstfd, "esc"), 0);
	mkfile_text(fx->basefd, "outside/victim", "do not touch\n");
	raw_open(&rw, fx);
	raw_append(&rw.in, 1, "log", "0123456789", "abcde");
	assert_int_equal(raw_feed(&rw), 0);
	assert_int_equal(raw_done(&rw, 1), 1);            /* not before the commit */
	commit_all(rw.r);
	assert_int_equal(raw_done(&rw, 1), 0);
	assert_int_equal(receiver_stats(rw.r)->appends, 1);
	wbuf_reset(&rw.out);
	raw_append(&rw.in, 2, "log", "0123456789abcdX", "more");   /* tail differs */
	raw_append(&rw.in, 3, "log", "0123456789", "more");        /* size differs */
	raw_append(&rw.in, 4, "esc/victim", "do not touch\n", "evil");
	raw_append(&rw.in, 5, "none", "", "x");
	assert_int_equal(raw_feed(&rw), 0);
	assert_int_equal(raw_done(&rw, 2), -ESTALE);
	assert_int_equal(raw_done(&rw, 3), -ESTALE);
	assert_true(raw_done(&rw, 4) < 0);
	assert_int_equal(raw_done(&rw, 5), -ESTALE);
	assert_int_equal(receiver_idle(rw.r), 0);
	assert_false(exists_at(fx->dstfd, "none"));
	/* another operation between APPEND and its FILE_END */
	struct proto_append m = { .id = 6, .path = "log", .path_len = 3, .base = 15,
				  .length = 1, .tail_len = 15 };
	proto_put_append(&rw.in, &m);
	file_entry(&e, "other", 1);
	proto_put_entry(&rw.in, 7, &e);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);
	int fd = openat(fx->dstfd, "log", O_RDONLY | O_CLOEXEC);
	char buf[64] = { 0 };
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 15);
	close(fd);
	assert_string_equal(buf, "0123456789abcde");
	fd = openat(fx->basefd, "outside/victim", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf)), 13);
	close(fd);
	assert_string_equal(buf, "do not touch\n");
}

/* A keep-alive PING between a file's frames is answered, not refused as
 * a violation: a source whose output backed up mid-file may send one. */
static void test_raw_ping_mid_file(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct wire_hdr h;
	struct proto_append m = { .id = 1, .path = "log", .path_len = 3, .base = 10,
				  .length = 5, .tail_len = 10 };
	struct proto_file_end fe = { .id = 1, .status = FILE_OK, .size = 15 };

	mkfile_text(fx->dstfd, "log", "0123456789");
	raw_open(&rw, fx);
	hash_buf("0123456789", 10, m.tail);
	proto_put_append(&rw.in, &m);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 1, "abc", 3);
	proto_put_id(&rw.in, MSG_PING, 42);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 1, "de", 2);
	hash_buf("abcde", 5, fe.digest);
	proto_put_file_end(&rw.in, &fe);
	assert_int_equal(raw_feed(&rw), 0);
	assert_non_null(raw_reply(&rw, MSG_PONG, &h));
	commit_all(rw.r);
	assert_int_equal(raw_done(&rw, 1), 0);
	raw_close(&rw);
	int fd = openat(fx->dstfd, "log", O_RDONLY | O_CLOEXEC);
	char buf[32] = { 0 };
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 15);
	close(fd);
	assert_string_equal(buf, "0123456789abcde");
}

static void test_bad_data_before_need(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;

	raw_open(&rw, fx);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 1, "hello", 5);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);

	/* DATA for an id that is NEEDed, but not the first one NEEDed */
	struct entry e;
	raw_open(&rw, fx);
	file_entry(&e, "one", 5);
	proto_put_entry(&rw.in, 1, &e);
	file_entry(&e, "two", 5);
	proto_put_entry(&rw.in, 2, &e);
	assert_int_equal(raw_feed(&rw), 0);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 2, "hello", 5);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);

	/* DATA for an entry that was never a file */
	raw_open(&rw, fx);
	e.type = ENT_DIR;
	e.path = "dir";
	e.path_len = 3;
	proto_put_entry(&rw.in, 1, &e);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 1, "hello", 5);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);
	assert_false(exists_at(fx->dstfd, "one"));
	assert_false(exists_at(fx->dstfd, "two"));
	assert_int_equal(count_children(fx->basefd, "outside"), 0);
}

static void test_bad_file_end_unknown_id(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct entry e;

	raw_open(&rw, fx);
	put_file_end(&rw.in, 42, "", 0);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);

	raw_open(&rw, fx);
	file_entry(&e, "f", 5);
	proto_put_entry(&rw.in, 1, &e);
	assert_int_equal(raw_feed(&rw), 0);
	struct wire_hdr h;
	assert_non_null(raw_reply(&rw, MSG_NEED, &h));
	put_file_end(&rw.in, 7, "hello", 5);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);

	/* FILE_END for the right id after a different DATA id started */
	raw_open(&rw, fx);
	file_entry(&e, "f", 5);
	proto_put_entry(&rw.in, 1, &e);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 1, "hel", 3);
	put_file_end(&rw.in, 2, "hello", 5);
	assert_true(raw_feed(&rw) < 0);
	raw_close(&rw);
	assert_false(exists_at(fx->dstfd, "f"));
	assert_int_equal(count_children(fx->dstfd, "."), 0);
}

/* A good file, then a digest mismatch: DONE with an error, no file. */
/* Did out get DONE(id, 0)? */
static bool has_done(const struct wbuf *out, uint64_t want)
{
	struct wire_hdr h;

	for (size_t off = 0; off + WIRE_HDR_LEN <= out->len; off += WIRE_HDR_LEN + h.len) {
		uint64_t id;
		int32_t st;
		assert_int_equal(wire_hdr_decode(out->data + off, WIRE_MAX_PAYLOAD, &h), 0);
		if (h.type == MSG_DONE &&
		    proto_get_done(out->data + off + WIRE_HDR_LEN, h.len, &id, &st) == 0 &&
		    id == want && st == 0)
			return true;
	}
	return false;
}

static void test_digest_mismatch_is_per_op(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct entry e;
	struct wire_hdr h;

	raw_open(&rw, fx);
	file_entry(&e, "good", 5);
	proto_put_entry(&rw.in, 1, &e);
	file_entry(&e, "bad", 5);
	proto_put_entry(&rw.in, 2, &e);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 1, "hello", 5);
	put_file_end(&rw.in, 1, "hello", 5);
	proto_put_chunk(&rw.in, MSG_DATA, 0, 2, "hellO", 5);
	put_file_end(&rw.in, 2, "hello", 5);
	assert_int_equal(raw_feed(&rw), 0);
	/* the commit puts "good" in place (on the commit thread: the next
	 * call collects it); its DONE waits for the syncfs after that, which
	 * a later call (the input still quiet) makes */
	assert_int_equal(receiver_idle(rw.r), 0);
	assert_false(has_done(&rw.out, 1));
	for (int i = 0; i < 3 && !has_done(&rw.out, 1); i++) {
		assert_int_equal(receiver_commit_wait(rw.r) >= 0, 1);
		assert_true(exists_at(fx->dstfd, "good") || i == 0);
		assert_int_equal(receiver_idle(rw.r), 0);
	}
	assert_true(exists_at(fx->dstfd, "good"));
	assert_true(has_done(&rw.out, 1));
	assert_int_equal(receiver_commit_wait(rw.r), -1);
	assert_true(receiver_stats(rw.r)->errors >= 1);
	const uint8_t *pl = NULL;
	bool bad_done = false, good_done = false;
	for (size_t off = 0; off + WIRE_HDR_LEN <= rw.out.len; off += WIRE_HDR_LEN + h.len) {
		assert_int_equal(wire_hdr_decode(rw.out.data + off, WIRE_MAX_PAYLOAD, &h), 0);
		pl = rw.out.data + off + WIRE_HDR_LEN;
		uint64_t id;
		int32_t st;
		if (h.type == MSG_DONE && proto_get_done(pl, h.len, &id, &st) == 0) {
			good_done |= id == 1 && st == 0;
			bad_done |= id == 2 && st < 0;
		}
	}
	assert_true(good_done);
	assert_true(bad_done);
	assert_true(exists_at(fx->dstfd, "good"));
	assert_false(exists_at(fx->dstfd, "bad"));
	raw_close(&rw);
	assert_int_equal(count_children(fx->dstfd, "."), 1);   /* no temp left */
}

/* ---- sender and receiver in lock step, no socket ---- */

/* Operations in order; next() answers 0 (nothing yet) at pause, 2 at n. */
struct step_feed {
	struct sender_op ops[8];
	size_t n, next, pause;
};

static int step_feed_next(void *ctx, struct sender_op *ret)
{
	struct step_feed *f = ctx;

	if (f->next == f->pause)
		return 0;
	if (f->next == f->n)
		return 2;
	*ret = f->ops[f->next];
	memset(&f->ops[f->next++], 0, sizeof(*ret));
	return 1;
}

static void step_add(struct step_feed *f, struct fixture *fx, uint8_t kind, uint8_t flags,
		     const char *path)
{
	struct sender_op *op = &f->ops[f->n++];

	assert_true(f->n <= sizeof(f->ops) / sizeof(f->ops[0]));
	op->kind = kind;
	op->flags = flags;
	if (kind == SOP_DIR_DONE) {
		op->e.path = strdup(path);
		assert_non_null(op->e.path);
		op->e.path_len = strlen(path);
	} else {
		assert_int_equal(scan_stat(fx->srcfd, path, strlen(path), true, &op->e), 0);
	}
}

/* One round: the sender's output into the receiver, a commit, and the
 * receiver's replies back into the sender. */
static void step_round(struct sender *snd, struct raw *rw)
{
	struct wire_hdr h;

	assert_true(sender_produce(snd, &rw->in, 64 * MIB) >= 0);
	assert_int_equal(raw_feed(rw), 0);
	commit_all(rw->r);
	for (size_t off = 0; off + WIRE_HDR_LEN <= rw->out.len; off += WIRE_HDR_LEN + h.len) {
		assert_int_equal(wire_hdr_decode(rw->out.data + off, WIRE_MAX_PAYLOAD, &h), 0);
		assert_int_equal(sender_frame(snd, &h, rw->out.data + off + WIRE_HDR_LEN), 0);
	}
	wbuf_reset(&rw->out);
}

/* A file that changed while it was read is sent again.  That retry must
 * not land inside the listing of a directory of a pass (as a live pass
 * lists, without SOP_LISTED): the sink notes the names of one directory at
 * a time, an entry elsewhere cut the list, and the directory's DIR_DONE
 * deleted the children listed before the retry. */
static void test_retry_waits_for_listing_end(void **state)
{
	struct fixture *fx = *state;
	struct step_feed f = { 0 };
	struct raw rw;
	const char *kids[] = { "D/a", "D/b", "D/c" };

	mkdir_p(fx->srcfd, "X");
	mkdir_p(fx->srcfd, "D");
	mkdir_p(fx->dstfd, "X");
	mkdir_p(fx->dstfd, "D");
	mkfile_text(fx->srcfd, "X/r", "one\n");
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(symlinkat("t", fx->srcfd, kids[i]), 0);
		assert_int_equal(symlinkat("t", fx->dstfd, kids[i]), 0);
	}
	step_add(&f, fx, SOP_ENTRY, 0, "X/r");
	step_add(&f, fx, SOP_ENTRY, SOP_LISTING, "D/a");
	step_add(&f, fx, SOP_ENTRY, SOP_LISTING, "D/b");
	step_add(&f, fx, SOP_ENTRY, SOP_LISTING, "D/c");
	step_add(&f, fx, SOP_DIR_DONE, 0, "D");
	f.pause = 3;            /* the listing of D is under way */

	struct sender_feed sf = { step_feed_next, &f };
	struct sender_opts opts = { .mirror = "test", .compress_level = 1 };
	struct sender *snd = sender_new(fx->srcfd, &opts, &sf);
	assert_non_null(snd);
	raw_open(&rw, fx);
	step_round(snd, &rw);   /* X/r, D/a, D/b sent; X/r NEEDed */
	mkfile_text(fx->srcfd, "X/r", "two, longer\n");
	f.pause = SIZE_MAX;
	for (int i = 0; i < 8 && sender_in_flight(snd) > 0; i++)
		step_round(snd, &rw);
	assert_int_equal(sender_in_flight(snd), 0);
	assert_int_equal(sender_stats(snd)->retries, 1);
	for (size_t i = 0; i < 3; i++)
		assert_true(exists_at(fx->dstfd, kids[i]));
	assert_true(same_file(fx, "X/r"));
	sender_free(snd);
	raw_close(&rw);
}

/* An operation of another directory between a live listing's entries
 * (no LISTED flag: a live pass) neither cuts the listing's names nor takes
 * them over: at DIR_DONE the children listed before it are kept, whatever
 * they hold, and only the one not listed goes. */
static void test_listing_interleaved_keeps_children(void **state)
{
	struct fixture *fx = *state;
	const char *kids[] = { "D", "D/a", "D/b", "X/y", "D/c" };
	struct entry e = { .type = ENT_DIR, .mode = 0755, .mtime_sec = 1600000000 };
	struct raw rw;
	uint64_t id = 1;

	mkdir_p(fx->dstfd, "D/a/deep");
	mkfile_text(fx->dstfd, "D/a/deep/f", "kept\n");
	mkdir_p(fx->dstfd, "D/b");
	mkdir_p(fx->dstfd, "D/gone/sub");
	mkdir_p(fx->dstfd, "X");
	raw_open(&rw, fx);
	for (size_t i = 0; i < sizeof(kids) / sizeof(*kids); i++) {
		e.path = (char *)kids[i];
		e.path_len = strlen(kids[i]);
		proto_put_entry(&rw.in, id++, &e);
	}
	proto_put_path(&rw.in, MSG_DIR_DONE, id++, "D", 1);
	assert_int_equal(raw_feed(&rw), 0);
	assert_true(exists_at(fx->dstfd, "D/a/deep/f"));
	assert_true(exists_at(fx->dstfd, "D/b"));
	assert_true(exists_at(fx->dstfd, "D/c"));
	assert_true(exists_at(fx->dstfd, "X/y"));
	assert_false(exists_at(fx->dstfd, "D/gone"));
	/* a listing of a directory with no child left prunes all of it */
	e.path = "X";
	e.path_len = 1;
	proto_put_entry(&rw.in, id++, &e);
	proto_put_path(&rw.in, MSG_DIR_DONE, id++, "X", 1);
	assert_int_equal(raw_feed(&rw), 0);
	assert_int_equal(count_children(fx->dstfd, "X"), 0);
	raw_close(&rw);
}

/* What the sender reported back (on_unsent, on_settled). */
struct unsent_log {
	int err[4];
	uint32_t nlink[4];
	size_t n, settled;
};

static void log_unsent(void *ctx, uint64_t tag, const struct entry *e, int err)
{
	struct unsent_log *u = ctx;

	(void)tag;
	assert_true(u->n < 4);
	assert_int_equal(e->path_len, 1);
	u->err[u->n] = err;
	u->nlink[u->n++] = e->nlink;
}

static void log_settled(void *ctx, uint64_t tag)
{
	(void)tag;
	((struct unsent_log *)ctx)->settled++;
}

/* A file that changed while it was read and by its retry has another name
 * (here it became a hardlink to A) goes back to the feed rather than out
 * alone: new content under B would part it from A on the sink, and drop
 * a hardlink B -> A the sink still holds, with no link sent after it. */
static void test_retry_with_other_names_handed_back(void **state)
{
	struct fixture *fx = *state;
	struct step_feed f = { 0 };
	struct unsent_log u = { 0 };
	struct raw rw;
	char buf[16] = { 0 };

	mkfile_text(fx->srcfd, "A", "aaa\n");
	mkfile_text(fx->srcfd, "B", "bbbbbb\n");
	mkfile_text(fx->dstfd, "B", "old\n");
	step_add(&f, fx, SOP_ENTRY, 0, "B");
	f.pause = SIZE_MAX;

	struct sender_feed sf = { step_feed_next, &f };
	struct sender_opts opts = { .mirror = "test", .compress_level = 1,
				    .on_unsent = log_unsent, .on_settled = log_settled,
				    .ctx = &u };
	struct sender *snd = sender_new(fx->srcfd, &opts, &sf);
	assert_non_null(snd);
	raw_open(&rw, fx);
	step_round(snd, &rw);   /* B sent and NEEDed */
	assert_int_equal(unlinkat(fx->srcfd, "B", 0), 0);
	assert_int_equal(linkat(fx->srcfd, "A", fx->srcfd, "B", 0), 0);
	for (int i = 0; i < 8 && sender_in_flight(snd) > 0; i++)
		step_round(snd, &rw);
	assert_int_equal(sender_in_flight(snd), 0);
	assert_int_equal(sender_stats(snd)->retries, 1);
	assert_int_equal(u.n, 2);
	assert_int_equal(u.err[0], -ESTALE);     /* the try that changed */
	assert_int_equal(u.nlink[0], 1);
	assert_int_equal(u.err[1], -ESTALE);     /* handed back, as it is now */
	assert_int_equal(u.nlink[1], 2);
	assert_int_equal(u.settled, 1);
	int fd = openat(fx->dstfd, "B", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 4);
	close(fd);
	assert_string_equal(buf, "old\n");     /* nothing sent alone */
	sender_free(snd);
	raw_close(&rw);
}

/* A file ENTRY and, if the receiver NEEDs it, its content: DATA and
 * FILE_END.  Per-operation failures are fine; the frames must be accepted. */
static void raw_file(struct raw *rw, uint64_t id, const struct entry *e, const char *data)
{
	size_t n = strlen(data);
	struct wire_hdr h;
	bool need = false;

	wbuf_reset(&rw->out);
	proto_put_entry(&rw->in, id, e);
	assert_int_equal(raw_feed(rw), 0);
	for (size_t off = 0; off + WIRE_HDR_LEN <= rw->out.len; off += WIRE_HDR_LEN + h.len) {
		uint64_t nid;
		uint8_t mode;
		assert_int_equal(wire_hdr_decode(rw->out.data + off, WIRE_MAX_PAYLOAD, &h), 0);
		if (h.type == MSG_NEED &&
		    proto_get_need(rw->out.data + off + WIRE_HDR_LEN, h.len, &nid, &mode) == 0 &&
		    nid == id) {
			assert_int_equal(mode, NEED_WHOLE);
			need = true;
		}
	}
	if (!need)
		return;
	proto_put_chunk(&rw->in, MSG_DATA, 0, id, data, n);
	put_file_end(&rw->in, id, data, n);
	assert_int_equal(raw_feed(rw), 0);
}

enum relisted { NOT_LISTED, LISTED_LINK, LISTED_FILE };

/* A hardlink the sink holds (T's content is still to come) and then a
 * live pass, superseding the records that removed the link on the source:
 * the listing of d does not name d/X, so the held link must not be made
 * after it; one the listing names again is; a file the listing sends at
 * that name keeps its own content. */
static void held_link_then_pass(struct fixture *fx, enum relisted how)
{
	struct raw rw;
	struct entry t, x, root, d;
	const char *data = "new content\n";

	mkfile_text(fx->dstfd, "T", "old\n");
	mkdir_p(fx->dstfd, "d");
	raw_open(&rw, fx);
	file_entry(&t, "T", strlen(data));
	x = (struct entry){ .path = "d/X", .path_len = 3, .type = ENT_HARDLINK, .mode = 0644,
			    .link = "T", .link_len = 1 };
	root = (struct entry){ .path = "", .type = ENT_DIR, .mode = 0755 };
	d = (struct entry){ .path = "d", .path_len = 1, .type = ENT_DIR, .mode = 0755 };
	proto_put_entry(&rw.in, 1, &t);         /* NEEDed */
	proto_put_entry(&rw.in, 2, &x);         /* held */
	proto_put_entry(&rw.in, 3, &root);      /* the pass */
	proto_put_entry(&rw.in, 4, &t);
	proto_put_entry(&rw.in, 5, &d);
	proto_put_path(&rw.in, MSG_DIR_DONE, 6, "", 0);
	struct entry xf;
	file_entry(&xf, "d/X", 4);
	if (how == LISTED_LINK)
		proto_put_entry(&rw.in, 7, &x);
	else if (how == LISTED_FILE)
		proto_put_entry(&rw.in, 7, &xf);
	proto_put_path(&rw.in, MSG_DIR_DONE, 8, "d", 1);
	for (uint64_t id = 1; id <= 7; id += 3) {      /* each one NEEDed */
		if (id == 7 && how != LISTED_FILE)
			break;
		const char *c = id == 7 ? "own\n" : data;
		proto_put_chunk(&rw.in, MSG_DATA, 0, id, c, strlen(c));
		put_file_end(&rw.in, id, c, strlen(c));
	}
	assert_int_equal(raw_feed(&rw), 0);
	assert_false(receiver_awaiting(rw.r));
	assert_int_equal(receiver_idle(rw.r), 0);
	assert_int_equal(receiver_idle(rw.r), 0);
	assert_true(exists_at(fx->dstfd, "T"));
	assert_int_equal(exists_at(fx->dstfd, "d/X"), how != NOT_LISTED);
	if (how != NOT_LISTED) {
		struct stat a, b;
		assert_int_equal(fstatat(fx->dstfd, "T", &a, 0), 0);
		assert_int_equal(fstatat(fx->dstfd, "d/X", &b, 0), 0);
		assert_int_equal(a.st_ino == b.st_ino, how == LISTED_LINK);
	}
	raw_close(&rw);
}

static void test_held_link_unlisted_dropped(void **state)
{
	held_link_then_pass(*state, NOT_LISTED);
}

static void test_held_link_listed_kept(void **state)
{
	held_link_then_pass(*state, LISTED_LINK);
}

static void test_held_link_listed_as_file(void **state)
{
	held_link_then_pass(*state, LISTED_FILE);
}

/* The first bytes of dfd/path, NUL-terminated, in a static buffer; ""
 * when it cannot be read. */
static const char *slurp(int dfd, const char *path)
{
	static char buf[256];
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* A batch of new files goes to the commit thread at receiver_idle(); the
 * operations right behind it (rename, delete, hardlink, rename over
 * another file, a second write) need it in place, and find it there. */
static void test_pipelined_commit_order(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct entry e;
	struct stat s1, s2;
	char path[32], data[32];

	assert_int_equal(mkdirat(fx->dstfd, "d", 0755), 0);
	raw_open(&rw, fx);
	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof(path), "d/f%d", i);
		snprintf(data, sizeof(data), "content %d\n", i);
		file_entry(&e, path, strlen(data));
		raw_file(&rw, (uint64_t)i + 1, &e, data);
	}
	assert_int_equal(receiver_idle(rw.r), 0);      /* the batch goes */
	proto_put_rename(&rw.in, 301, "d/f0", 4, "d/r0", 4);
	proto_put_path(&rw.in, MSG_DELETE, 302, "d/f1", 4);
	file_entry(&e, "d/h2", 0);
	e.type = ENT_HARDLINK;
	e.link = "d/f2";
	e.link_len = 4;
	proto_put_entry(&rw.in, 303, &e);
	proto_put_rename(&rw.in, 304, "d/f3", 4, "d/f4", 4);
	assert_int_equal(raw_feed(&rw), 0);
	file_entry(&e, "d/f5", 7);
	e.mtime_sec++;
	raw_file(&rw, 305, &e, "second\n");
	commit_all(rw.r);
	assert_int_equal(receiver_stats(rw.r)->errors, 0);
	raw_close(&rw);
	assert_false(exists_at(fx->dstfd, "d/f0"));
	assert_string_equal(slurp(fx->dstfd, "d/r0"), "content 0\n");
	assert_false(exists_at(fx->dstfd, "d/f1"));
	assert_int_equal(fstatat(fx->dstfd, "d/h2", &s1, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fstatat(fx->dstfd, "d/f2", &s2, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_false(exists_at(fx->dstfd, "d/f3"));
	assert_string_equal(slurp(fx->dstfd, "d/f4"), "content 3\n");
	assert_string_equal(slurp(fx->dstfd, "d/f5"), "second\n");
	assert_string_equal(slurp(fx->dstfd, "d/f299"), "content 299\n");
	assert_int_equal(count_children(fx->dstfd, "d"), 299);   /* no temp left */
}

static const char *const bad_paths[] = {
	"..", "../outside/evil", "a/../../outside/evil", "/evil", "a//b", "./x", "x/",
	"a/./b", "../dst2",
};

/* Paths with "..", "." or absolute: the frame is refused, nothing is created
 * outside (or inside) the root, nothing outside is deleted or renamed. */
static void test_bad_dotdot_paths(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct entry e;

	mkfile_text(fx->basefd, "outside/victim", "do not touch\n");
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		static const uint8_t types[] = { ENT_FILE, ENT_DIR, ENT_SYMLINK, ENT_FIFO };
		for (size_t t = 0; t < sizeof(types); t++) {
			raw_open(&rw, fx);
			file_entry(&e, bad_paths[i], 5);
			e.type = types[t];
			if (e.type == ENT_SYMLINK) {
				e.link = "victim";
				e.link_len = 6;
			}
			proto_put_entry(&rw.in, 1, &e);
			assert_true(raw_feed(&rw) < 0);
			raw_close(&rw);
		}
		/* a hardlink named fine but pointing outside */
		raw_open(&rw, fx);
		file_entry(&e, "hl", 0);
		e.type = ENT_HARDLINK;
		e.link = (char *)bad_paths[i];
		e.link_len = strlen(bad_paths[i]);
		proto_put_entry(&rw.in, 1, &e);
		int rc = raw_feed(&rw);
		if (rc == 0)
			assert_int_equal(receiver_idle(rw.r), 0);
		raw_close(&rw);

		raw_open(&rw, fx);
		proto_put_path(&rw.in, MSG_DELETE, 1, bad_paths[i], strlen(bad_paths[i]));
		assert_true(raw_feed(&rw) < 0);
		raw_close(&rw);
		raw_open(&rw, fx);
		proto_put_path(&rw.in, MSG_DIR_DONE, 1, bad_paths[i], strlen(bad_paths[i]));
		assert_true(raw_feed(&rw) < 0);
		raw_close(&rw);
		raw_open(&rw, fx);
		proto_put_rename(&rw.in, 1, "outside", 7, bad_paths[i], strlen(bad_paths[i]));
		assert_true(raw_feed(&rw) < 0);
		raw_close(&rw);
	}
	assert_false(exists_at(fx->basefd, "evil"));
	assert_false(exists_at(fx->basefd, "dst2"));
	assert_false(exists_at(fx->basefd, "outside/evil"));
	assert_true(exists_at(fx->basefd, "outside/victim"));
	assert_int_equal(count_children(fx->basefd, "outside"), 1);
	assert_int_equal(count_children(fx->basefd, "."), 3);
	assert_false(exists_at(fx->dstfd, "hl"));
	assert_int_equal(count_children(fx->dstfd, "."), 0);
	assert_true(exists_at(fx->basefd, "src"));
}

/* A symlink inside the sink pointing outside is never followed: writes
 * through it fail as one operation and the session goes on. */
static void test_symlink_escape_is_per_op(void **state)
{
	struct fixture *fx = *state;
	struct raw rw;
	struct entry e;
	char *out;

	mkfile_text(fx->basefd, "outside/victim", "do not touch\n");
	assert_true(asprintf(&out, "%s/outside", fx->base) > 0);
	assert_int_equal(symlinkat(out, fx->dstfd, "esc"), 0);
	free(out);

	raw_open(&rw, fx);
	file_entry(&e, "esc/pwn", 5);
	raw_file(&rw, 1, &e, "hello");
	file_entry(&e, "esc/victim", 13);    /* same size: maybe metadata only */
	e.mode = 0777;
	raw_file(&rw, 2, &e, "owned content");
	e.type = ENT_DIR;
	e.path = "esc/newdir";
	e.path_len = strlen(e.path);
	proto_put_entry(&rw.in, 3, &e);
	e.type = ENT_SYMLINK;
	e.path = "esc/newlink";
	e.path_len = strlen(e.path);
	e.link = "x";
	e.link_len = 1;
	proto_put_entry(&rw.in, 4, &e);
	file_entry(&e, "inside", 0);
	e.type = ENT_HARDLINK;
	e.link = "esc/victim";
	e.link_len = strlen(e.link);
	proto_put_entry(&rw.in, 5, &e);
	proto_put_path(&rw.in, MSG_DELETE, 6, "esc/victim", 10);
	proto_put_rename(&rw.in, 7, "esc/victim", 10, "stolen", 6);
	(void)raw_feed(&rw);
	(void)receiver_idle(rw.r);
	/* the session can still carry a good file afterwards */
	file_entry(&e, "ok", 2);
	raw_file(&rw, 8, &e, "ok");
	assert_int_equal(receiver_idle(rw.r), 0);
	assert_true(receiver_stats(rw.r)->errors >= 1);
	raw_close(&rw);

	assert_true(exists_at(fx->dstfd, "ok"));
	assert_false(exists_at(fx->dstfd, "inside"));
	assert_false(exists_at(fx->dstfd, "stolen"));
	assert_int_equal(count_children(fx->basefd, "outside"), 1);
	struct stat st;
	assert_int_equal(fstatat(fx->basefd, "outside/victim", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_ships_new_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equal_file_not_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_refused_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_ping_mid_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes_and_unchanged_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta_one_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_extra, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_link_unlisted_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_link_listed_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_link_listed_as_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_data_before_need, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_end_unknown_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_mismatch_is_per_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_commit_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_force_same_size_and_mtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_waits_for_listing_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_interleaved_keeps_children, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_with_other_names_handed_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_dotdot_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_escape_is_per_op, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
