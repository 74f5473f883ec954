/* coverage: is every directory of a mirror watched.  See coverage.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coverage.h"
#include "log.h"
#include "watch.h"
#include "watchbudget.h"

#define RECOUNT_EVERY 5         /* retries between walks of a tree that did
				 * not fit (it may have shrunk) */
#define SYSCTL_FILE "/etc/sysctl.d/90-mirrord.conf"
#define HINT_FILE "watched"     /* in the state directory: the last count */
#define HINT_SLACK 1024         /* free watches beyond twice the hint */

struct coverage {
	const char *mirror, *root;
	const struct exclude *ex;
	bool retry;             /* the caller retries (coverage_retry_due) */
	enum status_coverage state;
	uint64_t watched;       /* watches in place after the last start */
	uint64_t unwatched;     /* failed watches since */
	uint64_t need;          /* directories at the last count, 0 unknown */
	bool counted;           /* need is from this start's count */
	bool starting;          /* watch_start_async: the initial walk runs */
	const char *dir;        /* state directory for HINT_FILE, or NULL */
	uint64_t hint;          /* watches of the last full start, 0 unknown */
	uint64_t hint_saved;    /* the value in HINT_FILE */
	uint64_t start_ms;      /* when the last start began (monotonic) */
	bool limit_hit;         /* the watch limit is why: retrying may help */
	bool warned;            /* the limit's error was logged this episode */
	unsigned retries;
	uint64_t retry_at;
	uint64_t wait_ms;       /* until the next retry after this one */
};

struct coverage *coverage_new(const char *mirror, const char *root, const struct exclude *ex,
			      bool retry)
{
	struct coverage *cv = calloc(1, sizeof(*cv));

	if (!cv)
		return NULL;
	cv->mirror = mirror;
	cv->root = root;
	cv->ex = ex;
	cv->retry = retry;
	cv->wait_ms = COVERAGE_RETRY_MS;
	cv->state = STATUS_COVER_NONE;  /* until the watcher runs */
	return cv;
}

void coverage_free(struct coverage *cv)
{
	free(cv);
}

/* The next retry: after wait_ms, which doubles up to the maximum. */
static void schedule(struct coverage *cv, uint64_t now)
{
	cv->retry_at = now + cv->wait_ms;
	cv->wait_ms = cv->wait_ms * 2 > COVERAGE_RETRY_MAX_MS ? COVERAGE_RETRY_MAX_MS :
		      cv->wait_ms * 2;
}

/* What happens next, for the end of a message. */
static const char *next_step(const struct coverage *cv, char *buf, size_t len)
{
	if (!cv->retry)
		return "this applies at the next promotion";
	snprintf(buf, len, "checking again in %d s, then less often (at most every %d s)",
		 COVERAGE_RETRY_MS / 1000, COVERAGE_RETRY_MAX_MS / 1000);
	return buf;
}

static const char *cap_name(const struct watchbudget *b)
{
	return b->userns_binds ? "user.max_inotify_watches" : "fs.inotify.max_user_watches";
}

/* The advice that ends every watch-limit message: the exact commands. */
static void log_limit(const struct coverage *cv, const struct watchbudget *b, int prio,
		      const char *what, uint64_t need)
{
	uint64_t want = watchbudget_suggest(b, need);
	char next[96];

	log_msg(prio, "mirror %s: %s; inotify watches: limit %llu, %llu in use by uid %u, "
		"%llu free. Raise the limit: sysctl -w %s=%llu (to keep it, the line "
		"'%s = %llu' in " SYSCTL_FILE "); %s",
		cv->mirror, what, (unsigned long long)b->max, (unsigned long long)b->used,
		(unsigned)geteuid(), (unsigned long long)watchbudget_free(b), cap_name(b),
		(unsigned long long)want, cap_name(b), (unsigned long long)want,
		next_step(cv, next, sizeof(next)));
}

/* ---- the hint: the watches of the last full start ----
 *
 * Counting the directories is a walk of the whole tree (a tenth of a
 * restart's time on a tree of small directories).  When the watches the
 * tree needed last time fit twice over, the count is skipped: a tree that
 * more than doubled meanwhile still gets the kernel's ENOSPC, and is then
 * counted for the advice. */

static char *hint_path(const struct coverage *cv, const char *suffix)
{
	char *p;

	return asprintf(&p, "%s/" HINT_FILE "%s", cv->dir, suffix) < 0 ? NULL : p;
}

static void hint_load(struct coverage *cv)
{
	char buf[32], *p = cv->dir && !cv->hint ? hint_path(cv, "") : NULL;
	int fd = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	free(p);
	if (n <= 0)
		return;         /* none yet: count */
	buf[n] = 0;
	cv->hint = cv->hint_saved = strtoull(buf, NULL, 10);
}

/* Best effort: a missing hint costs a count at the next start. */
static void hint_save(struct coverage *cv)
{
	char *p = cv->dir && cv->hint != cv->hint_saved ? hint_path(cv, "") : NULL;
	char *tmp = p ? hint_path(cv, ".new") : NULL;
	int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	bool ok = fd >= 0 && dprintf(fd, "%llu\n", (unsigned long long)cv->hint) > 0;

	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (ok && rename(tmp, p) == 0)
		cv->hint_saved = cv->hint;
	else if (tmp)
		(void)unlink(tmp);
	free(tmp);
	free(p);
}

/* Skip the count: the last start's watches fit twice over. */
static bool surely_fits(struct coverage *cv, const struct watchbudget *b, uint64_t held)
{
	hint_load(cv);
	return cv->hint && cv->hint <= (UINT64_MAX - HINT_SLACK) / 2 &&
	       watchbudget_free(b) + held >= 2 * cv->hint + HINT_SLACK;
}

/* 0 when the tree's directories fit beside the watches in use (held of
 * them being the caller's, to be released) or the budget cannot be read
 * (the kernel will tell), -ENOSPC (logged) when they do not. */
static int preflight(struct coverage *cv, uint64_t held)
{
	struct watchbudget b;
	uint64_t need;
	char *what;

	cv->counted = false;
	if (watchbudget_read(&b) < 0 || surely_fits(cv, &b, held) ||
	    watchbudget_count_dirs(cv->root, cv->ex, &need) < 0)
		return 0;       /* cannot tell, or need not: watch_start will */
	cv->need = need;
	cv->counted = true;
	if (need <= watchbudget_free(&b) + held)
		return 0;
	if (asprintf(&what, "%s has %llu directories to watch and they do not fit: not "
		     "watching it, its changes are not followed", cv->root,
		     (unsigned long long)need) < 0)
		what = NULL;
	b.used -= held < b.used ? held : b.used;        /* the advice counts them in need */
	log_limit(cv, &b, cv->warned ? LOG_INFO : LOG_ERR,
		  what ? what : "the tree does not fit: not watching it", need);
	free(what);
	cv->warned = true;
	cv->limit_hit = true;
	return -ENOSPC;
}

/* watch_start's result rc and, on success, its watch count. */
static void started(struct coverage *cv, int rc, uint64_t watched, uint64_t now)
{
	struct watchbudget b;
	char next[96];

	if (rc == 0) {
		if (cv->limit_hit)
			log_notice("mirror %s: every directory of %s is watched again (%llu "
				   "watches)", cv->mirror, cv->root, (unsigned long long)watched);
		cv->state = STATUS_COVER_FULL;
		cv->watched = cv->hint = watched;
		hint_save(cv);
		cv->unwatched = 0;
		cv->limit_hit = cv->warned = false;
		cv->wait_ms = COVERAGE_RETRY_MS;
		return;
	}
	cv->state = STATUS_COVER_NONE;
	cv->watched = 0;
	if (cv->retry_at <= now)        /* not yet set by coverage_retry_due */
		cv->retry_at = now + cv->wait_ms;
	if (rc != -ENOSPC) {
		log_err("mirror %s: cannot watch %s: %s%s; its changes are not followed, %s",
			cv->mirror, cv->root, strerror(-rc),
			rc == -EMFILE ? " (raise fs.inotify.max_user_instances)" : "",
			next_step(cv, next, sizeof(next)));
		return;
	}
	cv->limit_hit = true;
	if (!cv->counted && watchbudget_count_dirs(cv->root, cv->ex, &cv->need) == 0)
		cv->counted = true;     /* skipped before: the advice needs it */
	if (!cv->warned && watchbudget_read(&b) == 0)
		log_limit(cv, &b, LOG_ERR, "the watch limit was reached while watching the "
			  "tree: not watching it, its changes are not followed", cv->need);
	cv->warned = true;
}

void coverage_failed(struct coverage *cv, const char *path, int err, uint64_t now)
{
	struct watchbudget b;
	char *what, next[96];

	cv->unwatched++;
	if (!*path) {
		cv->state = STATUS_COVER_NONE;  /* the root went: nothing is watched */
		log_err("mirror %s: %s is not watched any more: %s; %s", cv->mirror, cv->root,
			strerror(err), next_step(cv, next, sizeof(next)));
		return;
	}
	if (cv->state == STATUS_COVER_FULL)
		cv->state = STATUS_COVER_PARTIAL;
	if (err != ENOSPC) {
		log_warn("mirror %s: '%s' is not watched: %s; it is rescanned once, changes "
			 "below it are not followed", cv->mirror, path, strerror(err));
		return;
	}
	cv->limit_hit = true;
	if (!cv->warned)
		cv->wait_ms = COVERAGE_RETRY_MS;        /* a new episode */
	if (cv->retry_at < now + COVERAGE_RETRY_MS)
		cv->retry_at = now + COVERAGE_RETRY_MS;
	if (cv->warned || watchbudget_read(&b) < 0) {
		log_debug("mirror %s: '%s' is not watched (watch limit)", cv->mirror, path);
		return;
	}
	if (asprintf(&what, "the watch limit is reached: '%s' and any directory created "
		     "after it are rescanned once and not followed (coverage partial)", path) < 0)
		what = NULL;
	log_limit(cv, &b, LOG_ERR, what ? what : "the watch limit is reached", cv->watched);
	free(what);
	cv->warned = true;
}

/* After a watch limit: may the watches fit now?  Cheap (the budget
 * against the last count); coverage_watch walks the tree to be sure.
 * Every RECOUNT_EVERY retries it walks anyway: the tree may have shrunk. */
static bool may_fit(struct coverage *cv, uint64_t held)
{
	struct watchbudget b;

	if (watchbudget_read(&b) < 0)
		return true;
	uint64_t free = watchbudget_free(&b);
	uint64_t need = cv->state == STATUS_COVER_NONE ? cv->need : held + cv->unwatched;

	if (cv->state == STATUS_COVER_PARTIAL && free == 0)
		return false;
	return free + held >= need || ++cv->retries % RECOUNT_EVERY == 0;
}

bool coverage_retry_due(struct coverage *cv, uint64_t held, uint64_t now)
{
	if (cv->starting || cv->state == STATUS_COVER_FULL || now < cv->retry_at)
		return false;
	schedule(cv, now);
	if (!cv->limit_hit)
		return cv->state == STATUS_COVER_NONE;  /* e.g. the root came back */
	return may_fit(cv, held);
}

void coverage_set_dir(struct coverage *cv, const char *dir)
{
	cv->dir = dir;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	return clock_gettime(CLOCK_MONOTONIC, &ts) == 0 ?
	       (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 : 0;
}

/* The initial walk of *w ended with rc: record it. */
static void ended(struct coverage *cv, struct watch **w, int rc, uint64_t now)
{
	uint64_t ms = mono_ms() - cv->start_ms;

	cv->starting = false;
	if (rc < 0) {
		watch_stop(*w);
		*w = NULL;
	}
	started(cv, rc, rc == 0 ? watch_count(*w) : 0, now);
	if (rc == 0)
		log_info("mirror %s: watching %s (%zu directories, %s, %llu ms)", cv->mirror,
			 cv->root, watch_count(*w), cv->counted ? "counted first" :
			 "not counted: they fit", (unsigned long long)ms);
}

static int start(struct coverage *cv, struct watch **w, uint64_t now, bool async)
{
	cv->start_ms = mono_ms();
	int rc = preflight(cv, *w ? watch_count(*w) : 0);

	if (rc < 0) {
		if (!*w)
			started(cv, rc, 0, now);
		return rc;      /* a partial watcher keeps what it has */
	}
	watch_stop(*w);
	*w = NULL;
	if (!async) {
		rc = watch_start(cv->root, cv->ex, w);
		ended(cv, w, rc, now);
		return rc;
	}
	rc = watch_start_async(cv->root, cv->ex, w);
	cv->starting = rc == 0;
	if (rc < 0)
		started(cv, rc, 0, now);
	return rc;
}

int coverage_watch(struct coverage *cv, struct watch **w, uint64_t now)
{
	return start(cv, w, now, false);
}

int coverage_watch_async(struct coverage *cv, struct watch **w, uint64_t now)
{
	return start(cv, w, now, true);
}

bool coverage_settle(struct coverage *cv, struct watch **w, bool wait, uint64_t now)
{
	int rc;

	if (!cv->starting)
		return true;
	if (!*w) {              /* stopped meanwhile */
		cv->starting = false;
		return true;
	}
	if ((rc = watch_start_result(*w, wait)) == -EINPROGRESS)
		return false;
	ended(cv, w, rc, now);
	return true;
}

void coverage_get(const struct coverage *cv, struct watch *w, enum status_coverage *ret_state,
		  uint64_t *ret_watched, uint64_t *ret_unwatched)
{
	*ret_state = cv->state;
	*ret_watched = w ? watch_count(w) : 0;
	/* with no watcher, every directory counted is unwatched */
	*ret_unwatched = cv->state == STATUS_COVER_NONE && cv->need ? cv->need : cv->unwatched;
}
