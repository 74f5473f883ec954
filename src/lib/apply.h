/* apply: the sink side of the file system.  Every change to a mirror tree on
 * the receiving node goes through here.
 *
 * Paths are wire paths (checked with path_check() by the caller) and are
 * resolved beneath the root fd with path.h; no symlink is ever followed.
 * File content goes to a temporary file beside the target (".mirrord.tmp.*"),
 * whose metadata is set before it is renamed into place.  Durability is
 * batched (group commit): apply_commit() flushes the data of all pending
 * temporary files with one syncfs(), renames them into place, creates the
 * hardlinks deferred so far, sets the directory metadata deferred so far and
 * syncs again.  Only after apply_commit() returns 0 may the caller
 * acknowledge the changes as durable.
 *
 * Namespace changes that could interact with pending files (delete, rename)
 * commit first.  The parent directory of the last file looked up or opened
 * stays open for the next file in the same directory (a burst of new files
 * resolves it once, not twice per file) until the next commit or change to
 * the tree.  All functions return 0 or a negative errno; none logs. */
#ifndef MIRROR_APPLY_H
#define MIRROR_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "hash.h"

struct apply;
struct apply_file;

struct retain;

struct apply_opts {
	unsigned meta_flags;   /* enum fsmeta_flags */
	/* Optional (NULL: off): keep every node replaced or removed, and log
	 * creations and renames, in this versions area (retain.h); borrowed. */
	struct retain *retain;
};

struct apply_stats {
	uint64_t files_written, bytes_written, entries, deletes, renames, commits;
};

/* rootfd is borrowed and must outlive the apply object. */
struct apply *apply_new(int rootfd, const struct apply_opts *opts);
/* Unlinks the temporary files still pending.  NULL is a no-op. */
void apply_free(struct apply *a);

/* lstat beneath the root.  Fills ret (type ENT_NONE when absent, xattrs
 * when the meta flags ask for them); 0 or -errno. */
int apply_lookup(struct apply *a, const char *path, size_t len, struct entry *ret);

/* Create or update a non-content entry: ENT_DIR (mkdir; metadata deferred to
 * commit), ENT_SYMLINK (atomic replace), ENT_FIFO/CHR/BLK/SOCK, ENT_HARDLINK
 * (deferred to commit) and ENT_FILE (metadata only, on the existing file;
 * -EMLINK when that file has names not found in the tree, which may be
 * outside it: send new content instead).
 * Something of another type in the way is removed (recursively). */
int apply_entry(struct apply *a, const struct entry *e);

/* Start writing new content for e (ENT_FILE).  *ret owns the temp file. */
int apply_file_open(struct apply *a, const struct entry *e, struct apply_file **ret);
/* The current file at the target path, opened read-only for a patch basis;
 * -ENOENT if none.  The fd belongs to f (closed by close/abort). */
int apply_file_basis(struct apply_file *f);
/* Append content.  Runs of zero bytes aligned to 4 KiB become holes. */
int apply_file_write(struct apply_file *f, const void *p, size_t n);
/* Finish: check size and digest, set metadata, queue the rename.  Frees f.
 * -EBADMSG when the digest or size does not match (temp removed). */
int apply_file_close(struct apply_file *f, const uint8_t digest[HASH_LEN]);
void apply_file_abort(struct apply_file *f);   /* frees f; NULL is a no-op */

/* Remove path (recursively for directories).  Absent is success. */
int apply_delete(struct apply *a, const char *path, size_t len);
/* Rename from -> to, replacing to (a directory in the way is removed). */
int apply_rename(struct apply *a, const char *from, size_t flen, const char *to, size_t tlen);
/* Delete every child of dir for which keep() returns false; pending
 * temporary files of this apply are never touched. */
int apply_prune(struct apply *a, const char *dir, size_t dlen,
		bool (*keep)(void *ctx, const char *name, size_t nlen, bool is_dir), void *ctx);

/* Appends in place (the growing-file fast path; see PROTOCOL.md, APPEND).
 * Unlike new content they are written into the live file, so a reader may
 * see a prefix of the appended bytes, never other bytes changed; durable at
 * the next apply_commit() (its syncfs), like everything else.
 *
 * apply_append_open: commits first when a queued change targets path, then
 * opens the regular file at path for writing; -ESTALE unless it holds
 * exactly base bytes whose last tail_len (<= APPEND_TAIL_MAX) bytes have the
 * digest tail, and has no other name (which could be outside the tree);
 * -ENOENT etc. as for a lookup.  length bytes are expected.
 * apply_append_write: the next n bytes (-EBADMSG beyond length).
 * apply_append_close: checks the count and the digest of the appended bytes
 * (-EBADMSG: cut back to base); frees ap.  apply_append_abort: cuts the file
 * back to base and frees ap; 0, or -errno when the cut failed (the copy is
 * then longer, and the next append to it is refused); NULL is a no-op. */
#define APPEND_TAIL_MAX 4096
struct apply_append;
int apply_append_open(struct apply *a, const char *path, size_t len, uint64_t base,
		      uint64_t length, uint32_t tail_len, const uint8_t tail[HASH_LEN],
		      struct apply_append **ret);
int apply_append_write(struct apply_append *ap, const void *p, size_t n);
int apply_append_close(struct apply *a, struct apply_append *ap, const uint8_t digest[HASH_LEN]);
int apply_append_abort(struct apply_append *ap);

int apply_commit(struct apply *a);
/* apply_commit() in two halves, for a caller that pipelines batches:
 * apply_commit_visible() flushes the pending temporary files (syncfs) and
 * puts everything pending in place, but leaves the second syncfs to
 * apply_sync(), or to the first syncfs of the next apply_commit_visible()
 * or apply_commit(), which makes the earlier batch durable at no extra
 * cost.  Changes are durable, and may be acknowledged, only once one of
 * those returned 0 after them; apply_unsynced() says whether any change
 * is still waiting for it. */
int apply_commit_visible(struct apply *a);
int apply_sync(struct apply *a);
bool apply_unsynced(const struct apply *a);
/* The commit pipelined with the input.  apply_commit_begin() does what
 * apply_commit_visible() does, on a thread of its own when everything
 * pending is new content (renames of temporary files only, or nothing
 * but the syncfs: no hardlinks, no directory metadata, no kept versions),
 * and then returns 1 at once;
 * otherwise it commits synchronously and returns 0 or -errno.  At most one
 * batch is on the thread: -EBUSY until apply_commit_end() collected the
 * last one.  While it runs the caller may write new files (apply_file_*)
 * and look paths up; every other call, and a lookup of a path the batch
 * changes or of its directory, first waits for the batch, so that each
 * call sees the tree as the synchronous commit would have left it.
 * apply_commit_ready(): the batch finished (apply_commit_end() will not
 * block).  apply_commit_running(): a batch was begun and not yet
 * collected.  apply_commit_end(): waits for the batch and returns its
 * result, 0 when none; its changes are then visible, and durable after the
 * next syncfs as after apply_commit_visible(). */
int apply_commit_begin(struct apply *a);
bool apply_commit_ready(const struct apply *a);
bool apply_commit_running(const struct apply *a);
int apply_commit_end(struct apply *a);
/* Remove the temporary files a killed sink left anywhere beneath rootfd
 * (no apply object may be working on that tree).  Returns the number
 * removed, or -errno when the tree cannot be walked. */
long apply_clean_temps(int rootfd);
/* Number of changes waiting for apply_commit(). */
size_t apply_pending(const struct apply *a);
const struct apply_stats *apply_stats(const struct apply *a);

#endif
