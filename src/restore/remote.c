/* remote: connect to the slave's mirrord and ask for a reverse session. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "proto.h"
#include "remote.h"
#include "session.h"
#include "tls.h"

static struct stream *fail(struct stream *s, int fd, int rc, int *ret_err)
{
	if (s)
		stream_free(s);
	else if (fd >= 0)
		close(fd);
	*ret_err = rc;
	return NULL;
}

/* HELLO_OK with every feature asked for: 0, or -errno with why. */
static int answer(struct stream *s, uint64_t features, char *why, size_t why_len)
{
	struct proto_hello_ok ok;
	struct wire_hdr h;
	const uint8_t *p;
	int rc = stream_recv(s, -1, &h, &p);

	if (rc == 1 && h.type == MSG_ERROR) {
		uint32_t code;
		const uint8_t *text;
		size_t len;
		if (proto_get_error(p, h.len, &code, &text, &len) < 0)
			return snprintf(why, why_len, "refused"), -ECONNREFUSED;
		snprintf(why, why_len, "refused: %.*s", (int)len, (const char *)text);
		return code > 0 && code < 4096 ? -(int)code : -ECONNREFUSED;
	}
	if (rc == 1 && h.type == MSG_HELLO_OK && proto_get_hello_ok(p, h.len, &ok) == 0 &&
	    ok.version == PROTO_VERSION) {
		if ((ok.features & features) == features)
			return 0;
		snprintf(why, why_len, "the slave's mirrord does not support mirror-restore "
			 "(features %#llx asked, %#llx offered): upgrade it",
			 (unsigned long long)features, (unsigned long long)ok.features);
		return -EPROTONOSUPPORT;
	}
	rc = rc == 1 || rc == -ENOMSG ? -EPROTO : rc == 0 ? -ECONNRESET : rc;
	if (stream_tls_why(s))
		snprintf(why, why_len, "handshake failed, %s", stream_tls_why(s));
	else
		snprintf(why, why_len, "handshake failed: %s", strerror(-rc));
	return rc;
}

struct stream *remote_connect(const struct conf *c, const struct conf_mirror *m,
			      uint64_t features, int timeout_ms, int *ret_err, char *why,
			      size_t why_len)
{
	struct tls_ctx *ctx = NULL;
	struct stream *s;
	int rc = session_security(c, false, &ctx, why, why_len);
	int fd;

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
	stream_set_deadline(s, timeout_ms);
	stream_set_dir(s, TO_SOURCE);        /* HELLO_OK or ERROR */
	rc = ctx ? stream_start_tls(s, ctx, why, why_len) : 0;
	tls_ctx_free(ctx);
	if (rc < 0)
		return fail(s, -1, rc, ret_err);
	proto_put_hello_features(stream_out(s), m->name, c->node_name, features);
	if ((rc = stream_flush(s)) < 0)
		snprintf(why, why_len, "cannot send HELLO: %s", strerror(-rc));
	else
		rc = answer(s, features, why, why_len);
	if (rc < 0)
		return fail(s, -1, rc, ret_err);
	stream_set_deadline(s, 0);
	if (features & PROTO_FEATURE_PULL)
		stream_set_dir(s, TO_SINK);
	return s;
}
