/* status: per-mirror live numbers.  See status.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status.h"

struct slot {
	struct status_mirror pub;
	enum status_role initial;
	uint64_t base_received;  /* before this session */
	status_probe_fn *probe;
	void *probe_ctx;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static size_t n_slots;

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

int status_init(const struct conf *c)
{
	struct slot *s = calloc(c->n_mirrors + 1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_mirrors; i++) {
		const struct conf_mirror *m = &c->mirrors[i];
		struct status_mirror *p = &s[i].pub;
		snprintf(p->name, sizeof(p->name), "%s", m->name);
		p->role = m->has_peer ? STATUS_IDLE : STATUS_SINK;
		p->requested = p->role;
		s[i].initial = p->role;
		if (m->has_peer)
			snprintf(p->peer, sizeof(p->peer), "%s", m->peer.text);
	}
	pthread_mutex_lock(&lock);
	free(slots);
	slots = s;
	n_slots = c->n_mirrors;
	pthread_mutex_unlock(&lock);
	return 0;
}

void status_free(void)
{
	pthread_mutex_lock(&lock);
	free(slots);
	slots = NULL;
	n_slots = 0;
	pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. */
static struct slot *find(const char *mirror)
{
	for (size_t i = 0; mirror && i < n_slots; i++)
		if (strcmp(slots[i].pub.name, mirror) == 0)
			return &slots[i];
	return NULL;
}

void status_set_role(const char *mirror, enum status_role role)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s)
		s->pub.role = role;
	pthread_mutex_unlock(&lock);
}

void status_connected(const char *mirror, const char *peer)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s) {
		s->pub.connected = true;
		s->pub.connected_since = wall_s();
		s->pub.sessions++;
		snprintf(s->pub.peer, sizeof(s->pub.peer), "%s", peer ? peer : "");
		s->base_received = s->pub.bytes_received;
	}
	pthread_mutex_unlock(&lock);
}

static void set_error(struct slot *s, const char *text)
{
	snprintf(s->pub.last_error, sizeof(s->pub.last_error), "%s", text);
	s->pub.last_error_at = wall_s();
	s->pub.errors++;
}

void status_disconnected(const char *mirror, int err)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s) {
		s->pub.connected = false;
		s->pub.connected_since = 0;
		s->pub.queue_depth = 0;
		if (err < 0)
			set_error(s, strerror(-err));
	}
	pthread_mutex_unlock(&lock);
}

void status_error(const char *mirror, const char *fmt, ...)
{
	char text[STATUS_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);    /* truncation is fine here */
	va_end(ap);
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s)
		set_error(s, text);
	pthread_mutex_unlock(&lock);
}

void status_audit_set(const char *mirror, const struct status_audit *a)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s)
		s->pub.audit = *a;
	pthread_mutex_unlock(&lock);
}

void status_set_probe(const char *mirror, status_probe_fn *fn, void *ctx)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s) {
		s->probe = fn;
		s->probe_ctx = fn ? ctx : NULL;
		s->pub.role = fn ? STATUS_SOURCE : s->initial;
	}
	pthread_mutex_unlock(&lock);
}

/* Fold a probe's answer into slot i (caller holds the lock). */
static void merge(size_t i, const struct status_source *src)
{
	struct status_mirror *p = &slots[i].pub;

	if (src->connected && !p->connected) {
		p->connected_since = (int64_t)time(NULL);
		p->sessions++;
	} else if (!src->connected) {
		p->connected_since = 0;
	}
	p->connected = src->connected;
	p->lag_seconds = src->lag_seconds;
	p->synced_until_ms = src->synced_until_ms;
	p->lag_entries = src->lag_entries;
	p->queue_depth = src->queue_depth;
	p->bytes_sent = src->bytes_sent;
	p->bytes_saved = src->bytes_saved;
	if (src->errors > p->errors)
		p->errors = src->errors;
	p->coverage = src->coverage;
	p->watched_dirs = src->watched_dirs;
	p->unwatched_dirs = src->unwatched_dirs;
	p->progress = src->progress;
	p->n_peers = src->n_peers < CONF_MAX_PEERS ? src->n_peers : CONF_MAX_PEERS;
	memcpy(p->peers, src->peers, p->n_peers * sizeof(p->peers[0]));
}

void status_poll(void)
{
	struct { status_probe_fn *fn; void *ctx; size_t i; } pr[8];
	size_t from = 0;

	/* the probes take their own locks: call them outside ours, a few at
	 * a time (slots never move while the daemon runs) */
	for (;;) {
		size_t k = 0;
		pthread_mutex_lock(&lock);
		for (; from < n_slots && k < 8; from++)
			if (slots[from].probe)
				pr[k++] = (typeof(pr[0])){ slots[from].probe,
							   slots[from].probe_ctx, from };
		pthread_mutex_unlock(&lock);
		if (k == 0)
			return;
		for (size_t j = 0; j < k; j++) {
			struct status_source src = { 0 };
			pr[j].fn(pr[j].ctx, &src);
			pthread_mutex_lock(&lock);
			if (pr[j].i < n_slots && slots[pr[j].i].probe == pr[j].fn)
				merge(pr[j].i, &src);
			pthread_mutex_unlock(&lock);
		}
	}
}

void status_received(const char *mirror, uint64_t session_received)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s)
		s->pub.bytes_received = s->base_received + session_received;
	pthread_mutex_unlock(&lock);
}

int status_request_role(const char *mirror, enum status_role want)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s) {
		s->pub.requested = want;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int status_set_paused(const char *mirror, bool paused)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s) {
		s->pub.paused = paused;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

bool status_paused(const char *mirror)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	bool p = s && s->pub.paused;
	pthread_mutex_unlock(&lock);
	return p;
}

enum status_role status_requested_role(const char *mirror)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	enum status_role r = s ? s->pub.requested : STATUS_IDLE;
	pthread_mutex_unlock(&lock);
	return r;
}

size_t status_snapshot(struct status_mirror *out, size_t max)
{
	status_poll();
	pthread_mutex_lock(&lock);
	size_t n = n_slots;
	for (size_t i = 0; i < n && i < max; i++) {
		out[i] = slots[i].pub;
		out[i].lag_known = slots[i].probe != NULL;
		if (!out[i].lag_known) {
			out[i].lag_seconds = 0;
			out[i].lag_entries = 0;
			out[i].synced_until_ms = 0;
			out[i].coverage = STATUS_COVER_UNKNOWN;
			out[i].progress = (struct progress_view){ .eta_s = -1, .percent = -1 };
		}
	}
	pthread_mutex_unlock(&lock);
	return n;
}

size_t status_count(void)
{
	pthread_mutex_lock(&lock);
	size_t n = n_slots;
	pthread_mutex_unlock(&lock);
	return n;
}

bool status_has(const char *mirror)
{
	pthread_mutex_lock(&lock);
	bool ok = find(mirror) != NULL;
	pthread_mutex_unlock(&lock);
	return ok;
}

const char *status_role_name(enum status_role r)
{
	switch (r) {
	case STATUS_SOURCE: return "source";
	case STATUS_SINK: return "sink";
	case STATUS_IDLE: break;
	}
	return "idle";
}

const char *status_coverage_name(enum status_coverage c)
{
	switch (c) {
	case STATUS_COVER_FULL: return "full";
	case STATUS_COVER_PARTIAL: return "partial";
	case STATUS_COVER_NONE: return "none";
	case STATUS_COVER_UNKNOWN: break;
	}
	return NULL;
}
