/* watch: progress lines and `mirrorctl status --watch`.  See watch.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ctlsock.h"
#include "watch.h"

#define LINES_MAX 64            /* lines redrawn at most (mirrors and sinks) */
#define LINE_MAX_LEN 512

void human_bytes(double b, char *out, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int i = 0;

	while (b >= 1024 && i < 5) {
		b /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void human_eta(double s, char *out, size_t len)
{
	long t = (long)s;

	if (s < 0)
		snprintf(out, len, "?");
	else if (t < 60)
		snprintf(out, len, "%lds", t);
	else if (t < 3600)
		snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(out, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
}

static const char *phase_text(const char *phase)
{
	if (strcmp(phase, "walk") == 0)
		return "start-up walk";
	if (strcmp(phase, "initial") == 0)
		return "initial sync";
	if (strcmp(phase, "reconcile") == 0)
		return "reconciliation";
	return phase;
}

void watch_progress_line(const struct json *p, char *out, size_t len)
{
	char total[96], sent[32], rate[32], eta[32];

	if (json_is_null(p, "files_total"))
		snprintf(total, sizeof(total), "%.0f paths (total unknown yet)",
			 json_num(p, "files_done", 0));
	else
		snprintf(total, sizeof(total), "%.0f of %.0f paths (%.1f %%, total by %s)",
			 json_num(p, "files_done", 0), json_num(p, "files_total", 0),
			 json_num(p, "percent", 0), json_str(p, "total_source", "?"));
	human_bytes(json_num(p, "bytes_sent", 0), sent, sizeof(sent));
	human_bytes(json_num(p, "bytes_per_second", 0), rate, sizeof(rate));
	human_eta(json_is_null(p, "eta_seconds") ? -1 : json_num(p, "eta_seconds", -1), eta,
		  sizeof(eta));
	snprintf(out, len, "%s: %s, sent %s, %.0f paths/s, %s/s, ETA %s",
		 phase_text(json_str(p, "phase", "?")), total, sent,
		 json_num(p, "files_per_second", 0), rate, eta);
}

/* ---- the watch loop ---- */

struct screen {
	bool tty;
	size_t width;               /* terminal columns, 0: no limit */
	size_t drawn;               /* lines of the last redraw */
	char lines[LINES_MAX][LINE_MAX_LEN];
	size_t n;
	bool synced;                /* every source mirror is in sync */
};

static void add_line(struct screen *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_line(struct screen *sc, const char *fmt, ...)
{
	va_list ap;

	if (sc->n >= LINES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(sc->lines[sc->n++], LINE_MAX_LEN, fmt, ap);   /* truncation is fine */
	va_end(ap);
}

/* A source mirror or one of its sinks: its line; false unless in sync. */
static bool item_line(struct screen *sc, const char *who, const struct json *o)
{
	const struct json *p = json_get(o, "progress");
	char what[LINE_MAX_LEN];

	if (p && p->type == JSON_OBJECT) {
		watch_progress_line(p, what, sizeof(what));
		add_line(sc, "%s  %s", who, what);
		return false;
	}
	if (!json_bool(o, "connected", false)) {
		add_line(sc, "%s  disconnected", who);
		return false;
	}
	double lag = json_num(o, "lag_seconds", 0);
	if (lag > 0) {
		add_line(sc, "%s  catching up, lag %.1f s", who, lag);
		return false;
	}
	add_line(sc, "%s  in sync", who);
	return true;
}

/* The lines of one status reply. */
static void build(struct screen *sc, const struct json *j)
{
	const struct json *ms = json_get(j, "mirrors");
	char who[160];

	sc->n = 0;
	sc->synced = json_bool(j, "ready", true);
	for (const struct json *m = ms ? ms->child : NULL; m; m = m->next) {
		const char *role = json_str(m, "role", "");
		if (strcmp(role, "sink") == 0)
			continue;               /* its source reports its progress */
		snprintf(who, sizeof(who), "%s", json_str(m, "name", "?"));
		if (strcmp(role, "source") != 0) {
			add_line(sc, "%s  %s", who, role);
			sc->synced = false;
			continue;
		}
		const struct json *ps = json_get(m, "peers");
		const struct json *p = ps && ps->type == JSON_ARRAY ? ps->child : NULL;
		if (!p) {
			sc->synced &= item_line(sc, who, m);
			continue;
		}
		for (; p; p = p->next) {
			snprintf(who, sizeof(who), "%s -> %s", json_str(m, "name", "?"),
				 json_str(p, "peer", "?"));
			sc->synced &= item_line(sc, who, p);
		}
	}
}

static void draw(struct screen *sc)
{
	if (sc->tty && sc->drawn > 0)
		printf("\033[%zuA", sc->drawn);         /* back to the first line */
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->width > 1 && strlen(sc->lines[i]) >= sc->width)
			sc->lines[i][sc->width - 1] = '\0';    /* no wrap: redraw stays put */
		printf(sc->tty ? "\r\033[K%s\n" : "%s\n", sc->lines[i]);
	}
	for (size_t i = sc->n; sc->tty && i < sc->drawn; i++)
		printf("\r\033[K\n");
	if (sc->tty && sc->drawn > sc->n)
		printf("\033[%zuA", sc->drawn - sc->n);
	sc->drawn = sc->n;
	fflush(stdout);
}

static int poll_once(struct screen *sc, const char *sock, int timeout_ms)
{
	char *raw = NULL;
	struct json *j = NULL;
	int rc = ctlsock_request(sock, "status", timeout_ms, &raw);

	if (rc == 0 && (!(j = json_parse(raw)) || !json_get(j, "mirrors")))
		rc = -EPROTO;
	if (rc == 0)
		build(sc, j);
	json_free(j);
	free(raw);
	return rc;
}

int watch_run(const char *sock, int timeout_ms)
{
	struct screen *sc = calloc(1, sizeof(*sc));
	struct winsize ws;
	unsigned misses = 0;
	int rc = 0;

	if (!sc)
		return -ENOMEM;
	sc->tty = isatty(STDOUT_FILENO);
	if (sc->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		sc->width = ws.ws_col;
	for (;;) {
		rc = poll_once(sc, sock, timeout_ms);
		if (rc == 0) {
			misses = 0;
			draw(sc);
			if (sc->synced)
				break;
		} else if (++misses >= WATCH_UNREACHABLE_S) {
			break;
		}
		struct timespec one = { 1, 0 };
		while (nanosleep(&one, &one) < 0 && errno == EINTR)
			;
	}
	free(sc);
	return rc;
}
