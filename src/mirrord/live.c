/* live: the source role of one mirror.  See live.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "coalesce.h"
#include "coverage.h"
#include "exclude.h"
#include "fanout.h"
#include "grow.h"
#include "journal.h"
#include "links.h"
#include "live.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "precount.h"
#include "progress.h"
#include "proto.h"
#include "scan.h"
#include "sender.h"
#include "session.h"
#include "sinkfail.h"
#include "status.h"
#include "stream.h"
#include "treeidx.h"
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
#define LINKS_MAX 65536         /* inodes whose names are known */
#define PEND_MAX 16384          /* journal records with operations in flight */
#define ACK_MS 200              /* journal acknowledgements at most this often */
#define REOPEN_MS 1000          /* a failed journal is reopened this often */
#define MOVED_MAX 4096          /* directory renames recorded, not yet acknowledged */
#define GONE_MAX 1024           /* paths last sent as DELETE, newest kept */
#define STASH_TRIES 16          /* ancestors sent before one record */
#define GROW_MAX 64             /* open growing files followed (grow.h) */
#define JSYNC_GAP_MAX_MS 25     /* a batched journal sync waits at most this */

struct live {
	const struct conf *c;
	const struct conf_mirror *m;
	volatile sig_atomic_t *stop;
	bool paused;               /* mirrorctl pause: record changes, send none */
	pthread_t thread;
	int rootfd;
	struct exclude *ex;
	struct watch *w;
	struct coverage *cv;       /* is every directory watched */
	struct coalesce *co;
	struct sinkfail *sf;       /* rescans after the sink's failures */
	struct scan *scan;         /* non-NULL while a RESCAN record is expanded */
	int scan_fd;               /* its directory (the subtree), or -1 */
	char *scan_pre;            /* its path ("" = whole tree) */
	size_t scan_pre_len;
	uint64_t scan_seq;         /* its record */
	bool scan_one_level;       /* a LISTDIR: the directory's listing only */
	uint64_t pass_t0, errors;
	struct progress pass_prog; /* of a full pass: paths listed, of an estimate */
	uint64_t tree_paths;       /* paths of the last walk or full pass */
	enum progress_source tree_from;   /* where tree_paths comes from */
	struct precount *count;    /* counts the tree for a pass without tree_paths */
	bool synced_once;          /* in sync since the start: passes reconcile */
	struct progress walk_prog; /* of the index walk; walk_view under mu */
	struct progress_view walk_view;
	uint64_t list_from, list_to;   /* LISTDIR records of a start-up listing */
	uint64_t list_t0;
	bool walk_lists;           /* the walk records that listing */
	bool walk_due;             /* the index is written at the first in sync */
	struct stream *walk_s;     /* the session kept alive during such a walk */
	uint64_t walk_ping_at;
	struct links *links;       /* names of files, by inode */
	struct {                   /* hardlinks to send after a group's content */
		uint64_t seq, dev, ino;
		char *target;
		size_t target_len;
		char *v[LINKS_NAMES_MAX];
		size_t lens[LINKS_NAMES_MAX];
		size_t n, next;
	} lq;
	/* journal: every coalesced change is recorded (and synced) before it
	 * is sent; the feed reads it back.  NULL while it cannot be opened. */
	char *jdir;
	struct journal *j;
	struct journal_iter *it;   /* the feed's position, per session */
	uint64_t fed_seq;          /* last record the feed read */
	uint64_t pass_seq;         /* last full pass recorded */
	struct treeidx *ti;        /* tree index (NULL: none, full pass at start) */
	uint64_t sink_id;          /* the sink's copy, from HELLO_OK */
	uint64_t ack_at, reopen_at;
	bool jsync_owed;           /* records appended and not yet synced */
	uint64_t jsync_end, jsync_cost;   /* when the last sync ended, its ms */
	struct pend { uint64_t seq; uint32_t n; } *pend;   /* ring, PEND_MAX */
	size_t pend_head, pend_n;  /* ascending seqs with operations in flight */
	struct moved { uint64_t seq; char *from, *to; size_t flen, tlen; } *moved;
	size_t moved_head, moved_n;   /* ring, MOVED_MAX, ascending seqs */
	struct grow *grow;         /* open growing files */
	struct gone { char *path; size_t len; } *gone;   /* ring, GONE_MAX */
	size_t gone_next;
	size_t gone_n;             /* paths held in the ring: the lookups below
				    * run per record and skip an empty ring */
	bool gone_lost;            /* a gone path was dropped for room: until in
				    * sync, a renamed directory is reconciled */
	struct stash {             /* a record waiting for its ancestor's ENTRY */
		bool on, created;
		unsigned tries;
		uint64_t seq;
		char *path;
		size_t len;
	} stash;
	/* status (live_status) and the repair requests (live_repair), under mu */
	pthread_mutex_t mu;
	struct repair { char *path; size_t len; bool tree; } *rq;   /* LIVE_REPAIR_MAX */
	size_t rq_n;
	struct live_status st;
	uint64_t dirty_since, bytes_total, saved_total;
	struct fanout *fo;         /* several peers (fanout.h), else NULL; the
				    * fields FEED_FIELDS names are the active
				    * peer's */
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- hardlinks: every name of a file goes to the sink ----
 *
 * A change to a file with other names is sent as the group's content under
 * its first name, then each other name as a hardlink to it (see links.h):
 * the sink replaces the content of one name only, and applies the links
 * once that content is in place.  The names wait in the link queue, which
 * counts in the acknowledgement point like the stash. */

static void touch(struct live *l, const char *path, size_t len, unsigned flags);
static void touch_parent(struct live *l, const char *path, size_t len);

static void lq_clear(struct live *l)
{
	for (size_t i = 0; i < l->lq.n; i++)
		free(l->lq.v[i]);
	free(l->lq.target);
	l->lq.target = NULL;
	l->lq.n = l->lq.next = 0;
}

/* Queue the names of group g but first (and those in doubt), as hardlinks
 * to first. */
static int lq_put(struct live *l, uint64_t seq, uint64_t dev, uint64_t ino,
		  const struct links_group *g, size_t first)
{
	lq_clear(l);
	if (!(l->lq.target = strndup(g->v[first], g->lens[first])))
		return -ENOMEM;
	l->lq.target_len = g->lens[first];
	l->lq.seq = seq;
	l->lq.dev = dev;
	l->lq.ino = ino;
	for (size_t i = 0; i < g->n && l->lq.n < LINKS_NAMES_MAX; i++) {
		if (i == first || g->doubt[i])
			continue;
		if (!(l->lq.v[l->lq.n] = strndup(g->v[i], g->lens[i])))
			return -ENOMEM;
		l->lq.lens[l->lq.n++] = g->lens[i];
	}
	return 0;
}

/* The next queued name as a hardlink op: 1, or 0 when the queue is empty. */
static int lq_next(struct live *l, struct sender_op *op)
{
	while (l->lq.next < l->lq.n) {
		size_t i = l->lq.next++;
		memset(op, 0, sizeof(*op));
		if (scan_stat(l->rootfd, l->lq.v[i], l->lq.lens[i], false, &op->e) == 0 &&
		    op->e.type == ENT_FILE && op->e.dev == l->lq.dev && op->e.ino == l->lq.ino &&
		    (op->e.link = strndup(l->lq.target, l->lq.target_len))) {
			op->e.link_len = l->lq.target_len;
			op->e.type = ENT_HARDLINK;
			op->kind = SOP_ENTRY;
			op->tag = l->lq.seq;
			/* relinking changes the sink's directory */
			touch_parent(l, op->e.path, op->e.path_len);
			return 1;
		}
		entry_clear(&op->e);   /* not that file any more: its own record follows */
	}
	lq_clear(l);
	return 0;
}

/* Note a name a scan or a send found; a full map starts afresh. */
static void links_note(struct live *l, const struct entry *e)
{
	int rc;

	if (e->type != ENT_FILE && e->type != ENT_HARDLINK)
		return;
	if (e->type == ENT_FILE && e->nlink < 2)
		rc = links_set(l->links, e->dev, e->ino, e->path, e->path_len);
	else
		rc = links_add(l->links, e->dev, e->ino, e->path, e->path_len);
	if (rc == -ENOSPC) {
		log_info("mirror %s: hardlink map full, starting it afresh", l->m->name);
		links_clear(l->links);
		rc = links_add(l->links, e->dev, e->ino, e->path, e->path_len);
	}
	if (rc == -E2BIG)
		log_warn("mirror %s: '%s' has more than %d names, not all are followed",
			 l->m->name, e->path, LINKS_NAMES_MAX);
}

/* Check the names of e's inode against the tree.  One that is not that
 * file is in doubt the first time (a directory rename not recorded yet may
 * have moved it: the group is sent again after it) and dropped the
 * second.  True when a name came in doubt. */
static bool links_verify(struct live *l, const struct entry *e)
{
	const struct links_group *g = links_get(l->links, e->dev, e->ino);
	bool doubt = false;

	for (size_t i = 0; g && i < g->n;) {
		struct entry o = { 0 };
		bool same = (g->lens[i] == e->path_len &&
			     memcmp(g->v[i], e->path, e->path_len) == 0) ||
			    (scan_stat(l->rootfd, g->v[i], g->lens[i], false, &o) == 0 &&
			     o.type == ENT_FILE && o.dev == e->dev && o.ino == e->ino);
		entry_clear(&o);
		if (same || links_doubt(l->links, e->dev, e->ino, i)) {
			doubt |= !same;
			i++;
			continue;
		}
		bool last = g->n == 1;
		links_drop(l->links, e->dev, e->ino, i);
		if (last)
			break;
	}
	return doubt;
}

/* path no longer names the file of a group it was noted in (removed,
 * replaced, another file now): a change made through it just before went
 * unseen by the other names, so they are sent again. */
static void links_left(struct live *l, const char *path, size_t len, uint64_t dev, uint64_t ino)
{
	uint64_t gdev, gino;
	size_t i;

	while (links_find_name(l->links, path, len, dev, ino, &gdev, &gino, &i) == 1) {
		links_drop(l->links, gdev, gino, i);
		const struct links_group *g = links_get(l->links, gdev, gino);
		for (size_t j = 0; g && j < g->n; j++)
			touch(l, g->v[j], g->lens[j], 0);
	}
}

static void want_rescan(struct live *l, const char *path, size_t len, const char *why);

/* e (of record seq) is a file with other names: send the group's first
 * name instead, the others follow from the link queue.  When no other
 * name is known, only a pass over the tree can find it. */
static void links_resolve(struct live *l, uint64_t seq, struct entry *e)
{
	if (e->type != ENT_FILE)
		return;
	bool known = links_get(l->links, e->dev, e->ino) != NULL;
	bool doubt = e->nlink > 1 && links_verify(l, e);
	links_note(l, e);
	if (doubt)
		touch(l, e->path, e->path_len, 0);   /* once more, after the rename */
	const struct links_group *g = links_get(l->links, e->dev, e->ino);
	if (e->nlink < 2 || !g)
		return;
	if (!known && g->n < 2) {
		want_rescan(l, "", 0, "a file has a name not seen yet");
		return;
	}
	size_t i0 = 0, sure = 0;
	for (size_t i = g->n; i-- > 0;)
		if (!g->doubt[i]) {
			i0 = i;
			sure++;
		}
	if (sure < 2)
		return;
	char *first = strndup(g->v[i0], g->lens[i0]);
	if (!first || lq_put(l, seq, e->dev, e->ino, g, i0) < 0) {
		free(first);
		lq_clear(l);
		want_rescan(l, "", 0, "no memory for a hardlink group");
		return;
	}
	free(e->path);
	e->path = first;
	e->path_len = l->lq.target_len;
	touch_parent(l, e->path, e->path_len);
}

/* The active sink's acknowledgement cursor: with several, its own. */
static uint64_t feed_acked(const struct live *l, const struct journal_stats *st)
{
	return l->fo ? fanout_cursor(l->fo) : st->acked_seq;
}

/* ---- operations in flight, by journal record ----
 *
 * The feed hands out operations in journal order, tagged with their
 * record's sequence number (a RESCAN record gives many), so the ring holds
 * ascending sequences with a count of unsettled operations each.  The
 * journal is acknowledged up to the lowest sequence still counted (or still
 * being expanded) minus one.  Full ring: the feed waits. */

static struct pend *pend_at(struct live *l, size_t i)
{
	return &l->pend[(l->pend_head + i) % PEND_MAX];
}

static void pend_reset(struct live *l)
{
	l->pend_head = l->pend_n = 0;
}

static void pend_add(struct live *l, uint64_t seq)
{
	if (l->pend_n > 0 && pend_at(l, l->pend_n - 1)->seq == seq) {
		pend_at(l, l->pend_n - 1)->n++;
		return;
	}
	*pend_at(l, l->pend_n++) = (struct pend){ seq, 1 };
}

/* sender's on_settled: one operation of record seq is done with. */
static void pend_settled(void *ctx, uint64_t seq)
{
	struct live *l = ctx;
	size_t lo = 0, hi = l->pend_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pend_at(l, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == l->pend_n || pend_at(l, lo)->seq != seq || pend_at(l, lo)->n == 0)
		return;                 /* superseded by a full pass */
	pend_at(l, lo)->n--;
	while (l->pend_n > 0 && pend_at(l, 0)->n == 0) {
		l->pend_head = (l->pend_head + 1) % PEND_MAX;
		l->pend_n--;
	}
}

/* Highest sequence whose changes are all durable on the sink. */
static uint64_t ack_point(const struct live *l)
{
	uint64_t floor = l->fed_seq + 1;

	if (l->scan && l->scan_seq < floor)
		floor = l->scan_seq;
	if (l->stash.on && l->stash.seq < floor)
		floor = l->stash.seq;
	if (l->lq.target && l->lq.seq < floor)
		floor = l->lq.seq;
	if (l->pend_n > 0 && l->pend[l->pend_head].seq < floor)
		floor = l->pend[l->pend_head].seq;
	return floor - 1;
}

/* ---- directory renames the feed has not passed yet ----
 *
 * A record is sent by the state of its path when the feed reaches it.  A
 * directory renamed later in the journal has already moved on disk, so a
 * path under it is missing although the sink still has it under the old
 * name, and the RENAME will carry it over: the change is sent again under
 * the new name after the RENAME (as the dirty set does for items still
 * pending), instead of a DELETE the rename would then miss. */

static struct moved *moved_at(struct live *l, size_t i)
{
	return &l->moved[(l->moved_head + i) % MOVED_MAX];
}

static void moved_trim(struct live *l, uint64_t acked)
{
	while (l->moved_n > 0 && moved_at(l, 0)->seq <= acked) {
		struct moved *m = moved_at(l, 0);
		free(m->from);
		free(m->to);
		l->moved_head = (l->moved_head + 1) % MOVED_MAX;
		l->moved_n--;
	}
}

/* 1 when the record was noted (or is no directory), 0 when the ring is full. */
static int moved_note(struct live *l, uint64_t seq, const struct coalesce_item *it)
{
	struct stat st;

	if (fstatat(l->rootfd, it->to, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
		return 1;               /* gone or moved again: assume a directory */
	if (l->moved_n == MOVED_MAX)
		return 0;
	struct moved *m = moved_at(l, l->moved_n);
	if (!(m->from = strndup(it->path, it->len)) || !(m->to = strndup(it->to, it->to_len))) {
		free(m->from);
		return 0;
	}
	m->seq = seq;
	m->flen = it->len;
	m->tlen = it->to_len;
	l->moved_n++;
	return 1;
}

/* Where path (as of record seq) is now: 1 and a heap *ret when a later
 * directory rename moved it, else 0. */
static int moved_translate(struct live *l, uint64_t seq, const char *path, size_t len,
			   char **ret, size_t *ret_len)
{
	char *cur = NULL;

	for (size_t i = 0; i < l->moved_n; i++) {
		struct moved *m = moved_at(l, i);
		const char *p = cur ? cur : path;
		if (m->seq <= seq || len < m->flen || memcmp(p, m->from, m->flen) != 0 ||
		    (len > m->flen && p[m->flen] != '/'))
			continue;
		char *q = malloc(m->tlen + len - m->flen + 1);
		if (!q)
			break;
		memcpy(q, m->to, m->tlen);
		memcpy(q + m->tlen, p + m->flen, len - m->flen);
		len = m->tlen + len - m->flen;
		q[len] = 0;
		free(cur);
		cur = q;
	}
	if (!cur)
		return 0;
	*ret = cur;
	*ret_len = len;
	return 1;
}

/* ---- directories sent as DELETE and found again ----
 *
 * A path is sent by its state when the feed reaches its record; a
 * directory removed and made again in between may have gone out as a
 * DELETE while a later record for something inside it finds it back.  The
 * sink cannot create a child in a directory it removed, so the ancestor's
 * ENTRY goes first and the record waits in the stash. */

static void gone_clear(struct live *l)
{
	for (size_t i = 0; l->gone && i < GONE_MAX; i++) {
		free(l->gone[i].path);
		l->gone[i].path = NULL;
	}
	l->gone_n = 0;
	free(l->stash.path);
	memset(&l->stash, 0, sizeof(l->stash));
	lq_clear(l);
}

static void gone_add(struct live *l, const char *path, size_t len)
{
	struct gone *g = &l->gone[l->gone_next];

	for (size_t i = 0; i < GONE_MAX; i++)
		if (l->gone[i].path && l->gone[i].len == len &&
		    memcmp(l->gone[i].path, path, len) == 0)
			return;         /* once: an ENTRY takes it out again */
	char *p = strndup(path, len);
	if (!p)
		return;                 /* best effort: the sink logs the failure */
	if (g->path && !l->gone_lost) {
		log_notice("mirror %s: more than %d paths went out as deleted, '%s' is "
			   "forgotten; renamed directories are reconciled until in sync",
			   l->m->name, GONE_MAX, g->path);
		l->gone_lost = true;
	}
	if (!g->path)
		l->gone_n++;
	free(g->path);
	*g = (struct gone){ p, len };
	l->gone_next = (l->gone_next + 1) % GONE_MAX;
}

/* Take the outermost remembered ancestor of path (or path itself when
 * self): 1 and a heap *ret, else 0. */
static int gone_take(struct live *l, const char *path, size_t len, bool self,
		     char **ret, size_t *ret_len)
{
	struct gone *best = NULL;

	for (size_t i = 0; l->gone_n > 0 && i < GONE_MAX; i++) {
		struct gone *g = &l->gone[i];
		if (!g->path || g->len > len || memcmp(g->path, path, g->len) != 0)
			continue;
		if (g->len == len ? !self : path[g->len] != '/')
			continue;
		if (!best || g->len < best->len)
			best = g;
	}
	if (!best)
		return 0;
	*ret = best->path;
	*ret_len = best->len;
	best->path = NULL;
	l->gone_n--;
	return 1;
}

/* Is path, or a directory above it, among the paths last sent as DELETE? */
static bool gone_covers(const struct live *l, const char *path, size_t len)
{
	for (size_t i = 0; l->gone_n > 0 && i < GONE_MAX; i++) {
		const struct gone *g = &l->gone[i];
		if (g->path && g->len <= len && memcmp(g->path, path, g->len) == 0 &&
		    (g->len == len || path[g->len] == '/'))
			return true;
	}
	return false;
}

static int jr_append(struct live *l, enum journal_op op, const char *p, size_t len,
		     const char *p2, size_t len2, uint64_t *ret_seq);

/* A directory moved, and paths beneath it went out as DELETE before the
 * rename was seen (a record is sent by the state of its path when the feed
 * reaches it): the sink lost them, so their new places are reconciled
 * after the RENAME. */
static void gone_moved(struct live *l, const char *from, size_t flen, const char *to, size_t tlen)
{
	unsigned n_rescan = 0;

	for (size_t i = 0; l->gone_n > 0 && i < GONE_MAX; i++) {
		struct gone *g = &l->gone[i];
		if (!g->path || g->len <= flen || memcmp(g->path, from, flen) != 0 ||
		    g->path[flen] != '/')
			continue;
		size_t n;
		char *p = path_join(to, tlen, g->path + flen + 1, g->len - flen - 1, &n);
		free(g->path);
		g->path = NULL;
		l->gone_n--;
		if (p && l->m->n_excludes > 0)
			want_rescan(l, "", 0, "a path moved after it went out as deleted");
		else if (p && jr_append(l, JOURNAL_RESCAN, p, n, NULL, 0, NULL) == 0)
			n_rescan++;
		free(p);
	}
	if (n_rescan > 0)
		log_info("mirror %s: '%s' moved to '%s' after %u path(s) beneath it went out "
			 "as deleted, reconciling them there", l->m->name, from, to, n_rescan);
}

static void stash_put(struct live *l, uint64_t seq, const char *path, size_t len, bool created)
{
	char *p = strndup(path, len);

	if (!p)
		return;
	unsigned tries = l->stash.on && l->stash.seq == seq ? l->stash.tries + 1 : 0;
	free(l->stash.path);
	l->stash = (struct stash){ true, created, tries, seq, p, len };
}

/* ---- growing files (grow.h): shipped while open, appended bytes only ---- */

static void touch(struct live *l, const char *path, size_t len, unsigned flags);

/* The append pass: open files whose interval ran out become due now. */
static void grow_tick(struct live *l, uint64_t now)
{
	const char *path;
	size_t len;

	while (grow_next_due(l->grow, now, &path, &len) == 1)
		touch(l, path, len, COALESCE_CLOSED);
}

/* The sink the feed serves: its slot in the table of growing files. */
static size_t grow_sink(const struct live *l)
{
	return l->fo ? fanout_active(l->fo) : 0;
}

/* A regular file the feed is about to send: 1 with op turned into an
 * APPEND, 0 to send it as it is, -1 to send nothing now. */
static int grow_op(struct live *l, struct sender_op *op)
{
	const struct entry *e = &op->e;

	switch (grow_decide(l->grow, grow_sink(l), e->path, e->path_len, e->ino, e->nlink,
			    e->size, now_ms(), &op->base)) {
	case GROW_APPEND:
		op->kind = SOP_APPEND;
		return 1;
	case GROW_SKIP:
		return -1;
	case GROW_SEND:
		break;
	}
	return 0;
}

/* sender's on_file: what the sink now holds of a file.  Only content
 * written resolves an error alert: a rescan that finds other files equal
 * (the sink-failure backoff rescans the failed file's directory) says
 * nothing of whether the sink can write again. */
static void grow_on_file(void *ctx, const struct entry *e, int status, bool written)
{
	struct live *l = ctx;

	grow_answered(l->grow, grow_sink(l), e->path, e->path_len, e->ino, e->size, status);
	if (status == 0 && written)
		alerts_file_ok(l->m->name);
	else
		alerts_file_error(l->m->name, "sink", e->path, status);
}

/* sender's on_read_error: for the persistent error notification. */
static void read_error(void *ctx, const struct entry *e, int err)
{
	struct live *l = ctx;

	alerts_file_error(l->m->name, "source", e->path, err);
}

/* ---- the journal ---- */

static int jr_mkdirs(struct live *l)
{
	if (mkdir(l->c->state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(l->jdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A corrupt header: keep the file for inspection, start a new journal. */
static int jr_set_aside(struct live *l)
{
	char from[4096], to[4096];
	int n1 = snprintf(from, sizeof(from), "%s/journal", l->jdir);
	int n2 = snprintf(to, sizeof(to), "%s/journal.bad.%lld", l->jdir, (long long)time(NULL));

	if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(from) || (size_t)n2 >= sizeof(to))
		return -ENAMETOOLONG;
	log_err("mirror %s: journal %s is corrupt, moved aside to %s", l->m->name, from, to);
	return rename(from, to) < 0 ? -errno : 0;
}

static int jr_open(struct live *l)
{
	int rc = jr_mkdirs(l);

	if (rc == 0 && (rc = journal_open(l->jdir, &l->j)) == -EBADMSG &&
	    (rc = jr_set_aside(l)) == 0)
		rc = journal_open(l->jdir, &l->j);
	if (rc < 0) {
		log_err("mirror %s: cannot open the journal in %s: %s, retrying", l->m->name,
			l->jdir, strerror(-rc));
		l->j = NULL;
		return rc;
	}
	struct journal_stats st;
	journal_get_stats(l->j, &st);
	if (st.torn_bytes > 0)
		log_warn("mirror %s: journal: %llu bytes of a torn tail cut", l->m->name,
			 (unsigned long long)st.torn_bytes);
	return 0;
}

static void scan_stop(struct live *l)
{
	scan_free(l->scan);
	l->scan = NULL;
	if (l->scan_fd >= 0)
		close(l->scan_fd);
	l->scan_fd = -1;
	free(l->scan_pre);
	l->scan_pre = NULL;
}

/* The feed starts over at the first unacknowledged record. */
static int jr_rewind(struct live *l)
{
	struct journal_stats st;

	journal_iter_free(l->it);
	l->it = NULL;
	scan_stop(l);
	pend_reset(l);
	gone_clear(l);
	journal_get_stats(l->j, &st);
	l->fed_seq = feed_acked(l, &st);
	return journal_iter_new(l->j, l->fed_seq + 1, &l->it);
}

static void jr_broken(struct live *l, int err, const char *what)
{
	log_err("mirror %s: journal %s: %s: %s, reopening it and reconciling", l->m->name,
		l->jdir, what, strerror(-err));
	journal_iter_free(l->it);
	l->it = NULL;
	journal_close(l->j);
	l->j = NULL;
	l->jsync_owed = false;
	scan_stop(l);
	pend_reset(l);
	gone_clear(l);
	moved_trim(l, UINT64_MAX);
	l->reopen_at = 0;
	if (l->fo)
		fanout_broken(l->fo);
}

/* A full reconciliation covers every recorded change: acknowledge them all
 * and record the pass instead.  Used at start-up (changes made while
 * nobody watched), on overflow of the dirty set or of the journal, and
 * when the journal lost its place. */
static void jr_supersede(struct live *l, const char *why)
{
	struct journal_stats st;
	int rc;

	if (l->ti && treeidx_forget(l->ti))
		l->walk_due = true;     /* the index is walked again once in sync */
	if (l->ti)              /* its acknowledgements no longer say what the
				 * sink has: the listing's index is not saved */
		treeidx_set_listing(l->ti, 0, 0);
	l->list_to = 0;
	coalesce_clear(l->co);
	if (!l->j || (l->pass_seq > l->fed_seq && (!l->fo || fanout_before(l->fo, l->pass_seq))))
		return;                 /* the reopen or a pass not started covers it */
	log_notice("mirror %s: %s, reconciling the whole tree", l->m->name, why);
	if ((rc = journal_sync(l->j)) < 0)
		return jr_broken(l, rc, "sync");
	journal_get_stats(l->j, &st);
	moved_trim(l, UINT64_MAX);
	if ((rc = journal_ack(l->j, st.synced_seq)) < 0 ||
	    (rc = journal_append(l->j, JOURNAL_RESCAN, "", 0, NULL, 0, &l->pass_seq)) < 0 ||
	    (rc = journal_sync(l->j)) < 0)
		return jr_broken(l, rc, "recording a reconciliation");
	if (l->fo)              /* for every peer */
		fanout_superseded(l->fo, st.synced_seq);
	if ((rc = jr_rewind(l)) < 0)
		return jr_broken(l, rc, "recording a reconciliation");
}

/* Open the journal (again: at most every REOPEN_MS) and reconcile. */
static void jr_reopen(struct live *l, uint64_t now, const char *why)
{
	if (l->j || now < l->reopen_at)
		return;
	l->reopen_at = now + REOPEN_MS;
	if (jr_open(l) == 0) {
		l->pass_seq = l->fed_seq = 0;
		jr_supersede(l, why);
	}
}

/* With several peers, a full journal first stops keeping records for the
 * slowest (reconciled by a tree pass when its turn comes): true when that
 * made room. */
static bool jr_make_room(struct live *l)
{
	struct journal_stats st;
	uint64_t floor;

	journal_get_stats(l->j, &st);
	if (!fanout_make_room(l->fo, st.synced_seq, &floor) || floor <= st.acked_seq ||
	    journal_ack(l->j, floor) < 0)
		return false;
	moved_trim(l, floor);
	return true;
}

/* Record one change; on any failure fall back to a full pass.  0 when
 * recorded (*ret_seq, may be NULL), else <0. */
static int jr_append(struct live *l, enum journal_op op, const char *p, size_t len,
		     const char *p2, size_t len2, uint64_t *ret_seq)
{
	int rc;

	if (!l->j)
		return -EIO;
	if ((rc = journal_append(l->j, op, p, len, p2, len2, ret_seq)) == -ENOSPC &&
	    l->fo && jr_make_room(l))
		rc = journal_append(l->j, op, p, len, p2, len2, ret_seq);
	if (rc == -ENOSPC)
		jr_supersede(l, "the journal is full");
	else if (rc == -EINVAL)
		log_err("mirror %s: cannot record '%s' in the journal, skipped", l->m->name, p);
	else if (rc < 0)
		jr_broken(l, rc, "append");
	return rc;
}

static void maybe_ack(struct live *l, uint64_t now, bool force)
{
	struct journal_stats st;
	uint64_t seq;
	int rc;

	if (!l->j || (!force && now < l->ack_at + ACK_MS))
		return;
	journal_get_stats(l->j, &st);
	if ((seq = ack_point(l)) <= feed_acked(l, &st))
		return;
	l->ack_at = now;
	if (l->fo && (seq = fanout_ack(l->fo, seq, st.synced_seq)) <= st.acked_seq)
		return;         /* a slower peer holds the journal there */
	if ((rc = journal_ack(l->j, seq)) < 0)
		log_warn("mirror %s: cannot record acknowledgement %llu in %s: %s, will retry",
			 l->m->name, (unsigned long long)seq, l->jdir, strerror(-rc));
	else
		moved_trim(l, seq);
}

/* ---- the dirty set feeds the journal ---- */

static void want_rescan(struct live *l, const char *path, size_t len, const char *why)
{
	if (len > 0 && l->m->n_excludes > 0)
		len = 0;                /* anchored patterns need the whole tree */
	if (len == 0)
		return jr_supersede(l, why);
	log_notice("mirror %s: %s, reconciling '%s'", l->m->name, why, path);
	(void)jr_append(l, JOURNAL_RESCAN, path, len, NULL, 0, NULL);
}

static void note_dirty(struct live *l)
{
	if (l->dirty_since == 0)
		l->dirty_since = now_ms();
}

static void touch(struct live *l, const char *path, size_t len, unsigned flags)
{
	int rc = coalesce_touch(l->co, path, len, flags, now_ms());

	note_dirty(l);
	if (rc == -ENOSPC)
		want_rescan(l, "", 0, "too many pending changes");
	else if (rc < 0)
		want_rescan(l, "", 0, "cannot record a change");
}

static void touch_parent(struct live *l, const char *path, size_t len)
{
	if (len > 0)
		touch(l, path, path_dirlen(path, len), 0);
}

static void jr_rename(struct live *l, const struct coalesce_item *it)
{
	uint64_t seq;

	if (jr_append(l, JOURNAL_RENAME, it->path, it->len, it->to, it->to_len, &seq) == 0 &&
	    !moved_note(l, seq, it))
		want_rescan(l, "", 0, "too many directory renames pending");
	if (links_rename(l->links, it->path, it->len, it->to, it->to_len) < 0)
		links_clear(l->links);  /* names are found again as files are sent */
}

/* Records appended since the last sync (the feed reads synced ones only). */
static bool jr_unsynced(const struct live *l)
{
	struct journal_stats st;

	journal_get_stats(l->j, &st);
	return st.next_seq > st.synced_seq + 1;
}

/* ---- batched journal syncs ----
 *
 * The feed reads synced records only, so a record waits for its sync
 * before it is sent.  One sync per loop turn cost a burst ~1,100 syncs of
 * 1-11 ms for 20,000 records, half of the loop's time on a busy disk.
 * While records keep coming, the next sync waits for twice the last one's
 * cost (at most JSYNC_GAP_MAX_MS), so that syncs of up to 12 ms take at
 * most a third of the time; a change after a quiet spell is synced at
 * once.  Durability is unchanged: nothing is sent before its sync. */

static uint64_t jsync_due(const struct live *l)
{
	uint64_t gap = 2 * l->jsync_cost;

	return l->jsync_end + (gap > JSYNC_GAP_MAX_MS ? JSYNC_GAP_MAX_MS : gap);
}

/* -1 when no sync is owed, else the ms until it is due. */
static int64_t jsync_wait_ms(const struct live *l, uint64_t now)
{
	if (!l->jsync_owed || !l->j)
		return -1;
	return jsync_due(l) > now ? (int64_t)(jsync_due(l) - now) : 0;
}

/* Sync the journal if a sync is owed and due: true when it did. */
static bool jsync_batch(struct live *l, uint64_t now)
{
	uint64_t t0 = now_ms();
	int rc;

	if (jsync_wait_ms(l, now) != 0)
		return false;
	if ((rc = journal_sync(l->j)) < 0) {
		jr_broken(l, rc, "sync");
		return false;
	}
	l->jsync_owed = false;
	l->jsync_end = now_ms();
	l->jsync_cost = l->jsync_end - t0;
	return true;
}

/* Move due items from the dirty set into the journal; the caller syncs
 * it in batches (jsync_batch).  Runs connected or not: an outage fills
 * the journal, not memory. */
static void flush_dirty(struct live *l, uint64_t now)
{
	struct coalesce_item it;
	int n = 0, rc = 0;

	while (l->j && n < WATCH_BATCH && (rc = coalesce_pop(l->co, now, &it)) == 1) {
		if (it.kind == COALESCE_RENAME)
			jr_rename(l, &it);
		else
			(void)jr_append(l, it.created ? JOURNAL_CREATE : JOURNAL_UPSERT,
					it.path, it.len, NULL, 0, NULL);
		coalesce_item_clear(&it);
		n++;
	}
	if (rc < 0)
		want_rescan(l, "", 0, "too many pending renames");
	if (l->j && jr_unsynced(l))
		l->jsync_owed = true;
}

/* ---- the feed: journal records become operations ---- */

/* Give a subtree scan's entry its place in the mirror tree. */
static int prefix_entry(struct live *l, struct entry *e, bool link)
{
	char **p = link ? &e->link : &e->path;
	size_t *len = link ? &e->link_len : &e->path_len;
	size_t n;
	char *q = *len == 0 ? strndup(l->scan_pre, l->scan_pre_len) :
		  path_join(l->scan_pre, l->scan_pre_len, *p, *len, &n);

	if (!q)
		return -ENOMEM;
	if (*len == 0)
		n = l->scan_pre_len;
	free(*p);
	*p = q;
	*len = n;
	return 0;
}

static int scan_fix(struct live *l, int kind, struct entry *e)
{
	int rc = 0;

	if (l->scan_pre_len > 0) {
		rc = prefix_entry(l, e, false);
		if (rc == 0 && kind == SCAN_ENTRY && e->type == ENT_HARDLINK)
			rc = prefix_entry(l, e, true);
	}
	return rc;
}

/* ---- progress of whole-tree passes (progress.h), for the log and status ---- */

/* A pass starts: a whole-tree one (full) is reported, with the tree's
 * size as its estimate, counted beside it when nothing tells it yet. */
static void pass_begin(struct live *l, bool full)
{
	struct scan_opts so = { .one_fs = l->m->one_fs, .ex = l->ex };
	int rc;

	l->pass_prog.phase = !full ? PROGRESS_NONE :
			     l->synced_once ? PROGRESS_RECONCILE : PROGRESS_INITIAL;
	l->pass_prog.from = l->tree_from;
	if (!full || l->tree_paths > 0 || l->count)
		return;
	if ((rc = precount_start(l->rootfd, &so, &l->count)) < 0)
		log_info("mirror %s: cannot count the tree for the progress figures: %s",
			 l->m->name, strerror(-rc));
}

/* A whole-tree pass was listed: its size estimates the next.  It is
 * reported until its last operation is complete (pass_view). */
static void pass_end(struct live *l)
{
	if (l->pass_prog.phase == PROGRESS_NONE)
		return;
	l->tree_paths = l->pass_prog.done;
	l->tree_from = PROGRESS_TOTAL_PREVIOUS;
	l->pass_prog.total = l->pass_prog.done;
	l->pass_prog.from = PROGRESS_TOTAL_LISTED;
}

/* Take the count's total once it is there. */
static void pass_count(struct live *l)
{
	uint64_t n = 0;
	int rc = l->count ? precount_result(l->count, &n) : 0;

	if (rc == 0)
		return;
	if (rc == 1 && l->tree_paths == 0) {
		l->tree_paths = n;
		l->tree_from = PROGRESS_TOTAL_COUNT;
	}
	precount_free(l->count);
	l->count = NULL;
}

/* Bytes written to s's socket that the kernel still holds (not yet
 * acknowledged by the peer's TCP); 0 when it cannot tell. */
static uint64_t unsent_bytes(struct stream *s)
{
	int n = 0;

	if (!s || ioctl(stream_fd(s), SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (uint64_t)n;
}

/* The pass's figures into l->st.progress (under l->mu, after bytes_sent
 * and in_flight): paths done are those listed and complete on the sink,
 * bytes those that left the kernel (unsent: still in it). */
static void pass_view(struct live *l, uint64_t now, uint64_t unsent)
{
	struct progress *p = &l->pass_prog;

	if (!l->scan && l->list_to == 0 && l->st.in_flight == 0)
		p->phase = PROGRESS_NONE;    /* listed and complete, or given up */
	if (p->phase == PROGRESS_NONE) {
		l->st.progress = (struct progress_view){ .eta_s = -1, .percent = -1 };
		return;
	}
	if (p->total == 0 && l->tree_paths > 0) {
		p->total = l->tree_paths;
		p->from = l->tree_from;
	}
	progress_view(p, now, l->st.bytes_sent > unsent ? l->st.bytes_sent - unsent : 0,
		      l->st.in_flight, &l->st.progress);
}

/* The record being expanded is one of a start-up listing's (index_walk). */
static bool in_listing(const struct live *l)
{
	return l->list_to != 0 && l->scan_seq >= l->list_from && l->scan_seq <= l->list_to;
}

/* The start-up listing's last record was expanded. */
static void listing_sent(struct live *l)
{
	log_info("mirror %s: start-up listing sent in %llu ms", l->m->name,
		 (unsigned long long)(now_ms() - l->list_t0));
	l->list_to = 0;
	pass_end(l);
}

/* A path of a whole-tree pass was listed (e); in the start-up listing,
 * a directory's own entry was counted in its parent's listing. */
static void pass_progress(struct live *l, const struct entry *e)
{
	if (l->scan_pre_len == 0 ||
	    (in_listing(l) && !(e->path_len == l->scan_pre_len &&
				memcmp(e->path, l->scan_pre, e->path_len) == 0)))
		progress_add(&l->pass_prog, 1);
}

/* A log line every few seconds while a whole-tree pass runs, with the
 * figures of the status (v). */
static void pass_log(struct live *l, const struct progress_view *v, uint64_t now)
{
	char what[256];

	if (v->phase == PROGRESS_NONE || !progress_due(&l->pass_prog, now))
		return;
	progress_view_format(v, what, sizeof(what));
	log_info("mirror %s: %s: %s", l->m->name,
		 v->phase == PROGRESS_INITIAL ? "initial sync" : "reconciliation", what);
}

static int scan_item(struct live *l, struct sender_op *op)
{
	for (;;) {
		memset(op, 0, sizeof(*op));
		int rc = scan_next(l->scan, &op->e);
		if (rc == SCAN_END) {
			entry_clear(&op->e);
			if (!l->scan_one_level)
				log_info("mirror %s: reconciliation of '%s' sent in %llu ms",
					 l->m->name, l->scan_pre,
					 (unsigned long long)(now_ms() - l->pass_t0));
			if (!in_listing(l))
				pass_end(l);
			else if (l->scan_seq == l->list_to)
				listing_sent(l);
			scan_stop(l);
			return 0;
		}
		if ((rc == SCAN_ENTRY || rc == SCAN_DIR_DONE) && scan_fix(l, rc, &op->e) == 0) {
			op->kind = rc == SCAN_ENTRY ? SOP_ENTRY : SOP_DIR_DONE;
			op->flags = rc == SCAN_ENTRY ? SOP_LISTING : 0;
			if (rc == SCAN_ENTRY)
				pass_progress(l, &op->e);
			links_note(l, &op->e);
			/* a subtree's pass links names inside it only: the group
			 * is sent again as a whole after it */
			if (l->scan_pre_len > 0 && op->e.type == ENT_FILE && op->e.nlink > 1)
				(void)coalesce_touch(l->co, op->e.path, op->e.path_len, 0, now_ms());
			/* the directory's entry went out before its files' content,
			 * whose arrival on the sink changes its mtime: send it again
			 * after the pass (best effort when the set is full) */
			if (op->kind == SOP_DIR_DONE)
				(void)coalesce_touch(l->co, op->e.path, op->e.path_len, 0, now_ms());
			return 1;
		}
		log_err("mirror %s: cannot read '%s': %s, skipped", l->m->name,
			op->e.path ? op->e.path : "?", strerror(rc < 0 ? -rc : ENOMEM));
		alerts_file_error(l->m->name, "source", op->e.path, rc < 0 ? rc : -ENOMEM);
		entry_clear(&op->e);
		l->errors++;
	}
}

static int item_op(struct live *l, uint64_t seq, const char *path, size_t len,
		   bool created, struct sender_op *op);

/* A RESCAN record: walk that subtree (a vanished or non-directory path is
 * just sent as it is now).  1 with an operation, 0 for none. */
static int start_scan(struct live *l, const char *path, size_t len, bool one_level,
		      struct sender_op *op)
{
	struct scan_opts so = { .one_fs = l->m->one_fs, .xattrs = l->m->xattrs, .ex = l->ex,
				.one_level = one_level };
	int fd = path_open_dir(l->rootfd, path, len);

	if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
		return item_op(l, l->scan_seq, path, len, false, op);
	if (fd < 0 || !(l->scan_pre = strndup(path, len)) || !(l->scan = scan_new(fd, &so))) {
		log_err("mirror %s: cannot reconcile '%s': %s, skipped", l->m->name, path,
			strerror(fd < 0 ? -fd : ENOMEM));
		if (fd >= 0)
			close(fd);
		free(l->scan_pre);
		l->scan_pre = NULL;
		l->errors++;
		return 0;
	}
	l->scan_fd = fd;
	l->scan_pre_len = len;
	l->scan_one_level = one_level;
	if (len == 0 && !one_level)
		links_clear(l->links);
	l->pass_t0 = now_ms();
	if (in_listing(l) && l->scan_seq == l->list_from)
		l->list_t0 = l->pass_t0;
	if (!in_listing(l) || l->scan_seq == l->list_from) {
		bool whole = (len == 0 && !one_level) || in_listing(l);
		progress_start(&l->pass_prog, whole ? l->tree_paths : 0, l->pass_t0);
		pass_begin(l, whole);
	}
	if (one_level)
		log_debug("mirror %s: listing of '%s' compared", l->m->name, path);
	else
		log_info("mirror %s: reconciliation of '%s' started", l->m->name, path);
	/* the pass may make its directory anew on the sink (it went out as
	 * deleted), which changes the parent's mtime there: the parent is
	 * sent again after it.  Last: a touch may supersede this pass. */
	if (len > 0)
		touch_parent(l, l->scan_pre, len);
	return 0;
}

/* Turn one changed path into an operation by its current state; 1, or 0
 * to skip it. */
static int item_op(struct live *l, uint64_t seq, const char *path, size_t len,
		   bool created, struct sender_op *op)
{
	char *now_at;
	size_t now_len;

	memset(op, 0, sizeof(*op));
	if (moved_translate(l, seq, path, len, &now_at, &now_len)) {
		/* what was here has moved; a new one has records of its own */
		touch(l, now_at, now_len, created ? COALESCE_CREATED : 0);
		free(now_at);
		return 0;
	}
	int rc = scan_stat(l->rootfd, path, len, l->m->xattrs, &op->e);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		entry_clear(&op->e);
		op->kind = SOP_DELETE;
		if (!(op->e.path = strndup(path, len)))
			return 0;
		op->e.path_len = len;
		gone_add(l, op->e.path, len);
		touch_parent(l, op->e.path, len);     /* path may not outlive this */
		links_left(l, op->e.path, len, 0, 0);
		return 1;
	}
	if (rc < 0) {
		log_warn("mirror %s: cannot stat '%s': %s, skipped", l->m->name, path,
			 strerror(-rc));
		entry_clear(&op->e);
		return 0;
	}
	char *up;
	size_t up_len;
	if ((!l->stash.on || l->stash.tries < STASH_TRIES) &&
	    gone_take(l, path, len, false, &up, &up_len)) {
		entry_clear(&op->e);
		stash_put(l, seq, path, len, created);
		rc = item_op(l, seq, up, up_len, true, op);
		free(up);
		return rc;
	}
	if (gone_take(l, path, len, true, &up, &up_len))
		free(up);
	if (op->e.type == ENT_FILE && (rc = grow_op(l, op)) != 0) {
		if (rc < 0)
			entry_clear(&op->e);
		return rc > 0;
	}
	/* a directory too: the sink may lack one sent before (it went out
	 * as deleted, or a directory above was missing there), and making it
	 * changes the parent's mtime there.  Once per level, up to the root. */
	touch_parent(l, path, len);
	links_left(l, op->e.path, op->e.path_len, op->e.dev, op->e.ino);
	links_resolve(l, seq, &op->e);
	op->kind = SOP_ENTRY;
	return 1;
}

/* Does a rename to path land beneath a path last sent as DELETE? */
static bool into_gone(const struct live *l, const char *path, size_t len)
{
	size_t dlen = path_dirlen(path, len);

	return dlen > 0 && gone_covers(l, path, dlen);
}

/* A rename into a directory that went out as deleted is not sent (the
 * rescans just recorded send both names by their state now): the sink
 * would fail it and report it (FAILED), which rescans the nearest
 * directory above that exists here, the whole tree when the destination's
 * directory is gone too.  (One whose source went out as deleted is sent:
 * the sink may have a newer namesake there, which it moves away.) */
static int rename_skip(struct sender_op *op)
{
	entry_clear(&op->e);
	memset(op, 0, sizeof(*op));
	return 0;
}

static int rename_op(struct live *l, const struct journal_rec *r, struct sender_op *op)
{
	memset(op, 0, sizeof(*op));
	op->kind = SOP_RENAME;
	op->e.path = strndup(r->path, r->path_len);
	op->e.link = strndup(r->path2, r->path2_len);
	op->e.path_len = r->path_len;
	op->e.link_len = r->path2_len;
	if (!op->e.path || !op->e.link) {
		entry_clear(&op->e);
		return 0;
	}
	/* r may not outlive a touch (a full set rewinds the journal) */
	touch_parent(l, op->e.path, op->e.path_len);
	touch_parent(l, op->e.link, op->e.link_len);
	/* it went out as DELETE before this rename was seen: the sink has
	 * nothing (or an older namesake) to move, the destination is sent
	 * afresh after the RENAME */
	if (gone_covers(l, op->e.path, op->e.path_len))
		want_rescan(l, op->e.link, op->e.link_len, "renamed after it went out as deleted");
	else if (into_gone(l, op->e.link, op->e.link_len)) {
		/* the destination's directory went out as DELETE first (it
		 * was removed or moved on since): the sink cannot make the
		 * rename and keeps what it has at the old name, which is sent
		 * by its state now; the destination too, should it be back */
		want_rescan(l, op->e.path, op->e.path_len,
			    "moved into a directory that went out as deleted");
		want_rescan(l, op->e.link, op->e.link_len,
			    "moved into a directory that went out as deleted");
		return rename_skip(op);
	} else if (l->gone_lost) {  /* a path beneath, or the destination's
				     * directory, may be among those forgotten */
		want_rescan(l, op->e.path, op->e.path_len,
			    "renamed while paths gone as deleted are forgotten");
		want_rescan(l, op->e.link, op->e.link_len,
			    "renamed while paths gone as deleted are forgotten");
	} else
		gone_moved(l, op->e.path, op->e.path_len, op->e.link, op->e.link_len);
	return 1;
}

static int rec_op(struct live *l, const struct journal_rec *r, struct sender_op *op)
{
	switch (r->op) {
	case JOURNAL_UPSERT:
	case JOURNAL_DELETE:
	case JOURNAL_CREATE:
		return item_op(l, r->seq, r->path, r->path_len, r->op == JOURNAL_CREATE, op);
	case JOURNAL_RENAME:
		return rename_op(l, r, op);
	case JOURNAL_RESCAN:
	case JOURNAL_LISTDIR:
		return start_scan(l, r->path, r->path_len, r->op == JOURNAL_LISTDIR, op);
	case JOURNAL_REPAIR: {
		int rc = item_op(l, r->seq, r->path, r->path_len, false, op);
		if (rc == 1 && op->kind == SOP_ENTRY && op->e.type == ENT_FILE)
			op->flags |= SOP_FORCE;
		return rc;
	}
	}
	return 0;
}

static int feed_next(void *ctx, struct sender_op *op)
{
	struct live *l = ctx;
	struct journal_rec r;

	if (l->paused)
		return 0;               /* what is in flight completes */
	while (l->it && l->pend_n < PEND_MAX) {
		if (l->lq.target && lq_next(l, op) == 1) {
			pend_add(l, op->tag);
			return 1;
		}
		if (l->stash.on) {
			struct stash st = l->stash;
			l->stash.on = false;
			l->stash.path = NULL;
			int rc = item_op(l, st.seq, st.path, st.len, st.created, op);
			if (l->stash.on && l->stash.seq == st.seq)
				l->stash.tries = st.tries + 1;
			free(st.path);
			if (rc == 1) {
				op->tag = st.seq;
				pend_add(l, st.seq);
				return 1;
			}
			continue;
		}
		if (l->scan && scan_item(l, op) == 1) {
			op->tag = l->scan_seq;
			pend_add(l, l->scan_seq);
			return 1;
		}
		if (l->list_to != 0 && l->scan_seq >= l->list_to)
			listing_sent(l);
		int rc = journal_iter_next(l->it, &r);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			jr_broken(l, rc, "read");
			return 0;
		}
		l->fed_seq = r.seq;
		l->scan_seq = r.seq;
		if (rec_op(l, &r, op) == 1) {
			op->tag = r.seq;
			pend_add(l, r.seq);
			return 1;
		}
	}
	return 0;
}

static void sink_failed(void *ctx, const char *path, size_t len, int err);

/* The sink's own status from DONE, not a reason on this side (sender.h);
 * a missing name there (ENOENT) is made by the parent's listing. */
static bool sink_refused(int err)
{
	return err != -ESTALE && err != -ENOENT && err != -ENOTDIR && err != -ETIMEDOUT;
}

/* sender's on_unsent: a file's content did not reach the sink.  When a
 * later directory rename moved it, it is sent under its new name (a rename
 * not recorded yet finds it among the paths gone); one the sink refused
 * (cannot write it: full, read-only, EPERM) is left to the sender's tries
 * and the bounded rescans after the sink's failures (sinkfail.h), never
 * sent again at once, which a sink that cannot write it would refuse
 * without end; one the sender gave up on for a reason here is recorded
 * again, so a file that kept changing is not left stale on the sink; a
 * file with other names is sent again as a group (the links follow the
 * content that finally arrives), or, when this name is gone, under the
 * names left. */
static void pend_unsent(void *ctx, uint64_t seq, const struct entry *e, int err)
{
	struct live *l = ctx;
	char *now_at;
	size_t now_len;

	if (moved_translate(l, seq, e->path, e->path_len, &now_at, &now_len)) {
		touch(l, now_at, now_len, 0);
		free(now_at);
		return;
	}
	if (err != -ESTALE)
		gone_add(l, e->path, e->path_len);
	if (sink_refused(err)) {
		/* the rescan of its directory also sets that directory's
		 * mtime there after a retry that went through */
		sink_failed(l, e->path, e->path_len, err);
		return;
	}
	/* the retry lands in its directory after that went out, changing
	 * its mtime on the sink (the sink's failures too: its directory was
	 * missing there, say) */
	touch_parent(l, e->path, e->path_len);
	if (err == -ETIMEDOUT) {
		/* given up: a new record sends it (and its directory) afresh */
		log_notice("mirror %s: '%s' was given up, sending it again from a new record",
			   l->m->name, e->path);
		touch(l, e->path, e->path_len, 0);
		touch_parent(l, e->path, e->path_len);
	}
	/* a record sends it with its other names, whether the map knows
	 * them yet or not (the sender hands back a retry of such a file) */
	if (e->nlink > 1 && err == -ESTALE) {
		touch(l, e->path, e->path_len, 0);
		return;
	}
	const struct links_group *g = e->nlink > 1 ? links_get(l->links, e->dev, e->ino) : NULL;
	for (size_t i = 0; g && i < g->n; i++)
		if (g->lens[i] != e->path_len || memcmp(g->v[i], e->path, e->path_len) != 0)
			touch(l, g->v[i], g->lens[i], 0);
}

/* ---- the sink's failures (FAILED) ---- */

/* Length of the nearest directory above path that still exists here (0,
 * the root, when none does or there is no memory to look). */
static size_t existing_dir(struct live *l, const char *path, size_t len)
{
	char *p = strndup(path, len);

	if (!p)
		return 0;
	while (len > 0) {
		len = path_dirlen(p, len);
		p[len] = '\0';
		int fd = len > 0 ? path_open_dir(l->rootfd, p, len) : -1;
		if (fd >= 0) {
			close(fd);
			break;
		}
	}
	free(p);
	return len;
}

/* A rescan after the sink's failure goes into the journal behind what is
 * recorded already, never superseding it (want_rescan does for the whole
 * tree): a deletion still to be sent must reach the sink before the pass,
 * or a hardlink the sink holds back would outlive both. */
static void failed_rescan(struct live *l, const char *dir, size_t len)
{
	if (len > 0 && l->m->n_excludes > 0)
		len = 0;                /* anchored patterns need the whole tree */
	log_notice("mirror %s: the sink failed to apply a change beneath it, reconciling '%.*s'",
		   l->m->name, (int)len, dir);
	if (jr_append(l, JOURNAL_RESCAN, dir, len, NULL, 0, NULL) == 0 && jr_unsynced(l))
		l->jsync_owed = true;
}

/* sender's on_sink_failed: the sink could not apply a change to path (its
 * directory missing there, a link's target missing, a name it may not
 * write).  The nearest directory above it that still exists here is
 * rescanned (sinkfail.h says when), which reconciles its listing with the
 * sink's: whatever it lacks is sent again. */
static void sink_failed(void *ctx, const char *path, size_t len, int err)
{
	struct live *l = ctx;
	size_t dlen = existing_dir(l, path, len);
	int rc = sinkfail_note(l->sf, path, dlen, now_ms());

	if (rc < 0) {
		failed_rescan(l, "", 0);        /* too many directories: all of them */
	} else if (rc == SINKFAIL_GIVEN_UP) {
		log_err("mirror %s: the sink keeps failing to apply changes beneath '%.*s' "
			"(last '%s': %s), given up for now", l->m->name, (int)dlen, path, path,
			strerror(-err));
		status_error(l->m->name, "the sink cannot apply '%s': %s", path, strerror(-err));
	}
}

/* Rescans due after the sink's failures go into the journal. */
static void sinkfail_tick(struct live *l, uint64_t now)
{
	const char *dir;
	size_t len;

	while (sinkfail_due(l->sf, now, &dir, &len))
		failed_rescan(l, dir, len);
}

/* ---- watcher records ---- */

static void on_record(struct live *l, const struct watch_rec *r)
{
	uint64_t now = now_ms();
	bool paired;
	int rc = 0;

	switch (r->kind) {
	case WATCH_CLOSE_WRITE:
		grow_closed(l->grow, r->path, r->path_len);
		touch(l, r->path, r->path_len, COALESCE_CLOSED);
		break;
	case WATCH_MODIFY:
		if (r->is_dir || !grow_modified(l->grow, r->path, r->path_len, now))
			touch(l, r->path, r->path_len, 0);
		else
			note_dirty(l);
		break;
	case WATCH_ATTRIB:
		touch(l, r->path, r->path_len, 0);
		break;
	case WATCH_CREATE:
	case WATCH_DIR_CREATED:
		touch(l, r->path, r->path_len, COALESCE_CREATED);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_DELETE:
		grow_forget(l->grow, r->path, r->path_len);
		touch(l, r->path, r->path_len, 0);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_MOVED_FROM:
		grow_forget(l->grow, r->path, r->path_len);
		rc = coalesce_moved_from(l->co, r->cookie, r->path, r->path_len, now);
		touch_parent(l, r->path, r->path_len);
		break;
	case WATCH_MOVED_TO:
		grow_forget(l->grow, r->path, r->path_len);
		paired = coalesce_move_pending(l->co, r->cookie);
		rc = coalesce_moved_to(l->co, r->cookie, r->path, r->path_len, now);
		touch_parent(l, r->path, r->path_len);
		/* its MOVED_FROM came too late and went out as a delete: what
		 * the directory holds must be sent, not just the directory */
		if (rc == 0 && r->is_dir && !paired)
			want_rescan(l, r->path, r->path_len, "a directory's rename was seen late");
		break;
	case WATCH_OVERFLOW:
		log_warn("mirror %s: inotify queue overflow at '%s' (raise "
			 "fs.inotify.max_queued_events)", l->m->name, r->path);
		want_rescan(l, r->path, r->path_len, "events were lost");
		break;
	case WATCH_FAILED:
		coverage_failed(l->cv, r->path, r->err, now);
		want_rescan(l, r->path, r->path_len, "a watch failed");
		break;
	}
	if (rc < 0)
		want_rescan(l, "", 0, rc == -ENOSPC ? "too many pending changes" :
			    "cannot record a rename");
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

/* The watcher thread ended (err < 0), or the tree was not all watched and
 * may be now (0): start it again and reconcile. */
static void restart_watch(struct live *l, int err, uint64_t now)
{
	if (err < 0) {
		log_err("mirror %s: watcher failed (%s), restarting it", l->m->name,
			strerror(-err));
		watch_stop(l->w);
		l->w = NULL;
	}
	if (coverage_watch(l->cv, &l->w, now) == 0 || err < 0)
		want_rescan(l, "", 0, "the watcher restarted");
}

/* mirrorctl pause / resume, asked every loop turn (at least every TICK_MS). */
static void check_paused(struct live *l)
{
	bool p = status_paused(l->m->name);

	if (p == l->paused)
		return;
	l->paused = p;
	if (p)
		log_notice("mirror %s: paused: changes are recorded in the journal, "
			   "sent after resume", l->m->name);
	else
		log_notice("mirror %s: resumed", l->m->name);
}

int live_repair(struct live *l, const char *path, size_t len, bool tree)
{
	char *p = strndup(path, len);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&l->mu);
	if (l->rq_n < LIVE_REPAIR_MAX)
		l->rq[l->rq_n++] = (struct repair){ p, len, tree };
	else
		rc = -ENOSPC;
	pthread_mutex_unlock(&l->mu);
	if (rc < 0)
		free(p);
	return rc;
}

/* Record the repairs asked for since the last turn. */
static void take_repairs(struct live *l)
{
	struct repair *v = NULL;
	size_t n = 0;

	pthread_mutex_lock(&l->mu);
	if (l->rq_n > 0 && (v = malloc(l->rq_n * sizeof(*v)))) {
		n = l->rq_n;
		memcpy(v, l->rq, n * sizeof(*v));
		l->rq_n = 0;
	}
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		if (jr_append(l, v[i].tree ? JOURNAL_RESCAN : JOURNAL_REPAIR, v[i].path, v[i].len,
			      NULL, 0, NULL) < 0)
			log_warn("mirror %s: repair of '%s' not recorded", l->m->name, v[i].path);
		free(v[i].path);
	}
	if (n > 0 && l->j && jr_unsynced(l))
		l->jsync_owed = true;
	free(v);
}

/* Watcher input, the dirty set, the journal: the work of every loop turn.
 * The journal sync is left to the caller (see run_session). */
static void housekeeping(struct live *l)
{
	uint64_t now = now_ms();
	/* the start's outcome before the records that follow it */
	(void)coverage_settle(l->cv, &l->w, false, now);
	int rc = l->w ? drain_watch(l) : 0;

	check_paused(l);
	if (rc < 0)
		restart_watch(l, rc, now);
	else if (coverage_retry_due(l->cv, l->w ? watch_count(l->w) : 0, now))
		restart_watch(l, 0, now);
	jr_reopen(l, now, "journal reopened");
	grow_tick(l, now);
	take_repairs(l);
	sinkfail_tick(l, now);
	flush_dirty(l, now);
	maybe_ack(l, now, false);
}

/* ---- start-up with the tree index (treeidx.h) ---- */

/* A directory that is new or changed gets its listing compared (the sink
 * may hold names created and removed since the index was made). */
static int idx_changed(void *ctx, const char *path, size_t len, bool dir)
{
	struct live *l = ctx;

	/* a full pass recorded meanwhile (the journal filled up) makes a
	 * start-up listing moot */
	if (l->walk_lists && l->pass_seq != 0)
		return -ECANCELED;
	return jr_append(l, dir ? JOURNAL_LISTDIR : JOURNAL_UPSERT, path, len, NULL, 0, NULL);
}

/* A name of a file with several: the walk's names make the hardlink
 * groups known from the start, so a change to one of them (found by the
 * walk, or a record replayed from before the start) is sent as its group
 * instead of costing a pass over the whole tree to find the other names
 * (links_resolve). */
static void idx_linked(void *ctx, const char *path, size_t len, uint64_t dev, uint64_t ino)
{
	struct entry e = { .type = ENT_FILE, .nlink = 2, .dev = dev, .ino = ino,
			   .path = (char *)path, .path_len = len };

	links_note(ctx, &e);
}

/* Before the walk lists a directory: the watcher, still adding its
 * watches, has watched it (coverage_watch_async), so a change the listing
 * misses is an event. */
static int idx_gate(void *ctx, const char *path, size_t len)
{
	struct live *l = ctx;

	if (l->w)
		watch_wait_dir(l->w, path, len);
	return 0;
}

/* The index walk's progress: treeidx_walk ticks every WALK_TICK_PATHS. */
#define WALK_TICK_PATHS 4096

static void walk_begin(struct live *l, bool on)
{
	pthread_mutex_lock(&l->mu);
	progress_start(&l->walk_prog, l->tree_paths, now_ms());
	l->walk_prog.phase = on ? PROGRESS_WALK : PROGRESS_NONE;
	l->walk_prog.from = l->tree_from;
	l->walk_view = (struct progress_view){ .phase = l->walk_prog.phase, .eta_s = -1,
					       .percent = -1 };
	pthread_mutex_unlock(&l->mu);
}

static void walk_step(struct live *l, uint64_t now)
{
	pthread_mutex_lock(&l->mu);
	(void)progress_step(&l->walk_prog, WALK_TICK_PATHS, now);
	progress_view(&l->walk_prog, now, l->st.bytes_sent, 0, &l->walk_view);
	pthread_mutex_unlock(&l->mu);
}

static void idx_tick(void *ctx)
{
	struct live *l = ctx;
	uint64_t now = now_ms();

	housekeeping(l);         /* events during the walk go to the journal */
	walk_step(l, now);
	if (l->walk_s && now >= l->walk_ping_at + PING_MS) {
		/* the sink closes a session silent for 30 s */
		proto_put_id(stream_out(l->walk_s), MSG_PING, now);
		(void)stream_flush(l->walk_s);
		l->walk_ping_at = now;
	}
}

/* The new index holds once the sink has acknowledged the walk's records. */
static void index_poll(struct live *l)
{
	struct journal_stats st;
	int rc;

	if (!l->ti || !l->j)
		return;
	journal_get_stats(l->j, &st);
	rc = treeidx_poll(l->ti, st.id, st.acked_seq, l->pass_seq, l->sink_id);
	if (rc > 0)
		log_info("mirror %s: tree index saved (journal record %llu, %s)", l->m->name,
			 (unsigned long long)st.acked_seq,
			 rc == 1 ? "written anew" : "updated in place");
	else if (rc < 0)
		log_warn("mirror %s: cannot save the tree index in %s: %s, the next start "
			 "reconciles the whole tree", l->m->name, l->jdir, strerror(-rc));
}

enum walk_kind {
	WALK_COMPARE,            /* with the trusted index */
	WALK_WRITE,              /* a new index, after a full pass */
	WALK_LIST,               /* a new index and a LISTDIR per directory */
};

static void walk_failed(struct live *l, enum walk_kind kind, int rc)
{
	log_warn("mirror %s: tree index walk failed: %s", l->m->name, strerror(-rc));
	l->list_from = 0;
	if (kind == WALK_LIST)
		l->walk_due = true;     /* after the full pass */
	if (kind != WALK_WRITE)
		jr_supersede(l, "the tree index walk failed");
}

/* Walk the tree: compared with the trusted index, or into a new one. */
static void index_walk(struct live *l, enum walk_kind kind)
{
	static const char *done[] = {
		[WALK_COMPARE] = "compared with the tree index, no full reconciliation",
		[WALK_WRITE] = "tree index written",
		[WALK_LIST] = "tree index written, every directory to be listed",
	};
	struct scan_opts so = { .one_fs = l->m->one_fs, .ex = l->ex, .gate = idx_gate,
				.gate_ctx = l };
	struct journal_stats js;
	struct treeidx_stats st;
	l->walk_lists = kind == WALK_LIST;
	walk_begin(l, true);
	int rc = treeidx_walk(l->ti, l->rootfd, &so, kind == WALK_LIST, idx_changed, idx_linked,
			      idx_tick, l, &st);

	walk_begin(l, false);
	l->walk_lists = false;
	if (rc < 0)
		return walk_failed(l, kind, rc);
	if (!l->j || journal_sync(l->j) < 0)
		return;                 /* reopened later, with a full pass */
	journal_get_stats(l->j, &js);
	treeidx_set_seq(l->ti, js.synced_seq);
	l->tree_paths = st.entries;
	l->tree_from = PROGRESS_TOTAL_PREVIOUS;
	if (kind == WALK_LIST) {
		treeidx_set_listing(l->ti, js.id, l->list_from);
		l->list_to = js.synced_seq;
	}
	log_notice("mirror %s: %llu paths walked in %llu ms (%llu ms of CPU); %s", l->m->name,
		   (unsigned long long)st.entries, (unsigned long long)st.ms,
		   (unsigned long long)st.cpu_ms, done[kind]);
	if (kind == WALK_COMPARE)
		log_notice("mirror %s: start-up: %llu paths changed and %llu gone while stopped",
			   l->m->name, (unsigned long long)st.changed,
			   (unsigned long long)st.gone);
}

/* No usable index: every recorded change is covered by a listing of every
 * directory, recorded in the journal one LISTDIR per directory, from a
 * walk that writes the new index (saved as it is at the first session, so
 * an interrupted listing resumes; treeidx_save_listing).  The journal
 * acknowledges them directory by directory. */
static void start_listing(struct live *l)
{
	struct journal_stats st;
	int rc;

	if (treeidx_forget(l->ti))
		l->walk_due = true;
	coalesce_clear(l->co);
	log_notice("mirror %s: start-up without a usable tree index, listing every directory",
		   l->m->name);
	if ((rc = journal_sync(l->j)) < 0)
		return jr_broken(l, rc, "sync");
	journal_get_stats(l->j, &st);
	moved_trim(l, UINT64_MAX);
	if ((rc = journal_ack(l->j, st.synced_seq)) < 0)
		return jr_broken(l, rc, "recording a listing");
	if ((rc = jr_rewind(l)) < 0)
		return jr_broken(l, rc, "recording a listing");
	l->list_from = st.synced_seq + 1;
	index_walk(l, WALK_LIST);
}

/* In sync: every change seen so far is recorded and acknowledged.  The
 * first time after a start with a full pass, the index is written (the
 * pass is not delayed by it; the session s is kept alive with PINGs
 * meanwhile); then it is saved once the sink has acknowledged everything
 * up to the end of the walk.  True when it walked. */
static bool index_in_sync(struct live *l, struct stream *s)
{
	enum status_coverage cover;
	uint64_t watched, unwatched;

	if (!l->ti)
		return false;
	/* a change nobody watched may be in the walk but in no record */
	coverage_get(l->cv, l->w, &cover, &watched, &unwatched);
	if (cover != STATUS_COVER_FULL)
		return false;
	if (l->walk_due) {
		l->walk_due = false;
		l->walk_s = s;
		l->walk_ping_at = now_ms();
		index_walk(l, WALK_WRITE);
		l->walk_s = NULL;
		return true;
	}
	index_poll(l);
	return false;
}

/* Open the journal and find what changed while nobody watched: by the tree
 * index when it can be trusted (walked now), else by a listing of every
 * directory (walked now, into a new index). */
static void start_up(struct live *l)
{
	struct journal_stats js;
	char why[192];

	l->reopen_at = 0;
	if (!l->ti || jr_open(l) < 0)
		return jr_reopen(l, now_ms(), "start-up");
	l->reopen_at = now_ms() + REOPEN_MS;
	l->pass_seq = l->fed_seq = 0;
	journal_get_stats(l->j, &js);
	bool trusted = treeidx_trust(l->ti, js.id, js.acked_seq, why, sizeof(why));
	log_info("mirror %s: start-up: %s", l->m->name, why);
	if (trusted)
		return index_walk(l, WALK_COMPARE);
	start_listing(l);
}

/* ---- connection ---- */

/* Connect and exchange HELLO / HELLO_OK; NULL on failure. */
static struct stream *handshake(struct live *l, bool quiet)
{
	const struct conf_mirror *m = l->m;
	char why[256];
	int rc;
	struct stream *s = session_connect_id(l->c, m, PROTO_FEATURE_REPORT, CONNECT_MS, &rc, why, sizeof(why),
					      &l->sink_id);

	if (s && (rc = stream_set_nonblock(s, true)) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(-rc));
		stream_free(s);
		s = NULL;
	}
	if (!s && !quiet)
		log_warn("mirror %s: %s: %s", m->name, m->peer.text, why);
	return s;
}

static bool in_sync(struct live *l, struct sender *snd)
{
	struct journal_stats st;

	if (!l->j || l->scan || l->pend_n > 0 || coalesce_count(l->co) > 0 ||
	    l->jsync_owed || (snd && sender_in_flight(snd) > 0) || sinkfail_waiting(l->sf))
		return false;
	journal_get_stats(l->j, &st);
	return l->fed_seq == st.synced_seq;
}

/* With several peers: this one has changes to catch up with. */
static bool feed_behind(struct live *l)
{
	struct journal_stats st;

	if (coalesce_count(l->co) > 0 || l->jsync_owed)
		return true;
	if (!l->j)
		return false;
	journal_get_stats(l->j, &st);
	return l->fed_seq < st.synced_seq;
}

/* Publish the figures live_status() reports. */
static void publish(struct live *l, struct sender *snd, struct stream *s)
{
	uint64_t now = now_ms(), unsent = unsent_bytes(s);
	bool synced = snd && in_sync(l, snd);

	pass_count(l);
	if (synced) {
		l->dirty_since = 0;
		l->gone_lost = false;   /* every rename made so far was sent */
		l->synced_once = true;
	} else if (l->dirty_since == 0 && (l->scan || l->pend_n > 0 ||
					 (l->j && journal_count(l->j) > 0) ||
					 (l->fo && feed_behind(l))))
		l->dirty_since = now;   /* work from before we watched: start-up */
	pthread_mutex_lock(&l->mu);
	l->st.connected = s != NULL;
	l->st.reconciling = l->scan != NULL;
	l->st.lag_ms = l->dirty_since ? now - l->dirty_since : 0;
	l->st.synced_until_ms = wall_ms() - (int64_t)l->st.lag_ms;
	l->st.journal_entries = l->j ? journal_count(l->j) : 0;
	l->st.dirty = coalesce_count(l->co);
	l->st.in_flight = snd ? sender_in_flight(snd) : 0;
	l->st.bytes_sent = l->bytes_total + (s ? stream_stats(s)->bytes_out : 0);
	l->st.delta_saved = l->saved_total + (snd ? sender_stats(snd)->delta_saved : 0);
	l->st.errors = l->errors + (snd ? sender_stats(snd)->errors : 0);
	coverage_get(l->cv, l->w, &l->st.coverage, &l->st.watched_dirs, &l->st.unwatched_dirs);
	pass_view(l, now, unsent);
	struct progress_view v = l->st.progress;
	pthread_mutex_unlock(&l->mu);
	pass_log(l, &v, now);
}

void live_status(struct live *l, struct live_status *ret)
{
	if (l->fo)
		fanout_status(l->fo, ret);
	pthread_mutex_lock(&l->mu);
	if (!l->fo)
		*ret = l->st;
	if (l->walk_view.phase != PROGRESS_NONE)   /* the index walk, shared */
		ret->progress = l->walk_view;
	pthread_mutex_unlock(&l->mu);
}

size_t live_peers(struct live *l, struct live_peer_status *out, size_t max)
{
	return l->fo ? fanout_peers(l->fo, out, max) : 0;
}

static int64_t min_wait(int64_t t, int64_t w)
{
	return w >= 0 && w < t ? w : t;
}

/* due: when the session needs a turn without input (its next keep-alive
 * PING or the end of the sink's patience). */
static int poll_timeout(struct live *l, uint64_t due, uint64_t now)
{
	int64_t t = min_wait(TICK_MS, coalesce_wait_ms(l->co, now));
	t = min_wait(t, grow_wait_ms(l->grow, now));
	t = min_wait(t, jsync_wait_ms(l, now));
	t = min_wait(t, sinkfail_wait_ms(l->sf, now));
	struct journal_stats st;

	t = min_wait(t, due > now ? (int64_t)(due - now) : 0);
	if (l->j) {
		journal_get_stats(l->j, &st);
		if (ack_point(l) > feed_acked(l, &st))
			t = min_wait(t, l->ack_at + ACK_MS > now ? (int64_t)(l->ack_at + ACK_MS - now) : 0);
	}
	return (int)t;
}

/* The feed resumes at the first record the sink has not acknowledged. */
static void session_begin(struct live *l)
{
	int rc;

	if (!l->j)
		return;
	struct journal_stats st;
	if (l->ti && !treeidx_sink_ok(l->ti, l->sink_id))
		jr_supersede(l, "the sink's copy is not the one the tree index was made for");
	rc = l->ti ? treeidx_save_listing(l->ti, l->sink_id) : 0;
	if (rc == 1)
		log_info("mirror %s: tree index of the start-up listing saved, an interrupted "
			 "listing resumes", l->m->name);
	else if (rc < 0)
		log_warn("mirror %s: cannot save the tree index in %s: %s", l->m->name, l->jdir,
			 strerror(-rc));
	journal_get_stats(l->j, &st);
	log_info("mirror %s: resuming at journal record %llu (%llu recorded after it)",
		 l->m->name, (unsigned long long)feed_acked(l, &st) + 1,
		 (unsigned long long)(st.synced_seq - feed_acked(l, &st)));
	if ((rc = jr_rewind(l)) == -ERANGE)
		jr_supersede(l, "the journal does not reach back to the sink's state");
	else if (rc < 0)
		jr_broken(l, rc, "rewind");
}

static void session_end(struct live *l, struct sender *snd, struct stream *s)
{
	const struct sender_stats *st = sender_stats(snd);

	maybe_ack(l, now_ms(), true);
	log_info("mirror %s: session ended: %llu ops, %llu files whole, %llu by delta, "
		 "%llu appends (%llu refused), %llu bytes sent, %llu errors", l->m->name,
		 (unsigned long long)st->ops, (unsigned long long)st->files_whole,
		 (unsigned long long)st->files_delta, (unsigned long long)st->appends,
		 (unsigned long long)st->appends_refused,
		 (unsigned long long)stream_stats(s)->bytes_out, (unsigned long long)st->errors);
	l->bytes_total += stream_stats(s)->bytes_out;
	l->saved_total += st->delta_saved;
	l->errors += st->errors;
	/* whatever was fed and not acknowledged is fed again next time */
	journal_iter_free(l->it);
	l->it = NULL;
	scan_stop(l);
	pend_reset(l);
	gone_clear(l);
	grow_reset(l->grow, grow_sink(l));
	if (l->j) {
		struct journal_stats js;
		journal_get_stats(l->j, &js);
		l->fed_seq = feed_acked(l, &js);
	}
}

/* The next keep-alive PING: PING_MS after the sink's last byte and our last
 * PING, so an unanswered PING waits for the next one instead of making the
 * session loop spin. */
static uint64_t ping_due(uint64_t last_in, uint64_t ping_at)
{
	return (last_in > ping_at ? last_in : ping_at) + PING_MS;
}

/* When the session needs a turn without input: its next PING or the end of
 * the sink's patience (DEAD_MS). */
static uint64_t session_due(uint64_t last_in, uint64_t ping_at)
{
	uint64_t ping = ping_due(last_in, ping_at), dead = last_in + DEAD_MS + 1;

	return ping < dead ? ping : dead;
}

/* One connected session: until stop (0) or failure (<0). */
static int run_session(struct live *l, struct stream *s, bool *ret_synced)
{
	struct sender_opts so = { .mirror = l->m->name, .compress_level = 1,
				  .on_settled = pend_settled, .on_file = grow_on_file,
				  .on_unsent = pend_unsent, .on_read_error = read_error,
				  .on_sink_failed = sink_failed, .ctx = l };
	struct sender_feed feed = { feed_next, l };
	struct sender *snd = sender_new(l->rootfd, &so, &feed);
	uint64_t last_in = now_ms(), ping_at = 0, nonce = 0;
	int rc = 0;

	if (!snd)
		return -ENOMEM;
	session_begin(l);
	while (!*l->stop) {
		housekeeping(l);
		int more = 0;
		if (stream_pending_out(s) < OUT_LOW &&
		    (more = sender_produce(snd, stream_out(s), OUT_HIGH)) < 0) {
			rc = more;
			break;
		}
		/* The journal sync blocks this thread for up to ~100 ms on a
		 * busy disk: content the sink asked for goes to the socket
		 * first, and the records the sync releases go out right after
		 * it rather than a poll later. */
		if (l->jsync_owed && jsync_wait_ms(l, now_ms()) == 0) {
			if ((rc = stream_flush(s)) < 0 && rc != -EAGAIN)
				break;
			if (jsync_batch(l, now_ms()) && stream_pending_out(s) < OUT_LOW &&
			    (more = sender_produce(snd, stream_out(s), OUT_HIGH)) < 0) {
				rc = more;
				break;
			}
		}
		if (!*ret_synced && in_sync(l, snd)) {
			*ret_synced = true;
			log_notice("mirror %s: in sync with %s", l->m->name, l->m->peer.text);
		}
		if (in_sync(l, snd) && index_in_sync(l, s))
			last_in = now_ms();     /* the walk kept us from reading */
		publish(l, snd, s);
		uint64_t now = now_ms();
		if (now >= ping_due(last_in, ping_at) && sender_between_files(snd)) {
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
			      poll_timeout(l, session_due(last_in, ping_at), now);
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
	session_end(l, snd, s);
	sender_free(snd);
	return rc;
}

/* Disconnected: changes still go through the dirty set into the journal;
 * sleep until the backoff ends. */
static void wait_backoff(struct live *l, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	for (uint64_t now = now_ms(); !*l->stop && now < end; now = now_ms()) {
		struct pollfd pfd = { .fd = l->w ? watch_fd(l->w) : -1, .events = POLLIN };
		int64_t t = min_wait((int64_t)(end - now), TICK_MS);
		t = min_wait(t, coalesce_wait_ms(l->co, now));
		t = min_wait(t, grow_wait_ms(l->grow, now));
		t = min_wait(t, jsync_wait_ms(l, now));
		if (poll(&pfd, 1, (int)t) < 0 && errno != EINTR)
			return;
		housekeeping(l);
		(void)jsync_batch(l, now_ms());
		publish(l, NULL, NULL);
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
	if (l->fo) {                          /* several sinks: no tree index */
		(void)coverage_settle(l->cv, &l->w, true, now_ms());
		l->reopen_at = 0;
		jr_reopen(l, now_ms(), "start-up");
		fanout_run(l->fo);
		return NULL;
	}
	start_up(l);                          /* changes made while nobody watched */
	/* every watch in place before any pass reads the tree */
	(void)coverage_settle(l->cv, &l->w, true, now_ms());
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
	fanout_free(l->fo);
	watch_stop(l->w);
	coverage_free(l->cv);
	treeidx_free(l->ti);
	precount_free(l->count);   /* before the excludes it borrows */
	scan_stop(l);
	journal_iter_free(l->it);
	if (l->j && journal_sync(l->j) < 0)
		log_warn("mirror %s: cannot sync the journal at exit", l->m->name);
	journal_close(l->j);
	coalesce_free(l->co);
	sinkfail_free(l->sf);
	links_free(l->links);
	free(l->pend);
	if (l->moved)
		moved_trim(l, UINT64_MAX);
	free(l->moved);
	gone_clear(l);
	free(l->gone);
	grow_free(l->grow);
	free(l->jdir);
	exclude_free(l->ex);
	if (l->rootfd >= 0)
		close(l->rootfd);
	for (size_t i = 0; l->rq && i < l->rq_n; i++)
		free(l->rq[i].path);
	free(l->rq);
	pthread_mutex_destroy(&l->mu);
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
	if (asprintf(&l->jdir, "%s/%s", l->c->state_dir, m->name) < 0) {
		l->jdir = NULL;
		return -ENOMEM;
	}
	if (!(l->ex = exclude_new()) || !(l->co = coalesce_new(DIRTY_MAX, m->delay_ms)) ||
	    !(l->links = links_new(LINKS_MAX)) ||
	    !(l->pend = calloc(PEND_MAX, sizeof(*l->pend))) ||
	    !(l->moved = calloc(MOVED_MAX, sizeof(*l->moved))) ||
	    !(l->gone = calloc(GONE_MAX, sizeof(*l->gone))) ||
	    !(l->rq = calloc(LIVE_REPAIR_MAX, sizeof(*l->rq))) ||
	    !(l->grow = grow_new(GROW_MAX, 1 + m->n_more_peers, m->append_interval_ms)))
		return -ENOMEM;
	if (!(l->sf = sinkfail_new()))
		return -ENOMEM;
	for (size_t i = 0; i < m->n_excludes; i++)
		if ((rc = exclude_add(l->ex, m->excludes[i])) < 0)
			return rc;
	/* the tree index serves a mirror with one sink (treeidx.h) */
	if (m->n_more_peers == 0 && !(l->ti = treeidx_new(l->jdir, m)))
		return -ENOMEM;
	if (l->ti && (l->tree_paths = precount_index_rows(l->jdir)) > 0)
		l->tree_from = PROGRESS_TOTAL_INDEX;    /* the progress's estimate */
	if (!(l->cv = coverage_new(m->name, m->path, l->ex, true)))
		return -ENOMEM;
	coverage_set_dir(l->cv, l->jdir);
	/* a tree over the watch limit is not watched but still sent, and shows
	 * in the status until the limit is raised (coverage.h); the watches
	 * are added while the live thread walks the tree (start_up) */
	rc = coverage_watch_async(l->cv, &l->w, now_ms());
	if (rc < 0 && rc != -ENOSPC)
		return rc;
	return m->n_more_peers > 0 ? fanout_new(l, l->c, m, l->stop, &l->fo) : 0;
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
	l->scan_fd = -1;
	pthread_mutex_init(&l->mu, NULL);
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

/* ---- several peers: what fanout.c drives ----
 *
 * Everything before the sender is shared by the peers (watcher, dirty set,
 * journal, hardlink names, directory renames, growing files, what each
 * sink holds of those kept apart in grow.c); the feed
 * state, FEED_FIELDS, is each peer's own.  struct live holds the active
 * peer's: the first peer's while no other is active, another's while
 * fanout.c has swapped it in (live_feed_swap, once in, once out). */

#define FEED_FIELDS(X) X(it) X(fed_seq) X(pend) X(pend_head) X(pend_n) X(scan) X(scan_fd) \
	X(scan_pre) X(scan_pre_len) X(scan_seq) X(pass_t0) X(lq) X(gone) X(gone_next) \
	X(gone_lost) X(stash) X(dirty_since) X(bytes_total) X(saved_total) X(errors) X(ack_at) \
	X(pass_prog) X(synced_once)
#define FEED_DECL(f) typeof(((struct live *)0)->f) f;
#define FEED_SWAP(f) { typeof(l->f) t_ = l->f; l->f = fd->f; fd->f = t_; }

struct live_feed {
	FEED_FIELDS(FEED_DECL)
};

uint64_t live_feed_fed(const struct live_feed *fd)
{
	return fd->fed_seq;
}

void live_feed_swap(struct live *l, struct live_feed *fd)
{
	FEED_FIELDS(FEED_SWAP)
}

/* A peer's feed.  The table of growing files is shared: the watcher arms
 * it once for every peer, and it keeps what each sink holds apart
 * (grow.h), so each gets APPENDs from its own copy's size. */
struct live_feed *live_feed_new(void)
{
	struct live_feed *fd = calloc(1, sizeof(*fd));

	if (!fd)
		return NULL;
	fd->scan_fd = -1;
	if (!(fd->pend = calloc(PEND_MAX, sizeof(*fd->pend))) ||
	    !(fd->gone = calloc(GONE_MAX, sizeof(*fd->gone)))) {
		free(fd->pend);
		free(fd->gone);
		free(fd);
		return NULL;
	}
	return fd;
}

void live_feed_free(struct live *l, struct live_feed *fd)
{
	if (!fd)
		return;
	live_feed_swap(l, fd);
	journal_iter_free(l->it);
	l->it = NULL;
	scan_stop(l);
	gone_clear(l);
	free(l->pend);
	free(l->gone);
	live_feed_swap(l, fd);
	free(fd);
}

/* The active feed starts over at its cursor (the journal was reopened or
 * superseded while it was parked). */
void live_rewind(struct live *l)
{
	int rc;

	if (!l->j) {
		journal_iter_free(l->it);
		l->it = NULL;
		scan_stop(l);
		pend_reset(l);
		gone_clear(l);
		return;
	}
	if ((rc = jr_rewind(l)) == -ERANGE)     /* dropped: this peer only */
		live_reconcile(l);
	else if (rc < 0)
		jr_broken(l, rc, "rewind");
}

/* The active peer was dropped from the journal: it is brought up to date
 * by a pass over the whole tree, then follows the journal from the records
 * after the pass started. */
void live_reconcile(struct live *l)
{
	struct journal_stats st;
	int rc;

	if (!l->j)
		return live_rewind(l);
	if ((rc = journal_sync(l->j)) < 0)
		return jr_broken(l, rc, "sync");
	journal_get_stats(l->j, &st);
	fanout_rejoin(l->fo, st.synced_seq);
	if ((rc = jr_rewind(l)) < 0)
		return jr_broken(l, rc, "rewind");
	struct sender_op op;
	memset(&op, 0, sizeof(op));
	l->scan_seq = st.synced_seq + 1;
	if (start_scan(l, "", 0, false, &op) != 0)
		entry_clear(&op.e);
}

void live_housekeeping(struct live *l)
{
	housekeeping(l);
	(void)jsync_batch(l, now_ms());
}

void live_maybe_ack(struct live *l, bool force)
{
	maybe_ack(l, now_ms(), force);
}

struct sender *live_sender_new(struct live *l)
{
	struct sender_opts so = { .mirror = l->m->name, .compress_level = 1,
				  .on_settled = pend_settled, .on_file = grow_on_file,
				  .on_unsent = pend_unsent, .on_sink_failed = sink_failed,
				  .ctx = l };
	struct sender_feed feed = { feed_next, l };

	return sender_new(l->rootfd, &so, &feed);
}

void live_session_begin(struct live *l)
{
	session_begin(l);
}

void live_session_end(struct live *l, struct sender *snd, struct stream *s)
{
	session_end(l, snd, s);
}

bool live_in_sync(struct live *l, struct sender *snd)
{
	return in_sync(l, snd);
}

void live_publish(struct live *l, struct sender *snd, struct stream *s, struct live_status *ret)
{
	publish(l, snd, s);
	pthread_mutex_lock(&l->mu);
	*ret = l->st;
	pthread_mutex_unlock(&l->mu);
}

int live_poll_timeout(struct live *l, uint64_t last_in)
{
	return poll_timeout(l, last_in + PING_MS, now_ms());
}

int live_watch_fd(const struct live *l)
{
	return l->w ? watch_fd(l->w) : -1;
}

struct journal *live_journal(struct live *l)
{
	return l->j;
}
