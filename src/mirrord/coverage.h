/* coverage: does the source role's watcher follow every directory of its
 * tree, and if not, say so and try again.
 *
 * The watcher needs one inotify watch per directory, within the user's
 * cap (watchbudget.h).  A mirror whose directories do not all get a watch
 * is not mirrored live: changes there go unseen until the next full pass.
 * This module keeps that from happening silently:
 *
 *  - before the watcher starts, coverage_watch() counts the tree's
 *    directories against the watches left; when they do not fit it logs an
 *    error with the numbers and the exact sysctl (and /etc/sysctl.d line)
 *    to raise the cap, and the caller starts no watcher (state "none")
 *    rather than watch part of the tree.  The count (a walk of the whole
 *    tree) is skipped when twice the watches of the last full start (kept
 *    in the state directory, coverage_set_dir) plus 1,024 fit: a tree that
 *    grew more than that meanwhile gets the kernel's ENOSPC while its
 *    watches are added, and is counted then, for the advice;
 *  - a watch that fails later (a new directory, once the cap is reached)
 *    turns the state to "partial", counted, with the same advice once per
 *    episode (the live loop rescans that directory once, as before);
 *  - while not "full" because of the cap, coverage_retry_due() says, after
 *    COVERAGE_RETRY_MS and then less and less often (up to
 *    COVERAGE_RETRY_MAX_MS apart), when the watches now fit; the caller
 *    then restarts its watcher and rescans the whole tree.
 *
 * The state goes to `mirrorctl status` (coverage, watched and unwatched
 * directories) through the live source's status.
 *
 * One per live source, used by its thread only. */
#ifndef MIRRORD_COVERAGE_H
#define MIRRORD_COVERAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#define COVERAGE_RETRY_MS 5000         /* first retry; doubles up to: */
#define COVERAGE_RETRY_MAX_MS 60000     /* (reading the budget costs one
					 * fdinfo line per watch in use) */

struct coverage;
struct exclude;
struct watch;

/* mirror, root and ex are borrowed and must outlive it.  retry: the
 * caller calls coverage_retry_due (the live source); without, the advice
 * says the limit applies at the next start (a promoted sink's journal).
 * NULL: no memory. */
struct coverage *coverage_new(const char *mirror, const char *root, const struct exclude *ex,
			      bool retry);
void coverage_free(struct coverage *cv);       /* NULL is a no-op */

/* A watch failed for path (relative to the root) with err (positive). */
void coverage_failed(struct coverage *cv, const char *path, int err, uint64_t now);

/* True when the caller should call coverage_watch again now: the state is
 * not "full", the retry interval passed and, after a watch limit, the
 * watches may fit now (held: watches of the caller's current watcher,
 * released when it is replaced). */
bool coverage_retry_due(struct coverage *cv, uint64_t held, uint64_t now);

/* Start the watcher *w of the tree (watch.h), when its directories fit
 * beside the watches in use (those of *w count as free): then
 * watch_stop(*w) and watch_start, and record the result.  0: *w watches
 * the whole tree.  -ENOSPC from the count: *w is left as it was (a partial watcher keeps what it has; NULL stays NULL,
 * state "none").  Other -errno from watch_start: *w NULL, state "none".
 * Every outcome is logged. */
int coverage_watch(struct coverage *cv, struct watch **w, uint64_t now);

/* The same, the watches added by the watcher's thread while the caller
 * goes on (watch_start_async): the caller reads a directory only after
 * watch_wait_dir, and calls coverage_settle until it returns true (every
 * loop turn, before it reads the watcher's records); meanwhile the state
 * is not "full" and no retry is due.  Errors for the root, and -ENOSPC
 * from the count, as coverage_watch. */
int coverage_watch_async(struct coverage *cv, struct watch **w, uint64_t now);
/* True once the start by coverage_watch_async has ended (wait: block
 * until then) and its outcome is recorded as coverage_watch's would be
 * (on a failure *w is stopped and NULL); true at once when none runs. */
bool coverage_settle(struct coverage *cv, struct watch **w, bool wait, uint64_t now);

/* The state directory where the count of the last full start is kept
 * (borrowed; NULL: none kept, the tree is counted at every start). */
void coverage_set_dir(struct coverage *cv, const char *dir);

/* The figures for the status table; w: the caller's watcher (NULL: none). */
void coverage_get(const struct coverage *cv, struct watch *w, enum status_coverage *ret_state,
		  uint64_t *ret_watched, uint64_t *ret_unwatched);

#endif
