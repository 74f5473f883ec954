/* status: the live numbers of every mirror in this daemon, in one
 * mutex-protected table (one per process).  The source thread (live.c) and
 * the sink sessions (serve.c) report into it; the control socket
 * (control.c) and the metrics file read snapshots of it.
 *
 * Mirrors are found by name: writers pass the conf_mirror name they hold,
 * so neither side needs an index.  A name that is not in the table is
 * ignored (status_init() was not called, or a test runs a session alone).
 * Every function is safe to call from any thread and never blocks on I/O.
 *
 * The source role is asked rather than told: it registers a probe
 * (status_set_probe) that fills a struct status_source with its own
 * figures; status_poll() (the control thread, every few hundred ms) and
 * every snapshot call it, outside the table's lock.  The sink sessions tell
 * (status_connected ...), from their threads. */
#ifndef MIRRORD_STATUS_H
#define MIRRORD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "progress.h"

#define STATUS_ERROR_MAX 200   /* bytes of last_error kept, NUL included */
#define STATUS_PEER_MAX 80

/* One sink of a source mirror with several (fan-out). */
struct status_peer {
	char addr[STATUS_PEER_MAX];
	bool connected;
	bool dropped;                 /* beyond journal_max: reconciled by a tree pass */
	bool reconciling;
	double lag_seconds;
	int64_t synced_until_ms;
	uint64_t cursor;              /* last journal record it acknowledged */
	uint64_t behind;              /* journal records after its cursor */
	uint64_t queue_depth, bytes_sent, errors;
	struct progress_view progress;   /* its whole-tree pass, if one runs */
};

enum status_role {
	STATUS_IDLE,           /* has a peer but its source is not running */
	STATUS_SOURCE,         /* the live source runs for it (live.c) */
	STATUS_SINK,           /* receives from a source (serve.c) */
};

/* Whether the source role's watcher follows the whole tree (coverage.h). */
enum status_coverage {
	STATUS_COVER_UNKNOWN,  /* no source role */
	STATUS_COVER_FULL,     /* every directory is watched */
	STATUS_COVER_PARTIAL,  /* some directories are not (see the log) */
	STATUS_COVER_NONE,     /* no watcher: changes are not followed */
};

/* The drift audit of a source mirror (audit.h). */
struct status_audit {
	bool enabled;                 /* an audit runs for this mirror */
	bool running;                 /* a pass is under way */
	uint64_t passes;              /* complete passes since start */
	int64_t last_start, last_end; /* unix seconds of the last pass, 0 = none */
	uint64_t files;               /* files checked by the current/last pass */
	uint64_t hashed_files;        /* of which hashed on both sides */
	uint64_t hashed_bytes;        /* content bytes read on this side */
	uint64_t peer_bytes;          /* content bytes the sink read */
	uint64_t drift_last;          /* differences the last complete pass found */
	uint64_t drift_total;         /* differences found since start */
	uint64_t repaired_total;      /* of which sent again from this side */
	uint64_t laps;                /* complete coverages of the content sample */
	char last_drift[STATUS_ERROR_MAX];   /* "path: what", "" when none */
};

struct status_mirror {
	char name[40];
	enum status_role role;
	enum status_role requested;   /* last promote (SOURCE) / demote (SINK) */
	bool paused;                  /* pause requested; the live source honours it */
	bool connected;
	char peer[STATUS_PEER_MAX];   /* configured or connected peer, "" if none */
	int64_t connected_since;      /* unix seconds, 0 when not connected */
	bool lag_known;               /* source role only */
	double lag_seconds;
	uint64_t lag_entries;
	int64_t synced_until_ms;      /* source role: see status_source */
	uint64_t queue_depth;         /* bytes queued for the socket */
	uint64_t bytes_sent, bytes_received, bytes_saved;   /* since start */
	uint64_t sessions, errors;
	char last_error[STATUS_ERROR_MAX];   /* "" when none */
	int64_t last_error_at;        /* unix seconds, 0 when none */
	enum status_coverage coverage;   /* source role only */
	uint64_t watched_dirs, unwatched_dirs;
	struct progress_view progress;   /* source role: the start-up walk or a
					  * whole-tree pass under way (phase
					  * PROGRESS_NONE: none) */
	size_t n_peers;               /* source role with several sinks, else 0;
				       * the figures above are the first's */
	struct status_peer peers[CONF_MAX_PEERS];
	struct status_audit audit;
};

/* Build the table from c (every mirror STATUS_SINK, or STATUS_IDLE when it
 * has a peer).  0 or -ENOMEM.  Call once before any thread starts. */
int status_init(const struct conf *c);
void status_free(void);

/* ---- writers: live.c, serve.c, control.c ---- */

void status_set_role(const char *mirror, enum status_role role);
/* A session is up: role's peer; counters continue from earlier sessions. */
void status_connected(const char *mirror, const char *peer);
/* The session ended; err < 0 is recorded as last_error (strerror). */
void status_disconnected(const char *mirror, int err);
/* Record a failure without changing the connection state. */
void status_error(const char *mirror, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What a source role reports about itself. */
struct status_source {
	bool connected;
	double lag_seconds;      /* since the sink last held every change */
	int64_t synced_until_ms; /* wall ms: the sink holds every change made
				  * before this (0 = unknown) */
	uint64_t lag_entries;    /* changes not yet acknowledged by the sink */
	uint64_t queue_depth;    /* operations sent, not yet complete */
	uint64_t bytes_sent, bytes_saved, errors;   /* since start */
	enum status_coverage coverage;
	uint64_t watched_dirs;   /* directory watches in place */
	uint64_t unwatched_dirs; /* directories (with what is below) whose
				  * watch failed: not followed */
	struct progress_view progress;   /* a walk or whole-tree pass */
	size_t n_peers;          /* several sinks: each one's figures */
	struct status_peer peers[CONF_MAX_PEERS];
};
typedef void status_probe_fn(void *ctx, struct status_source *ret);
/* Register (fn != NULL) or remove the probe of a source mirror; ctx must
 * stay valid until it is removed.  Sets the role to STATUS_SOURCE (or back
 * to its initial role). */
void status_set_probe(const char *mirror, status_probe_fn *fn, void *ctx);
/* Ask every probe now, to track connection changes (connected_since). */
void status_poll(void);
/* The audit's figures (audit.c), replacing the previous ones. */
void status_audit_set(const char *mirror, const struct status_audit *a);
/* Sink: this session's cumulative bytes received. */
void status_received(const char *mirror, uint64_t session_received);

/* ---- requests from the control socket (hook points) ----
 * promote/demote and pause/resume are recorded here.  The live source
 * polls status_paused() and, once role switching exists, the promotion code
 * reads status_requested_role(); until then they are only reported. */

/* 0, or -ENOENT for an unknown mirror. */
int status_request_role(const char *mirror, enum status_role want);
int status_set_paused(const char *mirror, bool paused);
bool status_paused(const char *mirror);
enum status_role status_requested_role(const char *mirror);

/* ---- readers ---- */

/* Copy up to max mirrors into out (lag figures computed for "now");
 * returns the number of mirrors in the table. */
size_t status_snapshot(struct status_mirror *out, size_t max);
size_t status_count(void);
bool status_has(const char *mirror);
const char *status_role_name(enum status_role r);
/* "full", "partial", "none"; NULL for STATUS_COVER_UNKNOWN. */
const char *status_coverage_name(enum status_coverage c);

#endif
