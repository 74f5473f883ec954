/* treeidx: the live source's tree index (src/lib/index.h) at start-up.
 *
 * At start-up the source walks its tree once and, when the index of the
 * previous run may be trusted, reports every path whose stat differs from
 * it, is new, or is gone: those, and the journal's unacknowledged records,
 * are all the sink can lack, so no full reconciliation (no listing of the
 * sink's tree) is needed.  The differences are applied to the index in
 * place once the sink has acknowledged everything recorded up to the end
 * of the walk (treeidx_poll); without a trusted index, the walk writes a
 * new one that replaces it then.  The rules, in short (details
 * in doc/ARCHITECTURE.md):
 *
 * - trusted: the previous index was finished, for this journal (id) and
 *   settings (path, excludes, one_fs, xattrs, owner), with its record
 *   acknowledged (or, for the listing of a first start, with the journal
 *   still holding the listing's records not acknowledged), and the first
 *   session's sink presents the sink id the index was acknowledged by;
 * - otherwise, or when the walk cannot read a directory, the whole tree
 *   is reconciled, as without an index;
 * - any full reconciliation later (journal overflow, lost place) removes
 *   the index on disk: the journal's acknowledgements no longer say what
 *   the sink has. */
#ifndef MIRRORD_TREEIDX_H
#define MIRRORD_TREEIDX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "scan.h"

struct treeidx;

struct treeidx_stats {
	uint64_t entries;      /* walked */
	uint64_t changed;      /* reported: differ or new */
	uint64_t gone;         /* reported: in the old index, not on disk */
	uint64_t listed;       /* directories reported (list_dirs) */
	uint64_t ms;
	uint64_t cpu_ms;       /* of the thread (draining events included) */
};

/* For mirror m, index file in dir (the mirror's state directory). */
struct treeidx *treeidx_new(const char *dir, const struct conf_mirror *m);
void treeidx_free(struct treeidx *t);   /* NULL is a no-op; unfinished index dropped */

/* Open the previous index and decide whether it may be trusted with this
 * journal; false with a reason in why otherwise. */
bool treeidx_trust(struct treeidx *t, uint64_t journal_id, uint64_t acked_seq,
		   char *why, size_t why_len);

/* Walk rootfd (with so's excludes, idxwalk.h); with a trusted old index,
 * merged with its rows in path order: changed(ctx, path, len, dir) for
 * every difference, dir for a directory now on disk (returning <0 stops
 * the walk), the differences staged in the old index for an update in
 * place; without one, into a new index, and with list_dirs
 * changed(ctx, path, len, true) for every directory walked into (a
 * listing of the whole tree, treeidx_set_listing).  linked(ctx, path,
 * len, dev, ino) for every regular file with other names (each name, so
 * that the source knows the names of its hardlink groups from the start).
 * tick(ctx) every few thousand entries (drain events).
 * 0, or -errno when the walk was incomplete (then do not trust it). */
int treeidx_walk(struct treeidx *t, int rootfd, const struct scan_opts *so, bool list_dirs,
		 int (*changed)(void *ctx, const char *path, size_t len, bool dir),
		 void (*linked)(void *ctx, const char *path, size_t len, uint64_t dev,
				uint64_t ino),
		 void (*tick)(void *ctx), void *ctx, struct treeidx_stats *ret_st);

/* The new index holds once seq (the last record of the walk) is acked. */
void treeidx_set_seq(struct treeidx *t, uint64_t seq);

/* The new index of a walk with list_dirs: its records, one per directory,
 * begin at from in journal journal_id (and end at the seq set). */
void treeidx_set_listing(struct treeidx *t, uint64_t journal_id, uint64_t from);
/* At the first session, with its sink: save that index as it is, so that
 * a start interrupted before the listing is acked resumes it (the
 * directories whose records were acked are compared with their rows, the
 * others listed again from the journal); treeidx_poll completes it.  1
 * when saved, 0 when there is none, or -errno. */
int treeidx_save_listing(struct treeidx *t, uint64_t sink_id);

/* The first session's sink: false if a trusted start was for another. */
bool treeidx_sink_ok(struct treeidx *t, uint64_t sink_id);

/* Finish the new index, or apply the changes staged in the old one, when
 * acked >= the walk's seq and >= pass_seq (the last full pass), for
 * sink_id (non-zero).  1 when it wrote a new one, 2 when it updated the
 * old one in place, 0 when not yet, or -errno.  Until then the index on
 * disk stays as it was. */
int treeidx_poll(struct treeidx *t, uint64_t journal_id, uint64_t acked, uint64_t pass_seq,
		 uint64_t sink_id);

/* A full reconciliation: the index on disk no longer tells what the sink
 * has; remove it (a new one being written is finished as usual).  True
 * when that dropped the changes staged in the old one by a walk: then no
 * index will be saved unless the tree is walked again. */
bool treeidx_forget(struct treeidx *t);

#endif
