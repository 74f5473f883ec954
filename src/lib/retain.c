/* retain: keep replaced and removed nodes in the versions directory, log
 * every change in its index, prune on a timer. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nodecopy.h"
#include "path.h"
#include "retain.h"
#include "vindex.h"

#define NAME_TRIES 16
#define TICK_MIN_NS 1000000000ll
#define TICK_MAX_NS 60000000000ll

struct retain {
	char *name, *dir;
	int vfd;                 /* the versions directory */
	int ifd;                 /* its index, O_APPEND */
	bool other_fs;           /* not on the tree's file system */
	bool dirty;              /* kept something since retain_sync */
	struct retain_limits lim;
	struct vindex v;
	pthread_mutex_t lock;
	int64_t next_tick;
	size_t dead;             /* records in the index file no longer in v */
	int64_t next_sweep;      /* next look for day directories nothing uses */
	char *cdir;              /* the versions subdirectory cfd holds */
	int cfd;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *retain_stored_name(const char *path, size_t len, int64_t t_ns, unsigned attempt)
{
	time_t s = (time_t)(t_ns / 1000000000);
	char day[16], hms[8], suffix[48], *out = NULL;
	size_t dl = path_dirlen(path, len), base = len - (dl ? dl + 1 : 0), slen;
	struct tm tm;
	int k;

	if (!gmtime_r(&s, &tm) || !strftime(day, sizeof(day), "%Y-%m-%d", &tm) ||
	    !strftime(hms, sizeof(hms), "%H%M%S", &tm))
		return NULL;
	if (attempt)
		snprintf(suffix, sizeof(suffix), "@%s.%09ld-%u", hms, (long)(t_ns % 1000000000),
			 attempt);
	else
		snprintf(suffix, sizeof(suffix), "@%s.%09ld", hms, (long)(t_ns % 1000000000));
	slen = strlen(suffix);
	/* a long name is cut so that the stored name fits NAME_MAX: the index
	 * holds the full path */
	if (base + slen > NAME_MAX)
		len -= base + slen - NAME_MAX;
	k = asprintf(&out, "%s/%.*s%s", day, (int)len, path, suffix);
	return k < 0 ? NULL : out;
}

/* ---- open / free ---- */

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir), *s;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

static int open_index(struct retain *rt)
{
	rt->ifd = openat(rt->vfd, RETAIN_INDEX, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
			 O_NOFOLLOW, 0600);
	return rt->ifd < 0 ? -errno : 0;
}

/* Load the index; a new one starts with the horizon now: nothing earlier
 * was kept. */
static int load(struct retain *rt)
{
	struct stat st;
	int rc;

	bool fresh = fstatat(rt->vfd, RETAIN_INDEX, &st, AT_SYMLINK_NOFOLLOW) < 0;
	if ((rc = vindex_load(rt->vfd, RETAIN_INDEX, true, &rt->v)) < 0)
		return rc;
	if (rt->v.bad)
		log_warn("mirror %s: %s/%s: %zu damaged records skipped", rt->name, rt->dir,
			 RETAIN_INDEX, rt->v.bad);
	if ((rc = open_index(rt)) < 0)
		return rc;
	if (fresh) {
		struct vindex_rec h = { .t_ns = now_ns(), .op = VINDEX_HORIZON };
		rt->v.horizon = h.t_ns;
		if ((rc = vindex_append(rt->ifd, &h)) == 0 && fsync(rt->ifd) < 0)
			rc = -errno;
	}
	return rc;
}

struct retain *retain_open(const char *name, const char *dir, int rootfd,
			   const struct retain_limits *lim)
{
	struct retain *rt = calloc(1, sizeof(*rt));
	struct stat a, b;
	int rc = -ENOMEM;

	if (!rt || !(rt->name = strdup(name)) || !(rt->dir = strdup(dir)))
		goto fail;
	rt->vfd = rt->ifd = rt->cfd = -1;
	rt->lim = *lim;
	pthread_mutex_init(&rt->lock, NULL);
	if ((rc = mkdir_p(dir)) < 0)
		goto fail;
	rt->vfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rt->vfd < 0 || fstat(rt->vfd, &a) < 0 || fstat(rootfd, &b) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = load(rt)) < 0)
		goto fail;
	rt->other_fs = a.st_dev != b.st_dev;
	if (rt->other_fs)
		log_warn("mirror %s: versions directory %s is not on the mirror's file system: "
			 "every version is a copy; put it on the same file system to keep "
			 "versions by rename", name, dir);
	log_info("mirror %s: keeping versions in %s (%zu kept)", name, dir, rt->v.n);
	return rt;
fail:
	log_err("mirror %s: cannot open the versions directory %s: %s", name, dir,
		strerror(-rc));
	retain_free(rt);
	return NULL;
}

void retain_free(struct retain *rt)
{
	if (!rt)
		return;
	if (rt->ifd >= 0)
		close(rt->ifd);
	if (rt->vfd >= 0)
		close(rt->vfd);
	if (rt->cfd >= 0)
		close(rt->cfd);
	vindex_free(&rt->v);
	pthread_mutex_destroy(&rt->lock);
	free(rt->cdir);
	free(rt->name);
	free(rt->dir);
	free(rt);
}

/* ---- logging changes ---- */

/* The history has a gap at t: no view before it can be whole. */
static void gap(struct retain *rt, int64_t t)
{
	struct vindex_rec h = { .t_ns = t, .op = VINDEX_HORIZON };

	if (t > rt->v.horizon)
		rt->v.horizon = t;
	(void)vindex_append(rt->ifd, &h);
}

static void record(struct retain *rt, const struct vindex_rec *r)
{
	int rc = vindex_append(rt->ifd, r);

	if (rc == 0)
		rc = vindex_add(&rt->v, r);
	if (rc < 0) {
		log_warn("mirror %s: cannot log a change of %.*s in %s/%s: %s", rt->name,
			 (int)r->len, r->path, rt->dir, RETAIN_INDEX, strerror(-rc));
		gap(rt, r->t_ns);
	}
	rt->dirty = true;
}

void retain_created(struct retain *rt, const char *path, size_t len)
{
	struct vindex_rec r = { .t_ns = now_ns(), .op = VINDEX_CREATE,
				.path = (char *)path, .len = len };

	pthread_mutex_lock(&rt->lock);
	record(rt, &r);
	pthread_mutex_unlock(&rt->lock);
}

void retain_renamed(struct retain *rt, const char *from, size_t flen, const char *to, size_t tlen)
{
	struct vindex_rec r = { .t_ns = now_ns(), .op = VINDEX_RENAME, .path = (char *)from,
				.len = flen, .to = (char *)to, .tolen = tlen };

	pthread_mutex_lock(&rt->lock);
	record(rt, &r);
	pthread_mutex_unlock(&rt->lock);
}

/* ---- keeping nodes ---- */

/* The directory of stored name s in the versions (created), cached. */
static int stored_parent(struct retain *rt, const char *s, const char **ret_name)
{
	size_t dlen = path_dirlen(s, strlen(s));
	int fd;

	*ret_name = s + dlen + 1;
	if (rt->cfd >= 0 && strlen(rt->cdir) == dlen && !memcmp(rt->cdir, s, dlen))
		return rt->cfd;
	if (rt->cfd >= 0)
		close(rt->cfd);
	free(rt->cdir);
	rt->cfd = -1;
	if (!(rt->cdir = strndup(s, dlen)))
		return -ENOMEM;
	fd = path_open_dir(rt->vfd, rt->cdir, dlen);
	for (size_t i = 0; fd == -ENOENT && i <= dlen; i++) {
		if (i < dlen && rt->cdir[i] != '/')
			continue;
		rt->cdir[i] = '\0';
		if (mkdirat(rt->vfd, rt->cdir, 0700) < 0 && errno != EEXIST)
			fd = -errno;
		if (i < dlen)
			rt->cdir[i] = '/';
		if (i == dlen && fd == -ENOENT)
			fd = path_open_dir(rt->vfd, rt->cdir, dlen);
	}
	return fd < 0 ? fd : (rt->cfd = fd);
}

/* Keep dfd/name (lstat st) as a stored name for path at t: by a hard
 * link (link) or a rename, or a copy across file systems (*copied).
 * Returns the stored name or NULL (*err set). */
static char *keep(struct retain *rt, int dfd, const char *name, const struct stat *st,
		  const char *path, size_t len, int64_t t, bool link, bool *copied, int *err)
{
	for (unsigned i = 0; i < NAME_TRIES; i++) {
		char *s = retain_stored_name(path, len, t, i);
		const char *vname;
		int pfd, rc;

		if (!s) {
			*err = -ENOMEM;
			return NULL;
		}
		pfd = stored_parent(rt, s, &vname);
		if (pfd < 0)
			rc = pfd;
		else if (link && !S_ISDIR(st->st_mode))
			rc = linkat(dfd, name, pfd, vname, 0) < 0 ? -errno : 0;
		else
			rc = renameat2(dfd, name, pfd, vname, RENAME_NOREPLACE) < 0 ? -errno : 0;
		/* another file system; or a link refused (protected_hardlinks, a
		 * file with the most links there can be): copy */
		if (rc == -EXDEV || (link && (rc == -EPERM || rc == -EMLINK))) {
			*copied = true;
			rc = nodecopy_tree(dfd, name, pfd, vname);
		}
		if (rc == 0)
			return s;
		free(s);
		if (rc != -EEXIST) {
			*err = rc;
			return NULL;
		}
	}
	*err = -EEXIST;
	return NULL;
}

/* Keep the node at dfd/name as op; 1 when kept by moving it away. */
static int keep_op(struct retain *rt, int dfd, const char *name, const char *path,
		   size_t len, char op)
{
	struct vindex_rec r = { .t_ns = now_ns(), .op = op, .path = (char *)path, .len = len };
	bool copied = false;
	struct stat st;
	int err = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT && op == VINDEX_OVERWRITE) {
			r.op = VINDEX_CREATE;
			record(rt, &r);
		}
		return 0;
	}
	r.stored = keep(rt, dfd, name, &st, path, len, r.t_ns,
			op == VINDEX_OVERWRITE, &copied, &err);
	if (!r.stored) {
		log_warn("mirror %s: cannot keep the previous version of %.*s in %s: %s "
			 "(changed without it)", rt->name, (int)len, path, rt->dir, strerror(-err));
		gap(rt, r.t_ns);
		return 0;
	}
	r.size = S_ISDIR(st.st_mode) ? nodecopy_bytes(rt->cfd, r.stored + strlen(rt->cdir) + 1) :
		 (uint64_t)st.st_blocks * 512;
	record(rt, &r);
	free(r.stored);
	return copied || (op == VINDEX_OVERWRITE && !S_ISDIR(st.st_mode)) ? 0 : 1;
}

void retain_replace(struct retain *rt, int dfd, const char *name, const char *path, size_t len)
{
	pthread_mutex_lock(&rt->lock);
	(void)keep_op(rt, dfd, name, path, len, VINDEX_OVERWRITE);
	pthread_mutex_unlock(&rt->lock);
}

int retain_remove(struct retain *rt, int dfd, const char *name, const char *path, size_t len)
{
	int rc;

	pthread_mutex_lock(&rt->lock);
	rc = keep_op(rt, dfd, name, path, len, VINDEX_DELETE);
	pthread_mutex_unlock(&rt->lock);
	return rc;
}

int retain_sync(struct retain *rt)
{
	int rc = 0;

	pthread_mutex_lock(&rt->lock);
	if (rt->dirty && rt->other_fs && syncfs(rt->vfd) < 0)
		rc = -errno;
	rt->dirty = false;
	pthread_mutex_unlock(&rt->lock);
	if (rc < 0)
		log_warn("mirror %s: syncfs of %s: %s", rt->name, rt->dir, strerror(-rc));
	return rc;
}

/* ---- pruning ---- */

static bool kept(const struct vindex_rec *r)
{
	return r->op == VINDEX_OVERWRITE || r->op == VINDEX_DELETE;
}

/* Sort order for the per-path count: path, then newest first. */
static const struct vindex *sort_v;

static int by_path_newest(const void *x, const void *y)
{
	const struct vindex_rec *a = &sort_v->recs[*(const size_t *)x];
	const struct vindex_rec *b = &sort_v->recs[*(const size_t *)y];
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->path, b->path, n);

	if (c || a->len != b->len)
		return c ? c : (a->len < b->len ? -1 : 1);
	return (a->t_ns < b->t_ns) - (a->t_ns > b->t_ns);
}

static size_t mark(bool *victim, size_t i, size_t n)
{
	if (victim[i] || n >= RETAIN_PRUNE_MAX)
		return n;
	victim[i] = true;
	return n + 1;
}

/* Versions beyond the count per path. */
static size_t over_count(const struct retain *rt, bool *victim, size_t n)
{
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
	size_t *ix = malloc((rt->v.n + 1) * sizeof(*ix)), k = 0, run = 0;

	if (!ix)
		return n;
	for (size_t i = 0; i < rt->v.n; i++)
		if (kept(&rt->v.recs[i]))
			ix[k++] = i;
	pthread_mutex_lock(&sort_lock);
	sort_v = &rt->v;
	qsort(ix, k, sizeof(*ix), by_path_newest);
	pthread_mutex_unlock(&sort_lock);
	for (size_t j = 0; j < k; j++) {
		const struct vindex_rec *r = &rt->v.recs[ix[j]], *p = j ? &rt->v.recs[ix[j - 1]] : NULL;
		run = p && p->len == r->len && !memcmp(p->path, r->path, r->len) ? run + 1 : 1;
		if (run > rt->lim.count)
			n = mark(victim, ix[j], n);
	}
	free(ix);
	return n;
}

/* Pick the victims: too old, beyond the count, beyond the size. */
static size_t choose(const struct retain *rt, int64_t now, bool *victim)
{
	int64_t cut = rt->lim.keep_sec ? now - (int64_t)rt->lim.keep_sec * 1000000000 : INT64_MIN;
	uint64_t total = 0;
	size_t n = 0;

	for (size_t i = 0; i < rt->v.n && rt->v.recs[i].t_ns < cut; i++)
		if (kept(&rt->v.recs[i]))
			n = mark(victim, i, n);
	if (rt->lim.count)
		n = over_count(rt, victim, n);
	for (size_t i = 0; i < rt->v.n; i++)
		total += kept(&rt->v.recs[i]) && !victim[i] ? rt->v.recs[i].size : 0;
	for (size_t i = 0; rt->lim.max_bytes && total > rt->lim.max_bytes && i < rt->v.n; i++)
		if (kept(&rt->v.recs[i]) && !victim[i] && n < RETAIN_PRUNE_MAX) {
			total -= rt->v.recs[i].size;
			n = mark(victim, i, n);
		}
	return n;
}

/* Drop the victims (their stored names move to *gone) and the creations
 * and renames the horizon or the age limit has passed. */
static size_t drop(struct retain *rt, int64_t now, const bool *victim, char **gone)
{
	int64_t cut = rt->lim.keep_sec ? now - (int64_t)rt->lim.keep_sec * 1000000000 : INT64_MIN;
	size_t j = 0, k = 0;

	for (size_t i = 0; i < rt->v.n; i++)
		if (victim[i] && rt->v.recs[i].t_ns > rt->v.horizon)
			rt->v.horizon = rt->v.recs[i].t_ns;
	for (size_t i = 0; i < rt->v.n; i++) {
		struct vindex_rec *r = &rt->v.recs[i];
		if (victim[i]) {
			gone[k++] = r->stored;
			r->stored = NULL;
			vindex_rec_clear(r);
		} else if (!kept(r) && (r->t_ns <= rt->v.horizon || r->t_ns < cut)) {
			vindex_rec_clear(r);
		} else {
			rt->v.recs[j++] = *r;
		}
	}
	rt->dead += rt->v.n - j;
	rt->v.n = j;
	return k;
}

/* Remove empty directories above stored name s, up to the day. */
static void rmdir_up(struct retain *rt, char *s)
{
	size_t d;

	while ((d = path_dirlen(s, strlen(s))) > 0) {
		s[d] = '\0';
		if (unlinkat(rt->vfd, s, AT_REMOVEDIR) < 0)
			return;
	}
}

static void remove_stored(struct retain *rt, char **gone, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *name;
		int dfd = path_open_parent(rt->vfd, gone[i], strlen(gone[i]), &name), rc;
		rc = dfd < 0 ? dfd : nodecopy_remove(dfd, name);
		if (dfd >= 0)
			close(dfd);
		if (rc < 0 && rc != -ENOENT)
			log_warn("mirror %s: cannot remove the old version %s/%s: %s", rt->name,
				 rt->dir, gone[i], strerror(-rc));
	}
	pthread_mutex_lock(&rt->lock);
	if (rt->cfd >= 0)
		close(rt->cfd);
	rt->cfd = -1;
	for (size_t i = 0; i < n; i++)
		rmdir_up(rt, gone[i]);
	pthread_mutex_unlock(&rt->lock);
}

/* Record what was dropped: the new horizon is appended at once (a reader
 * of the file then refuses the times whose versions are gone); the file is
 * rewritten without the dropped records only when they are at least half
 * of it, so its cost is spread over as many records as it drops. */
static void settle(struct retain *rt, int64_t old_horizon)
{
	struct vindex_rec h = { .t_ns = rt->v.horizon, .op = VINDEX_HORIZON };
	int rc = 0;

	if (rt->dead > 0 && rt->dead >= rt->v.n) {
		rc = vindex_rewrite(rt->vfd, RETAIN_INDEX, &rt->v);
		if (rc == 0) {
			close(rt->ifd);
			rc = open_index(rt);
			rt->dead = 0;
		}
	} else if (rt->v.horizon > old_horizon) {
		rc = vindex_append(rt->ifd, &h);
	}

	if (rc == 0) {
		close(rt->ifd);
		rc = open_index(rt);
	}
	if (rc < 0)
		log_warn("mirror %s: cannot update %s/%s: %s", rt->name, rt->dir, RETAIN_INDEX,
			 strerror(-rc));
}

/* Is some kept version stored beneath day directory d? */
static bool day_used(const struct retain *rt, const char *d)
{
	size_t n = strlen(d);

	for (size_t i = 0; i < rt->v.n; i++)
		if (kept(&rt->v.recs[i]) && !strncmp(rt->v.recs[i].stored, d, n) &&
		    rt->v.recs[i].stored[n] == '/')
			return true;
	return false;
}

/* Day directories older than the age limit that no version uses: what a
 * crash between keeping a node and logging it left behind.  Hourly. */
static void sweep(struct retain *rt, int64_t now)
{
	int64_t cut = now - (int64_t)rt->lim.keep_sec * 1000000000 - 86400ll * 1000000000;
	char *oldest = retain_stored_name("x", 1, cut, 0), *slash;
	struct dirent *de;
	int fd;
	DIR *d;

	rt->next_sweep = now + 3600ll * 1000000000;
	if (!oldest || !(slash = strchr(oldest, '/')) ||
	    (fd = openat(rt->vfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(oldest);
		return;
	}
	*slash = '\0';
	if (!(d = fdopendir(fd))) {
		close(fd);
		free(oldest);
		return;
	}
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 10 || de->d_name[4] != '-' || de->d_name[7] != '-' ||
		    strcmp(de->d_name, oldest) >= 0 || day_used(rt, de->d_name))
			continue;
		int rc = nodecopy_remove(dirfd(d), de->d_name);
		if (rc < 0)
			log_warn("mirror %s: cannot remove %s/%s: %s", rt->name, rt->dir,
				 de->d_name, strerror(-rc));
		else
			log_notice("mirror %s: removed %s/%s: versions no longer logged",
				   rt->name, rt->dir, de->d_name);
	}
	closedir(d);
	free(oldest);
}

static void schedule(struct retain *rt, int64_t now, size_t removed)
{
	int64_t step = rt->lim.keep_sec ? (int64_t)rt->lim.keep_sec * 1000000000 / 20 : TICK_MAX_NS;

	if (step < TICK_MIN_NS || removed >= RETAIN_PRUNE_MAX)
		step = TICK_MIN_NS;
	if (step > TICK_MAX_NS)
		step = TICK_MAX_NS;
	rt->next_tick = now + step;
}

size_t retain_tick(struct retain *rt, int64_t now)
{
	int64_t old_horizon;
	size_t n = 0, before;
	char **gone = NULL;
	bool *victim;

	pthread_mutex_lock(&rt->lock);
	if (now < rt->next_tick) {
		pthread_mutex_unlock(&rt->lock);
		return 0;
	}
	before = rt->v.n;
	old_horizon = rt->v.horizon;
	victim = calloc(rt->v.n + 1, sizeof(*victim));
	gone = calloc(RETAIN_PRUNE_MAX, sizeof(*gone));
	if (victim && gone) {
		(void)choose(rt, now, victim);
		n = drop(rt, now, victim, gone);
	}
	if (rt->v.n != before)
		settle(rt, old_horizon);
	if (rt->lim.keep_sec && now >= rt->next_sweep)
		sweep(rt, now);
	schedule(rt, now, n);
	pthread_mutex_unlock(&rt->lock);
	if (n)
		remove_stored(rt, gone, n);
	for (size_t i = 0; i < n; i++)
		free(gone[i]);
	free(gone);
	free(victim);
	if (n)
		log_debug("mirror %s: pruned %zu old versions", rt->name, n);
	return n;
}
