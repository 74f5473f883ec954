/* precount: count the paths of a tree in a thread of its own, beside a
 * full pass that has no estimate of its size yet (the first one after a
 * start without a usable tree index), so the status can show a
 * percentage and the time left.  The count walks like the pass (same
 * excludes and one_fs, stat only), so its total matches the pass's items
 * unless the tree changes meanwhile: it is an estimate.
 *
 * Bounded: one thread, no memory beyond the walk's; it ends at the end of
 * the tree, or soon after precount_free() asks it to. */
#ifndef MIRRORD_PRECOUNT_H
#define MIRRORD_PRECOUNT_H
#include <stdint.h>

#include "scan.h"

struct precount;

/* Count below rootfd (borrowed: a descriptor of its own is opened) with
 * so (so->ex borrowed until precount_free).  0 and *ret, or -errno. */
int precount_start(int rootfd, const struct scan_opts *so, struct precount **ret);
/* 1 with *ret_n once counted, 0 while counting, -errno when it failed. */
int precount_result(struct precount *pc, uint64_t *ret_n);
/* Stop (if still counting) and free.  NULL is a no-op. */
void precount_free(struct precount *pc);

/* The paths of the previous run's tree index in dir (the mirror's state
 * directory, see treeidx.h), without a walk; 0 when there is none. */
uint64_t precount_index_rows(const char *dir);

#endif
