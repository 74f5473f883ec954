/* index: a persistent per-mirror index of the tree (path, type, mode,
 * owner, size, mtime ns, inode) in an SQLite file, so a restarted source
 * compares stat results with it instead of reconciling the whole tree with
 * the sink.
 *
 * An index file is written in one go: index_create() opens a new file,
 * index_put() adds rows (one transaction), index_finish() stores the
 * metadata that says which journal state the rows describe, syncs the file
 * and renames it over the index.  Until then the previous index, if any,
 * stays in place.
 *
 * index_open() opens a finished index: index_lookup() finds a path,
 * index_rows_*() read every row in path order (bytewise: a directory
 * comes before what is beneath it), and the changes found meanwhile are
 * staged (index_stage(), in the file but not in the rows) and applied in
 * place, with new metadata, in one durable transaction (index_apply()).
 * A crash before index_apply() leaves the rows and metadata as they were
 * (staged changes are dropped at the next open); one during it is rolled
 * back by the next open.  When an index may be trusted is the caller's
 * decision (see doc/ARCHITECTURE.md).
 *
 * Returns 0 (or a count) or a negative errno; SQLite errors are -EIO (or
 * -ENOMEM, -ENOSPC, -EBADMSG for a corrupt file).  Not thread-safe: one
 * thread per handle. */
#ifndef MIRROR_INDEX_H
#define MIRROR_INDEX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct index;

struct index_rec {
	uint8_t type;           /* enum entry_type */
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
};

struct index_meta {
	uint64_t journal_id;    /* the journal the rows are relative to */
	uint64_t seq;           /* the rows are on the sink once it acked seq */
	uint64_t sink_id;       /* the sink that acknowledged it */
	uint64_t conf_hash;     /* the settings that decide what is walked */
	uint64_t listed_from;   /* non-zero: seq ends a listing of every
				 * directory that began at this record; the
				 * rows of a directory hold once its record is
				 * acked (0 in an index without the key) */
	uint64_t rows;          /* set by index_finish */
};

/* Open the finished index at path (read-only use).  -ENOENT if none;
 * -EBADMSG if it is not a finished index of this format. *ret owned by the
 * caller (index_close). */
int index_open(const char *path, struct index **ret_ix);
int index_meta(struct index *ix, struct index_meta *ret_meta);
/* 1 and *ret_rec when path is in the index, 0 if not. */
int index_lookup(struct index *ix, const char *path, size_t len, struct index_rec *ret_rec);
/* Read ix's rows in path order: begin, then next until it returns 0 (1
 * with a row: *ret_path lives until the next call), then end.  Changes
 * staged in between are kept by end(keep) for index_apply(), dropped
 * otherwise. */
int index_rows_begin(struct index *ix);
int index_rows_next(struct index *ix, const char **ret_path, size_t *ret_len,
		    struct index_rec *ret_rec);
int index_rows_end(struct index *ix, bool keep);
/* Between rows_begin and rows_end: path is now rec (new when !was_there),
 * or gone (rec NULL; a directory's subtree is staged path by path). */
int index_stage(struct index *ix, const char *path, size_t len, const struct index_rec *rec,
		bool was_there);
/* Apply the staged changes to the rows and store meta (rows counted here),
 * durably, in one transaction. */
int index_apply(struct index *ix, const struct index_meta *meta);

/* Start a new index that replaces path when finished (written beside it as
 * path.new). */
int index_create(const char *path, struct index **ret_ix);
int index_put(struct index *ix, const char *path, size_t len, const struct index_rec *rec);
/* Store meta (rows is counted here), make the file durable and rename it
 * into place.  The handle stays usable for lookups (index_open() the file
 * again to update it in place). */
int index_finish(struct index *ix, const struct index_meta *meta);

/* Remove the index at path (and a half-written one): the next start has
 * none.  0 also when there was none. */
int index_remove(const char *path);
void index_close(struct index *ix);   /* NULL is a no-op; unfinished: discarded */

#endif
