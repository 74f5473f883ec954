/* entry: one node of a mirrored tree, as scanned on one side and as carried
 * on the wire.  Shared by scan, fsmeta, apply, proto and the sessions.
 *
 * Paths are raw bytes relative to the mirror root, without a leading '/';
 * the root itself is the empty path "".  Any byte except '/' and NUL may
 * appear in a name.  path is NUL-terminated for syscalls and path_len is its
 * length.  All pointers in a struct entry are owned by it: entry_clear()
 * frees them. */
#ifndef MIRROR_ENTRY_H
#define MIRROR_ENTRY_H

#include <stddef.h>
#include <stdint.h>

enum entry_type {
	ENT_NONE = 0,
	ENT_FILE = 1,
	ENT_DIR = 2,
	ENT_SYMLINK = 3,
	ENT_HARDLINK = 4, /* another name for the file at link (a mirror path) */
	ENT_FIFO = 5,
	ENT_CHR = 6,
	ENT_BLK = 7,
	ENT_SOCK = 8,
	ENT_TYPE_MAX = ENT_SOCK,
};

struct entry {
	char *path;
	size_t path_len;
	uint8_t type;        /* enum entry_type */
	uint32_t mode;       /* permission bits incl. setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	uint64_t size;       /* regular files only */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t rdev;       /* ENT_CHR, ENT_BLK */
	uint64_t dev, ino;   /* local only, never sent: hardlink detection */
	uint32_t nlink;      /* local only */
	char *link;          /* ENT_SYMLINK target, ENT_HARDLINK mirror path */
	size_t link_len;
	uint8_t *xattrs;     /* encoded by fsmeta_xattrs_encode(); NULL if none */
	size_t xattrs_len;
};

/* Free what the entry owns and zero it.  Safe on a zeroed entry. */
void entry_clear(struct entry *e);
/* Deep copy; returns 0 or -ENOMEM. */
int entry_copy(struct entry *dst, const struct entry *src);
/* Set e->path (copied) from bytes; returns 0 or -ENOMEM. */
int entry_set_path(struct entry *e, const char *path, size_t len);
const char *entry_type_name(uint8_t type);

#endif
