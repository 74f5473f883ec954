/* cursors: the acknowledgement cursors of a source mirror's sinks
 * (fan-out), and what the shared journal may drop because of them (pure
 * logic, no I/O).
 *
 * Each sink has a cursor: the highest journal record it holds durably.  A
 * sink is retained while it lags at most max records behind the newest
 * synced one; the journal is acknowledged (and compacted) up to the floor,
 * the lowest cursor of the retained sinks, so a sink that is down keeps
 * its records until it falls beyond max.  Then it is dropped: it no longer
 * holds the journal back, and when it returns it is brought up to date by
 * comparing the trees (cursors_rejoin) instead of by the journal.
 *
 * Not thread-safe. */
#ifndef MIRRORD_CURSORS_H
#define MIRRORD_CURSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cursors;

/* n sinks, all retained at seq; max >= 1.  NULL on allocation failure. */
struct cursors *cursors_new(size_t n, uint64_t seq, uint64_t max);
void cursors_free(struct cursors *c);           /* NULL is a no-op */

/* Sink i holds every record <= seq.  Ignored for a dropped sink and for
 * a seq at or below its cursor. */
void cursors_ack(struct cursors *c, size_t i, uint64_t seq);
/* Drop every retained sink more than max records behind synced.  Returns
 * how many were dropped now; *ret_mask (may be NULL) gets bit i set for
 * each (sinks 0..63). */
size_t cursors_drop_behind(struct cursors *c, uint64_t synced, uint64_t *ret_mask);
/* The journal is full: drop the retained sinks at the lowest cursor, if it
 * is below synced (they hold records back).  Returns how many; *ret_mask
 * (may be NULL) as for cursors_drop_behind. */
size_t cursors_drop_slowest(struct cursors *c, uint64_t synced, uint64_t *ret_mask);
/* The journal may drop every record <= the floor: the lowest cursor of
 * the retained sinks, or synced when none is retained. */
uint64_t cursors_floor(const struct cursors *c, uint64_t synced);
/* Sink i is up to date through a tree comparison that covers every
 * record <= seq: retained again at seq. */
void cursors_rejoin(struct cursors *c, size_t i, uint64_t seq);
/* A full reconciliation covers every record <= seq for every sink. */
void cursors_reset(struct cursors *c, uint64_t seq);

uint64_t cursors_get(const struct cursors *c, size_t i);
bool cursors_dropped(const struct cursors *c, size_t i);
size_t cursors_count(const struct cursors *c);

#endif
