/* path: the confinement of wire paths to a mirror root.
 *
 * A wire path is relative, made of non-empty components separated by single
 * '/', none of them "." or "..", no NUL byte, at most PATH_WIRE_MAX bytes in
 * all and NAME_MAX per component.  The empty path is the root itself.
 * Every open goes through openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) relative to the root fd (or an O_NOFOLLOW walk where
 * openat2 is missing), so no symlink, inside or outside the tree, is ever
 * followed on the sink. */
#ifndef MIRROR_PATH_H
#define MIRROR_PATH_H

#include <stddef.h>

#define PATH_WIRE_MAX 4096

/* 0 if p[0..len) is a valid wire path, -EINVAL otherwise. */
int path_check(const char *p, size_t len);
/* Open the directory at wire path p (must be NUL-terminated at len) beneath
 * rootfd; returns an O_RDONLY|O_DIRECTORY|O_CLOEXEC fd or -errno (-ELOOP when
 * a component is a symlink, -ENOTDIR, -ENOENT ...).  "" opens the root. */
int path_open_dir(int rootfd, const char *p, size_t len);
/* Open the parent directory of p (p must not be the root) and point *ret_name
 * at the last component inside p.  Returns the fd or -errno. */
int path_open_parent(int rootfd, const char *p, size_t len, const char **ret_name);
/* Open the non-directory at wire path p (NUL-terminated at len, not the
 * root) beneath rootfd with open(2) flags plus O_NOFOLLOW | O_CLOEXEC, in
 * one openat2() where the kernel has it.  A symlink anywhere, the last
 * component included, gives -ELOOP.  Returns the fd or -errno. */
int path_open_file(int rootfd, const char *p, size_t len, int flags);
/* Heap "dir/name" (or "name" when dir is ""); NULL on ENOMEM. */
char *path_join(const char *dir, size_t dlen, const char *name, size_t nlen, size_t *ret_len);
/* Length of the parent part of p ("" -> 0, "a" -> 0, "a/b" -> 1). */
size_t path_dirlen(const char *p, size_t len);
/* fsync the directory holding file (a path with a '/'), so a rename or a
 * creation in it is durable.  0 or -errno. */
int path_fsync_parent(const char *file);

#endif
