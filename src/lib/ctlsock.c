/* ctlsock: control protocol sockets.  See ctlsock.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlsock.h"

static int make_addr(const char *path, struct sockaddr_un *ret)
{
	size_t n = strlen(path);

	memset(ret, 0, sizeof(*ret));
	ret->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(ret->sun_path))
		return -ENAMETOOLONG;
	memcpy(ret->sun_path, path, n);
	return 0;
}

/* mkdir -p of path's parent, 0755. */
static int make_parents(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	char *slash = strrchr(p, '/');
	if (slash && slash != p) {
		*slash = '\0';
		for (char *q = p + 1; rc == 0; q++) {
			bool end = *q == '\0';
			if (*q != '/' && !end)
				continue;
			*q = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				rc = -errno;
			if (end)
				break;
			*q = '/';
		}
	}
	free(p);
	return rc;
}

/* Something is at path: remove it when it is a socket nobody answers. */
static int clear_stale(const struct sockaddr_un *sun)
{
	struct stat st;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int err = errno;
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (err != ECONNREFUSED && err != ENOENT)
		return -err;
	if (unlink(sun->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int ctlsock_listen(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int rc, fd;

	if ((rc = make_addr(path, &sun)) < 0 || (rc = make_parents(path)) < 0 ||
	    (rc = clear_stale(&sun)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0077);
	rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, backlog) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_line(int fd, const char *req, int64_t deadline)
{
	size_t len = strlen(req), off = 0;
	char *line = malloc(len + 2);
	int rc = 0;

	if (!line)
		return -ENOMEM;
	memcpy(line, req, len);
	line[len++] = '\n';
	while (off < len && rc == 0) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			rc = wait_fd(fd, POLLOUT, deadline);
		else if (n < 0 && errno != EINTR)
			rc = -errno;
	}
	free(line);
	if (rc == 0)
		(void)shutdown(fd, SHUT_WR);
	return rc;
}

static int recv_line(int fd, int64_t deadline, char **ret)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= CTLSOCK_REPLY_MAX) {
				rc = -EMSGSIZE;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EAGAIN) {
			if ((rc = wait_fd(fd, POLLIN, deadline)) < 0)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		char *nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			*ret = buf;
			return 0;
		}
		if (n == 0) {
			rc = -EPROTO;
			break;
		}
	}
	free(buf);
	return rc;
}

int ctlsock_request(const char *path, const char *req, int timeout_ms, char **ret_reply)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct sockaddr_un sun;
	int rc, fd;

	if ((rc = make_addr(path, &sun)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;   /* backlog full */
		close(fd);
		return rc;
	}
	if ((rc = send_line(fd, req, deadline)) == 0)
		rc = recv_line(fd, deadline, ret_reply);
	close(fd);
	return rc;
}

static void put(char *out, size_t len, size_t *at, char c)
{
	if (*at + 1 < len)
		out[(*at)++] = c;
}

int ctlsock_kv_next(const char *line, size_t *pos, char *key, size_t key_len,
		   char *val, size_t val_len)
{
	const char *p = line + *pos;
	size_t k = 0, v = 0;

	if (key_len == 0 || val_len == 0)
		return -EINVAL;
	p += strspn(p, " \t");
	if (!*p)
		return 0;
	while (*p && *p != '=' && *p != ' ')
		put(key, key_len, &k, *p++);
	if (*p == '=') {
		p++;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				put(val, val_len, &v, *p);
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ' ')
				put(val, val_len, &v, *p++);
		}
	}
	key[k] = '\0';
	val[v] = '\0';
	*pos = (size_t)(p - line);
	return 1;
}

int ctlsock_kv_get(const char *line, const char *key, char *out, size_t len)
{
	char k[64];
	size_t pos = 0;

	while (ctlsock_kv_next(line, &pos, k, sizeof(k), out, len) == 1)
		if (strcmp(k, key) == 0)
			return 0;
	if (len)
		out[0] = '\0';
	return -ENOENT;
}
