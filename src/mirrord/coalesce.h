/* coalesce: the live source's dirty set (pure logic, no I/O).
 *
 * Watcher records go in; an ordered stream of work items comes out:
 * "send the current state of PATH" (the caller re-stats it: present means
 * ENTRY, absent means DELETE) and "RENAME FROM TO".  Time is passed in by
 * the caller in milliseconds (any monotonic clock).
 *
 * Settling: a touched path becomes due delay_ms after its last touch, or at
 * once when touched with COALESCE_CLOSED (close-write).  Items live in two
 * lists: "settling" (ordered by due time, a re-touch moves an item to the
 * tail) and "ready" (due, in the order they became due).
 *
 * Renames: a MOVED_FROM waits up to delay_ms for the MOVED_TO with the same
 * cookie.  A pair becomes a RENAME item; every pending item not under FROM
 * is made ready before it (what happened before the rename is sent before
 * it), and pending items under FROM are renamed to TO and sent after it.
 * When FROM itself was created and never sent as a change, no RENAME is
 * emitted, its items are just renamed, and FROM is touched (absent on
 * disk: a delete): a listing read when it is sent (a start-up or
 * reconciliation pass over FROM's directory) may have sent FROM to the
 * sink, and an elided rename that made FROM may have replaced an older one
 * the sink has.  The destination is always touched too, so a rename the
 * sink could not apply still converges.  An
 * unpaired MOVED_FROM (moved out of the tree) becomes a touch of FROM
 * (absent: a delete); an unpaired MOVED_TO (moved in) a created touch.
 *
 * Order of creation: an item touched with COALESCE_CREATED keeps its place
 * when touched again until it is sent, so a new directory goes out before
 * the files created in it.
 *
 * Bounds: at most max_items path items (renames included) and
 * COALESCE_MOVES pending MOVED_FROMs (the oldest expires early).  A touch
 * beyond the bound returns -ENOSPC and changes nothing: the caller must
 * clear the set and fall back to a full reconciliation.
 *
 * Not thread-safe. */
#ifndef MIRRORD_COALESCE_H
#define MIRRORD_COALESCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COALESCE_MOVES 64

enum coalesce_flags {
	COALESCE_CLOSED = 1,    /* close-write: due at once */
	COALESCE_CREATED = 2,   /* the path did not exist before this event */
};

enum coalesce_kind {
	COALESCE_PATH = 1,      /* path: send its current state */
	COALESCE_RENAME = 2,    /* path -> to */
};

/* One item handed out by coalesce_pop(); the caller owns path and to and
 * frees them with coalesce_item_clear(). */
struct coalesce_item {
	enum coalesce_kind kind;
	bool created;           /* PATH: created since it was last sent */
	char *path;
	size_t len;
	char *to;               /* RENAME only */
	size_t to_len;
};

struct coalesce_stats {
	uint64_t touches, merged, renames, renames_elided, moves_out, moves_in, popped;
};

struct coalesce;

/* NULL on allocation failure or max_items == 0. */
struct coalesce *coalesce_new(size_t max_items, uint32_t delay_ms);
void coalesce_free(struct coalesce *c);          /* NULL is a no-op */
/* Drop everything pending (a full reconciliation covers it). */
void coalesce_clear(struct coalesce *c);

/* Mark path dirty.  0, -ENOSPC (full, see above), -ENOMEM, -EINVAL. */
int coalesce_touch(struct coalesce *c, const char *path, size_t len, unsigned flags,
		   uint64_t now);
/* Rename halves (cookie from the kernel).  Same returns as touch. */
int coalesce_moved_from(struct coalesce *c, uint32_t cookie, const char *path, size_t len,
			uint64_t now);
int coalesce_moved_to(struct coalesce *c, uint32_t cookie, const char *path, size_t len,
		      uint64_t now);
/* Is a MOVED_FROM with this cookie still waiting for its MOVED_TO?  When
 * it is not (it expired), a MOVED_TO is taken as something moved in. */
bool coalesce_move_pending(const struct coalesce *c, uint32_t cookie);

/* Next due item: 1 and *ret, 0 when nothing is due at now, -ENOSPC or
 * -ENOMEM when expiring a pending move failed (clear and reconcile). */
int coalesce_pop(struct coalesce *c, uint64_t now, struct coalesce_item *ret);
void coalesce_item_clear(struct coalesce_item *it);
/* Milliseconds until something is due (0: now), -1 when empty. */
int64_t coalesce_wait_ms(const struct coalesce *c, uint64_t now);
/* Path items and renames pending (pending moves not counted). */
size_t coalesce_count(const struct coalesce *c);
const struct coalesce_stats *coalesce_stats(const struct coalesce *c);

#endif
