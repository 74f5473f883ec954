/* live: the source role of one mirror, in a thread of its own.
 *
 * The thread starts the watcher (watch.h), connects to the peer and runs a
 * sender session whose feed is, in turn: a full reconciliation pass (the
 * same scan feed as a one-shot push; the sink compares size and mtime and
 * prunes at DIR_DONE), then the coalesced watcher records (coalesce.h).
 * Events that arrive while reconciling are recorded and sent after it.
 *
 * One poll loop per thread: the socket, the watcher's pipe and a timeout
 * for the settle window, the keep-alive PING and the reconnect backoff
 * (100 ms doubling to 5 s).  Every (re)connect and every watcher overflow
 * or failure, and a dirty set that hits its bound, start a new full
 * reconciliation: nothing is lost, at the price of a rescan.  (The
 * persistent journal is not used yet.)
 *
 * Only one live source per process while watch.c is single-instance. */
#ifndef MIRRORD_LIVE_H
#define MIRRORD_LIVE_H

#include <signal.h>

#include "conf.h"

struct live;

/* Start the source thread of mirror m.  c and m are borrowed and must
 * outlive the thread; stop is polled (at least every 250 ms).  0 and
 * *ret_l, or -errno (watcher could not start, ...). */
int live_start(const struct conf *c, const struct conf_mirror *m,
	       volatile sig_atomic_t *stop, struct live **ret_l);
/* Wait for the thread (after *stop was set) and free it.  NULL is a no-op. */
void live_join(struct live *l);

#endif
