/* auditmsg: the messages of the drift audit (doc/PROTOCOL.md, "Drift
 * audit") and the record they carry.  Pure codecs, no I/O.
 *
 * The audit client (the live source) asks the sink, one request at a time,
 * for the metadata of the children of a directory (LIST), of one path
 * (STAT), or of one file with the XXH3-128 digest of its content (HASH),
 * read at most at the rate the request carries.  The sink answers with
 * AUDIT_LIST batches of records and one AUDIT_END. */
#ifndef MIRROR_AUDITMSG_H
#define MIRROR_AUDITMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "wire.h"

enum auditmsg_kind {
	AUDITMSG_LIST = 1,   /* the children of a directory, names only */
	AUDITMSG_STAT = 2,   /* one path, its record with an empty name */
	AUDITMSG_HASH = 3,   /* one regular file, with its content digest */
};

/* What one side knows of one entry.  name and link are owned (heap,
 * NUL-terminated) after auditmsg_get_rec / auditfs; ctime is local only. */
struct audit_item {
	char *name;           /* LIST: the child's name; else "" */
	size_t name_len;
	uint8_t type;         /* enum entry_type (hardlinks are files) */
	uint32_t mode;        /* 07777 */
	uint32_t uid, gid;
	uint64_t size;        /* files: bytes; symlinks: target length */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t rdev;
	char *link;           /* symlink target, else NULL */
	size_t link_len;
	bool has_digest;
	uint8_t digest[HASH_LEN];
	int64_t ctime_sec;    /* local only, never sent */
	uint64_t dev;         /* local only: the file system (one_fs) */
};

struct auditmsg_req {
	uint64_t rate;        /* bytes per second for HASH reads, 0 = unlimited */
	uint8_t kind;         /* enum auditmsg_kind */
	const char *path;     /* borrowed (the payload after a decode) */
	size_t len;
};

struct auditmsg_end {
	int32_t status;       /* 0, or a negative errno (path gone, not a dir) */
	uint64_t records;     /* records sent for this request */
	uint64_t bytes;       /* content bytes read for it */
};

#define AUDITMSG_REC_MAX (1 + 3 * 4 + 8 + 8 + 4 + 8 + 1 + HASH_LEN + 2 * (4 + 4096))

void auditmsg_put_req(struct wbuf *out, const struct auditmsg_req *q);   /* a frame */
int auditmsg_get_req(const uint8_t *p, size_t n, struct auditmsg_req *ret);
void auditmsg_put_end(struct wbuf *out, const struct auditmsg_end *e);   /* a frame */
int auditmsg_get_end(const uint8_t *p, size_t n, struct auditmsg_end *ret);

/* Append one record to a batch payload; true when the batch should be sent
 * before the next one is added. */
void auditmsg_put_rec(struct wbuf *batch, const struct audit_item *it);
bool auditmsg_batch_full(const struct wbuf *batch);
/* Next record of a batch into *ret (owned copies; free with
 * audit_item_clear): 1, 0 at the end of the payload, -EBADMSG (a bad type,
 * a name that is not one path component, oversized fields), -ENOMEM. */
int auditmsg_get_rec(struct rbuf *r, struct audit_item *ret);

void audit_item_clear(struct audit_item *it);
void audit_items_free(struct audit_item *v, size_t n);
/* Order by name (bytes, then length), for qsort. */
int audit_item_cmp(const void *a, const void *b);

#endif
