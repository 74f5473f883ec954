/* auditfs: what the drift audit reads of one side's tree (both ends use
 * it, so they see their trees the same way): the children of a directory,
 * one path's metadata, one file's content digest read at a limited rate.
 *
 * Hardlinks are plain files here, symlinks are not followed (their size is
 * the target's length), and the names of the sink's temporary files
 * (".mirrord.tmp.*") and excluded paths are left out of listings. */
#ifndef MIRROR_AUDITFS_H
#define MIRROR_AUDITFS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "auditmsg.h"
#include "exclude.h"
#include "ratelimit.h"

#define AUDITFS_CHUNK 65536       /* bytes per read while hashing */

/* Called once per child, in readdir order.  Return 0 to go on (it is
 * freed after the call), 1 to go on having taken it over (its name and
 * link are the callback's to free), <0 to stop the listing with that
 * value. */
typedef int auditfs_fn(void *ctx, struct audit_item *it);

/* The children of wire directory dir (NUL-terminated at len) beneath
 * rootfd, one at a time, without holding them (the sink streams its
 * listings).  0, the callback's <0, or -errno as auditfs_list. */
int auditfs_each(int rootfd, const char *dir, size_t len, const struct exclude *ex,
		 auditfs_fn *fn, void *ctx);
/* The children of wire directory dir (NUL-terminated at len) beneath rootfd,
 * sorted by name (audit_item_cmp), names only.  ex may be NULL.  0 with
 * *ret (free with audit_items_free) and *ret_n, or -errno (-ENOENT,
 * -ENOTDIR, -ELOOP for a directory that is not there as one; -E2BIG past
 * max children).  Children that vanish while listed are left out. */
int auditfs_list(int rootfd, const char *dir, size_t len, const struct exclude *ex, size_t max,
		 struct audit_item **ret, size_t *ret_n);
/* The metadata of path (not the root; NUL-terminated at len), name "".
 * 0 or -errno. */
int auditfs_stat(int rootfd, const char *path, size_t len, struct audit_item *ret);
/* stat plus the content digest of a regular file, read in pieces of at
 * most AUDITFS_CHUNK (about an eighth of a second's worth at rl's rate),
 * each charged to rl first (NULL: unlimited).  *ret_bytes counts the bytes
 * read (also on failure).  -ESTALE when the file changed (size, mtime)
 * while it was read, -EINVAL for a non-file, -EINTR once *stop (may be
 * NULL) is set, -errno. */
int auditfs_hash(int rootfd, const char *path, size_t len, struct ratelimit *rl,
		 volatile sig_atomic_t *stop, struct audit_item *ret, uint64_t *ret_bytes);

#endif
