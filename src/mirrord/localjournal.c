/* localjournal: a promoted sink journals its own changes.  See
 * localjournal.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coalesce.h"
#include "coverage.h"
#include "exclude.h"
#include "journal.h"
#include "localjournal.h"
#include "log.h"
#include "path.h"
#include "watch.h"

#define DIRTY_MAX 65536         /* pending paths; beyond: RESCAN "" */
#define WATCH_BATCH 4096        /* watcher records per loop turn */
#define SETTLE_MS 1000          /* a flush waits this long for the watcher */
#define TICK_MS 250             /* stop and flush requests are seen this often */
#define ALL_DUE (UINT64_MAX / 4)   /* "now" that makes every item due */

struct localjournal {
	const struct conf_mirror *m;
	char *dir;
	struct exclude *ex;
	struct watch *w;
	struct coverage *cv;   /* the watch limit: said, not silent */
	struct coalesce *co;
	struct journal *j;         /* NULL once broken: see mark_incomplete */
	int rootfd;                /* the tree, to tell a delete from a change */
	pthread_t thread;
	int wake_fd;               /* eventfd: a flush or stop request */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	uint64_t flush_req, flush_done;   /* under mu */
	int flush_rc;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *localjournal_dir(const struct conf *c, const char *mirror)
{
	char *d = NULL;

	if (asprintf(&d, "%s/%s/%s", c->state_dir, mirror, LOCALJOURNAL_DIR) < 0)
		return NULL;
	return d;
}

/* ---- the journal ---- */

/* The journal lost a change: a restore must compare whole trees. */
static void mark_incomplete(struct localjournal *lj, int err, const char *what)
{
	char *p = NULL;

	log_err("mirror %s: promoted journal in %s: %s: %s; the next mirror-restore will "
		"compare whole trees", lj->m->name, lj->dir, what, strerror(-err));
	journal_close(lj->j);
	lj->j = NULL;
	if (asprintf(&p, "%s/%s", lj->dir, LOCALJOURNAL_INCOMPLETE) < 0)
		return;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fsync(fd) < 0)
		log_err("mirror %s: cannot create %s: %s", lj->m->name, p, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(p);
}

static void record(struct localjournal *lj, enum journal_op op, const char *p, size_t len,
		   const char *p2, size_t len2)
{
	int rc;

	if (!lj->j)
		return;
	if ((rc = journal_append(lj->j, op, p, len, p2, len2, NULL)) == -EINVAL)
		log_err("mirror %s: cannot journal '%s', skipped", lj->m->name, p);
	else if (rc < 0)
		mark_incomplete(lj, rc, rc == -ENOSPC ? "full" : "append");
}

static void rescan(struct localjournal *lj, const char *path, size_t len, const char *why)
{
	if (len > 0 && lj->m->n_excludes > 0)
		len = 0;                /* anchored patterns need the whole tree */
	log_notice("mirror %s: %s: '%s' must be compared whole by the next restore",
		   lj->m->name, why, len ? path : "(the whole tree)");
	if (len == 0)
		coalesce_clear(lj->co);
	record(lj, JOURNAL_RESCAN, path, len, NULL, 0);
}

static void sync_journal(struct localjournal *lj)
{
	int rc;

	if (lj->j && (rc = journal_sync(lj->j)) < 0)
		mark_incomplete(lj, rc, "sync");
}

/* A settled path: CREATE, DELETE (gone now) or UPSERT (changed in place:
 * its directory did not change, the restore need not look at it). */
static enum journal_op path_op(struct localjournal *lj, const struct coalesce_item *it)
{
	const char *name;
	struct stat st;
	int dfd = it->len ? path_open_parent(lj->rootfd, it->path, it->len, &name) : -EINVAL;
	bool gone = dfd == -ENOENT || dfd == -ENOTDIR ||
		    (dfd >= 0 && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		     (errno == ENOENT || errno == ENOTDIR));

	if (dfd >= 0)
		close(dfd);
	if (gone)
		return JOURNAL_DELETE;
	return it->created ? JOURNAL_CREATE : JOURNAL_UPSERT;
}

/* Move due items (all of them with now = ALL_DUE) into the journal. */
static void flush_dirty(struct localjournal *lj, uint64_t now)
{
	struct coalesce_item it;
	int n = 0, rc;

	while ((rc = coalesce_pop(lj->co, now, &it)) == 1) {
		if (it.kind == COALESCE_RENAME)
			record(lj, JOURNAL_RENAME, it.path, it.len, it.to, it.to_len);
		else
			record(lj, path_op(lj, &it), it.path, it.len, NULL, 0);
		coalesce_item_clear(&it);
		n++;
	}
	if (rc < 0)
		rescan(lj, "", 0, "too many pending renames");
	if (n > 0 || rc < 0)
		sync_journal(lj);
}

/* ---- watcher records ---- */

static void touch(struct localjournal *lj, const struct watch_rec *r, unsigned flags)
{
	int rc = coalesce_touch(lj->co, r->path, r->path_len, flags, now_ms());

	if (rc < 0)
		rescan(lj, "", 0, rc == -ENOSPC ? "too many pending changes" :
		       "cannot record a change");
}

static void on_record(struct localjournal *lj, const struct watch_rec *r)
{
	int rc = 0;

	switch (r->kind) {
	case WATCH_CLOSE_WRITE: touch(lj, r, COALESCE_CLOSED); break;
	case WATCH_MODIFY:
	case WATCH_ATTRIB:
	case WATCH_DELETE: touch(lj, r, 0); break;
	case WATCH_CREATE:
	case WATCH_DIR_CREATED: touch(lj, r, COALESCE_CREATED); break;
	case WATCH_MOVED_FROM:
		rc = coalesce_moved_from(lj->co, r->cookie, r->path, r->path_len, now_ms());
		break;
	case WATCH_MOVED_TO:
		rc = coalesce_moved_to(lj->co, r->cookie, r->path, r->path_len, now_ms());
		break;
	case WATCH_OVERFLOW: rescan(lj, r->path, r->path_len, "events were lost"); break;
	case WATCH_FAILED:
		coverage_failed(lj->cv, r->path, r->err, now_ms());
		rescan(lj, r->path, r->path_len, "a watch failed");
		break;
	}
	if (rc < 0)
		rescan(lj, "", 0, "cannot record a rename");
}

/* Drain up to WATCH_BATCH records; restart a dead watcher. */
static void drain_watch(struct localjournal *lj)
{
	struct watch_rec r;
	int rc = 0;

	for (int i = 0; lj->w && i < WATCH_BATCH; i++) {
		if ((rc = watch_read(lj->w, &r)) < 0)
			break;
		on_record(lj, &r);
	}
	if (rc == -EAGAIN || (lj->w && rc >= 0))
		return;
	log_err("mirror %s: watcher failed (%s), restarting it", lj->m->name,
		strerror(rc < 0 ? -rc : ENOENT));
	watch_stop(lj->w);
	lj->w = NULL;
	if ((rc = watch_start(lj->m->path, lj->ex, &lj->w)) < 0)
		log_err("mirror %s: cannot watch %s: %s, retrying", lj->m->name, lj->m->path,
			strerror(-rc));
	rescan(lj, "", 0, "the watcher restarted");
}

/* Read every record of what the kernel reported so far (a flush or the
 * demotion must not miss a write made just before it), at most
 * SETTLE_MS: after that a whole-tree rescan record covers the rest. */
static void settle_watch(struct localjournal *lj)
{
	uint64_t gen = lj->w ? watch_sync_request(lj->w) : 0;
	uint64_t end = now_ms() + SETTLE_MS;

	while (gen && lj->w && !watch_synced(lj->w, gen) && now_ms() < end) {
		struct pollfd pfd = { .fd = watch_fd(lj->w), .events = POLLIN };

		drain_watch(lj);
		if (poll(&pfd, 1, 5) < 0 && errno != EINTR)
			break;
	}
	drain_watch(lj);
	if (gen && lj->w && !watch_synced(lj->w, gen))
		rescan(lj, "", 0, "the watcher did not catch up with a flush");
}

/* ---- the thread ---- */

/* A flush request: everything reported so far goes into the journal. */
static void serve_flush(struct localjournal *lj)
{
	pthread_mutex_lock(&lj->mu);
	uint64_t req = lj->flush_req;
	pthread_mutex_unlock(&lj->mu);
	if (req == lj->flush_done)
		return;
	settle_watch(lj);
	flush_dirty(lj, ALL_DUE);
	sync_journal(lj);
	pthread_mutex_lock(&lj->mu);
	lj->flush_done = req;
	lj->flush_rc = lj->j ? 0 : -EIO;
	pthread_cond_broadcast(&lj->cond);
	pthread_mutex_unlock(&lj->mu);
}

static bool stopping(struct localjournal *lj)
{
	pthread_mutex_lock(&lj->mu);
	bool s = lj->stop;
	pthread_mutex_unlock(&lj->mu);
	return s;
}

static void *thread_main(void *arg)
{
	struct localjournal *lj = arg;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!stopping(lj)) {
		int64_t wait = coalesce_wait_ms(lj->co, now_ms());
		struct pollfd pfd[2] = { { .fd = lj->w ? watch_fd(lj->w) : -1, .events = POLLIN },
					 { .fd = lj->wake_fd, .events = POLLIN } };
		uint64_t v;
		if (poll(pfd, 2, wait >= 0 && wait < TICK_MS ? (int)wait : TICK_MS) < 0 &&
		    errno != EINTR)
			log_warn("mirror %s: poll: %s", lj->m->name, strerror(errno));
		if ((pfd[1].revents & POLLIN) && read(lj->wake_fd, &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			log_warn("mirror %s: wake-up: %s", lj->m->name, strerror(errno));
		drain_watch(lj);
		flush_dirty(lj, now_ms());
		serve_flush(lj);
	}
	settle_watch(lj);
	flush_dirty(lj, ALL_DUE);
	sync_journal(lj);
	return NULL;
}

/* ---- start and stop ---- */

static void lj_free(struct localjournal *lj)
{
	if (!lj)
		return;
	watch_stop(lj->w);
	coverage_free(lj->cv);
	journal_close(lj->j);
	coalesce_free(lj->co);
	exclude_free(lj->ex);
	if (lj->rootfd >= 0)
		close(lj->rootfd);
	if (lj->wake_fd >= 0)
		close(lj->wake_fd);
	pthread_mutex_destroy(&lj->mu);
	pthread_cond_destroy(&lj->cond);
	free(lj->dir);
	free(lj);
}

static int mkdirs(const struct conf *c, const char *mirror, const char *dir)
{
	char *mdir = NULL;
	int rc = 0;

	if (asprintf(&mdir, "%s/%s", c->state_dir, mirror) < 0)
		return -ENOMEM;
	if ((mkdir(c->state_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(mdir, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))
		rc = -errno;
	free(mdir);
	return rc;
}

/* The journal of an earlier promotion goes: 1 when there was one, 0, or
 * -errno. */
static int remove_old(const char *dir)
{
	static const char *const names[] = { "journal", "journal.ack", LOCALJOURNAL_INCOMPLETE };
	int found = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, names[i]) < 0)
			return -ENOMEM;
		int rc = unlink(p) < 0 ? (errno == ENOENT ? 0 : -errno) : 1;
		free(p);
		if (rc < 0)
			return rc;
		found |= i == 0 && rc == 1;
	}
	return found;
}

int localjournal_spend(const struct conf *c, const char *mirror)
{
	char *dir = localjournal_dir(c, mirror);
	int rc = dir ? remove_old(dir) : -ENOMEM;

	free(dir);
	return rc;
}

bool localjournal_exists(const struct conf *c, const char *mirror)
{
	char *dir = localjournal_dir(c, mirror), *p = NULL;
	struct stat st;
	bool there = dir && asprintf(&p, "%s/journal", dir) >= 0 && stat(p, &st) == 0;

	free(dir);
	free(p);
	return there;
}

static int open_journal(struct localjournal *lj, const struct conf *c,
			enum localjournal_start how)
{
	int rc = mkdirs(c, lj->m->name, lj->dir);

	if (rc == 0 && how == LOCALJOURNAL_NEW && (rc = remove_old(lj->dir)) > 0)
		rc = 0;
	if (rc == 0)
		rc = journal_open(lj->dir, &lj->j);
	if (rc < 0) {
		log_err("mirror %s: cannot open the promoted journal in %s: %s", lj->m->name,
			lj->dir, strerror(-rc));
		lj->j = NULL;
		return rc;
	}
	if (how == LOCALJOURNAL_RESTART) {
		rescan(lj, "", 0, "mirrord restarted while promoted");
		sync_journal(lj);
	}
	log_notice("mirror %s: journalling local changes in %s (journal id %016llx)",
		   lj->m->name, lj->dir, (unsigned long long)journal_id(lj->j));
	return 0;
}

static int lj_init(struct localjournal *lj, const struct conf *c, enum localjournal_start how)
{
	const struct conf_mirror *m = lj->m;
	int rc;

	if ((lj->rootfd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		log_err("mirror %s: cannot open %s: %s", m->name, m->path, strerror(-rc));
		return rc;
	}
	if (!(lj->dir = localjournal_dir(c, m->name)) || !(lj->ex = exclude_new()) ||
	    !(lj->co = coalesce_new(DIRTY_MAX, m->delay_ms)))
		return -ENOMEM;
	for (size_t i = 0; i < m->n_excludes; i++)
		if ((rc = exclude_add(lj->ex, m->excludes[i])) < 0)
			return rc;
	/* a tree over the watch limit refuses the promotion (logged with the
	 * sysctl to raise it) rather than journal part of the tree */
	if (!(lj->cv = coverage_new(m->name, m->path, lj->ex, false)))
		return -ENOMEM;
	if ((rc = coverage_watch(lj->cv, &lj->w, now_ms())) < 0)
		return rc;
	return open_journal(lj, c, how);
}

int localjournal_start(const struct conf *c, const struct conf_mirror *m,
		       enum localjournal_start how, struct localjournal **ret)
{
	struct localjournal *lj = calloc(1, sizeof(*lj));
	int rc;

	if (!lj)
		return -ENOMEM;
	lj->m = m;
	lj->rootfd = -1;
	pthread_mutex_init(&lj->mu, NULL);
	pthread_cond_init(&lj->cond, NULL);
	if ((lj->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		rc = -errno;
	else
		rc = lj_init(lj, c, how);
	if (rc < 0 ||
	    (rc = -pthread_create(&lj->thread, NULL, thread_main, lj)) < 0) {
		lj_free(lj);
		return rc;
	}
	*ret = lj;
	return 0;
}

static void wake(struct localjournal *lj)
{
	uint64_t one = 1;

	if (write(lj->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("mirror %s: cannot wake the journal thread: %s", lj->m->name,
			 strerror(errno));
}

int localjournal_flush(struct localjournal *lj, int timeout_ms)
{
	struct timespec end;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lj->mu);
	uint64_t want = ++lj->flush_req;
	wake(lj);
	while (lj->flush_done < want && rc == 0)
		rc = -pthread_cond_timedwait(&lj->cond, &lj->mu, &end);
	if (rc == 0)
		rc = lj->flush_rc;
	pthread_mutex_unlock(&lj->mu);
	return rc;
}

void localjournal_stop(struct localjournal *lj)
{
	if (!lj)
		return;
	pthread_mutex_lock(&lj->mu);
	lj->stop = true;
	wake(lj);
	pthread_mutex_unlock(&lj->mu);
	pthread_join(lj->thread, NULL);
	log_notice("mirror %s: no longer journalling local changes", lj->m->name);
	lj_free(lj);
}
