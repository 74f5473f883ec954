/* apply: every change the sink makes to a mirror tree.
 *
 * New content and new non-directory nodes are created under a temporary name
 * (".mirrord.tmp.<16 hex>") in the target's directory and renamed over the
 * target.  File renames, hardlinks and directory metadata wait in three queues
 * for apply_commit(); the queues are kept in operation order, and an
 * operation that removes something a queued change depends on commits first. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply.h"
#include "fsmeta.h"
#include "path.h"
#include "retain.h"
#include "scan.h"
#include "worker.h"

#define TMP_PREFIX ".mirrord.tmp."
#define TMP_PREFIX_LEN (sizeof(TMP_PREFIX) - 1)
#define TMP_NAME_LEN (TMP_PREFIX_LEN + 16)
#define TMP_TRIES 16
#define BLOCK 4096
#define LINK_MAX_LEN 4095        /* PATH_MAX - 1 */

/* The directory fd of a wire path's parent, reusing it for runs of
 * entries in the same directory. */
struct dir_cache {
	int fd;
	char *dir;
	size_t dlen;
	bool known;              /* plain was looked at (see dir_plain) */
	bool plain;
};

struct pend_file {
	char *path;              /* wire path of the target */
	size_t len;
	char *tmp;               /* temporary name in the target's directory */
};

/* A batch of renames handed to the worker by apply_commit_begin(): it
 * does the syncfs and the renames while the caller goes on. */
struct apply_batch {
	int rootfd;
	struct pend_file *files;
	size_t nfiles, cfiles;
	size_t renames;          /* files it renames (0: a syncfs only) */
	uint64_t written;        /* files put in place */
	/* hashes of the targets and of their directories (0: free slot), so
	 * that a lookup of something the batch changes waits for it */
	uint64_t *seen;
	size_t seen_cap;         /* a power of two, at least 4 x entries */
};

struct apply {
	int rootfd;
	unsigned flags;
	struct retain *retain;   /* versions kept before changes; NULL: off */
	uint64_t rnd;
	struct pend_file *files;
	size_t nfiles, cfiles;
	struct entry *links;     /* deferred ENT_HARDLINK entries */
	size_t nlinks, clinks;
	struct entry *dirs;      /* deferred directory metadata */
	size_t ndirs, cdirs;
	size_t *dir_slots;       /* hash of dirs by path: index + 1, 0 = free */
	size_t dir_slots_cap;    /* a power of two, at least 2 x ndirs */
	struct apply_file *open; /* files between open and close/abort */
	/* the parent of the last file looked up or opened, for the next one:
	 * dropped by every change that could move or remove a directory
	 * (entries, deletes, renames, prunes, commits) */
	struct dir_cache pc;
	/* the same for the files whose content arrives (lent to the file
	 * being written, given back when it is done unless the caches were
	 * dropped meanwhile: gen counts the drops), so that lookups of
	 * entries further on do not take it away from them */
	struct dir_cache fc;
	uint64_t gen;
	uid_t uid;               /* owner of the files we create */
	gid_t gid;
	int umask;               /* of the process, -1 when unknown */
	struct hash *spare_h;    /* the last file's digest state and block, */
	uint8_t *spare_blk;      /* for the next one */
	bool unsynced;           /* changes made visible since the last syncfs */
	struct worker *w;        /* the commit thread, created at the first batch */
	struct apply_batch job;  /* the batch on it while job_on */
	bool job_on;
	bool job_ended;          /* it finished; job_rc waits for apply_commit_end */
	int job_rc;
	struct apply_stats st;
};

struct apply_file {
	struct apply *a;
	struct apply_file *next, *prev;
	struct entry e;
	const char *name;        /* last component, inside e.path */
	struct dir_cache dc;     /* its directory, lent by a->fc */
	uint64_t gen;            /* a->gen when it was lent */
	bool fresh;              /* created with e's owner and mode (FSMETA_FRESH) */
	int dirfd, fd, basis;
	char tmp[TMP_NAME_LEN + 1];
	struct hash *h;
	uint64_t got;            /* bytes received */
	uint64_t wpos;           /* file offset of blk[0], 4 KiB aligned */
	uint64_t wend;           /* end of the data written so far */
	uint8_t *blk;            /* the partial block not yet written */
	size_t blen;
};

static void job_settle(struct apply *a);

/* ---- small helpers ---- */

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return 0;
	p = reallocarray(*v, c, size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int entry_ok(const struct entry *e)
{
	return e && e->path && path_check(e->path, e->path_len) == 0 &&
	       e->path[e->path_len] == '\0';
}

/* path equals p, or lies beneath p (every path lies beneath the root ""). */
static int path_covers(const char *p, size_t len, const char *path, size_t plen, int under)
{
	if (plen == len)
		return memcmp(p, path, len) == 0;
	if (!under || plen < len)
		return 0;
	return len == 0 || (memcmp(p, path, len) == 0 && path[len] == '/');
}

/* Will a queued file rename or hardlink create something at p? */
static int pending_node_at(const struct apply *a, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < a->nfiles; i++)
		if (path_covers(p, len, a->files[i].path, a->files[i].len, 0))
			return 1;
	for (i = 0; i < a->nlinks; i++)
		if (path_covers(p, len, a->links[i].path, a->links[i].path_len, 0))
			return 1;
	return 0;
}

/* Does any queued change touch p (or, with under, something beneath p)? */
static int pending_at(const struct apply *a, const char *p, size_t len, int under)
{
	size_t i;

	for (i = 0; i < a->nfiles; i++)
		if (path_covers(p, len, a->files[i].path, a->files[i].len, under))
			return 1;
	for (i = 0; i < a->nlinks; i++)
		if (path_covers(p, len, a->links[i].path, a->links[i].path_len, under) ||
		    path_covers(p, len, a->links[i].link, a->links[i].link_len, under))
			return 1;
	for (i = 0; i < a->ndirs; i++)
		if (path_covers(p, len, a->dirs[i].path, a->dirs[i].path_len, under))
			return 1;
	return 0;
}

static int commit_if(struct apply *a, const char *p, size_t len, int under)
{
	return pending_at(a, p, len, under) ? apply_commit(a) : 0;
}

static void tmp_name(struct apply *a, char out[TMP_NAME_LEN + 1])
{
	uint64_t z = (a->rnd += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	snprintf(out, TMP_NAME_LEN + 1, TMP_PREFIX "%016" PRIx64, z);
}

/* Create something under a fresh temporary name with mk (which returns an fd
 * or 0, or -errno); retried on a name collision. */
static int make_temp(struct apply *a, int dfd, char tmp[TMP_NAME_LEN + 1],
		     int (*mk)(int dfd, const char *tmp, const void *ctx), const void *ctx)
{
	int i, r = -EEXIST;

	for (i = 0; i < TMP_TRIES && r == -EEXIST; i++) {
		tmp_name(a, tmp);
		r = mk(dfd, tmp, ctx);
	}
	return r;
}

static int mk_file(int dfd, const char *tmp, const void *ctx)
{
	const mode_t *mode = ctx;
	int fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
			mode ? *mode : 0600);

	return fd < 0 ? -errno : fd;
}

static int mk_symlink(int dfd, const char *tmp, const void *ctx)
{
	return symlinkat(ctx, dfd, tmp) < 0 ? -errno : 0;
}

static int mk_node(int dfd, const char *tmp, const void *ctx)
{
	const struct entry *e = ctx;
	static const mode_t fmt[] = {
		[ENT_FIFO] = S_IFIFO, [ENT_CHR] = S_IFCHR,
		[ENT_BLK] = S_IFBLK, [ENT_SOCK] = S_IFSOCK,
	};

	return mknodat(dfd, tmp, fmt[e->type] | 0600, (dev_t)e->rdev) < 0 ? -errno : 0;
}

struct link_src {
	int dfd;
	const char *name;
};

static int mk_link(int dfd, const char *tmp, const void *ctx)
{
	const struct link_src *s = ctx;

	return linkat(s->dfd, s->name, dfd, tmp, 0) < 0 ? -errno : 0;
}

/* ---- removal ---- */

static int rm_tree(int dfd, const char *name);

static int rm_children(int fd)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			r = rm_tree(dirfd(d), de->d_name);
	}
	closedir(d);
	return r;
}

/* Remove dfd/name, recursively, never following a symlink.  Absent: 0. */
static int rm_tree(int dfd, const char *name)
{
	int fd, r;

	if (unlinkat(dfd, name, 0) == 0)
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = rm_children(fd);
	if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

/* Rename within or across directories; whatever is in the way at the target
 * (an empty or non-empty directory, or a non-directory when moving a
 * directory) is removed first. */
static int rename_over(int fdf, const char *fname, int fdt, const char *tname)
{
	int r;

	if (renameat(fdf, fname, fdt, tname) == 0)
		return 0;
	if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR)
		return -errno;
	r = rm_tree(fdt, tname);
	if (r < 0)
		return r;
	return renameat(fdf, fname, fdt, tname) < 0 ? -errno : 0;
}

/* Before dfd/name (wire path p) is replaced atomically: keep its version. */
static void keep_replaced(struct apply *a, int dfd, const char *name, const char *p, size_t len)
{
	if (a->retain)
		retain_replace(a->retain, dfd, name, p, len);
}

/* Remove dfd/name (wire path p), into the versions when they are kept. */
static int remove_node(struct apply *a, int dfd, const char *name, const char *p, size_t len)
{
	if (a->retain && retain_remove(a->retain, dfd, name, p, len) == 1)
		return 0;
	return rm_tree(dfd, name);
}

/* ---- parent directories ---- */

static int cache_parent(int rootfd, struct dir_cache *c, const char *p, size_t len)
{
	size_t dlen = path_dirlen(p, len);
	const char *name;
	int fd;

	if (c->fd >= 0 && c->dlen == dlen && memcmp(c->dir, p, dlen) == 0)
		return c->fd;
	if (c->fd >= 0)
		close(c->fd);
	free(c->dir);
	c->dir = NULL;
	c->fd = -1;
	fd = path_open_parent(rootfd, p, len, &name);
	if (fd < 0)
		return fd;
	c->dir = strndup(p, dlen);
	if (!c->dir) {
		close(fd);
		return -ENOMEM;
	}
	c->dlen = dlen;
	c->known = false;
	return c->fd = fd;
}

static void cache_done(struct dir_cache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->dir);
}

static void cache_drop(struct dir_cache *c)
{
	cache_done(c);
	*c = (struct dir_cache){ .fd = -1 };
}

/* Both caches, and no file gives its directory back to fc. */
static void caches_drop(struct apply *a)
{
	cache_drop(&a->pc);
	cache_drop(&a->fc);
	a->gen++;
}

/* Is the cached directory one in which a file we create gets no xattrs (no
 * default ACL, no security label: the directory has none either), our
 * fsuid and fsgid as owner (no set-group-ID bit) and the mode asked for
 * less the umask?  Looked at once per directory opened. */
static bool dir_plain(struct dir_cache *c)
{
	struct stat st;
	ssize_t n;

	if (!c->known)
		c->plain = fstat(c->fd, &st) == 0 && !(st.st_mode & S_ISGID) &&
			   ((n = flistxattr(c->fd, NULL, 0)) == 0 || (n < 0 && errno == ENOTSUP));
	c->known = true;
	return c->plain;
}

/* The process's umask from /proc (umask() would change it for the other
 * threads while it is read); -1 when it cannot be read. */
static int read_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned m;
	int r = -1;

	if (!f)
		return -1;
	while (r < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			r = (int)(m & 0777);
	fclose(f);
	return r;
}

/* ---- object ---- */

struct apply *apply_new(int rootfd, const struct apply_opts *opts)
{
	struct apply *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->rootfd = rootfd;
	a->pc.fd = a->fc.fd = -1;
	a->uid = geteuid();
	a->gid = getegid();
	a->umask = read_umask();
	a->flags = opts ? opts->meta_flags : 0;
	a->retain = opts ? opts->retain : NULL;
	if (getrandom(&a->rnd, sizeof(a->rnd), GRND_NONBLOCK) != sizeof(a->rnd))
		a->rnd ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)a;
	return a;
}

/* Remove the temporary file of a queued rename. */
static void unlink_pending(struct apply *a, const struct pend_file *pf)
{
	const char *name;
	int dfd;

	dfd = path_open_parent(a->rootfd, pf->path, pf->len, &name);
	if (dfd < 0)
		return;
	unlinkat(dfd, pf->tmp, 0);   /* best effort: nothing to report to */
	close(dfd);
}

/* With the deferred directories gone (grown again as needed: cheaper than
 * clearing a table sized for the largest batch at every commit). */
static void dir_slots_clear(struct apply *a)
{
	free(a->dir_slots);
	a->dir_slots = NULL;
	a->dir_slots_cap = 0;
}

static void drop_queues(struct apply *a, int unlink_temps)
{
	size_t i;

	for (i = 0; i < a->nfiles; i++) {
		if (unlink_temps)
			unlink_pending(a, &a->files[i]);
		free(a->files[i].path);
		free(a->files[i].tmp);
	}
	for (i = 0; i < a->nlinks; i++)
		entry_clear(&a->links[i]);
	for (i = 0; i < a->ndirs; i++)
		entry_clear(&a->dirs[i]);
	a->nfiles = a->nlinks = a->ndirs = 0;
	dir_slots_clear(a);
}

void apply_free(struct apply *a)
{
	if (!a)
		return;
	job_settle(a);
	worker_free(a->w);
	free(a->job.files);
	free(a->job.seen);
	while (a->open)
		apply_file_abort(a->open);
	drop_queues(a, 1);
	cache_done(&a->pc);
	cache_done(&a->fc);
	hash_free(a->spare_h);
	free(a->spare_blk);
	free(a->files);
	free(a->links);
	free(a->dirs);
	free(a->dir_slots);
	free(a);
}

size_t apply_pending(const struct apply *a)
{
	return a->nfiles + a->nlinks + a->ndirs;
}

const struct apply_stats *apply_stats(const struct apply *a)
{
	return &a->st;
}

/* ---- commit ---- */

/* Rename n temporary files into place (keeping what they replace when rt
 * is not NULL); frees their names.  Touches nothing of an apply object:
 * it also runs on the commit thread. */
static int rename_files(int rootfd, struct retain *rt, struct pend_file *v, size_t n,
			uint64_t *written)
{
	struct dir_cache c = { .fd = -1 };
	int r, err = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		struct pend_file *pf = &v[i];
		const char *name = pf->path + path_dirlen(pf->path, pf->len);
		int dfd = cache_parent(rootfd, &c, pf->path, pf->len);

		name += name != pf->path;
		if (dfd >= 0 && rt)
			retain_replace(rt, dfd, name, pf->path, pf->len);
		r = dfd < 0 ? dfd : rename_over(dfd, pf->tmp, dfd, name);
		if (r == 0)
			(*written)++;
		else if (dfd >= 0)
			unlinkat(dfd, pf->tmp, 0);
		if (r < 0 && err == 0)
			err = r;
		free(pf->path);
		free(pf->tmp);
	}
	cache_done(&c);
	return err;
}

static int commit_files(struct apply *a)
{
	int err = rename_files(a->rootfd, a->retain, a->files, a->nfiles, &a->st.files_written);

	a->nfiles = 0;
	return err;
}

static int same_file(int d1, const char *n1, int d2, const char *n2)
{
	struct stat s1, s2;

	return fstatat(d1, n1, &s1, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fstatat(d2, n2, &s2, AT_SYMLINK_NOFOLLOW) == 0 &&
	       s1.st_dev == s2.st_dev && s1.st_ino == s2.st_ino;
}

static int link_one(struct apply *a, const struct entry *e)
{
	char tmp[TMP_NAME_LEN + 1];
	struct link_src src;
	const char *lname;
	int ldfd, r;

	src.dfd = path_open_parent(a->rootfd, e->link, e->link_len, &src.name);
	if (src.dfd < 0)
		return src.dfd;
	ldfd = path_open_parent(a->rootfd, e->path, e->path_len, &lname);
	if (ldfd < 0) {
		close(src.dfd);
		return ldfd;
	}
	r = 0;
	if (!same_file(src.dfd, src.name, ldfd, lname)) {
		r = make_temp(a, ldfd, tmp, mk_link, &src);
		if (r == 0)
			keep_replaced(a, ldfd, lname, e->path, e->path_len);
		if (r == 0 && (r = rename_over(ldfd, tmp, ldfd, lname)) < 0)
			unlinkat(ldfd, tmp, 0);
	}
	close(ldfd);
	close(src.dfd);
	return r;
}

static int commit_links(struct apply *a)
{
	int r, err = 0;
	size_t i;

	for (i = 0; i < a->nlinks; i++) {
		r = link_one(a, &a->links[i]);
		if (r < 0 && err == 0)
			err = r;
		entry_clear(&a->links[i]);
	}
	a->nlinks = 0;
	return err;
}

static size_t depth(const struct entry *e)
{
	size_t i, n = e->path_len ? 1 : 0;

	for (i = 0; i < e->path_len; i++)
		n += e->path[i] == '/';
	return n;
}

static int deeper_first(const void *x, const void *y)
{
	size_t a = depth(x), b = depth(y);

	return (a < b) - (a > b);
}

/* A directory replaced or removed later in the same batch is skipped. */
static int dir_meta_one(struct apply *a, const struct entry *e)
{
	int fd, r;

	fd = path_open_dir(a->rootfd, e->path, e->path_len);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return fd;
	/* held by the receiver, a directory's metadata comes again after
	 * its content landed: mostly already right by then */
	r = fsmeta_apply_fd(fd, e, a->flags | FSMETA_CHECK);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int commit_dirs(struct apply *a)
{
	int r, err = 0;
	size_t i;

	if (a->ndirs > 1)
		qsort(a->dirs, a->ndirs, sizeof(*a->dirs), deeper_first);
	for (i = 0; i < a->ndirs; i++) {
		r = dir_meta_one(a, &a->dirs[i]);
		if (r < 0 && err == 0)
			err = r;
		entry_clear(&a->dirs[i]);
	}
	a->ndirs = 0;
	dir_slots_clear(a);
	return err;
}

int apply_commit_visible(struct apply *a)
{
	int r, err = 0;

	job_settle(a);
	caches_drop(a);
	if (syncfs(a->rootfd) < 0)
		err = -errno;
	else
		a->unsynced = false;
	if (apply_pending(a) > 0) {
		r = commit_files(a);
		err = err ? err : r;
		r = commit_links(a);
		err = err ? err : r;
		r = commit_dirs(a);
		err = err ? err : r;
		a->unsynced = true;
	}
	if (a->retain && (r = retain_sync(a->retain)) < 0 && err == 0)
		err = r;
	a->st.commits++;
	return err;
}

int apply_sync(struct apply *a)
{
	job_settle(a);
	if (!a->unsynced)
		return 0;
	if (syncfs(a->rootfd) < 0)
		return -errno;
	a->unsynced = false;
	return 0;
}

bool apply_unsynced(const struct apply *a)
{
	return a->unsynced;
}

int apply_commit(struct apply *a)
{
	int err = apply_commit_visible(a);
	int r = apply_sync(a);

	return err ? err : r;
}

/* ---- pipelined commit (apply_commit_begin) ---- */

static uint64_t path_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

static void seen_add(struct apply_batch *b, const char *p, size_t len)
{
	uint64_t h = path_hash(p, len);
	size_t mask = b->seen_cap - 1, i = (size_t)h & mask;

	while (b->seen[i] && b->seen[i] != h)
		i = (i + 1) & mask;
	b->seen[i] = h;
}

/* Might the batch on the commit thread change what is at p?  Its targets
 * and their directories (whose times the renames change) are noted by
 * hash: a false positive only makes the caller wait. */
static bool job_touches(const struct apply *a, const char *p, size_t len)
{
	const struct apply_batch *b = &a->job;

	if (!a->job_on)
		return false;
	uint64_t h = path_hash(p, len);
	size_t mask = b->seen_cap - 1, i = (size_t)h & mask;
	while (b->seen[i]) {
		if (b->seen[i] == h)
			return true;
		i = (i + 1) & mask;
	}
	return false;
}

static int batch_note(struct apply_batch *b)
{
	size_t cap = 64;

	while (cap < 8 * b->nfiles)     /* two keys per file, a quarter full */
		cap *= 2;
	if (cap != b->seen_cap) {
		uint64_t *v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		free(b->seen);
		b->seen = v;
		b->seen_cap = cap;
	} else {
		memset(b->seen, 0, cap * sizeof(*b->seen));
	}
	for (size_t i = 0; i < b->nfiles; i++) {
		const struct pend_file *pf = &b->files[i];
		seen_add(b, pf->path, pf->len);
		seen_add(b, pf->path, path_dirlen(pf->path, pf->len));
	}
	return 0;
}

/* On the commit thread: what apply_commit_visible() does for a batch of
 * renames only. */
static int batch_run(void *arg)
{
	struct apply_batch *b = arg;
	int err = syncfs(b->rootfd) < 0 ? -errno : 0;
	int r = rename_files(b->rootfd, NULL, b->files, b->nfiles, &b->written);

	b->nfiles = 0;
	return err ? err : r;
}

/* Wait for the batch on the commit thread; its result is kept for
 * apply_commit_end().  Every call that changes or reads the tree other
 * than through new temporary files comes here first (or, for a lookup,
 * when the batch touches the path): the tree is then what the synchronous
 * commit would have left. */
static void job_settle(struct apply *a)
{
	if (!a->job_on)
		return;
	a->job_rc = worker_wait(a->w);
	a->job_on = false;
	a->job_ended = true;
	a->st.files_written += a->job.written;
	a->job.written = 0;
	a->unsynced = a->job.renames > 0;   /* its syncfs covered the rest */
}

/* Only new content (renames of temporary files, or none: a syncfs) goes
 * to the thread: hardlinks, directory metadata and kept versions read
 * what the renames put in place, and stay on the caller's side. */
static bool pipelinable(const struct apply *a)
{
	return a->nlinks == 0 && a->ndirs == 0 && !a->retain;
}

int apply_commit_begin(struct apply *a)
{
	struct apply_batch *b = &a->job;

	if (a->job_on || a->job_ended)
		return -EBUSY;           /* apply_commit_end() first */
	if (!pipelinable(a))
		return apply_commit_visible(a);
	if (!a->w && !(a->w = worker_new()))
		return apply_commit_visible(a);
	struct pend_file *v = b->files;
	size_t cap = b->cfiles;
	b->rootfd = a->rootfd;
	b->files = a->files;             /* b->nfiles is 0: swap the arrays */
	b->cfiles = a->cfiles;
	b->nfiles = a->nfiles;
	b->renames = a->nfiles;
	a->files = v;
	a->cfiles = cap;
	a->nfiles = 0;
	if (batch_note(b) < 0 || worker_start(a->w, batch_run, b) < 0) {
		/* give the batch back and commit it here */
		a->files = b->files;
		a->cfiles = b->cfiles;
		a->nfiles = b->nfiles;
		b->files = v;
		b->cfiles = cap;
		b->nfiles = 0;
		return apply_commit_visible(a);
	}
	caches_drop(a);
	a->job_on = true;
	a->st.commits++;
	return 1;
}

bool apply_commit_ready(const struct apply *a)
{
	return a->job_ended || (a->job_on && worker_done(a->w));
}

bool apply_commit_running(const struct apply *a)
{
	return a->job_on || a->job_ended;
}

int apply_commit_end(struct apply *a)
{
	int rc;

	job_settle(a);
	rc = a->job_ended ? a->job_rc : 0;
	a->job_ended = false;
	a->job_rc = 0;
	return rc;
}

/* ---- lookup ---- */

static int read_link(int dfd, const char *name, size_t hint, struct entry *e)
{
	size_t cap = hint ? hint + 1 : 256;
	ssize_t n;

	for (;;) {
		char *buf = malloc(cap);

		if (!buf)
			return -ENOMEM;
		n = readlinkat(dfd, name, buf, cap);
		if (n >= 0 && (size_t)n < cap) {
			buf[n] = '\0';
			e->link = buf;
			e->link_len = (size_t)n;
			return 0;
		}
		free(buf);
		if (n < 0)
			return -errno;
		if (cap > LINK_MAX_LEN)
			return -ENAMETOOLONG;
		cap *= 2;
	}
}

static int lookup_at(struct apply *a, int dfd, const char *name, struct entry *e)
{
	struct stat st;
	int r = 0;

	if ((*name ? fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) : fstat(dfd, &st)) < 0)
		return errno == ENOENT ? 0 : -errno;
	fsmeta_from_stat(e, &st);
	if (e->type == ENT_SYMLINK)
		r = read_link(dfd, name, (size_t)st.st_size, e);
	if (r == 0 && (a->flags & FSMETA_XATTRS) && (e->type == ENT_FILE || e->type == ENT_DIR))
		r = fsmeta_read_xattrs(dfd, name, &e->xattrs, &e->xattrs_len);
	return r;
}

int apply_lookup(struct apply *a, const char *path, size_t len, struct entry *ret)
{
	struct entry e = { 0 };
	const char *name = "";
	int dfd, r;

	if (path_check(path, len) < 0 || (len && path[len] != '\0'))
		return -EINVAL;
	if (job_touches(a, path, len))
		job_settle(a);
	if (len) {
		dfd = cache_parent(a->rootfd, &a->pc, path, len);
		name = path + path_dirlen(path, len);
		name += name != path;
	} else {
		dfd = path_open_dir(a->rootfd, "", 0);
	}
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		r = 0;
	else if (dfd < 0)
		return dfd;
	else
		r = lookup_at(a, dfd, name, &e);
	if (dfd >= 0 && !len)
		close(dfd);
	if (r == 0)
		r = entry_set_path(&e, path, len);
	if (r < 0) {
		entry_clear(&e);
		return r;
	}
	*ret = e;
	return 0;
}

/* ---- entries ---- */

static int queue_entry(struct entry **v, size_t *n, size_t *cap, const struct entry *e)
{
	int r = grow((void **)v, cap, *n, sizeof(**v));

	if (r < 0)
		return r;
	r = entry_copy(&(*v)[*n], e);
	if (r == 0)
		(*n)++;
	return r;
}

/* The slot of path in the hash of deferred directories: its own, or the
 * free one where it would go. */
static size_t *dir_slot(struct apply *a, const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	for (size_t i = h & (a->dir_slots_cap - 1);; i = (i + 1) & (a->dir_slots_cap - 1)) {
		size_t *s = &a->dir_slots[i];
		if (*s == 0 || (a->dirs[*s - 1].path_len == len &&
				memcmp(a->dirs[*s - 1].path, p, len) == 0))
			return s;
	}
}

/* Room for one more directory in the hash (at most half full). */
static int dir_slots_grow(struct apply *a)
{
	if ((a->ndirs + 1) * 2 <= a->dir_slots_cap)
		return 0;
	size_t cap = a->dir_slots_cap ? a->dir_slots_cap * 2 : 64;
	size_t *v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	free(a->dir_slots);
	a->dir_slots = v;
	a->dir_slots_cap = cap;
	for (size_t i = 0; i < a->ndirs; i++)
		*dir_slot(a, a->dirs[i].path, a->dirs[i].path_len) = i + 1;
	return 0;
}

/* Defer directory metadata; a newer request for the same path replaces it.
 * Looked up by hash: a pass over a large tree defers every directory. */
static int defer_dir(struct apply *a, const struct entry *e)
{
	struct entry copy;
	size_t *slot;
	int r;

	if ((r = dir_slots_grow(a)) < 0)
		return r;
	slot = dir_slot(a, e->path, e->path_len);
	if (*slot != 0) {
		if (entry_copy(&copy, e) < 0)
			return -ENOMEM;
		entry_clear(&a->dirs[*slot - 1]);
		a->dirs[*slot - 1] = copy;
		return 0;
	}
	if ((r = queue_entry(&a->dirs, &a->ndirs, &a->cdirs, e)) == 0)
		*slot = a->ndirs;
	return r;
}

static int entry_dir(struct apply *a, int dfd, const char *name, const struct entry *e)
{
	struct stat st;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			return defer_dir(a, e);
		r = remove_node(a, dfd, name, e->path, e->path_len);
		if (r < 0)
			return r;
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (mkdirat(dfd, name, 0700) < 0)
		return -errno;
	if (a->retain)
		retain_created(a->retain, e->path, e->path_len);
	return defer_dir(a, e);
}

/* Create a node under a temporary name, give it its metadata, rename it
 * over the target. */
static int entry_node(struct apply *a, int dfd, const char *name, const struct entry *e,
		      int (*mk)(int, const char *, const void *), const void *ctx)
{
	char tmp[TMP_NAME_LEN + 1];
	int r;

	r = make_temp(a, dfd, tmp, mk, ctx);
	if (r < 0)
		return r;
	r = fsmeta_apply_at(dfd, tmp, e, a->flags & FSMETA_OWNER);
	if (r == 0) {
		keep_replaced(a, dfd, name, e->path, e->path_len);
		r = rename_over(dfd, tmp, dfd, name);
	}
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	return r;
}

static int entry_symlink(struct apply *a, int dfd, const char *name, const struct entry *e)
{
	char *target;
	int r;

	if (!e->link || e->link_len == 0 || e->link_len > LINK_MAX_LEN ||
	    memchr(e->link, 0, e->link_len))
		return -EINVAL;
	target = strndup(e->link, e->link_len);
	if (!target)
		return -ENOMEM;
	r = entry_node(a, dfd, name, e, mk_symlink, target);
	free(target);
	return r;
}

/* A regular file at dfd/name opened with flags (O_RDONLY or O_RDWR),
 * without opening anything else (a device or FIFO is never opened): O_PATH
 * first, then reopened through /proc.  -ENOENT when absent, -ESTALE when
 * not a regular file. */
static int open_regular_as(int dfd, const char *name, int flags)
{
	struct stat st;
	char *proc;
	int pfd, fd;

	pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	fd = fstat(pfd, &st) < 0 ? -errno : (S_ISREG(st.st_mode) ? 0 : -ESTALE);
	if (fd < 0) {
		close(pfd);
		return fd;
	}
	if (asprintf(&proc, "/proc/self/fd/%d", pfd) < 0) {
		close(pfd);
		return -ENOMEM;
	}
	fd = open(proc, flags | O_CLOEXEC | O_NONBLOCK);
	fd = fd < 0 ? -errno : fd;
	free(proc);
	close(pfd);
	return fd;
}

static int open_regular(int dfd, const char *name)
{
	return open_regular_as(dfd, name, O_RDONLY);
}

#define NAMES_MAX_DEPTH 64

/* Count the names of inode (dev, ino) beneath the directory fd (taken),
 * into *n, stopping at max.  Uses d_ino, so only directories and matches
 * are stat'ed; never follows a symlink, stays on dev.  -ELOOP when deeper
 * than NAMES_MAX_DEPTH (the caller then assumes names outside). */
static int names_count(int fd, dev_t dev, ino_t ino, nlink_t max, int depth, nlink_t *n)
{
	struct dirent *de;
	struct stat st;
	DIR *d = fdopendir(fd);
	int r = 0;

	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0 && *n < max && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && de->d_ino != ino)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;          /* gone meanwhile */
		if (S_ISREG(st.st_mode) && st.st_dev == dev && st.st_ino == ino) {
			(*n)++;
		} else if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
			int sub = depth >= NAMES_MAX_DEPTH ? -ELOOP :
				  openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				r = names_count(sub, dev, ino, max, depth + 1, n);
			else if (sub == -ELOOP)
				r = sub;
		}
	}
	if (r == 0 && errno && *n < max)
		r = -errno;
	closedir(d);
	return r;
}

/* True when every name of the file st describes is inside the tree. */
static bool names_all_inside(struct apply *a, const struct stat *st)
{
	nlink_t n = 0;
	int fd = openat(a->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return false;
	return names_count(fd, st->st_dev, st->st_ino, st->st_nlink, 0, &n) == 0 &&
	       n == st->st_nlink;
}

/* Metadata in place, on the inode the fd holds.  A file with other names
 * (nlink > 1) may share its inode with a file outside the tree (a hardlink
 * someone made on this node): chmod, chown or setxattr would change that
 * file too.  So in place only when all its names are found in the tree (a
 * hardlink group of the mirror); otherwise -EMLINK, and the caller sends
 * new content instead, which a rename puts over this name alone. */
static int entry_file_meta(struct apply *a, int dfd, const char *name, const struct entry *e)
{
	int fd = open_regular(dfd, name), r;
	struct stat st;

	if (fd < 0)
		return fd;
	r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && st.st_nlink > 1 && !names_all_inside(a, &st))
		r = -EMLINK;
	if (r < 0) {
		close(fd);
		return r;
	}
	r = fsmeta_apply_fd(fd, e, a->flags);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Fail early (-ELOOP, -ENOTDIR ...) when p's parent cannot be opened. */
static int check_parent(struct apply *a, const char *p, size_t len)
{
	const char *name;
	int fd = path_open_parent(a->rootfd, p, len, &name);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int entry_hardlink(struct apply *a, const struct entry *e)
{
	int r;

	if (!e->link || e->link_len == 0 || path_check(e->link, e->link_len) < 0 ||
	    e->link[e->link_len] != '\0')
		return -EINVAL;
	r = check_parent(a, e->link, e->link_len);
	if (r == 0)
		r = check_parent(a, e->path, e->path_len);
	return r < 0 ? r : queue_entry(&a->links, &a->nlinks, &a->clinks, e);
}

static int entry_at(struct apply *a, int dfd, const char *name, const struct entry *e)
{
	switch (e->type) {
	case ENT_DIR:
		return entry_dir(a, dfd, name, e);
	case ENT_SYMLINK:
		return entry_symlink(a, dfd, name, e);
	case ENT_FIFO: case ENT_CHR: case ENT_BLK: case ENT_SOCK:
		return entry_node(a, dfd, name, e, mk_node, e);
	case ENT_FILE:
		return entry_file_meta(a, dfd, name, e);
	default:
		return -EINVAL;
	}
}

/* Commit first when this entry will remove or replace something that a
 * queued change depends on. */
static int entry_precommit(struct apply *a, const struct entry *e)
{
	if (e->type == ENT_DIR)
		return pending_node_at(a, e->path, e->path_len) ? apply_commit(a) : 0;
	if (e->type == ENT_FILE)
		return commit_if(a, e->path, e->path_len, 0);
	return commit_if(a, e->path, e->path_len, 1);
}

int apply_entry(struct apply *a, const struct entry *e)
{
	const char *name;
	int dfd, r;

	if (!entry_ok(e))
		return -EINVAL;
	if (e->path_len == 0 && e->type != ENT_DIR)
		return -EINVAL;
	job_settle(a);
	caches_drop(a);
	if (e->type == ENT_HARDLINK)
		r = entry_hardlink(a, e);
	else if (e->path_len == 0)
		r = defer_dir(a, e);
	else if ((r = entry_precommit(a, e)) == 0) {
		dfd = path_open_parent(a->rootfd, e->path, e->path_len, &name);
		if (dfd < 0)
			return dfd;
		r = entry_at(a, dfd, name, e);
		close(dfd);
	}
	if (r == 0)
		a->st.entries++;
	return r;
}

/* ---- file content ---- */

static void file_free(struct apply_file *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		f->a->open = f->next;
	if (f->next)
		f->next->prev = f->prev;
	if (f->fd >= 0)
		close(f->fd);
	if (f->basis >= 0)
		close(f->basis);
	/* the directory back to the cache for the next file, unless the
	 * caches were dropped meanwhile (a change may have moved it) */
	if (f->dc.fd >= 0 && f->a->fc.fd < 0 && f->gen == f->a->gen)
		f->a->fc = f->dc;
	else
		cache_done(&f->dc);
	if (!f->a->spare_h && f->h && f->blk) {
		f->a->spare_h = f->h;
		f->a->spare_blk = f->blk;
	} else {
		hash_free(f->h);
		free(f->blk);
	}
	entry_clear(&f->e);
	free(f);
}

/* The mode to create f's temporary file with, so that it needs neither
 * chown nor chmod afterwards (f->fresh), else 0600. */
static mode_t fresh_mode(struct apply *a, struct apply_file *f)
{
	mode_t want = f->e.mode & 07777;

	f->fresh = a->umask >= 0 && !(want & ~0777u) && !(want & (mode_t)a->umask) &&
		   (!(a->flags & FSMETA_OWNER) || (f->e.uid == a->uid && f->e.gid == a->gid)) &&
		   dir_plain(&f->dc);
	return f->fresh ? want : 0600;
}

static int file_init(struct apply *a, struct apply_file *f, const struct entry *e)
{
	int r;

	f->a = a;
	f->dirfd = f->fd = f->basis = f->dc.fd = -1;
	f->next = a->open;
	if (a->open)
		a->open->prev = f;
	a->open = f;
	if (a->spare_h) {
		f->h = a->spare_h;
		f->blk = a->spare_blk;
		a->spare_h = NULL;
		a->spare_blk = NULL;
		hash_reset(f->h);
	} else {
		f->h = hash_new();
		f->blk = malloc(BLOCK);
	}
	if (!f->h || !f->blk || entry_copy(&f->e, e) < 0)
		return -ENOMEM;
	r = cache_parent(a->rootfd, &a->fc, f->e.path, f->e.path_len);
	if (r < 0)
		return r;
	f->name = f->e.path + path_dirlen(f->e.path, f->e.path_len);
	f->name += f->name != f->e.path;
	f->dc = a->fc;                  /* lent until the file is done */
	f->gen = a->gen;
	a->fc = (struct dir_cache){ .fd = -1 };
	f->dirfd = f->dc.fd;
	mode_t mode = fresh_mode(a, f);
	r = make_temp(a, f->dirfd, f->tmp, mk_file, &mode);
	if (r < 0)
		return r;
	f->fd = r;
	return 0;
}

int apply_file_open(struct apply *a, const struct entry *e, struct apply_file **ret)
{
	struct apply_file *f;
	int r;

	if (!entry_ok(e) || e->type != ENT_FILE || e->path_len == 0)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	r = file_init(a, f, e);
	if (r < 0) {
		apply_file_abort(f);
		return r;
	}
	*ret = f;
	return 0;
}

int apply_file_basis(struct apply_file *f)
{
	if (job_touches(f->a, f->e.path, f->e.path_len))
		job_settle(f->a);
	if (f->basis < 0) {
		int fd = open_regular(f->dirfd, f->name);

		if (fd < 0)
			return fd == -ESTALE || fd == -ELOOP ? -ENOENT : fd;
		f->basis = fd;
	}
	return f->basis;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int is_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Write whole blocks at f->wpos, leaving all-zero blocks as holes and
 * writing each run of other blocks with one call. */
static int write_blocks(struct apply_file *f, const uint8_t *p, size_t n)
{
	size_t i = 0, start;
	int r;

	while (i < n) {
		while (i < n && is_zero(p + i, BLOCK))
			i += BLOCK;
		start = i;
		while (i < n && !is_zero(p + i, BLOCK))
			i += BLOCK;
		if (i > start && (r = pwrite_all(f->fd, p + start, i - start, f->wpos + start)) < 0)
			return r;
		if (i > start)
			f->wend = f->wpos + i;
	}
	f->wpos += n;
	return 0;
}

int apply_file_write(struct apply_file *f, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t take;
	int r;

	if (f->fd < 0)
		return -EBADF;
	if (n > f->e.size - f->got)
		return -EBADMSG;           /* more bytes than announced */
	hash_update(f->h, p, n);
	f->got += n;
	if (f->blen > 0 || n < BLOCK) {
		take = BLOCK - f->blen < n ? BLOCK - f->blen : n;
		memcpy(f->blk + f->blen, p, take);
		f->blen += take;
		p += take;
		n -= take;
		if (f->blen == BLOCK) {
			f->blen = 0;
			if ((r = write_blocks(f, f->blk, BLOCK)) < 0)
				return r;
		}
	}
	take = n - n % BLOCK;
	if (take > 0 && (r = write_blocks(f, p, take)) < 0)
		return r;
	memcpy(f->blk + f->blen, p + take, n - take);
	f->blen += n - take;
	return 0;
}

/* Flush the last partial block, check size and digest, set metadata. */
static int file_finish(struct apply_file *f, const uint8_t digest[HASH_LEN])
{
	uint8_t d[HASH_LEN];
	int r;

	if (f->fd < 0)
		return -EBADF;
	if (f->got != f->e.size)
		return -EBADMSG;
	hash_final(f->h, d);
	if (memcmp(d, digest, HASH_LEN) != 0)
		return -EBADMSG;
	if (!is_zero(f->blk, f->blen)) {
		if ((r = pwrite_all(f->fd, f->blk, f->blen, f->wpos)) < 0)
			return r;
		f->wend = f->wpos + f->blen;
	}
	/* a new file: only a hole at its end needs the size set */
	if (f->wend != f->e.size && ftruncate(f->fd, (off_t)f->e.size) < 0)
		return -errno;
	/* start writing a big file back now, so the commit's syncfs waits less */
	if (f->e.size >= (1u << 20))
		(void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	r = fsmeta_apply_fd(f->fd, &f->e, f->a->flags | (f->fresh ? FSMETA_FRESH : 0));
	if (r < 0)
		return r;
	r = close(f->fd);
	f->fd = -1;
	return r < 0 ? -errno : 0;
}

static int file_queue(struct apply_file *f)
{
	struct apply *a = f->a;
	struct pend_file *pf;
	int r = grow((void **)&a->files, &a->cfiles, a->nfiles, sizeof(*a->files));

	if (r < 0)
		return r;
	pf = &a->files[a->nfiles];
	pf->tmp = strdup(f->tmp);
	if (!pf->tmp)
		return -ENOMEM;
	pf->path = f->e.path;          /* moved out of the entry */
	pf->len = f->e.path_len;
	f->e.path = NULL;
	a->nfiles++;
	a->st.bytes_written += f->e.size;
	return 0;
}

int apply_file_close(struct apply_file *f, const uint8_t digest[HASH_LEN])
{
	int r = file_finish(f, digest);

	if (r == 0)
		r = file_queue(f);
	if (r < 0) {
		apply_file_abort(f);
		return r;
	}
	f->tmp[0] = '\0';
	file_free(f);
	return 0;
}

void apply_file_abort(struct apply_file *f)
{
	if (!f)
		return;
	if (f->tmp[0] && f->dirfd >= 0)
		unlinkat(f->dirfd, f->tmp, 0);   /* best effort */
	file_free(f);
}

/* ---- namespace changes ---- */

int apply_delete(struct apply *a, const char *path, size_t len)
{
	const char *name;
	int dfd, r;

	if (len == 0 || path_check(path, len) < 0 || path[len] != '\0')
		return -EINVAL;
	job_settle(a);
	if (apply_pending(a) > 0 && (r = apply_commit(a)) < 0)
		return r;
	caches_drop(a);
	dfd = path_open_parent(a->rootfd, path, len, &name);
	if (dfd < 0 && dfd != -ENOENT && dfd != -ENOTDIR)
		return dfd;
	r = dfd < 0 ? 0 : remove_node(a, dfd, name, path, len);
	if (dfd >= 0)
		close(dfd);
	if (r == 0)
		a->st.deletes++;
	return r;
}

/* A rename while versions are kept: what is in the way at the target is
 * kept (as removed), the rename itself is logged. */
static int rename_kept(struct apply *a, int fdf, const char *fname, const char *from,
		       size_t flen, int fdt, const char *tname, const char *to, size_t tlen)
{
	struct stat st;
	int r;

	if (flen == tlen && !memcmp(from, to, flen))
		return 0;
	if (fstatat(fdf, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;          /* nothing to move: keep the target as it is */
	r = remove_node(a, fdt, tname, to, tlen);
	if (r == 0 && renameat(fdf, fname, fdt, tname) < 0)
		r = -errno;
	if (r == 0)
		retain_renamed(a->retain, from, flen, to, tlen);
	return r;
}

int apply_rename(struct apply *a, const char *from, size_t flen, const char *to, size_t tlen)
{
	const char *fname, *tname;
	int fdf, fdt, r;

	if (flen == 0 || tlen == 0 || path_check(from, flen) < 0 || path_check(to, tlen) < 0 ||
	    from[flen] != '\0' || to[tlen] != '\0')
		return -EINVAL;
	if (path_covers(to, tlen, from, flen, 1) && tlen < flen)
		return -EINVAL;                  /* onto an ancestor of itself */
	job_settle(a);
	if (apply_pending(a) > 0 && (r = apply_commit(a)) < 0)
		return r;
	caches_drop(a);
	fdf = path_open_parent(a->rootfd, from, flen, &fname);
	if (fdf < 0)
		return fdf;
	fdt = path_open_parent(a->rootfd, to, tlen, &tname);
	if (fdt < 0) {
		close(fdf);
		return fdt;
	}
	r = a->retain ? rename_kept(a, fdf, fname, from, flen, fdt, tname, to, tlen) :
			rename_over(fdf, fname, fdt, tname);
	close(fdt);
	close(fdf);
	if (r == 0)
		a->st.renames++;
	return r;
}

/* Is name in directory dir one of this apply's temporary files? */
static int own_temp(const struct apply *a, const char *dir, size_t dlen, const char *name)
{
	const struct apply_file *f;
	size_t i;

	if (strncmp(name, TMP_PREFIX, TMP_PREFIX_LEN) != 0)
		return 0;
	for (i = 0; i < a->nfiles; i++)
		if (path_dirlen(a->files[i].path, a->files[i].len) == dlen &&
		    memcmp(a->files[i].path, dir, dlen) == 0 && strcmp(a->files[i].tmp, name) == 0)
			return 1;
	for (f = a->open; f; f = f->next)
		if (path_dirlen(f->e.path, f->e.path_len) == dlen &&
		    memcmp(f->e.path, dir, dlen) == 0 && strcmp(f->tmp, name) == 0)
			return 1;
	return 0;
}

static int child_is_dir(DIR *d, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

static int prune_one(struct apply *a, DIR *d, const char *dir, size_t dlen, const char *name)
{
	size_t clen;
	char *child = path_join(dir, dlen, name, strlen(name), &clen);
	int r;

	if (!child)
		return -ENOMEM;
	caches_drop(a);
	r = commit_if(a, child, clen, 1);
	if (r == 0)
		r = remove_node(a, dirfd(d), name, child, clen);
	free(child);
	if (r == 0)
		a->st.deletes++;
	return r;
}

int apply_prune(struct apply *a, const char *dir, size_t dlen,
		bool (*keep)(void *ctx, const char *name, size_t nlen, bool is_dir), void *ctx)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	job_settle(a);           /* its temporary files are not in the queue */
	/* the caches are dropped only when something is removed */
	fd = path_open_dir(a->rootfd, dir, dlen);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0) {
		errno = 0;
		if (!(de = readdir(d))) {
			r = errno ? -errno : 0;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    own_temp(a, dir, dlen, de->d_name))
			continue;
		if (!keep(ctx, de->d_name, strlen(de->d_name), child_is_dir(d, de)))
			r = prune_one(a, d, dir, dlen, de->d_name);
	}
	closedir(d);
	return r;
}

static bool is_temp_name(const char *path, size_t len)
{
	size_t d = path_dirlen(path, len);
	const char *name = path + d + (d > 0);

	return strncmp(name, TMP_PREFIX, TMP_PREFIX_LEN) == 0;
}

long apply_clean_temps(int rootfd)
{
	struct scan_opts so = { .one_fs = true, .names_only = true };
	struct scan *s = scan_new(rootfd, &so);
	struct entry e = { 0 };
	long n = 0;
	int rc;

	if (!s)
		return -ENOMEM;
	while ((rc = scan_next(s, &e)) != SCAN_END) {
		if (rc == SCAN_ENTRY && e.type != ENT_DIR && is_temp_name(e.path, e.path_len)) {
			const char *name;
			int dfd = path_open_parent(rootfd, e.path, e.path_len, &name);
			if (dfd >= 0) {
				n += unlinkat(dfd, name, 0) == 0;
				close(dfd);
			}
		}
		entry_clear(&e);
	}
	entry_clear(&e);
	scan_free(s);
	return n;
}

/* ---- appends in place ---- */

struct apply_append {
	int fd;
	uint64_t base, length, got;
	struct hash *h;
};

int apply_append_abort(struct apply_append *ap)
{
	int r = 0;

	if (!ap)
		return 0;
	/* the copy held base bytes when it was opened: a failed write may
	 * have left a part of one behind */
	if (ftruncate(ap->fd, (off_t)ap->base) < 0)
		r = -errno;
	close(ap->fd);
	hash_free(ap->h);
	free(ap);
	return r;
}

/* 0 when fd holds exactly base bytes ending with the tail digest. */
static int append_check(int fd, uint64_t base, uint32_t tail_len, const uint8_t tail[HASH_LEN])
{
	struct stat st;
	uint8_t d[HASH_LEN], *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != base || tail_len > base || tail_len > APPEND_TAIL_MAX)
		return -ESTALE;
	if (st.st_nlink != 1)
		return -ESTALE;         /* other names, maybe outside the tree */
	if (!(buf = malloc(tail_len ? tail_len : 1)))
		return -ENOMEM;
	do
		n = pread(fd, buf, tail_len, (off_t)(base - tail_len));
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		hash_buf(buf, (size_t)n, d);
	free(buf);
	if (n < 0)
		return -errno;
	return (size_t)n == tail_len && memcmp(d, tail, HASH_LEN) == 0 ? 0 : -ESTALE;
}

int apply_append_open(struct apply *a, const char *path, size_t len, uint64_t base,
		      uint64_t length, uint32_t tail_len, const uint8_t tail[HASH_LEN],
		      struct apply_append **ret)
{
	const char *name;
	struct apply_append *ap;
	int r, fd, dfd;

	job_settle(a);
	if ((r = commit_if(a, path, len, 0)) < 0)
		return r;
	if ((dfd = path_open_parent(a->rootfd, path, len, &name)) < 0)
		return dfd;
	fd = open_regular_as(dfd, name, O_RDWR);
	close(dfd);
	if (fd < 0)
		return fd;
	if ((r = append_check(fd, base, tail_len, tail)) < 0) {
		close(fd);
		return r;
	}
	if (!(ap = calloc(1, sizeof(*ap))) || !(ap->h = hash_new())) {
		free(ap);
		close(fd);
		return -ENOMEM;
	}
	ap->fd = fd;
	ap->base = base;
	ap->length = length;
	*ret = ap;
	return 0;
}

int apply_append_write(struct apply_append *ap, const void *p, size_t n)
{
	int r;

	if (n > ap->length - ap->got)
		return -EBADMSG;
	if ((r = pwrite_all(ap->fd, p, n, ap->base + ap->got)) < 0)
		return r;
	hash_update(ap->h, p, n);
	ap->got += n;
	return 0;
}

int apply_append_close(struct apply *a, struct apply_append *ap, const uint8_t digest[HASH_LEN])
{
	uint8_t d[HASH_LEN];

	hash_final(ap->h, d);
	if (ap->got != ap->length || memcmp(d, digest, HASH_LEN) != 0) {
		int r = apply_append_abort(ap);
		return r < 0 ? r : -EBADMSG;
	}
	a->st.bytes_written += ap->length;
	hash_free(ap->h);
	int r = close(ap->fd) < 0 ? -errno : 0;
	free(ap);
	return r;
}
