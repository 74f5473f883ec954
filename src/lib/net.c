/* net: TCP socket setup. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "net.h"

/* Socket buffers of the data connections.  The kernel starts a
 * connection with ~64 KiB of send buffer and grows it with the congestion
 * window; meanwhile either end stalls the stream whenever it is not
 * reading or writing for a moment: the source while it syncs its journal,
 * the sink while it commits (syncfs, renames), each up to ~100 ms on a
 * busy disk.  A 10,000-file burst moved in 64 KiB steps with such stalls
 * between them.  Larger buffers let the stream run on during those
 * pauses; they cost memory only while data waits in them.  Set before
 * connect() / listen() (accepted sockets inherit them), so the window
 * scale fits; capped by net.core.wmem_max / rmem_max. */
#define NET_BUF (4 << 20)

static void set_bufs(int fd)
{
	int n = NET_BUF;

	/* best effort: the defaults work, only slower */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
}

static void tune(int fd)
{
	int one = 1;

	/* best effort: small frames must not wait for Nagle, dead peers must
	 * eventually be noticed */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

int net_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	set_bufs(fd);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int net_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static int wait_connected(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int rc, err = 0;
	socklen_t elen = sizeof(err);

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	return -err;
}

int net_connect(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc;

	if (fd < 0)
		return -errno;
	set_bufs(fd);
	rc = connect(fd, sa, len) < 0 ? -errno : 0;
	if (rc == -EINPROGRESS)
		rc = wait_connected(fd, timeout_ms);
	if (rc == 0)
		rc = net_set_nonblock(fd, false);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	tune(fd);
	return fd;
}

void net_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
		}
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}
