/* control: failoverd's control socket.  A unix stream socket (mode 0600)
 * at "<[node] control_socket>-failoverd".  One request line per
 * connection, one reply line:
 *   status       -> "state=... term=... vip_holder=... ..." (key=value)
 *   promote | demote | clear-stale -> "ok" or "error <reason>"
 * Nothing here blocks the loop: each accepted connection is a
 * non-blocking fd watched by the loop until its request line arrives (at
 * most CTL_WAIT_MS, at most CTL_MAX_CONNS at a time), so a slow or idle
 * client never delays a heartbeat. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdlib.h>

#include <systemd/sd-event.h>

#include "failoverd.h"
#include "hbtx.h"
#include "log.h"
#include "rt.h"

#define CTL_MAX_CONNS 8
#define CTL_WAIT_MS 1000

struct ctl_conn {
	struct fo *fo;
	int fd;
	sd_event_source *io, *timer;
	size_t len;
	char req[64];
};

static unsigned n_conns;

int control_open(struct fo *fo)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if (strlen(fo->ctl_path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, fo->ctl_path, strlen(fo->ctl_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (unlink(fo->ctl_path) < 0 && errno != ENOENT)
		log_warn("control socket %s: unlink: %m", fo->ctl_path);
	old = umask(0077);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r < 0 || listen(fd, 8) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	fo->ctl_fd = fd;
	return 0;
}

void control_close(struct fo *fo)
{
	if (fo->ctl_fd < 0)
		return;
	close(fo->ctl_fd);
	fo->ctl_fd = -1;
	(void)unlink(fo->ctl_path);
}

static const char *holder(const struct fo *fo)
{
	if (fo->fsm.state == FSM_MASTER)
		return "self";
	if (fo->fsm.peer_seen && fo->fsm.peer.state == FSM_MASTER)
		return "peer";
	return "none";
}

static int status_line(struct fo *fo, char *buf, size_t len)
{
	const struct fsm *f = &fo->fsm;
	uint64_t tx_ok, tx_err, tx_late;
	int n;

	hbtx_stats(fo->tx, &tx_ok, &tx_err, &tx_late);
	n = snprintf(buf, len,
		     "state=%s term=%" PRIu64 " vip_holder=%s peer=%s peer_state=%s "
		     "peer_term=%" PRIu64 " last_change_ms_ago=%" PRId64
		     " rx_ok=%" PRIu64 " rx_bad_hmac=%" PRIu64 " rx_replay=%" PRIu64
		     " rx_bad_other=%" PRIu64 " tx_ok=%" PRIu64 " tx_late=%" PRIu64
		     " tx_err=%" PRIu64 " tx_threads=%u"
		     " rx_gaps=%" PRIu64 " stalls=%" PRIu64 " garp_sent=%" PRIu64
		     " realtime=%s rt_demotions=%" PRIu64
		     " position=%" PRIu64 " peer_lag_ms=%" PRId64
		     " link=%s check=%s reason=\"%s\"\n",
		     fsm_state_name(f->state), f->p.term, holder(fo),
		     f->peer_seen ? f->peer.name : "-",
		     f->peer_seen ? fsm_state_name(f->peer.state) : "-",
		     f->peer.term, fo_now_ms() - f->last_change_ms,
		     fo->rx.count[HB_OK], fo->rx.count[HB_BAD_HMAC],
		     fo->rx.count[HB_REPLAY],
		     fo->rx.count[HB_BAD_LEN] + fo->rx.count[HB_BAD_MAGIC] +
			     fo->rx.count[HB_BAD_VERSION] + fo->rx.count[HB_BAD_FIELD] +
			     fo->rx.count[HB_BAD_PEER],
		     tx_ok, tx_late, tx_err, hbtx_threads(fo->tx), fo->hb_gaps, fo->stalls, fo->garp_sent,
		     rt_active() ? "yes" : "no", rt_demotions(), f->local_position,
		     fsm_lag_ms(f), fo->link_up ? "up" : "down",
		     fo->check_ok ? "ok" : "fail", f->last_reason);
	return n < 0 || (size_t)n >= len ? -EOVERFLOW : n;
}

static int command(struct fo *fo, const char *cmd, char *reply, size_t len)
{
	static const struct { const char *name; enum fsm_event_type ev; } cmds[] = {
		{ "promote", FSM_EV_PROMOTE },
		{ "demote", FSM_EV_DEMOTE },
		{ "clear-stale", FSM_EV_CLEAR_STALE },
	};

	if (strcmp(cmd, "status") == 0)
		return status_line(fo, reply, len);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name) != 0)
			continue;
		log_notice("control: %s requested", cmd);
		if (fo_step(fo, cmds[i].ev, NULL) < 0)
			return snprintf(reply, len, "error refused in state %s: %s\n",
					fsm_state_name(fo->fsm.state), fo->fsm.last_reason);
		return snprintf(reply, len, "ok state=%s\n", fsm_state_name(fo->fsm.state));
	}
	return snprintf(reply, len, "error unknown command\n");
}

static void conn_free(struct ctl_conn *c)
{
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	close(c->fd);
	free(c);
	n_conns--;
}

static void conn_answer(struct ctl_conn *c)
{
	char reply[1024];
	int len;

	c->req[c->len] = '\0';
	c->req[strcspn(c->req, "\r\n")] = '\0';
	len = command(c->fo, c->req, reply, sizeof(reply));
	/* a fresh socket's buffer holds a line: a short write means a
	 * client that went away, not one to wait for */
	if (len > 0 && send(c->fd, reply, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) != len)
		log_debug("control: short reply");
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct ctl_conn *c = ud;
	ssize_t n = read(fd, c->req + c->len, sizeof(c->req) - 1 - c->len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0)
		c->len += (size_t)n;
	if (n > 0 && !memchr(c->req, '\n', c->len) && c->len < sizeof(c->req) - 1)
		return 0;                       /* wait for the rest of the line */
	if (c->len > 0)
		conn_answer(c);
	conn_free(c);
	return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	log_debug("control: client sent no request within %d ms, closed", CTL_WAIT_MS);
	conn_free(ud);
	return 0;
}

int control_on_ready(struct fo *fo)
{
	struct ctl_conn *c;
	int fd = accept4(fo->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), r;

	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n_conns >= CTL_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return -EBUSY;
	}
	n_conns++;
	c->fo = fo;
	c->fd = fd;
	r = sd_event_add_io(fo->ev, &c->io, fd, EPOLLIN, on_conn, c);
	if (r >= 0)
		r = sd_event_source_set_priority(c->io, SD_EVENT_PRIORITY_IDLE);
	if (r >= 0)
		r = sd_event_add_time_relative(fo->ev, &c->timer, CLOCK_MONOTONIC,
					       CTL_WAIT_MS * 1000ULL, 0, on_conn_timeout, c);
	if (r < 0) {
		conn_free(c);
		return r;
	}
	return 0;
}
