/* session: I/O loops for sender and receiver sessions. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

#include "log.h"
#include "proto.h"
#include "session.h"

#define OUT_LOW (1u << 20)
#define OUT_HIGH (4u << 20)
#define FLUSH_AT (256u << 10)
#define QUIET_MS 2

long session_pump_sender(struct stream *s, struct sender *snd)
{
	struct wire_hdr h;
	const uint8_t *p;
	long total = 0;
	int rc;

	for (;;) {
		long n = stream_fill(s);
		if (n == -EAGAIN)
			return total;
		if (n < 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		total += n;
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

/* The sink's answer to HELLO: 0, or -errno with a reason in why. */
static int hello_answer(struct stream *s, int timeout_ms, char *why, size_t why_len)
{
	struct proto_hello_ok ok;
	struct wire_hdr h;
	const uint8_t *p;
	int rc = stream_recv(s, timeout_ms, &h, &p);

	if (rc == 1 && h.type == MSG_ERROR) {
		uint32_t code;
		const uint8_t *text;
		size_t len;
		if (proto_get_error(p, h.len, &code, &text, &len) == 0)
			snprintf(why, why_len, "refused: %.*s", (int)len, (const char *)text);
		return -ECONNREFUSED;
	}
	if (rc == 1 && h.type == MSG_HELLO_OK && proto_get_hello_ok(p, h.len, &ok) == 0 &&
	    ok.version == PROTO_VERSION)
		return 0;
	rc = rc == 1 ? -EPROTO : rc == 0 ? -ECONNRESET : rc;
	snprintf(why, why_len, "handshake failed: %s", strerror(-rc));
	return rc;
}

struct stream *session_connect(const struct sockaddr *sa, socklen_t len, const char *mirror,
			       const char *node, int timeout_ms, int *ret_err, char *why,
			       size_t why_len)
{
	int fd = net_connect(sa, len, timeout_ms);
	struct stream *s;

	if (fd < 0) {
		snprintf(why, why_len, "cannot connect: %s", strerror(-fd));
		*ret_err = fd;
		return NULL;
	}
	if (!(s = stream_new(fd))) {
		close(fd);
		snprintf(why, why_len, "out of memory");
		*ret_err = -ENOMEM;
		return NULL;
	}
	proto_put_hello(stream_out(s), mirror, node);
	int rc = stream_flush(s);
	if (rc < 0)
		snprintf(why, why_len, "cannot send HELLO: %s", strerror(-rc));
	else
		rc = hello_answer(s, timeout_ms, why, why_len);
	if (rc < 0) {
		stream_free(s);
		*ret_err = rc;
		return NULL;
	}
	return s;
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
		if ((rc = (int)session_pump_sender(s, snd)) < 0)
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

/* Input ran dry: send the replies, then commit unless more input arrives
 * within QUIET_MS and the commit is not yet due.  A steady stream thus gets
 * a commit every RECEIVER_COMMIT_MS (or 1024 changes), a lone change one
 * after QUIET_MS. */
static int receiver_quiet(struct stream *s, struct receiver *r)
{
	int rc = stream_flush(s);
	int wait = receiver_commit_wait(r);

	if (rc < 0 || wait < 0)
		return rc;
	if (wait > 0) {
		struct pollfd pfd = { .fd = stream_fd(s), .events = POLLIN };
		rc = poll(&pfd, 1, wait < QUIET_MS ? wait : QUIET_MS);
		if (rc > 0)
			return 0;         /* more input: keep batching */
	}
	if ((rc = receiver_idle(r)) < 0)
		return rc;
	return stream_flush(s);
}

int session_run_receiver(struct stream *s, struct receiver *r, const char *who)
{
	struct wire_hdr h;
	const uint8_t *p;
	int rc;

	for (;;) {
		if (!stream_has_frame(s) && (rc = receiver_quiet(s, r)) < 0)
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
