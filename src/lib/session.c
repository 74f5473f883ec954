/* session: I/O loops for sender and receiver sessions. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "session.h"

#define OUT_LOW (1u << 20)
#define OUT_HIGH (4u << 20)
#define FLUSH_AT (256u << 10)

/* Read what the socket has and hand every complete frame to the sender. */
static int pump_input(struct stream *s, struct sender *snd)
{
	struct wire_hdr h;
	const uint8_t *p;
	int rc;

	for (;;) {
		long n = stream_fill(s);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		while ((rc = stream_frame(s, &h, &p)) == 1) {
			if (proto_check_frame(&h, TO_SOURCE) < 0)
				return -EBADMSG;
			if ((rc = sender_frame(snd, &h, p)) < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
	}
}

static int wait_io(struct stream *s, bool want_out)
{
	struct pollfd pfd = { .fd = stream_fd(s), .events = POLLIN };
	int rc;

	if (want_out)
		pfd.events |= POLLOUT;
	rc = poll(&pfd, 1, SESSION_IDLE_MS);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

int session_run_sender(struct stream *s, struct sender *snd, volatile sig_atomic_t *stop)
{
	int rc, more = 0;

	while (!sender_finished(snd)) {
		if (*stop)
			return -EINTR;
		if (stream_pending_out(s) < OUT_LOW &&
		    (more = sender_produce(snd, stream_out(s), OUT_HIGH)) < 0)
			return more;
		rc = stream_flush(s);
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		if (!(more && stream_pending_out(s) < OUT_LOW) &&
		    (rc = wait_io(s, stream_pending_out(s) > 0)) < 0)
			return rc;
		if ((rc = pump_input(s, snd)) < 0)
			return rc;
	}
	return 0;
}

static int refuse(struct stream *s, int code, const char *text)
{
	proto_put_error(stream_out(s), (uint32_t)code, text);
	(void)stream_flush(s);
	return -code;
}

int session_run_receiver(struct stream *s, struct receiver *r, const char *who)
{
	struct wire_hdr h;
	const uint8_t *p;
	int rc;

	for (;;) {
		if (!stream_has_frame(s) &&
		    ((rc = receiver_idle(r)) < 0 || (rc = stream_flush(s)) < 0))
			return rc;
		rc = stream_recv(s, SESSION_IDLE_MS, &h, &p);
		if (rc <= 0) {
			if (rc == -EMSGSIZE || rc == -EBADMSG) {
				log_warn("%s: bad frame header (%s), closing", who, strerror(-rc));
				return refuse(s, EBADMSG, "malformed frame");
			}
			return rc;
		}
		if (proto_check_frame(&h, TO_SINK) < 0) {
			log_warn("%s: bad frame (type %u, %u bytes), closing", who, h.type, h.len);
			return refuse(s, EBADMSG, "malformed frame");
		}
		rc = receiver_frame(r, &h, p);
		if (rc < 0) {
			log_warn("%s: protocol error in %s: %s, closing", who,
				 proto_msg_name(h.type), strerror(-rc));
			return refuse(s, EPROTO, "protocol error");
		}
		if ((rc == 1 || stream_pending_out(s) >= FLUSH_AT) && (rc = stream_flush(s)) < 0)
			return rc;
	}
}
