/* mirrorctl: status and commands over the control sockets of mirrord
 * ([node] control_socket) and failoverd (the same path + "-failoverd").
 * See mirrorctl(8). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "ctlsock.h"
#include "json.h"
#include "watch.h"

/* Exit codes, documented in mirrorctl(8); for status, the worst applies. */
enum {
	EXIT_HEALTHY = 0,
	EXIT_LAGGING = 1,       /* status: a source lags; commands: refused */
	EXIT_DISCONNECTED = 2,
	EXIT_FAULT = 3,
	EXIT_UNREACHABLE = 4,
	EXIT_USAGE = 64,
};

struct args {
	const char *config;
	double max_lag;
	int timeout_ms;
	bool json;
	bool full;                     /* audit --full */
	bool watch;                    /* status --watch */
};

struct fo_reply {                  /* failoverd's key=value status line */
	bool asked, ok;
	char *line;
	char error[160];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mirrorctl [-c FILE] [-t MS] status [--json] [--max-lag SECONDS]\n"
		"       mirrorctl [-c FILE] [-t MS] status --watch\n"
		"       mirrorctl [-c FILE] promote|demote|pause|resume MIRROR\n"
		"       mirrorctl [-c FILE] audit MIRROR [--full]\n"
		"       mirrorctl [-c FILE] failover promote|demote|clear-stale\n"
		"  -c, --config FILE     configuration file (default %s)\n"
		"  -j, --json            status as one JSON object\n"
		"      --full            audit: hash every file, not only this pass's sample\n"
		"  -l, --max-lag SEC     status: lagging beyond this (default 10)\n"
		"  -w, --watch           status: the progress every second, until in sync\n"
		"  -t, --timeout MS      per daemon (default 2000)\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"exit: 0 healthy, 1 lagging (or command refused), 2 disconnected,\n"
		"      3 failover fault or stale, 4 a daemon cannot be reached, 64 usage\n",
		CONF_DEFAULT_PATH);
}

/* ---- printing helpers ---- */

static void human_since(double t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char when[32] = "?";
	long d = (long)difftime(time(NULL), tt);

	if (localtime_r(&tt, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (d < 0)
		d = 0;
	if (d >= 86400)
		snprintf(out, len, "%s (%ldd %ldh)", when, d / 86400, d % 86400 / 3600);
	else if (d >= 3600)
		snprintf(out, len, "%s (%ldh %ldm)", when, d / 3600, d % 3600 / 60);
	else
		snprintf(out, len, "%s (%ldm %lds)", when, d / 60, d % 60);
}

static void json_string_out(FILE *f, const char *s)
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

/* ---- health ---- */

static bool is_source(const struct json *m)
{
	return strcmp(json_str(m, "role", ""), "source") == 0;
}

static int mirror_health(const struct json *m, double max_lag)
{
	/* idle: the mirror has a peer but its source does not run (mirrord
	 * starting or stopping), so nothing reaches the sink */
	if (strcmp(json_str(m, "role", ""), "idle") == 0)
		return EXIT_DISCONNECTED;
	if (!is_source(m))
		return EXIT_HEALTHY;     /* a sink waits; its source judges */
	if (!json_bool(m, "connected", false))
		return EXIT_DISCONNECTED;
	int code = json_num(m, "lag_seconds", 0) > max_lag ? EXIT_LAGGING : EXIT_HEALTHY;
	/* changes not followed will not reach the sink: as good as lagging */
	if (strcmp(json_str(m, "coverage", "full"), "full") != 0)
		code = EXIT_LAGGING;
	const struct json *ps = json_get(m, "peers");   /* several sinks: the worst */
	for (const struct json *p = ps && ps->type == JSON_ARRAY ? ps->child : NULL; p;
	     p = p->next) {
		if (!json_bool(p, "connected", false))
			return EXIT_DISCONNECTED;
		if (json_num(p, "lag_seconds", 0) > max_lag)
			code = EXIT_LAGGING;
	}
	return code;
}

static int failover_health(const struct fo_reply *fo)
{
	char state[32];

	if (!fo->asked)
		return EXIT_HEALTHY;
	if (!fo->ok)
		return EXIT_UNREACHABLE;
	if (ctlsock_kv_get(fo->line, "state", state, sizeof(state)) == 0 &&
	    (strcmp(state, "fault") == 0 || strcmp(state, "stale") == 0))
		return EXIT_FAULT;
	return EXIT_HEALTHY;
}

static const char *health_name(int code)
{
	switch (code) {
	case EXIT_HEALTHY: return "healthy";
	case EXIT_LAGGING: return "lagging";
	case EXIT_DISCONNECTED: return "disconnected";
	case EXIT_FAULT: return "fault";
	}
	return "unreachable";
}

static int max_code(int a, int b)
{
	return a > b ? a : b;
}

/* ---- human output: one line per item ---- */

/* The source's watcher: say plainly when changes are not followed. */
static void print_coverage(const struct json *m)
{
	const char *c = json_str(m, "coverage", NULL);
	double w = json_num(m, "watched_dirs", 0), u = json_num(m, "unwatched_dirs", 0);

	if (!c)
		return;
	if (strcmp(c, "full") == 0)
		printf("  watching      all %.0f directories\n", w);
	else if (strcmp(c, "partial") == 0)
		printf("  watching      PARTIAL: %.0f directories, %.0f not followed "
		       "(see the log: inotify watch limit?)\n", w, u);
	else
		printf("  watching      NONE: %.0f directories not followed, changes are not "
		       "mirrored (see the log: inotify watch limit?)\n", u);
}

/* ,"progress" of a mirror or a sink: its line while a walk or pass runs. */
static void print_progress(const char *label, const struct json *o)
{
	const struct json *p = json_get(o, "progress");
	char line[512];

	if (!p || p->type != JSON_OBJECT)
		return;
	watch_progress_line(p, line, sizeof(line));
	printf("  %-13s %s\n", label, line);
}

/* A source with several sinks: one line each (the lines above are the
 * first's, failoverd's partner). */
static void print_peers(const struct json *m)
{
	const struct json *ps = json_get(m, "peers");

	for (const struct json *p = ps && ps->type == JSON_ARRAY ? ps->child : NULL; p;
	     p = p->next) {
		char a[64];
		human_bytes(json_num(p, "bytes_sent", 0), a, sizeof(a));
		printf("  sink %-8s %s, lag %.1f s, cursor %.0f, %.0f journal entries behind, "
		       "%.0f in flight, sent %s%s\n", json_str(p, "peer", "?"),
		       json_bool(p, "connected", false) ? "connected" : "disconnected",
		       json_num(p, "lag_seconds", 0), json_num(p, "cursor", 0),
		       json_num(p, "behind", 0), json_num(p, "queue_depth", 0), a,
		       json_bool(p, "dropped", false) ? ", dropped from the journal (to be "
		       "reconciled)" : json_bool(p, "reconciling", false) ? ", reconciling" : "");
		print_progress("  progress", p);
	}
}

/* The drift audit's line, for a source mirror. */
static void print_audit(const struct json *au)
{
	char when[64], b[64];

	if (!au || json_is_null(au, "passes"))
		return;
	if (json_bool(au, "running", false))
		snprintf(when, sizeof(when), "running");
	else if (json_num(au, "last_end", 0) > 0)
		human_since(json_num(au, "last_end", 0), when, sizeof(when));
	else
		snprintf(when, sizeof(when), "never");
	human_bytes(json_num(au, "hashed_bytes", 0), b, sizeof(b));
	printf("  audit         last %s, %.0f passes, %.0f files (%.0f hashed, %s), "
	       "%.0f differences (%.0f in all, %.0f repaired)\n", when,
	       json_num(au, "passes", 0), json_num(au, "files", 0),
	       json_num(au, "hashed_files", 0), b, json_num(au, "drift_last", 0),
	       json_num(au, "drift_total", 0), json_num(au, "repaired_total", 0));
	if (!json_is_null(au, "last_drift"))
		printf("  last drift    %s\n", json_str(au, "last_drift", ""));
}

static void print_mirror(const struct json *m, double max_lag)
{
	const char *name = json_str(m, "name", "?");
	const char *role = json_str(m, "role", "?"), *req = json_str(m, "requested_role", role);
	char a[64], b[64], c[64], since[64];

	printf("mirror %s\n", name);
	printf("  role          %s", role);
	/* "idle": nothing was requested since the start (requested_role
	 * starts as the role a mirror with a peer has before its source runs) */
	if (strcmp(req, role) != 0 && strcmp(req, "idle") != 0)
		printf(" (%s requested)", req);
	printf("%s\n", json_bool(m, "paused", false) ? ", paused" : "");
	printf("  peer          %s, ", json_str(m, "peer", "none"));
	if (json_bool(m, "connected", false)) {
		human_since(json_num(m, "connected_since", 0), since, sizeof(since));
		printf("connected since %s\n", since);
	} else {
		printf("%s\n", is_source(m) ? "disconnected" : "no session");
	}
	if (json_is_null(m, "lag_seconds"))
		printf("  lag           n/a (the source measures it)\n");
	else
		printf("  lag           %.1f s, %.0f journal entries, %.0f in flight%s\n",
		       json_num(m, "lag_seconds", 0), json_num(m, "lag_entries", 0),
		       json_num(m, "queue_depth", 0),
		       json_num(m, "lag_seconds", 0) > max_lag ? " (lagging)" : "");
	human_bytes(json_num(m, "bytes_sent", 0), a, sizeof(a));
	human_bytes(json_num(m, "bytes_saved_by_delta", 0), b, sizeof(b));
	human_bytes(json_num(m, "bytes_received", 0), c, sizeof(c));
	printf("  bytes         sent %s, saved by deltas %s, received %s\n", a, b, c);
	print_coverage(m);
	print_progress("progress", m);
	printf("  last error    %s\n", json_str(m, "last_error", "none"));
	print_peers(m);
	print_audit(json_get(m, "audit"));
}

static void print_failover(const struct fo_reply *fo)
{
	char state[32], term[32], holder[32], peer[80], pstate[32], ago[32], reason[256];

	printf("failover\n");
	if (!fo->ok) {
		printf("  state         unknown: %s\n", fo->error);
		return;
	}
	ctlsock_kv_get(fo->line, "state", state, sizeof(state));
	ctlsock_kv_get(fo->line, "term", term, sizeof(term));
	ctlsock_kv_get(fo->line, "vip_holder", holder, sizeof(holder));
	ctlsock_kv_get(fo->line, "peer", peer, sizeof(peer));
	ctlsock_kv_get(fo->line, "peer_state", pstate, sizeof(pstate));
	ctlsock_kv_get(fo->line, "last_change_ms_ago", ago, sizeof(ago));
	ctlsock_kv_get(fo->line, "reason", reason, sizeof(reason));
	printf("  state         %s, term %s\n", state, term);
	printf("  VIP holder    %s\n", strcmp(holder, "self") == 0 ? "this node" :
	       strcmp(holder, "peer") == 0 ? "the peer" : "none");
	printf("  peer          %s (%s)\n", peer, pstate);
	printf("  last change   %.1f s ago: %s\n", atof(ago) / 1000.0, reason);
}

/* ---- JSON output: one object ---- */

/* A failoverd value as JSON: integers as numbers, the rest as strings. */
static void kv_value_out(const char *v)
{
	size_t i = v[0] == '-' ? 1 : 0;
	bool num = v[i] != '\0' && strspn(v + i, "0123456789") == strlen(v + i) && strlen(v) < 19;

	if (num)
		fputs(v, stdout);
	else
		json_string_out(stdout, v);
}

static void print_json(const char *mirrord_raw, const struct fo_reply *fo, const char *m_err,
		       int code)
{
	char key[64], val[512];
	size_t pos = 0;
	bool first = true;

	fputs("{\"mirrord\":", stdout);
	fputs(mirrord_raw ? mirrord_raw : "null", stdout);
	fputs(",\"failoverd\":", stdout);
	if (fo->ok) {
		fputc('{', stdout);
		while (ctlsock_kv_next(fo->line, &pos, key, sizeof(key), val, sizeof(val)) == 1) {
			if (!first)
				fputc(',', stdout);
			first = false;
			json_string_out(stdout, key);
			fputc(':', stdout);
			kv_value_out(val);
		}
		fputc('}', stdout);
	} else {
		fputs("null", stdout);
	}
	fputs(",\"errors\":[", stdout);
	if (m_err)
		json_string_out(stdout, m_err);
	if (fo->asked && !fo->ok) {
		if (m_err)
			fputc(',', stdout);
		json_string_out(stdout, fo->error);
	}
	printf("],\"health\":\"%s\",\"exit_code\":%d}\n", health_name(code), code);
}

/* ---- commands ---- */

static void reach_error(const char *who, const char *path, int rc, char *out, size_t len)
{
	snprintf(out, len, "%s: %s: %s%s", who, path, strerror(-rc),
		 rc == -ENOENT || rc == -ECONNREFUSED ? " (is it running?)" :
		 rc == -EACCES ? " (run as root)" : "");
}

static int cmd_status(const struct conf *c, const struct args *a)
{
	char *raw = NULL, m_err[512] = "", *fo_path = NULL;
	struct fo_reply fo = { .asked = c->failover.enabled };
	struct json *j = NULL;
	int code = EXIT_HEALTHY;

	int rc = ctlsock_request(c->control_socket, "status", a->timeout_ms, &raw);
	if (rc == 0 && !(j = json_parse(raw)))
		rc = -EPROTO;
	if (rc == 0 && json_get(j, "mirrors") == NULL)
		rc = -EPROTO;
	if (rc < 0) {
		reach_error("mirrord", c->control_socket, rc, m_err, sizeof(m_err));
		if (rc == -EPROTO && raw)
			snprintf(m_err, sizeof(m_err), "mirrord: unexpected reply: %.200s", raw);
		free(raw);
		raw = NULL;
		code = EXIT_UNREACHABLE;
	}
	if (fo.asked) {
		if (asprintf(&fo_path, "%s-failoverd", c->control_socket) < 0) {
			fprintf(stderr, "mirrorctl: out of memory\n");
			exit(EXIT_UNREACHABLE);
		}
		int r = ctlsock_request(fo_path, "status", a->timeout_ms, &fo.line);
		char st[32];
		if (r == 0 && ctlsock_kv_get(fo.line, "state", st, sizeof(st)) < 0)
			r = -EPROTO;
		fo.ok = r == 0;
		if (r < 0)
			reach_error("failoverd", fo_path, r, fo.error, sizeof(fo.error));
	}
	const struct json *ms = json_get(j, "mirrors");
	for (const struct json *m = ms ? ms->child : NULL; m; m = m->next)
		code = max_code(code, mirror_health(m, a->max_lag));
	/* the control socket answers before the mirrors have started */
	if (j && !json_bool(j, "ready", true))
		code = max_code(code, EXIT_DISCONNECTED);
	code = max_code(code, failover_health(&fo));
	if (a->json) {
		print_json(raw, &fo, m_err[0] ? m_err : NULL, code);
	} else {
		if (j)
			printf("node          %s (mirrord %s, pid %.0f)%s\n", json_str(j, "node", "?"),
			       json_str(j, "version", "?"), json_num(j, "pid", 0),
			       json_bool(j, "ready", true) ? "" : ", starting");
		else
			printf("mirrord       %s\n", m_err);
		for (const struct json *m = ms ? ms->child : NULL; m; m = m->next)
			print_mirror(m, a->max_lag);
		if (fo.asked)
			print_failover(&fo);
		printf("health        %s\n", health_name(code));
	}
	if (fflush(stdout) != 0)
		code = EXIT_UNREACHABLE;
	json_free(j);
	free(raw);
	free(fo.line);
	free(fo_path);
	return code;
}

/* status --watch: the progress until in sync, then the usual status. */
static int cmd_watch(const struct conf *c, const struct args *a)
{
	char err[512];
	int rc = watch_run(c->control_socket, a->timeout_ms);

	if (rc < 0) {
		reach_error("mirrord", c->control_socket, rc, err, sizeof(err));
		fprintf(stderr, "mirrorctl: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	return cmd_status(c, a);
}

/* One request line; prints the reply.  0 on "ok...", 1 on "error ...". */
static int cmd_simple(const char *path, const char *who, const char *req, int timeout_ms)
{
	char *reply = NULL, err[512];
	int rc = ctlsock_request(path, req, timeout_ms, &reply);

	if (rc < 0) {
		reach_error(who, path, rc, err, sizeof(err));
		fprintf(stderr, "mirrorctl: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	bool ok = strncmp(reply, "ok", 2) == 0 && (reply[2] == '\0' || reply[2] == ' ');
	fprintf(ok ? stdout : stderr, "%s%s\n", ok ? "" : "mirrorctl: ", reply);
	free(reply);
	return ok ? EXIT_HEALTHY : EXIT_LAGGING;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "full", no_argument, NULL, 'F' },
		{ "watch", no_argument, NULL, 'w' },
		{ "max-lag", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	a->config = CONF_DEFAULT_PATH;
	a->max_lag = 10;
	a->timeout_ms = 2000;
	/* options may follow the command ("status --json") */
	while ((c = getopt_long(argc, argv, "c:jl:t:whV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'j': a->json = true; break;
		case 'F': a->full = true; break;
		case 'w': a->watch = true; break;
		case 'l':
			a->max_lag = strtod(optarg, &end);
			if (*end || end == optarg || !(a->max_lag >= 0) || isinf(a->max_lag)) {
				fprintf(stderr, "mirrorctl: --max-lag: not a number of seconds: %s\n",
					optarg);
				return -1;
			}
			break;
		case 't': {
			long t = strtol(optarg, &end, 10);
			if (*end || end == optarg || t < 1 || t > 600000) {
				fprintf(stderr, "mirrorctl: --timeout: 1..600000 ms: %s\n", optarg);
				return -1;
			}
			a->timeout_ms = (int)t;
			break;
		}
		case 'h': usage(stdout); exit(EXIT_HEALTHY);
		case 'V': printf("mirrorctl %s\n", PACKAGE_VERSION); exit(EXIT_HEALTHY);
		default: return -1;
		}
	}
	return 0;
}

static int run(const struct conf *c, const struct args *a, int argc, char **argv)
{
	static const char *const mirror_cmds[] = { "promote", "demote", "pause", "resume" };
	static const char *const fo_cmds[] = { "promote", "demote", "clear-stale" };
	const char *cmd = argv[0];
	char req[CTLSOCK_LINE_MAX];

	if (strcmp(cmd, "status") == 0 && argc == 1 && a->watch && !a->json)
		return cmd_watch(c, a);
	if (strcmp(cmd, "status") == 0 && argc == 1 && !a->watch)
		return cmd_status(c, a);
	for (size_t i = 0; argc == 2 && i < sizeof(mirror_cmds) / sizeof(mirror_cmds[0]); i++) {
		if (strcmp(cmd, mirror_cmds[i]) != 0)
			continue;
		/* the daemon judges the name: it knows the configuration it runs */
		if (strlen(argv[1]) > 64 || strpbrk(argv[1], " \t\r\n")) {
			fprintf(stderr, "mirrorctl: not a mirror name: %s\n", argv[1]);
			return EXIT_USAGE;
		}
		snprintf(req, sizeof(req), "%s %s", cmd, argv[1]);
		return cmd_simple(c->control_socket, "mirrord", req, a->timeout_ms);
	}
	if (strcmp(cmd, "audit") == 0 && argc == 2) {
		if (strlen(argv[1]) > 64 || strpbrk(argv[1], " \t\r\n")) {
			fprintf(stderr, "mirrorctl: not a mirror name: %s\n", argv[1]);
			return EXIT_USAGE;
		}
		snprintf(req, sizeof(req), "audit %s%s", argv[1], a->full ? " full" : "");
		return cmd_simple(c->control_socket, "mirrord", req, a->timeout_ms);
	}
	for (size_t i = 0; argc == 2 && strcmp(cmd, "failover") == 0 &&
	     i < sizeof(fo_cmds) / sizeof(fo_cmds[0]); i++) {
		if (strcmp(argv[1], fo_cmds[i]) != 0)
			continue;
		char *path = NULL;
		if (asprintf(&path, "%s-failoverd", c->control_socket) < 0)
			return EXIT_UNREACHABLE;
		int rc = cmd_simple(path, "failoverd", fo_cmds[i], a->timeout_ms);
		free(path);
		return rc;
	}
	usage(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct conf c;
	char err[1024];

	if (parse_args(argc, argv, &a) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (conf_load(a.config, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "mirrorctl: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	int rc = run(&c, &a, argc - optind, argv + optind);
	conf_free(&c);
	return rc;
}
