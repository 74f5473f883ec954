/* treeidx: the live source's tree index at start-up (see treeidx.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "entry.h"
#include "index.h"
#include "log.h"
#include "progress.h"
#include "treeidx.h"

#define TICK_ENTRIES 4096

struct treeidx {
	const struct conf_mirror *m;
	char *path;              /* <state dir>/index */
	uint64_t conf_hash;
	struct index *old;       /* trusted previous index, during the walk */
	uint64_t old_sink;       /* its sink id; 0: no trusted start */
	struct index *fresh;     /* written by the walk, finished by poll */
	uint64_t seq;            /* fresh holds once this is acked; 0: not yet */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t conf_hash(const struct conf_mirror *m)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char flags[3] = { m->one_fs, m->xattrs, m->owner };

	h = fnv(h, m->path, strlen(m->path) + 1);
	for (size_t i = 0; i < m->n_excludes; i++)
		h = fnv(h, m->excludes[i], strlen(m->excludes[i]) + 1);
	return fnv(h, flags, sizeof(flags));
}

struct treeidx *treeidx_new(const char *dir, const struct conf_mirror *m)
{
	struct treeidx *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (asprintf(&t->path, "%s/index", dir) < 0) {
		free(t);
		return NULL;
	}
	t->m = m;
	t->conf_hash = conf_hash(m);
	return t;
}

void treeidx_free(struct treeidx *t)
{
	if (!t)
		return;
	index_close(t->old);
	index_close(t->fresh);
	free(t->path);
	free(t);
}

bool treeidx_trust(struct treeidx *t, uint64_t journal_id, uint64_t acked_seq,
		   char *why, size_t why_len)
{
	struct index_meta im;
	int rc = index_open(t->path, &t->old);

	if (rc == 0)
		rc = index_meta(t->old, &im);
	if (rc < 0) {
		snprintf(why, why_len, rc == -ENOENT ? "no index yet" : "index unreadable: %s",
			 strerror(-rc));
	} else if (im.journal_id != journal_id) {
		snprintf(why, why_len, "index made for another journal");
	} else if (im.conf_hash != t->conf_hash) {
		snprintf(why, why_len, "index made with other settings (path, excludes, one_fs, "
			 "xattrs, owner)");
	} else if (im.seq > acked_seq || im.sink_id == 0) {
		snprintf(why, why_len, "index ahead of the journal's acknowledgements");
	} else {
		snprintf(why, why_len, "index of %llu paths at journal record %llu",
			 (unsigned long long)im.rows, (unsigned long long)im.seq);
		t->old_sink = im.sink_id;
		return true;
	}
	index_close(t->old);
	t->old = NULL;
	return false;
}

static struct index_rec rec_of(const struct entry *e)
{
	return (struct index_rec){
		.type = e->type, .mode = e->mode, .uid = e->uid, .gid = e->gid,
		.size = e->type == ENT_FILE ? e->size : 0,
		.mtime_ns = e->mtime_sec * 1000000000ll + e->mtime_nsec,
		.ino = e->ino,
	};
}

static bool rec_same(const struct index_rec *a, const struct index_rec *b)
{
	return a->type == b->type && a->mode == b->mode && a->uid == b->uid &&
	       a->gid == b->gid && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ino == b->ino;
}

struct gone_ctx {
	int (*changed)(void *ctx, const char *path, size_t len, bool dir);
	void *ctx;
	char *last;              /* last directory reported gone */
	size_t last_len;
	uint64_t n;
};

/* Paths of the old index not walked: gone (or moved).  Beneath a path
 * already reported only when it was not a prefix of it (a removed
 * directory's DELETE takes its subtree). */
static int on_gone(void *ctx, const char *path, size_t len)
{
	struct gone_ctx *g = ctx;

	if (g->last && len > g->last_len && path[g->last_len] == '/' &&
	    memcmp(path, g->last, g->last_len) == 0)
		return 0;
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, path, len);
	copy[len] = '\0';
	free(g->last);
	g->last = copy;
	g->last_len = len;
	g->n++;
	return g->changed(g->ctx, path, len, false);
}

static int walk_one(struct treeidx *t, const struct entry *e,
		    int (*changed)(void *ctx, const char *path, size_t len, bool dir), void *ctx,
		    struct treeidx_stats *st)
{
	struct index_rec r = rec_of(e), o;
	int rc = index_put(t->fresh, e->path, e->path_len, &r);

	if (rc < 0 || !t->old)
		return rc;
	if ((rc = index_lookup(t->old, e->path, e->path_len, &o)) < 0)
		return rc;
	if (rc == 1 && rec_same(&r, &o))
		return 0;
	st->changed++;
	return changed(ctx, e->path, e->path_len, e->type == ENT_DIR);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void walk_progress(struct treeidx *t, struct progress *p)
{
	uint64_t now = ms_now();
	char what[160];

	if (!progress_step(p, TICK_ENTRIES, now))
		return;
	progress_format(p, now, what, sizeof(what));
	log_info("mirror %s: start-up walk: %s", t->m->name, what);
}

int treeidx_walk(struct treeidx *t, int rootfd, const struct scan_opts *so,
		 int (*changed)(void *ctx, const char *path, size_t len, bool dir),
		 void (*tick)(void *ctx), void *ctx, struct treeidx_stats *ret_st)
{
	struct treeidx_stats st = { 0 };
	struct scan_opts o = *so;
	struct index_meta im = { 0 };
	struct progress prog;
	struct scan *s;
	struct entry e = { 0 };
	uint64_t t0 = ms_now();
	int rc;

	o.xattrs = false;        /* stat only */
	index_close(t->fresh);
	t->fresh = NULL;
	t->seq = 0;
	if ((rc = index_create(t->path, &t->fresh)) < 0)
		return rc;
	if (!(s = scan_new(rootfd, &o)))
		return -ENOMEM;
	if (t->old)
		(void)index_meta(t->old, &im);
	progress_start(&prog, im.rows, t0);
	while ((rc = scan_next(s, &e)) != SCAN_END) {
		if (rc == SCAN_ENTRY) {
			st.entries++;
			rc = walk_one(t, &e, changed, ctx, &st);
			if (st.entries % TICK_ENTRIES == 0) {
				if (tick)
					tick(ctx);
				walk_progress(t, &prog);
			}
		} else if (rc < 0) {
			log_warn("mirror %s: index walk: cannot read '%s': %s", t->m->name,
				 e.path ? e.path : "", strerror(-rc));
		}
		entry_clear(&e);
		if (rc < 0)
			break;
	}
	scan_free(s);
	if (rc == SCAN_END && t->old) {
		struct gone_ctx g = { .changed = changed, .ctx = ctx };
		rc = index_each_missing(t->old, t->fresh, on_gone, &g);
		free(g.last);
		st.gone = g.n;
	}
	index_close(t->old);
	t->old = NULL;
	st.ms = ms_now() - t0;
	*ret_st = st;
	if (rc < 0) {
		index_close(t->fresh);
		t->fresh = NULL;
		return rc;
	}
	return 0;
}

void treeidx_set_seq(struct treeidx *t, uint64_t seq)
{
	t->seq = seq;
}

bool treeidx_sink_ok(struct treeidx *t, uint64_t sink_id)
{
	bool ok = t->old_sink == 0 || t->old_sink == sink_id;

	t->old_sink = 0;         /* checked once, at the first session */
	return ok;
}

int treeidx_poll(struct treeidx *t, uint64_t journal_id, uint64_t acked, uint64_t pass_seq,
		 uint64_t sink_id)
{
	if (!t->fresh || t->seq == 0 || acked < t->seq || acked < pass_seq || sink_id == 0)
		return 0;
	struct index_meta im = { .journal_id = journal_id, .seq = t->seq, .sink_id = sink_id,
				 .conf_hash = t->conf_hash };
	int rc = index_finish(t->fresh, &im);
	index_close(t->fresh);
	t->fresh = NULL;
	return rc < 0 ? rc : 1;
}

void treeidx_forget(struct treeidx *t)
{
	/* the one being written stays: it is finished only after the pass */
	if (unlink(t->path) < 0 && errno != ENOENT)
		log_warn("mirror %s: cannot remove the index %s: %s", t->m->name, t->path,
			 strerror(errno));
}
