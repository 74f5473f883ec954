/* vindex: the append-only log of a mirror's versions area (retention).
 *
 * One record per change the sink made to a path while retention was on, in
 * the order it made them:
 *   O  path was overwritten (replaced); its previous node is kept as stored
 *   D  path was removed (delete, prune, replaced by a rename); kept as stored
 *   C  path was created (nothing was there before)
 *   R  path was renamed to `to` (not a version: the node moved)
 *   H  horizon: the history before t is incomplete (pruned, or retention
 *      started then); point-in-time views before it are refused
 * A record is one text line, "T OP SIZE PATH STORED TO\n", with T the
 * wall-clock time in nanoseconds, SIZE the bytes the stored node occupies,
 * the three names escaped (%XX for bytes <= ' ', '%' and 0x7f) and "." for
 * an absent one.  One write() per record on an O_APPEND file: a crash can
 * only cut the last line, which vindex_load() drops (and, when asked,
 * truncates away).  The parsing and formatting do no I/O and are what the
 * unit test exercises; the file functions are thin. */
#ifndef MIRROR_VINDEX_H
#define MIRROR_VINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vindex_op {
	VINDEX_OVERWRITE = 'O',
	VINDEX_DELETE = 'D',
	VINDEX_CREATE = 'C',
	VINDEX_RENAME = 'R',
	VINDEX_HORIZON = 'H',
};

struct vindex_rec {
	int64_t t_ns;
	char op;                 /* enum vindex_op */
	uint64_t size;
	char *path;              /* wire path ("" only for H) */
	size_t len;
	char *stored;            /* O, D: relative to the versions directory */
	char *to;                /* R: the new name */
	size_t tolen;
};

struct vindex {
	struct vindex_rec *recs;
	size_t n, cap;
	int64_t horizon;         /* newest H record */
	size_t bad;              /* lines that did not parse (skipped) */
};

/* Heap line for r (with its '\n'); NULL on ENOMEM. */
char *vindex_format(const struct vindex_rec *r, size_t *ret_len);
/* Parse one line (without its '\n') into r (fields owned by r).
 * 0 or -EINVAL. */
int vindex_parse(const char *line, size_t n, struct vindex_rec *r);
void vindex_rec_clear(struct vindex_rec *r);

/* Append a copy of r (H records only move the horizon).  0 or -ENOMEM. */
int vindex_add(struct vindex *v, const struct vindex_rec *r);
/* Parse a whole file image; *ret_good is the length of its complete lines. */
int vindex_parse_all(struct vindex *v, const char *buf, size_t n, size_t *ret_good);
void vindex_free(struct vindex *v);      /* clears v; a zeroed v is empty */

/* Read dirfd/name into v (absent: empty, 0).  With repair, a cut last
 * line is truncated away.  0 or -errno. */
int vindex_load(int dirfd, const char *name, bool repair, struct vindex *v);
/* Append r to fd with one write(); 0 or -errno (-EIO on a short write,
 * which is cut back to the old end). */
int vindex_append(int fd, const struct vindex_rec *r);
/* Replace dirfd/name with H(horizon) + v's records, atomically (temporary
 * file, fsync, rename, fsync of the directory).  0 or -errno. */
int vindex_rewrite(int dirfd, const char *name, const struct vindex *v);

#endif
