/* treecmp: strict comparison of two trees, the oracle of the integration
 * tests.
 *
 *   treecmp [--no-owner] [--no-xattrs] [--no-root-mtime] [--ignore-temp]
 *           [--content-only] A B
 *
 * Both trees are scanned with scan.c and sorted by path.  For every path:
 * type, mode (07777), uid/gid, mtime in nanoseconds, size, content, symlink
 * target, hardlink group (the set of paths sharing an inode), xattr blob,
 * sparseness and rdev.  --content-only compares only what a reader of the
 * tree sees: paths, types, sizes, content and symlink targets (for tools
 * that do not keep metadata, such as the peers of bench/live-peers.sh).
 * One line per difference (paths C-escaped), then a
 * summary.  Exit 0 when equal, 1 when different, 2 on error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* exclude.h (via scan.h) has a slash-star inside its comment (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "scan.h"

#define CHUNK (256 * 1024)
#define TEMP_PREFIX ".mirrord.tmp."

struct opts {
	bool owner, xattrs, root_mtime, ignore_temp, content_only;
};

struct side {
	const char *name;      /* "A" or "B" */
	const char *dir;
	int fd;
	struct entry *v;
	size_t n;
	const char **group;    /* per entry: smallest path of its inode, or NULL */
};

static struct opts o = { true, true, true, false, false };
static unsigned long ndiff;

static void fatal(const char *what, const char *path, int err) __attribute__((noreturn));
static void fatal(const char *what, const char *path, int err)
{
	fprintf(stderr, "treecmp: %s %s: %s\n", what, path, strerror(err));
	exit(2);
}

/* Heap copy of p C-escaped and quoted, so newlines and odd bytes are
 * visible. */
static char *escaped(const char *p, size_t len)
{
	char *out = malloc(len * 4 + 3), *q = out;

	if (!out)
		fatal("escape", "path", ENOMEM);
	*q++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n') {
			q += sprintf(q, "\\n");
		} else if (c == '\t') {
			q += sprintf(q, "\\t");
		} else if (c == '\\' || c == '"') {
			*q++ = '\\';
			*q++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			q += sprintf(q, "\\x%02x", c);
		} else {
			*q++ = (char)c;
		}
	}
	*q++ = '"';
	*q = '\0';
	return out;
}

static void put_escaped(const char *p, size_t len)
{
	char *q = escaped(p, len);

	fputs(q, stdout);
	free(q);
}

static void diff(const struct entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(const struct entry *e, const char *fmt, ...)
{
	va_list ap;

	ndiff++;
	put_escaped(e->path, e->path_len);
	fputs(": ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
	int c = memcmp(x->path, y->path, n);

	if (c)
		return c;
	return x->path_len < y->path_len ? -1 : x->path_len > y->path_len;
}

static void side_push(struct side *s, struct entry *e, size_t *cap)
{
	if (s->n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		s->v = realloc(s->v, *cap * sizeof(*s->v));
		if (!s->v)
			fatal("scan", s->dir, ENOMEM);
	}
	/* a second name of a file is a file; groups are compared separately */
	if (e->type == ENT_HARDLINK) {
		free(e->link);
		e->link = NULL;
		e->link_len = 0;
		e->type = ENT_FILE;
	}
	s->v[s->n++] = *e;
	memset(e, 0, sizeof(*e));
}

static void side_load(struct side *s, const struct exclude *ex)
{
	struct scan_opts so = { .xattrs = o.xattrs, .ex = ex };
	struct entry e = { 0 };
	struct scan *sc;
	size_t cap = 0;
	int k;

	s->fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0)
		fatal("open", s->dir, errno);
	sc = scan_new(s->fd, &so);
	if (!sc)
		fatal("scan", s->dir, ENOMEM);
	while ((k = scan_next(sc, &e)) != SCAN_END) {
		if (k < 0)
			fatal("scan", e.path ? e.path : s->dir, -k);
		if (k == SCAN_ENTRY)
			side_push(s, &e, &cap);
		entry_clear(&e);
	}
	scan_free(sc);
	qsort(s->v, s->n, sizeof(*s->v), entry_cmp);
}

static int inode_cmp(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return entry_cmp(x, y);
}

/* For every regular file with nlink > 1: the smallest path of its inode
 * within the tree (entries are sorted by path, so the first one). */
static void side_groups(struct side *s)
{
	const struct entry **by = calloc(s->n + 1, sizeof(*by));
	size_t m = 0;

	s->group = calloc(s->n + 1, sizeof(*s->group));
	if (!by || !s->group)
		fatal("groups", s->dir, ENOMEM);
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].type == ENT_FILE && s->v[i].nlink > 1)
			by[m++] = &s->v[i];
	qsort(by, m, sizeof(*by), inode_cmp);
	for (size_t i = 0; i < m;) {
		size_t j = i;

		while (j < m && by[j]->dev == by[i]->dev && by[j]->ino == by[i]->ino)
			j++;
		for (size_t k = i; j - i > 1 && k < j; k++)
			s->group[by[k] - s->v] = by[i]->path;
		i = j;
	}
	free(by);
}

static int open_file(const struct side *s, const struct entry *e, struct stat *st)
{
	int fd = openat(s->fd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		fatal("open", e->path, errno);
	if (fstat(fd, st) < 0)
		fatal("stat", e->path, errno);
	return fd;
}

static size_t read_full(int fd, uint8_t *b, size_t n, off_t off, const char *path)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, off + (off_t)got);

		if (r < 0)
			fatal("read", path, errno);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static bool same_content(int fa, int fb, const char *path)
{
	uint8_t *a = malloc(CHUNK), *b = malloc(CHUNK);
	bool same = true;

	if (!a || !b)
		fatal("compare", path, ENOMEM);
	for (off_t off = 0; same; off += CHUNK) {
		size_t na = read_full(fa, a, CHUNK, off, path);
		size_t nb = read_full(fb, b, CHUNK, off, path);

		same = na == nb && !memcmp(a, b, na);
		if (na < CHUNK)
			break;
	}
	free(a);
	free(b);
	return same;
}

static void cmp_file(const struct side *A, const struct side *B, const struct entry *a,
		     const struct entry *b)
{
	struct stat sa, sb;
	int fa, fb;

	if (a->size != b->size) {
		diff(a, "size %" PRIu64 " vs %" PRIu64, a->size, b->size);
		return;
	}
	fa = open_file(A, a, &sa);
	fb = open_file(B, b, &sb);
	if (!same_content(fa, fb, a->path))
		diff(a, "content differs");
	if (!o.content_only &&
	    (uint64_t)sa.st_blocks * 512 < (uint64_t)sa.st_size / 2 &&
	    (uint64_t)sb.st_blocks * 512 >= (uint64_t)sb.st_size / 2)
		diff(a, "sparse in A (%" PRIu64 " blocks) but not in B (%" PRIu64 " blocks)",
		     (uint64_t)sa.st_blocks, (uint64_t)sb.st_blocks);
	close(fa);
	close(fb);
}

static void cmp_meta(const struct entry *a, const struct entry *b)
{
	if (a->mode != b->mode)
		diff(a, "mode %04o vs %04o", a->mode, b->mode);
	if (o.owner && (a->uid != b->uid || a->gid != b->gid))
		diff(a, "owner %u:%u vs %u:%u", a->uid, a->gid, b->uid, b->gid);
	if ((a->path_len || o.root_mtime) &&
	    (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec))
		diff(a, "mtime %" PRId64 ".%09u vs %" PRId64 ".%09u", a->mtime_sec,
		     a->mtime_nsec, b->mtime_sec, b->mtime_nsec);
	if (o.xattrs && (a->xattrs_len != b->xattrs_len ||
			 (a->xattrs_len && memcmp(a->xattrs, b->xattrs, a->xattrs_len))))
		diff(a, "xattrs differ (%zu vs %zu bytes)", a->xattrs_len, b->xattrs_len);
}

static void cmp_entry(const struct side *A, const struct side *B, size_t i, size_t j)
{
	const struct entry *a = &A->v[i], *b = &B->v[j];
	const char *ga = A->group[i], *gb = B->group[j];

	if (a->type != b->type) {
		diff(a, "type %s vs %s", entry_type_name(a->type), entry_type_name(b->type));
		return;
	}
	if (!o.content_only)
		cmp_meta(a, b);
	if (a->type == ENT_FILE)
		cmp_file(A, B, a, b);
	if (a->type == ENT_SYMLINK &&
	    (a->link_len != b->link_len || memcmp(a->link, b->link, a->link_len)))
		diff(a, "symlink target differs");
	if ((a->type == ENT_CHR || a->type == ENT_BLK) && a->rdev != b->rdev)
		diff(a, "rdev %" PRIx64 " vs %" PRIx64, a->rdev, b->rdev);
	if (!o.content_only && ((ga == NULL) != (gb == NULL) || (ga && strcmp(ga, gb)))) {
		char *qa = ga ? escaped(ga, strlen(ga)) : NULL;
		char *qb = gb ? escaped(gb, strlen(gb)) : NULL;

		diff(a, "hardlink group differs (first name %s vs %s)", qa ? qa : "none",
		     qb ? qb : "none");
		free(qa);
		free(qb);
	}
}

static void compare(const struct side *A, const struct side *B)
{
	size_t i = 0, j = 0;

	while (i < A->n || j < B->n) {
		int c = i == A->n ? 1 : j == B->n ? -1 : entry_cmp(&A->v[i], &B->v[j]);

		if (c < 0) {
			diff(&A->v[i++], "only in A");
		} else if (c > 0) {
			diff(&B->v[j++], "only in B");
		} else {
			cmp_entry(A, B, i, j);
			i++;
			j++;
		}
	}
}

static void side_free(struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		entry_clear(&s->v[i]);
	free(s->v);
	free(s->group);
	if (s->fd >= 0)
		close(s->fd);
}

static void usage(void)
{
	fputs("usage: treecmp [--no-owner] [--no-xattrs] [--no-root-mtime] [--ignore-temp]\n"
	      "               [--content-only] A B\n", stderr);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "no-owner", no_argument, NULL, 'o' },
		{ "no-xattrs", no_argument, NULL, 'x' },
		{ "no-root-mtime", no_argument, NULL, 'r' },
		{ "ignore-temp", no_argument, NULL, 't' },
		{ "content-only", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o.owner = false; break;
		case 'x': o.xattrs = false; break;
		case 'r': o.root_mtime = false; break;
		case 't': o.ignore_temp = true; break;
		case 'c': o.content_only = true; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
}

int main(int argc, char **argv)
{
	struct side A = { .name = "A", .fd = -1 }, B = { .name = "B", .fd = -1 };
	struct exclude *ex = NULL;

	parse_args(argc, argv);
	A.dir = argv[optind];
	B.dir = argv[optind + 1];
	if (o.ignore_temp) {
		ex = exclude_new();
		if (!ex || exclude_add(ex, TEMP_PREFIX "*") < 0)
			fatal("exclude", TEMP_PREFIX, ENOMEM);
	}
	side_load(&A, ex);
	side_load(&B, ex);
	side_groups(&A);
	side_groups(&B);
	compare(&A, &B);
	if (ndiff)
		printf("treecmp: %lu difference%s (%zu entries in A, %zu in B)\n", ndiff,
		       ndiff == 1 ? "" : "s", A.n, B.n);
	else
		printf("treecmp: equal (%zu entries)\n", A.n);
	side_free(&A);
	side_free(&B);
	exclude_free(ex);
	return ndiff ? 1 : 0;
}
