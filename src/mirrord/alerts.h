/* alerts: the conditions mirrord notifies about through the [node] notify
 * hook (notify.h, doc/notify.md).  One set per process, safe to call from
 * any thread; without a hook every call is a no-op.
 *
 *  - "lag", key MIRROR: a source mirror whose sink has not acknowledged
 *    every change for more than notify_lag_sec; resolved when it is back
 *    under (or the mirror stops being a source).
 *  - "error", key MIRROR/SIDE/ERRNO (SIDE "source" or "sink", ERRNO a
 *    name such as ENOSPC): a file could not be read (source) or applied
 *    (sink) for want of space, permission or a writable filesystem, and
 *    no file went through for ALERTS_PERSIST_SEC since; resolved by the
 *    next file that does.
 *  - "watch", key MIRROR: the source's watcher does not follow every
 *    directory of the mirror (coverage partial or none, coverage.h; mostly
 *    the inotify watch limit); resolved when the coverage is full again
 *    (the source retried, and reconciles the whole tree), or the mirror
 *    stops being a source.
 *  - "audit", key MIRROR/WHAT: findings of the audit (alerts_audit). */
#ifndef MIRRORD_ALERTS_H
#define MIRRORD_ALERTS_H

#include <stdbool.h>

#include "conf.h"
#include "notify.h"

#define ALERTS_PERSIST_SEC 10   /* an error stands this long before it is raised */
#define ALERTS_ERR_MAX 64       /* (mirror, side, errno) tracked at once */

/* Set up from c's [node] notify keys.  0, or -ENOMEM (logged; the daemon
 * runs on without notifications). */
int alerts_init(const struct conf *c);
void alerts_free(void);
/* The process's hook, NULL without one: for notify_event()/notify_raise()
 * of kinds not listed above. */
struct notify *alerts_notify(void);

/* The control thread, every tick: the lag and coverage of every source
 * mirror (status table), errors that have stood long enough, and
 * notify_poll(). */
void alerts_tick(void);

/* A file could not be read (side "source") or applied (side "sink"):
 * err < 0, path the file.  Errors other than space, quota, permission and
 * read-only are ignored. */
void alerts_file_error(const char *mirror, const char *side, const char *path, int err);
/* A file of mirror went through: resolves its errors, both sides. */
void alerts_file_ok(const char *mirror);

/* Audit findings: raised on a finding about (mirror, what), resolved when
 * a later audit finds it no longer (detail: a JSON object or NULL). */
void alerts_audit(const char *mirror, const char *what, const char *summary,
		  const char *detail);
void alerts_audit_clear(const char *mirror, const char *what, const char *summary);

#endif
