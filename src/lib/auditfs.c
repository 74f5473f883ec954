/* auditfs: one side's view of its tree for the drift audit.  See auditfs.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditfs.h"
#include "entry.h"
#include "hash.h"
#include "path.h"

#define TMP_PREFIX ".mirrord.tmp."     /* apply.c's temporary files */

static uint8_t type_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return ENT_FILE;
	case S_IFDIR: return ENT_DIR;
	case S_IFLNK: return ENT_SYMLINK;
	case S_IFIFO: return ENT_FIFO;
	case S_IFCHR: return ENT_CHR;
	case S_IFBLK: return ENT_BLK;
	case S_IFSOCK: return ENT_SOCK;
	}
	return ENT_NONE;
}

/* Fill it from st (and the symlink target, read at dfd/name). */
static int fill(int dfd, const char *name, const struct stat *st, struct audit_item *it)
{
	it->type = type_of(st->st_mode);
	if (it->type == ENT_NONE)
		return -EINVAL;
	it->mode = st->st_mode & 07777;
	it->uid = st->st_uid;
	it->gid = st->st_gid;
	it->size = it->type == ENT_FILE ? (uint64_t)st->st_size : 0;
	it->mtime_sec = st->st_mtim.tv_sec;
	it->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	it->ctime_sec = st->st_ctim.tv_sec;
	it->dev = st->st_dev;
	it->rdev = it->type == ENT_CHR || it->type == ENT_BLK ? st->st_rdev : 0;
	if (it->type != ENT_SYMLINK)
		return 0;
	char *buf = malloc(PATH_WIRE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = readlinkat(dfd, name, buf, PATH_WIRE_MAX + 1);
	if (n < 0 || n > PATH_WIRE_MAX) {
		int rc = n < 0 ? -errno : -ENAMETOOLONG;
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	it->link = buf;
	it->link_len = (size_t)n;
	it->size = (uint64_t)n;
	return 0;
}

/* Should name (a child of dir) be listed? */
static bool wanted(const char *dir, size_t len, const char *name, const struct exclude *ex,
		   bool is_dir, int *err)
{
	if (!strcmp(name, ".") || !strcmp(name, "..") ||
	    !strncmp(name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1))
		return false;
	if (!ex || exclude_count(ex) == 0)
		return true;
	size_t plen;
	char *p = path_join(dir, len, name, strlen(name), &plen);
	if (!p) {
		*err = -ENOMEM;
		return false;
	}
	bool keep = !exclude_match(ex, p, plen, is_dir);
	free(p);
	return keep;
}

struct collect {
	struct audit_item *v;
	size_t n, cap, max;
};

static int collect_one(void *ctx, struct audit_item *it)
{
	struct collect *c = ctx;

	if (c->n == c->max)
		return -E2BIG;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct audit_item *g = realloc(c->v, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		c->v = g;
		c->cap = cap;
	}
	c->v[c->n++] = *it;       /* the copy takes over name and link */
	return 1;
}

static int list_one(DIR *d, const char *dir, size_t len, const struct exclude *ex,
		    const struct dirent *de, struct audit_item *it)
{
	struct stat st;
	int err = 0;

	memset(it, 0, sizeof(*it));
	if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!wanted(dir, len, de->d_name, ex, S_ISDIR(st.st_mode), &err))
		return err;
	if (type_of(st.st_mode) == ENT_NONE)
		return 0;
	int rc = fill(dirfd(d), de->d_name, &st, it);
	if (rc == 0 && !(it->name = strdup(de->d_name)))
		rc = -ENOMEM;
	if (rc < 0) {
		audit_item_clear(it);
		return rc == -ENOENT ? 0 : rc;
	}
	it->name_len = strlen(it->name);
	return 1;
}

int auditfs_each(int rootfd, const char *dir, size_t len, const struct exclude *ex,
		 auditfs_fn *fn, void *ctx)
{
	int fd = path_open_dir(rootfd, dir, len);
	struct audit_item it;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return fd;
	if (!(d = fdopendir(fd))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (errno = 0; rc >= 0 && (de = readdir(d)); errno = 0) {
		if ((rc = list_one(d, dir, len, ex, de, &it)) != 1)
			continue;
		/* fn returns 1 when it kept the item (and what it owns) */
		if ((rc = fn(ctx, &it)) != 1)
			audit_item_clear(&it);
	}
	if (rc >= 0 && errno)
		rc = -errno;
	closedir(d);
	return rc < 0 ? rc : 0;
}

int auditfs_list(int rootfd, const char *dir, size_t len, const struct exclude *ex, size_t max,
		 struct audit_item **ret, size_t *ret_n)
{
	struct collect c = { .max = max };
	int rc = auditfs_each(rootfd, dir, len, ex, collect_one, &c);

	if (rc < 0) {
		audit_items_free(c.v, c.n);
		return rc;
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), audit_item_cmp);
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int auditfs_stat(int rootfd, const char *path, size_t len, struct audit_item *ret)
{
	const char *name;
	struct stat st;
	int rc, fd = path_open_parent(rootfd, path, len, &name);

	memset(ret, 0, sizeof(*ret));
	if (fd < 0)
		return fd;
	rc = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : fill(fd, name, &st, ret);
	if (rc == 0 && !(ret->name = strdup("")))
		rc = -ENOMEM;
	if (rc < 0)
		audit_item_clear(ret);
	close(fd);
	return rc;
}

/* Bytes per read: small enough at a low rate that one wait stays short
 * (about 1/8 s), so a stop request is seen soon. */
static size_t chunk_of(const struct ratelimit *rl)
{
	uint64_t c = rl && rl->rate ? rl->rate / 8 : AUDITFS_CHUNK;

	return c > AUDITFS_CHUNK ? AUDITFS_CHUNK : c < 4096 ? 4096 : (size_t)c;
}

/* Read fd to the end through rl into h; the bytes read or -errno. */
static int64_t hash_throttled(int fd, struct ratelimit *rl, struct hash *h, uint8_t *buf,
			      uint64_t *ret_bytes, volatile sig_atomic_t *stop)
{
	size_t chunk = chunk_of(rl);
	off_t off = 0;

	for (;;) {
		if (stop && *stop)
			return -EINTR;
		if (rl)
			ratelimit_wait(rl, chunk);
		ssize_t n = pread(fd, buf, chunk, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return off;
		hash_update(h, buf, (size_t)n);
		off += n;
		*ret_bytes += (uint64_t)n;
	}
}

int auditfs_hash(int rootfd, const char *path, size_t len, struct ratelimit *rl,
		 volatile sig_atomic_t *stop, struct audit_item *ret, uint64_t *ret_bytes)
{
	struct stat a, b;
	struct hash *h = NULL;
	uint8_t *buf = NULL;
	int rc, fd = path_open_file(rootfd, path, len, O_RDONLY | O_NOATIME);

	memset(ret, 0, sizeof(*ret));
	if (fd == -EPERM)     /* O_NOATIME: not the owner and not privileged */
		fd = path_open_file(rootfd, path, len, O_RDONLY);
	if (fd < 0)
		return fd;
	if (fstat(fd, &a) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(a.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if (!(h = hash_new()) || !(buf = malloc(AUDITFS_CHUNK))) {
		rc = -ENOMEM;
		goto out;
	}
	int64_t got = hash_throttled(fd, rl, h, buf, ret_bytes, stop);
	if (got < 0) {
		rc = (int)got;
		goto out;
	}
	if (fstat(fd, &b) < 0) {
		rc = -errno;
		goto out;
	}
	if (b.st_size != a.st_size || got != a.st_size ||
	    b.st_mtim.tv_sec != a.st_mtim.tv_sec || b.st_mtim.tv_nsec != a.st_mtim.tv_nsec) {
		rc = -ESTALE;
		goto out;
	}
	if ((rc = fill(-1, NULL, &b, ret)) == 0 && !(ret->name = strdup("")))
		rc = -ENOMEM;
	if (rc == 0) {
		hash_final(h, ret->digest);
		ret->has_digest = true;
	}
out:
	if (rc < 0)
		audit_item_clear(ret);
	free(buf);
	hash_free(h);
	close(fd);
	return rc;
}
