/* stream: buffered frame I/O over a socket fd. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

#define STREAM_READ_STEP 65536
#define STREAM_OUT_LIMIT (64u << 20)

struct stream {
	int fd;
	struct wbuf in;        /* unread input */
	size_t in_off;         /* start of unconsumed input */
	size_t consumed;       /* bytes of the frame handed out last */
	struct wbuf out;
	struct stream_stats stats;
};

struct stream *stream_new(int fd)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = fd;
	wbuf_init(&s->in, WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + STREAM_READ_STEP);
	wbuf_init(&s->out, STREAM_OUT_LIMIT);
	return s;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
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

long stream_fill(struct stream *s)
{
	ssize_t n;

	stream_compact(s);
	uint8_t *p = wbuf_reserve(&s->in, STREAM_READ_STEP);
	if (!p) {
		int err = s->in.err;
		s->in.err = 0;
		return err;
	}
	s->in.len -= STREAM_READ_STEP;
	do
		n = recv(s->fd, p, STREAM_READ_STEP, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	s->in.len += (size_t)n;
	s->stats.bytes_in += (uint64_t)n;
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
	return avail >= WIRE_HDR_LEN + (size_t)h.len;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

int stream_recv(struct stream *s, int timeout_ms, struct wire_hdr *ret_hdr,
		const uint8_t **ret_payload)
{
	for (;;) {
		int rc = stream_frame(s, ret_hdr, ret_payload);
		if (rc != 0)
			return rc;
		if (timeout_ms >= 0 && (rc = wait_fd(s->fd, POLLIN, timeout_ms)) < 0)
			return rc;
		long n = stream_fill(s);
		if (n == -EAGAIN)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return s->in.len - s->in_off - s->consumed == 0 ? 0 : -ECONNRESET;
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
		ssize_t n = send(s->fd, s->out.data + off, s->out.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
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

const struct stream_stats *stream_stats(const struct stream *s)
{
	return &s->stats;
}
