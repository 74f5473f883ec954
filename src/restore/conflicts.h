/* conflicts: which of the master's paths a restore must not overwrite, and
 * keeping them in a dated folder outside the served tree.
 *
 * A path is a conflict when the master's own journal lists it as changed
 * and not acknowledged by the slave (conflicts_load_journal), when its
 * ctime is after changed_after (a write the daemon did not live to
 * journal), or, with by_mtime, when the master's copy is newer than the
 * slave's or the slave has none.  Before the restore replaces or removes a path, conflicts_keep()
 * walks it (recursively for a directory) and keeps every conflicting file
 * or symlink at <base>/<stamp>/<path>: a hardlink when the folder is on the
 * same file system (the inode the restore is about to replace survives, and
 * the master's file stays in place as the delta basis until the replacement
 * is durable), else a copy (fsynced).  A version already kept with identical
 * content in any earlier run folder under base is not kept again, so
 * re-running (or running after a kill) creates no duplicates.
 *
 * Program-side module: it logs nothing, it records; conflicts_report()
 * writes the list.  Paths are wire paths relative to the mirror root. */
#ifndef RESTORE_CONFLICTS_H
#define RESTORE_CONFLICTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "entry.h"

struct conflicts_opts {
	const char *base;      /* <conflicts dir>/<mirror>, outside the tree; borrowed */
	const char *stamp;     /* run folder name, "YYYYmmdd-HHMMSS"; borrowed */
	bool by_mtime;         /* fallback rule when there is no journal */
	struct timespec changed_after; /* files whose ctime is later are conflicts
					  too (0: off); see mirror-restore.c */
	struct timespec run_start;     /* ... unless it is this late: this run
					  wrote them (0: no bound) */
	bool dry_run;          /* record what would be kept, keep nothing */
};

struct conflicts;

/* rootfd (the master's tree) and the strings in o are borrowed. */
struct conflicts *conflicts_new(int rootfd, const struct conflicts_opts *o);
void conflicts_free(struct conflicts *cf);     /* NULL is a no-op */

/* Mark path (and with subtree everything beneath it) as a conflict. */
int conflicts_add(struct conflicts *cf, const char *path, size_t len, bool subtree);
/* The restore renamed from -> to in this node's tree (a rename the slave
 * made): conflicts at or beneath from are now beneath to.  0 or -errno. */
int conflicts_renamed(struct conflicts *cf, const char *from, size_t flen, const char *to,
		      size_t tlen);
/* Add every path of the journal in jdir that the slave has not
 * acknowledged.  0 and *ret_records, -ENOENT when jdir holds no journal,
 * or -errno (the journal cannot be read: the caller stops). */
int conflicts_load_journal(struct conflicts *cf, const char *jdir, uint64_t *ret_records);

/* Keep the conflicting versions at or beneath path before it is replaced
 * or removed; want is the slave's entry for path (NULL when the slave has
 * none).  0 when the change may go ahead, -errno when a conflicting
 * version could not be kept (the change must then be refused). */
int conflicts_keep(struct conflicts *cf, const char *path, size_t len,
		   const struct entry *want);

/* Conflicts listed so far (kept now, or found kept by an earlier run). */
size_t conflicts_count(const struct conflicts *cf);
/* Number of versions kept in this run's folder. */
size_t conflicts_kept_now(const struct conflicts *cf);
/* This run's folder (<base>/<stamp>), for messages; borrowed. */
const char *conflicts_dir(const struct conflicts *cf);
/* Print the list to out and, when something was kept in this run, write
 * it to <base>/<stamp>/conflicts.txt.  0 or -errno. */
int conflicts_report(struct conflicts *cf, FILE *out);

/* For --reapply: put the versions kept in this run back into the tree,
 * after keeping the version that is there now (the slave's) beside them
 * under <base>/<stamp>/from-slave/.  0 or -errno (first failure; the rest
 * is left as it is). */
int conflicts_reapply(struct conflicts *cf, size_t *ret_count);

#endif
