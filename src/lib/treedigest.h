/* treedigest: the content digest of every entry of a tree, for
 * mirror-restore --verify (both ends walk their own tree the same way).
 *
 * One record per entry the scan finds (excludes and one_fs as scan.h):
 * regular files (hardlinks included, as files) carry their size and the
 * XXH3-128 digest of their content, symlinks the digest of their target,
 * everything else its type only (size 0, digest 0), so two trees compare
 * equal when they hold the same paths with the same types and content. */
#ifndef MIRROR_TREEDIGEST_H
#define MIRROR_TREEDIGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "exclude.h"
#include "restlist.h"

/* Called once per entry; d and its path live until the call returns.
 * Return 0 to go on, <0 to stop the walk with that value. */
typedef int treedigest_fn(void *ctx, const struct restlist_digest *d);

/* Walk the tree at rootfd (borrowed).  0, the callback's <0, or -ENOMEM.
 * Paths that cannot be read are skipped and counted in *ret_errors. */
int treedigest_walk(int rootfd, const struct exclude *ex, bool one_fs, treedigest_fn *fn,
		    void *ctx, uint64_t *ret_errors);

#endif
