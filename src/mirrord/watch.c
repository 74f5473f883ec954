/* watch: inotify watchers of several roots on libinotifytools.  See watch.h.
 *
 * libinotifytools gives us the inotify instance and the event stream
 * (inotifytools_init, inotifytools_next_events, inotifytools_cleanup).  It
 * keeps one instance per process, so every root shares it: the hub below
 * holds the library, its descriptor and the one thread that reads it, and
 * routes each event to the root whose wd map holds the event's watch
 * descriptor.  Its wd -> filename map keeps stale entries after IN_IGNORED
 * and silently drops a second watch with a reused name, which breaks
 * renames, so this file adds watches on the instance's descriptor itself
 * and keeps a map per root.  The descriptor is found in /proc/self/fd (the
 * library exposes none) and is also how the thread sleeps in poll() next
 * to its wake pipe.
 *
 * Threads: watch_start and watch_stop (any thread, serialised by hub.life)
 * only queue requests and wait; the hub thread alone walks trees, touches
 * the wd maps, the rename tables and the record batches, and calls the
 * library after inotifytools_init. */
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
#include <time.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>

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
#define MV_MAX 64               /* directory renames awaiting their MOVED_TO */
#define LOST_MAX 256            /* directories not watched as an ancestor moved */
#define GATHER_MS 1             /* while events flow, read them this often */

#define NAME_INLINE 10          /* longer names are on the heap */
#define NAME_MAX_LEN 0x7fff
#define BLOCK_NODES 2048        /* nodes per block (64 KiB) */

/* A watched directory (or a ghost, or a free node: see the map below).
 * Ids are 1-based, 0 is none. */
struct wnode {
	uint32_t next;          /* hash chain, ghost list or free list */
	uint32_t parent;        /* 0 for the root */
	uint32_t id;            /* its own */
	int32_t wd;             /* -1: a ghost */
	uint32_t kids;          /* nodes whose parent this is */
	uint16_t nlen : 15;
	uint16_t mark : 1;      /* map_all */
	char name[NAME_INLINE]; /* nlen bytes, no NUL (or a char * to them) */
};
_Static_assert(sizeof(struct wnode) == 32, "a node is 32 bytes");
_Static_assert(NAME_INLINE >= sizeof(char *), "a name's pointer fits in a node");

struct pending_mv {
	uint32_t cookie;
	char *path;             /* NULL: slot free */
	size_t len;
};

/* A directory whose watch could not be added because a directory above
 * it moved first: its rename, still queued, tells where it went. */
struct lost {
	char *path;             /* NULL: slot free */
	size_t len;
};

/* One watched root.  Fields marked (hub) belong to the hub thread once the
 * root is queued; (mu) ones are shared under hub.mu. */
struct watch {
	struct watch *next;     /* (mu) hub.adds, then (hub) hub.roots */
	int rfd, wfd;           /* record pipe; wfd (hub) */
	int stop_rfd, stop_wfd; /* written once by watch_stop */
	char *root;
	size_t root_len;
	const struct exclude *ex;
	uint32_t *tab;          /* (hub) wd -> directory */
	size_t nb;
	struct wnode **blocks;  /* (hub) the nodes */
	uint32_t used;          /* (hub) ids handed out */
	uint32_t free_ids;      /* (hub) freed nodes */
	uint32_t ghosts;        /* (hub) nodes without a watch, kept as parents */
	struct wnode *rootn;    /* (hub) the root's node, always there */
	atomic_size_t count;
	int root_wd;
	struct pending_mv mv[MV_MAX];   /* (hub) */
	unsigned mv_next;
	struct lost lost[LOST_MAX];     /* (hub) */
	unsigned lost_next;
	bool initial;           /* in the initial walk: failures go to init_* */
	int init_err;
	char *init_fail;
	bool detached;          /* (hub) no watches, wfd closed: reader sees EPIPE */
	bool stop_req;          /* (mu) watch_stop waits for done */
	bool done;              /* (mu) the hub let go of it */
	int start_rc;           /* (mu) valid once done or started */
	bool started;           /* (mu) the initial walk ended */
	char *front;            /* (mu) the initial walk's frontier: the last
				 * directory it watched, in watch_dir_cmp
				 * order; WATCH_PATH_MAX + 1 bytes */
	size_t front_len;
	bool front_set;         /* (mu) the root is watched */
	const char *want;       /* (mu) what the reader waits for (watch_wait_dir) */
	size_t want_len;
	uint8_t *obuf;          /* (hub) records not yet written, OBUF_CAP */
	size_t olen;
	uint8_t *rbuf;          /* reader */
	size_t rpos, rlen;
	char rpath[WATCH_PATH_MAX + 1];
};

/* The one libinotifytools instance of the process and its reader thread,
 * running while at least one root is watched. */
static struct hub {
	pthread_mutex_t life;   /* serialises watch_start / watch_stop */
	pthread_mutex_t mu;     /* the (mu) fields, adds, quit, dead */
	pthread_cond_t cv;
	unsigned refs;          /* (life) roots started and not stopped */
	bool running;           /* (life) the thread was started, not joined */
	pthread_t thr;
	int ifd;                /* libinotifytools' inotify descriptor */
	int wake_rfd, wake_wfd;
	struct watch *adds;     /* (mu) roots waiting for their initial walk */
	struct watch *roots;    /* (hub) */
	bool quit;              /* (mu) */
	bool dead;              /* (mu) the thread ended */
	atomic_uint_fast64_t sync_req, sync_done;   /* watch_sync_request */
} hub = {
	.life = PTHREAD_MUTEX_INITIALIZER,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.ifd = -1, .wake_rfd = -1, .wake_wfd = -1,
};

/* ---- wd -> directory: a tree of names ----
 *
 * One node per watched directory: its wd, its name and its parent, so a
 * directory's path is built when an event needs it and a directory rename
 * is one node moved, whatever lies beneath it.  Nodes are found by wd (a
 * hash of chains) or, for renames and moves out of the tree, by path (a
 * scan of the nodes, as rare as those events).
 *
 * Nodes are 32 bytes in blocks that never move (freed ones are reused),
 * linked by 32-bit ids; a name of up to NAME_INLINE bytes is in the node,
 * a longer one on the heap.  100,000 directories cost about 3.5 MB.
 *
 * A node whose watch went while nodes below it are still watched (the
 * kernel dropped it first, another root took its wd, a watch was put on
 * it again under another name) stays as a ghost (wd -1, on the ghost list,
 * not in the hash) until its last child goes, so what lies below keeps
 * its path.  The root's node stays until the map is freed.  Paths are
 * thus exactly those a map of full paths would hold. */

/* path equals prefix or lies below it. */
static bool under(const char *path, size_t len, const char *pre, size_t plen)
{
	return len >= plen && !memcmp(path, pre, plen) && (len == plen || path[plen] == '/');
}

static struct wnode *node_of(const struct watch *w, uint32_t id)
{
	return id ? &w->blocks[(id - 1) / BLOCK_NODES][(id - 1) % BLOCK_NODES] : NULL;
}

static struct wnode *parent_of(const struct watch *w, const struct wnode *n)
{
	return node_of(w, n->parent);
}

static const char *node_name(const struct wnode *n)
{
	const char *p;

	if (n->nlen <= NAME_INLINE)
		return n->name;
	memcpy(&p, n->name, sizeof(p));
	return p;
}

static size_t map_slot(const struct watch *w, int wd)
{
	return ((unsigned)wd * 2654435761u) & (w->nb - 1);
}

static struct wnode *map_get(struct watch *w, int wd)
{
	struct wnode *n;

	for (n = node_of(w, w->tab[map_slot(w, wd)]); n; n = node_of(w, n->next))
		if (n->wd == wd)
			return n;
	return NULL;
}

static int map_grow(struct watch *w)
{
	size_t onb = w->nb;
	uint32_t *old = w->tab;

	w->tab = calloc(onb * 2, sizeof(*w->tab));
	if (!w->tab) {
		w->tab = old;
		return -ENOMEM;
	}
	w->nb = onb * 2;
	for (size_t i = 0; i < onb; i++) {
		while (old[i]) {
			struct wnode *n = node_of(w, old[i]);

			old[i] = n->next;
			n->next = w->tab[map_slot(w, n->wd)];
			w->tab[map_slot(w, n->wd)] = n->id;
		}
	}
	free(old);
	return 0;
}

/* Is n's path (relative to the root) path? */
static bool node_is(const struct watch *w, const struct wnode *n, const char *path, size_t len)
{
	for (const struct wnode *up; (up = parent_of(w, n)); n = up) {
		if (len < n->nlen || memcmp(path + len - n->nlen, node_name(n), n->nlen))
			return false;
		len -= n->nlen;
		if (up->parent) {
			if (!len || path[len - 1] != '/')
				return false;
			len--;
		}
	}
	return len == 0;
}

/* The node at path, or n's ancestor there (n itself included); NULL. */
static struct wnode *node_above(const struct watch *w, struct wnode *n, const char *path,
				size_t len)
{
	for (; n; n = parent_of(w, n))
		if (node_is(w, n, path, len))
			return n;
	return NULL;
}

/* n's path plus, with nlen, "/" and name; heap, NUL-terminated. */
static char *node_path(const struct watch *w, const struct wnode *n, const char *name,
		       size_t nlen, size_t *ret_len)
{
	size_t len = nlen;
	char *p;

	for (const struct wnode *k = n; k->parent; k = parent_of(w, k))
		len += k->nlen + (len ? 1 : 0);
	p = malloc(len + 1);
	if (!p)
		return NULL;
	p[len] = 0;
	*ret_len = len;
	memcpy(p + len - nlen, name, nlen);
	len -= nlen;
	for (const struct wnode *k = n; k->parent; k = parent_of(w, k)) {
		if (len < *ret_len)
			p[--len] = '/';
		len -= k->nlen;
		memcpy(p + len, node_name(k), k->nlen);
	}
	return p;
}

/* Give n the name name (copied); false on ENOMEM. */
static bool node_set_name(struct wnode *n, const char *name, size_t nlen)
{
	char *heap = NULL;

	if (nlen > NAME_MAX_LEN)
		return false;
	if (nlen > NAME_INLINE && !(heap = malloc(nlen)))
		return false;
	if (n->nlen > NAME_INLINE)
		free((void *)node_name(n));
	n->nlen = (uint16_t)(nlen & NAME_MAX_LEN);
	if (heap) {
		memcpy(heap, name, nlen);
		memcpy(n->name, &heap, sizeof(heap));
	} else {
		memcpy(n->name, name, nlen);
	}
	return true;
}

static void node_free(struct watch *w, struct wnode *n)
{
	if (n->nlen > NAME_INLINE)
		free((void *)node_name(n));
	n->nlen = 0;
	n->next = w->free_ids;
	w->free_ids = n->id;
}

/* Take n off the ghost list. */
static void ghost_unlink(struct watch *w, struct wnode *n)
{
	for (uint32_t *pp = &w->ghosts; *pp; pp = &node_of(w, *pp)->next) {
		if (*pp == n->id) {
			*pp = n->next;
			return;
		}
	}
}

/* A node of no watch and no children goes, and so do the ghosts above it
 * that it was the last child of. */
static void node_release(struct watch *w, struct wnode *n)
{
	while (n && n != w->rootn && n->wd < 0 && !n->kids) {
		struct wnode *up = parent_of(w, n);

		ghost_unlink(w, n);
		node_free(w, n);
		if (up)
			up->kids--;
		n = up;
	}
}

/* A fresh node (from the free list or a new block); NULL on ENOMEM. */
static struct wnode *node_alloc(struct watch *w)
{
	struct wnode *n;

	if (w->free_ids) {
		n = node_of(w, w->free_ids);
		w->free_ids = n->next;
		return n;
	}
	if (w->used == UINT32_MAX - 1)
		return NULL;
	if (w->used % BLOCK_NODES == 0) {
		size_t nbl = w->used / BLOCK_NODES;
		struct wnode **v = realloc(w->blocks, (nbl + 1) * sizeof(*v));

		if (!v)
			return NULL;
		w->blocks = v;
		if (!(v[nbl] = malloc(BLOCK_NODES * sizeof(**v))))
			return NULL;
	}
	n = node_of(w, ++w->used);
	n->id = w->used;
	n->nlen = 0;
	return n;
}

/* A node under parent (NULL: the root's own), not in the hash yet. */
static struct wnode *node_new(struct watch *w, struct wnode *parent, const char *name,
			      size_t nlen)
{
	struct wnode *n = nlen <= NAME_MAX_LEN ? node_alloc(w) : NULL;

	if (!n)
		return NULL;
	n->next = 0;
	n->parent = parent ? parent->id : 0;
	n->wd = -1;
	n->kids = 0;
	n->mark = false;
	if (!node_set_name(n, name, nlen)) {
		node_free(w, n);
		return NULL;
	}
	if (parent)
		parent->kids++;
	return n;
}

/* n's watch went: it leaves the hash (*pp, the link to it) and goes, or
 * stays a ghost. */
static void node_unwatch(struct watch *w, uint32_t *pp)
{
	struct wnode *n = node_of(w, *pp);

	*pp = n->next;
	n->wd = -1;
	n->next = 0;
	atomic_fetch_sub(&w->count, 1);
	if (n->kids && n != w->rootn) {
		n->next = w->ghosts;
		w->ghosts = n->id;
	} else {
		node_release(w, n);
	}
}

static void map_del(struct watch *w, int wd)
{
	for (uint32_t *pp = &w->tab[map_slot(w, wd)]; *pp; pp = &node_of(w, *pp)->next) {
		if (node_of(w, *pp)->wd == wd) {
			node_unwatch(w, pp);
			return;
		}
	}
}

/* The kernel has one watch per inode and instance: when w's new watch got
 * a wd another root still maps (a directory moved from that root into w
 * before the other's rename expired), the wd is w's now. */
static void map_steal(struct watch *w, int wd)
{
	for (struct watch *o = hub.roots; o; o = o->next)
		if (o != w && !o->detached)
			map_del(o, wd);
}

/* The first node at path (a watched one if there is one, a ghost else),
 * NULL when none. */
static struct wnode *map_find(struct watch *w, const char *path, size_t len)
{
	struct wnode *ghost = NULL;

	if (node_is(w, w->rootn, path, len))
		return w->rootn;
	for (size_t i = 0; i < w->nb; i++) {
		for (struct wnode *n = node_of(w, w->tab[i]); n; n = node_of(w, n->next)) {
			struct wnode *a = node_above(w, n, path, len);

			if (a == n)
				return n;
			if (a && !ghost)
				ghost = a;
		}
	}
	return ghost;
}

/* The node at path, made (a ghost without children yet) when there is
 * none, with those above it; NULL on ENOMEM.  Release it if unused. */
static struct wnode *map_make(struct watch *w, const char *path, size_t len)
{
	struct wnode *n = map_find(w, path, len), *up;
	const char *slash;
	size_t ulen, nlen;

	if (n)
		return n;
	slash = memrchr(path, '/', len);
	ulen = slash ? (size_t)(slash - path) : 0;
	nlen = len - ulen - (slash ? 1 : 0);
	up = map_make(w, path, ulen);
	n = up ? node_new(w, up, path + len - nlen, nlen) : NULL;
	if (!n) {
		node_release(w, up);
		return NULL;
	}
	n->next = w->ghosts;
	w->ghosts = n->id;
	return n;
}

/* Directory rel is watched as wd; its parent's node is hint when hint is
 * not NULL and at the parent's path.  A wd already mapped elsewhere (the
 * directory was renamed before its events came) is mapped anew, the old
 * node left to what lies below it, as that may be stale too.  The node,
 * or NULL on ENOMEM. */
static struct wnode *map_put(struct watch *w, int wd, const char *rel, size_t len,
			     struct wnode *hint)
{
	const char *slash = memrchr(rel, '/', len);
	size_t ulen = slash ? (size_t)(slash - rel) : 0;
	size_t nlen = len - ulen - (slash ? 1 : 0);
	struct wnode *n = map_get(w, wd), *up;

	if (n && node_is(w, n, rel, len))
		return n;
	if (atomic_load(&w->count) >= 2 * w->nb && map_grow(w) < 0)
		return NULL;
	if (!len) {
		n = w->rootn;
		if (n->wd >= 0)
			map_del(w, n->wd);
	} else {
		up = hint && node_is(w, hint, rel, ulen) ? hint : map_make(w, rel, ulen);
		n = up ? node_new(w, up, rel + len - nlen, nlen) : NULL;
		if (!n) {
			node_release(w, up);
			return NULL;
		}
	}
	/* after the new node is in: up and what is above it have a child,
	 * so the old node's going frees none of them */
	map_del(w, wd);
	map_steal(w, wd);
	n->wd = wd;
	n->next = w->tab[map_slot(w, wd)];
	w->tab[map_slot(w, wd)] = n->id;
	atomic_fetch_add(&w->count, 1);
	return n;
}

/* Every node whose path is path, each once (mark set): 0 (*ret_n may be
 * 0) or -ENOMEM. */
static int map_all(struct watch *w, const char *path, size_t len, struct wnode ***ret_v,
		   size_t *ret_n)
{
	struct wnode **v = NULL;
	size_t cnt = 0, cap = 0;

	for (size_t i = 0; i < w->nb; i++) {
		for (struct wnode *n = node_of(w, w->tab[i]); n; n = node_of(w, n->next)) {
			struct wnode *a = node_above(w, n, path, len);

			if (!a || a->mark)
				continue;
			if (cnt == cap) {
				struct wnode **nv = realloc(v, (cap = cap ? 2 * cap : 4) * sizeof(*v));
				if (!nv) {
					for (size_t k = 0; k < cnt; k++)
						v[k]->mark = false;
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			a->mark = true;
			v[cnt++] = a;
		}
	}
	*ret_v = v;
	*ret_n = cnt;
	return 0;
}

/* A directory moved inside the tree: every node at from now is at to
 * (hint: to's parent, as map_put).  -ELOOP when the map has to's parent
 * below from (it is behind the tree: the caller rescans). */
static int map_rename(struct watch *w, const char *from, size_t flen, const char *to,
		      size_t tlen, struct wnode *hint)
{
	const char *slash = memrchr(to, '/', tlen);
	size_t ulen = slash ? (size_t)(slash - to) : 0;
	size_t nlen = tlen - ulen - (slash ? 1 : 0);
	struct wnode **v, *up;
	size_t cnt;
	int r = 0;

	if (under(to, tlen, from, flen))
		return flen == tlen ? 0 : -ELOOP;
	if (map_all(w, from, flen, &v, &cnt) < 0)
		return -ENOMEM;
	up = cnt ? (hint && node_is(w, hint, to, ulen) ? hint : map_make(w, to, ulen)) : NULL;
	if (cnt && !up)
		r = -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		struct wnode *n = v[i], *old = parent_of(w, n);

		n->mark = false;
		if (r < 0)
			continue;
		if (node_above(w, up, from, flen)) {
			r = -ELOOP;
			continue;
		}
		if (!node_set_name(n, to + tlen - nlen, nlen)) {
			r = -ENOMEM;
			continue;
		}
		n->parent = up->id;
		up->kids++;
		old->kids--;
		node_release(w, old);
	}
	free(v);
	node_release(w, up);    /* made for nothing */
	return r;
}

/* A directory left the tree: drop every watch at or below it. */
static void map_unwatch(struct watch *w, const char *pre, size_t plen)
{
	for (size_t i = 0; i < w->nb; i++) {
		uint32_t *pp = &w->tab[i];

		while (*pp) {
			struct wnode *n = node_of(w, *pp);

			if (node_above(w, n, pre, plen)) {
				(void)inotify_rm_watch(hub.ifd, n->wd);
				node_unwatch(w, pp);
			} else {
				pp = &n->next;
			}
		}
	}
}

static void map_free(struct watch *w)
{
	size_t nbl = (w->used + BLOCK_NODES - 1) / BLOCK_NODES;

	for (uint32_t id = 1; id <= w->used; id++) {
		struct wnode *n = node_of(w, id);

		if (n->nlen > NAME_INLINE)
			free((void *)node_name(n));
	}
	for (size_t i = 0; i < nbl; i++)
		free(w->blocks[i]);
	free(w->blocks);
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

	if (w->wfd < 0)
		return -EPIPE;
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

/* ---- the initial walk's frontier ----
 *
 * The initial walk watches the directories in watch_dir_cmp order (depth
 * first, each directory's subdirectories sorted by name + "/"), the order
 * in which an ordered walk of the tree (idxwalk.h) lists them, and
 * publishes the last one watched: a reader may list a directory once the
 * frontier has reached it (watch_wait_dir) instead of after the whole
 * tree, and reads it after its watch landed, as the rule of watch_start
 * wants. */

int watch_dir_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c;

	if (!alen || !blen)
		return (alen > 0) - (blen > 0);        /* the root first */
	if ((c = memcmp(a, b, n)) != 0 || alen == blen)
		return c;
	/* one is a prefix of the other: compare the keys a + "/", b + "/" */
	if (alen < blen)
		return b[n] == '/' ? -1 : '/' - (unsigned char)b[n];
	return a[n] == '/' ? 1 : (unsigned char)a[n] - '/';
}

/* Directory rel is watched (the root: watch_start_async may return). */
static void front_publish(struct watch *w, const char *rel, size_t len)
{
	pthread_mutex_lock(&hub.mu);
	memcpy(w->front, rel, len);
	w->front_len = len;
	w->front_set = true;
	if (!len || (w->want && watch_dir_cmp(rel, len, w->want, w->want_len) >= 0))
		pthread_cond_broadcast(&hub.cv);
	pthread_mutex_unlock(&hub.mu);
}

static int name_cmp(const void *pa, const void *pb)
{
	const char *a = *(char *const *)pa, *b = *(char *const *)pb;

	return watch_dir_cmp(a, strlen(a), b, strlen(b));
}

/* ---- adding watches ---- */

static int add_tree(struct watch *w, const char *rel, size_t len, bool report,
		    struct wnode *up);
static int lost_push(struct watch *w, const char *rel, size_t len);

/* A watch could not be added.  0 to carry on, -ENOSPC in the initial walk,
 * -ECANCELED when stopping. */
static int watch_failed(struct watch *w, const char *rel, size_t len, int err)
{
	if (err == ENOENT || err == ENOTDIR)
		return w->initial ? 0 : lost_push(w, rel, len);
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
static int add_entry(struct watch *w, int dfd, struct wnode *dir, const char *rel, size_t len,
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
			r = add_tree(w, child, clen, report, dir);
	}
	free(child);
	return r;
}

/* Is entry de of directory dfd a directory? */
static bool entry_is_dir(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Subdirectory name of rel: 1 when it is to be watched, 0 (excluded) or
 * -ENOMEM. */
static int sub_wanted(struct watch *w, const char *rel, size_t len, const char *name)
{
	size_t clen;
	char *child;
	bool skip;

	if (!w->ex)
		return 1;
	if (!(child = join(rel, len, name, strlen(name), &clen)))
		return -ENOMEM;
	skip = excluded(w, child, clen, true);
	free(child);
	return !skip;
}

/* Collect the subdirectories of d (closed here) into *ret_v, sorted in
 * watch_dir_cmp order. */
static int list_subdirs(struct watch *w, DIR *d, const char *rel, size_t len, char ***ret_v,
			size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !entry_is_dir(dirfd(d), de))
			continue;
		if ((r = sub_wanted(w, rel, len, de->d_name)) <= 0)
			continue;       /* excluded (0), or out of memory */
		r = 0;
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 8) * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[n] = strdup(de->d_name)))
			r = -ENOMEM;
		else
			n++;
	}
	if (r == 0 && errno)
		r = watch_failed(w, rel, len, errno);
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), name_cmp);
	*ret_v = v;
	*ret_n = n;
	return r;
}

/* The initial walk below rel (node dir, its listing d): every
 * subdirectory, in watch_dir_cmp order, so the frontier only advances. */
static int scan_sorted(struct watch *w, struct wnode *dir, DIR *d, const char *rel, size_t len)
{
	char **v, *child;
	size_t n, clen;
	int r = list_subdirs(w, d, rel, len, &v, &n);

	for (size_t i = 0; i < n; i++) {
		if (r == 0) {
			child = join(rel, len, v[i], strlen(v[i]), &clen);
			r = child ? add_tree(w, child, clen, false, dir) : -ENOMEM;
			free(child);
		}
		free(v[i]);
	}
	free(v);
	return r;
}

/* List directory rel, watched as wd (node dir).  When it moved (or went) between its
 * watch and this, the watch is dropped again: kept, it would make the
 * queued rename look like one of a directory already listed, and what the
 * directory holds would never be reported. */
static int scan_dir(struct watch *w, struct wnode *dir, const char *full, const char *rel,
		    size_t len, bool report)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	fd = open(full, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (len > 0 && (err == ENOENT || err == ENOTDIR)) {
			int wd = dir->wd;
			(void)inotify_rm_watch(hub.ifd, wd);
			map_del(w, wd);
		}
		return watch_failed(w, rel, len, err);
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!report)
		return scan_sorted(w, dir, d, rel, len);
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			r = add_entry(w, dirfd(d), dir, rel, len, de, report);
	}
	if (r == 0 && errno)
		r = watch_failed(w, rel, len, errno);
	closedir(d);
	return r;
}

/* Watch rel, then list it (so entries created before the watch landed are
 * seen), recursively.  With report, every entry found is reported.  up:
 * the node of rel's parent if the caller has it (else it is looked up). */
static int add_tree(struct watch *w, const char *rel, size_t len, bool report,
		    struct wnode *up)
{
	struct wnode *n;
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
	wd = inotify_add_watch(hub.ifd, full, WATCH_MASK);
	if (wd < 0) {
		r = errno;
		free(full);
		return len ? watch_failed(w, rel, len, r) : -r;
	}
	n = map_put(w, wd, rel, len, up);
	r = n ? 0 : -ENOMEM;
	if (r == 0 && !len)
		w->root_wd = wd;
	if (r == 0 && w->initial)
		front_publish(w, rel, len);
	if (r == 0)
		r = scan_dir(w, n, full, rel, len, report);
	free(full);
	return r;
}

/* ---- directories missed because a directory above them moved ----
 *
 * Watches are added by path.  A directory found (by an event or a listing)
 * whose path is gone when its watch is added was either removed (its
 * parent reports that) or moved with a directory above it, whose rename
 * is still queued: then nothing reports it or what it holds, and nothing
 * that happens in it later.  So when its parent's path is gone as well,
 * it is remembered until that rename comes (then it is watched and
 * reported under its new name) or the queue runs empty (then it went with
 * a directory removed or moved out of the tree). */

static bool parent_gone(struct watch *w, const char *rel, size_t len)
{
	const char *slash = memrchr(rel, '/', len);
	struct stat st;
	size_t n;

	if (!slash)
		return false;   /* the root is there */
	char *full = join(w->root, w->root_len, rel, (size_t)(slash - rel), &n);
	if (!full)
		return true;    /* cannot tell: assume the worse */
	int r = stat(full, &st);
	int err = errno;
	free(full);
	return r < 0 ? err == ENOENT || err == ENOTDIR : !S_ISDIR(st.st_mode);
}

static void lost_clear(struct lost *k)
{
	free(k->path);
	k->path = NULL;
}

/* 0, or <0 from emit when the oldest had to be dropped (a full rescan). */
static int lost_push(struct watch *w, const char *rel, size_t len)
{
	if (!parent_gone(w, rel, len))
		return 0;       /* removed: its parent reports that */
	struct lost *k = &w->lost[w->lost_next++ % LOST_MAX];
	bool dropped = k->path != NULL;
	lost_clear(k);
	k->path = strndup(rel, len);
	k->len = len;
	if (!k->path || dropped)   /* cannot follow every one: rescan all */
		return emit(w, WATCH_OVERFLOW, true, 0, 0, "", 0);
	return 0;
}

/* The queue ran empty: every rename queued before a failure was seen. */
static void lost_expire(struct watch *w)
{
	for (unsigned i = 0; i < LOST_MAX; i++)
		lost_clear(&w->lost[i]);
}

/* Directory from moved to to: watch and report what was missed beneath
 * it; with !follow (to is watched and reported whole) just forget it. */
static int lost_moved(struct watch *w, const char *from, size_t flen, const char *to,
		      size_t tlen, bool follow)
{
	int r = 0;

	for (unsigned i = 0; r == 0 && i < LOST_MAX; i++) {
		struct lost k = w->lost[i];
		if (!k.path || !under(k.path, k.len, from, flen) || k.len == flen)
			continue;
		w->lost[i].path = NULL;
		size_t n;
		char *p = follow ? join(to, tlen, k.path + flen + 1, k.len - flen - 1, &n) : NULL;
		free(k.path);
		if (!follow)
			continue;
		if (!p)
			return -ENOMEM;
		r = emit(w, WATCH_DIR_CREATED, true, 0, 0, p, n);
		if (r == 0)
			r = add_tree(w, p, n, true, NULL);
		free(p);
	}
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
		for (struct wnode *k = node_of(w, w->tab[i]); wd < 0 && k; k = node_of(w, k->next))
			if (node_is(w, k, from, flen))
				wd = k->wd;
	char *full = join(w->root, w->root_len, to, tlen, &n);
	if (!full)
		return true;            /* no memory: the caller's rescan covers it */
	int now = inotify_add_watch(hub.ifd, full, WATCH_MASK);
	free(full);
	return now < 0 || now == wd;
}

/* Directory path (in the directory watched as pwd) moved to. */
static int dir_moved_to(struct watch *w, int pwd, uint32_t cookie, const char *path, size_t len,
			bool skip)
{
	struct pending_mv *m = mv_find(w, cookie);
	int r;

	if (m && skip)
		map_unwatch(w, m->path, m->len);
	if (m && !skip) {
		bool same = mv_watched(w, m->path, m->len, path, len);
		r = same ? map_rename(w, m->path, m->len, path, len, map_get(w, pwd)) : 0;
		if (r == 0)
			r = emit(w, WATCH_MOVED_TO, true, cookie, 0, path, len);
		if (r == 0)
			r = lost_moved(w, m->path, m->len, path, len, same);
		mv_clear(m);
		/* not watched yet: watch it and report what it holds */
		return r < 0 || same ? r : add_tree(w, path, len, true, map_get(w, pwd));
	}
	if (m)
		mv_clear(m);
	if (skip)
		return 0;
	r = emit(w, WATCH_DIR_CREATED, true, 0, 0, path, len);
	return r < 0 ? r : add_tree(w, path, len, true, map_get(w, pwd));
}

/* ---- events ---- */

static int on_named(struct watch *w, const struct inotify_event *ev, const char *path, size_t len)
{
	bool is_dir = ev->mask & IN_ISDIR;
	bool skip = excluded(w, path, len, is_dir);

	if (ev->mask & IN_MOVED_TO && is_dir)
		return dir_moved_to(w, ev->wd, ev->cookie, path, len, skip);
	if (ev->mask & IN_MOVED_FROM && is_dir && !skip)
		mv_push(w, ev->cookie, path, len);
	if (skip)
		return 0;
	if (ev->mask & IN_CREATE && is_dir) {
		int r = emit(w, WATCH_DIR_CREATED, true, 0, 0, path, len);

		return r < 0 ? r : add_tree(w, path, len, true, map_get(w, ev->wd));
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
	path = node_path(w, n, ev->name, nlen, &plen);
	if (!path)
		return -ENOMEM;
	r = on_named(w, ev, path, plen);
	free(path);
	return r;
}

/* ---- the hub: one instance, one thread, many roots ---- */

static bool is_inotify_fd(int dfd, const char *name)
{
	char link[64];
	ssize_t n = readlinkat(dfd, name, link, sizeof(link) - 1);

	if (n < 0)
		return false;
	link[n] = 0;
	return !strcmp(link, "anon_inode:inotify");
}

/* Count the inotify descriptors of this process that are not in skip;
 * the first one found goes to *ret_fd. */
static int find_inotify_fd(const int *skip, int nskip, int *ret_fd)
{
	struct dirent *de;
	int found = 0;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		bool old = false;

		if (de->d_name[0] == '.' || fd == dirfd(d) || !is_inotify_fd(dirfd(d), de->d_name))
			continue;
		for (int i = 0; i < nskip; i++)
			old |= skip[i] == fd;
		if (!old && found++ == 0)
			*ret_fd = fd;
	}
	closedir(d);
	return found;
}

/* Collect up to cap existing inotify fds (to tell ours apart). */
static int list_inotify_fds(int *fds, int cap)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < cap) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd != dirfd(d) && is_inotify_fd(dirfd(d), de->d_name))
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

/* inotifytools_init and find its descriptor. */
static int hub_init_lib(void)
{
	int before[64], nb, n;

	nb = list_inotify_fds(before, 64);
	if (nb < 0)
		return nb;
	if (!inotifytools_init(0, 0, 0))
		return -(inotifytools_error() ? inotifytools_error() : EIO);
	n = find_inotify_fd(before, nb, &hub.ifd);
	if (n != 1) {
		inotifytools_cleanup();
		hub.ifd = -1;
		return n < 0 ? n : -EBUSY;
	}
	if (fcntl(hub.ifd, F_SETFD, FD_CLOEXEC) < 0) {
		n = -errno;
		inotifytools_cleanup();
		hub.ifd = -1;
		return n;
	}
	return 0;
}

static void hub_wake(void)
{
	while (write(hub.wake_wfd, "x", 1) < 0 && errno == EINTR)
		;
	/* EAGAIN: the pipe is full of wake-ups already */
}

static void drain(int fd)
{
	char b[64];

	while (read(fd, b, sizeof(b)) > 0)
		;
}

/* Sleep until the kernel has events or a request comes. */
static int wait_events(void)
{
	struct pollfd pfd[2] = {
		{ .fd = hub.ifd, .events = POLLIN },
		{ .fd = hub.wake_rfd, .events = POLLIN },
	};

	if (poll(pfd, 2, -1) < 0 && errno != EINTR)
		return -errno;
	if (pfd[1].revents)
		drain(hub.wake_rfd);
	return 0;
}

/* Events are flowing (the last read found some): instead of waking for
 * each one, let them gather for GATHER_MS, then read them all at once.  A
 * burst of 10,000 new files woke this thread ~25,000 times, once per event
 * or two, each wake-up also a pipe write and a wake-up of the reader; now
 * it wakes at most 1,000 times a second, and an event after a quiet spell
 * is still read at once.  Requests (wake pipe) end the wait early. */
static int gather_events(void)
{
	struct pollfd pfd = { .fd = hub.wake_rfd, .events = POLLIN };
	int r = poll(&pfd, 1, GATHER_MS);

	if (r < 0 && errno != EINTR)
		return -errno;
	if (r > 0)
		drain(hub.wake_rfd);
	return 0;
}

/* Remove every watch of w. */
static void map_unwatch_all(struct watch *w)
{
	for (size_t i = 0; i < w->nb; i++) {
		while (w->tab[i]) {
			/* EINVAL: the kernel dropped it already (IN_IGNORED queued) */
			(void)inotify_rm_watch(hub.ifd, node_of(w, w->tab[i])->wd);
			node_unwatch(w, &w->tab[i]);
		}
	}
}

/* The root stops receiving: its watches go (their IN_IGNORED and any
 * queued event then match no root and are dropped), the batch is dropped
 * and its reader sees end of file (-EPIPE). */
static void root_detach(struct watch *w)
{
	if (w->detached)
		return;
	map_unwatch_all(w);
	for (unsigned i = 0; i < MV_MAX; i++)
		mv_clear(&w->mv[i]);
	w->olen = 0;
	if (w->wfd >= 0)
		close(w->wfd);
	w->wfd = -1;
	w->detached = true;
}

/* An event for w could not be handled (e.g. ENOMEM): tell it to rescan;
 * if even that fails, or w is stopping, detach it. */
static void root_result(struct watch *w, int r)
{
	if (r < 0 && r != -ECANCELED)
		r = emit(w, WATCH_OVERFLOW, true, 0, 0, "", 0);
	if (r < 0)
		root_detach(w);
}

static struct watch *root_of(int wd)
{
	for (struct watch *w = hub.roots; w; w = w->next)
		if (!w->detached && map_get(w, wd))
			return w;
	return NULL;
}

/* Route one event: an overflow of the shared queue lost events of every
 * root, so each rescans; others go to the root owning the wd, or nowhere
 * (a watch dropped already, a stopped root). */
static void hub_route(const struct inotify_event *ev)
{
	struct watch *w;

	if (ev->mask & IN_Q_OVERFLOW) {
		for (w = hub.roots; w; w = w->next)
			if (!w->detached)
				root_result(w, emit(w, WATCH_OVERFLOW, true, 0, 0, "", 0));
		return;
	}
	w = root_of(ev->wd);
	if (w)
		root_result(w, on_event(w, ev));
}

/* The kernel queue is empty: expire renames, write the batches. */
static void hub_drained(void)
{
	for (struct watch *w = hub.roots; w; w = w->next) {
		if (w->detached)
			continue;
		mv_expire(w);
		lost_expire(w);
		if (flush_records(w) < 0)
			root_detach(w);
	}
}

/* A new root: watch its tree (in this thread, so events that arrive for
 * it meanwhile find its map), report a first failure, then join. */
static int root_add(struct watch *w)
{
	int r;

	w->initial = true;
	r = add_tree(w, "", 0, false, NULL);
	w->initial = false;
	if (r == 0 && w->init_fail)
		r = emit(w, WATCH_FAILED, true, 0, w->init_err, w->init_fail, strlen(w->init_fail));
	if (r < 0)
		root_detach(w);
	return r;
}

/* Take the queued roots (walking each without the lock held). */
static void hub_adds(void)
{
	for (;;) {
		struct watch *w;
		int r;

		pthread_mutex_lock(&hub.mu);
		w = hub.adds;
		if (w)
			hub.adds = w->next;
		pthread_mutex_unlock(&hub.mu);
		if (!w)
			return;
		r = root_add(w);
		pthread_mutex_lock(&hub.mu);
		w->next = hub.roots;
		hub.roots = w;
		w->start_rc = r;
		w->started = true;
		pthread_cond_broadcast(&hub.cv);
		pthread_mutex_unlock(&hub.mu);
	}
}

/* Let go of the roots whose watch_stop waits; false once told to quit. */
static bool hub_stops(void)
{
	bool quit;

	pthread_mutex_lock(&hub.mu);
	for (struct watch **pp = &hub.roots; *pp;) {
		struct watch *w = *pp;

		if (!w->stop_req) {
			pp = &w->next;
			continue;
		}
		root_detach(w);
		*pp = w->next;
		w->done = true;
		pthread_cond_broadcast(&hub.cv);
	}
	quit = hub.quit;
	pthread_mutex_unlock(&hub.mu);
	return !quit;
}

static int hub_loop(void)
{
	struct inotify_event *ev;
	bool busy = false;          /* this round read events */

	for (;;) {
		/* read before the queue is found empty: every event queued
		 * before the request it names is in the pipes below */
		uint64_t sync = atomic_load(&hub.sync_req);
		/* timeout 0: drain what the library buffered, never block */
		ev = inotifytools_next_events(0, 1);
		if (ev) {
			hub_route(ev);
			busy = true;
			continue;
		}
		if (inotifytools_error() && inotifytools_error() != EINTR)
			return -inotifytools_error();
		hub_drained();
		atomic_store(&hub.sync_done, sync);
		hub_adds();
		if (!hub_stops())
			return 0;
		int r = busy ? gather_events() : wait_events();
		busy = false;
		if (r < 0)
			return r;
	}
}

/* The thread ended (quit, or the instance failed): every root left is
 * detached, so its reader sees -EPIPE, rescans and restarts. */
static void *hub_main(void *arg)
{
	/* a failure of the instance needs no log here: every reader sees
	 * -EPIPE and its owner logs the restart */
	(void)hub_loop();
	hub_drained();          /* best effort: the readers rescan anyway */
	pthread_mutex_lock(&hub.mu);
	hub.dead = true;
	for (struct watch *w = hub.roots; w; w = w->next) {
		root_detach(w);
		w->done = true;
	}
	for (struct watch *w = hub.adds; w; w = w->next) {
		w->start_rc = -EIO;     /* never walked: its reader must not wait */
		w->started = w->done = true;
	}
	hub.roots = hub.adds = NULL;
	pthread_cond_broadcast(&hub.cv);
	pthread_mutex_unlock(&hub.mu);
	return arg;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* First root: the library, the wake pipe, the thread.  hub.life held. */
static int hub_up(void)
{
	int p[2], r;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	hub.wake_rfd = p[0];
	hub.wake_wfd = p[1];
	r = hub_init_lib();
	if (r == 0) {
		hub.quit = hub.dead = false;
		hub.roots = hub.adds = NULL;
		r = -pthread_create(&hub.thr, NULL, hub_main, NULL);
		if (r < 0)
			inotifytools_cleanup();
	}
	hub.running = r == 0;
	if (r < 0) {
		close_fd(&hub.wake_rfd);
		close_fd(&hub.wake_wfd);
		hub.ifd = -1;
	}
	return r;
}

/* Join the ended thread, release the library.  hub.life held. */
static void hub_reap(void)
{
	int r = pthread_join(hub.thr, NULL);

	if (r)          /* a broken invariant: the thread is ours */
		abort();
	inotifytools_cleanup(); /* closes hub.ifd */
	hub.ifd = -1;
	hub.roots = hub.adds = NULL;
	close_fd(&hub.wake_rfd);
	close_fd(&hub.wake_wfd);
	hub.running = false;
}

/* Last root gone: stop the thread.  hub.life held. */
static void hub_down(void)
{
	pthread_mutex_lock(&hub.mu);
	hub.quit = true;
	pthread_mutex_unlock(&hub.mu);
	hub_wake();
	hub_reap();
}

static bool hub_dead(void)
{
	bool dead;

	pthread_mutex_lock(&hub.mu);
	dead = hub.dead;
	pthread_mutex_unlock(&hub.mu);
	return dead;
}

/* ---- start, stop ---- */

static void watch_free(struct watch *w)
{
	if (!w)
		return;
	int fds[] = { w->rfd, w->wfd, w->stop_rfd, w->stop_wfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (unsigned i = 0; i < MV_MAX; i++)
		free(w->mv[i].path);
	for (unsigned i = 0; i < LOST_MAX; i++)
		free(w->lost[i].path);
	map_free(w);
	free(w->init_fail);
	free(w->front);
	free(w->root);
	free(w->rbuf);
	free(w->obuf);
	free(w);
}

static int watch_alloc(const char *root, const struct exclude *ex, struct watch **ret_w)
{
	struct watch *w = calloc(1, sizeof(*w));
	int p[2], q[2];

	if (!w)
		return -ENOMEM;
	w->rfd = w->wfd = w->stop_rfd = w->stop_wfd = w->root_wd = -1;
	*ret_w = w;
	w->ex = ex;
	w->root_len = strlen(root);
	while (w->root_len > 1 && root[w->root_len - 1] == '/')
		w->root_len--;
	w->root = strndup(root, w->root_len);
	w->nb = 64;
	w->tab = calloc(w->nb, sizeof(*w->tab));
	w->rootn = node_new(w, NULL, "", 0);
	w->rbuf = malloc(RBUF_CAP);
	w->obuf = malloc(OBUF_CAP);
	w->front = malloc(WATCH_PATH_MAX + 1);
	if (!w->root || !w->tab || !w->rootn || !w->rbuf || !w->obuf || !w->front)
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

/* Queue w for the hub thread and wait until its root is watched (or the
 * initial walk failed).  hub.life held; w is the hub's until watch_stop
 * (even when this fails). */
static int hub_attach(struct watch *w)
{
	int r;

	pthread_mutex_lock(&hub.mu);
	w->next = hub.adds;
	hub.adds = w;
	pthread_mutex_unlock(&hub.mu);
	hub_wake();
	pthread_mutex_lock(&hub.mu);
	while (!w->started && !w->front_set && !hub.dead)
		pthread_cond_wait(&hub.cv, &hub.mu);
	r = w->started ? w->start_rc : w->front_set ? 0 : -EIO;
	pthread_mutex_unlock(&hub.mu);
	return r;
}

/* Ask the hub to let go of w and wait.  hub.life held. */
static void hub_detach(struct watch *w)
{
	pthread_mutex_lock(&hub.mu);
	w->stop_req = true;
	pthread_mutex_unlock(&hub.mu);
	while (write(w->stop_wfd, "x", 1) < 0 && errno == EINTR)
		;       /* wakes a pipe_write blocked on w's full pipe */
	hub_wake();
	pthread_mutex_lock(&hub.mu);
	while (!w->done && !hub.dead)
		pthread_cond_wait(&hub.cv, &hub.mu);
	pthread_mutex_unlock(&hub.mu);
}

int watch_start(const char *root, const struct exclude *ex, struct watch **ret_w)
{
	struct watch *w;
	int r = watch_start_async(root, ex, &w);

	if (r == 0 && (r = watch_start_result(w, true)) < 0)
		watch_stop(w);
	else if (r == 0)
		*ret_w = w;
	return r;
}

int watch_start_result(struct watch *w, bool wait)
{
	int r;

	pthread_mutex_lock(&hub.mu);
	while (wait && !w->started && !hub.dead)
		pthread_cond_wait(&hub.cv, &hub.mu);
	r = w->started ? w->start_rc : hub.dead ? -EIO : -EINPROGRESS;
	pthread_mutex_unlock(&hub.mu);
	return r;
}

void watch_wait_dir(struct watch *w, const char *path, size_t len)
{
	struct timespec ts;

	pthread_mutex_lock(&hub.mu);
	while (!w->started && !hub.dead &&
	       watch_dir_cmp(w->front, w->front_len, path, len) < 0) {
		w->want = path;
		w->want_len = len;
		/* woken by front_publish; the timeout only bounds each wait */
		if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
			ts.tv_sec += 1;
			(void)pthread_cond_timedwait(&hub.cv, &hub.mu, &ts);
		} else {
			pthread_cond_wait(&hub.cv, &hub.mu);
		}
	}
	w->want = NULL;
	pthread_mutex_unlock(&hub.mu);
}

int watch_start_async(const char *root, const struct exclude *ex, struct watch **ret_w)
{
	struct watch *w = NULL;
	bool attached = false;
	int r;

	r = watch_alloc(root, ex, &w);
	if (r < 0) {
		watch_free(w);
		return r;
	}
	pthread_mutex_lock(&hub.life);
	if (hub.running && hub_dead())
		hub_reap();     /* the instance failed: roots left are detached */
	r = hub.running ? 0 : hub_up();
	if (r == 0) {
		hub.refs++;
		attached = true;
		r = hub_attach(w);
	}
	pthread_mutex_unlock(&hub.life);
	if (r < 0) {
		if (attached)   /* the hub holds it until stopped */
			watch_stop(w);
		else
			watch_free(w);
		return r;
	}
	*ret_w = w;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&hub.life);
	hub_detach(w);
	if (--hub.refs == 0 && hub.running)
		hub_down();
	pthread_mutex_unlock(&hub.life);
	watch_free(w);
}

uint64_t watch_sync_request(struct watch *w)
{
	(void)w;                /* one queue for every root */
	uint64_t gen = atomic_fetch_add(&hub.sync_req, 1) + 1;

	hub_wake();
	return gen;
}

bool watch_synced(struct watch *w, uint64_t gen)
{
	(void)w;
	return gen && atomic_load(&hub.sync_done) >= gen;
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
