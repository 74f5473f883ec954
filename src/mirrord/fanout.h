/* fanout: one source mirror, several sinks ("peer =" repeated).
 *
 * The watcher, the dirty set and the journal are shared: every change is
 * recorded once.  Each sink (peer) has its own session, reconnect backoff,
 * connection attempt (made in a short-lived thread of its own, so a sink
 * that does not answer never holds up the others), feed position and
 * acknowledgement cursor (cursors.h).  One poll loop serves them all with
 * non-blocking sockets, each peer's output bounded like a single session's
 * (4 MiB queued, 8192 operations in flight), so a slow or dead sink never
 * blocks another.
 *
 * The journal is acknowledged, and so compacted, up to the lowest cursor
 * of the peers it still keeps records for.  A peer more than journal_max
 * records behind the newest one, or the slowest when the journal fills up
 * (its byte bound), is dropped from it (logged): the journal
 * no longer waits for it, is compacted past it, and the peer, connected or
 * when it returns, is brought up to date by a pass over the whole tree
 * (the sink compares size and mtime) before it follows the journal again.
 * The cursors are written to state_dir/<mirror>/journal.peers (one line a
 * peer: address, cursor, "kept" or "dropped"); a restart reconciles every
 * peer anyway, like a single peer.
 *
 * Status: the first peer is failoverd's partner, so the mirror's own
 * figures (lag, synced_until_ms) are that peer's; every peer's are listed
 * as well (live_peers).
 *
 * Runs in the live source's thread (live.c), which owns everything here;
 * only fanout_status and fanout_peers are called from other threads. */
#ifndef MIRRORD_FANOUT_H
#define MIRRORD_FANOUT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "live.h"

struct fanout;
struct live;
struct live_feed;
struct sender;
struct stream;
struct journal;

/* For l (mirror m with more than one peer).  0 and *ret, or -errno. */
int fanout_new(struct live *l, const struct conf *c, const struct conf_mirror *m,
	       volatile sig_atomic_t *stop, struct fanout **ret);
void fanout_free(struct fanout *fo);            /* NULL is a no-op */
/* The live thread's loop until *stop. */
void fanout_run(struct fanout *fo);

/* ---- called by live.c, about the active peer ---- */
uint64_t fanout_cursor(const struct fanout *fo);
/* Its number, in configuration order from 0 (its slot in grow.h). */
size_t fanout_active(const struct fanout *fo);
/* The active peer holds every record <= seq; synced is the newest record.
 * Returns the journal's new acknowledgement point (the floor). */
uint64_t fanout_ack(struct fanout *fo, uint64_t seq, uint64_t synced);
/* The journal is full: drop the slowest peers (logged) if that frees
 * records.  True with the new floor, false when none holds any back. */
bool fanout_make_room(struct fanout *fo, uint64_t synced, uint64_t *ret_floor);
/* A full reconciliation recorded at seq + 1 covers every peer. */
void fanout_superseded(struct fanout *fo, uint64_t seq);
/* No parked feed has read record seq yet. */
bool fanout_before(const struct fanout *fo, uint64_t seq);
/* The journal was closed: every parked feed starts over. */
void fanout_broken(struct fanout *fo);
/* The active peer is reconciled by a tree pass covering records <= seq. */
void fanout_rejoin(struct fanout *fo, uint64_t seq);
/* Any thread. */
void fanout_status(struct fanout *fo, struct live_status *ret);
size_t fanout_peers(struct fanout *fo, struct live_peer_status *out, size_t max);

/* ---- provided by live.c for the loop here ---- */
struct live_feed *live_feed_new(void);
void live_feed_free(struct live *l, struct live_feed *fd);
void live_feed_swap(struct live *l, struct live_feed *fd);
uint64_t live_feed_fed(const struct live_feed *fd);   /* last record it read */
void live_rewind(struct live *l);
void live_reconcile(struct live *l);
void live_housekeeping(struct live *l);
void live_maybe_ack(struct live *l, bool force);
struct sender *live_sender_new(struct live *l);
void live_session_begin(struct live *l);
void live_session_end(struct live *l, struct sender *snd, struct stream *s);
bool live_in_sync(struct live *l, struct sender *snd);
void live_publish(struct live *l, struct sender *snd, struct stream *s, struct live_status *ret);
int live_poll_timeout(struct live *l, uint64_t last_in);
int live_watch_fd(const struct live *l);
struct journal *live_journal(struct live *l);

#endif
