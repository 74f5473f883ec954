/* live: the source role of one mirror.  See live.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coalesce.h"
#include "exclude.h"
#include "live.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "proto.h"
#include "scan.h"
#include "sender.h"
#include "session.h"
#include "stream.h"
#include "watch.h"

#define DIRTY_MAX 65536         /* dirty paths; beyond: full reconciliation */
#define WATCH_BATCH 4096        /* watcher records per loop turn */
#define CONNECT_MS 3000
#define PING_MS 2000            /* keep-alive when idle */
#define DEAD_MS 30000           /* no byte from the sink for this long: reconnect */
#define TICK_MS 250             /* the stop flag is checked this often */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define OUT_LOW (1u << 20)
#define OUT_HIGH (4u << 20)
#define LINKS_MAX 65536         /* (dev, ino) of multiply linked files */

struct link {                   /* first known name of a multiply linked file */
	uint64_t dev, ino;
	char *path;
	size_t len;
};

struct live {
	const struct conf *c;
	const struct conf_mirror *m;
	volatile sig_atomic_t *stop;
	pthread_t thread;
	int rootfd;
	struct exclude *ex;
	struct watch *w;
	struct coalesce *co;
	struct scan *scan;         /* non-NULL while reconciling */
	bool rescan;               /* a reconciliation is due */
	uint64_t pass_t0, errors;
	struct link *links;        /* open addressing, 2 * LINKS_MAX slots */
	size_t links_n;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- hardlinks: the sink needs to know which earlier name to link to ---- */

static void links_clear(struct live *l)
{
	for (size_t i = 0; i < 2 * LINKS_MAX; i++) {
		free(l->links[i].path);
		l->links[i].path = NULL;
	}
	l->links_n = 0;
}

static struct link *links_find(struct live *l, uint64_t dev, uint64_t ino)
{
	size_t n = 2 * LINKS_MAX, i = (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) % n;

	while (l->links[i].path && !(l->links[i].dev == dev && l->links[i].ino == ino))
		i = (i + 1) % n;
	return &l->links[i];
}

/* Remember e's (dev, ino); scans note only multiply linked files, live
 * sends note every file, so a later "ln" finds the first name. */
static void links_note(struct live *l, const struct entry *e, bool any)
{
	if (e->type != ENT_FILE || (e->nlink < 2 && !any))
		return;
	struct link *k = links_find(l, e->dev, e->ino);
	if (k->path)
		return;
	if (l->links_n >= LINKS_MAX) {
		log_info("mirror %s: hardlink map full, starting it afresh", l->m->name);
		links_clear(l);
		k = links_find(l, e->dev, e->ino);
	}
	if ((k->path = strndup(e->path, e->path_len))) {
		k->dev = e->dev;
		k->ino = e->ino;
		k->len = e->path_len;
		l->links_n++;
	}
}

static void want_rescan(struct live *l, const char *why);

/* A file with other names: send it as a hardlink to a name the sink has
 * (or will have) when that name still is the same inode.  When no other
 * name is known, only a pass over the tree can find it. */
static void links_resolve(struct live *l, struct entry *e)
{
	struct entry other = { 0 };

	if (e->type != ENT_FILE)
		return;
	struct link *k = links_find(l, e->dev, e->ino);
	if (!k->path) {
		links_note(l, e, true);
		if (e->nlink > 1)
			want_rescan(l, "a file has a name not seen yet");
		return;
	}
	if (e->nlink < 2)
		return;
	if (k->len == e->path_len && memcmp(k->path, e->path, k->len) == 0)
		return;
	if (scan_stat(l->rootfd, k->path, k->len, false, &other) == 0 &&
	    other.type == ENT_FILE && other.dev == e->dev && other.ino == e->ino) {
		char *p = strndup(k->path, k->len);
		if (p) {
			free(e->link);
			e->link = p;
			e->link_len = k->len;
			e->type = ENT_HARDLINK;
		}
	} else {
		/* the first name is gone: this one becomes the first */
		char *p = strndup(e->path, e->path_len);
		if (p) {
			free(k->path);
			k->path = p;
			k->len = e->path_len;
		}
	}
	entry_clear(&other);
}

/* ---- the feed: reconciliation pass, then coalesced changes ---- */

static void want_rescan(struct live *l, const char *why)
{
	if (!l->rescan && !l->scan)
		log_notice("mirror %s: %s, reconciling the whole tree", l->m->name, why);
	l->rescan = true;
	coalesce_clear(l->co);
}

static void touch(struct live *l, const char *path, size_t len, unsigned flags)
{
	int rc = coalesce_touch(l->co, path, len, flags, now_ms());

	if (rc == -ENOSPC)
		want_rescan(l, "too many pending changes");
	else if (rc < 0)
		want_rescan(l, "cannot record a change");
}

static void touch_parent(struct live *l, const char *path, size_t len)
{
	if (len > 0)
		touch(l, path, path_dirlen(path, len), 0);
}

static int start_pass(struct live *l)
{
	struct scan_opts so = { .one_fs = l->m->one_fs, .xattrs = l->m->xattrs, .ex = l->ex };

	coalesce_clear(l->co);       /* the pass covers everything up to now */
	links_clear(l);
	if (!(l->scan = scan_new(l->rootfd, &so)))
		return -ENOMEM;
	l->rescan = false;
	l->pass_t0 = now_ms();
	log_info("mirror %s: reconciliation pass started", l->m->name);
	return 0;
}

static int scan_item(struct live *l, struct sender_op *op)
{
	for (;;) {
		memset(op, 0, sizeof(*op));
		int rc = scan_next(l->scan, &op->e);
		if (rc == SCAN_ENTRY || rc == SCAN_DIR_DONE) {
			op->kind = rc == SCAN_ENTRY ? SOP_ENTRY : SOP_DIR_DONE;
			links_note(l, &op->e, false);
			/* the directory's entry went out before its files' content,
			 * whose arrival on the sink changes its mtime: send it again
			 * after the pass (best effort when the set is full) */
			if (rc == SCAN_DIR_DONE)
				(void)coalesce_touch(l->co, op->e.path, op->e.path_len, 0, now_ms());
			return 1;
		}
		entry_clear(&op->e);
		if (rc == SCAN_END) {
			scan_free(l->scan);
			l->scan = NULL;
			log_info("mirror %s: reconciliation pass sent in %llu ms", l->m->name,
				 (unsigned long long)(now_ms() - l->pass_t0));
			return 0;
		}
		log_err("mirror %s: cannot read '%s': %s, skipped", l->m->name,
			op->e.path ? op->e.path : "?", strerror(-rc));
		l->errors++;
	}
}

/* Turn one coalesced item into an operation; 1, or 0 to skip it. */
static int item_op(struct live *l, struct coalesce_item *it, struct sender_op *op)
{
	memset(op, 0, sizeof(*op));
	if (it->kind == COALESCE_RENAME) {
		touch_parent(l, it->path, it->len);
		touch_parent(l, it->to, it->to_len);
		op->kind = SOP_RENAME;
		op->e.path = it->path;
		op->e.path_len = it->len;
		op->e.link = it->to;
		op->e.link_len = it->to_len;
		it->path = it->to = NULL;
		return 1;
	}
	int rc = scan_stat(l->rootfd, it->path, it->len, l->m->xattrs, &op->e);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		touch_parent(l, it->path, it->len);
		op->kind = SOP_DELETE;
		op->e.path = it->path;
		op->e.path_len = it->len;
		it->path = NULL;
		return 1;
	}
	if (rc < 0) {
		log_warn("mirror %s: cannot stat '%s': %s, skipped", l->m->name, it->path,
			 strerror(-rc));
		entry_clear(&op->e);
		return 0;
	}
	if (op->e.type != ENT_DIR || it->created)
		touch_parent(l, it->path, it->len);
	links_resolve(l, &op->e);
	op->kind = SOP_ENTRY;
	return 1;
}

static int feed_next(void *ctx, struct sender_op *op)
{
	struct live *l = ctx;
	struct coalesce_item it;
	int rc;

	for (;;) {
		if (l->scan && scan_item(l, op) == 1)
			return 1;
		if (l->rescan) {
			if ((rc = start_pass(l)) < 0)
				return rc;
			continue;
		}
		rc = coalesce_pop(l->co, now_ms(), &it);
		if (rc < 0) {
			want_rescan(l, "too many pending renames");
			continue;
		}
		if (rc == 0)
			return 0;
		rc = item_op(l, &it, op);
		coalesce_item_clear(&it);
		if (rc == 1)
			return 1;
	}
}

/* ---- watcher records ---- */

static void on_record(struct live *l, const struct watch_rec *r)
{
	uint64_t now = now_ms();
	int rc = 0;

	switch (r->kind) {
	case WATCH_CLOSE_WRITE:
		touch(l, r->path, r->path_len, COALESCE_CLOSED);
		break;
	case WATCH_MODIFY:
	case WATCH_ATTRIB:
		touch(l, r->path, r->path_len, 0);
		break;
	case WATCH_CREATE:
	case WATCH_DIR_CREATED:
		touch(l, r->path, r->path_len, COALESCE_CREATED);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_DELETE:
		touch(l, r->path, r->path_len, 0);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_MOVED_FROM:
		rc = coalesce_moved_from(l->co, r->cookie, r->path, r->path_len, now);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_MOVED_TO:
		rc = coalesce_moved_to(l->co, r->cookie, r->path, r->path_len, now);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_OVERFLOW:
		log_warn("mirror %s: inotify queue overflow (raise fs.inotify.max_queued_events)",
			 l->m->name);
		want_rescan(l, "events were lost");
		break;
	case WATCH_FAILED:
		log_warn("mirror %s: '%s' is not watched: %s%s", l->m->name, r->path,
			 strerror(r->err), r->err == ENOSPC ?
			 " (raise fs.inotify.max_user_watches)" : "");
		want_rescan(l, "a watch failed");
		break;
	}
	if (rc < 0)
		want_rescan(l, rc == -ENOSPC ? "too many pending changes" : "cannot record a rename");
}

/* Drain up to WATCH_BATCH records.  0, or <0 when the watcher died. */
static int drain_watch(struct live *l)
{
	struct watch_rec r;

	for (int i = 0; i < WATCH_BATCH; i++) {
		int rc = watch_read(l->w, &r);
		if (rc == -EAGAIN)
			return 0;
		if (rc < 0)
			return rc;
		on_record(l, &r);
	}
	return 0;
}

/* The watcher thread ended: start it again and reconcile. */
static void restart_watch(struct live *l, int err)
{
	log_err("mirror %s: watcher failed (%s), restarting it", l->m->name, strerror(-err));
	watch_stop(l->w);
	l->w = NULL;
	int rc = watch_start(l->m->path, l->ex, &l->w);
	if (rc < 0)
		log_err("mirror %s: cannot watch %s: %s, retrying", l->m->name, l->m->path,
			strerror(-rc));
	want_rescan(l, "the watcher restarted");
}

/* ---- connection ---- */

/* Connect and exchange HELLO / HELLO_OK; NULL on failure. */
static struct stream *handshake(struct live *l, bool quiet)
{
	const struct conf_mirror *m = l->m;
	char why[256];
	int rc;
	struct stream *s = session_connect((const struct sockaddr *)&m->peer.ss, m->peer.len,
					   m->name, l->c->node_name, CONNECT_MS, &rc, why,
					   sizeof(why));

	if (s && (rc = net_set_nonblock(stream_fd(s), true)) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(-rc));
		stream_free(s);
		s = NULL;
	}
	if (!s && !quiet)
		log_warn("mirror %s: %s: %s", m->name, m->peer.text, why);
	return s;
}

static int poll_timeout(struct live *l, struct sender *snd, uint64_t last_in, uint64_t now)
{
	int64_t t = TICK_MS;

	if (!l->scan && !l->rescan && sender_in_flight(snd) < SENDER_WINDOW) {
		int64_t w = coalesce_wait_ms(l->co, now);
		if (w >= 0 && w < t)
			t = w;
	}
	int64_t ping = (int64_t)(last_in + PING_MS) - (int64_t)now;
	if (ping < t)
		t = ping < 0 ? 0 : ping;
	return (int)t;
}

/* One connected session: until stop (0) or failure (<0). */
static int run_session(struct live *l, struct stream *s, bool *ret_synced)
{
	struct sender_opts so = { .mirror = l->m->name, .compress_level = 1 };
	struct sender_feed feed = { feed_next, l };
	struct sender *snd = sender_new(l->rootfd, &so, &feed);
	uint64_t last_in = now_ms(), ping_at = 0, nonce = 0;
	int rc = 0;

	if (!snd)
		return -ENOMEM;
	l->rescan = true;            /* every connection starts with a pass */
	while (!*l->stop) {
		if (l->w && (rc = drain_watch(l)) < 0)
			restart_watch(l, rc);
		int more = 0;
		if (stream_pending_out(s) < OUT_LOW &&
		    (more = sender_produce(snd, stream_out(s), OUT_HIGH)) < 0) {
			rc = more;
			break;
		}
		if (!l->scan && !l->rescan && sender_in_flight(snd) == 0 && !*ret_synced) {
			*ret_synced = true;
			log_notice("mirror %s: in sync with %s", l->m->name, l->m->peer.text);
		}
		uint64_t now = now_ms();
		if (now >= last_in + PING_MS && now >= ping_at + PING_MS) {
			proto_put_id(stream_out(s), MSG_PING, ++nonce);
			ping_at = now;
		}
		if ((rc = stream_flush(s)) < 0 && rc != -EAGAIN)
			break;
		if (now > last_in + DEAD_MS) {
			rc = -ETIMEDOUT;
			break;
		}
		struct pollfd pfd[2] = {
			{ .fd = stream_fd(s), .events = POLLIN },
			{ .fd = l->w ? watch_fd(l->w) : -1, .events = POLLIN },
		};
		if (stream_pending_out(s) > 0)
			pfd[0].events |= POLLOUT;
		int timeout = more && stream_pending_out(s) < OUT_LOW ? 0 :
			      poll_timeout(l, snd, last_in, now);
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		long n = session_pump_sender(s, snd);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n > 0)
			last_in = now_ms();
		rc = 0;
	}
	const struct sender_stats *st = sender_stats(snd);
	log_info("mirror %s: session ended: %llu ops, %llu files whole, %llu by delta, "
		 "%llu bytes sent, %llu errors", l->m->name, (unsigned long long)st->ops,
		 (unsigned long long)st->files_whole, (unsigned long long)st->files_delta,
		 (unsigned long long)stream_stats(s)->bytes_out, (unsigned long long)st->errors);
	sender_free(snd);
	scan_free(l->scan);
	l->scan = NULL;
	return rc;
}

/* Disconnected: keep recording changes (they are covered by the next pass
 * anyway) and sleep until the backoff ends. */
static void wait_backoff(struct live *l, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	for (uint64_t now = now_ms(); !*l->stop && now < end; now = now_ms()) {
		struct pollfd pfd = { .fd = l->w ? watch_fd(l->w) : -1, .events = POLLIN };
		uint64_t t = end - now < TICK_MS ? end - now : TICK_MS;
		if (poll(&pfd, 1, (int)t) < 0 && errno != EINTR)
			return;
		int rc = l->w ? drain_watch(l) : 0;
		if (rc < 0 || !l->w)
			restart_watch(l, rc < 0 ? rc : -ENOENT);
		coalesce_clear(l->co);   /* the next session starts with a pass */
	}
}

static void *live_thread(void *arg)
{
	struct live *l = arg;
	unsigned backoff = BACKOFF_MIN_MS;
	bool quiet = false;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!*l->stop) {
		struct stream *s = handshake(l, quiet);
		if (s) {
			bool synced = false;
			log_notice("mirror %s: connected to %s", l->m->name, l->m->peer.text);
			backoff = BACKOFF_MIN_MS;
			quiet = false;
			int rc = run_session(l, s, &synced);
			stream_free(s);
			if (rc < 0)
				log_warn("mirror %s: session with %s failed: %s, reconnecting",
					 l->m->name, l->m->peer.text, strerror(-rc));
			if (synced)
				backoff = BACKOFF_MIN_MS;
		} else {
			quiet = backoff >= BACKOFF_MAX_MS;   /* log once per outage */
		}
		if (*l->stop)
			break;
		wait_backoff(l, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

/* ---- start and stop ---- */

static void live_free(struct live *l)
{
	if (!l)
		return;
	watch_stop(l->w);
	scan_free(l->scan);
	coalesce_free(l->co);
	if (l->links)
		links_clear(l);
	free(l->links);
	exclude_free(l->ex);
	if (l->rootfd >= 0)
		close(l->rootfd);
	free(l);
}

static int live_init(struct live *l)
{
	const struct conf_mirror *m = l->m;
	int rc;

	if ((l->rootfd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		log_err("mirror %s: cannot open %s: %s", m->name, m->path, strerror(-rc));
		return rc;
	}
	if (!(l->ex = exclude_new()) || !(l->co = coalesce_new(DIRTY_MAX, m->delay_ms)) ||
	    !(l->links = calloc(2 * LINKS_MAX, sizeof(*l->links))))
		return -ENOMEM;
	for (size_t i = 0; i < m->n_excludes; i++)
		if ((rc = exclude_add(l->ex, m->excludes[i])) < 0)
			return rc;
	if ((rc = watch_start(m->path, l->ex, &l->w)) < 0) {
		log_err("mirror %s: cannot watch %s: %s%s", m->name, m->path, strerror(-rc),
			rc == -ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
		return rc;
	}
	log_info("mirror %s: watching %s (%zu directories)", m->name, m->path, watch_count(l->w));
	return 0;
}

int live_start(const struct conf *c, const struct conf_mirror *m,
	       volatile sig_atomic_t *stop, struct live **ret_l)
{
	struct live *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->c = c;
	l->m = m;
	l->stop = stop;
	l->rootfd = -1;
	if ((rc = live_init(l)) < 0 || (rc = -pthread_create(&l->thread, NULL, live_thread, l)) < 0) {
		live_free(l);
		return rc;
	}
	*ret_l = l;
	return 0;
}

void live_join(struct live *l)
{
	if (!l)
		return;
	pthread_join(l->thread, NULL);
	live_free(l);
}
