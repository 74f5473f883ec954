/* idxwalk: walk a tree in the tree index's order (see idxwalk.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "entry.h"
#include "fsmeta.h"
/* exclude.h has a slash-star inside its comment; tolerate it (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "idxwalk.h"

#define DENTS_BUF (256 * 1024)

struct item {
	size_t off, len;         /* name in the frame's names */
	bool sub;                /* the subtree's key (name + "/") */
	struct idxwalk_info info;
	struct index_rec rec;
};

/* One directory on the way from the root: its children, sorted. */
struct frame {
	int fd;
	size_t plen;             /* its path: the walk's path[0 .. plen) */
	char *names;
	size_t nlen, ncap;
	struct item *it;
	size_t n, cap, pos;
};

struct walk {
	bool one_fs;
	const struct exclude *ex;
	int (*gate)(void *ctx, const char *path, size_t len);
	void *gate_ctx;
	uint64_t root_dev;
	char *path;              /* the current path */
	size_t pcap;
	char *dents;             /* getdents buffer */
	struct frame *fr;
	size_t depth, fcap;
};

static struct index_rec rec_of(const struct stat *st)
{
	struct entry e = { 0 };

	fsmeta_from_stat(&e, st);
	return (struct index_rec){
		.type = e.type, .mode = e.mode, .uid = e.uid, .gid = e.gid,
		.size = e.type == ENT_FILE ? e.size : 0,
		.mtime_ns = e.mtime_sec * 1000000000ll + e.mtime_nsec,
		.ino = e.ino,
	};
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (!(q = realloc(*p, n * size)))
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* path[0 .. plen) + "/" + name into the walk's path; its length. */
static int set_path(struct walk *w, size_t plen, const char *name, size_t nlen, size_t *ret)
{
	size_t len = plen + (plen ? 1 : 0) + nlen;
	int rc = grow((void **)&w->path, &w->pcap, len + 1, 1);

	if (rc < 0)
		return rc;
	if (plen)
		w->path[plen] = '/';
	memcpy(w->path + len - nlen, name, nlen);
	w->path[len] = '\0';
	*ret = len;
	return 0;
}

static int add_item(struct frame *f, size_t off, size_t len, bool sub,
		    const struct idxwalk_info *info, const struct index_rec *rec)
{
	int rc = grow((void **)&f->it, &f->cap, f->n + 1, sizeof(*f->it));

	if (rc < 0)
		return rc;
	f->it[f->n++] = (struct item){ .off = off, .len = len, .sub = sub, .info = *info,
				       .rec = *rec };
	return 0;
}

/* Note child name of f (stat'ed on its fd) unless it vanished or is
 * excluded: its entry, and its subtree for a directory to enter. */
static int add_child(struct walk *w, struct frame *f, const char *name)
{
	size_t nlen = strlen(name), len;
	struct stat st;
	int rc;

	if (fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	bool dir = S_ISDIR(st.st_mode);
	if (w->ex) {
		if ((rc = set_path(w, f->plen, name, nlen, &len)) < 0)
			return rc;
		if (exclude_match(w->ex, w->path, len, dir))
			return 0;
	}
	if ((rc = grow((void **)&f->names, &f->ncap, f->nlen + nlen, 1)) < 0)
		return rc;
	memcpy(f->names + f->nlen, name, nlen);
	struct index_rec r = rec_of(&st);
	struct idxwalk_info in = {
		.enter = dir && !(w->one_fs && (uint64_t)st.st_dev != w->root_dev),
		.nlink = (uint32_t)st.st_nlink, .dev = (uint64_t)st.st_dev,
	};
	if ((rc = add_item(f, f->nlen, nlen, false, &in, &r)) < 0 ||
	    (in.enter && (rc = add_item(f, f->nlen, nlen, true, &in, &r)) < 0))
		return rc;
	f->nlen += nlen;
	return 0;
}

static int item_cmp(const void *pa, const void *pb, void *names)
{
	const struct item *a = pa, *b = pb;
	const char *na = (const char *)names + a->off, *nb = (const char *)names + b->off;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(na, nb, n);

	if (c != 0)
		return c;
	/* one name is a prefix of the other: the next byte of each key, the
	 * subtree's '/', or -1 at its end */
	int ca = n < a->len ? (unsigned char)na[n] : a->sub ? '/' : -1;
	int cb = n < b->len ? (unsigned char)nb[n] : b->sub ? '/' : -1;
	return ca - cb;
}

/* Read f's directory whole, sorted into its items. */
static int list_dir(struct walk *w, struct frame *f)
{
	ssize_t n;
	int rc;

	f->nlen = f->n = f->pos = 0;
	while ((n = getdents64(f->fd, w->dents, DENTS_BUF)) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(void *)(w->dents + off);
			const char *name = de->d_name;

			off += de->d_reclen;
			if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
				continue;
			if ((rc = add_child(w, f, name)) < 0)
				return rc;
		}
	}
	if (n < 0)
		return -errno;
	if (f->n > 1)   /* an empty directory has no array yet */
		qsort_r(f->it, f->n, sizeof(*f->it), item_cmp, f->names);
	return 0;
}

/* Enter directory fd (owned), at path[0 .. plen). */
static int push(struct walk *w, int fd, size_t plen)
{
	int rc;

	if (w->gate && (rc = w->gate(w->gate_ctx, plen ? w->path : "", plen)) < 0) {
		close(fd);
		return rc;
	}
	if (w->depth == w->fcap) {
		size_t n = w->fcap ? w->fcap * 2 : 16;
		struct frame *fr = realloc(w->fr, n * sizeof(*fr));

		if (!fr) {
			close(fd);
			return -ENOMEM;
		}
		memset(fr + w->fcap, 0, (n - w->fcap) * sizeof(*fr));
		w->fr = fr;
		w->fcap = n;
	}
	/* a frame's buffers stay for the next directory at its depth */
	struct frame *f = &w->fr[w->depth++];
	f->fd = fd;
	f->plen = plen;
	return list_dir(w, f);
}

/* The next item of the top frame: report it, or enter its subtree. */
static int step(struct walk *w,
		int (*fn)(void *ctx, const char *path, size_t len, const struct index_rec *rec,
			  const struct idxwalk_info *info),
		void *ctx)
{
	struct frame *f = &w->fr[w->depth - 1];
	struct stat st;
	size_t len;
	int rc, fd;

	if (f->pos == f->n) {
		close(f->fd);
		f->fd = -1;
		w->depth--;
		return 0;
	}
	struct item *it = &f->it[f->pos++];
	if ((rc = set_path(w, f->plen, f->names + it->off, it->len, &len)) < 0)
		return rc;
	if (!it->sub)
		return fn(ctx, w->path, len, &it->rec, &it->info);
	fd = openat(f->fd, w->path + len - it->len, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)      /* gone, or replaced by a non-directory: skipped */
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (w->one_fs && (uint64_t)st.st_dev != w->root_dev) {
		close(fd);       /* mounted since it was listed */
		return 0;
	}
	return push(w, fd, len);
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->fcap; i++) {
		if (i < w->depth && w->fr[i].fd >= 0)
			close(w->fr[i].fd);
		free(w->fr[i].names);
		free(w->fr[i].it);
	}
	free(w->fr);
	free(w->path);
	free(w->dents);
}

int idxwalk(int rootfd, const struct scan_opts *so,
	    int (*fn)(void *ctx, const char *path, size_t len, const struct index_rec *rec,
		      const struct idxwalk_info *info),
	    void *ctx)
{
	struct walk w = { .one_fs = so->one_fs, .ex = so->ex, .gate = so->gate,
			  .gate_ctx = so->gate_ctx };
	struct stat st;
	int rc, fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!(w.dents = malloc(DENTS_BUF))) {
		close(fd);
		return -ENOMEM;
	}
	w.root_dev = st.st_dev;
	struct index_rec r = rec_of(&st);
	struct idxwalk_info in = { .enter = true, .nlink = (uint32_t)st.st_nlink,
				   .dev = (uint64_t)st.st_dev };
	if ((rc = fn(ctx, "", 0, &r, &in)) != 0) {
		close(fd);
		walk_free(&w);
		return rc;
	}
	rc = push(&w, fd, 0);
	while (rc == 0 && w.depth > 0)
		rc = step(&w, fn, ctx);
	walk_free(&w);
	return rc;
}
