/* scan: iterative depth-first walk of a mirror tree.
 *
 * The walk keeps one frame per directory on the path from the root to the
 * directory being read: its path, an open O_NOFOLLOW fd, and the names of
 * its subdirectories still to enter.  A frame is read to the end (its
 * children are reported and its subdirectories remembered), then reported
 * as SCAN_DIR_DONE, then its subdirectories are entered one by one.  Memory
 * is bounded by the frames (plus the hardlink map), never by the tree. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsmeta.h"
/* exclude.h has a slash-star inside its comment; tolerate it (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "scan.h"

#define SCAN_LINK_MAX (64 * 1024)   /* longest symlink target we read */

/* Hardlink map: (dev, ino) -> first path, for regular files with nlink > 1.
 * A node is dropped once all its names have been seen. */
struct hl_node {
	struct hl_node *next;
	uint64_t dev, ino;
	uint32_t left;        /* names not seen yet */
	size_t len;
	char path[];
};

struct hl_map {
	struct hl_node **b;
	size_t nb, n;
};

struct frame {
	char *path;
	size_t len;
	int fd;
	DIR *d;               /* NULL once read to the end */
	char *subs;           /* NUL-separated names of subdirectories to enter */
	size_t subs_len, subs_cap, subs_pos;
};

struct scan {
	int rootfd;
	struct scan_opts opts;
	uint64_t root_dev;
	bool started;
	struct frame *st;
	size_t depth, cap;
	struct hl_map hl;
};

static size_t hl_hash(uint64_t dev, uint64_t ino, size_t nb)
{
	uint64_t h = (ino ^ (dev << 17) ^ (dev >> 7)) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (nb - 1);
}

static int hl_grow(struct hl_map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct hl_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nb; i++) {
		struct hl_node *n = m->b[i], *next;

		for (; n; n = next) {
			size_t h = hl_hash(n->dev, n->ino, nb);

			next = n->next;
			n->next = b[h];
			b[h] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

static void hl_clear(struct hl_map *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct hl_node *n = m->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* Record e (a regular file with nlink > 1) or, when its inode was seen
 * before, turn it into an ENT_HARDLINK to the first path.  0 or -ENOMEM. */
static int hl_note(struct hl_map *m, struct entry *e)
{
	struct hl_node **pp, *n;

	if (m->n >= m->nb && hl_grow(m) < 0)
		return -ENOMEM;
	for (pp = &m->b[hl_hash(e->dev, e->ino, m->nb)]; *pp; pp = &(*pp)->next) {
		n = *pp;
		if (n->dev != e->dev || n->ino != e->ino)
			continue;
		e->link = strndup(n->path, n->len);
		if (!e->link)
			return -ENOMEM;
		e->link_len = n->len;
		e->type = ENT_HARDLINK;
		if (--n->left == 0) {
			*pp = n->next;
			free(n);
			m->n--;
		}
		return 0;
	}
	n = malloc(sizeof(*n) + e->path_len + 1);
	if (!n)
		return -ENOMEM;
	n->dev = e->dev;
	n->ino = e->ino;
	n->left = e->nlink - 1;
	n->len = e->path_len;
	memcpy(n->path, e->path, e->path_len + 1);
	n->next = *pp;
	*pp = n;
	m->n++;
	return 0;
}

/* Read the target of the symlink dirfd/name, whatever its length. */
static int read_link(int dirfd, const char *name, off_t hint, struct entry *e)
{
	size_t cap = hint > 0 && hint < SCAN_LINK_MAX ? (size_t)hint + 1 : 256;

	for (;;) {
		char *buf = malloc(cap);
		ssize_t n;

		if (!buf)
			return -ENOMEM;
		n = readlinkat(dirfd, name, buf, cap);
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			e->link = buf;
			e->link_len = (size_t)n;
			return 0;
		}
		free(buf);
		if (cap >= SCAN_LINK_MAX)
			return -ENAMETOOLONG;
		cap *= 2;
	}
}

/* Fill e (path already set) from st and, for dirfd/name, the symlink
 * target and xattrs.  0 or -errno. */
static int fill_entry(int dirfd, const char *name, const struct stat *st, bool xattrs,
		      struct entry *e)
{
	int r;

	fsmeta_from_stat(e, st);
	if (S_ISLNK(st->st_mode)) {
		r = read_link(dirfd, name, st->st_size, e);
		if (r < 0)
			return r;
	}
	if (xattrs)
		return fsmeta_read_xattrs(dirfd, name, &e->xattrs, &e->xattrs_len);
	return 0;
}

/* Heap "dir/name" (or "name" when dir is ""). */
static char *join(const char *dir, size_t dlen, const char *name, size_t *ret_len)
{
	size_t nlen = strlen(name);
	size_t len = dlen + (dlen ? 1 : 0) + nlen;
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memcpy(p, dir, dlen);
	if (dlen)
		p[dlen] = '/';
	memcpy(p + len - nlen, name, nlen + 1);
	*ret_len = len;
	return p;
}

static void frame_free(struct frame *f)
{
	if (f->d)
		closedir(f->d);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->subs);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

static int frame_add_sub(struct frame *f, const char *name)
{
	size_t n = strlen(name) + 1;

	if (f->subs_len + n > f->subs_cap) {
		size_t cap = f->subs_cap ? f->subs_cap * 2 : 256;
		char *p;

		while (cap < f->subs_len + n)
			cap *= 2;
		p = realloc(f->subs, cap);
		if (!p)
			return -ENOMEM;
		f->subs = p;
		f->subs_cap = cap;
	}
	memcpy(f->subs + f->subs_len, name, n);
	f->subs_len += n;
	return 0;
}

static int scan_reserve(struct scan *s)
{
	struct frame *st;
	size_t cap;

	if (s->depth < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	st = realloc(s->st, cap * sizeof(*st));
	if (!st)
		return -ENOMEM;
	s->st = st;
	s->cap = cap;
	return 0;
}

/* Push a frame for the directory fd and path; both are taken over on
 * success, the caller keeps them on failure.  0 or -errno. */
static int scan_push(struct scan *s, int fd, char *path, size_t len)
{
	struct frame *f;
	int dfd, r;

	r = scan_reserve(s);
	if (r < 0)
		return r;
	if (s->opts.gate && (r = s->opts.gate(s->opts.gate_ctx, path, len)) < 0)
		return r;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	f = &s->st[s->depth];
	memset(f, 0, sizeof(*f));
	f->d = fdopendir(dfd);
	if (!f->d) {
		r = -errno;
		close(dfd);
		return r;
	}
	f->fd = fd;
	f->path = path;
	f->len = len;
	s->depth++;
	return 0;
}

struct scan *scan_new(int rootfd, const struct scan_opts *opts)
{
	struct scan *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->rootfd = rootfd;
	if (opts)
		s->opts = *opts;
	return s;
}

void scan_free(struct scan *s)
{
	if (!s)
		return;
	while (s->depth > 0)
		frame_free(&s->st[--s->depth]);
	free(s->st);
	hl_clear(&s->hl);
	free(s);
}

/* The root entry "", and its frame when it is a directory. */
static int scan_root(struct scan *s, struct entry *e)
{
	struct stat st;
	char *path;
	int fd, r;

	s->started = true;
	if (entry_set_path(e, "", 0) < 0)
		return -ENOMEM;
	if (fstat(s->rootfd, &st) < 0)
		return -errno;
	fsmeta_from_stat(e, &st);
	s->root_dev = (uint64_t)st.st_dev;
	if (!S_ISDIR(st.st_mode))
		return SCAN_ENTRY;
	fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (s->opts.xattrs) {
		r = fsmeta_read_xattrs_fd(fd, &e->xattrs, &e->xattrs_len);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	path = strdup("");
	if (!path) {
		close(fd);
		return -ENOMEM;
	}
	r = scan_push(s, fd, path, 0);
	if (r < 0) {
		close(fd);
		free(path);
		return r;
	}
	return SCAN_ENTRY;
}

/* The entry type of a directory listing's d_type; ENT_NONE for unknown. */
static int dtype_ent(unsigned char t)
{
	switch (t) {
	case DT_REG: return ENT_FILE;
	case DT_DIR: return ENT_DIR;
	case DT_LNK: return ENT_SYMLINK;
	case DT_FIFO: return ENT_FIFO;
	case DT_CHR: return ENT_CHR;
	case DT_BLK: return ENT_BLK;
	case DT_SOCK: return ENT_SOCK;
	default: return ENT_NONE;
	}
}

/* names_only: the child as its directory's listing gives it.  A
 * subdirectory on another file system is left at scan_descend. */
static int scan_child_name(struct scan *s, struct frame *f, const char *name, int type,
			   struct entry *e)
{
	bool is_dir = type == ENT_DIR;

	if (s->opts.ex && exclude_match(s->opts.ex, e->path, e->path_len, is_dir))
		return 0;
	e->type = (uint8_t)type;
	if (is_dir) {
		int r = frame_add_sub(f, name);
		if (r < 0)
			return r;
	}
	return SCAN_ENTRY;
}

/* Report the child name of frame f (d_type dtype) into e.  Returns
 * SCAN_ENTRY, 0 to skip it (vanished or excluded), or -errno with e->path
 * set. */
static int scan_child(struct scan *s, struct frame *f, const char *name, unsigned char dtype,
		      struct entry *e)
{
	int dfd = dirfd(f->d);
	struct stat st;
	bool is_dir;
	int r;

	e->path = join(f->path, f->len, name, &e->path_len);
	if (!e->path)
		return -ENOMEM;
	if (s->opts.names_only && dtype_ent(dtype) != ENT_NONE)
		return scan_child_name(s, f, name, dtype_ent(dtype), e);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	is_dir = S_ISDIR(st.st_mode);
	if (s->opts.ex && exclude_match(s->opts.ex, e->path, e->path_len, is_dir))
		return 0;
	r = fill_entry(dfd, name, &st, s->opts.xattrs && !s->opts.names_only, e);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (!s->opts.names_only && S_ISREG(st.st_mode) && st.st_nlink > 1) {
		r = hl_note(&s->hl, e);
		if (r < 0)
			return r;
	}
	if (is_dir && !(s->opts.one_fs && (uint64_t)st.st_dev != s->root_dev)) {
		r = frame_add_sub(f, name);
		if (r < 0)
			return r;
	}
	return SCAN_ENTRY;
}

/* Next child of the frame being read; SCAN_DIR_DONE at its end. */
static int scan_read(struct scan *s, struct frame *f, struct entry *e)
{
	for (;;) {
		struct dirent *de;
		int r;

		errno = 0;
		de = readdir(f->d);
		if (!de) {
			r = -errno;
			closedir(f->d);
			f->d = NULL;
			if (entry_set_path(e, f->path, f->len) < 0)
				return -ENOMEM;
			return r < 0 ? r : SCAN_DIR_DONE;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = scan_child(s, f, de->d_name, de->d_type, e);
		if (r != 0)
			return r;
		entry_clear(e);
	}
}

/* Enter the next remembered subdirectory of f, or pop f.  Returns 0 when
 * the walk moved, or -errno with e->path naming the directory. */
static int scan_descend(struct scan *s, struct frame *f, struct entry *e)
{
	const char *name;
	struct stat st;
	size_t len;
	char *path;
	int fd, r;

	if (s->opts.one_level)
		f->subs_pos = f->subs_len;      /* no subdirectory entered */
	if (f->subs_pos >= f->subs_len) {
		frame_free(f);
		s->depth--;
		return 0;
	}
	name = f->subs + f->subs_pos;
	f->subs_pos += strlen(name) + 1;
	path = join(f->path, f->len, name, &len);
	if (!path)
		return -ENOMEM;
	fd = openat(f->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = errno == ENOENT ? 0 : -errno;
		if (fd >= 0)
			close(fd);
		e->path = path;
		e->path_len = len;
		return r;
	}
	if (s->opts.one_fs && (uint64_t)st.st_dev != s->root_dev) {
		/* mounted between our stat and open */
		close(fd);
		free(path);
		return 0;
	}
	/* s->st may move: f is not used after this */
	r = scan_push(s, fd, path, len);
	if (r < 0) {
		close(fd);
		e->path = path;
		e->path_len = len;
	}
	return r;
}

int scan_next(struct scan *s, struct entry *ret)
{
	struct entry e = { 0 };
	int r = 0;

	if (!s->started) {
		r = scan_root(s, &e);
		goto out;
	}
	while (s->depth > 0) {
		struct frame *f = &s->st[s->depth - 1];

		r = f->d ? scan_read(s, f, &e) : scan_descend(s, f, &e);
		if (r != 0)
			goto out;
		entry_clear(&e);
	}
	r = SCAN_END;
out:
	if (r < 0 && e.path) {
		/* keep only the path that names the failure */
		char *path = e.path;
		size_t len = e.path_len;

		e.path = NULL;
		entry_clear(&e);
		e.path = path;
		e.path_len = len;
	}
	*ret = e;
	return r;
}

/* Open the directory holding the last component of p (a NUL-terminated
 * copy that this function may cut), without following any symlink; point
 * *ret_name at that component.  Returns an fd (rootfd itself for a
 * top-level name) or -errno; -EINVAL for "", ".", ".." or empty parts. */
static int open_parent(int rootfd, char *p, const char **ret_name)
{
	int dfd = rootfd;
	char *slash;

	for (;;) {
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || !strcmp(p, ".") || !strcmp(p, "..")) {
			if (dfd != rootfd)
				close(dfd);
			return -EINVAL;
		}
		if (!slash)
			break;
		int nfd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;

		if (dfd != rootfd)
			close(dfd);
		if (nfd < 0)
			return -err;
		dfd = nfd;
		p = slash + 1;
	}
	*ret_name = p;
	return dfd;
}

static int stat_root(int rootfd, bool xattrs, struct entry *e)
{
	struct stat st;
	int fd, r;

	if (fstat(rootfd, &st) < 0)
		return -errno;
	fsmeta_from_stat(e, &st);
	if (!xattrs || !S_ISDIR(st.st_mode))
		return 0;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fsmeta_read_xattrs_fd(fd, &e->xattrs, &e->xattrs_len);
	close(fd);
	return r;
}

int scan_stat(int rootfd, const char *path, size_t len, bool xattrs, struct entry *ret)
{
	struct entry e = { 0 };
	const char *name = NULL;
	struct stat st;
	char *copy;
	int dfd, r;

	if (len == 0) {
		r = stat_root(rootfd, xattrs, &e);
		goto out;
	}
	copy = strndup(path, len);
	if (!copy)
		return -ENOMEM;
	if (strlen(copy) != len) {
		free(copy);
		return -EINVAL;
	}
	dfd = open_parent(rootfd, copy, &name);
	if (dfd < 0) {
		free(copy);
		return dfd;
	}
	r = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno :
		fill_entry(dfd, name, &st, xattrs, &e);
	if (dfd != rootfd)
		close(dfd);
	free(copy);
out:
	if (r == 0)
		r = entry_set_path(&e, path, len);
	if (r < 0) {
		entry_clear(&e);
		return r;
	}
	*ret = e;
	return 0;
}
