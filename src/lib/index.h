/* index: a persistent per-mirror index of the tree (path, type, mode,
 * owner, size, mtime ns, inode) in an SQLite file, so a restarted source
 * compares stat results with it instead of reconciling the whole tree with
 * the sink.
 *
 * An index file is written in one go: index_create() opens a new file,
 * index_put() adds rows (one transaction), index_finish() stores the
 * metadata that says which journal state the rows describe, syncs the file
 * and renames it over the index.  Until then the previous index, if any,
 * stays in place.  index_open() reads a finished index: index_lookup()
 * finds a path, index_each_missing() lists its paths that a new index
 * (being written) lacks: paths gone since.  When an index may be
 * trusted is the caller's decision (see doc/ARCHITECTURE.md).
 *
 * Returns 0 (or a count) or a negative errno; SQLite errors are -EIO (or
 * -ENOMEM, -ENOSPC, -EBADMSG for a corrupt file).  Not thread-safe: one
 * thread per handle. */
#ifndef MIRROR_INDEX_H
#define MIRROR_INDEX_H
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
	uint64_t rows;          /* set by index_finish */
};

/* Open the finished index at path (read-only use).  -ENOENT if none;
 * -EBADMSG if it is not a finished index of this format. *ret owned by the
 * caller (index_close). */
int index_open(const char *path, struct index **ret_ix);
int index_meta(struct index *ix, struct index_meta *ret_meta);
/* 1 and *ret_rec when path is in the index, 0 if not. */
int index_lookup(struct index *ix, const char *path, size_t len, struct index_rec *ret_rec);
/* fn for every path of ix that other (finished or being written) lacks,
 * in path order (bytewise, so a directory comes before what is beneath
 * it); stops at fn's first non-zero return and returns it.  path lives
 * until fn returns. */
int index_each_missing(struct index *ix, struct index *other,
		       int (*fn)(void *ctx, const char *path, size_t len), void *ctx);

/* Start a new index that replaces path when finished (written beside it as
 * path.new). */
int index_create(const char *path, struct index **ret_ix);
int index_put(struct index *ix, const char *path, size_t len, const struct index_rec *rec);
/* Store meta (rows is counted here), make the file durable and rename it
 * into place.  The handle stays usable for lookups. */
int index_finish(struct index *ix, const struct index_meta *meta);

/* Remove the index at path (and a half-written one): the next start has
 * none.  0 also when there was none. */
int index_remove(const char *path);
void index_close(struct index *ix);   /* NULL is a no-op; unfinished: discarded */

#endif
