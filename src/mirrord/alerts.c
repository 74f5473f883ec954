/* alerts: mirrord's notification conditions (see alerts.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "log.h"
#include "status.h"

struct err_row {
	bool used, raised;
	char mirror[64];
	const char *side;       /* "source" or "sink" (static strings) */
	int err;                /* > 0 */
	time_t first;           /* of this run of failures */
	char path[200];         /* the last file that failed, for the payload */
};

static struct {
	pthread_mutex_t lock;
	struct notify *n;
	uint32_t lag_sec;
	const char *node;
	struct err_row errs[ALERTS_ERR_MAX];
} A = { .lock = PTHREAD_MUTEX_INITIALIZER };

int alerts_init(const struct conf *c)
{
	if (!c->notify)
		return 0;
	A.n = notify_new(c->notify, c->notify_timeout_ms, c->notify_repeat_sec, c->node_name);
	if (!A.n)
		return -ENOMEM;
	A.lag_sec = c->notify_lag_sec;
	A.node = c->node_name;
	log_info("notifications go to %s (lag threshold %s%u s)", c->notify,
		 A.lag_sec ? "" : "off, ", A.lag_sec);
	return 0;
}

void alerts_free(void)
{
	if (A.n)
		(void)notify_drain(A.n, 1000);   /* a resolved still on its way */
	notify_free(A.n);
	A.n = NULL;
}

struct notify *alerts_notify(void)
{
	return A.n;
}

/* ---- lag ---- */

static void lag_check(const struct status_mirror *m)
{
	char summary[256], detail[512];

	if (m->lag_known && m->lag_seconds > (double)A.lag_sec) {
		if (notify_is_raised(A.n, "lag", m->name))
			return;
		snprintf(summary, sizeof(summary),
			 "mirror %s is %.0f s behind its sink %s (threshold %u s)", m->name,
			 m->lag_seconds, m->peer[0] ? m->peer : "?", A.lag_sec);
		FILE *f = fmemopen(detail, sizeof(detail), "w");
		if (f) {
			fprintf(f, "{\"lag_sec\":%.3f,\"threshold_sec\":%u,\"entries\":%llu,"
				"\"connected\":%s,\"peer\":", m->lag_seconds, A.lag_sec,
				(unsigned long long)m->lag_entries, m->connected ? "true" : "false");
			notify_json_string(f, m->peer);
			fputc('}', f);
			if (fclose(f) != 0)
				detail[0] = '\0';
		}
		(void)notify_raise(A.n, "lag", m->name, summary, detail[0] ? detail : NULL);
	} else if (notify_is_raised(A.n, "lag", m->name)) {
		if (m->lag_known)
			snprintf(summary, sizeof(summary), "mirror %s caught up: %.1f s behind "
				 "(threshold %u s)", m->name, m->lag_seconds, A.lag_sec);
		else
			snprintf(summary, sizeof(summary), "mirror %s is no longer a source "
				 "here", m->name);
		(void)notify_clear(A.n, "lag", m->name, summary);
	}
}

/* ---- coverage: every directory watched ---- */

static void watch_check(const struct status_mirror *m)
{
	char summary[320], detail[256];
	bool held = m->lag_known && (m->coverage == STATUS_COVER_PARTIAL ||
				     m->coverage == STATUS_COVER_NONE);

	if (held) {
		if (notify_is_raised(A.n, "watch", m->name))
			return;
		if (m->coverage == STATUS_COVER_NONE)
			snprintf(summary, sizeof(summary), "mirror %s: its tree is not watched, "
				 "changes are not followed (see the log; usually "
				 "fs.inotify.max_user_watches)", m->name);
		else
			snprintf(summary, sizeof(summary), "mirror %s: %llu directories are not "
				 "watched, changes below them are not followed (see the log; "
				 "usually fs.inotify.max_user_watches)", m->name,
				 (unsigned long long)m->unwatched_dirs);
		snprintf(detail, sizeof(detail), "{\"coverage\":\"%s\",\"watched_dirs\":%llu,"
			 "\"unwatched_dirs\":%llu,\"sysctl\":\"fs.inotify.max_user_watches\"}",
			 status_coverage_name(m->coverage), (unsigned long long)m->watched_dirs,
			 (unsigned long long)m->unwatched_dirs);
		(void)notify_raise(A.n, "watch", m->name, summary, detail);
	} else if (notify_is_raised(A.n, "watch", m->name)) {
		if (m->lag_known)
			snprintf(summary, sizeof(summary), "mirror %s: every directory is watched "
				 "again (%llu); the whole tree is reconciled", m->name,
				 (unsigned long long)m->watched_dirs);
		else
			snprintf(summary, sizeof(summary), "mirror %s is no longer a source here",
				 m->name);
		(void)notify_clear(A.n, "watch", m->name, summary);
	}
}

/* Lag and coverage of every mirror, from the status table. */
static void status_tick(void)
{
	size_t n = status_count();
	struct status_mirror *v;

	if (n == 0)
		return;
	v = calloc(n, sizeof(*v));
	if (!v)
		return;         /* next tick */
	n = status_snapshot(v, n);
	for (size_t i = 0; i < n; i++) {
		if (A.lag_sec > 0)
			lag_check(&v[i]);
		watch_check(&v[i]);
	}
	free(v);
}

/* ---- persistent errors ---- */

static bool err_watched(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EACCES || err == EPERM || err == EROFS;
}

static void err_key(const struct err_row *r, char *buf, size_t len)
{
	const char *name = strerrorname_np(r->err);

	snprintf(buf, len, "%s/%s/%s", r->mirror, r->side, name ? name : "error");
}

static void err_raise(struct err_row *r)
{
	char key[128], summary[512], detail[512];
	FILE *f = fmemopen(detail, sizeof(detail), "w");

	err_key(r, key, sizeof(key));
	snprintf(summary, sizeof(summary), "mirror %s: %s for %lld s on the %s side, "
		 "last at '%s'", r->mirror, strerror(r->err), (long long)(time(NULL) - r->first),
		 r->side, r->path);
	detail[0] = '\0';
	if (f) {
		fprintf(f, "{\"side\":\"%s\",\"errno\":%d,\"error\":", r->side, r->err);
		notify_json_string(f, strerror(r->err));
		fputs(",\"path\":", f);
		notify_json_string(f, r->path);
		fprintf(f, ",\"first_failure\":%lld}", (long long)r->first);
		if (fclose(f) != 0)
			detail[0] = '\0';
	}
	/* raised even when the table was full (logged there): not retried */
	(void)notify_raise(A.n, "error", key, summary, detail[0] ? detail : NULL);
	r->raised = true;
}

void alerts_file_error(const char *mirror, const char *side, const char *path, int err)
{
	struct err_row *r = NULL, *free_row = NULL;

	err = -err;
	if (!A.n || !err_watched(err))
		return;
	pthread_mutex_lock(&A.lock);
	for (size_t i = 0; i < ALERTS_ERR_MAX && !r; i++) {
		struct err_row *x = &A.errs[i];
		if (!x->used)
			free_row = free_row ? free_row : x;
		else if (x->err == err && strcmp(x->side, side) == 0 &&
			 strcmp(x->mirror, mirror) == 0)
			r = x;
	}
	if (!r && free_row) {
		r = free_row;
		*r = (struct err_row){ .used = true, .side = strcmp(side, "sink") ? "source" : "sink",
				       .err = err, .first = time(NULL) };
		snprintf(r->mirror, sizeof(r->mirror), "%s", mirror);
	}
	if (r)
		snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
	pthread_mutex_unlock(&A.lock);
	if (!r)
		log_debug("mirror %s: %s error %s not tracked for notification: table full",
			  mirror, side, strerror(err));
}

void alerts_file_ok(const char *mirror)
{
	char key[128], summary[256];

	if (!A.n)
		return;
	pthread_mutex_lock(&A.lock);
	for (size_t i = 0; i < ALERTS_ERR_MAX; i++) {
		struct err_row *x = &A.errs[i];
		if (!x->used || strcmp(x->mirror, mirror) != 0)
			continue;
		if (x->raised) {
			err_key(x, key, sizeof(key));
			snprintf(summary, sizeof(summary), "mirror %s: files go through again "
				 "(%s on the %s side cleared)", mirror, strerror(x->err), x->side);
			(void)notify_clear(A.n, "error", key, summary);
		}
		x->used = false;
	}
	pthread_mutex_unlock(&A.lock);
}

static void err_tick(void)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&A.lock);
	for (size_t i = 0; i < ALERTS_ERR_MAX; i++) {
		struct err_row *x = &A.errs[i];
		if (x->used && !x->raised && now - x->first >= ALERTS_PERSIST_SEC)
			err_raise(x);
	}
	pthread_mutex_unlock(&A.lock);
}

/* ---- audit ---- */

void alerts_audit(const char *mirror, const char *what, const char *summary,
		  const char *detail)
{
	char key[256];

	snprintf(key, sizeof(key), "%s/%s", mirror, what);
	(void)notify_raise(A.n, "audit", key, summary, detail);
}

void alerts_audit_clear(const char *mirror, const char *what, const char *summary)
{
	char key[256];

	snprintf(key, sizeof(key), "%s/%s", mirror, what);
	(void)notify_clear(A.n, "audit", key, summary);
}

void alerts_tick(void)
{
	if (!A.n)
		return;
	status_tick();
	err_tick();
	notify_poll(A.n);
}
