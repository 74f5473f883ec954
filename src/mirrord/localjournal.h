/* localjournal: the promoted sink's journal of its own changes.
 *
 * After a takeover the slave is the source of truth: clients of the VIP
 * write into its copy of the mirror.  While a mirror is promoted
 * (promote.h) this module watches its tree (watch.h), settles and pairs
 * the events (coalesce.h) and records every change in a journal of its own
 * (journal.h) in <state_dir>/<mirror>/promoted/, so that mirror-restore(8)
 * on the returning master can ask for the paths changed since the
 * promotion instead of comparing whole trees (pull.h, CHANGES).
 *
 * A promotion continues the journal of the previous one until the old
 * master is the source again (its first push after the demotion spends
 * it, localjournal_spend): a demote and promote in between, without a
 * restore, must not drop the changes of the first promotion.
 *
 * Records: CREATE for a new path, DELETE for one that is gone when it
 * settles, UPSERT for one changed in place (content or metadata: its
 * directory did not change), RENAME for a rename whose
 * halves paired up, RESCAN "" when changes may have been missed (watcher
 * restart, kernel queue overflow, too many pending changes, a restart of
 * the daemon while promoted): a restore then compares the whole tree.  A
 * watch failure on a subtree records RESCAN of that subtree.  Nobody
 * acknowledges this journal, so nothing is compacted away; when it is full
 * (journal_set_limits) or cannot be written, the file "incomplete" is
 * created beside it and the list is reported as incomplete.
 *
 * One thread (and watcher) per promoted mirror, beside any live sources. */
#ifndef MIRRORD_LOCALJOURNAL_H
#define MIRRORD_LOCALJOURNAL_H

#include <stdbool.h>

#include "conf.h"

#define LOCALJOURNAL_DIR "promoted"          /* under <state_dir>/<mirror> */
#define LOCALJOURNAL_INCOMPLETE "incomplete" /* marker file in that directory */

struct localjournal;

enum localjournal_start {
	LOCALJOURNAL_NEW,       /* a new journal (new id); leftovers are removed */
	LOCALJOURNAL_CONTINUE,  /* the journal of an earlier promotion goes on:
				 * its changes never reached the old master */
	LOCALJOURNAL_RESTART,   /* the daemon restarted while promoted: goes on
				 * with RESCAN "" (changes made while nobody
				 * watched) */
};

/* Start journalling mirror m (c and m borrowed for the thread's life).  0
 * and *ret, or -errno (logged with the mirror name). */
int localjournal_start(const struct conf *c, const struct conf_mirror *m,
		       enum localjournal_start how, struct localjournal **ret);
/* The journal of the last promotion is spent (the old master is the
 * source again): remove it.  1 when there was one, 0, or -errno. */
int localjournal_spend(const struct conf *c, const char *mirror);
/* A journal of an earlier promotion is there.  */
bool localjournal_exists(const struct conf *c, const char *mirror);
/* Record everything the watcher has reported so far, settled or not, and
 * sync the journal; waits for the thread at most timeout_ms.  0 or -errno. */
int localjournal_flush(struct localjournal *lj, int timeout_ms);
/* Flush, stop the thread, close the journal (its files stay).  NULL is a
 * no-op. */
void localjournal_stop(struct localjournal *lj);

/* "<state_dir>/<mirror>/promoted" as a heap string, or NULL. */
char *localjournal_dir(const struct conf *c, const char *mirror);

#endif
