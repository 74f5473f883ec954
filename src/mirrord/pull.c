/* pull: reverse sessions (sender on the sink side) and remote demote. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "ctlsock.h"
#include "log.h"
#include "pathfeed.h"
#include "proto.h"
#include "pull.h"
#include "restlist.h"
#include "scan.h"
#include "sender.h"
#include "session.h"
#include "treedigest.h"

#define DEMOTE_MS 5000
#define PATHS_MS 60000          /* the whole request list, at most */

static int refuse(struct stream *s, int code, const char *text)
{
	proto_put_error(stream_out(s), (uint32_t)code, text);
	(void)stream_flush(s);
	return -code;
}

/* "demote" on the local failoverd; 0, or -errno with the reason in why. */
static int demote_local(const struct conf *c, char *why, size_t why_len)
{
	char path[4096], *reply = NULL;
	int n = snprintf(path, sizeof(path), "%s-failoverd", c->control_socket);
	int rc;

	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(why, why_len, "control socket path too long");
		return -ENAMETOOLONG;
	}
	rc = ctlsock_request(path, "demote", DEMOTE_MS, &reply);
	if (rc < 0) {
		snprintf(why, why_len, "failoverd at %.300s: %s", path, strerror(-rc));
		return rc;
	}
	if (strncmp(reply, "ok", 2) != 0) {
		snprintf(why, why_len, "failoverd refused: %.200s", reply);
		rc = -EPERM;
	} else {
		snprintf(why, why_len, "%.200s", reply);
	}
	free(reply);
	return rc;
}

/* Read the PATHS requests into f, until PATHS_END.  0 or -errno. */
static int read_paths(struct stream *s, struct pathfeed *f)
{
	struct wire_hdr h;
	const uint8_t *p;
	struct restlist_item it;
	int rc;

	stream_set_deadline(s, PATHS_MS);
	while ((rc = stream_recv(s, -1, &h, &p)) == 1 && h.type == MSG_PATHS) {
		struct rbuf r;
		rbuf_init(&r, p, h.len);
		while ((rc = restlist_get_item(&r, &it)) == 1)
			if ((rc = pathfeed_add(f, it.kind, it.path, it.len)) < 0)
				break;
		if (rc < 0)
			break;
	}
	stream_set_deadline(s, 0);
	if (rc == 1 && h.type == MSG_PATHS_END)
		return 0;
	return rc < 0 ? rc : -EPROTO;
}

static int send_tree(const struct conf_mirror *m, int rootfd, struct stream *s,
		     const char *peer, const struct exclude *ex, bool paths)
{
	volatile sig_atomic_t stop = 0;
	struct scan_opts so = { .one_fs = m->one_fs, .xattrs = m->xattrs, .ex = ex };
	struct sender_scan_feed feed = { .mirror = m->name };
	struct sender_opts opts = { .mirror = m->name, .compress_level = 1 };
	struct pathfeed *pf = paths ? pathfeed_new(rootfd, m, ex) : NULL;
	struct sender_feed sf = { paths ? pathfeed_next : sender_scan_feed_next,
				  paths ? (void *)pf : (void *)&feed };
	struct sender *snd = NULL;
	int rc = 0;

	if ((paths ? !pf : !(feed.scan = scan_new(rootfd, &so))) ||
	    !(snd = sender_new(rootfd, &opts, &sf))) {
		rc = refuse(s, ENOMEM, "out of memory");
		goto out;
	}
	if (paths && (rc = read_paths(s, pf)) < 0) {
		log_err("mirror %s: pull by %s: bad path list: %s", m->name, peer, strerror(-rc));
		rc = refuse(s, rc == -E2BIG ? E2BIG : EPROTO, "bad path list");
		goto out;
	}
	if (paths)
		log_info("mirror %s: pull by %s: %zu paths asked for", m->name, peer,
			 pathfeed_count(pf));
	stream_set_dir(s, TO_SOURCE);
	if ((rc = stream_set_nonblock(s, true)) == 0)
		rc = session_run_sender(s, snd, &stop);
	const struct sender_stats *st = sender_stats(snd);
	log_info("mirror %s: pull by %s %s: %llu operations, %llu files whole, %llu by delta, "
		 "%llu bytes read, %llu errors", m->name, peer, rc == 0 ? "complete" : strerror(-rc),
		 (unsigned long long)st->ops, (unsigned long long)st->files_whole,
		 (unsigned long long)st->files_delta, (unsigned long long)st->bytes_read,
		 (unsigned long long)(st->errors + feed.errors + (pf ? pathfeed_errors(pf) : 0)));
out:
	sender_free(snd);
	scan_free(feed.scan);
	pathfeed_free(pf);
	return rc;
}

/* ---- DIGESTS ---- */

struct digests {
	struct stream *s;
	struct wbuf batch;
	uint64_t count;
};

static int digest_batch(struct digests *d)
{
	if (d->batch.err)
		return d->batch.err;
	proto_put_raw(stream_out(d->s), MSG_DIGESTS, d->batch.data, d->batch.len);
	wbuf_reset(&d->batch);
	return stream_flush(d->s);
}

static int digest_one(void *ctx, const struct restlist_digest *rd)
{
	struct digests *d = ctx;

	restlist_put_digest(&d->batch, rd);
	d->count++;
	return restlist_batch_full(&d->batch) ? digest_batch(d) : 0;
}

static int send_digests(const struct conf_mirror *m, int rootfd, struct stream *s,
			const char *peer, const struct exclude *ex)
{
	struct digests d = { .s = s };
	uint64_t errors = 0;
	int rc;

	wbuf_init(&d.batch, PROTO_BATCH_MAX);
	rc = treedigest_walk(rootfd, ex, m->one_fs, digest_one, &d, &errors);
	if (rc == 0 && d.batch.len > 0)
		rc = digest_batch(&d);
	if (rc == 0) {
		struct wbuf *out = stream_out(s);
		uint8_t b[16];
		struct wbuf w;
		wbuf_init(&w, sizeof(b));
		wbuf_put_u64(&w, d.count);
		wbuf_put_u64(&w, errors);
		proto_put_raw(out, MSG_DIGESTS_END, w.data, w.len);
		wbuf_free(&w);
		rc = stream_flush(s);
	}
	wbuf_free(&d.batch);
	log_info("mirror %s: digests for %s: %llu entries, %llu unreadable%s", m->name, peer,
		 (unsigned long long)d.count, (unsigned long long)errors,
		 rc < 0 ? ", session broke" : "");
	return rc;
}

int pull_run(const struct conf *c, const struct conf_mirror *m, int rootfd, struct stream *s,
	     const char *peer, const struct exclude *ex, uint64_t features)
{
	struct proto_hello_ok ok = { .version = PROTO_VERSION };
	char why[512];
	int rc;

	if (features & PROTO_FEATURE_DEMOTE) {
		log_notice("mirror %s: %s asks this node to release the VIP (failback)",
			   m->name, peer);
		if ((rc = demote_local(c, why, sizeof(why))) < 0) {
			log_err("mirror %s: demote for %s failed: %s; the VIP stays here",
				m->name, peer, why);
			return refuse(s, -rc, why);
		}
		log_notice("mirror %s: demoted for %s: %s", m->name, peer, why);
		ok.features |= PROTO_FEATURE_DEMOTE;
	}
	if (features & (PROTO_FEATURE_PULL | PROTO_FEATURE_DIGESTS)) {
		if (rootfd < 0) {
			log_err("mirror %s: pull by %s: cannot open %s: %s", m->name, peer,
				m->path, strerror(-rootfd));
			return refuse(s, -rootfd, "cannot open mirror root");
		}
		ok.features |= features & (PROTO_FEATURE_PULL | PROTO_FEATURE_DIGESTS |
					   PROTO_FEATURE_PATHS);
	}
	/* one kind of listing or pull per session: only the one served is echoed */
	if (features & PROTO_FEATURE_CHANGES)
		ok.features = (ok.features & PROTO_FEATURE_DEMOTE) | PROTO_FEATURE_CHANGES;
	else if (features & PROTO_FEATURE_DIGESTS)
		ok.features &= PROTO_FEATURE_DEMOTE | PROTO_FEATURE_DIGESTS;
	proto_put_hello_ok(stream_out(s), &ok);
	if ((rc = stream_flush(s)) < 0)
		return rc;
	if (features & PROTO_FEATURE_CHANGES)
		return changes_send(c, m, s);
	if (features & PROTO_FEATURE_DIGESTS)
		return send_digests(m, rootfd, s, peer, ex);
	if (!(features & PROTO_FEATURE_PULL))
		return 0;
	bool paths = features & PROTO_FEATURE_PATHS;
	log_info("mirror %s: pull by %s: sending %s", m->name, peer,
		 paths ? "the paths it asks for" : "this node's tree");
	return send_tree(m, rootfd, s, peer, ex, paths);
}
