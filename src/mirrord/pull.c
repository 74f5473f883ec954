/* pull: reverse sessions (sender on the sink side) and remote demote. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlsock.h"
#include "log.h"
#include "proto.h"
#include "pull.h"
#include "scan.h"
#include "sender.h"
#include "session.h"

#define DEMOTE_MS 5000

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

static int send_tree(const struct conf_mirror *m, int rootfd, struct stream *s,
		     const char *peer, const struct exclude *ex)
{
	volatile sig_atomic_t stop = 0;
	struct scan_opts so = { .one_fs = m->one_fs, .xattrs = m->xattrs, .ex = ex };
	struct sender_scan_feed feed = { .mirror = m->name };
	struct sender_opts opts = { .mirror = m->name, .compress_level = 1 };
	struct sender_feed sf = { sender_scan_feed_next, &feed };
	struct sender *snd = NULL;
	int rc = 0;

	if (!(feed.scan = scan_new(rootfd, &so)) || !(snd = sender_new(rootfd, &opts, &sf))) {
		rc = refuse(s, ENOMEM, "out of memory");
		goto out;
	}
	stream_set_dir(s, TO_SOURCE);
	if ((rc = stream_set_nonblock(s, true)) == 0)
		rc = session_run_sender(s, snd, &stop);
	const struct sender_stats *st = sender_stats(snd);
	log_info("mirror %s: pull by %s %s: %llu operations, %llu files whole, %llu by delta, "
		 "%llu bytes read, %llu errors", m->name, peer, rc == 0 ? "complete" : strerror(-rc),
		 (unsigned long long)st->ops, (unsigned long long)st->files_whole,
		 (unsigned long long)st->files_delta, (unsigned long long)st->bytes_read,
		 (unsigned long long)(st->errors + feed.errors));
out:
	sender_free(snd);
	scan_free(feed.scan);
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
	if (features & PROTO_FEATURE_PULL) {
		if (rootfd < 0) {
			log_err("mirror %s: pull by %s: cannot open %s: %s", m->name, peer,
				m->path, strerror(-rootfd));
			return refuse(s, -rootfd, "cannot open mirror root");
		}
		ok.features |= PROTO_FEATURE_PULL;
	}
	proto_put_hello_ok(stream_out(s), &ok);
	if ((rc = stream_flush(s)) < 0 || !(features & PROTO_FEATURE_PULL))
		return rc;
	log_info("mirror %s: pull by %s: sending this node's tree", m->name, peer);
	return send_tree(m, rootfd, s, peer, ex);
}
