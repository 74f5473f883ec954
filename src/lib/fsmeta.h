/* fsmeta: file metadata beyond the content: type, mode, owner, mtime in
 * nanoseconds, extended attributes (user.*, security.*, trusted.*) and POSIX
 * ACLs (carried as their system.posix_acl_* xattrs, so no libacl is needed).
 *
 * The xattr blob format (also the wire format) is a sequence of
 *     u16 name length, name bytes, u32 value length, value bytes
 * sorted by name, so two blobs compare with memcmp. */
#ifndef MIRROR_FSMETA_H
#define MIRROR_FSMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "entry.h"

#define FSMETA_XATTRS_MAX (256 * 1024)   /* larger blobs are refused */

enum fsmeta_flags {
	FSMETA_OWNER = 1 << 0,    /* compare/apply uid and gid (root only) */
	FSMETA_XATTRS = 1 << 1,   /* compare/apply xattrs and ACLs */
	FSMETA_FRESH = 1 << 2,    /* fsmeta_apply_fd: fd is a file this process
				   * just created with e's owner and mode and
				   * no xattrs: only e's xattrs and mtime are
				   * set (nothing read, no chown, no chmod) */
	FSMETA_CHECK = 1 << 3,    /* fsmeta_apply_fd: nothing is changed when
				   * the metadata is already e's (an fstat
				   * and, if that is equal, an xattr read) */
};

/* Fill type, mode, uid, gid, size, mtime, rdev, dev, ino, nlink of e from st. */
void fsmeta_from_stat(struct entry *e, const struct stat *st);
/* Read the xattrs of dirfd/name without following a symlink, into a sorted
 * blob (*ret NULL and *ret_len 0 when there are none).  0 or -errno. */
int fsmeta_read_xattrs(int dirfd, const char *name, uint8_t **ret, size_t *ret_len);
/* Same from an open fd (regular file or directory). */
int fsmeta_read_xattrs_fd(int fd, uint8_t **ret, size_t *ret_len);
/* 0 when blob is well formed (sorted, bounded, no NUL in names), -EBADMSG. */
int fsmeta_xattrs_check(const uint8_t *blob, size_t len);

/* Apply owner, mode, xattrs (setting e's, removing others) and mtime to an
 * open regular file or directory, in that order (chown clears setuid bits). */
int fsmeta_apply_fd(int fd, const struct entry *e, unsigned flags);
/* Same for dirfd/name without following a symlink (symlinks: owner and mtime
 * only; special files: owner, mode, mtime). */
int fsmeta_apply_at(int dirfd, const char *name, const struct entry *e, unsigned flags);
/* True when the metadata that flags select (mode always, mtime always) agree. */
bool fsmeta_equal(const struct entry *a, const struct entry *b, unsigned flags);

#endif
