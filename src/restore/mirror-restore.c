/* mirror-restore: bring the returning master back to the slave's tree
 * without losing the master's own unsent changes, then (--failback) hand
 * the VIP back.  See mirror-restore(8). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "changeset.h"
#include "conf.h"
#include "conflicts.h"
#include "outcome.h"
#include "ctlsock.h"
#include "exclude.h"
#include "fsmeta.h"
#include "log.h"
#include "ownstate.h"
#include "path.h"
#include "pit.h"
#include "progress.h"
#include "proto.h"
#include "receiver.h"
#include "remote.h"
#include "restlist.h"
#include "scan.h"
#include "session.h"
#include "stream.h"
#include "verify.h"

enum exit_code {
	EXIT_OK = 0,            /* restored (verified, failed back as asked) */
	EXIT_CONFLICTS = 1,     /* restored; master versions listed as conflicts */
	EXIT_USAGE = 2,         /* bad command line or configuration */
	EXIT_CONNECT = 3,       /* slave unreachable or refused; nothing changed */
	EXIT_INCOMPLETE = 4,    /* session broke or files failed: re-run */
	EXIT_VERIFY = 5,        /* --verify found differences */
	EXIT_FAILBACK = 6,      /* failback failed: VIP stays with the slave */
};

#define ACK_MARGIN_SEC 5        /* see last_ack_time() */
#define CONNECT_MS SESSION_HANDSHAKE_MS
#define CTL_MS 5000
#define MASTER_WAIT_MS 10000

enum pass_kind { PASS_RESTORE, PASS_DRY, PASS_VERIFY, PASS_FINAL };

struct args {
	const char *config, *conflicts_dir;
	char **mirrors;
	int n_mirrors;
	bool dry_run, verify, full, failback, reapply, by_mtime, verbose, quiet;
	bool list_versions;
	struct pit_args pit;       /* --from-version */
};

struct pass {                   /* one pull of one mirror */
	enum pass_kind kind;
	const struct conf_mirror *m;
	struct conflicts *cf;
	struct timespec guard;  /* PASS_FINAL: master changes after it win */
	const struct changeset *cs;   /* journal-driven: the paths to ask for (else NULL:
				       * the whole tree) */
	int rootfd;
	uint64_t creates, changes, deletes, bytes, refused, listed;
};

static const char *change_name(enum receiver_change w)
{
	switch (w) {
	case RECEIVER_CREATE: return "create";
	case RECEIVER_CONTENT: return "update";
	case RECEIVER_META: return "metadata";
	case RECEIVER_REPLACE: return "replace";
	case RECEIVER_DELETE: return "delete";
	case RECEIVER_RENAME_OVER: return "rename over";
	}
	return "change";
}

/* Changed on the master since the guard time (a client of the new master
 * during failback): the master's version wins. */
static bool master_newer(struct pass *ps, const char *path)
{
	struct stat st;

	if (fstatat(ps->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	/* nanoseconds: a file the previous pass wrote in the same second as
	 * the guard was taken is not a change of this node */
	return st.st_ctim.tv_sec > ps->guard.tv_sec ||
	       (st.st_ctim.tv_sec == ps->guard.tv_sec && st.st_ctim.tv_nsec > ps->guard.tv_nsec);
}

/* receiver_opts.before: count, keep conflicts, or only list. */
static int before(void *ctx, const char *path, size_t len, enum receiver_change what,
		  const struct entry *want)
{
	struct pass *ps = ctx;
	bool file = want && want->type == ENT_FILE;

	if (what == RECEIVER_CREATE)
		ps->creates++;
	else if (what == RECEIVER_DELETE || what == RECEIVER_RENAME_OVER)
		ps->deletes++;
	else
		ps->changes++;
	if (file && (what == RECEIVER_CREATE || what == RECEIVER_CONTENT))
		ps->bytes += want->size;
	if (ps->kind == PASS_DRY || ps->kind == PASS_VERIFY) {
		ps->listed++;
		printf("%s %s: %s%s\n", ps->kind == PASS_DRY ? "would" : "differs:",
		       change_name(what), path, file ? "" : "");
		if (ps->kind == PASS_DRY && what != RECEIVER_CREATE && what != RECEIVER_META)
			(void)conflicts_keep(ps->cf, path, len, want);
		return -ECANCELED;
	}
	if (ps->kind == PASS_FINAL && what != RECEIVER_CREATE && master_newer(ps, path)) {
		log_notice("mirror %s: '%s' changed on this node during the failback, "
			   "kept as it is", ps->m->name, path);
		ps->refused++;
		return -EEXIST;
	}
	if (what == RECEIVER_CREATE || what == RECEIVER_META)
		return 0;
	int rc = conflicts_keep(ps->cf, path, len, what == RECEIVER_DELETE ||
				what == RECEIVER_RENAME_OVER ? NULL : want);
	if (rc < 0) {
		log_err("mirror %s: cannot keep the master's version of '%s' aside (%s): "
			"leaving it as it is", ps->m->name, path, strerror(-rc));
		ps->refused++;
	}
	return rc;
}

static uint64_t count_entries(int rootfd, const struct conf_mirror *m, const struct exclude *ex)
{
	struct scan_opts so = { .one_fs = m->one_fs, .ex = ex };
	struct scan *s = scan_new(rootfd, &so);
	struct entry e = { 0 };
	uint64_t n = 0;
	int k;

	while (s && (k = scan_next(s, &e)) != SCAN_END) {
		n += k == SCAN_ENTRY;
		entry_clear(&e);
	}
	scan_free(s);
	return n;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The PATHS requests of a journal-driven pass, in batches. */
static int send_paths(struct stream *s, const struct changeset *cs)
{
	struct wbuf b;
	size_t n = changeset_count(cs);
	int rc = 0;

	wbuf_init(&b, PROTO_BATCH_MAX);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct changeset_req *q = changeset_get(cs, i);
		struct restlist_item it = { q->kind, q->path, q->len };
		restlist_put_item(&b, &it);
		if (b.err) {
			rc = b.err;
		} else if (restlist_batch_full(&b) || i + 1 == n) {
			proto_put_raw(stream_out(s), MSG_PATHS, b.data, b.len);
			wbuf_reset(&b);
			rc = stream_flush(s);
		}
	}
	wbuf_free(&b);
	if (rc == 0) {
		proto_put_id(stream_out(s), MSG_PATHS_END, n);
		rc = stream_flush(s);
	}
	return rc;
}

/* One pull of ps->m into its tree.  EXIT_OK or an exit code (logged). */
static int pull(const struct conf *c, struct pass *ps, const struct exclude *ex, bool quiet)
{
	const struct conf_mirror *m = ps->m;
	char why[512], who[300];
	int err = 0, rc;
	double t0 = mono();
	uint64_t features = PROTO_FEATURE_PULL | (ps->cs ? PROTO_FEATURE_PATHS : 0);
	struct stream *s = session_connect(c, m, features, CONNECT_MS, &err, why, sizeof(why));

	if (!s) {
		log_err("mirror %s: slave %s: %s", m->name, m->peer.text, why);
		return EXIT_CONNECT;
	}
	if (ps->cs && (rc = send_paths(s, ps->cs)) < 0) {
		log_err("mirror %s: cannot send the path list to %s: %s", m->name, m->peer.text,
			strerror(-rc));
		stream_free(s);
		return EXIT_INCOMPLETE;
	}
	unsigned flags = (m->xattrs ? FSMETA_XATTRS : 0) |
			 (m->owner && geteuid() == 0 ? FSMETA_OWNER : 0);
	struct receiver_opts ro = { .mirror = m->name, .meta_flags = flags, .ex = ex,
				    .before = before, .ctx = ps };
	struct receiver *r = receiver_new(ps->rootfd, &ro, stream_out(s));
	if (!r) {
		stream_free(s);
		log_err("mirror %s: out of memory", m->name);
		return EXIT_INCOMPLETE;
	}
	const struct receiver_stats *st = receiver_stats(r);
	static const char *labels[] = { "restore", "dry run", "verify", "final pass" };
	struct progress_src src = { &st->entries, &stream_stats(s)->bytes_in,
				    ps->kind == PASS_RESTORE && isatty(STDERR_FILENO) ?
				    (ps->cs ? changeset_count(ps->cs) :
				     count_entries(ps->rootfd, m, ex)) : 0, labels[ps->kind] };
	struct progress *pg = quiet ? NULL : progress_start(&src);
	snprintf(who, sizeof(who), "mirror %s: pull from %s", m->name, m->peer.text);
	rc = session_run_receiver(s, r, who);
	progress_stop(pg);
	double dt = mono() - t0;
	uint64_t in = stream_stats(s)->bytes_in, out = stream_stats(s)->bytes_out;
	if (rc == 0 && st->ends == 0)
		rc = -ECONNRESET;        /* closed before END: the pass is not complete */
	printf("mirror %s: %s %s in %.2f s: %" PRIu64 " entries, %" PRIu64 " files (%" PRIu64
	       " by delta), %" PRIu64 " created, %" PRIu64 " changed, %" PRIu64 " removed, %"
	       PRIu64 " bytes of file data, %" PRIu64 " bytes received (%.1f MiB/s), %" PRIu64
	       " bytes sent, %" PRIu64 " errors\n", m->name, labels[ps->kind],
	       rc == 0 ? "done" : "FAILED", dt, st->entries, st->files, st->deltas, ps->creates,
	       ps->changes, ps->deletes, ps->bytes, in, dt > 0 ? in / dt / 1048576.0 : 0.0, out,
	       st->errors + ps->refused);
	uint64_t errors = st->errors + ps->refused;
	receiver_free(r);
	stream_free(s);
	if (rc < 0) {
		log_err("mirror %s: pull from %s failed: %s; run mirror-restore again", m->name,
			m->peer.text, strerror(-rc));
		return EXIT_INCOMPLETE;
	}
	if (errors > 0 && ps->kind != PASS_VERIFY && ps->kind != PASS_DRY) {
		log_err("mirror %s: %" PRIu64 " paths could not be restored (see above); run "
			"mirror-restore again", m->name, errors);
		return EXIT_INCOMPLETE;
	}
	return EXIT_OK;
}

static struct exclude *build_excludes(const struct conf_mirror *m)
{
	struct exclude *ex = exclude_new();

	for (size_t i = 0; ex && i < m->n_excludes; i++)
		if (exclude_add(ex, m->excludes[i]) < 0) {
			exclude_free(ex);
			return NULL;
		}
	return ex;
}

/* base must not lie inside the served tree (it would be mirrored, and
 * pruned by the next restore). */
static bool inside(const char *dir, const char *tree)
{
	char a[PATH_MAX], b[PATH_MAX];
	size_t n;

	if (!realpath(tree, b))
		return false;
	if (!realpath(dir, a)) {
		/* not there yet: compare the text */
		snprintf(a, sizeof(a), "%s", dir);
	}
	n = strlen(b);
	return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0');
}

struct run {
	const struct conf *c;
	const struct args *a;
	char stamp[32];
	size_t conflicts;
	uint64_t created, changed, removed, bytes;   /* by the passes that changed files */
	int rc;
};

static int open_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && mkdir(path, 0755) == 0)
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The slave's last acknowledgement (the journal's ack file), less a margin
 * for the changes in flight then, or the end of the last complete restore
 * when that is later: files this node changed after it may
 * never have been journalled (the daemon died first) and are kept aside if
 * the restore would replace them.  0 when there is no ack file. */
static struct timespec last_ack_time(const char *jdir)
{
	struct timespec none = { 0, 0 };
	struct stat st;
	char *p = NULL;

	struct ownstate_pos pos;

	if (asprintf(&p, "%s/journal.ack", jdir) < 0)
		return none;
	int rc = stat(p, &st);
	free(p);
	if (rc < 0)
		return none;
	st.st_mtim.tv_sec -= ACK_MARGIN_SEC;
	/* the last complete restore wrote the files it changed before then */
	if (ownstate_pos_read(jdir, &pos) == 0 &&
	    (pos.done.tv_sec > st.st_mtim.tv_sec ||
	     (pos.done.tv_sec == st.st_mtim.tv_sec && pos.done.tv_nsec > st.st_mtim.tv_nsec)))
		return pos.done;
	return st.st_mtim;
}

/* ---- journal-driven restore: what to ask the slave for ---- */

struct plan {
	struct changeset *cs;      /* NULL: compare the whole trees */
	struct remote_list rl;     /* the slave's list (when have_list) */
	bool have_list;
	uint64_t from, used, own;  /* first slave sequence used, records used from
				    * it on; this node's records */
	char why[600];             /* why the whole trees are compared */
};

struct collect {
	struct plan *pl;
	bool pos;
	struct ownstate_pos p;
	int whole;
};

static int collect_change(void *ctx, const struct restlist_change *ch)
{
	struct collect *co = ctx;
	struct plan *pl = co->pl;

	if (pl->from == 0)      /* the header came first: the journal id is known */
		pl->from = co->pos && co->p.id == pl->rl.head.journal_id ? co->p.seq + 1 : 1;
	if (ch->seq < pl->from)
		return 0;
	pl->used++;
	int k = changeset_add(pl->cs, true, ch->op, ch->path, ch->len, ch->path2, ch->len2);
	if (k < 0)
		return k;
	co->whole |= k;
	return 0;
}

/* The slave's side of the plan; "" in pl->why when it can be used. */
static void plan_slave(const struct conf *c, const struct conf_mirror *m, const char *jdir,
		       struct plan *pl, struct collect *co)
{
	char why[512];
	int rc;

	co->pos = ownstate_pos_read(jdir, &co->p) == 0;
	rc = remote_changes(c, m, collect_change, co, &pl->rl, why, sizeof(why));
	pl->have_list = rc == 0 && pl->rl.head.status != RESTLIST_NOT_PROMOTED;
	if (rc < 0)
		snprintf(pl->why, sizeof(pl->why), "the slave did not list its changes (%s)",
			 rc == -E2BIG ? "too many" : why);
	else if (pl->rl.head.status == RESTLIST_NOT_PROMOTED)
		snprintf(pl->why, sizeof(pl->why), "the slave has no journal of its own changes "
			 "(it was never promoted)");
	else if (pl->rl.head.status == RESTLIST_INCOMPLETE)
		snprintf(pl->why, sizeof(pl->why), "the slave's journal lost changes");
	else if (co->whole)
		snprintf(pl->why, sizeof(pl->why), "the slave's journal asks for a whole "
			 "comparison (its mirrord restarted while promoted, or missed events)");
	else if (co->pos && co->p.id == pl->rl.head.journal_id && co->p.seq > pl->rl.last)
		snprintf(pl->why, sizeof(pl->why), "the slave's journal is behind the last "
			 "restore");
}

/* This node's side; called when the slave's can be used. */
static void plan_own(const char *jdir, struct plan *pl)
{
	int rc = ownstate_load(jdir, pl->cs, &pl->own);

	if (rc == -ENOENT)
		snprintf(pl->why, sizeof(pl->why), "no journal on this node (%s): its own "
			 "changes are not known", jdir);
	else if (rc == 1)
		snprintf(pl->why, sizeof(pl->why), "this node's journal asks for a whole "
			 "comparison (a reconciliation never reached the slave)");
	else if (rc < 0)
		snprintf(pl->why, sizeof(pl->why), "cannot use this node's journal: %s",
			 strerror(-rc));
	else if ((rc = changeset_finish(pl->cs)) < 0)
		snprintf(pl->why, sizeof(pl->why), "%s", strerror(-rc));
}

/* Journal-driven when both journals allow it, else the whole trees. */
static void plan_build(struct run *run, const struct conf_mirror *m, const char *jdir,
		       struct plan *pl)
{
	struct collect co = { .pl = pl };

	memset(pl, 0, sizeof(*pl));
	if (!(pl->cs = changeset_new())) {
		snprintf(pl->why, sizeof(pl->why), "out of memory");
		return;
	}
	plan_slave(run->c, m, jdir, pl, &co);
	if (run->a->full)
		snprintf(pl->why, sizeof(pl->why), "--full");
	if (!pl->why[0])
		plan_own(jdir, pl);
	if (pl->why[0]) {
		changeset_free(pl->cs);
		pl->cs = NULL;
		if (!run->a->quiet || !run->a->full)
			printf("mirror %s: comparing whole trees: %s\n", m->name, pl->why);
		return;
	}
	printf("mirror %s: journal: %zu paths to check (%llu changes of the slave's journal "
	       "%016llx since record %llu, %llu of this node's not acknowledged)\n", m->name,
	       changeset_count(pl->cs), (unsigned long long)pl->used,
	       (unsigned long long)pl->rl.head.journal_id,
	       (unsigned long long)(pl->from ? pl->from : 1), (unsigned long long)pl->own);
}

/* Rename from -> to in this node's tree, never over anything. */
static int rename_local(int rootfd, const struct changeset_rename *r)
{
	const char *fn, *tn;
	int ff, tf, rc;

	if (r->flen == 0 || r->tlen == 0)
		return -EINVAL;
	if ((ff = path_open_parent(rootfd, r->from, r->flen, &fn)) < 0)
		return ff;
	if ((tf = path_open_parent(rootfd, r->to, r->tlen, &tn)) < 0) {
		close(ff);
		return tf;
	}
	rc = renameat2(ff, fn, tf, tn, RENAME_NOREPLACE) < 0 ? -errno : 0;
	close(ff);
	close(tf);
	return rc;
}

/* The slave's renames, in order, where they apply here as they are (the
 * rest is covered by the requests: the source path and a SCAN of the
 * target).  Durable (syncfs) before the pull starts. */
static void apply_renames(struct pass *ps, const struct changeset *cs, struct conflicts *cf)
{
	size_t n = changeset_renames(cs), done = 0;

	for (size_t i = 0; i < n; i++) {
		const struct changeset_rename *r = changeset_rename_get(cs, i);
		int rc = ps->kind == PASS_DRY ? -ECANCELED : rename_local(ps->rootfd, r);
		if (rc == 0) {
			done++;
			if (conflicts_renamed(cf, r->from, r->flen, r->to, r->tlen) < 0)
				log_warn("mirror %s: out of memory noting the rename of '%s'",
					 ps->m->name, r->from);
		} else if (ps->kind == PASS_DRY) {
			printf("would rename: %s -> %s\n", r->from, r->to);
		} else {
			log_debug("mirror %s: rename '%s' -> '%s' not done here (%s): sent instead",
				  ps->m->name, r->from, r->to, strerror(-rc));
		}
	}
	if (done > 0 && syncfs(ps->rootfd) < 0)
		log_warn("mirror %s: syncfs after the renames: %s", ps->m->name, strerror(errno));
	if (n > 0 && ps->kind != PASS_DRY)
		printf("mirror %s: %zu of the slave's %zu renames done here\n", ps->m->name, done, n);
}

/* A complete pass: remember the slave's position, mark this node's journal. */
static void record_done(const struct conf_mirror *m, const char *jdir, const struct plan *pl)
{
	struct ownstate_pos pos = { 0 };
	int rc;

	if (pl->have_list) {
		pos.id = pl->rl.head.journal_id;
		pos.seq = pl->rl.last;
	}
	clock_gettime(CLOCK_REALTIME, &pos.done);
	if ((rc = ownstate_pos_write(jdir, &pos)) < 0)
		log_warn("mirror %s: cannot record the restore position in %s: %s (the next run "
			 "asks for every change since the takeover again)", m->name, jdir,
			 strerror(-rc));
	if ((rc = ownstate_reset(jdir)) < 0 && rc != -ENOENT)
		log_warn("mirror %s: cannot mark the journal in %s as restored: %s", m->name, jdir,
			 strerror(-rc));
}

/* --verify: a metadata pass that must find nothing, then content digests. */
static int verify(struct run *run, const struct conf_mirror *m, struct conflicts *cf,
		  int rootfd, const struct exclude *ex)
{
	struct pass vs = { .kind = PASS_VERIFY, .m = m, .cf = cf, .rootfd = rootfd };
	uint64_t differ = 0, entries = 0;
	char why[512];
	int rc = pull(run->c, &vs, ex, true);

	if (rc == EXIT_OK && vs.listed > 0) {
		log_err("mirror %s: verify: %" PRIu64 " paths still differ from the slave",
			m->name, vs.listed);
		return EXIT_VERIFY;
	}
	if (rc != EXIT_OK)
		return rc;
	printf("mirror %s: verify: this tree equals the slave's (types, sizes, mtimes, "
	       "metadata)\n", m->name);
	if ((rc = verify_content(run->c, m, rootfd, ex, &differ, &entries, why,
				 sizeof(why))) < 0) {
		log_err("mirror %s: verify: cannot compare content: %s", m->name, why);
		return EXIT_INCOMPLETE;
	}
	if (differ > 0) {
		log_err("mirror %s: verify: %" PRIu64 " paths differ in content from the slave",
			m->name, differ);
		return EXIT_VERIFY;
	}
	printf("mirror %s: verify: content of %" PRIu64 " entries equals the slave's "
	       "(XXH3-128)\n", m->name, entries);
	return EXIT_OK;
}

/* The pull (journal-driven or whole), then --verify and --reapply. */
static int restore_passes(struct run *run, const struct conf_mirror *m, enum pass_kind kind,
			  struct timespec guard, struct conflicts *cf, int rootfd,
			  const struct exclude *ex, const char *jdir)
{
	const struct args *a = run->a;
	struct plan pl;
	int rc;

	plan_build(run, m, jdir, &pl);
	struct pass ps = { .kind = kind, .m = m, .cf = cf, .rootfd = rootfd, .guard = guard,
			   .cs = pl.cs };
	if (pl.cs)
		apply_renames(&ps, pl.cs, cf);
	rc = pull(run->c, &ps, ex, a->quiet);
	if (kind == PASS_DRY && rc == EXIT_OK)
		printf("mirror %s: dry run: %" PRIu64 " to create, %" PRIu64 " to change, %" PRIu64
		       " to remove, %" PRIu64 " bytes of file data; nothing was changed\n",
		       m->name, ps.creates, ps.changes, ps.deletes, ps.bytes);
	if (kind != PASS_DRY && kind != PASS_VERIFY) {
		run->created += ps.creates;
		run->changed += ps.changes;
		run->removed += ps.deletes;
		run->bytes += ps.bytes;
	}
	if (rc == EXIT_OK && kind != PASS_DRY)
		record_done(m, jdir, &pl);
	changeset_free(pl.cs);
	if (rc == EXIT_OK && a->verify && kind == PASS_RESTORE)
		rc = verify(run, m, cf, rootfd, ex);
	if (rc == EXIT_OK && a->reapply && kind == PASS_RESTORE) {
		size_t n = 0;
		int e = conflicts_reapply(cf, &n);
		printf("mirror %s: reapplied %zu of this node's versions (the slave's are kept "
		       "under %s/from-slave)\n", m->name, n, conflicts_dir(cf));
		if (e < 0) {
			log_err("mirror %s: reapply stopped: %s", m->name, strerror(-e));
			rc = EXIT_INCOMPLETE;
		}
	}
	return rc;
}

/* Restore one mirror: the pull (or dry run), --verify, --reapply. */
static int restore_mirror(struct run *run, const struct conf_mirror *m, enum pass_kind kind,
			  struct timespec guard)
{
	const struct args *a = run->a;
	char *base = NULL, *jdir = NULL;
	struct exclude *ex = build_excludes(m);
	struct conflicts *cf = NULL;
	int rootfd = open_tree(m->path), rc = EXIT_OK;
	uint64_t records = 0;

	if (rootfd < 0 || !ex) {
		log_err("mirror %s: cannot open %s: %s", m->name, m->path,
			strerror(rootfd < 0 ? -rootfd : ENOMEM));
		rc = EXIT_INCOMPLETE;
		goto out;
	}
	if (asprintf(&base, "%s/%s", a->conflicts_dir ? a->conflicts_dir : "", m->name) < 0 ||
	    asprintf(&jdir, "%s/%s", run->c->state_dir, m->name) < 0) {
		rc = EXIT_INCOMPLETE;
		goto out;
	}
	if (!a->conflicts_dir) {
		free(base);
		if (asprintf(&base, "%s/conflicts/%s", run->c->state_dir, m->name) < 0) {
			base = NULL;
			rc = EXIT_INCOMPLETE;
			goto out;
		}
	}
	if (inside(base, m->path)) {
		log_err("mirror %s: the conflicts folder %s is inside the tree %s; choose "
			"another with --conflicts-dir", m->name, base, m->path);
		rc = EXIT_USAGE;
		goto out;
	}
	struct conflicts_opts co = { .base = base, .stamp = run->stamp, .by_mtime = a->by_mtime,
				     .dry_run = kind == PASS_DRY };
	co.changed_after = last_ack_time(jdir);
	clock_gettime(CLOCK_REALTIME, &co.run_start);   /* the clock file ctimes use */
	if (!(cf = conflicts_new(rootfd, &co))) {
		rc = EXIT_INCOMPLETE;
		goto out;
	}
	int jr = a->by_mtime ? -ENOENT : conflicts_load_journal(cf, jdir, &records);
	if (jr == -ENOENT && !a->by_mtime && kind != PASS_FINAL) {
		log_warn("mirror %s: NO JOURNAL in %s: this node's changes that never reached "
			 "the slave cannot be told apart and WILL BE OVERWRITTEN by the slave's "
			 "versions; stop now (Ctrl-C) and use --conflicts-by-mtime to keep every "
			 "file of this node that is newer than the slave's copy", m->name, jdir);
	} else if (jr < 0 && jr != -ENOENT) {
		log_err("mirror %s: cannot read the journal in %s: %s; nothing changed (use "
			"--conflicts-by-mtime to go on without it)", m->name, jdir, strerror(-jr));
		rc = EXIT_INCOMPLETE;
		goto out;
	} else if (jr == 0 && kind != PASS_FINAL && !a->quiet) {
		printf("mirror %s: journal: %" PRIu64 " changes of this node not acknowledged "
		       "by the slave are conflicts\n", m->name, records);
	}
	rc = restore_passes(run, m, kind, guard, cf, rootfd, ex, jdir);
	if (conflicts_report(cf, stdout) < 0)
		log_err("mirror %s: cannot write %s/conflicts.txt", m->name, conflicts_dir(cf));
	if (conflicts_kept_now(cf) > 0)
		printf("mirror %s: %zu versions of this node kept in %s (list: conflicts.txt)\n",
		       m->name, conflicts_kept_now(cf), conflicts_dir(cf));
	run->conflicts += conflicts_count(cf);
out:
	conflicts_free(cf);
	exclude_free(ex);
	free(base);
	free(jdir);
	if (rootfd >= 0)
		close(rootfd);
	return rc;
}

/* ---- failback ---- */

static int fo_request(const struct conf *c, const char *req, char *state, size_t len,
		      char **ret_reply)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s-failoverd", c->control_socket);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int rc = ctlsock_request(path, req, CTL_MS, ret_reply);
	if (rc == 0 && state && ctlsock_kv_get(*ret_reply, "state", state, len) < 0)
		snprintf(state, len, "?");
	return rc;
}

static int local_state(const struct conf *c, char *state, size_t len)
{
	char *reply = NULL;
	int rc = fo_request(c, "status", state, len, &reply);

	free(reply);
	return rc;
}

static int demote_slave(const struct conf *c, const struct conf_mirror *m)
{
	char why[512];
	int err = 0;
	struct stream *s = session_connect(c, m, PROTO_FEATURE_DEMOTE, CONNECT_MS, &err, why,
					  sizeof(why));

	if (!s) {
		log_err("failback: the slave %s did not release the VIP: %s", m->peer.text, why);
		return err;
	}
	stream_free(s);
	printf("failback: the slave %s released the VIP\n", m->peer.text);
	return 0;
}

static int take_vip(const struct conf *c)
{
	char state[32], *reply = NULL;
	int rc = fo_request(c, "clear-stale", state, sizeof(state), &reply);

	if (rc == 0 && strncmp(reply, "ok", 2) != 0 && local_state(c, state, sizeof(state)) == 0 &&
	    strcasecmp(state, "stale") == 0) {
		log_err("failback: failoverd refused clear-stale: %s", reply);
		rc = -EPERM;
	}
	free(reply);
	reply = NULL;
	if (rc < 0)
		return rc;
	printf("failback: STALE cleared\n");
	for (int waited = 0; waited <= MASTER_WAIT_MS; waited += 100) {
		if (local_state(c, state, sizeof(state)) == 0 && strcasecmp(state, "master") == 0) {
			printf("failback: this node holds the VIP (MASTER)\n");
			free(reply);
			return 0;
		}
		if (waited % 1000 == 0) {
			free(reply);
			reply = NULL;
			if (fo_request(c, "promote", NULL, 0, &reply) == 0 &&
			    strncmp(reply, "ok", 2) != 0)
				log_warn("failback: promote: %s", reply);
		}
		(void)nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	}
	free(reply);
	log_err("failback: this node did not become MASTER within %d ms (state %s)",
		MASTER_WAIT_MS, state);
	return -ETIMEDOUT;
}

static int failback(struct run *run, const struct conf_mirror **ms, size_t n)
{
	const struct conf *c = run->c;
	char state[32];
	int rc = local_state(c, state, sizeof(state));

	if (rc < 0) {
		log_err("failback: failoverd on this node does not answer at %s-failoverd: %s",
			c->control_socket, strerror(-rc));
		return EXIT_FAILBACK;
	}
	if (strcasecmp(state, "master") == 0) {
		printf("failback: this node is already MASTER\n");
		return EXIT_OK;
	}
	struct timespec guard;
	clock_gettime(CLOCK_REALTIME, &guard);   /* the clock file ctimes use */
	if (demote_slave(c, ms[0]) < 0)
		return EXIT_FAILBACK;
	for (size_t i = 0; i < n; i++) {
		if ((rc = restore_mirror(run, ms[i], PASS_FINAL, guard)) != EXIT_OK) {
			log_err("failback: final pass of mirror %s failed: this node stays %s and "
				"does not take the VIP (the slave takes it back); run "
				"mirror-restore --failback again", ms[i]->name, state);
			return EXIT_FAILBACK;
		}
	}
	if (take_vip(c) < 0) {
		log_err("failback: taking the VIP failed; see failoverd's log and mirrorctl "
			"status; re-running mirror-restore --failback is safe");
		return EXIT_FAILBACK;
	}
	return EXIT_OK;
}

/* The run's result to the [node] notify hook (outcome.h). */
static void notify_outcome(const struct run *run, const struct conf_mirror **ms, size_t n,
			   int rc, double seconds)
{
	const char **names = calloc(n ? n : 1, sizeof(*names));
	struct outcome o = { .n_mirrors = n, .exit_code = rc, .failback = run->a->failback,
			     .ok = rc == EXIT_OK || rc == EXIT_CONFLICTS,
			     .conflicts = run->conflicts, .created = run->created,
			     .changed = run->changed, .removed = run->removed,
			     .bytes = run->bytes, .seconds = seconds };

	if (!names) {
		log_err("cannot notify the restore's result: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = ms[i]->name;
	o.mirrors = names;
	outcome_notify(run->c, &o);
	free(names);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mirror-restore [-c FILE] [options] [MIRROR...]\n"
		"Restore this (returning master) node's mirrors from the slave, keeping this\n"
		"node's unsent changes as conflicts, then optionally fail back.\n"
		"  -c, --config FILE        configuration (default %s)\n"
		"  -n, --dry-run            list what would change; change nothing\n"
		"      --verify             after the restore, check that nothing differs\n"
		"      --full               compare the whole trees, not only the paths the\n"
		"                           journals list\n"
		"      --failback           after the restore, move the VIP back here\n"
		"      --reapply            put this node's conflicting versions back afterwards\n"
		"      --conflicts-dir DIR  where versions are kept (default STATE_DIR/conflicts)\n"
		"      --conflicts-by-mtime without a journal: keep every file newer than the\n"
		"                           slave's copy, or absent there\n"
"On the node that keeps versions (keep_versions):\n"
"  mirror-restore --from-version TIME --to DIR [--into-tree] MIRROR [PATH]\n"
"                           write PATH as it was at TIME (@SECONDS or\n"
"                           YYYY-MM-DD HH:MM:SS[.FRACTION][Z]) to DIR\n"
"  mirror-restore --list-versions MIRROR PATH\n"
"                           the kept versions of PATH\n"
		"  -q, --quiet              no progress line\n"
		"  -v, --verbose            debug logging\n"
		"  -h, --help, -V, --version\n", CONF_DEFAULT_PATH);
}

/* --from-version and --list-versions: one mirror and a path, alone. */
static int versions_args(struct args *a)
{
	bool pit = a->pit.time || a->pit.to || a->pit.into_tree;

	if (!pit && !a->list_versions)
		return 0;
	if (a->dry_run || a->verify || a->full || a->failback || a->reapply || a->by_mtime ||
	    a->conflicts_dir || (pit && a->list_versions)) {
		fprintf(stderr, "mirror-restore: --from-version and --list-versions stand "
			"alone\n");
		return -1;
	}
	if (pit && (!a->pit.time || !a->pit.to)) {
		fprintf(stderr, "mirror-restore: --from-version needs --to DIR\n");
		return -1;
	}
	if (a->n_mirrors < 1 || a->n_mirrors > 2 || (a->list_versions && a->n_mirrors != 2)) {
		fprintf(stderr, "mirror-restore: give MIRROR %s\n", pit ? "[PATH]" : "PATH");
		return -1;
	}
	a->pit.path = a->n_mirrors == 2 ? a->mirrors[1] : "";
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	enum { O_VERIFY = 256, O_FULL, O_FAILBACK, O_REAPPLY, O_CDIR, O_MTIME, O_FROMV, O_TO,
	       O_INTO, O_LISTV };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "full", no_argument, NULL, O_FULL },
		{ "failback", no_argument, NULL, O_FAILBACK },
		{ "reapply", no_argument, NULL, O_REAPPLY },
		{ "conflicts-dir", required_argument, NULL, O_CDIR },
		{ "conflicts-by-mtime", no_argument, NULL, O_MTIME },
		{ "from-version", required_argument, NULL, O_FROMV },
		{ "to", required_argument, NULL, O_TO },
		{ "into-tree", no_argument, NULL, O_INTO },
		{ "list-versions", no_argument, NULL, O_LISTV },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->config = CONF_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:nqvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'n': a->dry_run = true; break;
		case O_VERIFY: a->verify = true; break;
		case O_FULL: a->full = true; break;
		case O_FAILBACK: a->failback = true; break;
		case O_REAPPLY: a->reapply = true; break;
		case O_CDIR: a->conflicts_dir = optarg; break;
		case O_MTIME: a->by_mtime = true; break;
		case O_FROMV: a->pit.time = optarg; break;
		case O_TO: a->pit.to = optarg; break;
		case O_INTO: a->pit.into_tree = true; break;
		case O_LISTV: a->list_versions = true; break;
		case 'q': a->quiet = true; break;
		case 'v': a->verbose = true; break;
		case 'h': usage(stdout); exit(EXIT_OK);
		case 'V': printf("mirror-restore %s\n", PACKAGE_VERSION); exit(EXIT_OK);
		default: usage(stderr); return -1;
		}
	}
	if (a->dry_run && (a->failback || a->reapply)) {
		fprintf(stderr, "mirror-restore: --dry-run cannot be combined with --failback "
			"or --reapply\n");
		return -1;
	}
	if (a->conflicts_dir && a->conflicts_dir[0] != '/') {
		fprintf(stderr, "mirror-restore: --conflicts-dir needs an absolute path\n");
		return -1;
	}
	a->mirrors = argv + optind;
	a->n_mirrors = argc - optind;
	return versions_args(a);
}

/* --from-version / --list-versions: local, on the node keeping versions. */
static int versions_main(struct conf *c, const struct args *a)
{
	const struct conf_mirror *m = conf_find_mirror(c, a->mirrors[0]);
	int rc;

	if (!m || !conf_keeps_versions(m)) {
		fprintf(stderr, "mirror-restore: %s: no mirror '%s'%s\n", c->file, a->mirrors[0],
			m ? " that keeps versions (keep_versions)" : "");
		conf_free(c);
		return EXIT_USAGE;
	}
	rc = a->list_versions ? pit_list(c, m, a->pit.path) : pit_restore(c, m, &a->pit);
	conf_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct conf c;
	char err[1024];
	struct run run = { .c = &c, .a = &a };

	if (parse_args(argc, argv, &a) < 0)
		return EXIT_USAGE;
	log_open("mirror-restore", true, a.verbose ? LOG_DEBUG : LOG_INFO);
	if (conf_load(a.config, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "mirror-restore: %s\n", err);
		return EXIT_USAGE;
	}
	if (a.pit.time || a.list_versions)
		return versions_main(&c, &a);
	const struct conf_mirror **ms = calloc(c.n_mirrors + 1, sizeof(*ms));
	size_t n = 0;
	int rc = ms ? EXIT_OK : EXIT_INCOMPLETE;
	for (int i = 0; ms && i < a.n_mirrors; i++) {
		const struct conf_mirror *m = conf_find_mirror(&c, a.mirrors[i]);
		if (!m || !m->has_peer) {
			fprintf(stderr, "mirror-restore: %s: no mirror '%s'%s\n", c.file,
				a.mirrors[i], m ? " with a peer" : "");
			rc = EXIT_USAGE;
			goto out;
		}
		ms[n++] = m;
	}
	for (size_t i = 0; ms && a.n_mirrors == 0 && i < c.n_mirrors; i++)
		if (c.mirrors[i].has_peer)
			ms[n++] = &c.mirrors[i];
	if (ms && n == 0) {
		fprintf(stderr, "mirror-restore: %s: no mirror with a peer\n", c.file);
		rc = EXIT_USAGE;
		goto out;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	if (!c.security.cert && !c.security.psk_file && c.security.insecure_plaintext)
		log_warn("INSECURE: insecure_plaintext = yes: the mirrors travel from the slave "
			 "unauthenticated and unencrypted");
	time_t now = time(NULL);
	struct tm tm;
	if (!localtime_r(&now, &tm) ||
	    strftime(run.stamp, sizeof(run.stamp), "%Y%m%d-%H%M%S", &tm) == 0)
		snprintf(run.stamp, sizeof(run.stamp), "%lld", (long long)now);
	double t0 = mono();
	for (size_t i = 0; rc == EXIT_OK && i < n; i++)
		rc = restore_mirror(&run, ms[i], a.dry_run ? PASS_DRY : PASS_RESTORE,
				    (struct timespec){ 0, 0 });
	if (rc == EXIT_OK && a.failback)
		rc = failback(&run, ms, n);
	else if (rc != EXIT_OK && a.failback)
		log_err("failback not attempted: the restore did not complete; the VIP stays "
			"with the slave and this node stays STALE");
	if (rc == EXIT_OK && run.conflicts > 0 && !a.dry_run)
		rc = EXIT_CONFLICTS;
	printf("mirror-restore: %s in %.2f s (exit %d)%s\n",
	       rc == EXIT_OK || rc == EXIT_CONFLICTS ? a.dry_run ? "dry run done" : "restored" :
	       "FAILED", mono() - t0, rc,
	       run.conflicts ? ", conflicts listed above" : "");
	if (!a.dry_run)
		notify_outcome(&run, ms, n, rc, mono() - t0);
out:
	free(ms);
	conf_free(&c);
	return rc;
}
