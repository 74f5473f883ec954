/* live: the source role of one mirror, in a thread of its own.
 *
 * Pipeline:
 *
 *   watcher --> dirty set (coalesce.h) --> journal (journal.h) --> sender
 *               settle, pair renames       append, one fdatasync     feed reads
 *                                          per batch, then send      it back
 *
 * Every change the dirty set lets go is recorded in the persistent journal
 * (state_dir/<mirror>/journal) and synced before anything about it is
 * sent; the feed of the sender session reads the journal back: UPSERT and
 * CREATE records send the path's current state (ENTRY, or DELETE when it is
 * gone), RENAME records a RENAME, RESCAN records walk a subtree like a
 * one-shot push (the sink compares size and mtime and prunes at DIR_DONE).
 * Operations carry their record's sequence number; the journal is
 * acknowledged (at most every 200 ms and at the end of a session) up to
 * the lowest record with an operation not yet complete on the sink, so a
 * reconnect resumes at the first unacknowledged record instead of
 * rescanning.  While the sink is unreachable the journal, not memory,
 * absorbs the changes (its bound: journal_set_limits).
 *
 * Growing files: a file modified while open (IN_MODIFY, no IN_CLOSE_WRITE
 * yet) is shipped at most every append_interval_ms while it stays open; once
 * the sink is known to hold its first bytes, only the bytes appended since
 * go (APPEND, see doc/PROTOCOL.md), each through the journal like any
 * change.  A file that shrank waits for its close, whose normal transfer
 * is the net for changes an append cannot express; one written in place
 * without changing size is sent the normal way at most as often.  A
 * crash in the middle converges like any change: the start-up
 * reconciliation compares size and mtime, and a new session forgets what
 * the sink was known to hold.
 *
 * Full reconciliation (a RESCAN "" record that supersedes every record
 * before it): at start-up (changes made while nobody watched), when the
 * dirty set or the journal is full, when the watcher restarts or the
 * kernel queue overflowed (IN_Q_OVERFLOW has no path), and when the
 * journal had to be reopened.  A watch that failed on a subtree rescans
 * only that subtree (the whole tree when excludes are configured, as
 * anchored patterns are relative to the root).
 *
 * One poll loop per thread: the socket, the watcher's pipe and a timeout
 * for the settle window, the acknowledgement timer, the keep-alive PING
 * and the reconnect backoff (100 ms doubling to 5 s).
 *
 * One instance per mirror with a peer, any number per process: nothing is
 * shared between them but the status table, the stop flag and watch.c's
 * inotify hub (each has a root of its own there).  A mirror with several
 * peers sends to each from this one thread (fanout.h). */
#ifndef MIRRORD_LIVE_H
#define MIRRORD_LIVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "progress.h"
#include "status.h"

struct live;

/* A snapshot for `mirrorctl status`. */
struct live_status {
	bool connected;
	bool reconciling;          /* a RESCAN record is being sent */
	uint64_t lag_ms;           /* since the sink was last known to hold every
				    * change (0 when in sync) */
	int64_t synced_until_ms;   /* wall clock, ms: the sink holds every change
				    * made before this (failoverd's position) */
	uint64_t journal_entries;  /* recorded, not yet acknowledged */
	uint64_t dirty;            /* settling, not yet recorded */
	uint64_t in_flight;        /* operations sent, not yet complete */
	uint64_t bytes_sent;       /* on the connection, all sessions */
	uint64_t delta_saved;      /* file bytes not sent thanks to deltas */
	uint64_t errors;
	enum status_coverage coverage;   /* is every directory watched */
	uint64_t watched_dirs, unwatched_dirs;
	struct progress_view progress;   /* the walk or whole-tree pass under way */
};

/* One sink of a mirror with several (fanout.h). */
struct live_peer_status {
	char addr[64];
	bool connected;
	bool dropped;              /* beyond journal_max: reconciled by a tree pass */
	bool reconciling;
	uint64_t lag_ms;
	int64_t synced_until_ms;
	uint64_t cursor;           /* last journal record it acknowledged */
	uint64_t behind;           /* synced journal records after its cursor */
	uint64_t in_flight, bytes_sent, errors;
	struct progress_view progress;   /* its whole-tree pass under way */
};

/* Start the source thread of mirror m.  c and m are borrowed and must
 * outlive the thread; stop is polled (at least every 250 ms).  0 and
 * *ret_l, or -errno (watcher could not start, ...). */
int live_start(const struct conf *c, const struct conf_mirror *m,
	       volatile sig_atomic_t *stop, struct live **ret_l);
/* Wait for the thread (after *stop was set) and free it.  NULL is a no-op. */
void live_join(struct live *l);
/* Send path again from this side's current state (a file's content even
 * when its size and mtime match the sink's; a path gone here is deleted
 * there; with tree, a directory's whole subtree like a reconciliation):
 * the drift audit's repair.  It goes through the journal like any change,
 * at the thread's next loop turn.  Safe from any thread.  0, or -ENOSPC
 * when LIVE_REPAIR_MAX requests are already waiting, -ENOMEM. */
#define LIVE_REPAIR_MAX 4096
int live_repair(struct live *l, const char *path, size_t len, bool tree);
/* Copy the latest figures (updated every loop turn of the thread).  Safe
 * from any thread while l is running. */
void live_status(struct live *l, struct live_status *ret);
/* With several peers: up to max of them into out, in configuration order;
 * returns how many there are (0 for a mirror with one peer).  Any thread. */
size_t live_peers(struct live *l, struct live_peer_status *out, size_t max);

#endif
