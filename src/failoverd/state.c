/* state: persisted term and flags (see state.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

int state_load(const char *path, struct fsm_persist *ret)
{
	char buf[128];
	uint64_t term;
	int wm, st, fd;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		memset(ret, 0, sizeof(*ret));
		return 0;
	}
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "term=%" SCNu64 " was_master=%d stale=%d", &term, &wm, &st) != 3 ||
	    (wm != 0 && wm != 1) || (st != 0 && st != 1))
		return -EINVAL;
	ret->term = term;
	ret->was_master = wm;
	ret->stale = st;
	return 0;
}

static int write_tmp(const char *tmp, const struct fsm_persist *p)
{
	char buf[128];
	int fd, n, r = 0;

	n = snprintf(buf, sizeof(buf), "term=%" PRIu64 " was_master=%d stale=%d\n",
		     p->term, p->was_master, p->stale);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EOVERFLOW;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -EIO;
	return r;
}

static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(copy);
}

int state_save(const char *path, const struct fsm_persist *p)
{
	char *tmp = NULL;
	int r;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	r = write_tmp(tmp, p);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	else
		sync_dir(path);
	free(tmp);
	return r;
}
