/* retain: versioned retention on the sink.  Before the sink replaces or
 * removes a node of the mirror tree, the node is kept in the mirror's
 * versions directory, outside the served tree, and the change is logged in
 * its index (vindex.h), so that a path's earlier versions, and the whole
 * tree as it was at an earlier time (pitview.h), can be brought back.
 *
 * Layout of the versions directory:
 *   index                        the log (vindex.h)
 *   YYYY-MM-DD/DIR/NAME@HHMMSS.NNNNNNNNN
 *                                the node that was at DIR/NAME, kept at that
 *                                UTC time (a directory keeps its subtree);
 *                                "-N" is appended on a name collision
 * A node is kept by a hard link (before an atomic replace: readers still
 * see the old or the new node, never none) or a rename (before a removal,
 * and for a directory in the way), so keeping costs no copy; only when the
 * versions directory is on another file system (EXDEV) is it copied.
 * Renames are logged, not kept.  Creations are logged too: a point-in-time
 * view must know which paths did not exist yet.
 *
 * Keeping never blocks mirroring: when a node cannot be kept (no space,
 * say), the failure is logged, the change goes ahead, and the horizon moves
 * to that time, so no point-in-time view before it pretends to be whole.
 *
 * Pruning (retain_tick) runs on the sink's timer: versions older than
 * keep_sec, beyond count per path, or beyond max_bytes in all (oldest
 * first) are removed, at most RETAIN_PRUNE_MAX per tick, and the horizon
 * moves to the newest removed (an H record appended); the index is
 * rewritten without the dropped records once they are half of it.  Hourly,
 * day directories older than keep_sec that no record uses (left by a crash
 * between keeping a node and logging it) are removed.
 *
 * Thread-safe: the session thread applies while the daemon's main thread
 * prunes.  Every function logs its own failures with the mirror's name. */
#ifndef MIRROR_RETAIN_H
#define MIRROR_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RETAIN_INDEX "index"
#define RETAIN_PRUNE_MAX 256

struct retain;

struct retain_limits {
	uint64_t keep_sec;       /* 0: no age limit */
	uint32_t count;          /* versions per path, 0: no limit */
	uint64_t max_bytes;      /* 0: no limit */
};

/* Open (creating it 0700) the versions directory dir of mirror name, whose
 * tree is rootfd (borrowed, to compare file systems).  NULL on failure,
 * logged. */
struct retain *retain_open(const char *name, const char *dir, int rootfd,
			   const struct retain_limits *lim);
void retain_free(struct retain *rt);          /* NULL is a no-op */

/* Hooks of the sink's apply (dfd/name is the node of wire path path):
 * retain_replace: path is about to be replaced atomically: keep its node
 *   (hard link; a directory is renamed away), or log a creation when there
 *   is none.  The node stays in place (except a directory).
 * retain_remove: path is about to be removed: move its node into the
 *   versions.  1 when it is gone from the tree (nothing left to remove), 0
 *   when the caller must remove it itself (absent, kept by a copy, or not
 *   kept).
 * retain_created: path (a directory) was created.
 * retain_renamed: from was renamed to to. */
void retain_replace(struct retain *rt, int dfd, const char *name, const char *path, size_t len);
int retain_remove(struct retain *rt, int dfd, const char *name, const char *path, size_t len);
void retain_created(struct retain *rt, const char *path, size_t len);
void retain_renamed(struct retain *rt, const char *from, size_t flen, const char *to, size_t tlen);
/* Make what was kept since the last call durable when the versions live
 * on another file system than the tree (the sink's syncfs covers it
 * otherwise).  0 or -errno. */
int retain_sync(struct retain *rt);

/* Prune when due (now_ns: wall clock).  Returns the number of versions
 * removed. */
size_t retain_tick(struct retain *rt, int64_t now_ns);

/* The stored name for path kept at t_ns ("YYYY-MM-DD/path@HHMMSS.N9");
 * heap, NULL on ENOMEM.  attempt > 0 appends "-attempt". */
char *retain_stored_name(const char *path, size_t len, int64_t t_ns, unsigned attempt);

#endif
