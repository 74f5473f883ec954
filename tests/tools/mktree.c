/* mktree: deterministic generator of nasty trees for the integration tests.
 *
 *   mktree DIR SEED [NFILES]          build a tree under DIR (NFILES random
 *                                     regular files, default 2000, plus a
 *                                     fixed set of special entries)
 *   mktree --mutate DIR SEED N        apply N random modifications
 *   mktree --big FILE SIZE_MIB        write a big file of pseudo-random bytes
 *   mktree --poke FILE OFFSET LEN SEED  overwrite LEN bytes at OFFSET
 *
 * The same SEED gives the same tree (names, content, modes, owners, xattrs,
 * mtimes) on any file system: nothing depends on readdir order.  Exit status
 * 0, or 1 with a message on the first failure. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* exclude.h (via scan.h) has a slash-star inside its comment (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "scan.h"

#define CHUNK (256 * 1024)
#define MAX_DEPTH 6

static uint64_t rng;
static int rootfd = -1;
static bool as_root;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("mktree: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* splitmix64 */
static uint64_t rnd64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		die("out of memory");
	return p;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad %s: %s", what, s);
	return v;
}

/* ---- content ---- */

static const char *words[] = { "mirror", "delta", "inotify", "failover", "the", "of",
			       "slave", "master", "journal", "rsync", "vip", "and",
			       "block", "checksum", "a", "tree", "lorem", "ipsum" };

static void fill_random(uint8_t *b, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = rnd64();

		memcpy(b + i, &v, 8);
	}
	for (; i < n; i++)
		b[i] = (uint8_t)rnd64();
}

static void fill_text(uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *w = words[rnd(sizeof(words) / sizeof(words[0]))];
		size_t l = strlen(w);

		for (size_t k = 0; k < l && i < n; k++)
			b[i++] = (uint8_t)w[k];
		if (i < n)
			b[i++] = rnd(12) ? ' ' : '\n';
	}
}

static void write_all(int fd, const uint8_t *b, size_t n, off_t off, const char *path)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, off);

		if (w < 0)
			die("write %s: %s", path, strerror(errno));
		b += w;
		n -= (size_t)w;
		off += w;
	}
}

/* Write size bytes of text or random content from offset off. */
static void write_content(int fd, uint64_t size, off_t off, bool random, const char *path)
{
	uint8_t *buf = xmalloc(CHUNK);

	while (size > 0) {
		size_t n = size < CHUNK ? size : CHUNK;

		if (random)
			fill_random(buf, n);
		else
			fill_text(buf, n);
		write_all(fd, buf, n, off, path);
		off += (off_t)n;
		size -= n;
	}
	free(buf);
}

static uint64_t pick_size(void)
{
	uint64_t r = rnd(100);

	if (r < 10)
		return 0;
	if (r < 20)
		return 1;
	if (r < 30)
		return 4096;
	if (r < 94)
		return 1 + rnd(8192);
	if (r < 99)
		return 16384 + rnd(128 * 1024);
	return 256 * 1024 + rnd(768 * 1024 + 1);
}

/* ---- metadata ---- */

static void set_xattr_fd(int fd, const char *name, const void *v, size_t n, const char *path)
{
	if (fsetxattr(fd, name, v, n, 0) < 0)
		die("setxattr %s %s: %s", path, name, strerror(errno));
}

static void random_xattrs(int fd, const char *path)
{
	int n = 1 + (int)rnd(3);

	for (int i = 0; i < n; i++) {
		uint8_t v[200];
		size_t len = 1 + rnd(sizeof(v));
		char name[32];

		snprintf(name, sizeof(name), "user.mktree%d", i);
		fill_random(v, len);
		set_xattr_fd(fd, name, v, len, path);
	}
}

/* The random draws happen as root or not, so the rest of the tree is the
 * same either way; only the owners differ. */
static void maybe_chown(int fd, const char *path)
{
	bool doit = rnd(10) == 0;
	uid_t uid = 1000 + (uid_t)rnd(4);
	gid_t gid = 1000 + (gid_t)rnd(4);

	if (doit && as_root && fchown(fd, uid, gid) < 0)
		die("chown %s: %s", path, strerror(errno));
}

/* Raw system.posix_acl_access blob: version 2, then (tag, perm, id). */
static void set_acl(int fd, const char *attr, const char *path)
{
	static const uint16_t ent[][2] = {
		{ 0x01, 7 }, { 0x02, 4 }, { 0x04, 4 }, { 0x10, 5 }, { 0x20, 0 },
	};
	uint8_t b[4 + 5 * 8];
	uint32_t v = 2;

	memcpy(b, &v, 4);   /* the format is little endian; so are our targets */
	for (size_t i = 0; i < 5; i++) {
		uint32_t id = ent[i][0] == 0x02 ? 1000 + (uint32_t)rnd(10) : UINT32_MAX;

		memcpy(b + 4 + i * 8, &ent[i][0], 2);
		memcpy(b + 6 + i * 8, &ent[i][1], 2);
		memcpy(b + 8 + i * 8, &id, 4);
	}
	set_xattr_fd(fd, attr, b, sizeof(b), path);
}

/* ---- tree building ---- */

struct dirs {
	char **path;
	int *depth;
	bool *empty;
	size_t n;
};

static int open_dir(const char *path)
{
	int fd = openat(rootfd, *path ? path : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

static void make_dir(const char *path, mode_t mode)
{
	int fd;

	if (mkdirat(rootfd, path, 0700) < 0)
		die("mkdir %s: %s", path, strerror(errno));
	fd = open_dir(path);
	maybe_chown(fd, path);
	if (fchmod(fd, mode) < 0)
		die("chmod %s: %s", path, strerror(errno));
	if (!rnd(5))
		random_xattrs(fd, path);
	close(fd);
}

static char *child(const char *dir, const char *name)
{
	return *dir ? xasprintf("%s/%s", dir, name) : xasprintf("%s", name);
}

static char *dir_name(size_t i)
{
	switch (rnd(12)) {
	case 0:
		return xasprintf("dir with space %zu", i);
	case 1:
		return xasprintf("dir\nnewline%zu", i);
	case 2:
		return xasprintf("d\xff\xfe%zu", i);
	default:
		return xasprintf("d%03zu", i);
	}
}

static void build_dirs(struct dirs *d, size_t nfiles)
{
	size_t n = nfiles / 25 < 8 ? 8 : nfiles / 25;

	d->path = xmalloc(n * sizeof(*d->path));
	d->depth = xmalloc(n * sizeof(*d->depth));
	d->empty = xmalloc(n * sizeof(*d->empty));
	d->path[0] = xasprintf("%s", "");
	d->depth[0] = 0;
	d->empty[0] = false;
	for (d->n = 1; d->n < n; d->n++) {
		size_t p;
		char *name;

		do
			p = rnd(d->n);
		while (d->empty[p] || d->depth[p] >= MAX_DEPTH);
		name = dir_name(d->n);
		d->path[d->n] = child(d->path[p], name);
		free(name);
		d->depth[d->n] = d->depth[p] + 1;
		d->empty[d->n] = d->n % 7 == 3;
		make_dir(d->path[d->n], d->n % 11 == 5 ? 0700 : 0755);
	}
}

static const char *pick_dir(const struct dirs *d)
{
	size_t i;

	do
		i = rnd(d->n);
	while (d->empty[i]);
	return d->path[i];
}

static char *file_name(size_t i)
{
	static const char *ext[] = { ".txt", ".dat", ".log", "", ".c", ".tar" };

	switch (rnd(40)) {
	case 0:
		return xasprintf("file with spaces %zu", i);
	case 1:
		return xasprintf("line\nbreak%zu", i);
	case 2:
		return xasprintf("tab\tname%zu", i);
	case 3:
		return xasprintf("bin\xff\xfe%zu", i);
	default:
		return xasprintf("f%05zu%s", i, ext[rnd(6)]);
	}
}

static const mode_t file_modes[] = { 0644, 0644, 0644, 0600, 0755, 0444, 04755, 02755, 0640 };

static void make_file(const char *path, uint64_t size, bool random)
{
	int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	write_content(fd, size, 0, random, path);
	maybe_chown(fd, path);
	if (fchmod(fd, file_modes[rnd(sizeof(file_modes) / sizeof(file_modes[0]))]) < 0)
		die("chmod %s: %s", path, strerror(errno));
	if (!rnd(8))
		random_xattrs(fd, path);
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
}

static void build_files(const struct dirs *d, size_t nfiles)
{
	for (size_t i = 0; i < nfiles; i++) {
		char *name = file_name(i);
		char *path = child(pick_dir(d), name);

		make_file(path, pick_size(), rnd(10) == 0);
		free(path);
		free(name);
	}
}

static void make_symlink(const char *target, const char *path)
{
	if (symlinkat(target, rootfd, path) < 0)
		die("symlink %s: %s", path, strerror(errno));
	if (rnd(4) == 0 && as_root && fchownat(rootfd, path, 1001, 1002, AT_SYMLINK_NOFOLLOW) < 0)
		die("chown %s: %s", path, strerror(errno));
}

static void make_link(const char *from, const char *to)
{
	if (linkat(rootfd, from, rootfd, to, 0) < 0)
		die("link %s -> %s: %s", to, from, strerror(errno));
}

static void build_sparse(const char *path)
{
	static const off_t islands[] = { 0, 16 << 20, 40 << 20, (64 << 20) - 4096 };
	int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	if (ftruncate(fd, 64 << 20) < 0)
		die("truncate %s: %s", path, strerror(errno));
	for (size_t i = 0; i < 4; i++)
		write_content(fd, 4096, islands[i], true, path);
	close(fd);
}

static void build_special_names(void)
{
	static const char *names[] = {
		"special/name with spaces", "special/new\nline", "special/tab\there",
		"special/\xff\xfe bin", "special/ leading space", "special/-dash",
		"special/back\\slash", "special/quote\"s'",
	};
	char longname[256];
	char *p;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		make_file(names[i], rnd(100), false);
	memset(longname, 'L', 255);
	longname[255] = '\0';
	p = xasprintf("special/%s", longname);
	make_file(p, 10, false);
	free(p);
}

static void build_special_meta(void)
{
	int fd;

	make_file("special/acl_file", 100, false);
	fd = openat(rootfd, "special/acl_file", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open special/acl_file: %s", strerror(errno));
	set_acl(fd, "system.posix_acl_access", "special/acl_file");
	close(fd);
	make_dir("special/acl_dir", 0755);
	fd = open_dir("special/acl_dir");
	set_acl(fd, "system.posix_acl_access", "special/acl_dir");
	set_acl(fd, "system.posix_acl_default", "special/acl_dir");
	random_xattrs(fd, "special/acl_dir");
	close(fd);
	make_dir("special/sticky", 01777);
	make_dir("special/setgid_dir", 02775);
	make_dir("special/empty", 0755);
	make_dir("special/empty/nested_empty", 0750);
	if (mkfifoat(rootfd, "special/fifo", 0640) < 0)
		die("mkfifo special/fifo: %s", strerror(errno));
}

static void build_specials(const struct dirs *d)
{
	const char *far = d->path[d->n - 1];
	char *p;

	make_dir("special", 0755);
	build_special_names();
	build_special_meta();
	make_file("special/one_mib", 1 << 20, true);
	make_file("special/zero", 0, false);
	build_sparse("special/sparse");
	make_symlink("name with spaces", "special/rel_link");
	make_symlink("/etc/hostname", "special/abs_link");
	make_symlink("no/such/target", "special/dangling");
	make_symlink("../special", "special/dir_link");
	make_symlink("loop", "special/loop");
	/* hardlink groups: 3 names across dirs, 2 names in one dir */
	make_file("special/hl_a", 5000, false);
	make_link("special/hl_a", "special/setgid_dir/hl_b");
	p = child(far, "hl_a_far");
	make_link("special/hl_a", p);
	free(p);
	make_file("special/hl_c", 1, false);
	make_link("special/hl_c", "special/hl_c2");
}

/* mtimes last: from a hash of the path, so readdir order does not matter. */
static uint64_t path_hash(const char *p, size_t len, uint64_t seed)
{
	uint64_t h = 1469598103934665603ULL ^ seed;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
	return h;
}

static void set_times(uint64_t seed)
{
	struct scan_opts opts = { 0 };
	struct scan *s = scan_new(rootfd, &opts);
	struct entry e = { 0 };
	int k;

	if (!s)
		die("out of memory");
	while ((k = scan_next(s, &e)) != SCAN_END) {
		if (k < 0)
			die("scan %s: %s", e.path ? e.path : "?", strerror(-k));
		if (k == SCAN_ENTRY) {
			uint64_t h = path_hash(e.path, e.path_len, seed);
			struct timespec ts[2] = {
				{ 1500000000 + (time_t)(h % 100000000), (long)((h >> 32) % 1000000000) },
			};

			ts[1] = ts[0];
			if (utimensat(rootfd, e.path_len ? e.path : ".", ts, AT_SYMLINK_NOFOLLOW) < 0)
				die("utimensat %s: %s", e.path, strerror(errno));
		}
		entry_clear(&e);
	}
	scan_free(s);
}

static void open_root(const char *dir, bool create)
{
	if (create && mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die("open %s: %s", dir, strerror(errno));
}

static int cmd_build(int argc, char **argv)
{
	uint64_t seed;
	size_t nfiles = 2000;
	struct dirs d;

	if (argc < 3 || argc > 4)
		die("usage: mktree DIR SEED [NFILES]");
	seed = parse_u64(argv[2], "seed");
	if (argc == 4)
		nfiles = (size_t)parse_u64(argv[3], "file count");
	rng = seed;
	open_root(argv[1], true);
	build_dirs(&d, nfiles);
	build_files(&d, nfiles);
	build_specials(&d);
	set_times(seed);
	for (size_t i = 0; i < d.n; i++)
		free(d.path[i]);
	free(d.path);
	free(d.depth);
	free(d.empty);
	close(rootfd);
	return 0;
}

/* ---- mutate ---- */

struct node {
	char *path;
	uint8_t type;
};

struct nodes {
	struct node *v;
	size_t n;
};

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->path, ((const struct node *)b)->path);
}

static void nodes_free(struct nodes *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The tree as a sorted list, so picks do not depend on readdir order. */
static void nodes_load(struct nodes *l)
{
	struct scan_opts opts = { 0 };
	struct scan *s = scan_new(rootfd, &opts);
	struct entry e = { 0 };
	size_t cap = 0;
	int k;

	if (!s)
		die("out of memory");
	nodes_free(l);
	while ((k = scan_next(s, &e)) != SCAN_END) {
		if (k < 0)
			die("scan %s: %s", e.path ? e.path : "?", strerror(-k));
		if (k == SCAN_ENTRY) {
			if (l->n == cap) {
				cap = cap ? cap * 2 : 1024;
				l->v = realloc(l->v, cap * sizeof(*l->v));
				if (!l->v)
					die("out of memory");
			}
			l->v[l->n].type = e.type == ENT_HARDLINK ? ENT_FILE : e.type;
			l->v[l->n++].path = e.path;
			e.path = NULL;
		}
		entry_clear(&e);
	}
	scan_free(s);
	qsort(l->v, l->n, sizeof(*l->v), node_cmp);
}

/* A random node of one of the types in mask (1 << type), or NULL. */
static const struct node *pick(const struct nodes *l, unsigned mask)
{
	size_t start = rnd(l->n);

	for (size_t k = 0; k < l->n; k++) {
		const struct node *n = &l->v[(start + k) % l->n];

		if (mask & (1u << n->type))
			return n;
	}
	return NULL;
}

#define M_FILE (1u << ENT_FILE)
#define M_DIR (1u << ENT_DIR)
#define M_LINK (1u << ENT_SYMLINK)

static char *new_name(const struct nodes *l, const char *tag, int i)
{
	const struct node *d = pick(l, M_DIR);
	char *name = xasprintf("%s%d_%" PRIu64, tag, i, rnd(1000000));
	char *p = child(d->path, name);

	free(name);
	return p;
}

static int open_file(const char *path, int flags)
{
	int fd = openat(rootfd, path, flags | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

static uint64_t file_size(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

static void mut_write(const struct node *n, int how)
{
	int fd = open_file(n->path, O_WRONLY);
	uint64_t size = file_size(fd, n->path);

	if (how == 0 && size > 0) {
		uint64_t len = 1 + rnd(size < 4096 ? size : 4096);

		write_content(fd, len, (off_t)rnd(size - len + 1), true, n->path);
	} else if (how == 1) {
		write_content(fd, 1 + rnd(8192), (off_t)size, false, n->path);
	} else if (ftruncate(fd, (off_t)rnd(size + 1)) < 0) {
		die("truncate %s: %s", n->path, strerror(errno));
	}
	close(fd);
}

static void mut_meta(const struct node *n, int how)
{
	static const mode_t modes[] = { 0600, 0644, 0755, 0700, 04755, 01777, 0444 };
	struct timespec ts[2] = { { 1400000000 + (time_t)rnd(300000000), (long)rnd(1000000000) } };
	int fd;

	ts[1] = ts[0];
	if (how == 0 && n->type != ENT_SYMLINK) {
		if (fchmodat(rootfd, n->path, modes[rnd(7)], 0) < 0)
			die("chmod %s: %s", n->path, strerror(errno));
	} else if (how == 1) {
		if (utimensat(rootfd, n->path, ts, AT_SYMLINK_NOFOLLOW) < 0)
			die("touch %s: %s", n->path, strerror(errno));
	} else if (n->type != ENT_SYMLINK) {
		fd = open_file(n->path, O_RDONLY);
		if (rnd(2) || fremovexattr(fd, "user.mktree0") < 0) {
			uint8_t v[64];
			size_t len = 1 + rnd(sizeof(v));

			fill_random(v, len);
			set_xattr_fd(fd, "user.mutated", v, len, n->path);
		}
		close(fd);
	}
}

static void mut_rename(const struct nodes *l, const struct node *n, int i)
{
	char *to;

	if (n->type == ENT_DIR) {
		/* a directory stays in its parent: it cannot land inside itself */
		const char *slash = strrchr(n->path, '/');
		char *name = xasprintf("renamed%d", i);

		to = slash ? xasprintf("%.*s/%s", (int)(slash - n->path), n->path, name) :
			xasprintf("%s", name);
		free(name);
	} else {
		to = new_name(l, "moved", i);
	}
	if (renameat(rootfd, n->path, rootfd, to) < 0)
		die("rename %s: %s", n->path, strerror(errno));
	free(to);
}

static void mut_create(const struct nodes *l, int how, int i)
{
	char *p = new_name(l, how == 0 ? "new" : how == 1 ? "sym" : how == 2 ? "hl" : "dir", i);
	const struct node *f;

	if (how == 0) {
		make_file(p, pick_size(), rnd(2));
	} else if (how == 1) {
		char *t = xasprintf("target%" PRIu64, rnd(100));

		make_symlink(t, p);
		free(t);
	} else if (how == 2 && (f = pick(l, M_FILE))) {
		make_link(f->path, p);
	} else if (how == 3) {
		make_dir(p, 0755);
	}
	free(p);
}

static void mut_delete(const struct node *n)
{
	if (unlinkat(rootfd, n->path, n->type == ENT_DIR ? AT_REMOVEDIR : 0) < 0 &&
	    !(n->type == ENT_DIR && (errno == ENOTEMPTY || errno == EEXIST)))
		die("delete %s: %s", n->path, strerror(errno));
}

static void mutate_one(const struct nodes *l, int i)
{
	unsigned op = (unsigned)rnd(14);
	const struct node *n;

	if (op < 3 && (n = pick(l, M_FILE)))
		mut_write(n, (int)op);
	else if (op < 6 && (n = pick(l, M_FILE | M_DIR | M_LINK)) && n->path[0])
		mut_meta(n, (int)op - 3);
	else if (op < 10)
		mut_create(l, (int)op - 6, i);
	else if (op < 12 && (n = pick(l, ~M_DIR)))
		op == 10 ? mut_delete(n) : mut_rename(l, n, i);
	else if (op == 12 && (n = pick(l, M_DIR)) && n->path[0])
		mut_rename(l, n, i);
	else if (op == 13 && (n = pick(l, M_DIR)) && n->path[0])
		mut_delete(n);
}

static int cmd_mutate(int argc, char **argv)
{
	struct nodes l = { 0 };
	uint64_t n;

	if (argc != 5)
		die("usage: mktree --mutate DIR SEED N");
	rng = parse_u64(argv[3], "seed") ^ 0x6d757461746521ULL;
	n = parse_u64(argv[4], "count");
	open_root(argv[2], false);
	for (uint64_t i = 0; i < n; i++) {
		nodes_load(&l);
		mutate_one(&l, (int)i);
	}
	nodes_free(&l);
	close(rootfd);
	return 0;
}

static int cmd_big(int argc, char **argv)
{
	uint64_t mib;
	int fd;

	if (argc != 4)
		die("usage: mktree --big FILE SIZE_MIB");
	mib = parse_u64(argv[3], "size");
	rng = mib * 0x9e3779b97f4a7c15ULL + 1;
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create %s: %s", argv[2], strerror(errno));
	write_content(fd, mib << 20, 0, true, argv[2]);
	if (close(fd) < 0)
		die("close %s: %s", argv[2], strerror(errno));
	return 0;
}

static int cmd_poke(int argc, char **argv)
{
	uint64_t off, len;
	int fd;

	if (argc != 6)
		die("usage: mktree --poke FILE OFFSET LEN SEED");
	off = parse_u64(argv[3], "offset");
	len = parse_u64(argv[4], "length");
	rng = parse_u64(argv[5], "seed");
	fd = open(argv[2], O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", argv[2], strerror(errno));
	write_content(fd, len, (off_t)off, true, argv[2]);
	if (close(fd) < 0)
		die("close %s: %s", argv[2], strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	umask(022);
	as_root = geteuid() == 0;
	if (argc > 1 && !strcmp(argv[1], "--mutate"))
		return cmd_mutate(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--big"))
		return cmd_big(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--poke"))
		return cmd_poke(argc, argv);
	return cmd_build(argc, argv);
}
