/* notify: the notification hook shared by mirrord, failoverd and
 * mirror-restore (the [node] notify key).  One executable is started per
 * notification with a JSON object on stdin and MIRRORD_* variables in a
 * clean environment; doc/notify.md documents both.
 *
 * Two kinds of notification:
 *  - conditions, named by (kind, key): notify_raise() fires "raised" the
 *    first time and then nothing while the condition holds (or again every
 *    repeat_sec when that is not 0); notify_clear() fires "resolved" once,
 *    only when a "raised" went out before.  The table of conditions is
 *    bounded (NOTIFY_CONDS_MAX); a raise that finds it full is dropped,
 *    logged and counted.
 *  - one-shot events (notify_event): a failover transition, a restore
 *    result.  Rate-limited by a token bucket (NOTIFY_EVENT_BURST, one more
 *    every NOTIFY_EVENT_REFILL_SEC); dropped events are counted and the
 *    next one that goes out carries the count ("suppressed").
 * A "raised" takes a token from the same bucket but is not dropped: it
 * waits in its row for one, so a condition that flaps faster than the
 * bucket refills is notified at that pace, and one that clears before
 * its turn is not notified at all.  "resolved" is not rate-limited (it
 * follows a "raised" that was).
 *
 * Hooks run as children with a timeout, never waited for: at most
 * NOTIFY_INFLIGHT_MAX run at once.  When all slots are busy, an event is
 * dropped (logged, counted), and a condition's raised/resolved stays
 * pending in its table row and goes out from notify_poll() when a slot
 * frees: nothing queues without bound.  The owner calls notify_poll()
 * from its loop (every few hundred ms) to reap hooks, kill overdue ones
 * and send what is pending.
 *
 * Every function is safe to call from any thread.  A NULL struct notify
 * (no hook configured) makes every call a no-op returning 0. */
#ifndef MIRROR_NOTIFY_H
#define MIRROR_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define NOTIFY_CONDS_MAX 256          /* conditions tracked at once */
#define NOTIFY_INFLIGHT_MAX 4         /* hooks running at once */
#define NOTIFY_EVENT_BURST 20         /* one-shot events in a burst */
#define NOTIFY_EVENT_REFILL_SEC 3     /* then one more every this many s */
#define NOTIFY_FIELD_MAX 1024         /* kind, key, summary: longer is cut */
#define NOTIFY_DETAIL_MAX 65536       /* bytes of detail JSON kept */
#define NOTIFY_PAYLOAD_VERSION 1

struct notify;

/* A hook (hook_path, absolute) killed after timeout_ms; a held condition
 * fires again every repeat_sec (0: once until it clears).  node_name is
 * copied into every payload.  NULL when hook_path is NULL or memory runs
 * out (logged). */
struct notify *notify_new(const char *hook_path, unsigned timeout_ms,
			  unsigned repeat_sec, const char *node_name);
/* Kill and reap the hooks still running (logged), free everything. */
void notify_free(struct notify *n);

/* A function the child runs after fork, before exec (async-signal-safe
 * calls only): failoverd drops its capabilities and real-time scheduling
 * there.  A non-zero return makes the child exit 126. */
void notify_set_child_setup(struct notify *n, int (*fn)(void));

/* Another bucket for events and raises: burst, then one every refill_ms
 * (defaults NOTIFY_EVENT_BURST, NOTIFY_EVENT_REFILL_SEC); refills it. */
void notify_set_rate(struct notify *n, unsigned burst, unsigned refill_ms);

/* The condition (kind, key) holds.  summary is one human line; detail is
 * a JSON object (text) or NULL.  Returns 1 when a hook was started, 0 when
 * nothing had to go out (already raised, or pending for a free slot),
 * -ENOSPC when the table is full, other -errno when the hook could not
 * start (the raise stays pending and is retried). */
int notify_raise(struct notify *n, const char *kind, const char *key,
		 const char *summary, const char *detail);
/* The condition no longer holds: "resolved" goes out when its "raised"
 * did; the row is forgotten either way.  1, 0 or -errno as above. */
int notify_clear(struct notify *n, const char *kind, const char *key,
		 const char *summary);
/* A one-shot event (state "event").  1 when started, 0 when dropped by
 * the rate limit or for want of a slot (logged, counted), -errno when
 * the hook could not start. */
int notify_event(struct notify *n, const char *kind, const char *key,
		 const char *summary, const char *detail);
/* Is (kind, key) raised (in the table)? */
bool notify_is_raised(struct notify *n, const char *kind, const char *key);

/* Reap finished hooks, kill those past their timeout, start pending
 * raised/resolved notifications. */
void notify_poll(struct notify *n);
/* For short-lived programs: poll until no hook runs and nothing is
 * pending, at most max_ms.  True when everything went out. */
bool notify_drain(struct notify *n, unsigned max_ms);

struct notify_stats {
	uint64_t started;        /* hooks started */
	uint64_t failed;         /* exited non-zero, killed, or could not start */
	uint64_t timeouts;       /* killed at the timeout */
	uint64_t dropped;        /* events or raises dropped (rate, slots, table) */
	unsigned in_flight;      /* hooks running now */
	unsigned conditions;     /* rows in the table */
};
void notify_stats(struct notify *n, struct notify_stats *ret);

/* ---- building blocks, also for failoverd's [failover] notify hook ---- */

/* One notification as the hook sees it. */
struct notify_msg {
	const char *kind;        /* MIRRORD_EVENT: "lag", "error", "failover", ... */
	const char *state;       /* MIRRORD_STATE: "raised", "resolved", "event" */
	const char *key;         /* MIRRORD_KEY */
	const char *node;        /* MIRRORD_NODE */
	const char *summary;     /* MIRRORD_SUMMARY */
	const char *detail;      /* JSON object text or NULL */
	int64_t time;            /* unix seconds; 0: now */
	int64_t since;           /* raised: when it was first raised; 0: time */
	unsigned repeat;         /* raised again while held: 1, 2, ... */
	uint64_t suppressed;     /* events dropped before this one */
};

/* Start "path [arg1]" with m's JSON on stdin (an anonymous file, so the
 * parent never blocks writing it), the MIRRORD_* environment and PATH
 * only, stdout and stderr inherited (the daemon's log), no other file
 * descriptor, in its own process group.
 * setup (may be NULL) runs in the child before exec.  The child's pid, or
 * -errno.  The caller reaps it. */
pid_t notify_spawn(const char *path, const char *arg1, const struct notify_msg *m,
		   int (*setup)(void));

/* The mirror a key names: its first component, up to '/', for every kind
 * but "failover"; "" otherwise.  Copies at most len-1 bytes. */
void notify_key_mirror(const char *kind, const char *key, char *buf, size_t len);

/* Write s as a JSON string (quotes included) to out; NULL writes null. */
void notify_json_string(FILE *out, const char *s);

#endif
