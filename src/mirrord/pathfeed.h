/* pathfeed: a sender feed over the paths a mirror-restore client asked for
 * (PATHS requests, see doc/PROTOCOL.md), instead of a scan of the whole
 * tree.
 *
 * RESTLIST_PATH items send the path's current state: an ENTRY, or a DELETE
 * when it is gone.  RESTLIST_SCAN items walk the subtree at the path like a
 * one-shot pass (LISTED directories and DIR_DONE, so the client prunes what
 * this side does not have); a path that is no directory is sent as a PATH.
 * A regular file with several names cannot be sent as a hardlink without
 * knowing its other names: when requested files had several names, the
 * feed ends with a walk of the whole tree (stat only) that sends every
 * name of their groups, the first as the file and the others as hardlinks
 * to it. */
#ifndef MIRRORD_PATHFEED_H
#define MIRRORD_PATHFEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "exclude.h"
#include "sender.h"

#define PATHFEED_MAX_ITEMS 4000000u     /* requests in one session */
#define PATHFEED_MAX_BYTES (512u << 20) /* their path bytes */
#define PATHFEED_MAX_INOS 65536u        /* files with several names tracked;
					 * beyond, every group is sent */

struct pathfeed;

/* rootfd, m and ex are borrowed for the feed's life. */
struct pathfeed *pathfeed_new(int rootfd, const struct conf_mirror *m, const struct exclude *ex);
void pathfeed_free(struct pathfeed *f);        /* NULL is a no-op */
/* Add one request (path copied).  0, -E2BIG beyond the bounds, -ENOMEM. */
int pathfeed_add(struct pathfeed *f, uint8_t kind, const char *path, size_t len);
/* struct sender_feed.next with the pathfeed as ctx. */
int pathfeed_next(void *ctx, struct sender_op *ret);
size_t pathfeed_count(const struct pathfeed *f);
uint64_t pathfeed_errors(const struct pathfeed *f);

#endif
