/* verify: the content check of mirror-restore --verify.  The slave sends
 * the XXH3-128 digest of every entry of its tree (DIGESTS, remote.h), this
 * node computes the same for its own (treedigest.h), and every path that
 * is missing on one side, of another type, or of other content is printed
 * ("verify: ..." lines on stdout, at most VERIFY_PRINT_MAX). */
#ifndef RESTORE_VERIFY_H
#define RESTORE_VERIFY_H

#include <stdint.h>

#include "conf.h"
#include "exclude.h"

#define VERIFY_PRINT_MAX 100
#define VERIFY_MAX_ENTRIES 20000000u

/* rootfd and ex borrowed.  0 with *ret_differ (paths that differ) and
 * *ret_entries (the slave's entries), or -errno with a reason in why. */
int verify_content(const struct conf *c, const struct conf_mirror *m, int rootfd,
		   const struct exclude *ex, uint64_t *ret_differ, uint64_t *ret_entries,
		   char *why, size_t why_len);

#endif
