/* watch: the inotify watchers of the mirror trees, on libinotifytools.
 *
 * Design.  libinotifytools keeps one inotify instance per process, global
 * state and no descriptor, so every watched root (one struct watch each)
 * shares one hub owned by this module (this is the only file that includes
 * <inotifytools/inotifytools.h>): the library's instance and one thread
 * that reads it, started with the first root and stopped with the last.
 * The thread keeps a wd -> directory map per root and routes each kernel event
 * to the root whose map holds its watch descriptor; it turns events into
 * small records and writes them to that root's pipe, batched (each time
 * the kernel queue is drained, or every 8 KiB); each root's owner polls
 * watch_fd() and decodes them with watch_read().
 *
 *   kernel queue --> hub thread -+-> root A's pipe (1 MiB) --> A's loop
 *                                +-> root B's pipe (1 MiB) --> B's loop
 *
 * Bounds and degradation: when a root's reader falls behind, its pipe
 * fills and the thread blocks in write (until the reader drains it or the
 * root is stopped); the shared kernel queue (fs.inotify.max_queued_events)
 * then overflows and the thread reports WATCH_OVERFLOW to every root, as
 * the lost events could be anybody's.  That is by design: each daemon
 * loop answers with a rescan, never silence.
 *
 * Watched events (directories only, IN_ONLYDIR | IN_DONT_FOLLOW, so a
 * symlink is never followed out of the tree): IN_CLOSE_WRITE, IN_MODIFY,
 * IN_ATTRIB, IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO,
 * IN_DELETE_SELF, IN_MOVE_SELF, with IN_EXCL_UNLINK (no events for files
 * that were unlinked while open).
 *
 * New directories: on IN_CREATE of a directory (or a directory moved in
 * from outside the tree) the thread reports WATCH_DIR_CREATED, adds the
 * watch, then lists the directory and reports every file in it as
 * WATCH_CREATE and every subdirectory as WATCH_DIR_CREATED (recursively),
 * so nothing written before the watch landed is missed.  Duplicates with
 * real events are possible; the daemon coalesces.
 *
 * Renames: WATCH_MOVED_FROM and WATCH_MOVED_TO carry the kernel cookie; the
 * daemon pairs them.  An unpaired MOVED_FROM is a move out of the tree
 * (delete), an unpaired MOVED_TO a move in (create).  For directories the
 * thread pairs them itself to keep its map right, so later
 * events under the moved directory carry the new path; a directory moved
 * out loses its watches, one moved in is reported as WATCH_DIR_CREATED
 * plus its contents instead of MOVED_TO.
 *
 * The wd -> directory maps are our own, one per root (libinotifytools' map
 * keeps stale entries for removed watches and cannot rename reliably once
 * a name is reused): a tree of names (a node per directory: wd, name,
 * parent), so a directory rename moves one node.  A wd belongs to one
 * root: events for a wd no root maps (a stopped root's, a dropped
 * watch's) are discarded.
 *
 * Excludes: paths matching the exclude list (if any) produce no records
 * and excluded directories get no watches.
 *
 * Limits: the process uses one inotify instance however many roots it
 * watches (fs.inotify.max_user_instances is not a bound); all roots share
 * fs.inotify.max_user_watches (-ENOSPC, or WATCH_FAILED with ENOSPC) and
 * the kernel queue.  Roots must not overlap: the kernel has one watch per
 * directory and instance, so a directory in two trees is reported to one.
 *
 * Threads: watch_start and watch_stop may be called from any thread; a
 * struct watch is read (watch_fd, watch_read, watch_count) by one. */
#ifndef MIRROR_WATCH_H
#define MIRROR_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_PATH_MAX 4096

enum watch_kind {
	WATCH_CLOSE_WRITE = 1,
	WATCH_MODIFY = 2,
	WATCH_ATTRIB = 3,
	WATCH_CREATE = 4,
	WATCH_DELETE = 5,
	WATCH_MOVED_FROM = 6,   /* cookie set */
	WATCH_MOVED_TO = 7,     /* cookie set */
	WATCH_DIR_CREATED = 8,  /* new directory, now watched, contents follow */
	WATCH_OVERFLOW = 9,     /* events lost: rescan path ("" = whole tree) */
	WATCH_FAILED = 10,      /* path not watched: err (ENOSPC = watch limit,
				 * raise fs.inotify.max_user_watches); rescan it
				 * and treat it as unwatched.  path "" with
				 * ENOENT: the root itself went away. */
};

/* One decoded record.  path is relative to the root, NUL-terminated,
 * path_len bytes (any bytes but NUL); owned by the struct watch and valid
 * until the next watch_read. */
struct watch_rec {
	enum watch_kind kind;
	bool is_dir;
	uint32_t cookie;
	int err;                /* positive errno, WATCH_FAILED only */
	const char *path;
	size_t path_len;
};

struct watch;
struct exclude;

/* Start watching root recursively.  ex is borrowed and must outlive the
 * watcher (NULL: no excludes).  Returns once the initial watches are in
 * place: 0, -EMFILE (inotify instance limit, first root only), -ENOSPC
 * (watch limit reached while adding the initial watches), -EIO (the shared
 * instance failed meanwhile: retry, a new one is made), -errno for the
 * root.  *ret_w owned by the caller; free with watch_stop. */
int watch_start(const char *root, const struct exclude *ex, struct watch **ret_w);
/* The same, in two steps, so that the caller can read the tree while its
 * watches are being added: watch_start_async returns once the root itself
 * is watched (0, or watch_start's errors for the root), and the hub thread
 * goes on watching the tree in watch_dir_cmp order.  The reader of w
 * calls watch_wait_dir(w, path, len) before it lists directory path
 * (relative to the root): it returns once path is watched, or will not be
 * by the initial walk (passed it: not there, excluded or failed; or the
 * walk ended), so every change the listing misses is an event.  A
 * directory created meanwhile is reported by its parent's watch, as at any
 * time.  watch_start_result(w, wait) is -EINPROGRESS until the initial
 * walk ends (wait: until then), then what watch_start returns; on a
 * failure the caller stops w.  No records come before it ends (the kernel
 * queues them, as during watch_start). */
int watch_start_async(const char *root, const struct exclude *ex, struct watch **ret_w);
void watch_wait_dir(struct watch *w, const char *path, size_t len);
int watch_start_result(struct watch *w, bool wait);
/* The initial walk's order: a before b (<0) when the ordered walk of the
 * tree index (idxwalk.h) lists directory a first, i.e. a + "/" sorts
 * bytewise before b + "/", the root ("") first of all. */
int watch_dir_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Remove w's watches (within milliseconds), free it; the last root stops
 * the thread and releases the library.  NULL is a no-op. */
void watch_stop(struct watch *w);

/* A sync point: every event the kernel queued before the request is in
 * the record pipe once watch_synced(w, gen) is true.  The reader keeps
 * reading records while it waits (the thread may wait for pipe room).
 * Returns gen, 0 when the request could not be made. */
uint64_t watch_sync_request(struct watch *w);
bool watch_synced(struct watch *w, uint64_t gen);

/* The read end (O_NONBLOCK, O_CLOEXEC) to poll for input. */
int watch_fd(const struct watch *w);
/* Decode the next record: 1 and *ret_rec, -EAGAIN when no complete record
 * is buffered (poll again), -EPIPE when the thread ended (it failed: rescan
 * and restart), -errno.  Call it until -EAGAIN before polling again: it
 * reads ahead into its own buffer. */
int watch_read(struct watch *w, struct watch_rec *ret_rec);
/* Number of directory watches in place (for status and tests). */
size_t watch_count(struct watch *w);

#endif
