/* pit: mirror-restore --from-version and --list-versions, on the node that
 * keeps the versions (the slave).  Reads the mirror's tree and its
 * versions directory; writes only beneath the target it is given. */
#ifndef MIRROR_RESTORE_PIT_H
#define MIRROR_RESTORE_PIT_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"

struct pit_args {
	const char *time;        /* as given; see pit_parse_time */
	const char *path;        /* in the mirror ("" or NULL: all of it) */
	const char *to;          /* target; must not exist, or an empty directory */
	bool into_tree;          /* allow a target inside the mirror's tree */
};

/* "@SECONDS[.FRACTION]", or "YYYY-MM-DD[ T]HH:MM:SS[.FRACTION][Z]" (local
 * time without Z).  0 and *ret_ns, or -EINVAL. */
int pit_parse_time(const char *s, int64_t *ret_ns);
/* Write path as it was at time into to.  Returns an exit status
 * (0, 1 usage or refused, 3 incomplete). */
int pit_restore(const struct conf *c, const struct conf_mirror *m, const struct pit_args *a);
/* Print the kept versions of path (time, operation, bytes, file). */
int pit_list(const struct conf *c, const struct conf_mirror *m, const char *path);

#endif
