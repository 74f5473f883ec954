/* sender: the source side of a transfer session, one per connection.
 *
 * Operations come from a feed (a tree scan for a one-shot sync, the journal
 * for live mirroring).  The sender numbers them, sends them, answers the
 * sink's NEED requests with file content (whole and zstd-compressed when it
 * pays, or a librsync delta against the signature the sink sent), and keeps
 * at most SENDER_WINDOW operations in flight.  It never blocks: the program
 * feeds it frames with sender_frame() and lets it append output with
 * sender_produce() while the socket drains (see push.c).
 *
 * An operation is complete when the sink acknowledged it durable (ACK) and,
 * for file content, confirmed it (DONE).  A file that changed while it was
 * read, or whose digest did not match on the sink, is sent again (up to
 * SENDER_TRIES times). */
#ifndef MIRROR_SENDER_H
#define MIRROR_SENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "entry.h"
#include "scan.h"
#include "wire.h"

#define SENDER_WINDOW 8192
#define SENDER_TRIES 3

enum sender_op_kind {
	SOP_ENTRY = 1,       /* e: anything; files get their content on NEED */
	SOP_DIR_DONE = 2,    /* e.path: all children of this directory were sent */
	SOP_DELETE = 3,      /* e.path */
	SOP_RENAME = 4,      /* e.path -> e.link */
	SOP_APPEND = 5,      /* e (a regular file, as stat'ed): its bytes from
			      * base to e.size are appended to the sink's copy,
			      * which must hold exactly base bytes ending as ours
			      * do; else (or when the file is no longer that
			      * inode, or shorter) it goes as an ENTRY */
};

enum sender_op_flags {
	SOP_LISTED = 1 << 0, /* a directory whose children follow, then SOP_DIR_DONE */
	SOP_FORCE = 1 << 1,  /* a file whose content goes even when the sink's
			      * copy has the same size and mtime (ENTRY_FORCE) */
	SOP_LISTING = 1 << 2, /* an entry of a tree walk: the sink notes the names
			       * up to the next SOP_DIR_DONE to prune the rest,
			       * so the sender's retries wait for that */
};

struct sender_op {
	uint8_t kind;
	uint8_t flags;       /* enum sender_op_flags */
	struct entry e;      /* owned by the op; the sender takes it */
	uint64_t tag;        /* the feed's own number (e.g. a journal sequence),
			      * handed back by on_settled; 0 if unused */
	uint64_t base;       /* SOP_APPEND: offset the new bytes start at */
};

/* next(): 1 with *ret filled, 0 when nothing is available right now, 2 when
 * the feed has ended (one-shot), <0 on error (the session fails). */
struct sender_feed {
	int (*next)(void *ctx, struct sender_op *ret);
	void *ctx;
};

/* A feed over a tree walk (one-shot sync, reconciliation): entries, all
 * marked SOP_LISTING and directories SOP_LISTED too, and SOP_DIR_DONE after
 * each directory's children.  Unreadable paths are counted in errors and
 * skipped (the error is logged with the mirror name). */
struct sender_scan_feed {
	const char *mirror;          /* borrowed */
	struct scan *scan;           /* borrowed */
	uint64_t errors;
};
int sender_scan_feed_next(void *ctx, struct sender_op *ret);

struct sender_opts {
	const char *mirror;        /* for logs; borrowed */
	int compress_level;        /* zstd level, 1..19 */
	/* Called when an operation becomes complete on the sink (may be NULL). */
	void (*on_complete)(void *ctx, uint64_t id);
	/* Called once per operation the feed gave, with its tag, when the
	 * sender is done with it: complete on the sink, or given up (counted
	 * in errors).  A file sent again (retry) is settled only when its
	 * last try is, or when the file turned out to be gone.  Operations
	 * still pending when the sender is freed are never settled.  May be
	 * NULL; called from sender_frame or sender_produce. */
	void (*on_settled)(void *ctx, uint64_t tag);
	/* Called when the sink answered for a regular file's ENTRY or APPEND:
	 * status 0 when its copy now holds e->size bytes of ours (content sent
	 * and durable, or found equal), else <0 (failed, aborted, or its copy
	 * differed: a retry may follow).  written tells the first two apart:
	 * true when content went to the sink (DONE), false when its copy was
	 * found equal (ACK).  e is borrowed for the call.  May be NULL. */
	void (*on_file)(void *ctx, const struct entry *e, int status, bool written);
	/* Called when the content of a file ENTRY (op tagged tag) did not
	 * reach the sink for a reason on this side: the file changed while it
	 * was read (err -ESTALE: it is sent again under the same name, but
	 * for a file that has other names when the retry would go out: that
	 * retry comes back instead, -ESTALE again with e its state then,
	 * e->nlink > 1, and the caller sends it with its names), its name is
	 * gone (-ENOENT, -ENOTDIR: nothing more is sent for it), or
	 * the sender gave up on it after SENDER_TRIES tries, the last of
	 * which failed here (-ETIMEDOUT: nothing more is sent for it); or for
	 * a reason on the sink's side (err is the sink's status from DONE: it
	 * is sent again under the same name, up to SENDER_TRIES tries in all,
	 * but what the sink moved meanwhile is not reached; when the last try
	 * fails so, other than with -ENOENT or -ENOTDIR, nothing more is sent
	 * and no -ETIMEDOUT follows).  e is
	 * the file as last sent (path; local dev, ino and nlink), borrowed for
	 * the call.  May be NULL; called from sender_frame or sender_produce. */
	void (*on_unsent)(void *ctx, uint64_t tag, const struct entry *e, int err);
	/* Called when a file's content could not be read here for a reason
	 * other than its change or its name going away (err < 0, e.g.
	 * -EACCES); counted in errors.  May be NULL. */
	void (*on_read_error)(void *ctx, const struct entry *e, int err);
	/* Called when the sink reports (FAILED, PROTO_FEATURE_REPORT) that an
	 * operation on path could not be applied there (err < 0); counted in
	 * errors.  The sender sends nothing again for it: the caller may
	 * (path is borrowed for the call).  May be NULL. */
	void (*on_sink_failed)(void *ctx, const char *path, size_t len, int err);
	void *ctx;
};

struct sender_stats {
	uint64_t ops, files_whole, files_delta, bytes_read, data_bytes_sent, retries,
		 errors, delta_saved, appends, appends_refused;
};

struct sender;

/* rootfd is borrowed for the sender's life. */
struct sender *sender_new(int rootfd, const struct sender_opts *opts,
			  const struct sender_feed *feed);
void sender_free(struct sender *s);      /* NULL is a no-op */

/* Handle one frame from the sink (already checked for TO_SOURCE).
 * 0, or <0 on a protocol violation or a sink ERROR (session over). */
int sender_frame(struct sender *s, const struct wire_hdr *h, const uint8_t *payload);
/* Append frames to out until it holds at least high bytes or there is
 * nothing to send now.  Returns 1 when it stopped because out reached high
 * (call again once it drained), 0 when there is nothing to send until the
 * next frame from the sink or the next feed item, <0 on a fatal error. */
int sender_produce(struct sender *s, struct wbuf *out, size_t high);
/* No file's content is partly written: a keep-alive PING may go out now
 * (sinks before this rule refused anything between a file's frames). */
bool sender_between_files(const struct sender *s);
/* The feed ended, END was sent and END_OK received. */
bool sender_finished(const struct sender *s);
/* Operations sent and not yet complete, files waiting to be sent again
 * included (a retry waits for the end of a listing, and its feed item may
 * no longer be counted by the feed: a live source is not in sync while
 * one waits). */
uint64_t sender_in_flight(const struct sender *s);
const struct sender_stats *sender_stats(const struct sender *s);

#endif
