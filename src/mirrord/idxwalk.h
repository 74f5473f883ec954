/* idxwalk: walk a tree in the tree index's order (src/lib/index.h), one
 * index record per path, for a merge with the index's rows.
 *
 * The index sorts full paths bytewise; a depth-first walk yields that order
 * when each directory's children are sorted by the key name for the child
 * itself and name + "/" for a subdirectory's subtree (so "a", "a.txt",
 * "a/x": '.' sorts before '/').  Each directory is read whole (getdents in
 * one reused buffer, fstatat on its fd) into buffers reused at each depth:
 * no allocation per path, memory bounded by the largest directory and the
 * depth.  Excluded paths are skipped with their subtree; with one_fs,
 * directories on another file system are reported but not entered.  The
 * options' gate is called before each directory is listed (scan.h);
 * xattrs and one_level are ignored.  A
 * regular file is always ENT_FILE (no hardlink detection). */
#ifndef MIRRORD_IDXWALK_H
#define MIRRORD_IDXWALK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exclude.h"
#include "index.h"
#include "scan.h"

/* What the index does not keep of a path: whether its subtree is walked
 * (a directory not excluded, not on another file system with one_fs),
 * and its link count and device (hardlinks). */
struct idxwalk_info {
	bool enter;
	uint32_t nlink;
	uint64_t dev;
};

/* fn(ctx, path, len, rec, info) for every path beneath rootfd (borrowed),
 * the root ("") first; path lives until fn returns.  Stops at fn's first
 * non-zero return and returns it; 0 when done; -errno when a directory or
 * a path could not be read (the walk is incomplete).  Paths that vanish
 * during the walk are skipped. */
int idxwalk(int rootfd, const struct scan_opts *so,
	    int (*fn)(void *ctx, const char *path, size_t len, const struct index_rec *rec,
		      const struct idxwalk_info *info),
	    void *ctx);

#endif
