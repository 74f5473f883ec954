/* journal: the source's persistent, append-only log of changes not yet
 * acknowledged by the sink.
 *
 * Files, in the directory given to journal_open() (state_dir/<mirror>):
 *   journal      header + records, appended with pwrite, fdatasync'ed in
 *                batches (group commit: many appends, one journal_sync).
 *   journal.ack  the highest sequence number the sink acknowledged as
 *                durable; replaced atomically (tmp + fdatasync + rename +
 *                directory fsync).
 *   *.tmp        transient, during ack and compaction.
 *
 * Header (48 bytes, little-endian): magic "MIRJRNL\n", u32 version, u32 0,
 * u64 journal id (random at creation), u64 seq_floor (every sequence below
 * it has been issued), u64 keep_from (records below it were dropped by
 * compaction), u32 reserved, u32 CRC32C of the preceding 44 bytes.
 *
 * Record (JOURNAL_REC_FIXED + len1 + len2 bytes, little-endian):
 *   u32 crc       CRC32C of every byte after this field
 *   u32 rec_len   total record length
 *   u64 seq       strictly increasing within the file
 *   u8 op, u8[3]  zero
 *   u32 len1, u32 len2, path bytes, path2 bytes (no NUL stored)
 *
 * Sequence numbers start at 1, strictly increase, and a number that reached
 * the disk (journal_sync returned 0) is never handed out again, across
 * restarts and compactions.  A number handed out by journal_append but lost
 * in a crash before journal_sync returned was never visible to a sink and
 * may be issued again.
 *
 * Crash safety: journal_open validates every record (length, CRC, order,
 * op, NUL-free paths) and cuts the file at the first invalid one (a torn
 * tail); journal_stats().torn_bytes says how much was cut.  Records before
 * the cut are kept.  A cut that follows a crash loses only records whose
 * journal_sync had not returned: the daemon's start-up reconciliation finds
 * those changes again.
 *
 * Bounds: a record carries at most two paths of JOURNAL_PATH_MAX bytes.
 * The live part (unacknowledged records plus the append buffer) is limited
 * to max_bytes (journal_set_limits); beyond it journal_append returns
 * -ENOSPC and the daemon must drop the journal's role for now and fall back
 * to a full reconciliation (scan and compare both trees) once the sink has
 * caught up.  The acknowledged prefix is compacted away once it exceeds
 * compact_bytes, so the file stays below max_bytes + compact_bytes + one
 * append buffer.
 *
 * Errors: after a failed write, fdatasync, or rename the journal is
 * poisoned: every later call returns -EIO.  Close it, reopen (which cuts
 * any torn tail) and reconcile.
 *
 * Not thread-safe: one owner (the daemon's main loop). */
#ifndef MIRROR_JOURNAL_H
#define MIRROR_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_PATH_MAX 4096
#define JOURNAL_HDR_LEN 48
#define JOURNAL_REC_FIXED 28
#define JOURNAL_REC_MAX (JOURNAL_REC_FIXED + 2 * JOURNAL_PATH_MAX)
#define JOURNAL_DEFAULT_MAX_BYTES (256ull << 20)
#define JOURNAL_DEFAULT_COMPACT_BYTES (16ull << 20)

enum journal_op {
	JOURNAL_UPSERT = 1,     /* path: create or update, content and meta */
	JOURNAL_DELETE = 2,     /* path: remove (a whole subtree if a dir) */
	JOURNAL_RENAME = 3,     /* path -> path2 */
	JOURNAL_RESCAN = 4,     /* path: compare the whole subtree ("" = root) */
	JOURNAL_CREATE = 5,     /* path: as UPSERT, and the path was created
				 * (its parent directory changed too) */
	JOURNAL_REPAIR = 6,     /* path: as UPSERT, and a file's content goes
				 * even when size and mtime match (the drift
				 * audit found the sink's copy different) */
	JOURNAL_LISTDIR = 7,    /* path: a directory; compare its listing (its
				 * children, not their subtrees) */
};

/* One decoded record.  path and path2 point into storage owned by the
 * iterator (or the caller's buffer for journal_rec_decode) and stay valid
 * until the next call on it.  Both are NUL-terminated by the iterator;
 * path2 is "" with path2_len 0 unless op is JOURNAL_RENAME.  Paths are
 * relative to the mirror root; "" is the root itself. */
struct journal_rec {
	uint64_t seq;
	enum journal_op op;
	const char *path;
	size_t path_len;
	const char *path2;
	size_t path2_len;
};

struct journal_stats {
	uint64_t id;            /* random journal id, fixed at creation */
	uint64_t next_seq;      /* the number the next append gets */
	uint64_t synced_seq;    /* highest seq on disk (0: none yet) */
	uint64_t acked_seq;     /* highest seq acknowledged by the sink */
	uint64_t keep_from;     /* iteration may start at keep_from or later */
	uint64_t live_count;    /* records after acked_seq, incl. buffered */
	uint64_t live_bytes;    /* their size in bytes */
	uint64_t file_bytes;    /* size of the journal file on disk */
	uint64_t torn_bytes;    /* bytes cut off at open */
	uint64_t compactions;   /* since open */
};

struct journal;
struct journal_iter;

/* Open or create the journal in dir (which must exist).  Replays the file,
 * cuts a torn tail, reads the ack file.  0 or -errno; -EBADMSG when the
 * header itself is corrupt (the caller may move the file aside and start a
 * new journal plus a full reconciliation). *ret_j owned by the caller. */
int journal_open(const char *dir, struct journal **ret_j);
/* Flush buffered records without syncing, close.  NULL is a no-op. */
void journal_close(struct journal *j);

/* max_bytes: bound on live bytes (0 = default); compact_bytes: acknowledged
 * prefix size that triggers compaction (0 = default, clamped to at most
 * max_bytes).  0, or -EINVAL if max_bytes < JOURNAL_REC_MAX. */
int journal_set_limits(struct journal *j, uint64_t max_bytes, uint64_t compact_bytes);

/* Append one record to the in-memory batch (written out when the batch
 * buffer fills; durable only after journal_sync).  path2 only for RENAME
 * (else NULL/0).  0 and *ret_seq (may be NULL), or -EINVAL (bad op, NUL in
 * a path, path too long, empty RENAME side), -ENOSPC (journal bound: fall
 * back to a full reconciliation), -EIO (poisoned), -errno from write. */
int journal_append(struct journal *j, enum journal_op op, const char *path, size_t len,
		   const char *path2, size_t len2, uint64_t *ret_seq);
/* Write the batch and fdatasync once.  On 0 every record appended so far
 * is durable and visible to iterators.  -errno poisons the journal. */
int journal_sync(struct journal *j);

/* The sink holds every record <= seq durably.  Persists the ack file, then
 * compacts when the acknowledged prefix exceeds compact_bytes.  A seq at
 * or below the current ack is a no-op.  0, -EINVAL if seq > synced_seq,
 * -errno (the ack file write is retried by the next ack). */
int journal_ack(struct journal *j, uint64_t seq);
/* Rewrite the live records into a fresh file (tmp + fdatasync + rename +
 * directory fsync); sequence numbers are kept.  0 or -errno. */
int journal_compact(struct journal *j);

void journal_get_stats(const struct journal *j, struct journal_stats *ret_st);
uint64_t journal_id(const struct journal *j);
size_t journal_count(const struct journal *j);    /* live records */
uint64_t journal_size(const struct journal *j);   /* live bytes */

/* Iterate synced records with seq >= from_seq, in order.  An iterator sees
 * records synced after its creation and survives compaction.  -ERANGE if
 * from_seq < keep_from (those records were compacted away: full
 * reconciliation) or from_seq > next_seq (the sink is ahead of this
 * journal: a different or lost journal).  *ret_it owned by the caller. */
int journal_iter_new(struct journal *j, uint64_t from_seq, struct journal_iter **ret_it);
/* 1 and *ret_rec (see struct journal_rec for lifetime), 0 at the end of
 * the synced records (call again after the next sync), -EBADMSG on a
 * record that no longer validates (disk corruption), -errno. */
int journal_iter_next(struct journal_iter *it, struct journal_rec *ret_rec);
void journal_iter_free(struct journal_iter *it);   /* NULL is a no-op */

/* Read-only access for another process or thread than the owner (the
 * owner may be appending): the header of the journal file open on fd.  0
 * with *ret_id and *ret_keep_from, -EBADMSG (corrupt or short),
 * -EPROTONOSUPPORT, -errno.  Records follow at JOURNAL_HDR_LEN; decode them
 * with journal_rec_decode and stop at the first that does not decode (a
 * tail being written). */
int journal_read_header(int fd, uint64_t *ret_id, uint64_t *ret_keep_from);

/* Pure codec, no I/O.  encode: record length written, or -ENOBUFS if cap
 * is too small, -EINVAL for invalid arguments (as journal_append).
 * decode: record length consumed with *ret_rec pointing into buf (paths
 * not NUL-terminated), -EAGAIN if buf holds only part of a record, or
 * -EBADMSG if it is invalid.  Neither checks sequence order. */
int journal_rec_encode(uint8_t *buf, size_t cap, uint64_t seq, enum journal_op op,
		       const char *path, size_t len, const char *path2, size_t len2);
int journal_rec_decode(const uint8_t *buf, size_t len, struct journal_rec *ret_rec);
uint32_t journal_crc32c(uint32_t crc, const void *p, size_t n);

#endif
