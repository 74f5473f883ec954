/* sinkid: the identity of a sink's copy of a mirror.
 *
 * A random 64-bit id in <state_dir>/<mirror>/sink-id, created on first use
 * and sent in HELLO_OK.  A source that skips the full reconciliation at
 * start-up (its tree index, see treeidx.h) does so only for the sink id its
 * index was acknowledged by: a different machine, a sink whose state was
 * lost, or a copy that changed outside the source's sessions (promotion,
 * which rotates the id) gets a full reconciliation instead. */
#ifndef MIRRORD_SINKID_H
#define MIRRORD_SINKID_H
#include <stdint.h>

/* The id (created when missing); 0 or -errno. */
int sinkid_get(const char *state_dir, const char *mirror, uint64_t *ret_id);
/* Replace the id with a new one; 0 or -errno. */
int sinkid_rotate(const char *state_dir, const char *mirror);

#endif
