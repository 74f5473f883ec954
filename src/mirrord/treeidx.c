/* treeidx: the live source's tree index at start-up (see treeidx.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "entry.h"
#include "idxwalk.h"
#include "index.h"
#include "log.h"
#include "progress.h"
#include "treeidx.h"

#define TICK_ENTRIES 4096

struct treeidx {
	const struct conf_mirror *m;
	char *path;              /* <state dir>/index */
	uint64_t conf_hash;
	struct index *old;       /* trusted previous index, the walk's changes
				  * staged in it until poll applies them */
	uint64_t old_sink;       /* its sink id; 0: no trusted start */
	struct index *fresh;     /* written by a walk without old, finished by poll */
	uint64_t seq;            /* the walk holds once this is acked; 0: not yet */
	uint64_t journal_id;     /* a listing (treeidx_set_listing): its journal */
	uint64_t listed_from;    /* and its first record; 0: none */
	bool walking;
	bool dropped;            /* forgotten during the walk: old not updated */
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
	} else if (im.sink_id == 0 || (im.seq > acked_seq &&
					(im.listed_from == 0 || im.listed_from > acked_seq + 1))) {
		snprintf(why, why_len, "index ahead of the journal's acknowledgements");
	} else if (im.seq > acked_seq) {
		/* a listing interrupted: the directories whose records are not
		 * acked are listed again from the journal, the others compared */
		snprintf(why, why_len, "index of %llu paths of an interrupted listing, "
			 "resumed at journal record %llu of %llu-%llu",
			 (unsigned long long)im.rows, (unsigned long long)acked_seq + 1,
			 (unsigned long long)im.listed_from, (unsigned long long)im.seq);
		t->old_sink = im.sink_id;
		return true;
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

static bool rec_same(const struct index_rec *a, const struct index_rec *b)
{
	return a->type == b->type && a->mode == b->mode && a->uid == b->uid &&
	       a->gid == b->gid && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ino == b->ino;
}

/* CPU time of this thread (user and system), ms. */
static uint64_t cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The walk (idxwalk.h) merged with the old index's rows, both in path
 * order: a row before the walked path is gone, an equal one compared. */
struct merge {
	struct treeidx *t;
	int (*changed)(void *ctx, const char *path, size_t len, bool dir);
	void (*linked)(void *ctx, const char *path, size_t len, uint64_t dev, uint64_t ino);
	void (*tick)(void *ctx);
	void *ctx;
	bool list_dirs;
	struct treeidx_stats st;
	struct progress prog;
	int more;                /* 1: the old row below is valid */
	const char *op;
	size_t olen;
	struct index_rec orec;
	char *last;              /* last path reported gone */
	size_t last_len, last_cap;
};

static int path_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : al < bl ? -1 : al > bl;
}

static int next_old(struct merge *g)
{
	g->more = index_rows_next(g->t->old, &g->op, &g->olen, &g->orec);
	return g->more < 0 ? g->more : 0;
}

/* The old row is gone: staged for removal, and reported unless beneath
 * the last path reported (a removed directory's DELETE takes its
 * subtree). */
static int old_gone(struct merge *g)
{
	int rc = index_stage(g->t->old, g->op, g->olen, NULL, true);

	if (rc < 0)
		return rc;
	if (g->last_len > 0 && g->olen > g->last_len && g->op[g->last_len] == '/' &&
	    memcmp(g->op, g->last, g->last_len) == 0)
		return next_old(g);
	if (g->olen + 1 > g->last_cap) {
		char *p = realloc(g->last, g->olen + 1);
		if (!p)
			return -ENOMEM;
		g->last = p;
		g->last_cap = g->olen + 1;
	}
	memcpy(g->last, g->op, g->olen);
	g->last_len = g->olen;
	g->st.gone++;
	if ((rc = g->changed(g->ctx, g->op, g->olen, false)) < 0)
		return rc;
	return next_old(g);
}

static void walk_progress(struct merge *g)
{
	uint64_t now = ms_now();
	char what[160];

	if (g->tick)
		g->tick(g->ctx);
	if (!progress_step(&g->prog, TICK_ENTRIES, now))
		return;
	progress_format(&g->prog, now, what, sizeof(what));
	log_info("mirror %s: start-up walk: %s", g->t->m->name, what);
}

static int on_path(void *ctx, const char *path, size_t len, const struct index_rec *rec,
		   const struct idxwalk_info *info)
{
	struct merge *g = ctx;
	struct treeidx *t = g->t;
	int rc = 0, c = 1;

	if (++g->st.entries % TICK_ENTRIES == 0)
		walk_progress(g);
	if (rec->type == ENT_FILE && info->nlink > 1 && g->linked)
		g->linked(g->ctx, path, len, info->dev, rec->ino);
	if (t->fresh) {
		if ((rc = index_put(t->fresh, path, len, rec)) < 0 || !g->list_dirs ||
		    !info->enter)
			return rc;
		g->st.listed++;
		return g->changed(g->ctx, path, len, true);
	}
	while (g->more == 1 && (c = path_cmp(g->op, g->olen, path, len)) < 0)
		if ((rc = old_gone(g)) < 0)
			return rc;
	if (g->more == 1 && c == 0) {
		bool same = rec_same(rec, &g->orec);
		if ((rc = next_old(g)) < 0 || same)
			return rc;
	}
	g->st.changed++;
	if ((rc = index_stage(t->old, path, len, rec, c == 0)) < 0)
		return rc;
	return g->changed(g->ctx, path, len, rec->type == ENT_DIR);
}

/* Compare the walk with the trusted old index, the differences staged in
 * it for treeidx_poll. */
static int walk_merge(struct treeidx *t, int rootfd, const struct scan_opts *so,
		      struct merge *g)
{
	int rc = index_rows_begin(t->old);

	if (rc == 0)
		rc = next_old(g);
	if (rc == 0)
		rc = idxwalk(rootfd, so, on_path, g);
	while (rc == 0 && g->more == 1)
		rc = old_gone(g);
	if (rc == 0 && g->more < 0)
		rc = g->more;
	int rc2 = index_rows_end(t->old, rc == 0 && !t->dropped);
	return rc < 0 ? rc : rc2;
}

int treeidx_walk(struct treeidx *t, int rootfd, const struct scan_opts *so, bool list_dirs,
		 int (*changed)(void *ctx, const char *path, size_t len, bool dir),
		 void (*linked)(void *ctx, const char *path, size_t len, uint64_t dev,
				uint64_t ino),
		 void (*tick)(void *ctx), void *ctx, struct treeidx_stats *ret_st)
{
	struct merge g = { .t = t, .changed = changed, .linked = linked, .tick = tick,
			   .ctx = ctx, .list_dirs = list_dirs };
	struct index_meta im = { 0 };
	uint64_t t0 = ms_now(), c0 = cpu_ms();
	int rc;

	index_close(t->fresh);
	t->fresh = NULL;
	t->seq = 0;
	t->listed_from = 0;
	t->dropped = false;
	if (t->old)
		(void)index_meta(t->old, &im);
	else if ((rc = index_create(t->path, &t->fresh)) < 0)
		return rc;
	progress_start(&g.prog, im.rows, t0);
	t->walking = true;       /* tick may forget the index meanwhile */
	if (t->old)
		rc = walk_merge(t, rootfd, so, &g);
	else
		rc = idxwalk(rootfd, so, on_path, &g);
	t->walking = false;
	free(g.last);
	g.st.ms = ms_now() - t0;
	g.st.cpu_ms = cpu_ms() - c0;
	*ret_st = g.st;
	if (rc < 0 || t->dropped) {
		index_close(t->fresh);
		index_close(t->old);
		t->fresh = t->old = NULL;
	}
	return rc < 0 ? rc : 0;
}

void treeidx_set_seq(struct treeidx *t, uint64_t seq)
{
	t->seq = seq;
}

void treeidx_set_listing(struct treeidx *t, uint64_t journal_id, uint64_t from)
{
	t->journal_id = journal_id;
	t->listed_from = from;
}

int treeidx_save_listing(struct treeidx *t, uint64_t sink_id)
{
	if (!t->fresh || t->listed_from == 0 || t->seq == 0 || sink_id == 0)
		return 0;
	struct index_meta im = { .journal_id = t->journal_id, .seq = t->seq, .sink_id = sink_id,
				 .conf_hash = t->conf_hash, .listed_from = t->listed_from };
	int rc = index_finish(t->fresh, &im);

	index_close(t->fresh);
	t->fresh = NULL;
	t->listed_from = 0;
	/* completed in place by treeidx_poll (opened by its own name, which
	 * names its rollback journal) */
	if (rc == 0 && (rc = index_open(t->path, &t->old)) < 0)
		t->seq = 0;
	return rc < 0 ? rc : 1;
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
	if ((!t->fresh && !t->old) || t->seq == 0 || acked < t->seq || acked < pass_seq ||
	    sink_id == 0)
		return 0;
	struct index_meta im = { .journal_id = journal_id, .seq = t->seq, .sink_id = sink_id,
				 .conf_hash = t->conf_hash };
	bool anew = t->fresh != NULL;
	int rc = anew ? index_finish(t->fresh, &im) : index_apply(t->old, &im);
	index_close(t->fresh);
	index_close(t->old);
	t->fresh = t->old = NULL;
	return rc < 0 ? rc : anew ? 1 : 2;
}

bool treeidx_forget(struct treeidx *t)
{
	bool drop = t->old != NULL;

	/* a new one being written stays: it is finished only after the pass;
	 * the changes staged in the old one are dropped with it */
	if (drop && !t->walking) {
		index_close(t->old);
		t->old = NULL;
	}
	t->dropped = drop;       /* a walk in progress lets it go at its end */
	if (unlink(t->path) < 0 && errno != ENOENT)
		log_warn("mirror %s: cannot remove the index %s: %s", t->m->name, t->path,
			 strerror(errno));
	return drop;
}
