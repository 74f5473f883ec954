/* changeset: what a journal-driven restore asks the slave for.
 *
 * Built from the slave's CHANGES list and this node's own unacknowledged
 * journal records (pure logic, no I/O):
 *   UPSERT / CREATE / DELETE p   PATH p and PATH of p's parent (a file
 *                                whose content is replaced here changes
 *                                its directory's mtime here)
 *   RENAME a -> b (slave)        a local rename (changeset_renames), PATH a,
 *                                SCAN b, and both parents
 *   RENAME a -> b (this node)    SCAN a, SCAN b, both parents
 *   RESCAN p                     SCAN p; "" means the whole tree: the
 *                                restore falls back to a full comparison
 * changeset_finish() sorts the requests (a parent before its children),
 * drops duplicates, and drops every request beneath a SCAN, which covers
 * it.  Bounded by CHANGESET_MAX requests: beyond, -E2BIG (full comparison).
 * Paths are wire paths, copied. */
#ifndef RESTORE_CHANGESET_H
#define RESTORE_CHANGESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHANGESET_MAX 2000000u

struct changeset;

struct changeset_req {
	uint8_t kind;            /* enum restlist_kind */
	const char *path;        /* owned by the changeset */
	size_t len;
};

struct changeset_rename {
	const char *from, *to;   /* owned by the changeset */
	size_t flen, tlen;
};

struct changeset *changeset_new(void);
void changeset_free(struct changeset *cs);   /* NULL is a no-op */

/* Add one journal record (enum journal_op); from_slave: the slave's list,
 * else this node's journal.  0, 1 when the record asks for the whole tree
 * (RESCAN ""), -E2BIG, -ENOMEM. */
int changeset_add(struct changeset *cs, bool from_slave, unsigned op, const char *path,
		  size_t len, const char *path2, size_t len2);
/* Sort and reduce; call once before reading.  0 or -ENOMEM. */
int changeset_finish(struct changeset *cs);

size_t changeset_count(const struct changeset *cs);
const struct changeset_req *changeset_get(const struct changeset *cs, size_t i);
/* The slave's renames, in its journal's order. */
size_t changeset_renames(const struct changeset *cs);
const struct changeset_rename *changeset_rename_get(const struct changeset *cs, size_t i);

#endif
