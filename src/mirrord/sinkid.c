/* sinkid: the identity of a sink's copy of a mirror (see sinkid.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sinkid.h"

static int id_dir(const char *state_dir, const char *mirror, char **ret_dir)
{
	char *dir;

	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (asprintf(&dir, "%s/%s", state_dir, mirror) < 0)
		return -ENOMEM;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int rc = -errno;
		free(dir);
		return rc;
	}
	*ret_dir = dir;
	return 0;
}

static int id_read(int dirfd, uint64_t *ret_id)
{
	char buf[32];
	int fd = openat(dirfd, "sink-id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 16);
	if (errno || end == buf || (*end != '\n' && *end != '\0') || v == 0)
		return -EBADMSG;
	*ret_id = v;
	return 0;
}

static int id_write(int dirfd, uint64_t *ret_id)
{
	uint64_t id = 0;
	char buf[32];
	int fd, rc = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			return errno ? -errno : -EIO;
	int len = snprintf(buf, sizeof(buf), "%016" PRIx64 "\n", id);
	if ((fd = openat(dirfd, "sink-id.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (rc == 0 && renameat(dirfd, "sink-id.tmp", dirfd, "sink-id") < 0)
		rc = -errno;
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -errno;
	if (rc == 0)
		*ret_id = id;
	return rc;
}

static int with_dir(const char *state_dir, const char *mirror, bool fresh, uint64_t *ret_id)
{
	char *dir = NULL;
	int rc = id_dir(state_dir, mirror, &dir), dirfd;

	if (rc < 0)
		return rc;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (dirfd < 0)
		return -errno;
	rc = fresh ? -ENOENT : id_read(dirfd, ret_id);
	if (rc == -ENOENT || rc == -EBADMSG)
		rc = id_write(dirfd, ret_id);
	close(dirfd);
	return rc;
}

int sinkid_get(const char *state_dir, const char *mirror, uint64_t *ret_id)
{
	return with_dir(state_dir, mirror, false, ret_id);
}

int sinkid_rotate(const char *state_dir, const char *mirror)
{
	uint64_t id;

	return with_dir(state_dir, mirror, true, &id);
}
