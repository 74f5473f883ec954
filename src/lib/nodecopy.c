/* nodecopy: recursive copy, removal and size of nodes, by directory fd. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nodecopy.h"

#define COPY_BUF (128 * 1024)

static int copy_data(int in, int out)
{
	char *buf = NULL;
	int rc = 0;

	for (;;) {
		ssize_t k = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (k > 0)
			continue;
		if (k == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		break;             /* fall back to read/write from where it is */
	}
	if (!(buf = malloc(COPY_BUF)))
		return -ENOMEM;
	for (;;) {
		ssize_t k = read(in, buf, COPY_BUF), w = 0;
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -errno : 0;
			break;
		}
		while (w < k) {
			ssize_t x = write(out, buf + w, (size_t)(k - w));
			if (x < 0 && errno == EINTR)
				continue;
			if (x < 0) {
				rc = -errno;
				break;
			}
			w += x;
		}
		if (rc < 0)
			break;
	}
	free(buf);
	return rc;
}

int nodecopy_meta(int ddfd, const char *dname, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	bool lnk = S_ISLNK(st->st_mode);

	if (geteuid() == 0 &&
	    fchownat(ddfd, dname, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!lnk && fchmodat(ddfd, dname, st->st_mode & 07777, 0) < 0)
		return -errno;
	if (utimensat(ddfd, dname, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int copy_file(int sdfd, const char *sname, int ddfd, const char *dname)
{
	int in = openat(sdfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), out, rc;

	if (in < 0)
		return -errno;
	out = openat(ddfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	rc = copy_data(in, out);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	close(in);
	if (rc < 0)
		unlinkat(ddfd, dname, 0);
	return rc;
}

static int copy_symlink(int sdfd, const char *sname, const struct stat *st, int ddfd,
			const char *dname)
{
	size_t cap = (size_t)st->st_size + 1;
	char *t = malloc(cap > 4096 ? cap : 4096);
	ssize_t n;
	int rc = 0;

	if (!t)
		return -ENOMEM;
	n = readlinkat(sdfd, sname, t, cap > 4096 ? cap : 4096);
	if (n < 0 || (size_t)n >= (cap > 4096 ? cap : 4096))
		rc = n < 0 ? -errno : -ENAMETOOLONG;
	else {
		t[n] = '\0';
		if (symlinkat(t, ddfd, dname) < 0)
			rc = -errno;
	}
	free(t);
	return rc;
}

int nodecopy_one(int sdfd, const char *sname, const struct stat *st, int ddfd,
		 const char *dname)
{
	int rc;

	if (S_ISREG(st->st_mode))
		rc = copy_file(sdfd, sname, ddfd, dname);
	else if (S_ISLNK(st->st_mode))
		rc = copy_symlink(sdfd, sname, st, ddfd, dname);
	else if (S_ISSOCK(st->st_mode))
		return 1;
	else if (S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		rc = mknodat(ddfd, dname, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0 ?
		     -errno : 0;
	else
		return -EINVAL;
	if (rc == 0)
		rc = nodecopy_meta(ddfd, dname, st);
	return rc;
}

static int open_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int nodecopy_each_child(int fd, int (*fn)(int dfd, const char *name, void *ctx), void *ctx)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(fd);
		return -errno;
	}
	while (rc == 0) {
		errno = 0;
		if (!(de = readdir(d))) {
			rc = errno ? -errno : 0;
			break;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = fn(dirfd(d), de->d_name, ctx);
	}
	closedir(d);
	return rc;
}

struct tree_copy {
	int ddfd;
};

static int copy_child(int sdfd, const char *name, void *ctx)
{
	const struct tree_copy *tc = ctx;

	return nodecopy_tree(sdfd, name, tc->ddfd, name);
}

int nodecopy_tree(int sdfd, const char *sname, int ddfd, const char *dname)
{
	struct tree_copy tc;
	struct stat st;
	int sfd, rc;

	if (fstatat(sdfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		rc = nodecopy_one(sdfd, sname, &st, ddfd, dname);
		return rc > 0 ? 0 : rc;
	}
	if (mkdirat(ddfd, dname, 0700) < 0)
		return -errno;
	if ((tc.ddfd = open_dir(ddfd, dname)) < 0)
		return tc.ddfd;
	if ((sfd = open_dir(sdfd, sname)) < 0) {
		close(tc.ddfd);
		return sfd;
	}
	rc = nodecopy_each_child(sfd, copy_child, &tc);
	close(tc.ddfd);
	return rc < 0 ? rc : nodecopy_meta(ddfd, dname, &st);
}

static int remove_child(int dfd, const char *name, void *ctx)
{
	(void)ctx;
	return nodecopy_remove(dfd, name);
}

int nodecopy_remove(int dfd, const char *name)
{
	int fd, rc;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if ((fd = open_dir(dfd, name)) < 0)
		return fd == -ENOENT ? 0 : fd;
	rc = nodecopy_each_child(fd, remove_child, NULL);
	if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

static int add_bytes(int dfd, const char *name, void *ctx)
{
	*(unsigned long long *)ctx += nodecopy_bytes(dfd, name);
	return 0;
}

unsigned long long nodecopy_bytes(int dfd, const char *name)
{
	unsigned long long n = 0;
	struct stat st;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	n = (unsigned long long)st.st_blocks * 512;
	if (S_ISDIR(st.st_mode) && (fd = open_dir(dfd, name)) >= 0)
		(void)nodecopy_each_child(fd, add_bytes, &n);
	return n;
}
