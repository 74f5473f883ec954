/* mirrord: live mirroring daemon.  Sink role (receive + apply) for every
 * configured mirror, and the source role (watch + send, live.c) in a thread
 * for every mirror that has a peer; one-shot push with --once.  See
 * mirrord(8). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "conf.h"
#include "audit.h"
#include "control.h"
#include "live.h"
#include "log.h"
#include "promote.h"
#include "push.h"
#include "serve.h"
#include "status.h"

/* Exit codes, documented in mirrord(8). */
enum {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1,     /* --once: some files could not be synced */
	EXIT_USAGE = 2,
	EXIT_CONFIG = 3,
	EXIT_SESSION = 4,     /* --once: connection or protocol failure */
	EXIT_RUNTIME = 5,     /* daemon: could not start (bind, ...) */
};

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_flag = 1;
	else
		stop_flag = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mirrord [-c FILE] [-f] [-v] [-n] [--once MIRROR]\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"  -f, --foreground    stay in the foreground, log to stderr\n"
		"  -v, --verbose       more logging; with -n print the effective config\n"
		"  -n, --check-config  check the configuration and exit\n"
		"      --once MIRROR   make the peer's copy of MIRROR identical, then exit\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n",
		CONF_DEFAULT_PATH);
}

struct args {
	const char *config;
	const char *once;
	bool foreground, check;
	int verbose;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "once", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->config = CONF_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:fvnhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'f': a->foreground = true; break;
		case 'v': a->verbose++; break;
		case 'n': a->check = true; break;
		case 'o': a->once = optarg; break;
		case 'h': usage(stdout); exit(EXIT_OK);
		case 'V': printf("mirrord %s\n", PACKAGE_VERSION); exit(EXIT_OK);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static void set_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Daemon: SIGHUP asks for a reload.  It is blocked here, before any thread
 * starts, so every thread inherits the mask and only the control thread
 * (which unblocks it) is interrupted by it, never a session's I/O. */
static void set_reload_signal(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- SIGHUP: re-read the file, report what changed ---- */

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool excludes_eq(const struct conf_mirror *a, const struct conf_mirror *b)
{
	if (a->n_excludes != b->n_excludes)
		return false;
	for (size_t i = 0; i < a->n_excludes; i++)
		if (strcmp(a->excludes[i], b->excludes[i]) != 0)
			return false;
	return true;
}

static bool more_peers_eq(const struct conf_mirror *a, const struct conf_mirror *b)
{
	if (a->n_more_peers != b->n_more_peers)
		return false;
	for (size_t i = 0; i < a->n_more_peers; i++)
		if (strcmp(a->more_peers[i].text, b->more_peers[i].text) != 0)
			return false;
	return true;
}

/* Keys that need a restart: logged one by one; returns how many changed. */
static unsigned diff_fixed(const struct conf *o, const struct conf *n)
{
	unsigned k = 0;

	if (!str_eq(o->node_name, n->node_name) && ++k)
		log_warn("reload: [node] name changed: not reloaded, restart mirrord");
	if (!str_eq(o->control_socket, n->control_socket) && ++k)
		log_warn("reload: [node] control_socket changed: not reloaded, restart mirrord");
	if (!str_eq(o->state_dir, n->state_dir) && ++k)
		log_warn("reload: [node] state_dir changed: not reloaded, restart mirrord");
	if (strcmp(o->listen.text, n->listen.text) != 0 && ++k)
		log_warn("reload: [node] listen changed: not reloaded, restart mirrord");
	if ((!str_eq(o->notify, n->notify) || o->notify_timeout_ms != n->notify_timeout_ms ||
	     o->notify_repeat_sec != n->notify_repeat_sec ||
	     o->notify_lag_sec != n->notify_lag_sec) && ++k)
		log_warn("reload: [node] notify keys changed: not reloaded, restart mirrord");
	for (size_t i = 0; i < o->n_mirrors; i++)
		if (!conf_find_mirror(n, o->mirrors[i].name) && ++k)
			log_warn("reload: mirror %s removed: not reloaded, restart mirrord",
				 o->mirrors[i].name);
	for (size_t i = 0; i < n->n_mirrors; i++) {
		const struct conf_mirror *b = &n->mirrors[i], *a = conf_find_mirror(o, b->name);
		if (!a) {
			log_warn("reload: mirror %s added: not reloaded, restart mirrord", b->name);
			k++;
			continue;
		}
		if ((strcmp(a->path, b->path) != 0 || a->has_peer != b->has_peer ||
		     strcmp(a->peer.text, b->peer.text) != 0 || !more_peers_eq(a, b) ||
		     a->journal_max != b->journal_max) && ++k)
			log_warn("reload: mirror %s: path or peer changed: not reloaded, restart "
				 "mirrord", b->name);
		/* the live source and the sink build their exclude set and
		 * coalescing window at start; they cannot take new ones yet */
		if ((!excludes_eq(a, b) || a->delay_ms != b->delay_ms ||
		     a->append_interval_ms != b->append_interval_ms ||
		     a->keep_versions_sec != b->keep_versions_sec ||
		     a->keep_versions_count != b->keep_versions_count ||
		     a->keep_versions_mb != b->keep_versions_mb ||
		     !str_eq(a->versions_dir, b->versions_dir) || a->one_fs != b->one_fs ||
		     a->xattrs != b->xattrs || a->owner != b->owner) && ++k)
			log_warn("reload: mirror %s: excludes or options changed: not applied to "
				 "the running source and sink yet, restart mirrord", b->name);
		if ((a->audit_interval_sec != b->audit_interval_sec ||
		     a->audit_window_from != b->audit_window_from ||
		     a->audit_window_to != b->audit_window_to || a->audit_rate != b->audit_rate ||
		     a->audit_sample_ppm != b->audit_sample_ppm ||
		     a->audit_sample_bytes != b->audit_sample_bytes ||
		     a->audit_repair != b->audit_repair) && ++k)
			log_warn("reload: mirror %s: audit options changed: not applied to the "
				 "running audit, restart mirrord", b->name);
	}
	return k;
}

static int reload(void *ctx, char **metrics_file)
{
	const struct conf *o = ctx;
	struct conf n;
	char err[1024];

	if (conf_load(o->file, &n, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return -EINVAL;
	}
	unsigned fixed = diff_fixed(o, &n), applied = 0;
	if (!str_eq(*metrics_file, n.metrics_file)) {
		char *m = n.metrics_file ? strdup(n.metrics_file) : NULL;
		if (n.metrics_file && !m) {
			log_err("reload: out of memory, keeping the running configuration");
			conf_free(&n);
			return -ENOMEM;
		}
		log_notice("reload: metrics_file %s -> %s", *metrics_file ? *metrics_file : "(none)",
			   m ? m : "(none)");
		free(*metrics_file);
		*metrics_file = m;
		applied++;
	}
	log_notice("configuration %s reloaded: %u change(s) applied, %u need a restart",
		   o->file, applied, fixed);
	conf_free(&n);
	return 0;
}

static int run_once(const struct conf *c, const char *name)
{
	const struct conf_mirror *m = conf_find_mirror(c, name);
	struct push_result r;

	if (!m || !m->has_peer) {
		log_err("mirror %s: %s in %s", name, m ? "has no peer" : "not configured", c->file);
		return EXIT_CONFIG;
	}
	int rc = push_once(c, m, &stop_flag, &r);
	if (rc < 0)
		return EXIT_SESSION;
	log_notice("mirror %s: %s in %.3f s: %llu ops, %llu files whole, %llu by delta, "
		   "%llu bytes read, %llu bytes sent, %llu received, %llu saved by deltas, "
		   "%llu errors", m->name, rc == 0 ? "in sync" : "done with errors", r.seconds,
		   (unsigned long long)r.ops, (unsigned long long)r.files_whole,
		   (unsigned long long)r.files_delta, (unsigned long long)r.bytes_read,
		   (unsigned long long)r.wire_out, (unsigned long long)r.wire_in,
		   (unsigned long long)r.delta_saved, (unsigned long long)r.errors);
	return rc == 0 ? EXIT_OK : EXIT_PARTIAL;
}

/* The live source's figures for the status table (status_probe_fn). */
static void live_probe(void *ctx, struct status_source *ret)
{
	struct live_status ls;

	live_status(ctx, &ls);
	ret->connected = ls.connected;
	ret->lag_seconds = (double)ls.lag_ms / 1000.0;
	ret->synced_until_ms = ls.synced_until_ms;
	ret->lag_entries = ls.journal_entries + ls.dirty;
	ret->queue_depth = ls.in_flight;
	ret->bytes_sent = ls.bytes_sent;
	ret->bytes_saved = ls.delta_saved;
	ret->errors = ls.errors;
	ret->coverage = ls.coverage;
	ret->watched_dirs = ls.watched_dirs;
	ret->unwatched_dirs = ls.unwatched_dirs;
	ret->progress = ls.progress;
	struct live_peer_status ps[CONF_MAX_PEERS];
	size_t n = live_peers(ctx, ps, CONF_MAX_PEERS);
	for (size_t i = 0; i < n && i < CONF_MAX_PEERS; i++) {
		struct status_peer *p = &ret->peers[ret->n_peers++];
		snprintf(p->addr, sizeof(p->addr), "%.63s", ps[i].addr);
		p->connected = ps[i].connected;
		p->dropped = ps[i].dropped;
		p->reconciling = ps[i].reconciling;
		p->lag_seconds = (double)ps[i].lag_ms / 1000.0;
		p->synced_until_ms = ps[i].synced_until_ms;
		p->cursor = ps[i].cursor;
		p->behind = ps[i].behind;
		p->queue_depth = ps[i].in_flight;
		p->bytes_sent = ps[i].bytes_sent;
		p->errors = ps[i].errors;
		p->progress = ps[i].progress;
	}
}

/* The audit's view of the live source (audit_live): every change made so
 * far has reached the sink. */
static bool live_quiet(void *ctx)
{
	struct live_status ls;

	live_status(ctx, &ls);
	return ls.connected && !ls.reconciling && ls.journal_entries == 0 && ls.dirty == 0 &&
	       ls.in_flight == 0;
}

static int live_resend(void *ctx, const char *path, size_t len, bool tree)
{
	return live_repair(ctx, path, len, tree);
}

/* The live sources: one per mirror with a peer, each its own thread,
 * watcher, journal and session, and its drift audit. */
struct sources {
	struct live **l;        /* c->n_mirrors slots, NULL for a sink mirror */
	struct audit **a;       /* the same slots */
	size_t n;
};

static void sources_stop(const struct conf *c, struct sources *s)
{
	stop_flag = 1;
	for (size_t i = 0; s->a && i < s->n; i++)
		audit_join(s->a[i]);    /* before the live source it works beside */
	for (size_t i = 0; s->l && i < s->n; i++) {
		if (!s->l[i])
			continue;
		status_set_probe(c->mirrors[i].name, NULL, NULL);
		live_join(s->l[i]);
	}
	free(s->l);
	free(s->a);
	s->l = NULL;
	s->a = NULL;
}

/* Start the source role of every mirror with a peer; all or none. */
static int sources_start(const struct conf *c, struct sources *s)
{
	int rc;

	s->n = c->n_mirrors;
	s->l = calloc(s->n ? s->n : 1, sizeof(*s->l));
	s->a = calloc(s->n ? s->n : 1, sizeof(*s->a));
	if (!s->l || !s->a) {
		log_err("out of memory starting the source mirrors");
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct conf_mirror *m = &c->mirrors[i];

		if (!m->has_peer)
			continue;
		if ((rc = live_start(c, m, &stop_flag, &s->l[i])) < 0) {
			log_err("mirror %s: cannot start the source role: %s", m->name,
				strerror(-rc));
			s->l[i] = NULL;
			sources_stop(c, s);
			return rc;
		}
		status_set_probe(m->name, live_probe, s->l[i]);
		struct audit_live al = { live_quiet, live_resend, s->l[i] };
		if ((rc = audit_start(c, m, &al, &stop_flag, &s->a[i])) < 0) {
			log_err("mirror %s: cannot start the drift audit: %s", m->name,
				strerror(-rc));
			s->a[i] = NULL;
			sources_stop(c, s);
			return rc;
		}
	}
	return 0;
}

static int run_daemon(const struct conf *c)
{
	struct control_hooks hooks = { .role = promote_role, .reload = reload, .ctx = (void *)c };
	struct control *ctl = NULL;
	struct sources src = { 0 };
	int rc;

	log_notice("mirrord %s starting as %s", PACKAGE_VERSION, c->node_name);
	if (status_init(c) < 0) {
		log_err("out of memory");
		return EXIT_RUNTIME;
	}
	(void)alerts_init(c);
	set_reload_signal();
	if (control_start(c, &hooks, &stop_flag, &reload_flag, &ctl) < 0) {
		alerts_free();
		status_free();
		return EXIT_RUNTIME;
	}
	if (sources_start(c, &src) < 0) {
		control_stop(ctl);
		alerts_free();
		status_free();
		return EXIT_RUNTIME;
	}
	if (promote_init(c) < 0)
		log_err("out of memory: promotions persisted in %s not resumed", c->state_dir);
	control_ready(ctl);
	rc = serve_run(c, &stop_flag) < 0 ? EXIT_RUNTIME : EXIT_OK;
	sources_stop(c, &src);
	control_stop(ctl);
	promote_shutdown();
	alerts_free();
	status_free();
	log_notice("mirrord stopping");
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct conf c;
	char err[1024];

	if (parse_args(argc, argv, &a) < 0)
		return EXIT_USAGE;
	bool interactive = a.foreground || a.check || a.once;
	log_open("mirrord", interactive, a.verbose ? LOG_DEBUG : LOG_INFO);
	if (conf_load(a.config, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "mirrord: %s\n", err);
		return EXIT_CONFIG;
	}
	if (a.check) {
		if (a.verbose)
			conf_print(&c, stdout);
		conf_free(&c);
		return EXIT_OK;
	}
	set_signals();
	int rc;
	if (a.once) {
		rc = run_once(&c, a.once);
	} else {
		rc = run_daemon(&c);
	}
	conf_free(&c);
	return rc;
}
