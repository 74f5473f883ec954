/* state: the small state file that survives restarts (term, was-master,
 * stale).  Written atomically: temporary file, fsync, rename, fsync dir.
 * Format: one line "term=N was_master=0|1 stale=0|1\n". */
#ifndef FAILOVERD_STATE_H
#define FAILOVERD_STATE_H

#include "fsm.h"

/* Read path into *ret.  A missing file gives zeros and returns 0.
 * -EINVAL for a corrupt file, other -errno for I/O errors. */
int state_load(const char *path, struct fsm_persist *ret);
int state_save(const char *path, const struct fsm_persist *p);

#endif
