/* metrics: Prometheus text file.  See metrics.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "ctlsock.h"
#include "metrics.h"
#include "status.h"

#define FO_TIMEOUT_MS 300

static const char *const fo_states[] = { "init", "backup", "master", "fault", "stale" };

/* One metric family over all mirrors; get returns the value of one. */
static void family(FILE *f, const char *name, const char *type, const char *help,
		   const struct status_mirror *ms, size_t n, bool source_only,
		   double (*get)(const struct status_mirror *m))
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++) {
		if (source_only && !ms[i].lag_known)
			continue;
		fprintf(f, "%s{mirror=\"%s\",role=\"%s\"} %.17g\n", name, ms[i].name,
			status_role_name(ms[i].role), get(&ms[i]));
	}
}

static double g_connected(const struct status_mirror *m) { return m->connected; }
static double g_paused(const struct status_mirror *m) { return m->paused; }
static double g_lag_s(const struct status_mirror *m) { return m->lag_seconds; }
static double g_lag_n(const struct status_mirror *m) { return (double)m->lag_entries; }
static double g_queue(const struct status_mirror *m) { return (double)m->queue_depth; }
static double g_sent(const struct status_mirror *m) { return (double)m->bytes_sent; }
static double g_recv(const struct status_mirror *m) { return (double)m->bytes_received; }
static double g_saved(const struct status_mirror *m) { return (double)m->bytes_saved; }
static double g_sessions(const struct status_mirror *m) { return (double)m->sessions; }
static double g_errors(const struct status_mirror *m) { return (double)m->errors; }
static double g_watched(const struct status_mirror *m) { return (double)m->watched_dirs; }
static double g_unwatched(const struct status_mirror *m) { return (double)m->unwatched_dirs; }

/* One metric family over the sinks of every mirror with several. */
static void peer_family(FILE *f, const char *name, const char *help,
			const struct status_mirror *ms, size_t n,
			double (*get)(const struct status_peer *p))
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ms[i].n_peers; k++)
			fprintf(f, "%s{mirror=\"%s\",peer=\"%s\"} %.17g\n", name, ms[i].name,
				ms[i].peers[k].addr, get(&ms[i].peers[k]));
}

static double p_connected(const struct status_peer *p) { return p->connected; }
static double p_dropped(const struct status_peer *p) { return p->dropped; }
static double p_lag_s(const struct status_peer *p) { return p->lag_seconds; }
static double p_behind(const struct status_peer *p) { return (double)p->behind; }
static double p_cursor(const struct status_peer *p) { return (double)p->cursor; }

static void peer_metrics(FILE *f, const struct status_mirror *ms, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += ms[i].n_peers;
	if (k == 0)
		return;
	peer_family(f, "mirrord_peer_connected", "1 while the session with this sink is up.",
		    ms, n, p_connected);
	peer_family(f, "mirrord_peer_dropped",
		    "1 while this sink is beyond journal_max (reconciled by a tree pass).",
		    ms, n, p_dropped);
	peer_family(f, "mirrord_peer_lag_seconds",
		    "Seconds since this sink last had every change.", ms, n, p_lag_s);
	peer_family(f, "mirrord_peer_journal_behind",
		    "Journal records after this sink's acknowledgement cursor.", ms, n, p_behind);
	peer_family(f, "mirrord_peer_cursor",
		    "The last journal record this sink acknowledged.", ms, n, p_cursor);
}

/* The drift audit's families: only mirrors with an audit. */
static void audit_family(FILE *f, const char *name, const char *type, const char *help,
			 const struct status_mirror *ms, size_t n, size_t off)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++)
		if (ms[i].audit.enabled)
			fprintf(f, "%s{mirror=\"%s\"} %llu\n", name, ms[i].name,
				(unsigned long long)*(const uint64_t *)
				((const char *)&ms[i].audit + off));
}

static void audit_metrics(FILE *f, const struct status_mirror *ms, size_t n)
{
#define A_(name, type, field, help) \
	audit_family(f, name, type, help, ms, n, offsetof(struct status_audit, field))
	A_("mirrord_audit_passes_total", "counter", passes, "Complete drift audit passes.");
	A_("mirrord_audit_files", "gauge", files, "Files checked by the current or last pass.");
	A_("mirrord_audit_hashed_bytes", "gauge", hashed_bytes,
	   "Content bytes this node read for the current or last pass.");
	A_("mirrord_audit_peer_hashed_bytes", "gauge", peer_bytes,
	   "Content bytes the sink read for the current or last pass.");
	A_("mirrord_audit_drift", "gauge", drift_last,
	   "Differences found by the last complete pass.");
	A_("mirrord_audit_drift_total", "counter", drift_total, "Differences found.");
	A_("mirrord_audit_repaired_total", "counter", repaired_total,
	   "Differences sent again from the source.");
	A_("mirrord_audit_sample_laps_total", "counter", laps,
	   "Complete coverages of the tree by the rolling content sample.");
#undef A_
}

static void mirror_metrics(FILE *f, const struct status_mirror *ms, size_t n)
{
	family(f, "mirrord_connected", "gauge", "1 while a session with the peer is up.",
	       ms, n, false, g_connected);
	family(f, "mirrord_paused", "gauge", "1 while sending is paused by mirrorctl.",
	       ms, n, false, g_paused);
	family(f, "mirrord_lag_seconds", "gauge",
	       "Seconds since the sink last had every change (source role).",
	       ms, n, true, g_lag_s);
	family(f, "mirrord_lag_entries", "gauge",
	       "Changes not yet acknowledged by the sink (source role).", ms, n, true, g_lag_n);
	family(f, "mirrord_queue_bytes", "gauge", "Bytes queued for the peer's socket.",
	       ms, n, false, g_queue);
	family(f, "mirrord_sent_bytes_total", "counter", "Bytes sent to the peer.",
	       ms, n, false, g_sent);
	family(f, "mirrord_received_bytes_total", "counter", "Bytes received from the peer.",
	       ms, n, false, g_recv);
	family(f, "mirrord_delta_saved_bytes_total", "counter",
	       "File bytes not sent thanks to deltas.", ms, n, false, g_saved);
	family(f, "mirrord_sessions_total", "counter", "Sessions with the peer.",
	       ms, n, false, g_sessions);
	family(f, "mirrord_errors_total", "counter", "Errors recorded for the mirror.",
	       ms, n, false, g_errors);
	family(f, "mirrord_watched_directories", "gauge",
	       "Directory watches in place (source role).", ms, n, true, g_watched);
	family(f, "mirrord_unwatched_directories", "gauge",
	       "Directories whose changes are not followed, mostly for the inotify watch "
	       "limit (source role).", ms, n, true, g_unwatched);
	peer_metrics(f, ms, n);
	audit_metrics(f, ms, n);
}

/* The notification hook's counters ([node] notify, doc/notify.md). */
static void notify_metrics(FILE *f)
{
	struct notify_stats st;

	if (!alerts_notify())
		return;
	notify_stats(alerts_notify(), &st);
	fprintf(f, "# HELP mirrord_notify_hooks_total Notification hooks started.\n"
		"# TYPE mirrord_notify_hooks_total counter\nmirrord_notify_hooks_total %llu\n"
		"# HELP mirrord_notify_failed_total Notification hooks that failed, timed out "
		"or could not start.\n"
		"# TYPE mirrord_notify_failed_total counter\nmirrord_notify_failed_total %llu\n"
		"# HELP mirrord_notify_dropped_total Notifications dropped (rate limit, busy "
		"hooks, full condition table).\n"
		"# TYPE mirrord_notify_dropped_total counter\nmirrord_notify_dropped_total %llu\n"
		"# HELP mirrord_notify_conditions Conditions raised and not yet resolved.\n"
		"# TYPE mirrord_notify_conditions gauge\nmirrord_notify_conditions %u\n",
		(unsigned long long)st.started, (unsigned long long)st.failed,
		(unsigned long long)st.dropped, st.conditions);
}

static void failover_metrics(FILE *f, const char *sock)
{
	char *line = NULL, state[32] = "", term[32] = "", holder[16] = "";
	int rc = ctlsock_request(sock, "status", FO_TIMEOUT_MS, &line);

	if (rc == 0 && (ctlsock_kv_get(line, "state", state, sizeof(state)) < 0 ||
			ctlsock_kv_get(line, "term", term, sizeof(term)) < 0))
		rc = -EPROTO;
	if (rc == 0)
		(void)ctlsock_kv_get(line, "vip_holder", holder, sizeof(holder));
	free(line);
	fprintf(f, "# HELP failoverd_up 1 when failoverd answered on its control socket.\n"
		"# TYPE failoverd_up gauge\nfailoverd_up %d\n", rc == 0);
	if (rc < 0)
		return;
	fprintf(f, "# HELP failoverd_state Failover state (1 for the current one).\n"
		"# TYPE failoverd_state gauge\n");
	for (size_t i = 0; i < sizeof(fo_states) / sizeof(fo_states[0]); i++)
		fprintf(f, "failoverd_state{state=\"%s\"} %d\n", fo_states[i],
			strcmp(state, fo_states[i]) == 0);
	char *end;
	unsigned long long t = strtoull(term, &end, 10);
	if (*term && !*end)
		fprintf(f, "# HELP failoverd_term Election term.\n# TYPE failoverd_term gauge\n"
			"failoverd_term %llu\n", t);
	fprintf(f, "# HELP failoverd_vip_held 1 while this node holds the VIP.\n"
		"# TYPE failoverd_vip_held gauge\nfailoverd_vip_held %d\n",
		strcmp(holder, "self") == 0);
}

int metrics_write(const char *path, const char *node, const char *failoverd_sock)
{
	size_t n = status_count();
	struct status_mirror *ms = calloc(n + 1, sizeof(*ms));
	char *tmp = NULL;
	int rc = 0, fd = -1;
	FILE *f = NULL;

	if (!ms || asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		free(ms);
		return -ENOMEM;
	}
	n = status_snapshot(ms, n);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "# HELP mirrord_info mirrord is running.\n# TYPE mirrord_info gauge\n"
		"mirrord_info{node=\"");
	for (const char *p = node; *p; p++) {    /* label value escapes */
		if (*p == '"' || *p == '\\' || *p == '\n')
			fputc('\\', f);
		fputc(*p == '\n' ? 'n' : *p, f);
	}
	fprintf(f, "\",version=\"%s\"} 1\n", PACKAGE_VERSION);
	mirror_metrics(f, ms, n);
	notify_metrics(f);
	if (failoverd_sock)
		failover_metrics(f, failoverd_sock);
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
out:
	if (rc < 0)
		(void)unlink(tmp);
	free(tmp);
	free(ms);
	return rc;
}
