/* nodecopy: copy and remove file system nodes between directory fds, never
 * following a symlink.  Used where a rename or hard link cannot do
 * (another file system) and by the point-in-time restore, which writes a
 * tree out of several sources.
 *
 * A copy keeps the content, the symlink target, the permission bits, the
 * mtime and, when running as root, the owner; sockets are skipped, FIFOs
 * and device nodes are made with mknod (which needs root for devices).
 * A directory is created (0700 while it fills) and its metadata set last. */
#ifndef MIRROR_NODECOPY_H
#define MIRROR_NODECOPY_H

#include <stdbool.h>
#include <sys/stat.h>

/* Copy the non-directory sdfd/sname (whose lstat is st) to ddfd/dname,
 * which must not exist.  0, 1 when skipped (a socket), or -errno. */
int nodecopy_one(int sdfd, const char *sname, const struct stat *st, int ddfd,
		 const char *dname);
/* Set the metadata of ddfd/dname (a directory just filled, say) from st. */
int nodecopy_meta(int ddfd, const char *dname, const struct stat *st);
/* Copy sdfd/sname recursively to ddfd/dname (must not exist).  0 or -errno. */
int nodecopy_tree(int sdfd, const char *sname, int ddfd, const char *dname);
/* Remove dfd/name recursively; absent is 0.  0 or -errno. */
int nodecopy_remove(int dfd, const char *name);
/* Bytes the node dfd/name occupies on disk (blocks), its subtree included. */
unsigned long long nodecopy_bytes(int dfd, const char *name);
/* Call fn(dirfd, name, ctx) for each child of the directory fd (taken and
 * closed), "." and ".." left out, until fn returns non-zero: that, or 0,
 * or -errno of the listing. */
int nodecopy_each_child(int fd, int (*fn)(int dfd, const char *name, void *ctx), void *ctx);

#endif
