/* control: failoverd's control socket.  A unix stream socket (mode 0600)
 * at "<[node] control_socket>-failoverd".  One request line per
 * connection, one reply line:
 *   status       -> "state=... term=... vip_holder=... ..." (key=value)
 *   promote | demote | clear-stale -> "ok" or "error <reason>" */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "failoverd.h"
#include "log.h"

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
	int n;

	n = snprintf(buf, len,
		     "state=%s term=%" PRIu64 " vip_holder=%s peer=%s peer_state=%s "
		     "peer_term=%" PRIu64 " last_change_ms_ago=%" PRId64
		     " rx_ok=%" PRIu64 " rx_bad_hmac=%" PRIu64 " rx_replay=%" PRIu64
		     " rx_bad_other=%" PRIu64 " tx_ok=%" PRIu64 " garp_sent=%" PRIu64
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
		     fo->tx_ok, fo->garp_sent, fo->link_up ? "up" : "down",
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

static void serve(struct fo *fo, int c)
{
	const struct timeval tv = { 0, 200 * 1000 };
	char req[64], reply[1024];
	ssize_t n;
	int len;

	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return;
	n = read(c, req, sizeof(req) - 1);
	if (n <= 0)
		return;
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	len = command(fo, req, reply, sizeof(reply));
	if (len > 0 && write(c, reply, (size_t)len) != len)
		log_debug("control: short reply");
}

int control_on_ready(struct fo *fo)
{
	int c = accept4(fo->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	serve(fo, c);
	close(c);
	return 0;
}
