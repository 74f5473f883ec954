/* remote: CHANGES and DIGESTS sessions.  See remote.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "remote.h"
#include "session.h"
#include "stream.h"

#define CONNECT_MS SESSION_HANDSHAKE_MS
#define FRAME_MS SESSION_IDLE_MS

struct lister {
	uint8_t batch, end;           /* message types */
	remote_change_fn *change;
	remote_digest_fn *digest;
	void *ctx;
	struct remote_list *out;
	bool head;                    /* CHANGES: the header arrived */
};

static int batch(struct lister *l, const uint8_t *p, size_t n)
{
	struct rbuf r;
	int rc;

	rbuf_init(&r, p, n);
	for (;;) {
		if (l->change) {
			struct restlist_change c;
			if ((rc = restlist_get_change(&r, &c)) == 1)
				rc = l->change(l->ctx, &c) < 0 ? -ECANCELED : 1;
		} else {
			struct restlist_digest d;
			if ((rc = restlist_get_digest(&r, &d)) == 1)
				rc = l->digest(l->ctx, &d) < 0 ? -ECANCELED : 1;
		}
		if (rc <= 0)
			return rc;
		l->out->count++;
	}
}

static int end_frame(struct lister *l, const uint8_t *p, size_t n)
{
	struct rbuf r;
	uint64_t count;

	rbuf_init(&r, p, n);
	count = rbuf_get_u64(&r);
	l->out->last = rbuf_get_u64(&r);
	if (rbuf_end(&r) < 0 || count != l->out->count)
		return -EBADMSG;
	return 0;
}

/* Frames until the end message. */
static int receive(struct stream *s, struct lister *l, char *why, size_t why_len)
{
	struct wire_hdr h;
	const uint8_t *p;
	int rc;

	while ((rc = stream_recv(s, FRAME_MS, &h, &p)) == 1) {
		if (h.type == MSG_CHANGES && l->change && !l->head) {
			rc = restlist_get_head(p, h.len, &l->out->head);
			l->head = rc == 0;
		} else if (h.type == l->batch && (l->head || !l->change)) {
			rc = batch(l, p, h.len);
		} else if (h.type == l->end && (l->head || !l->change)) {
			rc = end_frame(l, p, h.len) == 0 ? 0 : -EBADMSG;
			if (rc == 0)
				return 0;
		} else {
			rc = -EPROTO;     /* out of order, or not of this list */
		}
		if (rc < 0)
			break;
	}
	rc = rc == 0 ? -ECONNRESET : rc == 1 ? -EPROTO : rc;
	snprintf(why, why_len, "list broken off: %s", strerror(-rc));
	return rc;
}

static int run(const struct conf *c, const struct conf_mirror *m, uint64_t feature,
	       struct lister *l, char *why, size_t why_len)
{
	int err = 0;
	struct stream *s = session_connect(c, m, feature, CONNECT_MS, &err, why, why_len);

	memset(l->out, 0, sizeof(*l->out));
	if (!s)
		return err < 0 ? err : -ECONNREFUSED;
	int rc = receive(s, l, why, why_len);
	l->out->bytes_in = stream_stats(s)->bytes_in;
	stream_free(s);
	return rc;
}

int remote_changes(const struct conf *c, const struct conf_mirror *m, remote_change_fn *fn,
		   void *ctx, struct remote_list *ret, char *why, size_t why_len)
{
	struct lister l = { MSG_CHANGE, MSG_CHANGES_END, fn, NULL, ctx, ret, false };

	return run(c, m, PROTO_FEATURE_CHANGES, &l, why, why_len);
}

int remote_digests(const struct conf *c, const struct conf_mirror *m, remote_digest_fn *fn,
		   void *ctx, struct remote_list *ret, char *why, size_t why_len)
{
	struct lister l = { MSG_DIGESTS, MSG_DIGESTS_END, NULL, fn, ctx, ret, false };

	return run(c, m, PROTO_FEATURE_DIGESTS, &l, why, why_len);
}
