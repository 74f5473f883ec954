/* auditserve: sink side of the drift audit.  See auditserve.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditfs.h"
#include "auditmsg.h"
#include "auditserve.h"
#include "log.h"
#include "proto.h"

struct aserve {
	const struct conf_mirror *m;
	struct stream *s;
	const struct exclude *ex;
	int rootfd;
	struct ratelimit rl;
	struct wbuf batch;
	uint64_t requests, bytes;
};

static int send_batch(struct aserve *a)
{
	if (a->batch.err)
		return a->batch.err;
	proto_put_raw(stream_out(a->s), MSG_AUDIT_LIST, a->batch.data, a->batch.len);
	wbuf_reset(&a->batch);
	return stream_flush(a->s);
}

static int put_rec(struct aserve *a, const struct audit_item *it)
{
	auditmsg_put_rec(&a->batch, it);
	return auditmsg_batch_full(&a->batch) ? send_batch(a) : 0;
}

struct lister {
	struct aserve *a;
	uint64_t records;
};

/* auditfs_fn: each child straight into the batch, nothing held. */
static int list_one(void *ctx, struct audit_item *it)
{
	struct lister *l = ctx;
	int rc = put_rec(l->a, it);

	l->records += rc == 0;
	return rc;
}

/* Records for one request into the batch; its status. */
static int answer(struct aserve *a, const struct auditmsg_req *q, const char *path,
		  struct auditmsg_end *end)
{
	struct audit_item one;
	int rc;

	if (q->kind == AUDITMSG_LIST) {
		struct lister l = { a, 0 };
		rc = auditfs_each(a->rootfd, path, q->len, a->ex, list_one, &l);
		end->records = l.records;
		return rc;
	}
	if (q->len == 0) {
		rc = -EINVAL;                   /* the root has no parent to stat in */
	} else if (q->kind == AUDITMSG_STAT) {
		rc = auditfs_stat(a->rootfd, path, q->len, &one);
	} else {
		if (a->rl.rate != q->rate)
			ratelimit_init(&a->rl, q->rate, AUDITFS_CHUNK);
		rc = auditfs_hash(a->rootfd, path, q->len, &a->rl, NULL, &one, &end->bytes);
		a->bytes += end->bytes;
	}
	if (rc == 0) {
		rc = put_rec(a, &one);
		end->records = rc == 0;
		audit_item_clear(&one);
	}
	return rc;
}

/* One request: records, then AUDIT_END.  0, or -errno when the session
 * broke (a path that cannot be read is a status, not a failure). */
static int request(struct aserve *a, const uint8_t *p, size_t n)
{
	struct auditmsg_req q;
	struct auditmsg_end end = { 0 };
	char *path;
	int rc;

	if (auditmsg_get_req(p, n, &q) < 0)
		return -EBADMSG;
	if (!(path = strndup(q.path, q.len)))
		return -ENOMEM;
	a->requests++;
	rc = answer(a, &q, path, &end);
	free(path);
	if (rc == -EPIPE || rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -ENOMEM)
		return rc;
	/* a listing that failed half-way still counts what it sent: the
	 * client drops the records of a request whose status is an error */
	end.status = rc;
	if (a->batch.len > 0 && (rc = send_batch(a)) < 0)
		return rc;
	auditmsg_put_end(stream_out(a->s), &end);
	return stream_flush(a->s);
}

static int serve_loop(struct aserve *a)
{
	struct wire_hdr h;
	const uint8_t *p;
	int rc;

	while ((rc = stream_recv(a->s, AUDITSERVE_IDLE_MS, &h, &p)) == 1) {
		if (h.type != MSG_AUDIT_REQ) {
			proto_put_error(stream_out(a->s), EPROTO, "expected AUDIT_REQ");
			(void)stream_flush(a->s);
			return -EPROTO;
		}
		if ((rc = request(a, p, h.len)) < 0)
			return rc;
	}
	return rc;
}

int auditserve_run(const struct conf_mirror *m, struct stream *s, const char *peer,
		   const struct exclude *ex)
{
	struct aserve a = { .m = m, .s = s, .ex = ex };
	struct proto_hello_ok ok = { .version = PROTO_VERSION, .features = PROTO_FEATURE_AUDIT };
	int rc;

	a.rootfd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a.rootfd < 0) {
		rc = -errno;
		log_err("mirror %s: audit by %s: cannot open %s: %s", m->name, peer, m->path,
			strerror(-rc));
		proto_put_error(stream_out(s), (uint32_t)-rc, "cannot open mirror root");
		(void)stream_flush(s);
		return rc;
	}
	ratelimit_init(&a.rl, 0, AUDITFS_CHUNK);
	wbuf_init(&a.batch, PROTO_BATCH_MAX);
	proto_put_hello_ok(stream_out(s), &ok);
	if ((rc = stream_flush(s)) == 0) {
		log_info("mirror %s: audit session from %s", m->name, peer);
		rc = serve_loop(&a);
	}
	log_info("mirror %s: audit session from %s ended (%s): %llu requests, %llu bytes read",
		 m->name, peer, rc == 0 ? "closed" : strerror(-rc),
		 (unsigned long long)a.requests, (unsigned long long)a.bytes);
	wbuf_free(&a.batch);
	close(a.rootfd);
	return rc;
}
