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
	uint64_t base_sent, base_saved, base_received;   /* before this session */
	uint64_t synced_ms;      /* monotonic ms of the last moment nothing was pending */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static size_t n_slots;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

int status_init(const struct conf *c)
{
	struct slot *s = calloc(c->n_mirrors + 1, sizeof(*s));
	uint64_t now = mono_ms();

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_mirrors; i++) {
		const struct conf_mirror *m = &c->mirrors[i];
		struct status_mirror *p = &s[i].pub;
		snprintf(p->name, sizeof(p->name), "%s", m->name);
		p->role = m->has_peer ? STATUS_IDLE : STATUS_SINK;
		p->requested = p->role;
		if (m->has_peer)
			snprintf(p->peer, sizeof(p->peer), "%s", m->peer.text);
		s[i].synced_ms = now;
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
	if (s) {
		s->pub.role = role;
		if (role == STATUS_SOURCE)
			s->synced_ms = mono_ms();
	}
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
		s->base_sent = s->pub.bytes_sent;
		s->base_saved = s->pub.bytes_saved;
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

void status_progress(const char *mirror, uint64_t pending, uint64_t queued,
		     uint64_t session_sent, uint64_t session_saved)
{
	pthread_mutex_lock(&lock);
	struct slot *s = find(mirror);
	if (s) {
		s->pub.lag_entries = pending;
		s->pub.queue_depth = queued;
		s->pub.bytes_sent = s->base_sent + session_sent;
		s->pub.bytes_saved = s->base_saved + session_saved;
		if (pending == 0)
			s->synced_ms = mono_ms();
	}
	pthread_mutex_unlock(&lock);
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
	uint64_t now = mono_ms();

	pthread_mutex_lock(&lock);
	size_t n = n_slots;
	for (size_t i = 0; i < n && i < max; i++) {
		const struct slot *s = &slots[i];
		out[i] = s->pub;
		out[i].lag_known = s->pub.role == STATUS_SOURCE;
		if (!out[i].lag_known) {
			out[i].lag_seconds = 0;
			out[i].lag_entries = 0;
			continue;
		}
		/* disconnected: what is pending is unknown but not delivered */
		bool behind = s->pub.lag_entries > 0 || !s->pub.connected;
		out[i].lag_seconds = behind && now > s->synced_ms ?
				     (double)(now - s->synced_ms) / 1000.0 : 0.0;
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
