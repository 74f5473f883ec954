/* watchbudget: the inotify watch budget of this user.  See watchbudget.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exclude.h"
#include "watchbudget.h"

#define GLOBAL_CAP "/proc/sys/fs/inotify/max_user_watches"
#define USERNS_CAP "/proc/sys/user/max_inotify_watches"
#define WD_PREFIX "inotify wd:"
#define WD_PREFIX_LEN (sizeof(WD_PREFIX) - 1)
#define LINK_MAX_LEN 64         /* "anon_inode:inotify" and then some */

static int read_u64(const char *path, uint64_t *ret)
{
	char buf[32], *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = 0;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ---- watches in use: "inotify wd:" lines of inotify descriptors ---- */

struct wdcount {
	size_t pos;             /* prefix chars matched on this line; past the
				 * prefix's length: not a watch line */
	uint64_t n;
};

static void wd_feed(struct wdcount *c, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n') {
			c->pos = 0;
		} else if (c->pos < WD_PREFIX_LEN) {
			if (p[i] != WD_PREFIX[c->pos])
				c->pos = WD_PREFIX_LEN + 1;
			else if (++c->pos == WD_PREFIX_LEN)
				c->n++;
		}
	}
}

uint64_t watchbudget_count_fdinfo(const char *text, size_t len)
{
	struct wdcount c = { 0 };

	wd_feed(&c, text, len);
	return c.n;
}

/* Watches of one descriptor, read from fdinfo in pieces (one line per
 * watch: large for large trees). */
static uint64_t fdinfo_watches(int pidfd, const char *fd)
{
	struct wdcount c = { 0 };
	char path[64], buf[8192];
	ssize_t n;
	int f;

	if (snprintf(path, sizeof(path), "fdinfo/%s", fd) >= (int)sizeof(path))
		return 0;
	if ((f = openat(pidfd, path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while ((n = read(f, buf, sizeof(buf))) > 0)
		wd_feed(&c, buf, (size_t)n);
	close(f);
	return c.n;
}

static bool is_inotify(int fddir, const char *name)
{
	char link[LINK_MAX_LEN];
	ssize_t n = readlinkat(fddir, name, link, sizeof(link) - 1);

	if (n < 0)
		return false;
	link[n] = 0;
	return strcmp(link, "anon_inode:inotify") == 0;
}

/* The watches of one process (0 when it cannot be inspected). */
static uint64_t process_watches(int pidfd)
{
	uint64_t n = 0;
	struct dirent *de;
	int fddir = openat(pidfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fddir >= 0 ? fdopendir(fddir) : NULL;

	if (!d) {
		if (fddir >= 0)
			close(fddir);
		return 0;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && is_inotify(dirfd(d), de->d_name))
			n += fdinfo_watches(pidfd, de->d_name);
	closedir(d);
	return n;
}

static bool same_ns(int pidfd, const struct stat *ns)
{
	struct stat st;

	return fstatat(pidfd, "ns/user", &st, 0) == 0 && st.st_ino == ns->st_ino &&
	       st.st_dev == ns->st_dev;
}

/* Watches held by processes of our euid in our user namespace. */
static void count_used(struct watchbudget *b)
{
	uid_t me = geteuid();
	struct stat ns, st;
	struct dirent *de;
	DIR *d;

	if (stat("/proc/self/ns/user", &ns) < 0 || !(d = opendir("/proc")))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		int pidfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pidfd < 0)
			continue;       /* exited meanwhile */
		if (fstat(pidfd, &st) == 0 && st.st_uid == me && same_ns(pidfd, &ns)) {
			b->used += process_watches(pidfd);
			b->processes++;
		}
		close(pidfd);
	}
	closedir(d);
}

int watchbudget_read(struct watchbudget *ret)
{
	struct watchbudget b = { 0 };
	int rc;

	if ((rc = read_u64(GLOBAL_CAP, &b.max_global)) < 0)
		return rc;
	/* before Linux 5.11 the namespace has no cap of its own */
	if (read_u64(USERNS_CAP, &b.max_userns) < 0)
		b.max_userns = b.max_global;
	b.userns_binds = b.max_userns < b.max_global;
	b.max = b.userns_binds ? b.max_userns : b.max_global;
	count_used(&b);
	*ret = b;
	return 0;
}

uint64_t watchbudget_free(const struct watchbudget *b)
{
	return b->used < b->max ? b->max - b->used : 0;
}

uint64_t watchbudget_suggest(const struct watchbudget *b, uint64_t need)
{
	uint64_t want = b->used + need + need / 2, floor = b->max + 1024;

	if (want < b->used || want > UINT64_MAX - 1024)
		return UINT64_MAX;      /* absurd figures: say so rather than wrap */
	want = (want + 1023) / 1024 * 1024;
	return want < floor ? floor : want;
}

/* ---- directories of a tree ---- */

static uint64_t count_below(int dfd, const char *rel, size_t len, const struct exclude *ex);

/* One directory entry: 0 (not a directory, or excluded) or the directories
 * of its subtree. */
static uint64_t count_entry(int dfd, const char *rel, size_t len, const struct dirent *de,
			    const struct exclude *ex)
{
	size_t nlen = strlen(de->d_name), clen = len + (len ? 1 : 0) + nlen;
	bool is_dir = de->d_type == DT_DIR;
	struct stat st;
	uint64_t n = 1;

	if (de->d_type == DT_UNKNOWN)
		is_dir = fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			 S_ISDIR(st.st_mode);
	if (!is_dir)
		return 0;
	char *child = malloc(clen + 1);
	if (!child)
		return 1;       /* cannot look further: count what we know */
	memcpy(child, rel, len);
	if (len)
		child[len] = '/';
	memcpy(child + clen - nlen, de->d_name, nlen + 1);
	if (ex && exclude_match(ex, child, clen, true)) {
		n = 0;
	} else {
		int fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			n += count_below(fd, child, clen, ex);
	}
	free(child);
	return n;
}

/* The directories below fd (which it takes over and closes). */
static uint64_t count_below(int fd, const char *rel, size_t len, const struct exclude *ex)
{
	struct dirent *de;
	uint64_t n = 0;
	DIR *d = fdopendir(fd);

	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n += count_entry(dirfd(d), rel, len, de, ex);
	closedir(d);
	return n;
}

int watchbudget_count_dirs(const char *root, const struct exclude *ex, uint64_t *ret_dirs)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*ret_dirs = 1 + count_below(fd, "", 0, ex);
	return 0;
}
