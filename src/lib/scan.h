/* scan: walk a mirror tree into entries (source side and tree comparison).
 *
 * Order: the root entry (path ""), then for every directory all of its
 * children in readdir order, then a SCAN_DIR_DONE item for that directory,
 * then its subdirectories one by one (depth first).  The receiving side can
 * therefore prune a directory as soon as it sees SCAN_DIR_DONE.
 *
 * Regular files with nlink > 1 are reported as ENT_FILE the first time their
 * (dev, ino) is seen and as ENT_HARDLINK (link = first path) afterwards.
 * Excluded paths are skipped (with their subtree); with one_fs, directories
 * on another file system are reported but not entered. */
#ifndef MIRROR_SCAN_H
#define MIRROR_SCAN_H

#include <stdbool.h>

#include "entry.h"
#include "exclude.h"

enum scan_kind {
	SCAN_ENTRY = 1,
	SCAN_DIR_DONE = 2,   /* ret->path is the directory; other fields zero */
	SCAN_END = 3,
};

struct scan_opts {
	bool one_fs;
	bool xattrs;                  /* read xattrs/ACLs into entries */
	const struct exclude *ex;     /* may be NULL; borrowed */
	bool one_level;               /* the root and its children only */
	bool names_only;              /* entries carry path and type only, from
				       * the directory's listing where it gives
				       * the type (no stat, no xattrs, no
				       * hardlink detection): a count, a look
				       * for names */
	/* Called before a directory is read, with its path from the walk's
	 * root (the watcher's start-up: watch_wait_dir); <0 ends the walk with
	 * that error.  NULL: none.  Also honoured by idxwalk.h. */
	int (*gate)(void *ctx, const char *path, size_t len);
	void *gate_ctx;
};

struct scan;

/* rootfd is borrowed; opts copied (ex stays borrowed). */
struct scan *scan_new(int rootfd, const struct scan_opts *opts);
void scan_free(struct scan *s);   /* NULL is a no-op */
/* Next item into ret (caller clears it with entry_clear()).  Returns the
 * scan_kind, or -errno for a path that could not be read: ret->path then
 * names it, and the walk goes on at the next call.  Entries that vanish
 * during the walk are skipped silently. */
int scan_next(struct scan *s, struct entry *ret);
/* Stat one path beneath rootfd into ret (no hardlink detection). */
int scan_stat(int rootfd, const char *path, size_t len, bool xattrs, struct entry *ret);

#endif
