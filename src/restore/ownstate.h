/* ownstate: what mirror-restore reads and records in this node's state
 * directory (<state_dir>/<mirror>, beside the source's journal):
 *
 * - the journal records the slave never acknowledged, as requests of a
 *   journal-driven restore (changeset.h): this node's own changes must be
 *   brought back to the slave's version too (after being kept as
 *   conflicts);
 * - after a complete restore, the journal is marked done: every record is
 *   acknowledged, so the pending entries are not resent and not taken for
 *   conflicts again;
 * - restore.pos, "<journal id hex> <sequence> <seconds>.<nanoseconds>\n":
 *   the slave's journal position the last complete restore reached, so the
 *   next run asks only for what changed after it, and when it completed:
 *   files this node changed before then are the restore's own writes, not
 *   conflicts. */
#ifndef RESTORE_OWNSTATE_H
#define RESTORE_OWNSTATE_H

#include <stdint.h>
#include <time.h>

#include "changeset.h"

/* Add the unacknowledged records of the journal in jdir to cs.  0 and
 * *ret_records, 1 when one of them asks for the whole tree, -ENOENT
 * without a journal, -E2BIG, -errno. */
int ownstate_load(const char *jdir, struct changeset *cs, uint64_t *ret_records);
/* Acknowledge every record.  0, -ENOENT without a journal, -errno. */
int ownstate_reset(const char *jdir);

struct ownstate_pos {
	uint64_t id, seq;          /* 0 0: the slave had no journal */
	struct timespec done;      /* CLOCK_REALTIME */
};

/* 0 with the position, -ENOENT when there is none, -errno. */
int ownstate_pos_read(const char *jdir, struct ownstate_pos *ret);
/* Replace it atomically (tmp, fsync, rename, directory fsync).  0 or -errno. */
int ownstate_pos_write(const char *jdir, const struct ownstate_pos *pos);

#endif
