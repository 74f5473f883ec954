/* receiver: sink side of a transfer session. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "compress.h"
#include "delta.h"
#include "fsmeta.h"
#include "listing.h"
#include "log.h"
#include "path.h"
#include "proto.h"
#include "receiver.h"

/* Files at least this big on both sides travel as deltas. */
#define DELTA_MIN_SIZE 16384
#define COMMIT_EVERY 1024
#define COMMIT_EVERY_MAX 4096
#define COMMIT_MS_MAX 200      /* the deadline grows to at most this */
#define READ_STEP 262144

struct await {                  /* a file NEEDed, content not yet received */
	uint64_t id;
	uint8_t mode;
	struct entry e;
};

struct current {                /* the file whose content is arriving */
	uint64_t id;
	uint8_t mode;
	bool failed;            /* skip its data, report at FILE_END */
	int err;
	struct entry e;
	struct apply_file *f;
	struct apply_append *ap;    /* mode CUR_APPEND */
	struct delta_job *patch;
};

#define CUR_APPEND 2            /* cur.mode of an APPEND (after NEED_*) */

struct receiver {
	int rootfd;
	struct receiver_opts opts;
	struct wbuf *out;
	struct apply *apply;
	struct compress *zstd;
	uint8_t *buf;           /* decompression / patch output scratch */
	struct await *await;    /* FIFO ring of await_cap, grown up to
				 * RECEIVER_MAX_AWAIT as files are in flight */
	size_t await_head, await_n, await_cap;
	struct current cur;
	bool have_cur;
	uint64_t *done_ids;     /* files closed, DONE after the next commit */
	size_t done_n, done_cap;
	/* the batch the last commit put in place, acknowledged after the
	 * syncfs that makes it durable (see receiver_idle) */
	uint64_t *owed_ids;     /* its DONE ids */
	size_t owed_n, owed_cap;
	uint64_t owed_ack;      /* its ACK id */
	bool owed;
	uint64_t owed_since;    /* ms (monotonic) it was put in place */
	/* the batch on the commit thread (apply_commit_begin), owed once it
	 * is in place */
	bool pipeline;          /* commits may run beside the input */
	bool fly;
	uint64_t *fly_ids;      /* its DONE ids */
	size_t fly_n, fly_cap;
	uint64_t fly_ack;       /* its ACK id */
	struct entry *links;    /* hardlinks held until no content is in flight */
	size_t links_n, links_cap;
	size_t held_hl;         /* how many of them are hardlinks */
	size_t loose_end;       /* links[] before it may predate the current
				 * listing (see held_links_unlisted) */
	size_t list_hl;         /* hardlinks held since the names noted began */
	uint64_t last_id, acked_id;
	bool dirty;
	uint64_t dirty_since;   /* ms (monotonic) of the first uncommitted change */
	uint64_t commit_cost;   /* ms the last commit took */
	uint64_t listed_open;   /* ENTRY_LISTED directories without DIR_DONE yet */
	struct listing *ls;     /* children noted per directory, for DIR_DONE */
	struct receiver_stats stats;
};

#define SCRATCH (PROTO_CHUNK + 65536)
#define AWAIT_FIRST 64          /* the ring's first size; a power of 2 */
_Static_assert(RECEIVER_MAX_AWAIT % AWAIT_FIRST == 0, "the ring grows to its bound");

static int fly_end(struct receiver *r, bool wait);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct receiver *receiver_new(int rootfd, const struct receiver_opts *opts, struct wbuf *out)
{
	struct receiver *r = calloc(1, sizeof(*r));
	struct apply_opts ao = { .meta_flags = opts->meta_flags, .retain = opts->retain };

	if (!r)
		return NULL;
	r->rootfd = rootfd;
	r->opts = *opts;
	r->out = out;
	/* a hook may read the tree itself, behind apply's back */
	r->pipeline = !opts->before;
	r->apply = apply_new(rootfd, &ao);
	r->zstd = compress_new(1);
	r->buf = malloc(SCRATCH);
	r->await_cap = AWAIT_FIRST;
	r->await = calloc(r->await_cap, sizeof(*r->await));
	r->ls = listing_new();
	if (!r->apply || !r->zstd || !r->buf || !r->await || !r->ls) {
		receiver_free(r);
		return NULL;
	}
	return r;
}

static void current_clear(struct receiver *r)
{
	if (!r->have_cur)
		return;
	delta_job_free(r->cur.patch);
	apply_file_abort(r->cur.f);
	int rc = apply_append_abort(r->cur.ap);
	if (rc < 0)
		log_warn("mirror %s: cannot cut '%s' back after an unfinished append: %s; "
			 "the next append to it will be refused", r->opts.mirror, r->cur.e.path,
			 strerror(-rc));
	entry_clear(&r->cur.e);
	memset(&r->cur, 0, sizeof(r->cur));
	r->have_cur = false;
}

void receiver_free(struct receiver *r)
{
	if (!r)
		return;
	current_clear(r);
	for (size_t i = 0; r->await && i < r->await_n; i++)
		entry_clear(&r->await[(r->await_head + i) % r->await_cap].e);
	free(r->await);
	listing_free(r->ls);
	free(r->done_ids);
	free(r->owed_ids);
	free(r->fly_ids);
	for (size_t i = 0; i < r->links_n; i++)
		entry_clear(&r->links[i]);
	free(r->links);
	apply_free(r->apply);
	compress_free(r->zstd);
	free(r->buf);
	free(r);
}

/* A commit costs two syncfs whatever its size; when they get slow (a busy
 * disk) batches grow so that a stream spends at most a third of its time
 * committing: the deadline is twice the last commit's cost (at least
 * RECEIVER_COMMIT_MS, at most COMMIT_MS_MAX), the count scales with it. */
static uint64_t commit_deadline(const struct receiver *r)
{
	uint64_t ms = 2 * r->commit_cost;

	if (ms < RECEIVER_COMMIT_MS)
		return RECEIVER_COMMIT_MS;
	return ms > COMMIT_MS_MAX ? COMMIT_MS_MAX : ms;
}

static size_t commit_every(const struct receiver *r)
{
	size_t n = COMMIT_EVERY * (size_t)commit_deadline(r) / RECEIVER_COMMIT_MS;

	return n > COMMIT_EVERY_MAX ? COMMIT_EVERY_MAX : n;
}

int receiver_commit_wait(const struct receiver *r)
{
	if (r->fly && apply_commit_ready(r->apply))
		return 0;               /* collect it: its replies are owed */
	if (!r->dirty && r->fly)
		return 1;               /* then wait for it (receiver_idle) */
	if (!r->dirty && r->owed) {
		uint64_t age = now_ms() - r->owed_since;
		return age >= RECEIVER_COMMIT_MS ? 0 : (int)(RECEIVER_COMMIT_MS - age);
	}
	if (!r->dirty)
		return -1;
	if (apply_pending(r->apply) >= commit_every(r))
		return 0;
	uint64_t age = now_ms() - r->dirty_since, due = commit_deadline(r);
	return age >= due ? 0 : (int)(due - age);
}

bool receiver_awaiting(const struct receiver *r)
{
	return r->await_n > 0 || r->have_cur;
}

const struct receiver_stats *receiver_stats(const struct receiver *r)
{
	return &r->stats;
}

static void op_error(struct receiver *r, const char *what, const char *path, int err)
{
	r->stats.errors++;
	log_err("mirror %s: %s '%s': %s", r->opts.mirror, what, path, strerror(-err));
	if (r->opts.report)     /* the source sends it again (file content: DONE) */
		proto_put_failed(r->out, err, path, strlen(path));
}

/* Ask opts.before about a change; true when it may go ahead. */
static bool change_ok(struct receiver *r, const char *path, size_t len,
		      enum receiver_change what, const struct entry *want)
{
	if (!r->opts.before || r->opts.before(r->opts.ctx, path, len, what, want) == 0)
		return true;
	r->stats.skipped++;
	return false;
}

/* Type of what is at path now (ENT_NONE when absent or unreadable). */
static int have_type(struct receiver *r, const char *path, size_t len)
{
	struct entry have = { 0 };
	int type = apply_lookup(r->apply, path, len, &have) == 0 ? have.type : ENT_NONE;

	entry_clear(&have);
	return type;
}

/* For a change to an entry of type want_type at path: CREATE, REPLACE, or
 * 0 when an entry of that type is already there. */
static enum receiver_change change_kind(struct receiver *r, const char *path, size_t len,
					int want_type)
{
	int type = have_type(r, path, len);

	return type == ENT_NONE ? RECEIVER_CREATE : type == want_type ? 0 : RECEIVER_REPLACE;
}

/* For a directory entry: CREATE, REPLACE, META (its metadata differs), or 0. */
static enum receiver_change dir_change(struct receiver *r, const struct entry *e)
{
	struct entry have = { 0 };
	enum receiver_change what = RECEIVER_CREATE;

	if (apply_lookup(r->apply, e->path, e->path_len, &have) == 0 && have.type != ENT_NONE)
		what = have.type != ENT_DIR ? RECEIVER_REPLACE :
		       fsmeta_equal(&have, e, r->opts.meta_flags) ? 0 : RECEIVER_META;
	entry_clear(&have);
	return what;
}

/* ---- directory children, for pruning at DIR_DONE ---- */

/* The names noted end without their directory's DIR_DONE (operations of
 * the journal, not a listing): the links held meanwhile, and any before
 * them, are looked at by the listings to come (held_links_unlisted). */
static void names_abandon(struct receiver *r)
{
	if (r->list_hl > 0)
		r->loose_end = r->links_n;
	r->list_hl = 0;
}

struct prune_ctx {
	struct receiver *r;
	const char *dir;
	size_t dlen;
	struct listing_names names;
};

static bool prune_keep(void *ctx, const char *name, size_t nlen, bool is_dir)
{
	struct prune_ctx *pc = ctx;

	if (listing_names_has(&pc->names, name, nlen))
		return true;
	if (!pc->r->opts.ex && !pc->r->opts.before)
		return false;
	size_t plen;
	char *p = path_join(pc->dir, pc->dlen, name, nlen, &plen);
	bool keep = !p || (pc->r->opts.ex && exclude_match(pc->r->opts.ex, p, plen, is_dir));
	if (p && !keep)
		keep = !change_ok(pc->r, p, plen, RECEIVER_DELETE, NULL);
	free(p);
	return keep;
}

static void held_recount(struct receiver *r)
{
	if (r->loose_end > r->links_n)
		r->loose_end = r->links_n;     /* more to check, never less */
	r->held_hl = 0;
	for (size_t i = 0; i < r->links_n; i++)
		r->held_hl += r->links[i].type == ENT_HARDLINK;
}

/* Close the gaps entry_clear() left in links[] (ENT_NONE), in order. */
static void held_compact(struct receiver *r)
{
	size_t kept = 0, end = 0;

	for (size_t i = 0; i < r->links_n; i++) {
		if (r->links[i].type == ENT_NONE)
			continue;
		r->links[kept++] = r->links[i];
		if (i < r->loose_end)
			end = kept;
	}
	r->links_n = kept;
	r->loose_end = end;
	held_recount(r);
}

/* path lies beneath dir and its name in dir is not among the listed ones
 * (have_names false: dir was listed empty). */
static bool unlisted_under(const struct listing_names *ns, bool have_names, const char *path,
			   size_t plen, const char *dir, size_t dlen)
{
	if (plen <= dlen || memcmp(path, dir, dlen) != 0 || (dlen > 0 && path[dlen] != '/'))
		return false;
	const char *name = path + dlen + (dlen > 0);
	const char *slash = memchr(name, '/', plen - (size_t)(name - path));
	size_t nlen = slash ? (size_t)(slash - name) : plen - (size_t)(name - path);

	return !have_names || !listing_names_has(ns, name, nlen);
}

/* A listing names every child its directory has on the source now, so a
 * hardlink held beneath dir under a name the listing lacks was removed
 * after it was sent (a pass superseded the removal).  Made later, it would
 * stay for good: the listing's pruning cannot remove a name that does not
 * exist yet.  Links held since the listing began are named by it: only
 * those before loose_end, held earlier, are looked at. */
static void held_links_unlisted(struct receiver *r, const char *dir, size_t len,
				const struct listing_names *ns, bool have_names)
{
	size_t dropped = 0;

	for (size_t i = 0; r->held_hl > 0 && i < r->loose_end; i++) {
		struct entry *e = &r->links[i];
		if (e->type == ENT_HARDLINK &&
		    unlisted_under(ns, have_names, e->path, e->path_len, dir, len)) {
			if (dropped++ == 0)
				log_info("mirror %s: held hardlink '%s' dropped: the listing of "
					 "'%.*s' does not name it", r->opts.mirror, e->path,
					 (int)len, dir);
			entry_clear(e);
		}
	}
	if (dropped > 1)
		log_info("mirror %s: %zu held hardlinks beneath '%.*s' dropped in all",
			 r->opts.mirror, dropped, (int)len, dir);
	if (dropped > 0)
		held_compact(r);
}

static int on_dir_done(struct receiver *r, const char *dir, size_t len)
{
	struct prune_ctx pc = { r, dir, len, { 0 } };
	enum listing_end end = listing_done(r->ls, dir, len, &pc.names);
	int rc;

	if (end == LISTING_LOST) {
		/* names of it gave way to those of other directories
		 * (listing.h): pruning with what is left could delete
		 * children the source has; the source lists it again */
		op_error(r, "listing interrupted, not pruned", dir, -EAGAIN);
		names_abandon(r);
		return 0;
	}
	rc = apply_prune(r->apply, dir, len, prune_keep, &pc);
	if (rc < 0 && rc != -ENOENT)
		op_error(r, "cannot prune", dir, rc);
	held_links_unlisted(r, dir, len, &pc.names, end == LISTING_NAMES);
	r->list_hl = 0;
	listing_names_free(&pc.names);
	return 0;
}

/* ---- ENTRY ---- */

static bool content_same(const struct entry *have, const struct entry *want)
{
	return have->type == ENT_FILE && have->size == want->size &&
	       have->mtime_sec == want->mtime_sec && have->mtime_nsec == want->mtime_nsec;
}

/* The ring is full: twice its size, in order from its head. */
static int await_grow(struct receiver *r)
{
	size_t cap = r->await_cap * 2;
	struct await *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->await_n; i++)
		v[i] = r->await[(r->await_head + i) % r->await_cap];
	free(r->await);
	r->await = v;
	r->await_cap = cap;
	r->await_head = 0;
	return 0;
}

static int await_push(struct receiver *r, uint64_t id, uint8_t mode, struct entry *e)
{
	if (r->await_n == RECEIVER_MAX_AWAIT)
		return -EPROTO;
	if (r->await_n == r->await_cap) {
		int rc = await_grow(r);
		if (rc < 0)
			return rc;
	}
	struct await *a = &r->await[(r->await_head + r->await_n) % r->await_cap];
	a->id = id;
	a->mode = mode;
	a->e = *e;              /* takes ownership */
	memset(e, 0, sizeof(*e));
	r->await_n++;
	return 0;
}

/* Stream the signature of the current file at e->path as SIG frames. */
static int send_signature(struct receiver *r, uint64_t id, int fd, uint64_t size)
{
	struct delta_job *job = delta_sig_new(size);
	uint8_t *in = NULL;
	int rc = job ? 0 : -ENOMEM;
	bool eof = false;
	size_t in_len = 0, in_off = 0;

	if (rc == 0 && !(in = malloc(READ_STEP)))
		rc = -ENOMEM;
	while (rc == 0) {
		if (in_off == in_len && !eof) {
			ssize_t n = read(fd, in, READ_STEP);
			if (n < 0) {
				rc = errno == EINTR ? 0 : -errno;
				continue;
			}
			in_len = (size_t)n;
			in_off = 0;
			eof = n == 0;
		}
		size_t used, produced;
		rc = delta_step(job, in + in_off, in_len - in_off, eof, r->buf,
				PROTO_CHUNK, &used, &produced);
		in_off += used;
		if (produced > 0)
			proto_put_chunk(r->out, MSG_SIG, 0, id, r->buf, produced);
		if (rc == 1)
			break;
	}
	delta_job_free(job);
	free(in);
	if (rc < 0)
		return rc;
	proto_put_id(r->out, MSG_SIG_END, id);
	return 0;
}

/* Decide whole or delta, and ask for the content. */
static int need_content(struct receiver *r, uint64_t id, struct entry *want,
			const struct entry *have)
{
	uint8_t mode = NEED_WHOLE;
	int fd = -1;

	if (have->type == ENT_FILE && have->size >= DELTA_MIN_SIZE &&
	    want->size >= DELTA_MIN_SIZE) {
		const char *name;
		int dfd = path_open_parent(r->rootfd, want->path, want->path_len, &name);
		if (dfd >= 0) {
			fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			close(dfd);
		}
		if (fd >= 0)
			mode = NEED_DELTA;
	}
	int rc = await_push(r, id, mode, want);
	if (rc == 0) {
		proto_put_need(r->out, id, mode);
		if (mode == NEED_DELTA)
			rc = send_signature(r, id, fd, have->size);
	}
	if (fd >= 0)
		close(fd);
	return rc;       /* a failed signature ends the session */
}

/* Is content for path still to arrive?  Within a listing (a pass over the
 * tree) every name comes once: not asked. */
static bool awaited(const struct receiver *r, const char *path, size_t len)
{
	for (size_t i = 0; r->listed_open == 0 && i < r->await_n; i++) {
		const struct entry *a = &r->await[(r->await_head + i) % r->await_cap].e;
		if (a->path_len == len && memcmp(a->path, path, len) == 0)
			return true;
	}
	return false;
}

static int on_file_entry(struct receiver *r, uint64_t id, struct entry *e, bool force)
{
	struct entry have = { 0 };
	int rc = apply_lookup(r->apply, e->path, e->path_len, &have);

	if (rc < 0 && rc != -ENOENT) {
		op_error(r, "cannot look up", e->path, rc);
		have.type = ENT_NONE;
	}
	/* content still on its way would land after metadata set now, with
	 * its own older metadata: this entry's content must follow it */
	if (!force && content_same(&have, e) && !awaited(r, e->path, e->path_len)) {
		rc = 0;
		if (!fsmeta_equal(&have, e, r->opts.meta_flags) &&
		    change_ok(r, e->path, e->path_len, RECEIVER_META, e))
			rc = apply_entry(r->apply, e);
		if (rc != -EMLINK) {
			/* -EMLINK: other names, maybe outside; new content below */
			if (rc < 0)
				op_error(r, "cannot set metadata of", e->path, rc);
			entry_clear(&have);
			return 0;
		}
	}
	if (!change_ok(r, e->path, e->path_len,
		       have.type == ENT_NONE ? RECEIVER_CREATE : RECEIVER_CONTENT, e)) {
		entry_clear(&have);
		return 0;
	}
	rc = need_content(r, id, e, &have);
	entry_clear(&have);
	return rc;
}

/* Held until no content is in flight (see held_apply): hardlinks, whose
 * target may still be waiting for its content, and directories, whose mtime
 * every later change inside them would disturb.  Takes e. */
static int hold(struct receiver *r, struct entry *e)
{
	if (r->links_n == r->links_cap) {
		size_t cap = r->links_cap ? r->links_cap * 2 : 64;
		if (cap > RECEIVER_MAX_HELD)
			return -ENOBUFS;
		struct entry *v = realloc(r->links, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->links = v;
		r->links_cap = cap;
	}
	r->held_hl += e->type == ENT_HARDLINK;
	r->links[r->links_n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

static int link_apply(struct receiver *r, const struct entry *e)
{
	struct entry target = { 0 };
	int rc = apply_lookup(r->apply, e->link, e->link_len, &target);

	if (rc == 0 && target.type != ENT_FILE)
		rc = -ENOENT;
	if (r->opts.before) {
		struct entry have = { 0 };
		bool same = apply_lookup(r->apply, e->path, e->path_len, &have) == 0 &&
			    rc == 0 && have.type == ENT_FILE && have.dev == target.dev &&
			    have.ino == target.ino;
		if (!same && !change_ok(r, e->path, e->path_len, have.type == ENT_NONE ?
					RECEIVER_CREATE : RECEIVER_REPLACE, e))
			rc = 1;
		entry_clear(&have);
	}
	if (rc == 0)
		rc = apply_entry(r->apply, e);
	entry_clear(&target);
	return rc;
}

static void held_apply(struct receiver *r)
{
	for (size_t i = 0; i < r->links_n; i++) {
		struct entry *e = &r->links[i];
		int rc = e->type == ENT_HARDLINK ? link_apply(r, e) : apply_entry(r->apply, e);
		if (rc > 0)
			rc = 0;        /* refused by opts.before */
		else if (rc < 0 && rc != -ENOENT)
			op_error(r, "cannot apply", e->path, rc);
		else if (rc < 0 && e->type == ENT_HARDLINK)
			op_error(r, "cannot create hardlink", e->path, rc);
		entry_clear(e);
	}
	r->links_n = 0;
	r->held_hl = 0;
	r->loose_end = 0;
}

/* True when the sink already has exactly this symlink or special file, so
 * that replacing it (and touching its directory) can be skipped. */
static bool entry_current(struct receiver *r, const struct entry *e)
{
	struct entry have = { 0 };
	bool same = apply_lookup(r->apply, e->path, e->path_len, &have) == 0 &&
		    have.type == e->type && fsmeta_equal(&have, e, r->opts.meta_flags);

	if (same && e->type == ENT_SYMLINK)
		same = have.link_len == e->link_len && memcmp(have.link, e->link, e->link_len) == 0;
	if (same && (e->type == ENT_CHR || e->type == ENT_BLK))
		same = have.rdev == e->rdev;
	entry_clear(&have);
	return same;
}

static void mark_dirty(struct receiver *r)
{
	if (!r->dirty)
		r->dirty_since = now_ms();
	r->dirty = true;
}

/* A later entry at a held hardlink's name replaces it: applying the link
 * afterwards would undo that entry.  Within a LISTED pass every name comes
 * once, and the held list may be long: only links held before the pass
 * (before loose_end) are looked at. */
static void held_links_forget(struct receiver *r, const char *path, size_t len)
{
	size_t dropped = 0;
	size_t upto = r->listed_open > 0 ? r->loose_end : r->links_n;

	for (size_t i = 0; r->held_hl > 0 && i < upto; i++) {
		struct entry *e = &r->links[i];
		if (e->type == ENT_HARDLINK && e->path_len == len && memcmp(e->path, path, len) == 0) {
			entry_clear(e);
			dropped++;
		}
	}
	if (dropped > 0)
		held_compact(r);
}

static int on_entry(struct receiver *r, uint8_t flags, const uint8_t *p, size_t n)
{
	struct entry e;
	uint64_t id;
	int rc = proto_get_entry(p, n, &id, &e);

	if (rc < 0)
		return rc;
	r->last_id = id;
	mark_dirty(r);
	r->stats.entries++;
	/* a pass starts at this directory (a live pass, not LISTED, at the
	 * root: names noted before are not the root's listing) */
	bool pass_root = e.type == ENT_DIR && r->listed_open == 0 &&
			 ((flags & ENTRY_LISTED) || e.path_len == 0);
	/* names are kept per directory (listing.h): only a one-shot pass
	 * forgets them all; an entry of a directory starts its listing anew */
	if (pass_root && (flags & ENTRY_LISTED))
		listing_reset(r->ls);
	if (e.type == ENT_DIR)
		listing_dir_entry(r->ls, e.path, e.path_len);
	if (pass_root || (e.path_len > 0 &&
			  !listing_current(r->ls, e.path, path_dirlen(e.path, e.path_len))))
		names_abandon(r);
	if (!pass_root && e.path_len > 0 && (rc = listing_note(r->ls, e.path, e.path_len)) < 0)
		goto out;
	held_links_forget(r, e.path, e.path_len);
	if (e.type == ENT_FILE) {
		rc = on_file_entry(r, id, &e, flags & ENTRY_FORCE);
	} else if (e.type == ENT_HARDLINK) {
		if ((rc = hold(r, &e)) < 0)
			op_error(r, "cannot queue hardlink", e.path, rc);
		else
			r->list_hl++;
		rc = 0;
	} else if (e.type == ENT_DIR) {
		enum receiver_change what = r->opts.before ? dir_change(r, &e) : 0;
		r->listed_open += (flags & ENTRY_LISTED) != 0;
		if (what && !change_ok(r, e.path, e.path_len, what, &e))
			rc = 0;
		else if ((rc = apply_entry(r->apply, &e)) < 0)
			op_error(r, "cannot apply", e.path, rc);
		else if (hold(r, &e) < 0)
			log_debug("mirror %s: directory metadata of '%s' set early",
				  r->opts.mirror, e.path);
		rc = 0;
	} else if (!entry_current(r, &e) &&
		   (!r->opts.before || change_ok(r, e.path, e.path_len,
			change_kind(r, e.path, e.path_len, -1), &e)) &&
		   (rc = apply_entry(r->apply, &e)) < 0) {
		op_error(r, "cannot apply", e.path, rc);
		rc = 0;
	}
out:
	entry_clear(&e);
	return rc;
}

/* ---- content ---- */

static int current_open(struct receiver *r, uint64_t id)
{
	struct await *a = &r->await[r->await_head];
	int rc;

	if (r->await_n == 0 || a->id != id)
		return -EPROTO;        /* content must come in NEED order */
	r->cur.id = id;
	r->cur.mode = a->mode;
	r->cur.e = a->e;
	memset(&a->e, 0, sizeof(a->e));
	r->await_head = (r->await_head + 1) % r->await_cap;
	r->await_n--;
	r->have_cur = true;
	rc = apply_file_open(r->apply, &r->cur.e, &r->cur.f);
	if (rc == 0 && r->cur.mode == NEED_DELTA) {
		int basis = apply_file_basis(r->cur.f);
		r->cur.patch = basis >= 0 ? delta_patch_new(basis) : NULL;
		rc = basis < 0 ? basis : r->cur.patch ? 0 : -ENOMEM;
	}
	if (rc < 0) {
		r->cur.failed = true;
		r->cur.err = rc;
	}
	return 0;
}

static int patch_feed(struct receiver *r, const uint8_t *p, size_t n, bool eof)
{
	uint8_t *out = r->buf + PROTO_CHUNK;
	size_t out_cap = SCRATCH - PROTO_CHUNK;

	for (;;) {
		size_t used, produced;
		int rc = delta_step(r->cur.patch, p, n, eof, out, out_cap, &used, &produced);
		if (rc < 0)
			return rc;
		p += used;
		n -= used;
		if (produced > 0 && (rc = apply_file_write(r->cur.f, out, produced)) < 0)
			return rc;
		if (rc == 1 || (n == 0 && produced == 0 && !eof))
			return 0;
		if (eof && n == 0 && produced == 0 && used == 0)
			return -EBADMSG;     /* delta ended early */
	}
}

static int content_write(struct receiver *r, const uint8_t *p, size_t n)
{
	r->stats.bytes_written += n;
	if (r->cur.mode == CUR_APPEND)
		return apply_append_write(r->cur.ap, p, n);
	if (r->cur.mode == NEED_DELTA)
		return patch_feed(r, p, n, false);
	return apply_file_write(r->cur.f, p, n);
}

static int on_data(struct receiver *r, const struct wire_hdr *h, const uint8_t *p, size_t n)
{
	const uint8_t *data;
	size_t len;
	uint64_t id;
	int rc = proto_get_chunk(p, n, &id, &data, &len);

	if (rc < 0)
		return rc;
	if (!r->have_cur && (rc = current_open(r, id)) < 0)
		return rc;
	if (r->cur.id != id)
		return -EPROTO;
	if (r->cur.failed)
		return 0;
	if (h->flags & DATA_ZSTD) {
		long m = compress_expand(r->zstd, data, len, r->buf, PROTO_CHUNK);
		if (m < 0) {
			r->cur.failed = true;
			r->cur.err = (int)m;
			return 0;
		}
		data = r->buf;
		len = (size_t)m;
	}
	if ((rc = content_write(r, data, len)) < 0) {
		r->cur.failed = true;
		r->cur.err = rc;
	}
	return 0;
}

static int done_push(struct receiver *r, uint64_t id)
{
	if (r->done_n == r->done_cap) {
		size_t cap = r->done_cap ? r->done_cap * 2 : 256;
		uint64_t *v = realloc(r->done_ids, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->done_ids = v;
		r->done_cap = cap;
	}
	r->done_ids[r->done_n++] = id;
	return 0;
}

static int append_finish(struct receiver *r, const struct proto_file_end *m)
{
	int rc = r->cur.failed ? r->cur.err : 0;

	if (rc == 0) {
		rc = apply_append_close(r->apply, r->cur.ap, m->digest);
		r->cur.ap = NULL;
	}
	if (rc < 0)
		return rc;
	r->stats.appends++;
	return done_push(r, r->cur.id);
}

static int file_finish(struct receiver *r, const struct proto_file_end *m)
{
	int rc = r->cur.failed ? r->cur.err : 0;

	if (r->cur.mode == CUR_APPEND)
		return append_finish(r, m);

	if (rc == 0 && r->cur.mode == NEED_DELTA)
		rc = patch_feed(r, NULL, 0, true);
	if (rc == 0) {
		rc = apply_file_close(r->cur.f, m->digest);
		r->cur.f = NULL;
	}
	if (rc < 0)
		return rc;
	r->stats.files++;
	r->stats.deltas += r->cur.mode == NEED_DELTA;
	return done_push(r, r->cur.id);
}

static int on_file_end(struct receiver *r, const uint8_t *p, size_t n)
{
	struct proto_file_end m;
	int rc = proto_get_file_end(p, n, &m);

	if (rc < 0)
		return rc;
	if (!r->have_cur && (rc = current_open(r, m.id)) < 0)
		return rc;
	if (r->cur.id != m.id)
		return -EPROTO;
	if (m.status == FILE_ABORTED) {
		proto_put_done(r->out, m.id, -EAGAIN);
	} else if (r->cur.mode == CUR_APPEND && r->cur.failed && r->cur.err == -ESTALE) {
		/* our copy differs: the source sends the file the normal way */
		log_debug("mirror %s: '%s' does not end where the append starts",
			  r->opts.mirror, r->cur.e.path);
		proto_put_done(r->out, m.id, -ESTALE);
	} else if ((rc = file_finish(r, &m)) < 0) {
		r->stats.errors++;      /* reported by DONE */
		log_err("mirror %s: cannot write '%s': %s", r->opts.mirror, r->cur.e.path,
			strerror(-rc));
		proto_put_done(r->out, m.id, rc);
	}
	mark_dirty(r);
	current_clear(r);
	if (apply_pending(r->apply) >= commit_every(r))
		return receiver_idle(r);
	return fly_end(r, false);       /* replies of a batch just in place */
}

/* APPEND: the content follows at once (DATA, FILE_END), never interleaved;
 * a copy that does not end as the source says is reported at FILE_END. */
static int on_append(struct receiver *r, const uint8_t *p, size_t n)
{
	struct proto_append m;
	int rc = proto_get_append(p, n, &m);

	if (rc < 0)
		return rc;
	r->last_id = m.id;
	mark_dirty(r);
	r->have_cur = true;
	r->cur.id = m.id;
	r->cur.mode = CUR_APPEND;
	r->cur.e.path = m.path;        /* owned by cur.e from here */
	r->cur.e.path_len = m.path_len;
	if (r->opts.before)
		rc = -ENOTSUP;         /* the hook wants a whole entry: no fast path */
	else
		rc = apply_append_open(r->apply, m.path, m.path_len, m.base, m.length,
				       m.tail_len, m.tail, &r->cur.ap);
	if (rc < 0) {
		r->cur.failed = true;
		r->cur.err = rc == -ENOENT || rc == -ENOTSUP ? -ESTALE : rc;
	}
	return 0;
}

/* ---- namespace operations ---- */

/* True when p is dir itself or lies beneath it. */
static bool path_under(const char *p, size_t plen, const char *dir, size_t dlen)
{
	return plen >= dlen && memcmp(p, dir, dlen) == 0 && (plen == dlen || p[dlen] == '/');
}

/* A deleted path takes its held directories and hardlinks with it: applying
 * them later would bring back what was deleted. */
static void held_forget(struct receiver *r, const char *path, size_t len)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->links_n; i++) {
		struct entry *e = &r->links[i];
		bool gone = path_under(e->path, e->path_len, path, len) ||
			    (e->type == ENT_HARDLINK && path_under(e->link, e->link_len, path, len));
		if (gone)
			entry_clear(e);
		else
			r->links[kept++] = *e;
	}
	r->links_n = kept;
	held_recount(r);
}

/* Held hardlinks to something about to be removed or replaced are made
 * now, while their target still is the file they name (its content, when
 * it already arrived, is committed first). */
static void held_links_settle(struct receiver *r, const char *path, size_t len)
{
	size_t kept = 0;
	bool committed = false;

	if (r->held_hl == 0)
		return;
	for (size_t i = 0; i < r->links_n; i++) {
		struct entry *e = &r->links[i];
		if (e->type != ENT_HARDLINK || !path_under(e->link, e->link_len, path, len)) {
			r->links[kept++] = *e;
			continue;
		}
		int rc = committed ? 0 : apply_commit(r->apply);
		committed = true;
		if (rc == 0)
			rc = link_apply(r, e);
		if (rc < 0)
			op_error(r, "cannot create hardlink", e->path, rc);
		entry_clear(e);
	}
	r->links_n = kept;
	held_recount(r);
}

/* from/rest -> to/rest in *p; 0, or -ENOMEM (left as it was). */
static int move_path(char **p, size_t *len, const char *from, size_t flen,
		     const char *to, size_t tlen)
{
	size_t nlen = tlen + *len - flen;
	char *np = malloc(nlen + 1);

	if (!np)
		return -ENOMEM;
	memcpy(np, to, tlen);
	memcpy(np + tlen, *p + flen, *len - flen);
	np[nlen] = '\0';
	free(*p);
	*p = np;
	*len = nlen;
	return 0;
}

/* Held entries beneath a renamed directory follow it, and so do the
 * targets of held hardlinks. */
static int held_move(struct receiver *r, const char *from, size_t flen, const char *to, size_t tlen)
{
	for (size_t i = 0; i < r->links_n; i++) {
		struct entry *e = &r->links[i];
		if (path_under(e->path, e->path_len, from, flen) &&
		    move_path(&e->path, &e->path_len, from, flen, to, tlen) < 0)
			return -ENOMEM;
		if (e->type == ENT_HARDLINK && path_under(e->link, e->link_len, from, flen) &&
		    move_path(&e->link, &e->link_len, from, flen, to, tlen) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int on_delete(struct receiver *r, const uint8_t *p, size_t n)
{
	char *path;
	size_t len;
	uint64_t id;
	int rc = proto_get_path(p, n, &id, &path, &len);

	if (rc < 0)
		return rc;
	r->last_id = id;
	mark_dirty(r);
	if (r->opts.before && have_type(r, path, len) != ENT_NONE &&
	    !change_ok(r, path, len, RECEIVER_DELETE, NULL)) {
		free(path);
		return 0;
	}
	held_links_settle(r, path, len);
	if ((rc = apply_delete(r->apply, path, len)) < 0)
		op_error(r, "cannot delete", path, rc);
	else {
		held_forget(r, path, len);
		r->stats.deletes++;
	}
	free(path);
	return 0;
}

static int on_rename(struct receiver *r, const uint8_t *p, size_t n)
{
	char *from, *to;
	size_t flen, tlen;
	uint64_t id;
	int rc = proto_get_rename(p, n, &id, &from, &flen, &to, &tlen);

	if (rc < 0)
		return rc;
	r->last_id = id;
	mark_dirty(r);
	if (r->opts.before && have_type(r, to, tlen) != ENT_NONE &&
	    !change_ok(r, to, tlen, RECEIVER_RENAME_OVER, NULL))
		goto out;
	held_links_settle(r, to, tlen);
	if ((rc = apply_rename(r->apply, from, flen, to, tlen)) < 0) {
		op_error(r, "cannot rename", from, rc);
		if (r->opts.report)     /* and the name it should have now */
			proto_put_failed(r->out, rc, to, tlen);
	} else {
		r->stats.renames++;
	}
	/* held entries follow the name even when it was not here yet (a
	 * hardlink still held): applied at from, they would bring it back */
	if (rc == 0 || rc == -ENOENT) {
		held_forget(r, to, tlen);
		if (held_move(r, from, flen, to, tlen) < 0)
			held_forget(r, from, flen);   /* no memory: metadata comes again */
	}
out:
	free(from);
	free(to);
	return 0;
}

static int on_dir_done_frame(struct receiver *r, const uint8_t *p, size_t n)
{
	char *path;
	size_t len;
	uint64_t id;
	int rc = proto_get_path(p, n, &id, &path, &len);

	if (rc < 0)
		return rc;
	r->last_id = id;
	mark_dirty(r);
	if (r->listed_open > 0)
		r->listed_open--;
	rc = on_dir_done(r, path, len);
	free(path);
	return rc;
}

static int on_end(struct receiver *r, const uint8_t *p, size_t n)
{
	uint64_t id;
	int rc = proto_get_id(p, n, &id);

	if (rc < 0)
		return rc;
	if (r->have_cur || r->await_n > 0)
		return -EPROTO;        /* END before all content arrived */
	r->last_id = id;
	mark_dirty(r);
	/* the commit, the batch it may leave on the thread, the syncfs it
	 * leaves owed: then all is acknowledged */
	for (int i = 0; i < 3 && (r->dirty || r->fly || r->owed); i++)
		if ((rc = receiver_idle(r)) < 0)
			return rc;
	struct proto_end_ok m = { .id = id, .files = r->stats.files,
				  .bytes = r->stats.bytes_written,
				  .entries = r->stats.entries, .deletes = r->stats.deletes,
				  .errors = r->stats.errors };
	proto_put_end_ok(r->out, &m);
	r->stats.ends++;
	return 1;
}

/* DONE for ids, ACK for every operation up to id: all durable now. */
static void ack_out(struct receiver *r, const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		proto_put_done(r->out, ids[i], 0);
	if (id != r->acked_id)
		proto_put_id(r->out, MSG_ACK, id);
	r->acked_id = id;
}

static void owed_out(struct receiver *r)
{
	ack_out(r, r->owed_ids, r->owed_n, r->owed_ack);
	r->owed_n = 0;
	r->owed = false;
}

/* Move the ids of *from to the empty *to, swapping the arrays. */
static void ids_move(uint64_t **to, size_t *to_n, size_t *to_cap,
		     uint64_t **from, size_t *from_n, size_t *from_cap)
{
	uint64_t *v = *to;
	size_t cap = *to_cap;

	*to = *from;
	*to_cap = *from_cap;
	*to_n = *from_n;
	*from = v;
	*from_cap = cap;
	*from_n = 0;
}

/* The batch the commit just put in place waits for the next syncfs. */
static void owe(struct receiver *r)
{
	ids_move(&r->owed_ids, &r->owed_n, &r->owed_cap, &r->done_ids, &r->done_n, &r->done_cap);
	r->owed_ack = r->last_id;
	r->owed = true;
	r->owed_since = now_ms();
}

/* The batch on the commit thread is in place (with wait: once it is).
 * The thread's syncfs came after everything put in place before: the
 * batch owed until then is durable, and this one is owed in its turn. */
static int fly_end(struct receiver *r, bool wait)
{
	int rc;

	if (!r->fly || (!wait && !apply_commit_ready(r->apply)))
		return 0;
	r->fly = false;
	if ((rc = apply_commit_end(r->apply)) < 0) {
		log_err("mirror %s: commit failed: %s", r->opts.mirror, strerror(-rc));
		return rc;
	}
	if (r->owed)
		owed_out(r);
	if (!apply_unsynced(r->apply)) {        /* it put nothing in place */
		ack_out(r, r->fly_ids, r->fly_n, r->fly_ack);
		r->fly_n = 0;
		return r->out->err;
	}
	ids_move(&r->owed_ids, &r->owed_n, &r->owed_cap, &r->fly_ids, &r->fly_n, &r->fly_cap);
	r->owed_ack = r->fly_ack;
	r->owed = true;
	r->owed_since = now_ms();
	return r->out->err;
}

/* The batch went to the commit thread: its DONE and ACK wait for it.  The
 * commit's cost, which sizes the batches, is the time the input stood
 * still: the wait for the batch before it, not the time beside it. */
static void fly_begin(struct receiver *r, uint64_t t0)
{
	ids_move(&r->fly_ids, &r->fly_n, &r->fly_cap, &r->done_ids, &r->done_n, &r->done_cap);
	r->fly_ack = r->last_id;
	r->fly = true;
	r->commit_cost = now_ms() - t0;
	r->dirty = false;
}

/* A commit is apply_commit_visible(): syncfs, then everything pending is
 * put in place; the syncfs that makes that durable is left to the next
 * commit, whose first syncfs serves both batches, or to a quiet moment
 * (receiver_commit_wait).  Only then are the batch's DONE and ACK sent.
 * In a stream of batches this halves the syncfs calls, during which the
 * sink reads nothing. */
int receiver_idle(struct receiver *r)
{
	uint64_t t0 = now_ms();
	int rc;

	if ((rc = fly_end(r, true)) < 0)
		return rc;
	if (!r->dirty && r->owed) {
		if ((rc = apply_sync(r->apply)) < 0) {
			log_err("mirror %s: commit failed: %s", r->opts.mirror, strerror(-rc));
			return rc;
		}
		owed_out(r);
		return r->out->err;
	}
	if (!r->dirty)
		return 0;
	/* Held entries wait until no content is in flight and no directory
	 * listing is open: a listed directory still gets children (and a new
	 * mtime) until its DIR_DONE, so a one-shot pass applies them at END. */
	if (r->links_n > 0 && r->await_n == 0 && !r->have_cur && r->listed_open == 0) {
		/* targets closed in this batch must be renamed in first; in
		 * place is enough: the commit below makes them durable with the
		 * rest, one syncfs fewer before the directories' times */
		if (apply_pending(r->apply) > 0 && (rc = apply_commit_visible(r->apply)) < 0) {
			log_err("mirror %s: commit failed: %s", r->opts.mirror, strerror(-rc));
			return rc;
		}
		held_apply(r);
	}
	rc = r->pipeline ? apply_commit_begin(r->apply) : apply_commit_visible(r->apply);
	if (rc == 1) {
		fly_begin(r, t0);
		return 0;
	}
	if (rc < 0) {
		/* nothing is acknowledged; the source keeps the changes */
		log_err("mirror %s: commit failed: %s", r->opts.mirror, strerror(-rc));
		return rc;
	}
	r->commit_cost = now_ms() - t0;
	if (r->owed)
		owed_out(r);            /* the commit's first syncfs covered it */
	if (apply_unsynced(r->apply)) {
		owe(r);
	} else {                        /* nothing was put in place after the syncfs */
		ack_out(r, r->done_ids, r->done_n, r->last_id);
		r->done_n = 0;
	}
	r->dirty = false;
	return r->out->err;
}

int receiver_frame(struct receiver *r, const struct wire_hdr *h, const uint8_t *p)
{
	/* a file's content is not interleaved with other operations; a
	 * keep-alive PING may come between its frames */
	if (r->have_cur && h->type != MSG_DATA && h->type != MSG_FILE_END &&
	    h->type != MSG_PING)
		return -EPROTO;
	switch (h->type) {
	case MSG_ENTRY: return on_entry(r, h->flags, p, h->len);
	case MSG_DIR_DONE: return on_dir_done_frame(r, p, h->len);
	case MSG_DELETE: return on_delete(r, p, h->len);
	case MSG_RENAME: return on_rename(r, p, h->len);
	case MSG_END: return on_end(r, p, h->len);
	case MSG_APPEND: return on_append(r, p, h->len);
	case MSG_DATA: return on_data(r, h, p, h->len);
	case MSG_FILE_END: return on_file_end(r, p, h->len);
	case MSG_PING: {
		uint64_t nonce;
		if (proto_get_id(p, h->len, &nonce) < 0)
			return -EBADMSG;
		proto_put_id(r->out, MSG_PONG, nonce);
		return 0;
	}
	default:
		return -EPROTO;
	}
}
