/* links: the names the live source knows for each file (pure logic, no I/O).
 *
 * inotify reports a write under the name it went through only, and the
 * sink's copies of a hardlink group share one inode that new content
 * replaces under one name.  So for a file with other names the source must
 * know them all: it sends the content under the group's first name and the
 * other names as hardlinks to it.  This map holds, per (dev, ino), the names
 * in the order they were noted; the caller checks them against the tree
 * before use (a name may have been removed or renamed since) and drops the
 * stale ones.
 *
 * Bounds: at most max_inodes inodes (links_add returns -ENOSPC: clear the
 * map and start it afresh) and LINKS_NAMES_MAX names per inode (-E2BIG).
 * Not thread-safe. */
#ifndef MIRRORD_LINKS_H
#define MIRRORD_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINKS_NAMES_MAX 64

/* The names of one inode, oldest first; NUL-terminated.  Borrowed from the
 * map: valid until the next links_get or the next call that changes the
 * map, but for links_doubt and links_drop of that inode (its group stays
 * where it is while it has a name). */
struct links_group {
	char **v;
	size_t *lens;
	bool *doubt;    /* did not check out once: may have moved with a
			 * directory rename not recorded yet */
	size_t n;
};

struct links;

/* NULL on allocation failure or max_inodes == 0. */
struct links *links_new(size_t max_inodes);
void links_free(struct links *k);              /* NULL is a no-op */
void links_clear(struct links *k);
size_t links_count(const struct links *k);     /* inodes */

/* The names of (dev, ino), or NULL when none is known. */
const struct links_group *links_get(struct links *k, uint64_t dev, uint64_t ino);
/* Add path as a name of (dev, ino), last, unless it is one already.
 * 0, -ENOSPC (too many inodes), -E2BIG (too many names), -ENOMEM, -EINVAL. */
int links_add(struct links *k, uint64_t dev, uint64_t ino, const char *path, size_t len);
/* (dev, ino) has the one name path (a file without other names). */
int links_set(struct links *k, uint64_t dev, uint64_t ino, const char *path, size_t len);
/* Name i of (dev, ino) did not check out: true when it had not before
 * (it is now in doubt), false when it was in doubt already (drop it). */
bool links_doubt(struct links *k, uint64_t dev, uint64_t ino, size_t i);
/* Forget name i of (dev, ino); the inode goes with its last name. */
void links_drop(struct links *k, uint64_t dev, uint64_t ino, size_t i);
/* An inode other than (dev, ino) with two or more names, one of which is
 * path: 1 with its (dev, ino) and the name's index, else 0.  Looks at
 * inodes with several names only. */
int links_find_name(const struct links *k, const char *path, size_t len, uint64_t dev,
		    uint64_t ino, uint64_t *ret_dev, uint64_t *ret_ino, size_t *ret_i);
/* A directory moved: names at or beneath from now lie beneath to (and are
 * no longer in doubt).
 * 0 or -ENOMEM (names not moved yet are left as they were). */
int links_rename(struct links *k, const char *from, size_t flen, const char *to, size_t tlen);

#endif
