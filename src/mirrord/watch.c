/* watch: inotify watcher thread, one per watched root.  See watch.h.
 *
 * Each watcher owns an inotify instance (inotify_init1) and reads its
 * events itself: no process-global state, so several roots can be watched
 * by one process.  The wd -> path map is ours, per instance; the thread
 * sleeps in poll() on the instance next to its stop pipe. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exclude.h"
#include "watch.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | \
		    IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | \
		    IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)
#define REC_HDR 12
#define REC_MAX (REC_HDR + WATCH_PATH_MAX)
#define OBUF_CAP (8u << 10)     /* records batched per pipe write */
_Static_assert(OBUF_CAP >= REC_MAX, "a record fits in an empty batch");
#define RBUF_CAP (64u << 10)
#define PIPE_SIZE (1 << 20)
#define EVBUF_CAP (16u << 10)   /* kernel events per read */
#define MV_MAX 64               /* directory renames awaiting their MOVED_TO */

struct wnode {
	int wd;
	char *path;             /* relative to the root, "" for the root */
	size_t len;
	struct wnode *next;
};

struct pending_mv {
	uint32_t cookie;
	char *path;             /* NULL: slot free */
	size_t len;
};

struct watch {
	pthread_t thr;
	int rfd, wfd;           /* record pipe */
	int stop_rfd, stop_wfd;
	int ifd;                /* this watcher's own inotify instance */
	char *root;
	size_t root_len;
	const struct exclude *ex;
	struct wnode **tab;
	size_t nb;
	atomic_size_t count;
	int root_wd;
	struct pending_mv mv[MV_MAX];
	unsigned mv_next;
	bool initial;           /* in watch_start's walk: failures go to init_* */
	int init_err;
	char *init_fail;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool start_done;
	int start_rc;
	uint8_t *obuf;          /* thread: records not yet written, OBUF_CAP */
	size_t olen;
	uint8_t *rbuf;          /* reader */
	size_t rpos, rlen;
	char rpath[WATCH_PATH_MAX + 1];
};

/* ---- wd -> path map ---- */

static size_t map_slot(const struct watch *w, int wd)
{
	return ((unsigned)wd * 2654435761u) & (w->nb - 1);
}

static struct wnode *map_get(struct watch *w, int wd)
{
	struct wnode *n;

	for (n = w->tab[map_slot(w, wd)]; n; n = n->next)
		if (n->wd == wd)
			return n;
	return NULL;
}

static int map_grow(struct watch *w)
{
	size_t onb = w->nb;
	struct wnode **old = w->tab;

	w->tab = calloc(onb * 2, sizeof(*w->tab));
	if (!w->tab) {
		w->tab = old;
		return -ENOMEM;
	}
	w->nb = onb * 2;
	for (size_t i = 0; i < onb; i++) {
		while (old[i]) {
			struct wnode *n = old[i];

			old[i] = n->next;
			n->next = w->tab[map_slot(w, n->wd)];
			w->tab[map_slot(w, n->wd)] = n;
		}
	}
	free(old);
	return 0;
}

/* Set wd's path (copied). */
static int map_put(struct watch *w, int wd, const char *path, size_t len)
{
	struct wnode *n = map_get(w, wd);
	char *p = malloc(len + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p, path, len);
	p[len] = 0;
	if (n) {
		free(n->path);
		n->path = p;
		n->len = len;
		return 0;
	}
	if (atomic_load(&w->count) >= w->nb && map_grow(w) < 0) {
		free(p);
		return -ENOMEM;
	}
	n = malloc(sizeof(*n));
	if (!n) {
		free(p);
		return -ENOMEM;
	}
	n->wd = wd;
	n->path = p;
	n->len = len;
	n->next = w->tab[map_slot(w, wd)];
	w->tab[map_slot(w, wd)] = n;
	atomic_fetch_add(&w->count, 1);
	return 0;
}

static void map_unlink(struct watch *w, struct wnode **pp)
{
	struct wnode *n = *pp;

	*pp = n->next;
	free(n->path);
	free(n);
	atomic_fetch_sub(&w->count, 1);
}

static void map_del(struct watch *w, int wd)
{
	struct wnode **pp;

	for (pp = &w->tab[map_slot(w, wd)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->wd == wd) {
			map_unlink(w, pp);
			return;
		}
	}
}

/* path equals prefix or lies below it. */
static bool under(const char *path, size_t len, const char *pre, size_t plen)
{
	return len >= plen && !memcmp(path, pre, plen) && (len == plen || path[plen] == '/');
}

/* A directory moved inside the tree: rewrite every path below it. */
static int map_rename(struct watch *w, const char *from, size_t flen, const char *to, size_t tlen)
{
	for (size_t i = 0; i < w->nb; i++) {
		for (struct wnode *n = w->tab[i]; n; n = n->next) {
			char *p;

			if (!under(n->path, n->len, from, flen))
				continue;
			p = malloc(tlen + n->len - flen + 1);
			if (!p)
				return -ENOMEM;
			memcpy(p, to, tlen);
			memcpy(p + tlen, n->path + flen, n->len - flen + 1);
			free(n->path);
			n->path = p;
			n->len = tlen + n->len - flen;
		}
	}
	return 0;
}

/* A directory left the tree: drop every watch below it. */
static void map_unwatch(struct watch *w, const char *pre, size_t plen)
{
	for (size_t i = 0; i < w->nb; i++) {
		struct wnode **pp = &w->tab[i];

		while (*pp) {
			if (under((*pp)->path, (*pp)->len, pre, plen)) {
				(void)inotify_rm_watch(w->ifd, (*pp)->wd);
				map_unlink(w, pp);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

static void map_free(struct watch *w)
{
	for (size_t i = 0; w->tab && i < w->nb; i++)
		while (w->tab[i])
			map_unlink(w, &w->tab[i]);
	free(w->tab);
}

/* ---- records: thread side ---- */

/* Write all of p, waiting for room; -ECANCELED when asked to stop. */
static int pipe_write(struct watch *w, const uint8_t *p, size_t n)
{
	struct pollfd pfd[2] = {
		{ .fd = w->wfd, .events = POLLOUT },
		{ .fd = w->stop_rfd, .events = POLLIN },
	};

	while (n) {
		ssize_t r = write(w->wfd, p, n);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			return -ECANCELED;
	}
	return 0;
}

/* Write the batched records; the thread does so before it sleeps and when
 * the batch is full, so a burst costs one write per OBUF_CAP bytes instead
 * of one per record (and as many wake-ups of the reader). */
static int flush_records(struct watch *w)
{
	int r = w->olen ? pipe_write(w, w->obuf, w->olen) : 0;

	w->olen = 0;
	return r;
}

static int emit(struct watch *w, enum watch_kind kind, bool is_dir, uint32_t cookie,
		int err, const char *path, size_t len)
{
	uint16_t l16;
	uint8_t *p;
	int r;

	if (len > WATCH_PATH_MAX) {
		kind = WATCH_FAILED;
		err = ENAMETOOLONG;
		len = 0;
	}
	if (w->olen + REC_HDR + len > OBUF_CAP && (r = flush_records(w)) < 0)
		return r;
	p = w->obuf + w->olen;
	l16 = (uint16_t)len;
	p[0] = (uint8_t)kind;
	p[1] = is_dir;
	memcpy(p + 2, &l16, 2);
	memcpy(p + 4, &cookie, 4);
	memcpy(p + 8, &err, 4);
	memcpy(p + REC_HDR, path, len);
	w->olen += REC_HDR + len;
	return 0;
}

/* "dir" + "/" + "name" (or just name below the root); heap, NUL-terminated. */
static char *join(const char *dir, size_t dlen, const char *name, size_t nlen, size_t *ret_len)
{
	size_t n = dlen + (dlen ? 1 : 0) + nlen;
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, dir, dlen);
	if (dlen)
		p[dlen] = '/';
	memcpy(p + n - nlen, name, nlen);
	p[n] = 0;
	*ret_len = n;
	return p;
}

static bool excluded(const struct watch *w, const char *path, size_t len, bool is_dir)
{
	return w->ex && len && exclude_match(w->ex, path, len, is_dir);
}

/* ---- adding watches ---- */

static int add_tree(struct watch *w, const char *rel, size_t len, bool report);

/* A watch could not be added.  0 to carry on, -ENOSPC in the initial walk,
 * -ECANCELED when stopping. */
static int watch_failed(struct watch *w, const char *rel, size_t len, int err)
{
	if (err == ENOENT || err == ENOTDIR)
		return 0;       /* gone again; its parent reports that */
	if (!w->initial)
		return emit(w, WATCH_FAILED, true, 0, err, rel, len);
	if (err == ENOSPC)
		return -ENOSPC;
	if (!w->init_fail) {
		w->init_err = err;
		w->init_fail = strndup(rel, len);
	}
	return 0;
}

/* One directory entry found while scanning dir fd: recurse or report. */
static int add_entry(struct watch *w, int dfd, const char *rel, size_t len,
		     const struct dirent *de, bool report)
{
	size_t clen, nlen = strlen(de->d_name);
	bool is_dir = de->d_type == DT_DIR;
	struct stat st;
	char *child;
	int r = 0;

	if (de->d_type == DT_UNKNOWN) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0;
		is_dir = S_ISDIR(st.st_mode);
	}
	if (!is_dir && !report)
		return 0;
	child = join(rel, len, de->d_name, nlen, &clen);
	if (!child)
		return -ENOMEM;
	if (excluded(w, child, clen, is_dir)) {
		r = 0;
	} else if (!is_dir) {
		r = emit(w, WATCH_CREATE, false, 0, 0, child, clen);
	} else {
		if (report)
			r = emit(w, WATCH_DIR_CREATED, true, 0, 0, child, clen);
		if (r == 0)
			r = add_tree(w, child, clen, report);
	}
	free(child);
	return r;
}

static int scan_dir(struct watch *w, const char *full, const char *rel, size_t len, bool report)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	fd = open(full, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return watch_failed(w, rel, len, errno);
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			r = add_entry(w, dirfd(d), rel, len, de, report);
	}
	if (r == 0 && errno)
		r = watch_failed(w, rel, len, errno);
	closedir(d);
	return r;
}

/* Watch rel, then list it (so entries created before the watch landed are
 * seen), recursively.  With report, every entry found is reported. */
static int add_tree(struct watch *w, const char *rel, size_t len, bool report)
{
	size_t flen;
	char *full;
	int wd, r;

	if (len > WATCH_PATH_MAX)
		return watch_failed(w, rel, 0, ENAMETOOLONG);
	full = join(w->root, w->root_len, rel, len, &flen);
	if (!full)
		return -ENOMEM;
	if (!len)
		full[w->root_len] = 0;  /* the root itself, no trailing '/' */
	wd = inotify_add_watch(w->ifd, full, WATCH_MASK);
	if (wd < 0) {
		r = errno;
		free(full);
		return len ? watch_failed(w, rel, len, r) : -r;
	}
	r = map_put(w, wd, rel, len);
	if (r == 0 && !len)
		w->root_wd = wd;
	if (r == 0)
		r = scan_dir(w, full, rel, len, report);
	free(full);
	return r;
}

/* ---- directory renames ---- */

static void mv_push(struct watch *w, uint32_t cookie, const char *path, size_t len)
{
	struct pending_mv *m = &w->mv[w->mv_next++ % MV_MAX];

	if (m->path)            /* oldest entry: its MOVED_TO never came */
		map_unwatch(w, m->path, m->len);
	free(m->path);
	m->path = strndup(path, len);
	m->len = len;
	m->cookie = cookie;
	if (!m->path)           /* cannot track it: treat as moved out now */
		map_unwatch(w, path, len);
}

static struct pending_mv *mv_find(struct watch *w, uint32_t cookie)
{
	for (unsigned i = 0; i < MV_MAX; i++)
		if (w->mv[i].path && w->mv[i].cookie == cookie)
			return &w->mv[i];
	return NULL;
}

static void mv_clear(struct pending_mv *m)
{
	free(m->path);
	m->path = NULL;
}

/* The kernel queues both halves of a rename at once: when the queue is
 * empty, every directory still pending was moved out of the tree. */
static void mv_expire(struct watch *w)
{
	for (unsigned i = 0; i < MV_MAX; i++) {
		if (w->mv[i].path) {
			map_unwatch(w, w->mv[i].path, w->mv[i].len);
			mv_clear(&w->mv[i]);
		}
	}
}

/* Is the directory the kernel moved to "to" the one the map watches at
 * "from"?  Adding a watch on a watched inode returns its wd.  It is not
 * when the directory moved before its creation was handled (its watch
 * failed: never watched), or when the map's "from" is already a newer
 * directory of that name.  A directory gone again counts as watched. */
static bool mv_watched(struct watch *w, const char *from, size_t flen, const char *to, size_t tlen)
{
	int wd = -1;
	size_t n;

	for (size_t i = 0; wd < 0 && i < w->nb; i++)
		for (struct wnode *k = w->tab[i]; k; k = k->next)
			if (k->len == flen && memcmp(k->path, from, flen) == 0)
				wd = k->wd;
	char *full = join(w->root, w->root_len, to, tlen, &n);
	if (!full)
		return true;            /* no memory: the caller's rescan covers it */
	int now = inotify_add_watch(w->ifd, full, WATCH_MASK);
	free(full);
	return now < 0 || now == wd;
}

static int dir_moved_to(struct watch *w, uint32_t cookie, const char *path, size_t len, bool skip)
{
	struct pending_mv *m = mv_find(w, cookie);
	int r;

	if (m && skip)
		map_unwatch(w, m->path, m->len);
	if (m && !skip) {
		bool same = mv_watched(w, m->path, m->len, path, len);
		r = same ? map_rename(w, m->path, m->len, path, len) : 0;
		mv_clear(m);
		if (r == 0)
			r = emit(w, WATCH_MOVED_TO, true, cookie, 0, path, len);
		/* not watched yet: watch it and report what it holds */
		return r < 0 || same ? r : add_tree(w, path, len, true);
	}
	if (m)
		mv_clear(m);
	if (skip)
		return 0;
	r = emit(w, WATCH_DIR_CREATED, true, 0, 0, path, len);
	return r < 0 ? r : add_tree(w, path, len, true);
}

/* ---- events ---- */

static int on_named(struct watch *w, const struct inotify_event *ev, const char *path, size_t len)
{
	bool is_dir = ev->mask & IN_ISDIR;
	bool skip = excluded(w, path, len, is_dir);

	if (ev->mask & IN_MOVED_TO && is_dir)
		return dir_moved_to(w, ev->cookie, path, len, skip);
	if (ev->mask & IN_MOVED_FROM && is_dir && !skip)
		mv_push(w, ev->cookie, path, len);
	if (skip)
		return 0;
	if (ev->mask & IN_CREATE && is_dir) {
		int r = emit(w, WATCH_DIR_CREATED, true, 0, 0, path, len);

		return r < 0 ? r : add_tree(w, path, len, true);
	}
	if (ev->mask & IN_CREATE)
		return emit(w, WATCH_CREATE, false, 0, 0, path, len);
	if (ev->mask & IN_MOVED_FROM)
		return emit(w, WATCH_MOVED_FROM, is_dir, ev->cookie, 0, path, len);
	if (ev->mask & IN_MOVED_TO)
		return emit(w, WATCH_MOVED_TO, is_dir, ev->cookie, 0, path, len);
	if (ev->mask & IN_DELETE)
		return emit(w, WATCH_DELETE, is_dir, 0, 0, path, len);
	if (ev->mask & IN_CLOSE_WRITE)
		return emit(w, WATCH_CLOSE_WRITE, false, 0, 0, path, len);
	if (ev->mask & IN_MODIFY)
		return emit(w, WATCH_MODIFY, false, 0, 0, path, len);
	if (ev->mask & IN_ATTRIB)
		return emit(w, WATCH_ATTRIB, is_dir, 0, 0, path, len);
	return 0;
}

static int on_event(struct watch *w, const struct inotify_event *ev)
{
	struct wnode *n;
	size_t nlen, plen;
	char *path;
	int r;

	if (ev->mask & IN_Q_OVERFLOW)
		return emit(w, WATCH_OVERFLOW, true, 0, 0, "", 0);
	n = map_get(w, ev->wd);
	if (!n)
		return 0;       /* a watch we already dropped */
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
		r = 0;
		if (ev->wd == w->root_wd)
			r = emit(w, WATCH_FAILED, true, 0, ENOENT, "", 0);
		if (ev->mask & IN_IGNORED)
			map_del(w, ev->wd);
		return r;
	}
	nlen = ev->len ? strnlen(ev->name, ev->len) : 0;
	if (!nlen && ev->wd == w->root_wd && ev->mask & IN_ATTRIB)
		return emit(w, WATCH_ATTRIB, true, 0, 0, "", 0);
	if (!nlen)
		return 0;       /* the directory itself: its parent reports it */
	path = join(n->path, n->len, ev->name, nlen, &plen);
	if (!path)
		return -ENOMEM;
	r = on_named(w, ev, path, plen);
	free(path);
	return r;
}

/* ---- the thread ---- */

static int thread_init(struct watch *w)
{
	int r;

	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0)
		return -errno;
	w->initial = true;
	r = add_tree(w, "", 0, false);
	w->initial = false;
	return r;
}

static void start_done(struct watch *w, int rc)
{
	pthread_mutex_lock(&w->mu);
	w->start_rc = rc;
	w->start_done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Sleep until the kernel has events or we are told to stop. */
static int wait_events(struct watch *w)
{
	struct pollfd pfd[2] = {
		{ .fd = w->ifd, .events = POLLIN },
		{ .fd = w->stop_rfd, .events = POLLIN },
	};

	if (poll(pfd, 2, -1) < 0 && errno != EINTR)
		return -errno;
	return pfd[1].revents ? -ECANCELED : 0;
}

/* Hand every event of one read to on_event; a failure (e.g. ENOMEM) is
 * reported as an overflow, so the daemon rescans.  -ECANCELED to stop. */
static int on_events(struct watch *w, const uint8_t *buf, size_t n)
{
	size_t off = 0;
	int r = 0;

	while (r != -ECANCELED && off + sizeof(struct inotify_event) <= n) {
		const struct inotify_event *ev = (const void *)(buf + off);

		off += sizeof(*ev) + ev->len;
		r = on_event(w, ev);
		if (r < 0 && r != -ECANCELED)
			r = emit(w, WATCH_OVERFLOW, true, 0, 0, "", 0);
	}
	return r;
}

static void thread_loop(struct watch *w)
{
	union {
		struct inotify_event ev;        /* alignment */
		uint8_t b[EVBUF_CAP];
	} buf;
	int r = 0;

	if (w->init_fail)
		r = emit(w, WATCH_FAILED, true, 0, w->init_err, w->init_fail, strlen(w->init_fail));
	while (r != -ECANCELED) {
		ssize_t n = read(w->ifd, buf.b, sizeof(buf.b));

		if (n > 0) {
			r = on_events(w, buf.b, (size_t)n);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			break;
		if (errno == EAGAIN)    /* the kernel queue is empty */
			mv_expire(w);
		if ((r = flush_records(w)) < 0)
			break;
		r = wait_events(w);
		if (r < 0 && r != -ECANCELED)
			break;
	}
}

static void *thread_main(void *arg)
{
	struct watch *w = arg;
	int r = thread_init(w);

	start_done(w, r);
	if (r == 0)
		thread_loop(w);
	(void)flush_records(w);  /* best effort: the reader rescans anyway */
	close(w->wfd);          /* the reader sees end of file: -EPIPE */
	w->wfd = -1;
	return NULL;
}

/* ---- start, stop ---- */

static void watch_free(struct watch *w)
{
	int fds[] = { w->rfd, w->wfd, w->stop_rfd, w->stop_wfd, w->ifd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (unsigned i = 0; i < MV_MAX; i++)
		free(w->mv[i].path);
	map_free(w);
	free(w->init_fail);
	free(w->root);
	free(w->rbuf);
	free(w->obuf);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

static int watch_alloc(const char *root, const struct exclude *ex, struct watch **ret_w)
{
	struct watch *w = calloc(1, sizeof(*w));
	int p[2], q[2];

	if (!w)
		return -ENOMEM;
	w->rfd = w->wfd = w->stop_rfd = w->stop_wfd = w->ifd = w->root_wd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	*ret_w = w;
	w->ex = ex;
	w->root_len = strlen(root);
	while (w->root_len > 1 && root[w->root_len - 1] == '/')
		w->root_len--;
	w->root = strndup(root, w->root_len);
	w->nb = 64;
	w->tab = calloc(w->nb, sizeof(*w->tab));
	w->rbuf = malloc(RBUF_CAP);
	w->obuf = malloc(OBUF_CAP);
	if (!w->root || !w->tab || !w->rbuf || !w->obuf)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	w->rfd = p[0];
	w->wfd = p[1];
	if (pipe2(q, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	w->stop_rfd = q[0];
	w->stop_wfd = q[1];
	(void)fcntl(w->wfd, F_SETPIPE_SZ, PIPE_SIZE);  /* best effort */
	return 0;
}

int watch_start(const char *root, const struct exclude *ex, struct watch **ret_w)
{
	struct watch *w = NULL;
	int r;

	r = watch_alloc(root, ex, &w);
	if (r == 0)
		r = -pthread_create(&w->thr, NULL, thread_main, w);
	if (r < 0) {
		if (w)
			watch_free(w);
		return r;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->start_done)
		pthread_cond_wait(&w->cv, &w->mu);
	r = w->start_rc;
	pthread_mutex_unlock(&w->mu);
	if (r < 0) {
		watch_stop(w);
		return r;
	}
	*ret_w = w;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	while (write(w->stop_wfd, "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(w->thr, NULL);
	watch_free(w);
}

int watch_fd(const struct watch *w)
{
	return w->rfd;
}

size_t watch_count(struct watch *w)
{
	return atomic_load(&w->count);
}

/* ---- records: reader side ---- */

static int decode(struct watch *w, struct watch_rec *rec)
{
	const uint8_t *p = w->rbuf + w->rpos;
	size_t avail = w->rlen - w->rpos;
	uint16_t len;

	if (avail < REC_HDR)
		return -EAGAIN;
	memcpy(&len, p + 2, 2);
	if (avail < REC_HDR + (size_t)len)
		return -EAGAIN;
	rec->kind = p[0];
	rec->is_dir = p[1];
	memcpy(&rec->cookie, p + 4, 4);
	memcpy(&rec->err, p + 8, 4);
	memcpy(w->rpath, p + REC_HDR, len);
	w->rpath[len] = 0;
	rec->path = w->rpath;
	rec->path_len = len;
	w->rpos += REC_HDR + len;
	return 1;
}

int watch_read(struct watch *w, struct watch_rec *ret_rec)
{
	for (;;) {
		ssize_t n;
		int r = decode(w, ret_rec);

		if (r != -EAGAIN)
			return r;
		memmove(w->rbuf, w->rbuf + w->rpos, w->rlen - w->rpos);
		w->rlen -= w->rpos;
		w->rpos = 0;
		n = read(w->rfd, w->rbuf + w->rlen, RBUF_CAP - w->rlen);
		if (n > 0)
			w->rlen += (size_t)n;
		else if (n == 0)
			return -EPIPE;
		else if (errno != EINTR)
			return -errno;
	}
}
