/* serve: sink role, one receiver session per connection thread. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "auditserve.h"
#include "exclude.h"
#include "fsmeta.h"
#include "log.h"
#include "net.h"
#include "promote.h"
#include "proto.h"
#include "pull.h"
#include "receiver.h"
#include "retain.h"
#include "serve.h"
#include "sinkid.h"
#include "session.h"
#include "status.h"
#include "stream.h"
#include "tls.h"

struct serve {
	const struct conf *conf;
	struct tls_ctx *tls;        /* NULL: insecure_plaintext */
	pthread_mutex_t lock;
	unsigned active;            /* session threads */
	unsigned handshakes;        /* of which not yet past HELLO */
	struct stream **owner;      /* per configured mirror: the session holding it */
	struct exclude **ex;        /* per configured mirror */
	struct retain **rt;         /* per configured mirror: versions kept, or NULL */
};

struct session {
	struct serve *sv;
	int fd;
	char peer[80];
};

static int send_error(struct stream *s, int code, const char *text)
{
	proto_put_error(stream_out(s), (uint32_t)code, text);
	return stream_flush(s);
}

/* Claim the mirror for stream s; false when another session has it. */
static bool mirror_try(struct serve *sv, size_t i, struct stream *s, uint64_t *ret_silent)
{
	bool ok = false;

	pthread_mutex_lock(&sv->lock);
	if (!sv->owner[i]) {
		sv->owner[i] = s;
		ok = true;
	} else if ((*ret_silent = stream_waiting_ms(sv->owner[i])) >= SERVE_SILENT_MS) {
		/* wake the silent owner: its next read fails and it lets go */
		(void)shutdown(stream_fd(sv->owner[i]), SHUT_RDWR);
	}
	pthread_mutex_unlock(&sv->lock);
	return ok;
}

/* Claim the mirror.  When another session holds it, wait: an owner silent
 * for SERVE_SILENT_MS (a healthy source sends at least a PING every
 * SESSION_PING_MS) is disconnected and replaced by this newly authenticated
 * session.  false when the owner stayed alive all along. */
static bool mirror_claim(struct serve *sv, size_t i, struct stream *s, const char *peer)
{
	uint64_t silent = 0;
	bool told = false;

	for (int t = 0; t < (SERVE_SILENT_MS + SERVE_REPLACE_MS) / 50; t++) {
		if (mirror_try(sv, i, s, &silent))
			return true;
		if (silent >= SERVE_SILENT_MS && !told) {
			log_warn("mirror %s: session silent for %llu ms, replacing it with the "
				 "new session from %s", sv->conf->mirrors[i].name,
				 (unsigned long long)silent, peer);
			told = true;
		}
		(void)poll(NULL, 0, 50);
	}
	return false;
}

static void mirror_release(struct serve *sv, size_t i)
{
	pthread_mutex_lock(&sv->lock);
	sv->owner[i] = NULL;
	pthread_mutex_unlock(&sv->lock);
}

/* Open (creating if needed) the root of a mirror on this node. */
static int open_root(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && mkdir(path, 0755) == 0)
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Read HELLO and pick the mirror; returns its index (and the features the
 * source asked for) or -errno. */
static int hello(struct session *se, struct stream *s, uint64_t *ret_features)
{
	const struct conf *c = se->sv->conf;
	struct proto_hello m;
	struct wire_hdr h;
	const uint8_t *p;
	int rc = stream_recv(s, -1, &h, &p);    /* bounded by the handshake deadline */

	if (rc == 0) {
		log_debug("connection from %s closed before HELLO", se->peer);
		return -ECONNRESET;
	}
	if (rc != 1 || h.type != MSG_HELLO ||
	    proto_get_hello(p, h.len, &m) < 0) {
		log_warn("connection from %s: no valid HELLO (%s), closing", se->peer,
			 rc < 0 && rc != -ENOMSG ? strerror(-rc) : "bad frame");
		send_error(s, EPROTO, "expected HELLO");
		return -EPROTO;
	}
	if (m.min_version > PROTO_VERSION || m.max_version < PROTO_VERSION) {
		log_warn("connection from %s: protocol %u..%u not supported", se->peer,
			 m.min_version, m.max_version);
		send_error(s, EPROTONOSUPPORT, "protocol version not supported");
		return -EPROTONOSUPPORT;
	}
	for (size_t i = 0; i < c->n_mirrors; i++) {
		if (strlen(c->mirrors[i].name) == m.mirror_len &&
		    memcmp(c->mirrors[i].name, m.mirror, m.mirror_len) == 0) {
			*ret_features = m.features;
			return (int)i;
		}
	}
	log_warn("connection from %s: unknown mirror '%.*s', closing", se->peer,
		 (int)m.mirror_len, (const char *)m.mirror);
	send_error(s, ENOENT, "unknown mirror");
	return -ENOENT;
}

static void handshake_done(struct serve *sv, bool *counted)
{
	if (!*counted)
		return;
	*counted = false;
	pthread_mutex_lock(&sv->lock);
	sv->handshakes--;
	pthread_mutex_unlock(&sv->lock);
}

static void session_run(struct session *se, struct stream *s, bool *counted)
{
	const struct conf *c = se->sv->conf;
	uint64_t features = 0;
	int i = hello(se, s, &features);

	handshake_done(se->sv, counted);
	if (i < 0)
		return;
	stream_set_deadline(s, 0);
	const struct conf_mirror *m = &c->mirrors[i];
	if (features & PROTO_FEATURE_AUDIT) {      /* read-only: beside the live session */
		(void)auditserve_run(m, s, se->peer, se->sv->ex[i]);
		return;
	}
	if (!mirror_claim(se->sv, (size_t)i, s, se->peer)) {
		log_warn("mirror %s: %s connected while another session runs, refused",
			 m->name, se->peer);
		send_error(s, EBUSY, "mirror busy");
		return;
	}
	int rootfd = open_root(m->path);
	struct receiver *r = NULL;
	unsigned flags = (m->xattrs ? FSMETA_XATTRS : 0) |
			 (m->owner && geteuid() == 0 ? FSMETA_OWNER : 0);
	struct receiver_opts ro = { .mirror = m->name, .meta_flags = flags, .ex = se->sv->ex[i],
				    .retain = se->sv->rt[i],
				    .report = features & PROTO_FEATURE_REPORT };
	if (features & PULL_FEATURES) {
		(void)pull_run(c, m, rootfd, s, se->peer, se->sv->ex[i], features);
	} else if (promote_active(m->name)) {
		log_warn("mirror %s: push from %s refused: the mirror is promoted on this node "
			 "(restore the old master with mirror-restore, or demote it first)",
			 m->name, se->peer);
		send_error(s, EROFS, "mirror promoted on this node: no pushes until it is demoted");
	} else if (rootfd < 0) {
		log_err("mirror %s: cannot open %s: %s", m->name, m->path, strerror(-rootfd));
		send_error(s, (int)-rootfd, "cannot open mirror root");
	} else if (!(r = receiver_new(rootfd, &ro, stream_out(s)))) {
		send_error(s, ENOMEM, "out of memory");
	} else {
		struct proto_hello_ok ok = { .version = PROTO_VERSION,
					     .features = features & PROTO_FEATURE_REPORT };
		int idrc = sinkid_get(c->state_dir, m->name, &ok.journal_id);
		if (idrc < 0)
			log_warn("mirror %s: cannot keep the copy's id in %s: %s (the source "
				 "will reconcile the whole tree at every start)", m->name,
				 c->state_dir, strerror(-idrc));
		promote_pushed(m->name);
		proto_put_hello_ok(stream_out(s), &ok);
		char how[160];
		stream_peer(s, how, sizeof(how));
		log_info("mirror %s: session from %s (%s)", m->name, se->peer, how);
		status_connected(m->name, se->peer);
		int rc = stream_flush(s);
		char who[160];
		snprintf(who, sizeof(who), "mirror %s: session from %s", m->name, se->peer);
		if (rc == 0)
			rc = session_run_receiver(s, r, who);
		const struct receiver_stats *st = receiver_stats(r);
		log_info("mirror %s: session from %s ended (%s): %llu entries, %llu files "
			 "(%llu by delta), %llu deletes, %llu errors", m->name, se->peer,
			 rc == 0 ? "closed" : strerror(-rc), (unsigned long long)st->entries,
			 (unsigned long long)st->files, (unsigned long long)st->deltas,
			 (unsigned long long)st->deletes, (unsigned long long)st->errors);
		status_received(m->name, stream_stats(s)->bytes_in);
		status_disconnected(m->name, rc);
	}
	receiver_free(r);
	if (rootfd >= 0)
		close(rootfd);
	mirror_release(se->sv, (size_t)i);
}

static void *session_thread(void *arg)
{
	struct session *se = arg;
	bool counted = true;
	char why[256];
	int err = 0;
	struct stream *s = session_accept(se->fd, se->sv->tls, SESSION_HANDSHAKE_MS, &err, why,
					  sizeof(why));

	if (s)
		session_run(se, s, &counted);
	else if (err == -ENODATA)
		log_debug("connection from %s closed before TLS", se->peer);
	else
		log_warn("connection from %s: %s, closing", se->peer, why);
	handshake_done(se->sv, &counted);
	stream_free(s);
	pthread_mutex_lock(&se->sv->lock);
	se->sv->active--;
	pthread_mutex_unlock(&se->sv->lock);
	free(se);
	return NULL;
}

static void spawn_session(struct serve *sv, int fd)
{
	struct session *se = calloc(1, sizeof(*se));
	pthread_t t;
	bool full;

	pthread_mutex_lock(&sv->lock);
	full = sv->active >= SERVE_MAX_SESSIONS || sv->handshakes >= SERVE_MAX_HANDSHAKES;
	if (!full && se) {
		sv->active++;
		sv->handshakes++;
	}
	pthread_mutex_unlock(&sv->lock);
	if (full || !se) {
		log_warn("too many sessions or handshakes, refusing a connection");
		free(se);
		close(fd);
		return;
	}
	se->sv = sv;
	se->fd = fd;
	net_peer_name(fd, se->peer, sizeof(se->peer));
	int rc = pthread_create(&t, NULL, session_thread, se);
	if (rc == 0) {
		pthread_detach(t);
		return;
	}
	log_err("cannot start a session thread: %s", strerror(rc));
	close(fd);
	free(se);
	pthread_mutex_lock(&sv->lock);
	sv->active--;
	sv->handshakes--;
	pthread_mutex_unlock(&sv->lock);
}

/* A sink killed mid-transfer leaves temporary files beside their targets;
 * nothing else removes them (a live session resumes without a full pass),
 * so the start-up removes them before any session runs. */
static void clean_temps(const struct conf *c)
{
	for (size_t i = 0; i < c->n_mirrors; i++) {
		int fd = open(c->mirrors[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;      /* created by the first session */
		long n = apply_clean_temps(fd);
		close(fd);
		if (n > 0)
			log_notice("mirror %s: removed %ld temporary files left by an "
				   "interrupted transfer", c->mirrors[i].name, n);
		else if (n < 0)
			log_warn("mirror %s: cannot look for leftover temporary files: %s",
				 c->mirrors[i].name, strerror((int)-n));
	}
}

/* Open the versions area of every mirror that keeps versions.  One that
 * cannot be opened is mirrored without (logged as an error). */
static void open_versions(struct serve *sv, const struct conf *c)
{
	for (size_t i = 0; i < c->n_mirrors; i++) {
		const struct conf_mirror *m = &c->mirrors[i];
		struct retain_limits lim = { .keep_sec = m->keep_versions_sec,
					     .count = m->keep_versions_count,
					     .max_bytes = (uint64_t)m->keep_versions_mb << 20 };
		char *dir;
		int rootfd;

		if (!conf_keeps_versions(m))
			continue;
		dir = conf_versions_dir(c, m);
		rootfd = open_root(m->path);
		if (dir && rootfd >= 0)
			sv->rt[i] = retain_open(m->name, dir, rootfd, &lim);
		if (!sv->rt[i])
			log_err("mirror %s: mirrored WITHOUT keeping versions: the versions "
				"directory cannot be used", m->name);
		if (rootfd >= 0)
			close(rootfd);
		free(dir);
	}
}

/* The retention timer: prune what is due, a bounded amount per mirror. */
static void prune_versions(struct serve *sv)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	for (size_t i = 0; i < sv->conf->n_mirrors; i++)
		if (sv->rt[i])
			(void)retain_tick(sv->rt[i], (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static int serve_init(struct serve *sv, const struct conf *c)
{
	sv->conf = c;
	pthread_mutex_init(&sv->lock, NULL);
	clean_temps(c);
	sv->owner = calloc(c->n_mirrors + 1, sizeof(*sv->owner));
	sv->ex = calloc(c->n_mirrors + 1, sizeof(*sv->ex));
	sv->rt = calloc(c->n_mirrors + 1, sizeof(*sv->rt));
	if (!sv->owner || !sv->ex || !sv->rt)
		return -ENOMEM;
	open_versions(sv, c);
	for (size_t i = 0; i < c->n_mirrors; i++) {
		if (!(sv->ex[i] = exclude_new()))
			return -ENOMEM;
		for (size_t j = 0; j < c->mirrors[i].n_excludes; j++)
			if (exclude_add(sv->ex[i], c->mirrors[i].excludes[j]) < 0)
				return -EINVAL;
	}
	return 0;
}

int serve_run(const struct conf *c, volatile sig_atomic_t *stop)
{
	static struct serve sv;    /* lives as long as the detached sessions */
	char why[512];
	int rc = serve_init(&sv, c), lfd;

	if (rc == 0 && (rc = session_security(c, true, &sv.tls, why, sizeof(why))) < 0) {
		log_err("[security] in %s: %s", c->file, why);
		return rc;
	}
	if (!sv.tls)
		log_warn("INSECURE: insecure_plaintext = yes: data connections are neither "
			 "authenticated nor encrypted; anyone who can reach %s can write to "
			 "the mirrors", c->listen.text);
	else
		log_info("data connections use TLS 1.3 with %s authentication%s",
			 tls_ctx_mode(sv.tls), c->security.cert && !c->security.peer_name ?
			 " (no peer_name: any certificate from the CA is accepted)" : "");
	lfd = rc < 0 ? rc : net_listen((const struct sockaddr *)&c->listen.ss, c->listen.len, 64);
	if (lfd < 0) {
		log_err("cannot listen on %s: %s", c->listen.text, strerror(-lfd));
		return lfd;
	}
	log_info("listening on %s for %zu mirror(s)", c->listen.text, c->n_mirrors);
	while (!*stop) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int ready = poll(&pfd, 1, 1000);
		prune_versions(&sv);
		if (ready <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			spawn_session(&sv, fd);
		else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			log_warn("accept failed: %s", strerror(errno));
	}
	close(lfd);
	return 0;
}
