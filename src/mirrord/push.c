/* push: one-shot sync of a mirror (sender session driven by poll). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exclude.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "push.h"
#include "scan.h"
#include "sender.h"
#include "session.h"
#include "stream.h"

#define CONNECT_MS SESSION_HANDSHAKE_MS

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Connect and exchange HELLO / HELLO_OK; returns the stream or NULL. */
static struct stream *handshake(const struct conf *c, const struct conf_mirror *m, int *ret_err)
{
	char why[256];
	struct stream *s;

	if (!c->security.cert && !c->security.psk_file && c->security.insecure_plaintext)
		log_warn("INSECURE: insecure_plaintext = yes: mirror %s is sent to %s "
			 "unauthenticated and unencrypted", m->name, m->peer.text);
	s = session_connect(c, m, PROTO_FEATURE_REPORT, CONNECT_MS, ret_err, why, sizeof(why));
	if (!s)
		log_err("mirror %s: %s: %s", m->name, m->peer.text, why);
	return s;
}

static struct exclude *build_excludes(const struct conf_mirror *m)
{
	struct exclude *ex = exclude_new();

	for (size_t i = 0; ex && i < m->n_excludes; i++)
		if (exclude_add(ex, m->excludes[i]) < 0) {
			exclude_free(ex);
			return NULL;
		}
	return ex;
}

static void fill_result(struct push_result *r, const struct sender *snd,
			const struct stream *s, const struct sender_scan_feed *f, double t0)
{
	const struct sender_stats *st = sender_stats(snd);

	r->ops = st->ops;
	r->files_whole = st->files_whole;
	r->files_delta = st->files_delta;
	r->bytes_read = st->bytes_read;
	r->delta_saved = st->delta_saved;
	r->errors = st->errors + f->errors;
	r->wire_out = stream_stats(s)->bytes_out;
	r->wire_in = stream_stats(s)->bytes_in;
	r->seconds = now_sec() - t0;
}

int push_once(const struct conf *c, const struct conf_mirror *m,
	      volatile sig_atomic_t *stop, struct push_result *ret)
{
	double t0 = now_sec();
	int rc = 0, rootfd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct exclude *ex = build_excludes(m);
	struct stream *s = NULL;
	struct sender *snd = NULL;
	struct sender_scan_feed feed = { .mirror = m->name };
	struct scan_opts so = { .one_fs = m->one_fs, .xattrs = m->xattrs, .ex = ex };

	memset(ret, 0, sizeof(*ret));
	if (rootfd < 0) {
		rc = -errno;
		log_err("mirror %s: cannot open %s: %s", m->name, m->path, strerror(-rc));
		goto out;
	}
	if (!ex || !(feed.scan = scan_new(rootfd, &so))) {
		rc = -ENOMEM;
		goto out;
	}
	if (!(s = handshake(c, m, &rc)))
		goto out;
	struct sender_feed sf = { sender_scan_feed_next, &feed };
	struct sender_opts opts = { .mirror = m->name, .compress_level = 1 };
	if (!(snd = sender_new(rootfd, &opts, &sf)) || (rc = stream_set_nonblock(s, true)) < 0) {
		rc = rc ? rc : -ENOMEM;
		goto out;
	}
	rc = session_run_sender(s, snd, stop);
	if (rc < 0)
		log_err("mirror %s: session with %s failed: %s", m->name, m->peer.text,
			strerror(-rc));
	fill_result(ret, snd, s, &feed, t0);
	if (rc == 0 && ret->errors > 0)
		rc = 1;
out:
	sender_free(snd);
	stream_free(s);
	scan_free(feed.scan);
	exclude_free(ex);
	if (rootfd >= 0)
		close(rootfd);
	return rc;
}
