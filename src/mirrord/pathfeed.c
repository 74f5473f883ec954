/* pathfeed: a sender feed over requested paths.  See pathfeed.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "path.h"
#include "pathfeed.h"
#include "restlist.h"
#include "scan.h"

struct item {
	uint8_t kind;
	char *path;
	size_t len;
};

struct pathfeed {
	int rootfd;
	const struct conf_mirror *m;
	const struct exclude *ex;
	struct item *v;
	size_t n, cap, next;
	uint64_t bytes, errors;
	struct scan *scan;         /* a SCAN item being walked */
	int scan_fd;
	const char *pre;           /* its path (borrowed from the item) */
	size_t pre_len;
	struct ino { uint64_t dev, ino; } *inos;   /* files with several names met */
	size_t n_inos;
	bool links_walk, links_done;   /* the walk that sends their other names */
	uint64_t links_sent;
	struct item *parents;      /* directories of the names the walk sent */
	size_t n_parents, next_parent;
	bool deletes_done;         /* first pass: DELETEs of paths that are gone */
};

struct pathfeed *pathfeed_new(int rootfd, const struct conf_mirror *m, const struct exclude *ex)
{
	struct pathfeed *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->rootfd = rootfd;
	f->m = m;
	f->ex = ex;
	f->scan_fd = -1;
	return f;
}

static void scan_end(struct pathfeed *f)
{
	scan_free(f->scan);
	f->scan = NULL;
	if (f->scan_fd >= 0 && f->scan_fd != f->rootfd)
		close(f->scan_fd);
	f->scan_fd = -1;
}

void pathfeed_free(struct pathfeed *f)
{
	if (!f)
		return;
	scan_end(f);
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].path);
	free(f->v);
	free(f->inos);
	for (size_t i = 0; i < f->n_parents; i++)
		free(f->parents[i].path);
	free(f->parents);
	free(f);
}

int pathfeed_add(struct pathfeed *f, uint8_t kind, const char *path, size_t len)
{
	if (f->n >= PATHFEED_MAX_ITEMS || f->bytes + len > PATHFEED_MAX_BYTES)
		return -E2BIG;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct item *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	char *p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, path, len);
	p[len] = '\0';
	f->v[f->n++] = (struct item){ kind, p, len };
	f->bytes += len;
	return 0;
}

size_t pathfeed_count(const struct pathfeed *f)
{
	return f->n;
}

uint64_t pathfeed_errors(const struct pathfeed *f)
{
	return f->errors;
}

/* ---- files with several names ---- */

static int cmp_ino(const void *a, const void *b)
{
	const struct ino *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Remember a requested file with other names; the links walk sends them.
 * Beyond PATHFEED_MAX_INOS the walk sends every hardlink group. */
static void note_ino(struct pathfeed *f, const struct entry *e)
{
	if (f->n_inos == PATHFEED_MAX_INOS)
		return;
	if (f->n_inos % 1024 == 0) {
		struct ino *v = realloc(f->inos, (f->n_inos + 1024) * sizeof(*v));
		if (!v) {
			f->n_inos = PATHFEED_MAX_INOS;   /* all groups, then */
			return;
		}
		f->inos = v;
	}
	f->inos[f->n_inos++] = (struct ino){ e->dev, e->ino };
}

static bool ino_wanted(const struct pathfeed *f, const struct entry *e)
{
	struct ino k = { e->dev, e->ino };

	if ((e->type != ENT_FILE && e->type != ENT_HARDLINK) || e->nlink < 2)
		return false;
	return f->n_inos == PATHFEED_MAX_INOS ||
	       bsearch(&k, f->inos, f->n_inos, sizeof(k), cmp_ino) != NULL;
}

/* A name the walk sends may be replaced on the other side, which changes
 * its directory's mtime: the directory is sent again after the walk (the
 * receiver sets directory metadata last).  Best effort beyond the bound. */
static void note_parent(struct pathfeed *f, const char *path, size_t len)
{
	size_t dlen = path_dirlen(path, len);

	if (f->n_parents > 0 && f->parents[f->n_parents - 1].len == dlen &&
	    memcmp(f->parents[f->n_parents - 1].path, path, dlen) == 0)
		return;
	if (f->n_parents == 4 * PATHFEED_MAX_INOS)
		return;
	if (f->n_parents % 256 == 0) {
		struct item *v = realloc(f->parents, (f->n_parents + 256) * sizeof(*v));
		if (!v)
			return;
		f->parents = v;
	}
	char *p = strndup(path, dlen);
	if (p)
		f->parents[f->n_parents++] = (struct item){ RESTLIST_PATH, p, dlen };
}

/* An entry of the links walk: every name of a wanted group, the first as
 * the file, the others as hardlinks to it.  1 with *op, 0 to skip. */
static int links_op(struct pathfeed *f, struct entry *e, struct sender_op *op)
{
	if (!ino_wanted(f, e))
		return 0;
	int rc = scan_stat(f->rootfd, e->path, e->path_len, f->m->xattrs, &op->e);
	if (rc < 0) {
		entry_clear(&op->e);
		return 0;               /* gone meanwhile */
	}
	if (e->type == ENT_HARDLINK) {
		op->e.type = ENT_HARDLINK;
		op->e.link = e->link;
		op->e.link_len = e->link_len;
		e->link = NULL;
	}
	op->kind = SOP_ENTRY;
	f->links_sent++;
	note_parent(f, e->path, e->path_len);
	return 1;
}

static int links_start(struct pathfeed *f)
{
	struct scan_opts so = { .one_fs = f->m->one_fs, .ex = f->ex };

	f->links_done = true;
	if (f->n_inos == 0)
		return 0;
	qsort(f->inos, f->n_inos < PATHFEED_MAX_INOS ? f->n_inos : 0, sizeof(*f->inos), cmp_ino);
	log_info("mirror %s: %zu requested files have several names: walking the tree for "
		 "the others", f->m->name, f->n_inos);
	if (!(f->scan = scan_new(f->rootfd, &so)))
		return -ENOMEM;
	f->scan_fd = f->rootfd;
	f->pre = "";
	f->pre_len = 0;
	f->links_walk = true;
	return 0;
}

/* ---- one path ---- */

static int delete_op(const char *path, size_t len, struct sender_op *op)
{
	entry_clear(&op->e);
	memset(op, 0, sizeof(*op));
	if (!(op->e.path = strndup(path, len)))
		return -ENOMEM;
	op->e.path_len = len;
	op->kind = SOP_DELETE;
	return 1;
}

/* Is the path gone (first pass: a stat, no xattrs)? */
static bool gone(struct pathfeed *f, const struct item *it)
{
	const char *name;
	struct stat st;
	int dfd = it->len ? path_open_parent(f->rootfd, it->path, it->len, &name) : -EINVAL;
	bool g = dfd == -ENOENT || dfd == -ENOTDIR || dfd == -ELOOP;

	if (dfd >= 0) {
		g = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    (errno == ENOENT || errno == ENOTDIR);
		close(dfd);
	}
	return g;
}

/* 1 with an operation, 0 to skip the item, <0 on a fatal error. */
static int path_op(struct pathfeed *f, const struct item *it, struct sender_op *op)
{
	memset(op, 0, sizeof(*op));
	if (!f->deletes_done)
		return gone(f, it) ? delete_op(it->path, it->len, op) : 0;
	int rc = scan_stat(f->rootfd, it->path, it->len, f->m->xattrs, &op->e);

	if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP) {
		entry_clear(&op->e);
		return 0;               /* sent in the first pass, or gone since */
	}
	if (rc < 0) {
		log_err("mirror %s: cannot read '%s': %s, skipped", f->m->name, it->path,
			strerror(-rc));
		entry_clear(&op->e);
		f->errors++;
		return 0;
	}
	if (op->e.type == ENT_FILE && op->e.nlink > 1) {
		note_ino(f, &op->e);    /* the links walk sends it with its group */
		entry_clear(&op->e);
		return 0;
	}
	op->kind = SOP_ENTRY;
	return 1;
}

/* ---- one subtree ---- */

static int prefix(struct pathfeed *f, char **p, size_t *len)
{
	size_t n = f->pre_len;
	char *q = *len == 0 ? strndup(f->pre, f->pre_len) : path_join(f->pre, f->pre_len, *p, *len, &n);

	if (!q)
		return -ENOMEM;
	free(*p);
	*p = q;
	*len = n;
	return 0;
}

static int scan_start(struct pathfeed *f, const char *path, size_t len)
{
	/* excludes are anchored at the mirror root: a subtree's entries are
	 * matched by scan_op once they have their whole path */
	struct scan_opts so = { .one_fs = f->m->one_fs, .xattrs = f->m->xattrs,
				.ex = len == 0 ? f->ex : NULL };
	int fd = len == 0 ? f->rootfd : path_open_dir(f->rootfd, path, len);

	if (fd < 0)
		return fd;
	if (!(f->scan = scan_new(fd, &so))) {
		if (fd != f->rootfd)
			close(fd);
		return -ENOMEM;
	}
	f->scan_fd = fd;
	f->pre = path;
	f->pre_len = len;
	return 0;
}

/* An entry of a subtree walk that the excludes cover (or lies beneath
 * one they cover). */
static bool excluded(const struct pathfeed *f, int kind, const struct entry *e)
{
	if (f->pre_len == 0 || !f->ex || exclude_count(f->ex) == 0)
		return false;
	for (size_t n = e->path_len; n > f->pre_len; n = path_dirlen(e->path, n)) {
		bool dir = n < e->path_len || kind == SCAN_DIR_DONE || e->type == ENT_DIR;
		if (exclude_match(f->ex, e->path, n, dir))
			return true;
	}
	return false;
}

/* Next item of the subtree walk: 1, or 0 when it ended. */
static int scan_op(struct pathfeed *f, struct sender_op *op)
{
	for (;;) {
		memset(op, 0, sizeof(*op));
		int rc = scan_next(f->scan, &op->e);
		if (rc == SCAN_END) {
			entry_clear(&op->e);
			scan_end(f);
			if (f->links_walk)
				log_info("mirror %s: %llu names of files with several names sent",
					 f->m->name, (unsigned long long)f->links_sent);
			f->links_walk = false;
			return 0;
		}
		if (f->links_walk) {
			struct entry e = op->e;
			memset(op, 0, sizeof(*op));
			int k = rc == SCAN_ENTRY ? links_op(f, &e, op) : 0;
			entry_clear(&e);
			if (k == 1)
				return 1;
			continue;
		}
		if ((rc == SCAN_ENTRY || rc == SCAN_DIR_DONE) &&
		    (f->pre_len == 0 || (prefix(f, &op->e.path, &op->e.path_len) == 0 &&
					 (op->e.type != ENT_HARDLINK ||
					  prefix(f, &op->e.link, &op->e.link_len) == 0)))) {
			if (excluded(f, rc, &op->e)) {
				entry_clear(&op->e);
				continue;       /* the receiving side never prunes it */
			}
			op->kind = rc == SCAN_ENTRY ? SOP_ENTRY : SOP_DIR_DONE;
			if (rc == SCAN_ENTRY)
				op->flags = op->e.type == ENT_DIR ? SOP_LISTED | SOP_LISTING :
					    SOP_LISTING;
			if (rc == SCAN_ENTRY && op->e.nlink > 1 &&
			    (op->e.type == ENT_FILE || op->e.type == ENT_HARDLINK))
				note_ino(f, &op->e);
			return 1;
		}
		log_err("mirror %s: cannot read '%s': %s, skipped", f->m->name,
			op->e.path ? op->e.path : "?", strerror(rc < 0 ? -rc : ENOMEM));
		entry_clear(&op->e);
		f->errors++;
	}
}

static int item_op(struct pathfeed *f, const struct item *it, struct sender_op *op)
{
	if (!f->deletes_done)
		return it->kind == RESTLIST_PATH ? path_op(f, it, op) : 0;
	if (it->kind == RESTLIST_SCAN) {
		int rc = scan_start(f, it->path, it->len);
		if (rc == 0)
			return 0;         /* the walk gives the operations */
		if (rc != -ENOENT && rc != -ENOTDIR && rc != -ELOOP) {
			log_err("mirror %s: cannot walk '%s': %s, skipped", f->m->name, it->path,
				strerror(-rc));
			f->errors++;
			return 0;
		}
	}
	return path_op(f, it, op);
}

int pathfeed_next(void *ctx, struct sender_op *op)
{
	struct pathfeed *f = ctx;

	for (;;) {
		if (f->scan && scan_op(f, op) == 1)
			return 1;
		if (f->next == f->n && !f->deletes_done) {
			/* every DELETE first: each one commits what is pending on
			 * the receiving side */
			f->deletes_done = true;
			f->next = 0;
			continue;
		}
		if (f->next == f->n && !f->links_done) {
			if (links_start(f) < 0)
				return -ENOMEM;
			continue;
		}
		if (f->next == f->n && f->next_parent < f->n_parents) {
			int rc = path_op(f, &f->parents[f->next_parent++], op);
			if (rc != 0)
				return rc;
			continue;
		}
		if (f->next == f->n)
			return 2;
		int rc = item_op(f, &f->v[f->next++], op);
		if (rc != 0)
			return rc;
	}
}
