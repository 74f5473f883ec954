/* watch: the inotify watcher of one mirror tree.
 *
 * Design.  Every watcher (one per watched root) owns an inotify instance
 * and a thread of its own that reads it (this is the only file that
 * includes <sys/inotify.h>).  The thread turns kernel events into small
 * records and writes them to a pipe, batched (each time the kernel queue
 * is drained, or every 8 KiB); the main loop polls watch_fd() and decodes
 * them with watch_read().  Nothing is process-global, so a daemon runs as
 * many watchers as it has live sources and promoted sinks; each has its
 * own kernel queue, map, pipe and overflow, so one busy tree never makes
 * another rescan.
 *
 *   kernel queue --> watcher thread --> pipe (1 MiB) --> main loop
 *
 * Bounds and degradation: when the main loop falls behind, the pipe fills
 * and the thread blocks in write; the kernel queue (fs.inotify.
 * max_queued_events) then overflows and the thread reports WATCH_OVERFLOW.
 * That is by design: the daemon answers with a rescan, never silence.
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
 * thread pairs them itself to keep its wd -> path map right, so later
 * events under the moved directory carry the new path; a directory moved
 * out loses its watches, one moved in is reported as WATCH_DIR_CREATED
 * plus its contents instead of MOVED_TO.
 *
 * The wd -> path map is per watcher: watch descriptors are per inotify
 * instance, so two watchers never see each other's events.
 *
 * Excludes: paths matching the exclude list (if any) produce no records
 * and excluded directories get no watches.
 *
 * Limits: each watcher counts against fs.inotify.max_user_instances (128
 * by default; watch_start returns -EMFILE beyond) and all of them share
 * fs.inotify.max_user_watches (-ENOSPC, or WATCH_FAILED with ENOSPC).
 * Roots should not overlap: a directory in two trees is watched twice and
 * reported to both. */
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
 * place: 0, -EMFILE (inotify instance limit), -ENOSPC (watch limit reached
 * while adding the initial watches), -errno for the root.  *ret_w owned by
 * the caller; free with watch_stop. */
int watch_start(const char *root, const struct exclude *ex, struct watch **ret_w);
/* Stop the thread (within milliseconds), free everything.  NULL is a no-op. */
void watch_stop(struct watch *w);

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
