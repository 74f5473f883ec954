/* receiver: the sink side of a transfer session, one per connection.
 *
 * It consumes frames from the source (after the handshake, which the
 * program does) and appends replies to an output buffer the program
 * flushes.  File system work goes through apply.h; the librsync patch and
 * signature jobs through delta.h.  Per-operation failures (a file that
 * cannot be written, a digest mismatch) are logged here, where the decision
 * to skip is made, and reported to the source with DONE(status); only
 * protocol violations end the session.
 *
 * Durability: replies ACK(id) and DONE(id) are sent only once the changes
 * are on disk.  The program calls receiver_idle() when the input has gone
 * quiet or receiver_commit_wait() says a commit is due (group commit: one
 * syncfs serves many files).  A commit puts its batch in place and leaves
 * the syncfs that makes it durable, and the batch's replies, to the next
 * commit or to a later receiver_idle() call (receiver_commit_wait() then
 * says when, at most RECEIVER_COMMIT_MS later).  A batch of new content
 * alone is committed on apply's commit thread while frames go on being
 * handled (at most one batch at a time); a later receiver_idle(), or the
 * FILE_END of a later file, collects it once it is in place. */
#ifndef MIRROR_RECEIVER_H
#define MIRROR_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "exclude.h"
#include "wire.h"

#define RECEIVER_MAX_AWAIT 65536   /* files NEEDed and not yet received */
#define RECEIVER_MAX_HELD (1u << 20) /* directories and hardlinks held back */
#define RECEIVER_COMMIT_MS 50      /* longest a change waits for its commit,
                                      * while commits take under 25 ms */

struct receiver;
struct retain;
struct entry;

/* What the receiver is about to do to a path (receiver_opts.before). */
enum receiver_change {
	RECEIVER_CREATE = 1,     /* nothing is there: it will be created */
	RECEIVER_CONTENT,        /* a file's content replaces what is there */
	RECEIVER_META,           /* only the metadata of an existing file or
				    directory changes */
	RECEIVER_REPLACE,        /* a directory, symlink, special file or hardlink
				    replaces what is there (another type, or an
				    outdated symlink / special file) */
	RECEIVER_DELETE,         /* DELETE, or a prune at DIR_DONE (recursive) */
	RECEIVER_RENAME_OVER,    /* the target of a RENAME is replaced (recursive) */
};

struct receiver_opts {
	const char *mirror;            /* name, for logs; borrowed */
	unsigned meta_flags;           /* enum fsmeta_flags */
	const struct exclude *ex;      /* excluded names are never pruned; borrowed */
	struct retain *retain;         /* versions kept (apply_opts); borrowed, may be NULL */
	bool report;                   /* send FAILED for every operation not applied
					* (the source asked for PROTO_FEATURE_REPORT) */
	/* Optional (NULL: no call, no extra lookups): called before the
	 * receiver creates, changes or removes a path; want is the entry the
	 * source sent (NULL for DELETE and RENAME_OVER).  Return 0 to go on,
	 * or <0 to leave the path alone: the change is skipped and counted in
	 * stats.skipped, not as an error (a file's content is then not even
	 * requested).  Removals are recursive for directories: the callback
	 * sees the top path only.  The source side of a RENAME is not
	 * reported. */
	int (*before)(void *ctx, const char *path, size_t len, enum receiver_change what,
		      const struct entry *want);
	void *ctx;
};

struct receiver_stats {
	uint64_t entries, files, deltas, bytes_written, deletes, renames, errors;
	uint64_t appends;              /* APPENDs applied in place */
	uint64_t skipped;              /* changes refused by opts.before */
	uint64_t ends;                 /* END frames handled (a complete pass) */
};

/* rootfd and out are borrowed for the receiver's life. */
struct receiver *receiver_new(int rootfd, const struct receiver_opts *opts, struct wbuf *out);
void receiver_free(struct receiver *r);     /* NULL is a no-op; unlinks temp files */

/* Handle one frame (already checked with proto_check_frame for TO_SINK).
 * 0 to go on, 1 after END was handled, <0 on a protocol violation (the
 * program sends MSG_ERROR and closes). */
int receiver_frame(struct receiver *r, const struct wire_hdr *h, const uint8_t *payload);
/* Commit what is pending and queue ACK/DONE replies.  0 or -errno. */
int receiver_idle(struct receiver *r);
/* -1 when nothing waits for a commit or a sync, 0 when one is due now (1024
 * pending changes or RECEIVER_COMMIT_MS since the first; when the last
 * commit took longer than RECEIVER_COMMIT_MS / 2, up to 4096 changes and
 * twice its cost, at most 200 ms), else the milliseconds until it is.  The
 * program commits earlier when its input goes quiet. */
int receiver_commit_wait(const struct receiver *r);
/* True while content the sink asked for (NEED) has not all arrived: its
 * input going quiet then is the round trip to the source, not the end of
 * a batch, so the program waits for the commit deadline instead. */
bool receiver_awaiting(const struct receiver *r);
const struct receiver_stats *receiver_stats(const struct receiver *r);

#endif
