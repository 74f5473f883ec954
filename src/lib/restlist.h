/* restlist: the record lists of the journal-driven restore (doc/PROTOCOL.md,
 * "Journal-driven restore").  Pure codecs, no I/O.
 *
 * Three lists travel in batches of records, one batch per frame of at most
 * PROTO_BATCH_MAX bytes: the changes a promoted sink journalled (CHANGE),
 * the paths a client asks for (PATHS), the content digests of a tree
 * (DIGESTS).  A struct restlist_batch collects records and says when the
 * frame is full; the decoders read one record at a time from a payload and
 * validate its paths with path_check().  Decoded paths borrow from the
 * payload (not NUL-terminated). */
#ifndef MIRROR_RESTLIST_H
#define MIRROR_RESTLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "wire.h"

/* CHANGES header status */
enum restlist_status {
	RESTLIST_COMPLETE = 0,      /* every change since the promotion is listed */
	RESTLIST_NOT_PROMOTED = 1,  /* this node has no journal of its own */
	RESTLIST_INCOMPLETE = 2,    /* the journal lost changes (full, broken) */
};

/* PATHS request kinds */
enum restlist_kind {
	RESTLIST_PATH = 1,          /* send the current state of path (or DELETE) */
	RESTLIST_SCAN = 2,          /* send the subtree at path like a full pass */
};

struct restlist_head {
	uint64_t journal_id, first, last;   /* first..last: sequences listed */
	uint8_t status;                     /* enum restlist_status */
};

struct restlist_change {
	uint64_t seq;
	uint8_t op;                 /* enum journal_op */
	const char *path, *path2;
	size_t len, len2;
};

struct restlist_item {
	uint8_t kind;               /* enum restlist_kind */
	const char *path;
	size_t len;
};

struct restlist_digest {
	uint8_t type;               /* enum entry_type */
	uint64_t size;
	uint8_t digest[HASH_LEN];   /* files: XXH3-128 of the content; else 0 */
	const char *path;
	size_t len;
};

/* Largest encoded record: a batch flushes before it could overflow. */
#define RESTLIST_REC_MAX (8 + 1 + 2 * (4 + 4096) + HASH_LEN)

void restlist_put_head(struct wbuf *b, const struct restlist_head *h);
int restlist_get_head(const uint8_t *p, size_t n, struct restlist_head *ret);

/* Append one record to b (a batch payload). */
void restlist_put_change(struct wbuf *b, const struct restlist_change *c);
void restlist_put_item(struct wbuf *b, const struct restlist_item *it);
void restlist_put_digest(struct wbuf *b, const struct restlist_digest *d);
/* True when b should be sent before the next record is added. */
bool restlist_batch_full(const struct wbuf *b);

/* Decode the next record of a batch: 1 and *ret, 0 at the end of the
 * payload, -EBADMSG for a malformed record or path. */
int restlist_get_change(struct rbuf *r, struct restlist_change *ret);
int restlist_get_item(struct rbuf *r, struct restlist_item *ret);
int restlist_get_digest(struct rbuf *r, struct restlist_digest *ret);

#endif
