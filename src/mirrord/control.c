/* control: mirrord's control socket thread.  See control.h.  The only
 * mirrord file that includes <systemd/sd-daemon.h>. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "alerts.h"
#include "audit.h"
#include "control.h"
#include "ctlsock.h"
#include "log.h"
#include "metrics.h"
#include "status.h"

#define TICK_MS 200
#define CONTROL_DRAIN_MS 200

struct control {
	const struct conf *c;
	struct control_hooks hooks;
	volatile sig_atomic_t *stop, *reload;
	pthread_t thread;
	int lfd;
	char *path;                /* our socket */
	char *fo_path;             /* failoverd's, for the metrics */
	char *metrics_file;        /* may change on reload */
	uint64_t watchdog_ms;      /* 0: no watchdog */
	char sd_status[256];
	int ready;                 /* 1: tell systemd, 2: told (atomic) */
	int64_t started;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- status JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* The source role's watcher: "coverage" full / partial / none (null for a
 * sink), with its directory counts. */
static void json_coverage(FILE *f, const struct status_mirror *m)
{
	const char *c = status_coverage_name(m->coverage);

	if (!c) {
		fputs(",\"coverage\":null,\"watched_dirs\":null,\"unwatched_dirs\":null", f);
		return;
	}
	fprintf(f, ",\"coverage\":\"%s\",\"watched_dirs\":%llu,\"unwatched_dirs\":%llu", c,
		(unsigned long long)m->watched_dirs, (unsigned long long)m->unwatched_dirs);
}

/* ,"progress":{...} while a start-up walk or whole-tree pass runs, else
 * ,"progress":null (doc/mirrorctl.8 lists the fields). */
static void json_progress(FILE *f, const struct progress_view *v)
{
	const char *phase = progress_phase_name(v->phase);
	const char *from = progress_source_name(v->from);

	if (!phase) {
		fputs(",\"progress\":null", f);
		return;
	}
	fprintf(f, ",\"progress\":{\"phase\":\"%s\",\"files_done\":%llu,\"files_total\":", phase,
		(unsigned long long)v->done);
	if (v->total > 0 && from)
		fprintf(f, "%llu,\"total_source\":\"%s\",\"percent\":%.1f",
			(unsigned long long)v->total, from, v->percent >= 0 ? v->percent : 0.0);
	else
		fputs("null,\"total_source\":null,\"percent\":null", f);
	fprintf(f, ",\"bytes_sent\":%llu,\"files_per_second\":%.1f,\"bytes_per_second\":%.0f,"
		"\"elapsed_seconds\":%.1f,\"eta_seconds\":", (unsigned long long)v->bytes, v->rate,
		v->byte_rate, (double)v->elapsed_ms / 1000.0);
	if (v->eta_s >= 0)
		fprintf(f, "%lld}", (long long)v->eta_s);
	else
		fputs("null}", f);
}

/* A source with several sinks: "peers", one object each. */
static void json_peers(FILE *f, const struct status_mirror *m)
{
	fputs(",\"peers\":[", f);
	for (size_t i = 0; i < m->n_peers; i++) {
		const struct status_peer *p = &m->peers[i];
		fputs(i ? ",{\"peer\":" : "{\"peer\":", f);
		json_str(f, p->addr);
		fprintf(f, ",\"connected\":%s,\"dropped\":%s,\"reconciling\":%s,"
			"\"lag_seconds\":%.3f,\"synced_until_ms\":", p->connected ? "true" : "false",
			p->dropped ? "true" : "false", p->reconciling ? "true" : "false",
			p->lag_seconds);
		if (p->synced_until_ms > 0)
			fprintf(f, "%lld", (long long)p->synced_until_ms);
		else
			fputs("null", f);
		fprintf(f, ",\"cursor\":%llu,\"behind\":%llu,\"queue_depth\":%llu,"
			"\"bytes_sent\":%llu,\"errors\":%llu", (unsigned long long)p->cursor,
			(unsigned long long)p->behind, (unsigned long long)p->queue_depth,
			(unsigned long long)p->bytes_sent, (unsigned long long)p->errors);
		json_progress(f, &p->progress);
		fputc('}', f);
	}
	fputc(']', f);
}

/* ,"audit":{...} or ,"audit":null when no audit runs for the mirror. */
static void json_audit(FILE *f, const struct status_audit *a)
{
	if (!a->enabled) {
		fputs(",\"audit\":null", f);
		return;
	}
	fprintf(f, ",\"audit\":{\"running\":%s,\"passes\":%llu,\"last_start\":%lld,"
		"\"last_end\":%lld,\"files\":%llu,\"hashed_files\":%llu,\"hashed_bytes\":%llu,"
		"\"peer_hashed_bytes\":%llu,\"drift_last\":%llu,\"drift_total\":%llu,"
		"\"repaired_total\":%llu,\"sample_laps\":%llu,\"last_drift\":",
		a->running ? "true" : "false", (unsigned long long)a->passes,
		(long long)a->last_start, (long long)a->last_end, (unsigned long long)a->files,
		(unsigned long long)a->hashed_files, (unsigned long long)a->hashed_bytes,
		(unsigned long long)a->peer_bytes, (unsigned long long)a->drift_last,
		(unsigned long long)a->drift_total, (unsigned long long)a->repaired_total,
		(unsigned long long)a->laps);
	if (a->last_drift[0])
		json_str(f, a->last_drift);
	else
		fputs("null", f);
	fputc('}', f);
}

static void json_mirror(FILE *f, const struct status_mirror *m)
{
	fputs("{\"name\":", f);
	json_str(f, m->name);
	fprintf(f, ",\"role\":\"%s\",\"requested_role\":\"%s\",\"paused\":%s,\"peer\":",
		status_role_name(m->role), status_role_name(m->requested),
		m->paused ? "true" : "false");
	if (m->peer[0])
		json_str(f, m->peer);
	else
		fputs("null", f);
	fprintf(f, ",\"connected\":%s,\"connected_since\":", m->connected ? "true" : "false");
	if (m->connected)
		fprintf(f, "%lld", (long long)m->connected_since);
	else
		fputs("null", f);
	if (m->lag_known)
		fprintf(f, ",\"lag_seconds\":%.3f,\"lag_entries\":%llu", m->lag_seconds,
			(unsigned long long)m->lag_entries);
	else
		fputs(",\"lag_seconds\":null,\"lag_entries\":null", f);
	if (m->lag_known && m->synced_until_ms > 0)     /* failoverd's position */
		fprintf(f, ",\"synced_until_ms\":%lld", (long long)m->synced_until_ms);
	else
		fputs(",\"synced_until_ms\":null", f);
	fprintf(f, ",\"queue_depth\":%llu,\"bytes_sent\":%llu,\"bytes_received\":%llu,"
		"\"bytes_saved_by_delta\":%llu,\"sessions\":%llu,\"errors\":%llu,\"last_error\":",
		(unsigned long long)m->queue_depth, (unsigned long long)m->bytes_sent,
		(unsigned long long)m->bytes_received, (unsigned long long)m->bytes_saved,
		(unsigned long long)m->sessions, (unsigned long long)m->errors);
	if (m->last_error[0])
		json_str(f, m->last_error);
	else
		fputs("null", f);
	fputs(",\"last_error_at\":", f);
	if (m->last_error_at)
		fprintf(f, "%lld", (long long)m->last_error_at);
	else
		fputs("null", f);
	json_coverage(f, m);
	json_progress(f, &m->progress);
	if (m->n_peers > 0)
		json_peers(f, m);
	json_audit(f, &m->audit);
	fputc('}', f);
}

/* One line of JSON into a malloc'ed string, or NULL. */
static char *status_json(struct control *ctl)
{
	size_t n = status_count(), len = 0;
	struct status_mirror *ms = calloc(n + 1, sizeof(*ms));
	char *out = NULL;
	FILE *f = ms ? open_memstream(&out, &len) : NULL;

	if (!f) {
		free(ms);
		return NULL;
	}
	n = status_snapshot(ms, n);
	fputs("{\"node\":", f);
	json_str(f, ctl->c->node_name);
	fprintf(f, ",\"version\":\"%s\",\"pid\":%ld,\"started\":%lld,\"time\":%lld,"
		"\"ready\":%s,\"mirrors\":[", PACKAGE_VERSION, (long)getpid(),
		(long long)ctl->started, (long long)time(NULL),
		__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_mirror(f, &ms[i]);
	}
	fputs("]}", f);
	bool bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		free(out);
		out = NULL;
	}
	free(ms);
	return out;
}

/* ---- commands: one row per request ---- */

struct cmd {
	const char *name;
	int (*run)(struct control *ctl, const char *arg, char *err, size_t len);
};

static int cmd_role(struct control *ctl, const char *arg, enum status_role want,
		    char *err, size_t len)
{
	if (status_request_role(arg, want) < 0) {
		snprintf(err, len, "unknown mirror '%s'", arg);
		return -ENOENT;
	}
	log_notice("mirror %s: %s requested on the control socket", arg,
		   want == STATUS_SOURCE ? "promotion" : "demotion");
	/* hook point: the promotion code switches the role here */
	if (ctl->hooks.role)
		return ctl->hooks.role(ctl->hooks.ctx, arg, want, err, len);
	return 0;
}

static int cmd_promote(struct control *ctl, const char *arg, char *err, size_t len)
{
	return cmd_role(ctl, arg, STATUS_SOURCE, err, len);
}

static int cmd_demote(struct control *ctl, const char *arg, char *err, size_t len)
{
	return cmd_role(ctl, arg, STATUS_SINK, err, len);
}

static int cmd_pause(struct control *ctl, const char *arg, bool paused, char *err, size_t len)
{
	(void)ctl;
	if (status_set_paused(arg, paused) < 0) {
		snprintf(err, len, "unknown mirror '%s'", arg);
		return -ENOENT;
	}
	log_notice("mirror %s: %s requested on the control socket", arg,
		   paused ? "pause" : "resume");
	return 0;
}

static int cmd_pause_on(struct control *ctl, const char *arg, char *err, size_t len)
{
	return cmd_pause(ctl, arg, true, err, len);
}

static int cmd_pause_off(struct control *ctl, const char *arg, char *err, size_t len)
{
	return cmd_pause(ctl, arg, false, err, len);
}

static const struct cmd cmds[] = {
	{ "promote", cmd_promote },
	{ "demote", cmd_demote },
	{ "pause", cmd_pause_on },
	{ "resume", cmd_pause_off },
};

/* "audit MIRROR [full]": a drift audit pass now. */
static int cmd_audit(char *arg, char *err, size_t len)
{
	char *opt = arg ? strchr(arg, ' ') : NULL;
	bool full = false;

	if (opt) {
		*opt++ = '\0';
		opt += strspn(opt, " ");
		full = strcmp(opt, "full") == 0;
	}
	if (!arg || !*arg || (opt && !full)) {
		snprintf(err, len, "usage: audit MIRROR [full]");
		return -EINVAL;
	}
	int rc = audit_request(arg, full);
	if (rc == -ENOENT)
		snprintf(err, len, "mirror '%s' has no drift audit here (not a source)", arg);
	else if (rc == -EALREADY)
		snprintf(err, len, "an audit pass of '%s' is already running", arg);
	else if (rc == 0)
		log_notice("mirror %s: audit%s requested on the control socket", arg,
			   full ? " of every file's content" : "");
	return rc;
}

/* The reply to one request line, malloc'ed (newline included), or NULL. */
static char *handle(struct control *ctl, char *line)
{
	char err[256] = "";
	char *reply = NULL;

	line[strcspn(line, "\r")] = '\0';
	char *arg = strchr(line, ' ');
	if (arg) {
		*arg++ = '\0';
		arg += strspn(arg, " ");
	}
	if (strcmp(line, "status") == 0 && !arg) {
		char *j = status_json(ctl);
		if (j && asprintf(&reply, "%s\n", j) < 0)
			reply = NULL;
		free(j);
		if (!reply && asprintf(&reply, "error out of memory\n") < 0)
			return NULL;
		return reply;
	}
	if (strcmp(line, "audit") == 0) {
		int rc = cmd_audit(arg, err, sizeof(err));
		if (asprintf(&reply, rc < 0 ? "error %s\n" : "ok\n", err) < 0)
			return NULL;
		return reply;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(line, cmds[i].name) != 0)
			continue;
		if (!arg || !*arg || strchr(arg, ' '))
			snprintf(err, sizeof(err), "usage: %s MIRROR", cmds[i].name);
		else if (cmds[i].run(ctl, arg, err, sizeof(err)) == 0)
			err[0] = '\0';
		else if (!err[0])
			snprintf(err, sizeof(err), "failed");
		if (asprintf(&reply, err[0] ? "error %s\n" : "ok\n", err) < 0)
			return NULL;
		return reply;
	}
	if (asprintf(&reply, "error unknown command '%.64s' (status, promote, demote, pause, "
		     "resume, audit)\n", line) < 0)
		return NULL;
	return reply;
}

/* ---- one client ---- */

static int send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
	while (len > 0) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;   /* SO_SNDTIMEO bounds a blocked send */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Close gently: a client still writing would otherwise get a reset that
 * can discard our last reply.  Bounded: 64 KiB or CONTROL_DRAIN_MS. */
static void drain(int fd)
{
	uint64_t end = now_ms() + CONTROL_DRAIN_MS;
	char buf[4096];

	(void)shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16 && now_ms() < end; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, CONTROL_DRAIN_MS) <= 0 ||
		    recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			return;
	}
}

static void serve_client(struct control *ctl, int fd)
{
	const struct timeval tv = { 0, 250 * 1000 };
	uint64_t deadline = now_ms() + CONTROL_CLIENT_MS;
	char buf[CTLSOCK_LINE_MAX + 1];
	size_t have = 0;
	int served = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return;
	while (served < CONTROL_MAX_REQUESTS && now_ms() < deadline) {
		char *nl = memchr(buf, '\n', have);
		if (!nl) {
			if (have == sizeof(buf) - 1) {
				const char *e = "error request line too long\n";
				(void)send_all(fd, e, strlen(e), deadline);
				return;
			}
			ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
			if (n == 0)
				return;
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0)
				return;
			have += (size_t)n;
			continue;
		}
		*nl = '\0';
		char *reply = handle(ctl, buf);
		served++;
		int rc = reply ? send_all(fd, reply, strlen(reply), deadline) : -ENOMEM;
		free(reply);
		if (rc < 0) {
			log_debug("control: client dropped: %s", strerror(-rc));
			return;
		}
		size_t used = (size_t)(nl - buf) + 1;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
}

/* ---- systemd and the periodic work ---- */

static void update_sd_status(struct control *ctl)
{
	struct status_mirror ms[4];
	size_t n = status_snapshot(ms, 4), off = 0;
	char text[sizeof(ctl->sd_status)];

	text[0] = '\0';
	for (size_t i = 0; i < n && i < 4 && off < sizeof(text); i++) {
		int k = snprintf(text + off, sizeof(text) - off, "%s%s %s %s", i ? "; " : "",
				 ms[i].name, status_role_name(ms[i].role),
				 ms[i].connected ? "connected" : "waiting");
		if (k > 0 && ms[i].lag_known && (size_t)k < sizeof(text) - off)
			k += snprintf(text + off + k, sizeof(text) - off - (size_t)k,
				      ", lag %.1f s", ms[i].lag_seconds);
		off += k > 0 ? (size_t)k : 0;
	}
	if (n > 4 && off < sizeof(text))
		snprintf(text + off, sizeof(text) - off, "; +%zu more", n - 4);
	if (strcmp(text, ctl->sd_status) == 0)
		return;
	snprintf(ctl->sd_status, sizeof(ctl->sd_status), "%s", text);
	(void)sd_notifyf(0, "STATUS=%s", text);
}

static void do_reload(struct control *ctl)
{
	(void)sd_notify(0, "RELOADING=1");
	if (ctl->hooks.reload)
		(void)ctl->hooks.reload(ctl->hooks.ctx, &ctl->metrics_file);
	(void)sd_notify(0, "READY=1");
}

static void do_metrics(struct control *ctl)
{
	static bool failed;      /* log a failing metrics file once */

	if (!ctl->metrics_file)
		return;
	int rc = metrics_write(ctl->metrics_file, ctl->c->node_name,
			       ctl->c->failover.enabled ? ctl->fo_path : NULL);
	if (rc < 0 && !failed)
		log_warn("metrics file %s: %s, will retry every %d s", ctl->metrics_file,
			 strerror(-rc), CONTROL_METRICS_MS / 1000);
	else if (rc == 0 && failed)
		log_notice("metrics file %s: written again", ctl->metrics_file);
	failed = rc < 0;
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	uint64_t next_metrics = 0, next_dog = 0;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!*ctl->stop) {
		uint64_t now = now_ms();
		if (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) == 1) {
			(void)sd_notify(0, "READY=1");
			__atomic_store_n(&ctl->ready, 2, __ATOMIC_RELEASE);
			next_metrics = 0;
		}
		if (*ctl->reload) {
			*ctl->reload = 0;
			do_reload(ctl);
		}
		status_poll();
		alerts_tick();
		if (ctl->watchdog_ms && now >= next_dog) {
			(void)sd_notify(0, "WATCHDOG=1");
			next_dog = now + ctl->watchdog_ms / 2;
		}
		if (now >= next_metrics) {
			do_metrics(ctl);
			update_sd_status(ctl);
			next_metrics = now + CONTROL_METRICS_MS;
		}
		struct pollfd pfd = { .fd = ctl->lfd, .events = POLLIN };
		int n = poll(&pfd, 1, TICK_MS);
		if (n <= 0)
			continue;      /* timeout, or EINTR from SIGHUP */
		int fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("control socket %s: accept: %s", ctl->path,
					 strerror(errno));
			continue;
		}
		serve_client(ctl, fd);
		drain(fd);
		close(fd);
	}
	(void)sd_notify(0, "STOPPING=1");
	return NULL;
}

/* ---- start and stop ---- */

static void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	if (ctl->lfd >= 0) {
		close(ctl->lfd);
		(void)unlink(ctl->path);
	}
	free(ctl->path);
	free(ctl->fo_path);
	free(ctl->metrics_file);
	free(ctl);
}

int control_start(const struct conf *c, const struct control_hooks *hooks,
		  volatile sig_atomic_t *stop, volatile sig_atomic_t *reload,
		  struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	uint64_t usec = 0;
	int rc;

	if (!ctl)
		return -ENOMEM;
	ctl->c = c;
	ctl->hooks = *hooks;
	ctl->stop = stop;
	ctl->reload = reload;
	ctl->lfd = -1;
	ctl->started = (int64_t)time(NULL);
	if (asprintf(&ctl->fo_path, "%s-failoverd", c->control_socket) < 0)
		ctl->fo_path = NULL;
	if (!ctl->fo_path || !(ctl->path = strdup(c->control_socket)) ||
	    (c->metrics_file && !(ctl->metrics_file = strdup(c->metrics_file)))) {
		control_free(ctl);
		return -ENOMEM;
	}
	if ((rc = ctlsock_listen(ctl->path, 8)) < 0) {
		log_err("control socket %s: %s%s", ctl->path, strerror(-rc),
			rc == -EADDRINUSE ? " (another mirrord runs with this socket)" : "");
		control_free(ctl);
		return rc;
	}
	ctl->lfd = rc;
	if (sd_watchdog_enabled(0, &usec) > 0)
		ctl->watchdog_ms = usec / 1000 ? usec / 1000 : 1;
	if ((rc = pthread_create(&ctl->thread, NULL, control_thread, ctl)) != 0) {
		log_err("cannot start the control thread: %s", strerror(rc));
		control_free(ctl);
		return -rc;
	}
	log_info("control socket %s ready", ctl->path);
	*ret = ctl;
	return 0;
}

void control_ready(struct control *ctl)
{
	if (ctl)
		__atomic_store_n(&ctl->ready, 1, __ATOMIC_RELEASE);
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	pthread_join(ctl->thread, NULL);
	control_free(ctl);
}
