/* audit: the drift audit of one source mirror, in a thread of its own.
 *
 * A pass compares this node's tree with the sink's, directory by
 * directory, over a read-only audit session of its own (auditserve.h on
 * the sink, beside the live session, never blocking it):
 *
 *   - metadata of every entry: type, size, mtime, mode, symlink target,
 *     device numbers, and owner where owners are mirrored; directories by
 *     type and mode (their mtimes move with every change inside);
 *   - content (XXH3-128 on both sides) of the files whose path falls in
 *     this pass's rolling sample (auditsample.h), or of every file with a
 *     full pass; each side reads at most audit_rate bytes per second.
 *
 * A difference is a candidate until confirmed: paths changed here in the
 * last AUDIT_RECENT_S seconds are skipped (the live source is still on
 * them), and before reporting, the audit waits until the live source has
 * nothing pending (watcher, journal, in flight) and checks the path again,
 * so a change on its way through mirrord is never reported as drift.
 * Confirmed differences are logged (mirror, path, what), counted in the
 * status table and metrics, raised as an "audit" notification, and with
 * audit_repair sent again from this side through the live source
 * (live_repair).
 *
 * Memory: the two listings of one directory and the directories still to
 * visit beside the current path. */
#ifndef MIRRORD_AUDIT_H
#define MIRRORD_AUDIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define AUDIT_RECENT_S 5          /* changed here this recently: not judged */
#define AUDIT_QUIET_WAIT_MS 10000 /* how long a confirmation waits for the
				   * live source to settle */
#define AUDIT_DIR_MAX 4000000     /* children of one directory */
#define AUDIT_PIPELINE 32         /* HASH requests ahead at the sink */

/* The live source the audit works beside. */
struct audit_live {
	/* Connected to the sink with nothing pending: every change made so
	 * far is there. */
	bool (*quiet)(void *ctx);
	/* Send path again from this side (live_repair). */
	int (*repair)(void *ctx, const char *path, size_t len, bool tree);
	void *ctx;
};

struct audit;

/* Start the audit thread of mirror m (c, m and live borrowed for its
 * life; *stop polled at least every 250 ms).  Passes run every
 * audit_interval within audit_window, and when asked (audit_request).
 * 0 and *ret, or -errno. */
int audit_start(const struct conf *c, const struct conf_mirror *m,
		const struct audit_live *live, volatile sig_atomic_t *stop, struct audit **ret);
/* After *stop was set: join and free.  NULL is a no-op. */
void audit_join(struct audit *a);
/* Ask for a pass now (outside the window too), of every file's content
 * when full.  Safe from any thread.  0, -ENOENT when the mirror has no
 * audit (not a source here), -EALREADY when a pass is under way. */
int audit_request(const char *mirror, bool full);

#endif
