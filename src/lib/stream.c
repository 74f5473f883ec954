/* stream: buffered frame I/O over a socket fd, plain or TLS. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "stream.h"
#include "tls.h"

#define STREAM_READ_STEP 65536
#define STREAM_FIRST_STEP 4096          /* until two frames came in */
#define STREAM_OUT_LIMIT (64u << 20)

struct stream {
	int fd;
	struct tls *tls;       /* NULL: plain socket */
	bool nonblock;         /* the caller's view (a TLS fd is always non-blocking) */
	int dir;               /* proto_check_frame direction, 0 = none */
	uint64_t deadline;     /* CLOCK_MONOTONIC ms, 0 = none */
	uint64_t waiting_since;/* ms, 0 = not waiting in stream_recv (atomic) */
	struct wbuf in;        /* unread input */
	size_t in_off;         /* start of unconsumed input */
	size_t consumed;       /* bytes of the frame handed out last */
	struct wbuf out;
	struct stream_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct stream *stream_new(int fd)
{
	struct stream *s = calloc(1, sizeof(*s));
	int fl = fcntl(fd, F_GETFL);

	if (!s)
		return NULL;
	s->fd = fd;
	s->nonblock = fl >= 0 && (fl & O_NONBLOCK);
	/* lazy: wbuf allocates on the first reserve */
	wbuf_init(&s->in, WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + STREAM_READ_STEP);
	wbuf_init(&s->out, STREAM_OUT_LIMIT);
	return s;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	tls_free(s->tls);
	if (s->fd >= 0)
		close(s->fd);
	wbuf_free(&s->in);
	wbuf_free(&s->out);
	free(s);
}

int stream_fd(const struct stream *s)
{
	return s->fd;
}

int stream_set_nonblock(struct stream *s, bool on)
{
	int fl;

	s->nonblock = on;
	if (s->tls)
		return 0;
	fl = fcntl(s->fd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(s->fd, F_SETFL, fl) < 0 ? -errno : 0;
}

void stream_set_deadline(struct stream *s, int ms)
{
	s->deadline = ms > 0 ? now_ms() + (uint64_t)ms : 0;
}

void stream_set_dir(struct stream *s, int dir)
{
	s->dir = dir;
}

/* Wait for ev on the fd for at most timeout_ms (-1: none), and never past
 * the deadline.  0 when ready, -ETIMEDOUT, -errno. */
static int stream_wait(struct stream *s, short ev, int timeout_ms)
{
	uint64_t now = now_ms();
	struct pollfd pfd = { .fd = s->fd, .events = ev };
	int rc;

	if (s->deadline) {
		if (now >= s->deadline)
			return -ETIMEDOUT;
		if (timeout_ms < 0 || s->deadline - now < (uint64_t)timeout_ms)
			timeout_ms = (int)(s->deadline - now);
	}
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

static short want(const struct stream *s)
{
	return s->tls ? tls_want(s->tls) : POLLIN;
}

int stream_start_tls(struct stream *s, struct tls_ctx *ctx, char *why, size_t why_len)
{
	int rc;

	if (!(s->tls = tls_new(ctx, s->fd))) {
		snprintf(why, why_len, "cannot set up TLS: out of memory");
		return -ENOMEM;
	}
	while ((rc = tls_handshake(s->tls)) == -EAGAIN) {
		if ((rc = stream_wait(s, tls_want(s->tls),
				      s->deadline ? -1 : STREAM_WRITE_WAIT_MS)) < 0) {
			snprintf(why, why_len, "TLS handshake: %s", strerror(-rc));
			return rc;
		}
	}
	if (rc < 0)
		snprintf(why, why_len, "%s", tls_why(s->tls));
	return rc;
}

const char *stream_tls_why(const struct stream *s)
{
	return s->tls && tls_failed(s->tls) ? tls_why(s->tls) : NULL;
}

void stream_peer(const struct stream *s, char *buf, size_t len)
{
	if (s->tls)
		tls_peer(s->tls, buf, len);
	else
		snprintf(buf, len, "plaintext");
}

/* Drop what earlier frames consumed so the buffer holds only unread bytes. */
static void stream_compact(struct stream *s)
{
	s->in_off += s->consumed;
	s->consumed = 0;
	if (s->in_off > 0) {
		wbuf_consume(&s->in, s->in_off);
		s->in_off = 0;
	}
}

static ssize_t io_read(struct stream *s, void *p, size_t n)
{
	ssize_t r;

	if (s->tls)
		return tls_read(s->tls, p, n);
	do
		r = recv(s->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static ssize_t io_write(struct stream *s, const void *p, size_t n)
{
	ssize_t r;

	if (s->tls)
		return tls_write(s->tls, p, n);
	do
		r = send(s->fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

/* One read step without waiting (over TLS: as many records as fit). */
static long fill_once(struct stream *s)
{
	size_t step = s->stats.frames_in < 2 ? STREAM_FIRST_STEP : STREAM_READ_STEP;
	size_t got = 0;
	ssize_t n;

	stream_compact(s);
	uint8_t *p = wbuf_reserve(&s->in, step);
	if (!p) {
		int err = s->in.err;
		s->in.err = 0;
		return err;
	}
	s->in.len -= step;
	do {
		n = io_read(s, p + got, step - got);
		if (n > 0)
			got += (size_t)n;
	} while (s->tls && n > 0 && got < step);
	s->in.len += got;
	s->stats.bytes_in += got;
	if (got > 0)
		return (long)got;
	return (long)n;
}

long stream_fill(struct stream *s)
{
	long n;

	while ((n = fill_once(s)) == -EAGAIN && s->tls && !s->nonblock) {
		int rc = stream_wait(s, want(s), -1);
		if (rc < 0)
			return rc;
	}
	return n;
}

int stream_frame(struct stream *s, struct wire_hdr *ret_hdr, const uint8_t **ret_payload)
{
	struct wire_hdr h;
	int rc;

	s->in_off += s->consumed;
	s->consumed = 0;
	size_t avail = s->in.len - s->in_off;
	if (avail < WIRE_HDR_LEN)
		return 0;
	const uint8_t *p = s->in.data + s->in_off;
	rc = wire_hdr_decode(p, WIRE_MAX_PAYLOAD, &h);
	if (rc < 0)
		return rc;
	if (s->dir && proto_check_frame(&h, (enum proto_dir)s->dir) < 0) {
		*ret_hdr = h;
		return -ENOMSG;
	}
	if (avail < WIRE_HDR_LEN + (size_t)h.len)
		return 0;
	s->consumed = WIRE_HDR_LEN + h.len;
	s->stats.frames_in++;
	*ret_hdr = h;
	*ret_payload = p + WIRE_HDR_LEN;
	return 1;
}

bool stream_has_frame(const struct stream *s)
{
	struct wire_hdr h;
	size_t off = s->in_off + s->consumed;
	size_t avail = s->in.len - off;

	if (avail < WIRE_HDR_LEN)
		return false;
	if (wire_hdr_decode(s->in.data + off, WIRE_MAX_PAYLOAD, &h) < 0)
		return true;   /* let stream_frame report the error */
	if (s->dir && proto_check_frame(&h, (enum proto_dir)s->dir) < 0)
		return true;
	return avail >= WIRE_HDR_LEN + (size_t)h.len;
}

uint64_t stream_waiting_ms(const struct stream *s)
{
	uint64_t since = __atomic_load_n(&s->waiting_since, __ATOMIC_RELAXED);

	return since ? now_ms() - since : 0;
}

static int recv_done(struct stream *s, int rc)
{
	__atomic_store_n(&s->waiting_since, 0, __ATOMIC_RELAXED);
	return rc;
}

int stream_recv(struct stream *s, int timeout_ms, struct wire_hdr *ret_hdr,
		const uint8_t **ret_payload)
{
	uint64_t start = now_ms();

	__atomic_store_n(&s->waiting_since, start, __ATOMIC_RELAXED);
	for (;;) {
		int rc = stream_frame(s, ret_hdr, ret_payload);
		if (rc != 0)
			return recv_done(s, rc);
		if (!(s->tls && tls_pending(s->tls) > 0) && (timeout_ms >= 0 || s->deadline ||
							      s->tls)) {
			int left = -1;
			if (timeout_ms >= 0) {
				uint64_t spent = now_ms() - start;
				if (spent >= (uint64_t)timeout_ms)
					return recv_done(s, -ETIMEDOUT);
				left = timeout_ms - (int)spent;
			}
			if ((rc = stream_wait(s, want(s), left)) < 0)
				return recv_done(s, rc);
		}
		long n = fill_once(s);
		if (n == -EAGAIN)
			continue;
		if (n < 0)
			return recv_done(s, (int)n);
		if (n == 0)
			return recv_done(s, s->in.len - s->in_off - s->consumed == 0 ? 0 :
					 -ECONNRESET);
	}
}

struct wbuf *stream_out(struct stream *s)
{
	return &s->out;
}

int stream_flush(struct stream *s)
{
	size_t off = 0;
	int rc = 0;

	if (s->out.err)
		return s->out.err;
	while (off < s->out.len) {
		ssize_t n = io_write(s, s->out.data + off, s->out.len - off);
		if (n == -EAGAIN && s->tls && !s->nonblock &&
		    (n = stream_wait(s, want(s), STREAM_WRITE_WAIT_MS)) == 0)
			continue;
		if (n < 0) {
			rc = (int)n;
			break;
		}
		off += (size_t)n;
	}
	s->stats.bytes_out += off;
	wbuf_consume(&s->out, off);
	return rc;
}

size_t stream_pending_out(const struct stream *s)
{
	return s->out.len;
}

short stream_events(const struct stream *s)
{
	short ev = POLLIN;

	if (s->out.len > 0 || (s->tls && tls_want(s->tls) == POLLOUT))
		ev |= POLLOUT;
	return ev;
}

const struct stream_stats *stream_stats(const struct stream *s)
{
	return &s->stats;
}
