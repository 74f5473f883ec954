/* fanout: one source mirror, several sinks.  See fanout.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cursors.h"
#include "fanout.h"
#include "journal.h"
#include "log.h"
#include "proto.h"
#include "sender.h"
#include "session.h"
#include "stream.h"

#define CONNECT_MS 3000
#define PING_MS 2000            /* keep-alive when idle */
#define DEAD_MS 30000           /* no byte from a sink for this long: reconnect */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define OUT_LOW (1u << 20)
#define OUT_HIGH (4u << 20)
#define SAVE_MS 200             /* journal.peers is rewritten at most this often */

enum peer_state { PEER_IDLE, PEER_CONNECTING, PEER_UP };

struct peer {
	struct fanout *fo;
	size_t i;
	struct conf_mirror m;      /* the mirror, with this sink as its peer */
	struct live_feed *feed;    /* parked feed; NULL for the first peer, whose
				    * feed is struct live's own */
	enum peer_state state;
	unsigned epoch;            /* feed rewound at fo->epoch */
	bool reconcile;            /* dropped while connected: reconcile now */
	/* connection attempt, in a thread of its own */
	pthread_t th;
	bool th_on;
	bool conn_done;            /* under fo->mu, with conn_s, conn_err, why */
	struct stream *conn_s;
	int conn_err;
	char why[256];
	uint64_t retry_at;
	unsigned backoff;
	bool quiet, synced;
	/* session */
	struct stream *s;
	struct sender *snd;
	uint64_t last_in, ping_at, nonce;
	/* figures, under fo->mu */
	struct live_peer_status ps;
	struct live_status st;
};

struct fanout {
	struct live *l;
	const struct conf *c;
	volatile sig_atomic_t *stop;
	const char *mirror;
	uint32_t journal_max;
	struct cursors *cur;
	struct peer *p;
	size_t n, active;
	unsigned epoch;
	bool compact_due, save_due;
	uint64_t saved_at;
	char *peers_path, *peers_tmp;
	int evfd;                  /* connection attempts report here */
	pthread_mutex_t mu;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- cursors, as live.c reports them for the active peer ---- */

uint64_t fanout_cursor(const struct fanout *fo)
{
	return cursors_get(fo->cur, fo->active);
}

size_t fanout_active(const struct fanout *fo)
{
	return fo->active;
}

/* The peers in mask were dropped from the journal: say so, and reconcile
 * those connected at their next turn. */
static void dropped(struct fanout *fo, uint64_t mask, uint64_t synced, const char *why)
{
	for (size_t i = 0; i < fo->n && i < 64; i++) {
		if (!(mask & (1ull << i)))
			continue;
		struct peer *p = &fo->p[i];
		log_notice("mirror %s: %s is %llu records behind (%s): the journal no longer "
			   "keeps them, it will be reconciled by comparing the trees", fo->mirror,
			   p->m.peer.text, (unsigned long long)(synced - cursors_get(fo->cur, i)),
			   why);
		p->reconcile = p->state == PEER_UP;
	}
	fo->compact_due = true;
	fo->save_due = true;
}

uint64_t fanout_ack(struct fanout *fo, uint64_t seq, uint64_t synced)
{
	uint64_t mask;
	char why[48];

	cursors_ack(fo->cur, fo->active, seq);
	fo->save_due = true;
	if (cursors_drop_behind(fo->cur, synced, &mask) > 0) {
		snprintf(why, sizeof(why), "journal_max %u", fo->journal_max);
		dropped(fo, mask, synced, why);
	}
	return cursors_floor(fo->cur, synced);
}

bool fanout_make_room(struct fanout *fo, uint64_t synced, uint64_t *ret_floor)
{
	uint64_t mask;

	if (cursors_drop_slowest(fo->cur, synced, &mask) == 0)
		return false;
	dropped(fo, mask, synced, "the journal is full");
	*ret_floor = cursors_floor(fo->cur, synced);
	return true;
}

void fanout_superseded(struct fanout *fo, uint64_t seq)
{
	cursors_reset(fo->cur, seq);
	fo->epoch++;
	fo->p[fo->active].epoch = fo->epoch;    /* live.c rewinds the active feed */
	for (size_t i = 0; i < fo->n; i++)
		fo->p[i].reconcile = false;     /* the pass covers every peer */
	fo->save_due = true;
}

bool fanout_before(const struct fanout *fo, uint64_t seq)
{
	/* the parked feeds are in the slots of the other peers (the active
	 * one's slot holds the first peer's while it is swapped out) */
	for (size_t i = 1; i < fo->n; i++)
		if (live_feed_fed(fo->p[i].feed) >= seq)
			return false;
	return true;
}

void fanout_broken(struct fanout *fo)
{
	fo->epoch++;
	fo->p[fo->active].epoch = fo->epoch;
}

void fanout_rejoin(struct fanout *fo, uint64_t seq)
{
	cursors_rejoin(fo->cur, fo->active, seq);
	fo->p[fo->active].reconcile = false;
	fo->save_due = true;
}

/* ---- status ---- */

void fanout_status(struct fanout *fo, struct live_status *ret)
{
	pthread_mutex_lock(&fo->mu);
	*ret = fo->p[0].st;        /* failoverd's partner */
	ret->bytes_sent = ret->delta_saved = ret->errors = ret->in_flight = 0;
	for (size_t i = 0; i < fo->n; i++) {
		ret->bytes_sent += fo->p[i].st.bytes_sent;
		ret->delta_saved += fo->p[i].st.delta_saved;
		ret->errors += fo->p[i].st.errors;
		ret->in_flight += fo->p[i].st.in_flight;
	}
	pthread_mutex_unlock(&fo->mu);
}

size_t fanout_peers(struct fanout *fo, struct live_peer_status *out, size_t max)
{
	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->n && i < max; i++)
		out[i] = fo->p[i].ps;
	pthread_mutex_unlock(&fo->mu);
	return fo->n;
}

static void note_figures(struct fanout *fo, struct peer *p, const struct live_status *st)
{
	struct journal *j = live_journal(fo->l);
	struct journal_stats js = { 0 };
	uint64_t cur = cursors_get(fo->cur, p->i);

	if (j)
		journal_get_stats(j, &js);
	pthread_mutex_lock(&fo->mu);
	p->st = *st;
	p->ps.connected = st->connected;
	p->ps.dropped = cursors_dropped(fo->cur, p->i);
	p->ps.reconciling = st->reconciling;
	p->ps.lag_ms = st->lag_ms;
	p->ps.synced_until_ms = st->synced_until_ms;
	p->ps.cursor = cur;
	p->ps.behind = js.synced_seq > cur ? js.synced_seq - cur : 0;
	p->ps.in_flight = st->in_flight;
	p->ps.bytes_sent = st->bytes_sent;
	p->ps.errors = st->errors;
	p->ps.progress = st->progress;
	pthread_mutex_unlock(&fo->mu);
}

/* journal.peers: every cursor, for inspection (tmp, fdatasync, rename). */
static void save_cursors(struct fanout *fo, uint64_t now, bool force)
{
	FILE *f;
	int rc = 0;

	if (!fo->save_due || (!force && now < fo->saved_at + SAVE_MS))
		return;
	fo->save_due = false;
	fo->saved_at = now;
	if (!(f = fopen(fo->peers_tmp, "we")))
		rc = -errno;
	for (size_t i = 0; f && i < fo->n; i++)
		fprintf(f, "%s %llu %s\n", fo->p[i].m.peer.text,
			(unsigned long long)cursors_get(fo->cur, i),
			cursors_dropped(fo->cur, i) ? "dropped" : "kept");
	if (f && (fflush(f) != 0 || fdatasync(fileno(f)) < 0))
		rc = -errno;
	if (f && fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(fo->peers_tmp, fo->peers_path) < 0)
		rc = -errno;
	if (rc < 0) {
		log_warn("mirror %s: cannot write %s: %s", fo->mirror, fo->peers_path,
			 strerror(-rc));
		unlink(fo->peers_tmp);
	}
}

/* ---- the active peer: its feed is struct live's ---- */

static void activate(struct fanout *fo, struct peer *p)
{
	fo->active = p->i;
	if (p->feed)
		live_feed_swap(fo->l, p->feed);
}

static void deactivate(struct fanout *fo, struct peer *p)
{
	if (p->feed)
		live_feed_swap(fo->l, p->feed);
	fo->active = 0;
}

/* Before the feed reads anything: catch up with a rewind or a drop. */
static void feed_check(struct fanout *fo, struct peer *p)
{
	if (p->epoch != fo->epoch) {
		p->epoch = fo->epoch;
		live_rewind(fo->l);
	}
	if (p->reconcile && p->state == PEER_UP) {
		log_notice("mirror %s: reconciling %s by comparing the trees", fo->mirror,
			   p->m.peer.text);
		live_reconcile(fo->l);
	}
	p->reconcile = false;
}

/* ---- connection attempts ---- */

static void *connect_thread(void *arg)
{
	struct peer *p = arg;
	struct fanout *fo = p->fo;
	char why[256] = "";
	uint64_t one = 1;
	int rc = 0;
	struct stream *s = session_connect(fo->c, &p->m, PROTO_FEATURE_REPORT, CONNECT_MS, &rc, why, sizeof(why));

	if (s && (rc = stream_set_nonblock(s, true)) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(-rc));
		stream_free(s);
		s = NULL;
	}
	pthread_mutex_lock(&fo->mu);
	p->conn_s = s;
	p->conn_err = rc;
	memcpy(p->why, why, sizeof(why));
	p->conn_done = true;
	pthread_mutex_unlock(&fo->mu);
	if (write(fo->evfd, &one, sizeof(one)) < 0) {
		/* the loop looks again within its tick */
	}
	return NULL;
}

static void connect_start(struct fanout *fo, struct peer *p)
{
	int rc;

	p->conn_done = false;
	if ((rc = pthread_create(&p->th, NULL, connect_thread, p)) != 0) {
		log_warn("mirror %s: cannot start a connection to %s: %s", fo->mirror,
			 p->m.peer.text, strerror(rc));
		p->retry_at = now_ms() + BACKOFF_MAX_MS;
		return;
	}
	p->th_on = true;
	p->state = PEER_CONNECTING;
}

static void retry_later(struct peer *p)
{
	p->retry_at = now_ms() + p->backoff;
	p->backoff = p->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff * 2;
	p->state = PEER_IDLE;
}

static void session_up(struct fanout *fo, struct peer *p, struct stream *s)
{
	log_notice("mirror %s: connected to %s", fo->mirror, p->m.peer.text);
	p->backoff = BACKOFF_MIN_MS;
	p->quiet = false;
	if (!(p->snd = live_sender_new(fo->l))) {
		log_err("mirror %s: no memory for a session with %s", fo->mirror, p->m.peer.text);
		stream_free(s);
		return retry_later(p);
	}
	p->s = s;
	p->state = PEER_UP;
	p->synced = false;
	p->last_in = now_ms();
	p->ping_at = 0;
	if (cursors_dropped(fo->cur, p->i)) {
		log_notice("mirror %s: %s fell beyond the journal, reconciling it by "
			   "comparing the trees", fo->mirror, p->m.peer.text);
		live_reconcile(fo->l);
	} else {
		live_session_begin(fo->l);
	}
}

/* A connection attempt ended. */
static void connect_done(struct fanout *fo, struct peer *p)
{
	pthread_mutex_lock(&fo->mu);
	bool done = p->conn_done;
	struct stream *s = p->conn_s;
	pthread_mutex_unlock(&fo->mu);

	if (!done)
		return;
	pthread_join(p->th, NULL);
	p->th_on = false;
	p->conn_s = NULL;
	if (s)
		return session_up(fo, p, s);
	if (!p->quiet)
		log_warn("mirror %s: %s: %s", fo->mirror, p->m.peer.text, p->why);
	p->quiet = p->backoff >= BACKOFF_MAX_MS;   /* log once per outage */
	retry_later(p);
}

static void session_down(struct fanout *fo, struct peer *p, int rc)
{
	live_session_end(fo->l, p->snd, p->s);
	sender_free(p->snd);
	stream_free(p->s);
	p->snd = NULL;
	p->s = NULL;
	if (rc < 0)
		log_warn("mirror %s: session with %s failed: %s, reconnecting", fo->mirror,
			 p->m.peer.text, strerror(-rc));
	if (p->synced)
		p->backoff = BACKOFF_MIN_MS;
	retry_later(p);
}

/* One turn of a connected peer's session: 1 when the sender has more to
 * give right away, 0, or <0 when the session failed. */
static int session_turn(struct fanout *fo, struct peer *p)
{
	uint64_t now = now_ms();
	long n = session_pump_sender(p->s, p->snd);
	int more = 0, rc;

	if (n < 0)
		return (int)n;
	if (n > 0)
		p->last_in = now;
	if (stream_pending_out(p->s) < OUT_LOW &&
	    (more = sender_produce(p->snd, stream_out(p->s), OUT_HIGH)) < 0)
		return more;
	if (!p->synced && live_in_sync(fo->l, p->snd)) {
		p->synced = true;
		log_notice("mirror %s: in sync with %s", fo->mirror, p->m.peer.text);
	}
	if (now >= p->last_in + PING_MS && now >= p->ping_at + PING_MS &&
	    sender_between_files(p->snd)) {
		proto_put_id(stream_out(p->s), MSG_PING, ++p->nonce);
		p->ping_at = now;
	}
	if ((rc = stream_flush(p->s)) < 0 && rc != -EAGAIN)
		return rc;
	if (now > p->last_in + DEAD_MS)
		return -ETIMEDOUT;
	return more > 0 && stream_pending_out(p->s) < OUT_LOW;
}

/* Serve peer p once; true when it has more to send at once. */
static bool peer_turn(struct fanout *fo, struct peer *p)
{
	struct live_status st;
	bool more = false;
	int rc;

	activate(fo, p);
	feed_check(fo, p);
	switch (p->state) {
	case PEER_UP:
		if ((rc = session_turn(fo, p)) < 0)
			session_down(fo, p, rc);
		else
			more = rc > 0;
		break;
	case PEER_CONNECTING:
		connect_done(fo, p);
		break;
	case PEER_IDLE:
		if (now_ms() >= p->retry_at)
			connect_start(fo, p);
		break;
	}
	if (p->i > 0)
		live_maybe_ack(fo->l, false);  /* the first's: in housekeeping */
	feed_check(fo, p);
	live_publish(fo->l, p->snd, p->s, &st);
	note_figures(fo, p, &st);
	deactivate(fo, p);
	return more;
}

static void compact(struct fanout *fo)
{
	struct journal *j = live_journal(fo->l);
	struct journal_stats st;
	int rc;

	fo->compact_due = false;
	if (!j)
		return;
	if ((rc = journal_compact(j)) < 0) {
		log_warn("mirror %s: cannot compact the journal: %s", fo->mirror, strerror(-rc));
		return;
	}
	journal_get_stats(j, &st);
	log_info("mirror %s: journal compacted up to record %llu (%llu bytes)", fo->mirror,
		 (unsigned long long)st.keep_from - 1, (unsigned long long)st.file_bytes);
}

/* When peer p needs a turn without input: its next PING, the end of its
 * patience (DEAD_MS), or its next connection attempt; UINT64_MAX for none. */
static uint64_t peer_due(const struct peer *p)
{
	uint64_t ping = (p->last_in > p->ping_at ? p->last_in : p->ping_at) + PING_MS;
	uint64_t dead = p->last_in + DEAD_MS + 1;

	switch (p->state) {
	case PEER_UP:
		return ping < dead ? ping : dead;
	case PEER_IDLE:
		return p->retry_at;
	case PEER_CONNECTING:
		break;                  /* the eventfd says when */
	}
	return UINT64_MAX;
}

/* Poll the watcher, the connection reports and every session. */
static void wait_input(struct fanout *fo, bool more)
{
	struct pollfd pfd[CONF_MAX_PEERS + 2];
	uint64_t now = now_ms();
	size_t n = 0;

	pfd[n++] = (struct pollfd){ .fd = live_watch_fd(fo->l), .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = fo->evfd, .events = POLLIN };
	for (size_t i = 0; i < fo->n; i++) {
		struct peer *p = &fo->p[i];
		if (p->state != PEER_UP)
			continue;
		pfd[n++] = (struct pollfd){ .fd = stream_fd(p->s), .events = POLLIN |
					    (stream_pending_out(p->s) > 0 ? POLLOUT : 0) };
	}
	/* the live source's own timers (settling, journal sync, acks); the
	 * sessions' keep-alive is per peer, below */
	int timeout = more ? 0 : live_poll_timeout(fo->l, now);
	for (size_t i = 0; i < fo->n && timeout > 0; i++) {
		uint64_t due = peer_due(&fo->p[i]);
		if (due <= now)
			timeout = 0;
		else if (due - now < (uint64_t)timeout)
			timeout = (int)(due - now);
	}
	if (poll(pfd, n, timeout) < 0 && errno != EINTR)
		log_warn("mirror %s: poll: %s", fo->mirror, strerror(errno));
	if (pfd[1].revents & POLLIN) {
		uint64_t v;
		if (read(fo->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn("mirror %s: eventfd: %s", fo->mirror, strerror(errno));
	}
}

void fanout_run(struct fanout *fo)
{
	while (!*fo->stop) {
		bool more = false;

		activate(fo, &fo->p[0]);
		feed_check(fo, &fo->p[0]);
		live_housekeeping(fo->l);
		deactivate(fo, &fo->p[0]);
		for (size_t i = 0; i < fo->n; i++)
			more |= peer_turn(fo, &fo->p[i]);
		if (fo->compact_due)
			compact(fo);
		save_cursors(fo, now_ms(), false);
		wait_input(fo, more);
	}
	for (size_t i = 0; i < fo->n; i++) {
		struct peer *p = &fo->p[i];
		if (p->state != PEER_UP)
			continue;
		activate(fo, p);
		session_down(fo, p, 0);
		deactivate(fo, p);
	}
	save_cursors(fo, now_ms(), true);
}

/* ---- set-up ---- */

void fanout_free(struct fanout *fo)
{
	if (!fo)
		return;
	for (size_t i = 0; fo->p && i < fo->n; i++) {
		struct peer *p = &fo->p[i];
		if (p->th_on) {         /* bounded by CONNECT_MS */
			pthread_join(p->th, NULL);
			stream_free(p->conn_s);
		}
		if (p->state == PEER_UP) {
			sender_free(p->snd);
			stream_free(p->s);
		}
		live_feed_free(fo->l, p->feed);
	}
	free(fo->p);
	cursors_free(fo->cur);
	free(fo->peers_path);
	free(fo->peers_tmp);
	if (fo->evfd >= 0)
		close(fo->evfd);
	pthread_mutex_destroy(&fo->mu);
	free(fo);
}

int fanout_new(struct live *l, const struct conf *c, const struct conf_mirror *m,
	       volatile sig_atomic_t *stop, struct fanout **ret)
{
	struct fanout *fo = calloc(1, sizeof(*fo));

	if (!fo)
		return -ENOMEM;
	fo->evfd = -1;
	pthread_mutex_init(&fo->mu, NULL);
	fo->l = l;
	fo->c = c;
	fo->stop = stop;
	fo->mirror = m->name;
	fo->journal_max = m->journal_max;
	fo->n = 1 + m->n_more_peers;
	fo->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fo->evfd < 0) {
		int rc = -errno;
		fanout_free(fo);
		return rc;
	}
	if (asprintf(&fo->peers_path, "%s/%s/journal.peers", c->state_dir, m->name) < 0)
		fo->peers_path = NULL;
	if (asprintf(&fo->peers_tmp, "%s/%s/journal.peers.tmp", c->state_dir, m->name) < 0)
		fo->peers_tmp = NULL;
	if (!fo->peers_path || !fo->peers_tmp || !(fo->p = calloc(fo->n, sizeof(*fo->p))) ||
	    !(fo->cur = cursors_new(fo->n, 0, m->journal_max)))
		goto nomem;
	for (size_t i = 0; i < fo->n; i++) {
		struct peer *p = &fo->p[i];
		p->fo = fo;
		p->i = i;
		p->m = *m;
		if (i > 0)
			p->m.peer = m->more_peers[i - 1];
		p->backoff = BACKOFF_MIN_MS;
		snprintf(p->ps.addr, sizeof(p->ps.addr), "%s", p->m.peer.text);
		if (i > 0 && !(p->feed = live_feed_new()))
			goto nomem;
	}
	log_info("mirror %s: %zu peers, each with its own session and journal cursor "
		 "(journal_max %u)", m->name, fo->n, m->journal_max);
	*ret = fo;
	return 0;
nomem:
	fanout_free(fo);
	return -ENOMEM;
}
