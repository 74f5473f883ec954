/* session: I/O loops for sender and receiver sessions. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "tls.h"

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
			return rc == -ENOMSG ? -EBADMSG : rc;
	}
}

/* The sink's answer to HELLO: 0, or -errno with a reason in why. */
static int hello_answer(struct stream *s, uint64_t features, char *why, size_t why_len,
			uint64_t *ret_id)
{
	struct proto_hello_ok ok;
	struct wire_hdr h;
	const uint8_t *p;
	int rc = stream_recv(s, -1, &h, &p);

	if (rc == 1 && h.type == MSG_ERROR) {
		uint32_t code;
		const uint8_t *text;
		size_t len;
		if (proto_get_error(p, h.len, &code, &text, &len) == 0)
			snprintf(why, why_len, "refused: %.*s", (int)len, (const char *)text);
		else
			snprintf(why, why_len, "refused");
		return -ECONNREFUSED;
	}
	if (rc == 1 && h.type == MSG_HELLO_OK && proto_get_hello_ok(p, h.len, &ok) == 0 &&
	    ok.version == PROTO_VERSION) {
		uint64_t need = features & ~(uint64_t)PROTO_FEATURES_OPTIONAL;
		if ((ok.features & need) == need) {
			*ret_id = ok.journal_id;
			return 0;
		}
		snprintf(why, why_len, "the peer's mirrord does not offer features %#llx "
			 "(it offers %#llx): upgrade it", (unsigned long long)features,
			 (unsigned long long)ok.features);
		return -EPROTONOSUPPORT;
	}
	rc = rc == 1 || rc == -ENOMSG ? -EPROTO : rc == 0 ? -ECONNRESET : rc;
	if (stream_tls_why(s))     /* TLS 1.3: the server checks our certificate late */
		snprintf(why, why_len, "handshake failed, %s", stream_tls_why(s));
	else
		snprintf(why, why_len, "handshake failed: %s", strerror(-rc));
	return rc;
}

int session_security(const struct conf *c, bool server, struct tls_ctx **ret, char *why,
		     size_t why_len)
{
	const struct conf_security *sec = &c->security;
	struct tls_opts o = { sec->cert, sec->key, sec->ca, sec->peer_name, sec->psk_file };

	*ret = NULL;
	if (!sec->cert && !sec->psk_file) {
		if (sec->insecure_plaintext)
			return 0;
		snprintf(why, why_len, "no certificate or PSK in [security]: refusing "
			 "plaintext data connections (set cert, key and ca, or psk_file; "
			 "or insecure_plaintext = yes on a trusted network)");
		return -EPERM;
	}
	if (!(*ret = tls_ctx_new(&o, server, why, why_len)))
		return -EINVAL;
	return 0;
}

static struct stream *fail(struct stream *s, int fd, int rc, int *ret_err)
{
	if (s)
		stream_free(s);
	else if (fd >= 0)
		close(fd);
	*ret_err = rc;
	return NULL;
}

struct stream *session_connect(const struct conf *c, const struct conf_mirror *m,
			       uint64_t features, int timeout_ms, int *ret_err, char *why,
			       size_t why_len)
{
	uint64_t id;

	return session_connect_id(c, m, features, timeout_ms, ret_err, why, why_len, &id);
}

struct stream *session_connect_id(const struct conf *c, const struct conf_mirror *m,
				  uint64_t features, int timeout_ms, int *ret_err, char *why,
				  size_t why_len, uint64_t *ret_sink_id)
{
	struct tls_ctx *ctx = NULL;
	struct stream *s = NULL;
	int rc = session_security(c, false, &ctx, why, why_len);
	int fd = -1;

	if (rc < 0)
		return fail(NULL, -1, rc, ret_err);
	fd = net_connect((const struct sockaddr *)&m->peer.ss, m->peer.len, timeout_ms);
	if (fd < 0) {
		snprintf(why, why_len, "cannot connect: %s", strerror(-fd));
		tls_ctx_free(ctx);
		return fail(NULL, -1, fd, ret_err);
	}
	if (!(s = stream_new(fd))) {
		snprintf(why, why_len, "out of memory");
		tls_ctx_free(ctx);
		return fail(NULL, fd, -ENOMEM, ret_err);
	}
	stream_set_deadline(s, timeout_ms);   /* connect time counted twice: fine */
	stream_set_dir(s, TO_SOURCE);
	bool ctx_used = ctx != NULL;
	rc = ctx ? stream_start_tls(s, ctx, why, why_len) : 0;
	tls_ctx_free(ctx);                    /* the connection keeps a reference */
	if (rc < 0)
		return fail(s, -1, rc, ret_err);
	proto_put_hello_features(stream_out(s), m->name, c->node_name, features);
	if ((rc = stream_flush(s)) < 0 && ctx_used)
		snprintf(why, why_len, "cannot send HELLO: %s (the sink probably rejected our "
			 "certificate or key; its log says why)", strerror(-rc));
	else if (rc < 0)
		snprintf(why, why_len, "cannot send HELLO: %s", strerror(-rc));
	else
		rc = hello_answer(s, features, why, why_len, ret_sink_id);
	if (rc < 0)
		return fail(s, -1, rc, ret_err);
	stream_set_deadline(s, 0);
	if (features & PROTO_FEATURE_PULL)
		stream_set_dir(s, TO_SINK);       /* the peer sends its tree */
	return s;
}

struct stream *session_accept(int fd, struct tls_ctx *ctx, int deadline_ms, int *ret_err,
			      char *why, size_t why_len)
{
	struct stream *s = stream_new(fd);
	int rc;

	if (!s) {
		snprintf(why, why_len, "out of memory");
		return fail(NULL, fd, -ENOMEM, ret_err);
	}
	stream_set_deadline(s, deadline_ms);
	stream_set_dir(s, TO_SINK);
	if (ctx && (rc = stream_start_tls(s, ctx, why, why_len)) < 0)
		return fail(s, -1, rc, ret_err);
	return s;
}

static int wait_io(struct stream *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = stream_fd(s), .events = stream_events(s) };
	int rc = poll(&pfd, 1, timeout_ms);

	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int session_run_sender(struct stream *s, struct sender *snd, volatile sig_atomic_t *stop)
{
	uint64_t last_in = mono_ms(), last_out = last_in, nonce = 0;
	int rc, more = 0;

	while (!sender_finished(snd)) {
		if (*stop)
			return -EINTR;
		size_t before = stream_pending_out(s);
		if (before < OUT_LOW &&
		    (more = sender_produce(snd, stream_out(s), OUT_HIGH)) < 0)
			return more;
		uint64_t now = mono_ms();
		if (stream_pending_out(s) != before)
			last_out = now;
		else if (now >= last_out + SESSION_PING_MS && sender_between_files(snd)) {
			proto_put_id(stream_out(s), MSG_PING, ++nonce);
			last_out = now;
		}
		if (now > last_in + SESSION_IDLE_MS)
			return -ETIMEDOUT;
		rc = stream_flush(s);
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		if (!(more && stream_pending_out(s) < OUT_LOW) &&
		    (rc = wait_io(s, SESSION_PING_MS)) < 0)
			return rc;
		long n = session_pump_sender(s, snd);
		if (n < 0)
			return (int)n;
		if (n > 0)
			last_in = mono_ms();
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
 * a commit every RECEIVER_COMMIT_MS or so (see receiver_commit_wait), a
 * lone change one after QUIET_MS.  While content we asked for is still on
 * its way, the quiet is the source answering our NEEDs: committing then
 * would stall the stream for two syncfs per round trip, so only the
 * deadline counts. */
static int receiver_quiet(struct stream *s, struct receiver *r)
{
	int rc, wait;

	/* a commit may leave its second syncfs owed, and the batch's DONE and
	 * ACK with it: go on until nothing is owed or more input arrives */
	while ((rc = stream_flush(s)) >= 0 && (wait = receiver_commit_wait(r)) >= 0) {
		if (wait > 0) {
			struct pollfd pfd = { .fd = stream_fd(s), .events = POLLIN };
			int quiet = receiver_awaiting(r) || wait < QUIET_MS ? wait : QUIET_MS;
			if (poll(&pfd, 1, quiet) > 0)
				return 0;         /* more input: keep batching */
		}
		if ((rc = receiver_idle(r)) < 0)
			return rc;
	}
	return rc;
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
			if (rc == -ENOMSG) {
				log_warn("%s: bad frame (type %u, %u bytes), closing", who,
					 h.type, h.len);
				return refuse(s, EBADMSG, "malformed frame");
			}
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
