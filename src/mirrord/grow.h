/* grow: the live source's table of files that stay open and grow (pure
 * logic, no I/O; time in milliseconds from the caller).  One table serves
 * every sink of a mirror (fan-out, fanout.h): the watcher's view (open,
 * due) is the file's, what each sink holds (and what is in flight to it)
 * is that sink's, numbered 0 .. nsinks - 1, so every sink gets appends
 * from its own offset.
 *
 * A file modified while open (IN_MODIFY, no IN_CLOSE_WRITE yet) is tracked
 * here instead of settling in the dirty set, where a writer busier than
 * delay_ms would keep it back until its close.  grow_next_due() hands it out
 * at most interval_ms after its first modification not yet handed out (the
 * caller then records the path like any change); a modification after that
 * arms it again.
 *
 * When the feed is about to send such a file, grow_decide() says how:
 *   GROW_APPEND  the sink is known to hold our first *ret_base bytes of
 *                this inode and the file is longer: send only the rest;
 *   GROW_SEND    the normal way (ENTRY): not tracked, closed (the close's
 *                transfer is the net for what an append cannot express),
 *                nothing known about it yet, another inode at the path, or
 *                written in place without changing size (a database: sent
 *                as before, only no more often than the interval);
 *   GROW_SKIP    nothing now: it shrank while open (its close will send
 *                it), or an earlier shipment is in flight (it is armed to
 *                come round again).
 * grow_answered() reports the sink's answer for a regular file (the
 * sender's on_file): status 0 and size mean the sink holds our first size
 * bytes.  The table is a hint only: the sink checks size and tail before it
 * appends anything.
 *
 * Bounds: at most max files.  A new file takes a free slot, else evicts the
 * least recently modified one with nothing in flight; when none can go,
 * grow_modified() returns false and the caller ships the file through the
 * dirty set as before.  Files with other names (nlink > 1) are never
 * appended to (they may travel as hardlinks).
 *
 * Not thread-safe. */
#ifndef MIRRORD_GROW_H
#define MIRRORD_GROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum grow_verdict { GROW_SEND, GROW_APPEND, GROW_SKIP };

struct grow;

/* NULL on allocation failure, max == 0 or nsinks == 0. */
struct grow *grow_new(size_t max, size_t nsinks, uint32_t interval_ms);
void grow_free(struct grow *g);                  /* NULL is a no-op */

/* IN_MODIFY of a file at now: true when the table follows it (do not touch
 * the dirty set), false when it is full (or out of memory). */
bool grow_modified(struct grow *g, const char *path, size_t len, uint64_t now);
/* IN_CLOSE_WRITE: no more append passes (what is known is kept). */
void grow_closed(struct grow *g, const char *path, size_t len);
/* Deleted, or moved away or over: forget the path. */
void grow_forget(struct grow *g, const char *path, size_t len);

/* The next open file due at now: 1 with *ret_path (borrowed until the next
 * call into g) and *ret_len, its due time cleared; 0 when none is due. */
int grow_next_due(struct grow *g, uint64_t now, const char **ret_path, size_t *ret_len);
/* Milliseconds until the next file is due (0: now), -1 when none is armed. */
int64_t grow_wait_ms(const struct grow *g, uint64_t now);

/* See above, for sink (< nsinks; larger is taken as a sink that is told
 * to send the normal way).  ino, nlink and size as stat'ed now; *ret_base
 * set only for GROW_APPEND.  Every GROW_SEND of a tracked file and every
 * GROW_APPEND counts as in flight to that sink until grow_answered() (or
 * grow_reset()). */
enum grow_verdict grow_decide(struct grow *g, size_t sink, const char *path, size_t len,
			      uint64_t ino, uint32_t nlink, uint64_t size, uint64_t now,
			      uint64_t *ret_base);
void grow_answered(struct grow *g, size_t sink, const char *path, size_t len, uint64_t ino,
		   uint64_t size, int status);
/* A new session with sink: nothing is in flight to it, nothing is known
 * about its copies. */
void grow_reset(struct grow *g, size_t sink);
size_t grow_count(const struct grow *g);        /* files followed */

#endif
