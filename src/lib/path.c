/* path: wire path checks and confined opens beneath a mirror root.
 *
 * openat2() with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
 * does the confinement in the kernel.  Kernels without it (ENOSYS) get a walk
 * that opens one component at a time with O_NOFOLLOW | O_DIRECTORY; wire paths
 * hold no "." or "..", so each step stays beneath the root. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

int path_check(const char *p, size_t len)
{
	size_t i, start = 0;

	if (len == 0)
		return 0;
	if (!p || len > PATH_WIRE_MAX)
		return -EINVAL;
	for (i = 0; i <= len; i++) {
		size_t clen;

		if (i < len && p[i] == '\0')
			return -EINVAL;
		if (i < len && p[i] != '/')
			continue;
		clen = i - start;
		if (clen == 0 || clen > NAME_MAX)
			return -EINVAL;
		if (p[start] == '.' && (clen == 1 || (clen == 2 && p[start + 1] == '.')))
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

/* After an O_NOFOLLOW | O_DIRECTORY open failed with ENOTDIR, tell a symlink
 * (-ELOOP) from another non-directory (-ENOTDIR). */
static int walk_error(int dirfd, const char *name, int err)
{
	struct stat st;

	if (err == -ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return -ELOOP;
	return err;
}

/* Open one component under dirfd, never following a symlink. */
static int walk_step(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, DIR_FLAGS | O_NOFOLLOW);

	if (fd < 0)
		return walk_error(dirfd, name, -errno);
	return fd;
}

/* The fallback: p is a checked wire path; copy it to split components. */
static int path_walk(int rootfd, const char *p, size_t len)
{
	char *buf, *comp, *save = NULL;
	int fd, next;

	fd = openat(rootfd, ".", DIR_FLAGS);
	if (fd < 0)
		return -errno;
	if (len == 0)
		return fd;
	buf = strndup(p, len);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		next = walk_step(fd, comp);
		close(fd);
		fd = next;
		if (fd < 0)
			break;
	}
	free(buf);
	return fd;
}

static int openat2_how(int rootfd, const char *p, int flags)
{
	struct open_how how = {
		.flags = (unsigned)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, rootfd, *p ? p : ".", &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd < 0 ? -errno : (int)fd;
}

static int path_openat2(int rootfd, const char *p)
{
	return openat2_how(rootfd, p, DIR_FLAGS);
}

int path_open_dir(int rootfd, const char *p, size_t len)
{
	int fd;

	if (path_check(p, len) < 0 || (len > 0 && p[len] != '\0'))
		return -EINVAL;
	fd = path_openat2(rootfd, len ? p : "");
	if (fd == -ENOSYS)
		fd = path_walk(rootfd, p, len);
	return fd;
}

int path_open_parent(int rootfd, const char *p, size_t len, const char **ret_name)
{
	size_t dlen;
	char *dir;
	int fd;

	if (len == 0 || path_check(p, len) < 0 || p[len] != '\0')
		return -EINVAL;
	dlen = path_dirlen(p, len);
	dir = strndup(p, dlen);
	if (!dir)
		return -ENOMEM;
	fd = path_open_dir(rootfd, dir, dlen);
	free(dir);
	if (fd >= 0)
		*ret_name = p + dlen + (dlen ? 1 : 0);
	return fd;
}

int path_open_file(int rootfd, const char *p, size_t len, int flags)
{
	const char *name;
	int dfd, fd, err;

	if (len == 0 || path_check(p, len) < 0 || p[len] != '\0')
		return -EINVAL;
	flags |= O_NOFOLLOW | O_CLOEXEC;
	if ((fd = openat2_how(rootfd, p, flags)) != -ENOSYS)
		return fd;
	if ((dfd = path_open_parent(rootfd, p, len, &name)) < 0)
		return dfd;
	fd = openat(dfd, name, flags);
	err = errno;
	close(dfd);
	return fd < 0 ? -err : fd;
}

char *path_join(const char *dir, size_t dlen, const char *name, size_t nlen, size_t *ret_len)
{
	size_t len = dlen + (dlen ? 1 : 0) + nlen;
	char *s;

	if (len < nlen)
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	if (dlen) {
		memcpy(s, dir, dlen);
		s[dlen] = '/';
	}
	memcpy(s + len - nlen, name, nlen);
	s[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return s;
}

size_t path_dirlen(const char *p, size_t len)
{
	while (len > 0 && p[len - 1] != '/')
		len--;
	return len ? len - 1 : 0;
}

int path_fsync_parent(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *d = slash ? strndup(file, slash == file ? 1 : (size_t)(slash - file)) : NULL;
	int fd, rc = 0;

	if (!slash)
		return -EINVAL;
	if (!d)
		return -ENOMEM;
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(d);
	return rc;
}
