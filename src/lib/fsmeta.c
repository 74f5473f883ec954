/* fsmeta: read, compare and apply metadata without following symlinks.
 *
 * Extended attributes of dirfd/name are read with listxattrat and
 * getxattrat (Linux 6.13) without following a symlink; on older kernels
 * through the path "/proc/self/fd/<dirfd>/<name>" with the l*xattr calls,
 * which follow the magic link to the directory but not a symlink in the
 * last component (a lookup of the magic link and a path walk per call). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsmeta.h"
#include "wire.h"

#define XNAME_MAX 255            /* XATTR_NAME_MAX */
#define XVALUE_MAX 65536         /* XATTR_SIZE_MAX */
#define XRETRIES 5               /* the list changed under us: try again */

/* The *xattrat system calls, the same number on every architecture. */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif

struct xattrat_args {          /* struct xattr_args of linux/xattr.h */
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/* Where xattrs are read or written: an fd; or a directory fd and a name
 * (xattrat, read only), or a path for the l* calls. */
struct xsrc {
	int fd;
	const char *path;
	const char *name;       /* with fd: read by the *xattrat calls */
};

/* Cleared when the kernel lacks the *xattrat calls (ENOSYS). */
static atomic_bool have_xattrat = true;

static ssize_t xs_list(const struct xsrc *s, char *buf, size_t n)
{
	ssize_t r = s->name ? syscall(SYS_listxattrat, s->fd, s->name, AT_SYMLINK_NOFOLLOW, buf, n) :
		    s->path ? llistxattr(s->path, buf, n) : flistxattr(s->fd, buf, n);

	return r < 0 ? -errno : r;
}

static ssize_t xs_get(const struct xsrc *s, const char *name, void *buf, size_t n)
{
	struct xattrat_args args = { .value = (uint64_t)(uintptr_t)buf, .size = (uint32_t)n };
	ssize_t r = s->name ? syscall(SYS_getxattrat, s->fd, s->name, AT_SYMLINK_NOFOLLOW, name,
				      &args, sizeof(args)) :
		    s->path ? lgetxattr(s->path, name, buf, n) : fgetxattr(s->fd, name, buf, n);

	return r < 0 ? -errno : r;
}

static int xs_set(const struct xsrc *s, const char *name, const void *v, size_t n)
{
	int r = s->path ? lsetxattr(s->path, name, v, n, 0) : fsetxattr(s->fd, name, v, n, 0);

	return r < 0 ? -errno : 0;
}

static int xs_remove(const struct xsrc *s, const char *name)
{
	int r = s->path ? lremovexattr(s->path, name) : fremovexattr(s->fd, name);

	return r < 0 && errno != ENODATA ? -errno : 0;
}

/* The namespaces we mirror. */
static int xname_wanted(const char *n, size_t len)
{
	static const char *const pre[] = { "user.", "trusted.", "security." };
	size_t i;

	for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (len > strlen(pre[i]) && strncmp(n, pre[i], strlen(pre[i])) == 0)
			return 1;
	return (len == 23 && memcmp(n, "system.posix_acl_access", 23) == 0) ||
	       (len == 24 && memcmp(n, "system.posix_acl_default", 24) == 0);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the whole name list into *ret (NUL-separated); returns its length. */
static ssize_t xs_list_all(const struct xsrc *s, char **ret)
{
	ssize_t n, r;
	int i;

	for (i = 0; i < XRETRIES; i++) {
		n = xs_list(s, NULL, 0);
		if (n == -ENOTSUP || n == 0) {
			*ret = NULL;
			return 0;
		}
		if (n < 0)
			return n;
		if (n > FSMETA_XATTRS_MAX)
			return -E2BIG;
		*ret = malloc((size_t)n);
		if (!*ret)
			return -ENOMEM;
		r = xs_list(s, *ret, (size_t)n);
		if (r >= 0)
			return r;
		free(*ret);
		if (r != -ERANGE)
			return r;
	}
	return -EAGAIN;
}

/* Pointers to the wanted names in list, sorted; returns how many. */
static ssize_t xs_wanted(char *list, size_t len, char ***ret)
{
	size_t i, n = 0;
	char **v;

	v = malloc((len / 2 + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < len; i += strlen(list + i) + 1)
		if (xname_wanted(list + i, strnlen(list + i, len - i)))
			v[n++] = list + i;
	qsort(v, n, sizeof(*v), name_cmp);
	*ret = v;
	return (ssize_t)n;
}

static int encode_one(const struct xsrc *s, const char *name, uint8_t *val, struct wbuf *b)
{
	ssize_t vlen = xs_get(s, name, val, XVALUE_MAX);

	if (vlen == -ENODATA)
		return 0;               /* removed meanwhile */
	if (vlen < 0)
		return (int)vlen;
	wbuf_put_u16(b, (uint16_t)strlen(name));
	wbuf_put_raw(b, name, strlen(name));
	wbuf_put_bytes(b, val, (size_t)vlen);
	return b->err == -EMSGSIZE ? -E2BIG : b->err;
}

static int xs_encode(const struct xsrc *s, char **names, size_t n, struct wbuf *b)
{
	uint8_t *val = malloc(XVALUE_MAX);
	size_t i;
	int r = 0;

	if (!val)
		return -ENOMEM;
	for (i = 0; i < n && r == 0; i++)
		r = encode_one(s, names[i], val, b);
	free(val);
	return r;
}

static int xs_read(const struct xsrc *s, uint8_t **ret, size_t *ret_len)
{
	struct wbuf b;
	char *list = NULL, **names = NULL;
	ssize_t len, n;
	int r;

	len = xs_list_all(s, &list);
	if (len < 0)
		return (int)len;
	n = xs_wanted(list, (size_t)len, &names);
	if (n < 0) {
		free(list);
		return (int)n;
	}
	wbuf_init(&b, FSMETA_XATTRS_MAX);
	r = xs_encode(s, names, (size_t)n, &b);
	free(names);
	free(list);
	if (r < 0 || b.len == 0) {
		wbuf_free(&b);
		if (r == 0) {
			*ret = NULL;
			*ret_len = 0;
		}
		return r;
	}
	*ret = b.data;
	*ret_len = b.len;
	return 0;
}

/* "/proc/self/fd/<dirfd>/<name>" on the heap. */
static char *proc_path(int dirfd, const char *name)
{
	char *p;

	if (asprintf(&p, "/proc/self/fd/%d/%s", dirfd, name) < 0)
		return NULL;
	return p;
}

int fsmeta_read_xattrs(int dirfd, const char *name, uint8_t **ret, size_t *ret_len)
{
	struct xsrc s = { .fd = dirfd };
	char *p;
	int r;

	if (!*name)
		return xs_read(&s, ret, ret_len);
	if (atomic_load_explicit(&have_xattrat, memory_order_relaxed)) {
		s.name = name;
		r = xs_read(&s, ret, ret_len);
		if (r != -ENOSYS)
			return r;
		atomic_store(&have_xattrat, false);
		s.name = NULL;
	}
	p = proc_path(dirfd, name);
	if (!p)
		return -ENOMEM;
	s.path = p;
	r = xs_read(&s, ret, ret_len);
	free(p);
	return r;
}

int fsmeta_read_xattrs_fd(int fd, uint8_t **ret, size_t *ret_len)
{
	struct xsrc s = { .fd = fd };

	return xs_read(&s, ret, ret_len);
}

/* One record of a blob; 1 while records remain, 0 at the end, -EBADMSG. */
struct xiter {
	struct rbuf r;
	const uint8_t *name, *val;
	size_t nlen, vlen;
};

static int xiter_next(struct xiter *it)
{
	if (rbuf_left(&it->r) == 0 && it->r.err == 0)
		return 0;
	it->nlen = rbuf_get_u16(&it->r);
	it->name = rbuf_get_raw(&it->r, it->nlen);
	rbuf_get_bytes(&it->r, XVALUE_MAX, &it->val, &it->vlen);
	return it->r.err ? -EBADMSG : 1;
}

/* memcmp-style order of two names of given lengths. */
static int xname_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

int fsmeta_xattrs_check(const uint8_t *blob, size_t len)
{
	const uint8_t *prev = NULL;
	struct xiter it;
	size_t plen = 0;
	int r;

	if (len > FSMETA_XATTRS_MAX || (len && !blob))
		return -EBADMSG;
	rbuf_init(&it.r, blob, len);
	while ((r = xiter_next(&it)) > 0) {
		if (it.nlen == 0 || it.nlen > XNAME_MAX || memchr(it.name, 0, it.nlen) ||
		    !xname_wanted((const char *)it.name, it.nlen))
			return -EBADMSG;
		if (prev && xname_cmp(prev, plen, it.name, it.nlen) >= 0)
			return -EBADMSG;
		prev = it.name;
		plen = it.nlen;
	}
	return r;
}

void fsmeta_from_stat(struct entry *e, const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG: e->type = ENT_FILE; break;
	case S_IFDIR: e->type = ENT_DIR; break;
	case S_IFLNK: e->type = ENT_SYMLINK; break;
	case S_IFIFO: e->type = ENT_FIFO; break;
	case S_IFCHR: e->type = ENT_CHR; break;
	case S_IFBLK: e->type = ENT_BLK; break;
	case S_IFSOCK: e->type = ENT_SOCK; break;
	default: e->type = ENT_NONE; break;
	}
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->rdev = (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) ? st->st_rdev : 0;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->nlink = (uint32_t)st->st_nlink;
}

/* Remove the current names that the sorted blob lacks (a merge walk). */
static int xs_remove_extra(const struct xsrc *s, const uint8_t *cur, size_t clen,
			   const uint8_t *want, size_t wlen)
{
	struct xiter c, w;
	char name[XNAME_MAX + 1];
	int rc, rw, cmp, r;

	rbuf_init(&c.r, cur, clen);
	rbuf_init(&w.r, want, wlen);
	rw = xiter_next(&w);
	while ((rc = xiter_next(&c)) > 0) {
		cmp = -1;
		while (rw > 0 && (cmp = xname_cmp(w.name, w.nlen, c.name, c.nlen)) < 0)
			rw = xiter_next(&w);
		if (rw > 0 && cmp == 0)
			continue;
		memcpy(name, c.name, c.nlen);
		name[c.nlen] = '\0';
		r = xs_remove(s, name);
		if (r < 0)
			return r;
	}
	return rc < 0 ? rc : (rw < 0 ? rw : 0);
}

static int xs_set_all(const struct xsrc *s, const uint8_t *want, size_t wlen)
{
	char name[XNAME_MAX + 1];
	struct xiter w;
	int r;

	rbuf_init(&w.r, want, wlen);
	while ((r = xiter_next(&w)) > 0) {
		memcpy(name, w.name, w.nlen);
		name[w.nlen] = '\0';
		r = xs_set(s, name, w.val, w.vlen);
		if (r < 0)
			return r;
	}
	return r;
}

static int xs_apply(const struct xsrc *s, const struct entry *e)
{
	uint8_t *cur = NULL;
	size_t clen = 0;
	int r;

	if (fsmeta_xattrs_check(e->xattrs, e->xattrs_len) < 0)
		return -EBADMSG;
	r = xs_read(s, &cur, &clen);
	if (r < 0)
		return r;
	if (clen == e->xattrs_len && (clen == 0 || memcmp(cur, e->xattrs, clen) == 0)) {
		free(cur);
		return 0;
	}
	r = xs_remove_extra(s, cur, clen, e->xattrs, e->xattrs_len);
	free(cur);
	return r < 0 ? r : xs_set_all(s, e->xattrs, e->xattrs_len);
}

static void mtime_of(const struct entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = e->mtime_sec;
	ts[1].tv_nsec = e->mtime_nsec;
}

/* Has the regular file or directory dirfd/name (as st; fd alone when name
 * is NULL) e's metadata already?  Its xattrs are read only when the rest
 * is equal. */
static bool meta_current(int fd, const char *name, const struct stat *st,
			 const struct entry *e, unsigned flags)
{
	uint8_t *cur = NULL;
	size_t clen = 0;
	bool same;

	if ((st->st_mode & 07777) != (e->mode & 07777) || st->st_mtim.tv_sec != e->mtime_sec ||
	    (uint32_t)st->st_mtim.tv_nsec != e->mtime_nsec ||
	    ((flags & FSMETA_OWNER) && (st->st_uid != e->uid || st->st_gid != e->gid)))
		return false;
	if (!(flags & FSMETA_XATTRS))
		return true;
	if ((name ? fsmeta_read_xattrs(fd, name, &cur, &clen) :
		    fsmeta_read_xattrs_fd(fd, &cur, &clen)) < 0)
		return false;
	same = clen == e->xattrs_len && (clen == 0 || memcmp(cur, e->xattrs, clen) == 0);
	free(cur);
	return same;
}

int fsmeta_apply_fd(int fd, const struct entry *e, unsigned flags)
{
	struct xsrc s = { .fd = fd };
	struct timespec ts[2];
	struct stat st;
	int r;

	if (e->mtime_nsec >= 1000000000u)
		return -EINVAL;
	bool check = (flags & FSMETA_CHECK) && fstat(fd, &st) == 0;
	if (check && meta_current(fd, NULL, &st, e, flags))
		return 0;
	/* checked: what is equal is left as it is (a chown would clear the
	 * setuid bits: the mode is set after one) */
	bool owner = (flags & FSMETA_OWNER) &&
		     (!check || st.st_uid != e->uid || st.st_gid != e->gid);
	if (flags & FSMETA_FRESH) {
		r = !(flags & FSMETA_XATTRS) ? 0 :
		    fsmeta_xattrs_check(e->xattrs, e->xattrs_len) < 0 ? -EBADMSG :
		    xs_set_all(&s, e->xattrs, e->xattrs_len);
		if (r < 0)
			return r;
	} else {
		if (owner && fchown(fd, e->uid, e->gid) < 0)
			return -errno;
		if ((owner || !check || (st.st_mode & 07777) != (e->mode & 07777)) &&
		    fchmod(fd, e->mode & 07777) < 0)
			return -errno;
		if ((flags & FSMETA_XATTRS) && (r = xs_apply(&s, e)) < 0)
			return r;
	}
	if (check && st.st_mtim.tv_sec == e->mtime_sec &&
	    (uint32_t)st.st_mtim.tv_nsec == e->mtime_nsec)
		return 0;
	mtime_of(e, ts);
	return futimens(fd, ts) < 0 ? -errno : 0;
}

/* Open a regular file or directory found by fstatat as st, checking that it
 * is still the same inode. */
static int open_same(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* Symlinks and special files: never opened. */
static int apply_at_noopen(int dirfd, const char *name, const struct entry *e,
			   unsigned flags, int is_link)
{
	struct timespec ts[2];

	if ((flags & FSMETA_OWNER) &&
	    fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!is_link && fchmodat(dirfd, name, e->mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	mtime_of(e, ts);
	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int fsmeta_apply_at(int dirfd, const char *name, const struct entry *e, unsigned flags)
{
	struct stat st;
	int fd, r;

	if (!*name)
		return fsmeta_apply_fd(dirfd, e, flags);
	if (e->mtime_nsec >= 1000000000u)
		return -EINVAL;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return apply_at_noopen(dirfd, name, e, flags, S_ISLNK(st.st_mode));
	/* a directory's metadata is applied again after its content landed
	 * (held, and sent again after a pass): mostly already right */
	if (meta_current(dirfd, name, &st, e, flags))
		return 0;
	fd = open_same(dirfd, name, &st);
	if (fd < 0)
		return fd;
	r = fsmeta_apply_fd(fd, e, flags);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int bytes_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

bool fsmeta_equal(const struct entry *a, const struct entry *b, unsigned flags)
{
	int t = a->type;

	if (t != b->type || a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec)
		return false;
	if (t != ENT_SYMLINK && (a->mode & 07777) != (b->mode & 07777))
		return false;
	if (t == ENT_FILE && a->size != b->size)
		return false;
	if ((t == ENT_SYMLINK || t == ENT_HARDLINK) &&
	    !bytes_equal(a->link, a->link_len, b->link, b->link_len))
		return false;
	if ((t == ENT_CHR || t == ENT_BLK) && a->rdev != b->rdev)
		return false;
	if ((flags & FSMETA_OWNER) && (a->uid != b->uid || a->gid != b->gid))
		return false;
	if ((flags & FSMETA_XATTRS) && (t == ENT_FILE || t == ENT_DIR) &&
	    !bytes_equal(a->xattrs, a->xattrs_len, b->xattrs, b->xattrs_len))
		return false;
	return true;
}
