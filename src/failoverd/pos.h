/* pos: the local mirrord's replication position, for failoverd's
 * heartbeats.
 *
 * The position is a watermark on the wall clock of the node that sends
 * it: the sinks of its source mirrors hold every change made before it
 * (mirrord's "synced_until_ms", the smallest over its source mirrors).
 * Only a source knows it: the acknowledgements flow back to it, while a
 * sink never learns when the source made a change.  A node with no source
 * mirror, or whose mirrord was never reached, has position 0 (unknown).
 *
 * A thread of its own (normal scheduling, whatever the loop runs at) asks
 * mirrord's control socket for "status" every POS_PERIOD_MS, each request
 * bounded by POS_TIMEOUT_MS, and publishes the result in an atomic that
 * the loop reads when it sends a heartbeat: a slow or dead mirrord never
 * delays a heartbeat.  When mirrord stops answering, the last position is
 * kept: nothing is replicated meanwhile, so the copy falls behind from
 * there, and that is what the peer should see. */
#ifndef FAILOVERD_POS_H
#define FAILOVERD_POS_H

#include <stdint.h>

#define POS_PERIOD_MS 200
#define POS_TIMEOUT_MS 1000

struct pos;

/* Start asking mirrord at ctl_path (borrowed until pos_stop).  The thread
 * first runs init when not NULL (failoverd: drop its capabilities) and
 * stops there if it fails.  0 or -errno (the thread could not be
 * created). */
int pos_start(const char *ctl_path, int (*init)(void), struct pos **ret);
/* The last position (ms since the epoch), 0 = unknown.  Never blocks. */
int64_t pos_get(const struct pos *p);
/* Stop the thread (within POS_TIMEOUT_MS + 100 ms) and free.  NULL: no-op. */
void pos_stop(struct pos *p);

/* Pure: the position in mirrord's status JSON: the smallest
 * synced_until_ms of the mirrors whose role is "source"; 0 when there is
 * none.  0, or -EINVAL when json is not a mirrord status object. */
int pos_parse(const char *json, int64_t *ret);

#endif
