/* audit: the drift audit of one source mirror.  See audit.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "audit.h"
#include "auditfs.h"
#include "auditmsg.h"
#include "auditsample.h"
#include "entry.h"
#include "exclude.h"
#include "log.h"
#include "path.h"
#include "proto.h"
#include "ratelimit.h"
#include "session.h"
#include "status.h"
#include "stream.h"

#define TICK_MS 250
#define RETRY_S 60              /* a pass that could not start is tried again */
#define LIST_MS 60000           /* a listing's answer, at most */
#define HASH_BASE_MS 30000      /* a digest's answer: this plus the read time */

enum drift {
	D_SAME = 0,
	D_MISSING,              /* here, not on the sink */
	D_EXTRA,                /* on the sink only */
	D_TYPE, D_SIZE, D_MTIME, D_MODE, D_OWNER, D_LINK, D_RDEV,
	D_CONTENT,              /* same size and mtime, other content */
};

static const char *const drift_text[] = {
	[D_SAME] = "same",
	[D_MISSING] = "missing on the slave",
	[D_EXTRA] = "on the slave only",
	[D_TYPE] = "of another type on the slave",
	[D_SIZE] = "differs in size",
	[D_MTIME] = "differs in mtime",
	[D_MODE] = "differs in mode",
	[D_OWNER] = "differs in owner",
	[D_LINK] = "differs in symlink target",
	[D_RDEV] = "differs in device number",
	[D_CONTENT] = "differs in content (same size and mtime)",
};

struct cand {                   /* a difference to confirm */
	char *path;
	size_t len;
	enum drift what;
};

struct audit {
	const struct conf *c;
	const struct conf_mirror *m;
	struct audit_live live;
	volatile sig_atomic_t *stop;
	pthread_t thread;
	struct audit *next;         /* in the registry */
	pthread_mutex_t mu;         /* asked, asked_full, running */
	bool asked, asked_full, running;
	char *state_file;
	struct auditsample smp;
	struct status_audit st;     /* this thread's figures, copied to status */
	int64_t started, due;       /* unix seconds */
	/* one pass */
	int rootfd;
	uint64_t root_dev;          /* one_fs: directories elsewhere are not entered */
	struct exclude *ex;
	struct stream *s;
	struct ratelimit rl;
	bool full, scheduled, owner;
	uint64_t from, span;        /* the content sample */
	int64_t t0;
	uint64_t tree_bytes, drift, unsettled, pass_repaired;
	bool unquiet;               /* the live source did not settle once in
				     * this pass: later checks do not wait */
	struct cand *cands;
	size_t n_cands, cap_cands;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct audit *reg_head;

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- schedule ---- */

static bool in_window(const struct conf_mirror *m)
{
	uint32_t from = m->audit_window_from, to = m->audit_window_to;
	struct tm tm;
	time_t now = time(NULL);

	if (from == to || !localtime_r(&now, &tm))
		return true;
	uint32_t t = (uint32_t)(tm.tm_hour * 60 + tm.tm_min);
	return from < to ? t >= from && t < to : t >= from || t < to;
}

/* Sleep until a pass is due or asked for: true with *full and the kind,
 * false when stopping. */
static bool wait_turn(struct audit *a, bool *full, bool *scheduled)
{
	while (!*a->stop) {
		pthread_mutex_lock(&a->mu);
		bool asked = a->asked;
		*full = a->asked_full;
		a->asked = a->asked_full = false;
		a->running = asked;
		pthread_mutex_unlock(&a->mu);
		if (asked) {
			*scheduled = false;
			return true;
		}
		if (a->m->audit_interval_sec && wall_s() >= a->due && in_window(a->m)) {
			pthread_mutex_lock(&a->mu);
			a->running = true;
			pthread_mutex_unlock(&a->mu);
			*scheduled = true;
			return true;
		}
		(void)poll(NULL, 0, TICK_MS);
	}
	return false;
}

/* ---- the sink's side, over the audit session ---- */

/* Queue a request (sent by the next flush). */
static void remote_put(struct audit *a, uint8_t kind, const char *path, size_t len)
{
	struct auditmsg_req q = { .rate = a->m->audit_rate, .kind = kind, .path = path,
				  .len = len };

	auditmsg_put_req(stream_out(a->s), &q);
}

static int remote_ask(struct audit *a, uint8_t kind, const char *path, size_t len)
{
	remote_put(a, kind, path, len);
	return stream_flush(a->s);
}

static int items_add(struct audit_item **v, size_t *n, size_t *cap, struct audit_item *it)
{
	if (*n == AUDIT_DIR_MAX)
		return -E2BIG;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct audit_item *g = realloc(*v, c * sizeof(**v));
		if (!g)
			return -ENOMEM;
		*v = g;
		*cap = c;
	}
	(*v)[(*n)++] = *it;
	return 0;
}

static int batch_in(const uint8_t *p, size_t len, struct audit_item **v, size_t *n,
		    size_t *cap)
{
	struct audit_item it;
	struct rbuf r;
	int rc;

	rbuf_init(&r, p, len);
	while ((rc = auditmsg_get_rec(&r, &it)) == 1)
		if ((rc = items_add(v, n, cap, &it)) < 0) {
			audit_item_clear(&it);
			break;
		}
	return rc;
}

/* stream_recv in slices of TICK_MS, so that a stop is seen while the sink
 * hashes a large file at a low rate. */
static int recv_frame(struct audit *a, int timeout_ms, struct wire_hdr *h, const uint8_t **p)
{
	uint64_t end = ratelimit_now_ns() / 1000000 + (uint64_t)timeout_ms;

	for (;;) {
		int rc = stream_recv(a->s, TICK_MS, h, p);
		if (rc != -ETIMEDOUT)
			return rc;
		if (*a->stop)
			return -EINTR;
		if (ratelimit_now_ns() / 1000000 >= end)
			return -ETIMEDOUT;
	}
}

/* The answer to the last request: records into *v (sorted), its END.
 * 0, or -errno when the session broke. */
static int remote_answer(struct audit *a, int timeout_ms, struct audit_item **v, size_t *n,
			 struct auditmsg_end *end)
{
	struct wire_hdr h;
	const uint8_t *p;
	size_t cap = 0;
	int rc;

	*v = NULL;
	*n = 0;
	while ((rc = recv_frame(a, timeout_ms, &h, &p)) == 1) {
		if (h.type == MSG_AUDIT_LIST)
			rc = batch_in(p, h.len, v, n, &cap);
		else if (h.type == MSG_AUDIT_END)
			rc = auditmsg_get_end(p, h.len, end) < 0 || end->records != *n ? -EBADMSG : 1;
		else
			rc = h.type == MSG_ERROR ? -ECONNRESET : -EPROTO;
		if (rc < 0 || h.type == MSG_AUDIT_END)
			break;
	}
	if (rc == 1 && *n > 1)
		qsort(*v, *n, sizeof(**v), audit_item_cmp);
	if (rc != 1) {
		audit_items_free(*v, *n);
		*v = NULL;
		*n = 0;
		return rc == 0 ? -ECONNRESET : rc;
	}
	return 0;
}

/* ---- comparison ---- */

static enum drift compare(const struct audit *a, const struct audit_item *x,
			  const struct audit_item *y)
{
	if (!x && !y)
		return D_SAME;
	if (!y)
		return D_MISSING;
	if (!x)
		return D_EXTRA;
	if (x->type != y->type)
		return D_TYPE;
	if (x->type == ENT_FILE && x->size != y->size)
		return D_SIZE;
	if (x->type == ENT_SYMLINK)
		return x->link_len != y->link_len || memcmp(x->link, y->link, x->link_len) ?
		       D_LINK : D_SAME;
	if (x->type == ENT_FILE &&
	    (x->mtime_sec != y->mtime_sec || x->mtime_nsec != y->mtime_nsec))
		return D_MTIME;
	if (x->mode != y->mode)
		return D_MODE;
	if (a->owner && (x->uid != y->uid || x->gid != y->gid))
		return D_OWNER;
	if ((x->type == ENT_CHR || x->type == ENT_BLK) && x->rdev != y->rdev)
		return D_RDEV;
	return D_SAME;
}

/* Changed here so recently that the live source may still be on it (the
 * ctime: every write, chmod, rename moves it, and no one can set it back). */
static bool recent(const struct audit *a, const struct audit_item *x)
{
	return x && x->ctime_sec >= a->t0 - AUDIT_RECENT_S;
}

static int cand_add(struct audit *a, const char *dir, size_t dlen, const char *name,
		    size_t nlen, enum drift what)
{
	if (a->n_cands == a->cap_cands) {
		size_t c = a->cap_cands ? a->cap_cands * 2 : 16;
		struct cand *g = realloc(a->cands, c * sizeof(*g));
		if (!g)
			return -ENOMEM;
		a->cands = g;
		a->cap_cands = c;
	}
	struct cand *k = &a->cands[a->n_cands];
	if (!(k->path = name ? path_join(dir, dlen, name, nlen, &k->len) : strndup(dir, dlen)))
		return -ENOMEM;
	if (!name)
		k->len = dlen;
	k->what = what;
	a->n_cands++;
	return 0;
}

static void cands_clear(struct audit *a)
{
	for (size_t i = 0; i < a->n_cands; i++)
		free(a->cands[i].path);
	a->n_cands = 0;
}

/* After a HASH request for path went out: hash it here too (at the same
 * time as the sink, each at audit_rate) and take the sink's answer.  1
 * when the contents differ, 0 when equal or when either changed meanwhile
 * (x: this side as listed), <0 when the session broke. */
static int hash_check(struct audit *a, const char *path, size_t len, const struct audit_item *x)
{
	struct audit_item mine, *v = NULL;
	struct auditmsg_end end = { 0 };
	size_t n = 0;
	uint64_t rate = a->m->audit_rate;
	int64_t read_ms = rate ? (int64_t)(x->size / rate * 1000 * 2) : 0;
	int mine_rc = auditfs_hash(a->rootfd, path, len, &a->rl, a->stop, &mine,
				   &a->st.hashed_bytes);
	int rc = remote_answer(a, (int)(HASH_BASE_MS + (read_ms > 86400000 ? 86400000 : read_ms)),
			       &v, &n, &end);

	a->st.peer_bytes += end.bytes;
	if (rc == 0 && mine_rc == 0 && end.status == 0 && n == 1 && v[0].has_digest &&
	    mine.size == x->size && mine.mtime_sec == x->mtime_sec &&
	    mine.mtime_nsec == x->mtime_nsec && compare(a, &mine, &v[0]) == D_SAME) {
		a->st.hashed_files++;
		rc = memcmp(mine.digest, v[0].digest, HASH_LEN) != 0;
	} else if (rc == 0 && mine_rc == -EINTR) {
		rc = -EINTR;
	}
	if (mine_rc == 0)
		audit_item_clear(&mine);
	audit_items_free(v, n);
	return rc;
}

static int content_differs(struct audit *a, const char *path, size_t len,
			   const struct audit_item *x)
{
	int rc = remote_ask(a, AUDITMSG_HASH, path, len);

	return rc < 0 ? rc : hash_check(a, path, len, x);
}

/* The files of one directory to hash, in the sample and unchanged. */
struct hashq {
	struct hq { char *path; size_t len; struct audit_item x; } *v;
	size_t n, cap;
};

static int hashq_add(struct hashq *q, char *path, size_t len, const struct audit_item *x)
{
	if (q->n == q->cap) {
		size_t c = q->cap ? q->cap * 2 : 32;
		struct hq *g = realloc(q->v, c * sizeof(*g));
		if (!g)
			return -ENOMEM;
		q->v = g;
		q->cap = c;
	}
	/* the sizes and times are all hash_check needs: no name, no link */
	q->v[q->n++] = (struct hq){ path, len, { .type = x->type, .size = x->size,
			.mtime_sec = x->mtime_sec, .mtime_nsec = x->mtime_nsec } };
	return 0;
}

static void hashq_clear(struct hashq *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->v[i].path);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* Hash the queue with up to AUDIT_PIPELINE requests ahead at the sink, so
 * that a tree of small files is not paced by round trips. */
static int hashq_run(struct audit *a, struct hashq *q)
{
	size_t sent = 0;
	int rc = 0;

	for (size_t done = 0; rc >= 0 && done < q->n && !*a->stop; done++) {
		while (sent < q->n && sent - done < AUDIT_PIPELINE) {
			remote_put(a, AUDITMSG_HASH, q->v[sent].path, q->v[sent].len);
			sent++;
		}
		if ((rc = stream_flush(a->s)) < 0)
			break;
		rc = hash_check(a, q->v[done].path, q->v[done].len, &q->v[done].x);
		if (rc == 1)
			rc = cand_add(a, q->v[done].path, q->v[done].len, NULL, 0, D_CONTENT);
	}
	if (*a->stop && rc >= 0)
		rc = -EINTR;
	return rc;
}

/* One entry both sides have (x here, y there) in directory dir. */
static int compare_one(struct audit *a, const char *dir, size_t dlen, struct hashq *q,
		       const struct audit_item *x, const struct audit_item *y)
{
	enum drift d = compare(a, x, y);
	size_t plen;
	char *p;

	if (x->type == ENT_FILE) {
		a->st.files++;
		a->tree_bytes += x->size;
	}
	if (d != D_SAME)
		return cand_add(a, dir, dlen, x->name, x->name_len, d);
	if (x->type != ENT_FILE || recent(a, x))
		return 0;
	if (!(p = path_join(dir, dlen, x->name, x->name_len, &plen)))
		return -ENOMEM;
	if (!a->full && !auditsample_in(a->from, a->span, auditsample_key(p, plen))) {
		free(p);
		return 0;
	}
	int rc = hashq_add(q, p, plen, x);
	if (rc < 0)
		free(p);
	return rc;
}

/* ---- confirmation and findings ---- */

/* Wait until the live source has sent everything it knows of (once it
 * failed to within AUDIT_QUIET_WAIT_MS in a pass, a busy or paused mirror,
 * only a short look: the pass is not to crawl). */
static bool wait_quiet(struct audit *a)
{
	int tries = a->unquiet ? 4 : AUDIT_QUIET_WAIT_MS / TICK_MS;

	for (int t = 0; t < tries && !*a->stop; t++) {
		if (a->live.quiet(a->live.ctx))
			return true;
		(void)poll(NULL, 0, TICK_MS);
	}
	a->unquiet = true;
	return false;
}

/* Look at one candidate again, now: its difference, or D_SAME. */
static enum drift recheck(struct audit *a, const struct cand *k, bool *ret_dir)
{
	struct audit_item x, *v = NULL;
	struct auditmsg_end end = { 0 };
	size_t n = 0;
	int xr = auditfs_stat(a->rootfd, k->path, k->len, &x);
	enum drift d = D_SAME;

	*ret_dir = xr == 0 && x.type == ENT_DIR;
	if ((xr < 0 && xr != -ENOENT && xr != -ENOTDIR) || (xr == 0 && recent(a, &x)) ||
	    remote_ask(a, AUDITMSG_STAT, k->path, k->len) < 0 ||
	    remote_answer(a, LIST_MS, &v, &n, &end) < 0)
		goto out;
	if (end.status < 0 && end.status != -ENOENT && end.status != -ENOTDIR)
		goto out;
	d = compare(a, xr == 0 ? &x : NULL, n == 1 ? &v[0] : NULL);
	if (d == D_SAME && k->what == D_CONTENT && xr == 0 &&
	    content_differs(a, k->path, k->len, &x) == 1)
		d = D_CONTENT;
out:
	if (xr == 0)
		audit_item_clear(&x);
	audit_items_free(v, n);
	return d;
}

/* The [node] notify hook's "audit" condition, key MIRROR/drift: raised by
 * a pass that found differences, resolved by a later pass that found none.
 * The detail holds the pass's counts (the paths are in the log). */
static void audit_notify(struct audit *a, bool raise, const char *summary)
{
	char detail[256];

	if (!raise) {
		alerts_audit_clear(a->m->name, "drift", summary);
		return;
	}
	snprintf(detail, sizeof(detail), "{\"differences\":%llu,\"repaired\":%llu,"
		 "\"files\":%llu,\"hashed_files\":%llu,\"repair\":%s}",
		 (unsigned long long)a->drift, (unsigned long long)a->pass_repaired,
		 (unsigned long long)a->st.files, (unsigned long long)a->st.hashed_files,
		 a->m->audit_repair ? "true" : "false");
	alerts_audit(a->m->name, "drift", summary, detail);
}

static void report(struct audit *a, const struct cand *k, enum drift d, bool dir)
{
	bool repair = a->m->audit_repair;
	int rc = 0;

	a->drift++;
	a->st.drift_total++;
	snprintf(a->st.last_drift, sizeof(a->st.last_drift), "%.150s: %s", k->path,
		 drift_text[d]);
	if (repair)
		rc = a->live.repair(a->live.ctx, k->path, k->len,
				    dir && (d == D_MISSING || d == D_TYPE));
	if (repair && rc == 0) {
		a->st.repaired_total++;
		a->pass_repaired++;
	}
	log_warn("mirror %s: audit: '%s' %s%s%s", a->m->name, k->path, drift_text[d],
		 !repair ? " (not repaired: audit_repair = no)" :
		 rc == 0 ? ", sent again from this node" : ", repair not queued: ",
		 repair && rc < 0 ? strerror(-rc) : "");
}

/* Confirm and report the candidates of one directory. */
static void settle(struct audit *a)
{
	if (a->n_cands == 0)
		return;
	if (!wait_quiet(a)) {
		log_info("mirror %s: audit: the live source did not settle within %d s; %zu "
			 "differences left for a later pass", a->m->name,
			 AUDIT_QUIET_WAIT_MS / 1000, a->n_cands);
		a->unsettled += a->n_cands;
		cands_clear(a);
		return;
	}
	for (size_t i = 0; i < a->n_cands && !*a->stop; i++) {
		bool dir;
		enum drift d = recheck(a, &a->cands[i], &dir);
		if (d != D_SAME)
			report(a, &a->cands[i], d, dir);
	}
	cands_clear(a);
}

/* ---- the walk ---- */

struct dirs {
	struct cand *v;          /* path, len; what unused */
	size_t n, cap;
};

static int dirs_push(struct dirs *d, const char *dir, size_t dlen, const char *name, size_t nlen)
{
	if (d->n == d->cap) {
		size_t c = d->cap ? d->cap * 2 : 64;
		struct cand *g = realloc(d->v, c * sizeof(*g));
		if (!g)
			return -ENOMEM;
		d->v = g;
		d->cap = c;
	}
	struct cand *k = &d->v[d->n];
	if (!(k->path = path_join(dir, dlen, name, nlen, &k->len)))
		return -ENOMEM;
	d->n++;
	return 0;
}

/* A name only the sink lists, excluded here (the sink's excludes may
 * differ): not mirrored, so not drift, and never to be repaired. */
static bool excluded(struct audit *a, const char *dir, size_t dlen, const struct audit_item *y,
		     int *rc)
{
	size_t plen;
	char *p;

	if (exclude_count(a->ex) == 0)
		return false;
	if (!(p = path_join(dir, dlen, y->name, y->name_len, &plen))) {
		*rc = -ENOMEM;
		return true;
	}
	bool ex = exclude_match(a->ex, p, plen, y->type == ENT_DIR);
	free(p);
	return ex;
}

/* Merge the two sorted listings of dir. */
static int merge(struct audit *a, const char *dir, size_t dlen, struct dirs *todo,
		 const struct audit_item *xv, size_t xn, const struct audit_item *yv, size_t yn)
{
	struct hashq q = { 0 };
	size_t i = 0, j = 0;
	int rc = 0;

	while (rc >= 0 && !*a->stop && (i < xn || j < yn)) {
		int c = i == xn ? 1 : j == yn ? -1 : audit_item_cmp(&xv[i], &yv[j]);
		if (c < 0) {
			if (!recent(a, &xv[i]))
				rc = cand_add(a, dir, dlen, xv[i].name, xv[i].name_len, D_MISSING);
			i++;
		} else if (c > 0) {
			if (!excluded(a, dir, dlen, &yv[j], &rc))
				rc = cand_add(a, dir, dlen, yv[j].name, yv[j].name_len, D_EXTRA);
			j++;
		} else {
			if (xv[i].type == ENT_DIR && yv[j].type == ENT_DIR &&
			    (!a->m->one_fs || xv[i].dev == a->root_dev))
				rc = dirs_push(todo, dir, dlen, xv[i].name, xv[i].name_len);
			if (rc >= 0)
				rc = compare_one(a, dir, dlen, &q, &xv[i], &yv[j]);
			i++;
			j++;
		}
	}
	if (rc >= 0)
		rc = hashq_run(a, &q);
	hashq_clear(&q);
	return rc;
}

/* One directory: 0, or <0 when the pass cannot go on. */
static int audit_dir(struct audit *a, const char *dir, size_t dlen, struct dirs *todo)
{
	struct audit_item *xv = NULL, *yv = NULL;
	struct auditmsg_end end = { 0 };
	size_t xn = 0, yn = 0;
	int rc = auditfs_list(a->rootfd, dir, dlen, a->ex, AUDIT_DIR_MAX, &xv, &xn);

	if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP)
		return 0;                /* gone here meanwhile: the live source follows */
	if (rc < 0) {
		log_warn("mirror %s: audit: cannot list '%s': %s, skipped", a->m->name, dir,
			 strerror(-rc));
		return 0;
	}
	if ((rc = remote_ask(a, AUDITMSG_LIST, dir, dlen)) == 0 &&
	    (rc = remote_answer(a, LIST_MS, &yv, &yn, &end)) == 0) {
		if (end.status < 0 && dlen > 0)
			rc = cand_add(a, dir, dlen, NULL, 0, D_MISSING);
		else if (end.status < 0)
			log_warn("mirror %s: audit: the slave cannot list its root: %s",
				 a->m->name, strerror(-end.status));
		else
			rc = merge(a, dir, dlen, todo, xv, xn, yv, yn);
	}
	audit_items_free(xv, xn);
	audit_items_free(yv, yn);
	if (rc >= 0)
		settle(a);
	cands_clear(a);
	status_audit_set(a->m->name, &a->st);
	return rc;
}

static int walk(struct audit *a)
{
	struct dirs todo = { 0 };
	int rc = dirs_push(&todo, "", 0, "", 0);

	while (rc >= 0 && todo.n > 0) {
		struct cand d = todo.v[--todo.n];
		if (*a->stop)
			rc = -EINTR;
		else if (a->scheduled && !in_window(a->m))
			rc = -ETIME;
		else
			rc = audit_dir(a, d.path, d.len, &todo);
		free(d.path);
	}
	while (todo.n > 0)
		free(todo.v[--todo.n].path);
	free(todo.v);
	return rc;
}

/* ---- a pass ---- */

static int pass_open(struct audit *a, char *why, size_t why_len)
{
	int err = 0;

	a->rootfd = open(a->m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->rootfd < 0) {
		snprintf(why, why_len, "cannot open %s: %s", a->m->path, strerror(errno));
		return -errno;
	}
	struct stat st;
	if (fstat(a->rootfd, &st) < 0)
		return -errno;
	a->root_dev = st.st_dev;
	if (!(a->ex = exclude_new()))
		return -ENOMEM;
	for (size_t i = 0; i < a->m->n_excludes; i++)
		if ((err = exclude_add(a->ex, a->m->excludes[i])) < 0)
			return err;
	a->s = session_connect(a->c, a->m, PROTO_FEATURE_AUDIT, SESSION_HANDSHAKE_MS, &err, why,
			       why_len);
	return a->s ? 0 : err < 0 ? err : -ECONNREFUSED;
}

static void pass_close(struct audit *a)
{
	stream_free(a->s);
	a->s = NULL;
	exclude_free(a->ex);
	a->ex = NULL;
	if (a->rootfd >= 0)
		close(a->rootfd);
	a->rootfd = -1;
}

static void pass_end(struct audit *a, int rc)
{
	char summary[STATUS_ERROR_MAX + 160];
	double secs = (double)(wall_s() - a->t0);

	a->st.running = false;
	a->st.last_end = wall_s();
	if (rc == 0) {
		bool lap = auditsample_advance(&a->smp, a->full ? UINT64_MAX : a->span,
					       a->tree_bytes);
		a->smp.last_end = (uint64_t)a->st.last_end;
		a->st.passes++;
		a->st.laps = a->smp.laps;
		a->st.drift_last = a->drift;
		if (!a->drift)
			a->st.last_drift[0] = '\0';
		int src = auditsample_save(a->state_file, &a->smp);
		if (src < 0)
			log_warn("mirror %s: audit: cannot save %s: %s", a->m->name, a->state_file,
				 strerror(-src));
		log_notice("mirror %s: audit pass complete in %.0f s: %llu files, %llu hashed "
			   "(%llu bytes here, %llu on the slave), %llu differences%s%s",
			   a->m->name, secs, (unsigned long long)a->st.files,
			   (unsigned long long)a->st.hashed_files,
			   (unsigned long long)a->st.hashed_bytes,
			   (unsigned long long)a->st.peer_bytes, (unsigned long long)a->drift,
			   a->unsettled ? " (some left unsettled)" : "",
			   lap ? "; the content sample has covered the whole tree" : "");
		snprintf(summary, sizeof(summary), "mirror %s: the audit found %llu "
			 "differences with the slave (%llu sent again), the last: %s", a->m->name,
			 (unsigned long long)a->drift, (unsigned long long)a->pass_repaired,
			 a->st.last_drift);
		audit_notify(a, a->drift > 0, a->drift ? summary : "the audit found no differences");
	} else {
		log_warn("mirror %s: audit pass stopped after %.0f s: %s", a->m->name, secs,
			 rc == -ETIME ? "the audit window closed" : strerror(-rc));
	}
	status_audit_set(a->m->name, &a->st);
}

static void run_pass(struct audit *a, bool full, bool scheduled)
{
	char why[256] = "";
	int rc;

	a->full = full;
	a->scheduled = scheduled;
	a->t0 = wall_s();
	a->drift = a->unsettled = a->tree_bytes = a->pass_repaired = 0;
	a->unquiet = false;
	a->from = a->smp.cursor;
	a->span = full ? UINT64_MAX : auditsample_span(a->m->audit_sample_ppm,
						       a->m->audit_sample_bytes, a->smp.tree_bytes);
	a->owner = a->m->owner && geteuid() == 0;
	ratelimit_init(&a->rl, a->m->audit_rate, AUDITFS_CHUNK);
	a->st.running = true;
	a->st.last_start = a->t0;
	a->st.files = a->st.hashed_files = a->st.hashed_bytes = a->st.peer_bytes = 0;
	status_audit_set(a->m->name, &a->st);
	if ((rc = pass_open(a, why, sizeof(why))) < 0) {
		log_warn("mirror %s: audit pass not started: %s%s", a->m->name,
			 why[0] ? why : strerror(-rc), scheduled ? ", tried again later" : "");
		a->st.running = false;
		status_audit_set(a->m->name, &a->st);
		a->due = wall_s() + RETRY_S;
		pass_close(a);
		return;
	}
	log_info("mirror %s: audit pass started (%s, %llu bytes/s per side)", a->m->name,
		 full ? "every file's content" : "metadata of every file, content of a sample",
		 (unsigned long long)a->m->audit_rate);
	rc = walk(a);
	pass_close(a);
	pass_end(a, rc);
	a->due = wall_s() + (int64_t)a->m->audit_interval_sec;
}

static void *audit_thread(void *arg)
{
	struct audit *a = arg;
	bool full, scheduled;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (wait_turn(a, &full, &scheduled)) {
		run_pass(a, full, scheduled);
		pthread_mutex_lock(&a->mu);
		a->running = false;
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

/* ---- start, stop, requests ---- */

static void audit_free(struct audit *a)
{
	if (!a)
		return;
	cands_clear(a);
	free(a->cands);
	free(a->state_file);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static void load_state(struct audit *a)
{
	int rc = auditsample_load(a->state_file, &a->smp);

	if (rc < 0)
		log_warn("mirror %s: audit: cannot read %s (%s): the content sample starts "
			 "afresh", a->m->name, a->state_file, strerror(-rc));
	a->st.laps = a->smp.laps;
	a->st.last_end = (int64_t)a->smp.last_end;
	a->due = (a->smp.last_end ? (int64_t)a->smp.last_end : a->started) +
		 (int64_t)a->m->audit_interval_sec;
}

int audit_start(const struct conf *c, const struct conf_mirror *m,
		const struct audit_live *live, volatile sig_atomic_t *stop, struct audit **ret)
{
	struct audit *a = calloc(1, sizeof(*a));
	int rc;

	if (!a)
		return -ENOMEM;
	a->c = c;
	a->m = m;
	a->live = *live;
	a->stop = stop;
	a->rootfd = -1;
	a->started = wall_s();
	a->st.enabled = true;
	pthread_mutex_init(&a->mu, NULL);
	if (asprintf(&a->state_file, "%s/%s/audit", c->state_dir, m->name) < 0) {
		a->state_file = NULL;
		audit_free(a);
		return -ENOMEM;
	}
	load_state(a);
	status_audit_set(m->name, &a->st);
	if ((rc = -pthread_create(&a->thread, NULL, audit_thread, a)) < 0) {
		audit_free(a);
		return rc;
	}
	pthread_mutex_lock(&reg_mu);
	a->next = reg_head;
	reg_head = a;
	pthread_mutex_unlock(&reg_mu);
	*ret = a;
	return 0;
}

void audit_join(struct audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&reg_mu);
	for (struct audit **p = &reg_head; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	pthread_join(a->thread, NULL);
	audit_free(a);
}

int audit_request(const char *mirror, bool full)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&reg_mu);
	for (struct audit *a = reg_head; a; a = a->next) {
		if (strcmp(a->m->name, mirror) != 0)
			continue;
		pthread_mutex_lock(&a->mu);
		if (a->running) {
			rc = -EALREADY;
		} else {
			a->asked = true;
			a->asked_full = full;
			rc = 0;
		}
		pthread_mutex_unlock(&a->mu);
		break;
	}
	pthread_mutex_unlock(&reg_mu);
	return rc;
}
