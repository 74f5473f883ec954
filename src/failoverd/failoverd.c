/* failoverd: heartbeats, VIP ownership, state machine, notify hooks.
 *
 * One sd-event loop.  Sources: the heartbeat timer (top priority), the fsm
 * tick, the heartbeat socket, the link monitor, the GARP timer, the check
 * timer, the control socket and SIGTERM/SIGINT.  Decisions are made by
 * fsm.c; this file only carries out the actions it returns, in order.
 * See failoverd(8) and doc/failover.md. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "caps.h"
#include "ctlsock.h"
#include "failoverd.h"
#include "hmac.h"
#include "hbtx.h"
#include "hooks.h"
#include "link.h"
#include "log.h"
#include "notify.h"
#include "pos.h"
#include "rt.h"
#include "state.h"
#include "vip.h"

#define EXIT_CONFIG 2
#define EXIT_SETUP 3
#define FO_DRAIN_MAX 64         /* heartbeat packets read per wake-up */
#define FO_CLOCK_JUMP_MS 60000  /* a receive stamp older than this: clock stepped */

int64_t fo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The monotonic time a packet arrived, from its SO_TIMESTAMPNS stamp
 * (wall clock), given the monotonic and wall "now"; "now" when there is
 * no stamp or the wall clock was stepped in between. */
static int64_t arrival_ms(struct msghdr *mh, int64_t mono_now)
{
	struct cmsghdr *c;
	struct timespec ts;
	int64_t ago;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		ago = (int64_t)(wall_us() / 1000) -
		      ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		if (ago < 0 || ago > FO_CLOCK_JUMP_MS)
			return mono_now;
		return mono_now - ago;
	}
	return mono_now;
}

/* Re-arm a one-shot timer ms from now. */
static void rearm(sd_event_source *s, uint64_t ms)
{
	uint64_t now = 0;

	if (sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now) < 0)
		return;
	if (sd_event_source_set_time(s, now + ms * 1000) < 0 ||
	    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
		log_err("cannot re-arm a timer; the loop is broken");
}

/* ---- heartbeats ---- */

/* What the sender threads put in heartbeats (the position they add). */
static void tx_template(const struct fo *fo, struct fsm_peer *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->name, sizeof(ret->name), "%s", fo->conf.node_name);
	ret->state = fo->fsm.state;
	ret->priority = fsm_advertised_priority(&fo->fsm);
	ret->term = fo->fsm.p.term;
}

/* Refreshed before the actions of every fsm step run, so a heartbeat
 * sent for a transition says the new state. */
static void tx_refresh(struct fo *fo)
{
	struct fsm_peer n;

	tx_template(fo, &n);
	hbtx_update(fo->tx, &n);
}

/* A heartbeat now (transitions); the periodic ones come from hbtx. */
static void hb_send(struct fo *fo)
{
	hbtx_send_now(fo->tx);
}

static bool from_peer(const struct fo *fo, const struct sockaddr_storage *ss)
{
	const struct sockaddr_storage *p = &fo->fc->peer.ss;

	if (ss->ss_family != p->ss_family)
		return false;
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)p)->sin_addr.s_addr;
	if (ss->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr,
			      &((const struct sockaddr_in6 *)p)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

static void hb_one(struct fo *fo, const uint8_t *buf, size_t len,
		   const struct sockaddr_storage *ss, int64_t heard_ms)
{
	char who[INET6_ADDRSTRLEN] = "?";
	enum hb_verdict v;
	struct hb_msg m;
	uint64_t prev_seq;
	int64_t gap;

	if (!from_peer(fo, ss)) {
		fo->rx.count[HB_BAD_PEER]++;
		if (ss->ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
				  who, sizeof(who));
		else
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
				  who, sizeof(who));
		log_warn("heartbeat from %s (not the configured peer %s) dropped",
			 who, fo->fc->peer.text);
		return;
	}
	prev_seq = fo->rx.have_seq ? fo->rx.last_seq : 0;
	v = hb_accept(&fo->rx, buf, len, fo->key, fo->key_len, &m);
	if (v != HB_OK) {
		log_warn("heartbeat from %s dropped: %s (counted)", fo->fc->peer.text,
			 hb_verdict_name(v));
		return;
	}
	/* the receiver side of a gap: lost packets, or a late sender */
	gap = fo->fsm.peer_seen ? heard_ms - fo->fsm.peer_last_ms : 0;
	if (prev_seq && gap > 2 * (int64_t)fo->fc->interval_ms) {
		fo->hb_gaps++;
		log_info("heartbeat gap %" PRId64 " ms, %" PRIu64 " lost on the way",
			 gap, m.seq - prev_seq - 1);
	}
	fo_step_hb(fo, &m.node, heard_ms);
}

/* Read what waits in the heartbeat socket (at most FO_DRAIN_MAX packets),
 * each stamped with its arrival time.  Called when the socket is readable
 * and before every fsm tick: a heartbeat that sat unread because the loop
 * woke late must count before the peer is declared dead. */
static void hb_drain(struct fo *fo)
{
	uint8_t buf[HB_MAX_LEN + 1];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct timespec))];
	} ctl;
	struct sockaddr_storage ss;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	for (int i = 0; i < FO_DRAIN_MAX; i++) {
		iov = (struct iovec){ .iov_base = buf, .iov_len = sizeof(buf) };
		mh = (struct msghdr){ .msg_name = &ss, .msg_namelen = sizeof(ss),
				      .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		n = recvmsg(fo->hb_fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("heartbeat socket: %m");
			break;
		}
		hb_one(fo, buf, (size_t)n, &ss, arrival_ms(&mh, fo_now_ms()));
	}
}

static int on_hb_ready(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	hb_drain(ud);
	return 0;
}

/* ---- GARP ---- */

static void garp_once(struct fo *fo)
{
	bool v6 = vip_family(fo->vip) == AF_INET6;
	int r = v6 ? na_send(fo->na_fd, fo->ifindex, fo->garp_pkt, fo->garp_len)
		   : garp_send(fo->garp_fd, fo->ifindex, fo->garp_pkt, fo->garp_len);

	if (r < 0)
		log_warn("%s on %s: %s", v6 ? "neighbour advertisement" : "gratuitous ARP",
			 fo->fc->interface, strerror(-r));
	else
		fo->garp_sent++;
}

static void garp_burst(struct fo *fo)
{
	if (fo->fc->garp_count == 0)
		return;
	garp_once(fo);
	fo->garp_left = fo->fc->garp_count - 1;
	rearm(fo->garp_timer, fo->garp_left ? fo->fc->garp_interval_ms
					    : fo->fc->garp_refresh_ms);
	if (!fo->garp_left && !fo->fc->garp_refresh_ms)
		sd_event_source_set_enabled(fo->garp_timer, SD_EVENT_OFF);
}

static int on_garp_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fo *fo = ud;

	if (fo->fsm.state != FSM_MASTER)
		return 0;
	if (fo->seq_n > 0) {                /* VIP changes pending: not now */
		rearm(s, fo->fc->garp_interval_ms);
		return 0;
	}
	if (fo->garp_left == 0) {        /* periodic refresh */
		if (vip_present(fo->vip) == 0 && vip_add(fo->vip) == 0)
			log_warn("VIP %s was missing on %s, re-added", fo->fc->vip,
				 fo->fc->interface);
		garp_once(fo);
	} else {
		garp_once(fo);
		fo->garp_left--;
	}
	if (fo->garp_left)
		rearm(s, fo->fc->garp_interval_ms);
	else if (fo->fc->garp_refresh_ms)
		rearm(s, fo->fc->garp_refresh_ms);
	return 0;
}

/* ---- actions ---- */

/* Where mirrord listens for promote/demote: [node] control_socket of the
 * same configuration file.  The one place to change when that moves. */
static const char *mirrord_ctl_path(const struct fo *fo)
{
	return fo->conf.control_socket;
}

/* Tell the local mirrord to promote or demote every configured mirror:
 * one request line per mirror, "promote <mirror>" or "demote <mirror>", on
 * its control socket (mirrord_ctl_path()), answered by "ok" or "error
 * <text>".  Bounded by MIRRORD_CTL_MS per mirror, as the loop waits
 * meanwhile; a mirrord that does not answer is logged and the state change
 * goes on (the VIP matters more than the journal; mirrorctl promote can
 * be repeated by hand). */
#define MIRRORD_CTL_MS 500

static void mirror_request(struct fo *fo, const char *verb)
{
	if (fo->conf.n_mirrors == 0) {
		log_info("mirrord %s: no [mirror] configured, skipped", verb);
		return;
	}
	for (size_t i = 0; i < fo->conf.n_mirrors; i++) {
		const char *name = fo->conf.mirrors[i].name;
		char *req = NULL, *reply = NULL;
		if (asprintf(&req, "%s %s", verb, name) < 0) {
			log_err("mirrord %s %s: out of memory, skipped", verb, name);
			continue;
		}
		int rc = ctlsock_request(mirrord_ctl_path(fo), req, MIRRORD_CTL_MS, &reply);
		if (rc < 0)
			log_err("mirrord %s %s: %s: %s (run \"mirrorctl %s %s\" once mirrord "
				"answers)", verb, name, mirrord_ctl_path(fo), strerror(-rc), verb,
				name);
		else if (strncmp(reply, "ok", 2) != 0)
			log_err("mirrord %s %s: %s", verb, name, reply);
		else
			log_notice("mirrord %s %s: done", verb, name);
		free(req);
		free(reply);
	}
}

static void mirror_promote(struct fo *fo)
{
	mirror_request(fo, "promote");
}

static void mirror_demote(struct fo *fo)
{
	mirror_request(fo, "demote");
}

static void up_actions(struct fo *fo, const struct fsm_out *o)
{
	int r;

	if (o->actions & FSM_ACT_MIRROR_PROMOTE)
		mirror_promote(fo);
	if (o->actions & FSM_ACT_VIP_ADD) {
		r = vip_add(fo->vip);
		if (r < 0)
			log_err("adding VIP %s on %s: %s; will retry at refresh",
				fo->fc->vip, fo->fc->interface, strerror(-r));
		else
			log_notice("VIP %s added on %s", fo->fc->vip, fo->fc->interface);
	}
	if (o->actions & FSM_ACT_GARP)
		garp_burst(fo);
}

static void down_actions(struct fo *fo, const struct fsm_out *o)
{
	int r;

	if (o->actions & FSM_ACT_VIP_DEL) {
		r = vip_del(fo->vip);
		if (r < 0)
			log_err("removing VIP %s from %s: %s", fo->fc->vip,
				fo->fc->interface, strerror(-r));
		else
			log_notice("VIP %s removed from %s", fo->fc->vip, fo->fc->interface);
	}
	if (o->actions & FSM_ACT_MIRROR_DEMOTE)
		mirror_demote(fo);
}

/* A transition as a notification (doc/notify.md): kind "failover", key
 * the VIP; summary and detail are written into the caller's buffers. */
static void failover_msg(const struct fo *fo, const struct fsm_out *o, struct notify_msg *m,
			 char *summary, size_t slen, char *detail, size_t dlen)
{
	FILE *f = fmemopen(detail, dlen, "w");

	snprintf(summary, slen, "%s: %s -> %s (term %" PRIu64 "): %s", fo->conf.node_name,
		 fsm_state_name(o->from), fsm_state_name(o->to), fo->fsm.p.term, o->reason);
	detail[0] = '\0';
	if (f) {
		fprintf(f, "{\"from\":\"%s\",\"to\":\"%s\",\"term\":%" PRIu64 ",\"reason\":",
			fsm_state_name(o->from), fsm_state_name(o->to), fo->fsm.p.term);
		notify_json_string(f, o->reason);
		fputs(",\"vip\":", f);
		notify_json_string(f, fo->fc->vip);
		fputs(",\"interface\":", f);
		notify_json_string(f, fo->fc->interface);
		fputs(",\"peer\":", f);
		notify_json_string(f, fo->fc->peer.text);
		if (o->to == FSM_MASTER && o->lag_ms >= 0)
			fprintf(f, ",\"lag_ms\":%" PRId64 "}", o->lag_ms);
		else
			fputs(",\"lag_ms\":null}", f);
		if (fclose(f) != 0)
			detail[0] = '\0';
	}
	*m = (struct notify_msg){ .kind = "failover", .state = "event", .key = fo->fc->vip,
				  .node = fo->conf.node_name, .summary = summary,
				  .detail = detail[0] ? detail : NULL };
}

static void log_transition(struct fo *fo, const struct fsm_out *o)
{
	if (o->actions & FSM_ACT_NOTE)
		log_notice("%s", o->reason);
	if (o->from == o->to)
		return;
	log_notice("state %s -> %s (term %" PRIu64 "): %s", fsm_state_name(o->from),
		   fsm_state_name(o->to), fo->fsm.p.term, o->reason);
	if (fo->notify) {
		char summary[256], detail[1024];
		struct notify_msg m;

		failover_msg(fo, o, &m, summary, sizeof(summary), detail, sizeof(detail));
		(void)notify_event(fo->notify, m.kind, m.key, m.summary, m.detail);
	}
	if (o->to == FSM_MASTER && o->lag_ms >= 0)
		log_notice("takeover RPO: copy was %" PRId64 " ms behind the peer at its "
			   "last heartbeat", o->lag_ms);
	else if (o->to == FSM_MASTER)
		log_notice("takeover RPO: unknown (the peer advertised no replication "
			   "position)");
}

/* ---- sequences and the notify hook ----
 *
 * A sequence is the action set of one fsm output, run in the fixed order
 * of fsm.h.  The notify hook, its last step, runs as a child tracked by
 * the loop (hook_child) with a timer (hook_timer) that kills it at
 * notify_timeout_ms; the sequence ends when the child is gone.  Sequences
 * decided meanwhile wait in seq_q and start, in order, when it ends.  The
 * loop keeps sending heartbeats and reading the peer's all along. */

static void seq_run(struct fo *fo, const struct fsm_out *o);

static void seq_done(struct fo *fo, enum fsm_state to)
{
	log_info("transition to %s carried out in %" PRId64 " ms", fsm_state_name(to),
		 fo_now_ms() - fo->seq_t0_ms);
}

/* Start the queued sequences, oldest first, until one leaves a hook running. */
static void seq_drain(struct fo *fo)
{
	while (fo->hook_pid <= 0 && fo->seq_n > 0) {
		struct fsm_out o = fo->seq_q[fo->seq_head];

		fo->seq_head = (fo->seq_head + 1) % FO_SEQ_MAX;
		fo->seq_n--;
		seq_run(fo, &o);
	}
}

/* The hook is gone (reaped): end its sequence and start the waiting ones. */
static void hook_finished(struct fo *fo)
{
	fo->hook_pid = 0;
	fo->hook_child = sd_event_source_unref(fo->hook_child);
	(void)sd_event_source_set_enabled(fo->hook_timer, SD_EVENT_OFF);
	seq_done(fo, fo->hook_state);
	seq_drain(fo);
}

static int on_hook_exit(sd_event_source *s, const siginfo_t *si, void *ud)
{
	struct fo *fo = ud;
	const char *st = fsm_state_name(fo->hook_state);

	if (fo->hook_killed)
		log_warn("notify %s %s: killed after %u ms", fo->fc->notify, st,
			 fo->fc->notify_timeout_ms);
	else if (si->si_code == CLD_EXITED && si->si_status == 0)
		log_info("notify %s %s: ok", fo->fc->notify, st);
	else if (si->si_code == CLD_EXITED)
		log_warn("notify %s %s: exit status %d", fo->fc->notify, st, si->si_status);
	else
		log_warn("notify %s %s: died on signal %d", fo->fc->notify, st, si->si_status);
	hook_finished(fo);              /* sd-event reaps it after we return */
	return 0;
}

static int on_hook_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fo *fo = ud;

	if (fo->hook_pid > 0 && !fo->hook_killed) {
		fo->hook_killed = true;
		hooks_signal(fo->hook_pid);     /* on_hook_exit reaps it */
	}
	return 0;
}

/* Start the notify hook; true when it runs (the sequence then ends in
 * on_hook_exit). */
static bool hook_start(struct fo *fo, const struct fsm_out *o)
{
	enum fsm_state st = o->to;
	char summary[256], detail[1024];
	struct notify_msg m;
	pid_t pid;
	int r;

	if (!fo->fc->notify)
		return false;
	failover_msg(fo, o, &m, summary, sizeof(summary), detail, sizeof(detail));
	pid = hooks_spawn_notify(fo->fc->notify, fsm_state_name(st), &m);
	if (pid < 0) {
		log_warn("notify %s %s: cannot start: %s", fo->fc->notify,
			 fsm_state_name(st), strerror(-pid));
		return false;
	}
	r = sd_event_add_child(fo->ev, &fo->hook_child, pid, WEXITED, on_hook_exit, fo);
	if (r >= 0)
		r = sd_event_source_set_priority(fo->hook_child, SD_EVENT_PRIORITY_IMPORTANT + 2);
	if (r < 0) {
		/* cannot track it: kill it rather than block the loop */
		log_err("notify %s %s: cannot watch the child (%s), killing it",
			fo->fc->notify, fsm_state_name(st), strerror(-r));
		fo->hook_child = sd_event_source_unref(fo->hook_child);
		hooks_kill(pid);
		return false;
	}
	fo->hook_pid = pid;
	fo->hook_state = st;
	fo->hook_killed = false;
	rearm(fo->hook_timer, fo->fc->notify_timeout_ms);
	return true;
}

static void seq_run(struct fo *fo, const struct fsm_out *o)
{
	int r;

	fo->seq_t0_ms = fo_now_ms();
	up_actions(fo, o);
	down_actions(fo, o);
	if (o->actions & FSM_ACT_PERSIST) {
		r = state_save(fo->state_path, &fo->fsm.p);
		if (r < 0)
			log_err("saving %s: %s", fo->state_path, strerror(-r));
	}
	if (o->actions & FSM_ACT_SEND_HB)
		hb_send(fo);
	if ((o->actions & FSM_ACT_NOTIFY) && hook_start(fo, o))
		return;
	if (o->from != o->to)
		seq_done(fo, o->to);
}

static void seq_queue(struct fo *fo, const struct fsm_out *o)
{
	if (fo->seq_n == FO_SEQ_MAX && fo->hook_pid > 0) {
		/* pathological flapping behind a slow hook: cut the hook short
		 * rather than drop a step, then start what waits */
		log_warn("notify %s %s: killed early, %u sequences wait for it",
			 fo->fc->notify, fsm_state_name(fo->hook_state), fo->seq_n);
		hooks_kill(fo->hook_pid);
		hook_finished(fo);
	}
	if (fo->seq_n == FO_SEQ_MAX) {          /* cannot happen: run it now */
		seq_run(fo, o);
		return;
	}
	fo->seq_q[(fo->seq_head + fo->seq_n) % FO_SEQ_MAX] = *o;
	fo->seq_n++;
	if (o->from != o->to)
		log_info("transition to %s waits for notify %s %s (%u queued)",
			 fsm_state_name(o->to), fo->fc->notify,
			 fsm_state_name(fo->hook_state), fo->seq_n);
}

static void carry_out(struct fo *fo, const struct fsm_out *o)
{
	struct fsm_out rest = *o;

	log_transition(fo, o);
	if (fo->hook_pid <= 0 && fo->seq_n == 0) {
		seq_run(fo, o);
		return;
	}
	/* a hook is running: heartbeats go now, everything else in order */
	if (o->actions & FSM_ACT_SEND_HB)
		hb_send(fo);
	rest.actions &= ~(unsigned)(FSM_ACT_SEND_HB | FSM_ACT_NOTE);
	if (rest.actions == 0 && o->from == o->to)
		return;
	/* a re-announce while we hold the VIP and nothing else is pending */
	if (rest.actions == FSM_ACT_GARP && fo->seq_n == 0 && o->from == o->to) {
		garp_burst(fo);
		return;
	}
	seq_queue(fo, &rest);
}

static int step_event(struct fo *fo, const struct fsm_event *ev)
{
	struct fsm_out out;
	int r;

	r = fsm_step(&fo->fsm, ev, fo_now_ms(), &out);
	tx_refresh(fo);
	carry_out(fo, &out);
	return r;
}

int fo_step(struct fo *fo, enum fsm_event_type type, const struct fsm_peer *peer)
{
	struct fsm_event ev = { .type = type };

	if (peer)
		ev.peer = *peer;
	return step_event(fo, &ev);
}

void fo_step_hb(struct fo *fo, const struct fsm_peer *peer, int64_t heard_ms)
{
	struct fsm_event ev = { .type = FSM_EV_HB, .peer = *peer, .heard_ms = heard_ms };

	(void)step_event(fo, &ev);
}

/* ---- link, check, tick, grace ---- */

static void link_refresh(struct fo *fo)
{
	int up = link_mon_is_up(fo->lm);

	if (up < 0 || (bool)up == fo->link_up)
		return;
	fo->link_up = up;
	log_notice("link %s is %s", fo->fc->interface, up ? "up" : "down");
	fo_step(fo, up ? FSM_EV_LINK_UP : FSM_EV_LINK_DOWN, NULL);
}

static int on_link_ready(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct fo *fo = ud;

	link_mon_drain(fo->lm);
	link_refresh(fo);
	return 0;
}

static void check_result(struct fo *fo, bool ok, const char *why)
{
	if (ok == fo->check_ok)
		return;
	fo->check_ok = ok;
	log_notice("check %s: %s", fo->fc->check, why);
	fo_step(fo, ok ? FSM_EV_CHECK_OK : FSM_EV_CHECK_FAIL, NULL);
}

/* Collect a running check script; called from the tick. */
static void check_poll(struct fo *fo)
{
	pid_t w;
	int st;

	if (fo->check_pid <= 0)
		return;
	w = waitpid(fo->check_pid, &st, WNOHANG);
	if (w == fo->check_pid) {
		fo->check_pid = 0;
		check_result(fo, WIFEXITED(st) && WEXITSTATUS(st) == 0,
			     WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
	} else if (fo_now_ms() - fo->check_started_ms > fo->fc->check_timeout_ms) {
		hooks_kill(fo->check_pid);
		fo->check_pid = 0;
		check_result(fo, false, "timed out");
	}
}

static int on_check_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fo *fo = ud;
	pid_t pid;

	if (fo->check_pid <= 0) {
		pid = hooks_spawn(fo->fc->check, NULL);
		if (pid < 0) {
			check_result(fo, false, "cannot start");
		} else {
			fo->check_pid = pid;
			fo->check_started_ms = fo_now_ms();
		}
	}
	rearm(s, fo->fc->check_interval_ms);
	return 0;
}

/* A tick half an interval late or more: this node did not run, and when
 * the whole machine stops (a paused VM, every CPU held by the kernel) the
 * peer's heartbeats stop with it.  The fsm then gives the peer one
 * interval after the stall before it counts as dead (fsm_note_stall). */
static void note_stall(struct fo *fo, uint64_t due_us)
{
	uint64_t now = 0;

	if (sd_event_now(fo->ev, CLOCK_MONOTONIC, &now) < 0 || now <= due_us ||
	    now - due_us < (uint64_t)fo->fc->interval_ms * 500)
		return;
	fo->stalls++;
	/* short stalls are frequent on a busy machine: counted, logged at
	 * debug; one of a whole interval or more is worth a line */
	if (now - due_us >= (uint64_t)fo->fc->interval_ms * 1000)
		log_info("loop woke %" PRIu64 " ms late (this node stalled): the peer "
			 "gets one interval from now", (now - due_us) / 1000);
	else
		log_debug("loop woke %" PRIu64 " ms late (this node stalled)",
			  (now - due_us) / 1000);
	fsm_note_stall(&fo->fsm, fo_now_ms());
}

/* The fsm ticks every interval / 5, and exactly when the peer would count
 * as dead, so detection does not wait for the next regular tick. */
static int on_tick(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fo *fo = ud;
	int64_t t = fo->fc->interval_ms / 5, until;

	note_stall(fo, usec);
	rt_poll(fo_now_ms());
	fsm_set_local_position(&fo->fsm, (uint64_t)pos_get(fo->pos));
	check_poll(fo);
	notify_poll(fo->notify);
	hb_drain(fo);
	fo_step(fo, FSM_EV_TICK, NULL);
	if (t < 2)
		t = 2;
	until = fsm_dead_at(&fo->fsm) - fo_now_ms();
	if (until < t)
		t = until < 1 ? 1 : until;
	rearm(s, (uint64_t)t);
	return 0;
}

static int on_grace(sd_event_source *s, uint64_t usec, void *ud)
{
	fo_step(ud, FSM_EV_GRACE_OVER, NULL);
	return 0;
}

static int on_ctl(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	int r = control_on_ready(ud);

	if (r < 0)
		log_warn("control socket: %s", strerror(-r));
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
	log_notice("signal %u: shutting down", si->ssi_signo);
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* ---- start-up ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: failoverd [-fnv] [-c FILE]\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -f, --foreground   stay in the foreground, log to stderr\n"
		"  -n, --check        check the configuration and exit\n"
		"  -v, --verbose      more logging; with -n print the effective config\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"Exit status: 0 ok, 1 runtime error, 2 configuration error,\n"
		"3 start-up error (sockets, netlink, privileges).\n",
		CONF_DEFAULT_PATH);
}

struct opts {
	const char *config;
	bool foreground, check_only;
	int verbose;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config = CONF_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:fnvhV", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'f': o->foreground = true; break;
		case 'n': o->check_only = true; break;
		case 'v': o->verbose++; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("failoverd %s\n", PACKAGE_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

static int load_config(struct fo *fo, const struct opts *o)
{
	char err[512];
	int r;

	r = conf_load(o->config, &fo->conf, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "failoverd: %s\n", err);
		return r;
	}
	fo->fc = &fo->conf.failover;
	if (!fo->fc->enabled) {
		fprintf(stderr, "failoverd: %s: no [failover] section\n", o->config);
		return -EINVAL;
	}
	if (strlen(fo->conf.node_name) > FSM_NAME_MAX) {
		fprintf(stderr, "failoverd: %s: node name longer than %d\n", o->config,
			FSM_NAME_MAX);
		return -EINVAL;
	}
	r = hmac_key_load(fo->fc->key_file, &fo->key, &fo->key_len);
	if (r < 0) {
		fprintf(stderr, "failoverd: key_file %s: %s\n", fo->fc->key_file,
			r == -EPERM ? "must be a regular file not accessible by group or other"
			: r == -EINVAL ? "key must be 16..1024 bytes" : strerror(-r));
		return r;
	}
	if (asprintf(&fo->state_path, "%s/failoverd.state", fo->conf.state_dir) < 0 ||
	    asprintf(&fo->ctl_path, "%s-failoverd", fo->conf.control_socket) < 0)
		return -ENOMEM;
	return 0;
}

static int open_hb(struct fo *fo)
{
	const struct conf_addr *l = &fo->fc->listen;
	int fd, one = 1;

	fd = socket(l->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&l->ss, l->len) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	/* heartbeats go first on a busy link; the receive time is the
	 * kernel's, not the time the loop got round to reading */
	int prio = 6;
	if (setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio)) < 0)
		log_warn("heartbeat socket: SO_PRIORITY: %m; heartbeats queue with other traffic");
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		log_warn("heartbeat socket: SO_TIMESTAMPNS: %m; heartbeats count from when they are read");
	fo->hb_fd = fd;
	return 0;
}

static int open_net(struct fo *fo)
{
	const char *step;
	int r;

	step = "VIP (netlink)";
	r = vip_new(fo->fc->interface, fo->fc->vip, &fo->vip);
	if (r == 0) {
		step = "link monitor (netlink)";
		r = link_mon_new(fo->fc->interface, &fo->lm);
	}
	if (r == 0) {
		step = "packet socket";
		r = garp_open(fo->fc->interface, &fo->ifindex, fo->mac);
		if (r >= 0)
			fo->garp_fd = r;
	}
	if (r >= 0 && vip_family(fo->vip) == AF_INET6) {
		step = "ICMPv6 socket";
		r = na_open(fo->ifindex);
		if (r >= 0) {
			struct in6_addr a6 = vip_in6(fo->vip);

			fo->na_fd = r;
			r = na_build(fo->garp_pkt, sizeof(fo->garp_pkt), fo->mac, &a6);
		}
	} else if (r >= 0) {
		r = garp_build(fo->garp_pkt, sizeof(fo->garp_pkt), fo->mac,
			       vip_in4(fo->vip));
	}
	if (r >= 0)
		fo->garp_len = (size_t)r;
	if (r >= 0) {
		step = "heartbeat socket";
		r = open_hb(fo);
	}
	if (r >= 0) {
		step = "control socket";
		r = control_open(fo);
	}
	if (r < 0)
		log_err("start-up: %s: %s", step, strerror(-r));
	return r < 0 ? r : 0;
}

static int init_state(struct fo *fo)
{
	struct fsm_config fc = {
		.name = fo->conf.node_name,
		.priority = (uint8_t)fo->fc->priority,
		.interval_ms = fo->fc->interval_ms,
		.dead_after = fo->fc->dead_after,
		.max_lag_sec = fo->fc->max_lag_sec,
		.preempt = fo->fc->preempt,
	};
	struct fsm_persist p;
	int r;

	if (mkdir(fo->conf.state_dir, 0700) < 0 && errno != EEXIST)
		log_warn("state_dir %s: %m", fo->conf.state_dir);
	r = state_load(fo->state_path, &p);
	if (r < 0) {
		log_err("state file %s: %s", fo->state_path, strerror(-r));
		return r;
	}
	fsm_init(&fo->fsm, &fc, &p, fo_now_ms());
	log_notice("starting as %s: term %" PRIu64 ", was master %s%s",
		   fo->conf.node_name, p.term, p.was_master ? "yes" : "no",
		   p.stale ? ", STALE until mirror-restore clears it" : "");
	/* time-based start keeps sequence numbers increasing across restarts */
	fo->seq = wall_us();
	fo->check_ok = true;
	fo->link_up = true;
	return 0;
}

/* We are not the holder at start-up: a VIP left behind by a crash goes. */
static void release_leftover(struct fo *fo)
{
	if (vip_present(fo->vip) != 1)
		return;
	log_warn("VIP %s found on %s at start-up (left by a crash?), removing it",
		 fo->fc->vip, fo->fc->interface);
	if (vip_del(fo->vip) < 0)
		log_err("removing leftover VIP %s failed", fo->fc->vip);
}

static int add_timer(struct fo *fo, sd_event_source **ret, uint64_t ms,
		     sd_event_time_handler_t cb, int64_t prio)
{
	sd_event_source *s = NULL;
	uint64_t now = 0;
	int r;

	r = sd_event_now(fo->ev, CLOCK_MONOTONIC, &now);
	if (r >= 0)
		r = sd_event_add_time(fo->ev, &s, CLOCK_MONOTONIC, now + ms * 1000, 1,
				      cb, fo);
	if (r >= 0)
		r = sd_event_source_set_priority(s, prio);
	if (r < 0)
		return r;
	if (ret)
		*ret = s;
	else
		sd_event_source_set_floating(s, 1);
	return 0;
}

static int add_io(struct fo *fo, int fd, sd_event_io_handler_t cb, int64_t prio)
{
	sd_event_source *s = NULL;
	int r = sd_event_add_io(fo->ev, &s, fd, EPOLLIN, cb, fo);

	if (r >= 0)
		r = sd_event_source_set_priority(s, prio);
	if (r >= 0)
		r = sd_event_source_set_floating(s, 1);
	return r;
}

static int setup_loop(struct fo *fo)
{
	sigset_t ss;
	int r;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGCHLD);        /* the notify hook is a child source */
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		return -errno;
	r = sd_event_default(&fo->ev);
	if (r >= 0) r = sd_event_add_signal(fo->ev, NULL, SIGTERM, on_signal, fo);
	if (r >= 0) r = sd_event_add_signal(fo->ev, NULL, SIGINT, on_signal, fo);
	if (r >= 0) r = sd_event_set_watchdog(fo->ev, true);
	if (r >= 0) r = add_timer(fo, &fo->tick_timer, 1, on_tick, SD_EVENT_PRIORITY_IMPORTANT + 1);
	if (r >= 0) r = add_timer(fo, NULL, fo->fc->startup_grace_ms, on_grace, 0);
	if (r >= 0) r = add_timer(fo, &fo->garp_timer, 0, on_garp_timer, 0);
	if (r >= 0) r = sd_event_source_set_enabled(fo->garp_timer, SD_EVENT_OFF);
	if (r >= 0) r = add_timer(fo, &fo->hook_timer, 0, on_hook_timeout, SD_EVENT_PRIORITY_IMPORTANT + 2);
	if (r >= 0) r = sd_event_source_set_enabled(fo->hook_timer, SD_EVENT_OFF);
	if (r >= 0 && fo->fc->check)
		r = add_timer(fo, &fo->check_timer, 0, on_check_timer, 1);
	if (r >= 0) r = add_io(fo, fo->hb_fd, on_hb_ready, SD_EVENT_PRIORITY_IMPORTANT);
	if (r >= 0) r = add_io(fo, link_mon_fd(fo->lm), on_link_ready, 0);
	if (r >= 0) r = add_io(fo, fo->ctl_fd, on_ctl, SD_EVENT_PRIORITY_IDLE);
	return r < 0 ? r : 0;
}

static void shutdown_fo(struct fo *fo)
{
	if (fo->hook_pid > 0) {
		log_warn("notify %s %s: killed on shutdown", fo->fc->notify,
			 fsm_state_name(fo->hook_state));
		hooks_kill(fo->hook_pid);
		fo->hook_pid = 0;
	}
	/* a release may still have been waiting for the hook: the VIP goes
	 * whenever it is there */
	if (fo->fsm.state == FSM_MASTER || fo->seq_n > 0 || vip_present(fo->vip) == 1) {
		int r = vip_del(fo->vip);

		log_notice("releasing VIP %s on shutdown: %s", fo->fc->vip,
			   r < 0 ? strerror(-r) : "ok");
		mirror_demote(fo);
	}
	if (fo->check_pid > 0)
		hooks_kill(fo->check_pid);
	/* the last transition's notification gets a moment to go out */
	(void)notify_drain(fo->notify, fo->conf.notify_timeout_ms < 1000 ?
			   fo->conf.notify_timeout_ms : 1000);
	notify_free(fo->notify);
	fo->notify = NULL;
	hbtx_stop(fo->tx);
	fo->tx = NULL;
	pos_stop(fo->pos);
	fo->pos = NULL;
	control_close(fo);
}

static void free_fo(struct fo *fo)
{
	sd_event_source_unref(fo->tick_timer);
	sd_event_source_unref(fo->garp_timer);
	sd_event_source_unref(fo->check_timer);
	sd_event_source_unref(fo->hook_child);
	sd_event_source_unref(fo->hook_timer);
	sd_event_unref(fo->ev);
	vip_free(fo->vip);
	link_mon_free(fo->lm);
	if (fo->hb_fd >= 0)
		close(fo->hb_fd);
	if (fo->garp_fd >= 0)
		close(fo->garp_fd);
	if (fo->na_fd >= 0)
		close(fo->na_fd);
	hmac_key_free(fo->key, fo->key_len);
	free(fo->state_path);
	free(fo->ctl_path);
	conf_free(&fo->conf);
}

/* A heartbeat daemon that runs a few microseconds per interval has every
 * reason to preempt CPU hogs: a heartbeat 60 ms late on a busy machine is
 * a false takeover at a 20 ms interval (measured, doc/failover.md).  Must
 * run before the capability drop (CAP_SYS_NICE, CAP_IPC_LOCK). */
static void use_realtime(struct fo *fo)
{
	if (!fo->fc->realtime) {
		log_info("scheduling: normal (realtime = no)");
		return;
	}
	(void)rt_start();
}

/* Heartbeat sender threads: before the capability drop, which each of
 * them does for itself (hbtx.h). */
static int start_tx(struct fo *fo)
{
	struct hbtx_config c = {
		.fd = fo->hb_fd,
		.peer = (const struct sockaddr *)&fo->fc->peer.ss,
		.peer_len = fo->fc->peer.len,
		.key = fo->key,
		.key_len = fo->key_len,
		.interval_ms = fo->fc->interval_ms,
		.realtime = rt_active(),
		.rt_priority = RT_PRIORITY,
	};
	struct fsm_peer n;

	tx_template(fo, &n);
	return hbtx_start(&c, &n, fo->seq, &fo->tx);
}

/* The replication position comes from the local mirrord, by a thread of
 * its own (pos.h), started after the capability drop so it holds none. */
static void start_pos(struct fo *fo)
{
	int r;

	if (fo->conf.n_mirrors == 0) {
		log_info("replication position: no [mirror] configured, advertising none");
		return;
	}
	r = pos_start(mirrord_ctl_path(fo), caps_clear_all, &fo->pos);
	if (r < 0)
		log_warn("replication position: cannot start its thread: %s; "
			 "advertising none", strerror(-r));
	else
		hbtx_set_pos(fo->tx, fo->pos);
}

static int run(struct fo *fo)
{
	int r;

	if (open_net(fo) < 0 || init_state(fo) < 0)
		return EXIT_SETUP;
	release_leftover(fo);
	use_realtime(fo);
	r = start_tx(fo);
	if (r < 0) {
		log_err("cannot start the heartbeat threads: %s", strerror(-r));
		return EXIT_SETUP;
	}
	r = caps_keep_net();
	if (r < 0) {
		log_err("cannot drop capabilities to CAP_NET_ADMIN+CAP_NET_RAW");
		return EXIT_SETUP;
	}
	r = setup_loop(fo);
	if (r < 0) {
		log_err("event loop set-up: %s", strerror(-r));
		return EXIT_SETUP;
	}
	/* [node] notify gets the transitions too, unless it is the very hook
	 * [failover] notify already runs for them */
	if (fo->conf.notify && !(fo->fc->notify && strcmp(fo->conf.notify, fo->fc->notify) == 0)) {
		fo->notify = notify_new(fo->conf.notify, fo->conf.notify_timeout_ms,
					fo->conf.notify_repeat_sec, fo->conf.node_name);
		notify_set_child_setup(fo->notify, hooks_child_setup);
	}
	start_pos(fo);
	link_refresh(fo);
	(void)sd_notify(0, "READY=1");
	log_notice("running: %s on %s, VIP %s, peer %s, interval %u ms x %u",
		   fo->conf.node_name, fo->fc->interface, fo->fc->vip,
		   fo->fc->peer.text, fo->fc->interval_ms, fo->fc->dead_after);
	r = sd_event_loop(fo->ev);
	(void)sd_notify(0, "STOPPING=1");
	shutdown_fo(fo);
	if (r < 0)
		log_err("event loop: %s", strerror(-r));
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct fo fo = { .hb_fd = -1, .ctl_fd = -1, .garp_fd = -1, .na_fd = -1 };
	struct opts o = { 0 };
	int rc;

	if (parse_opts(argc, argv, &o) < 0)
		return EXIT_CONFIG;
	if (load_config(&fo, &o) < 0) {
		free_fo(&fo);
		return EXIT_CONFIG;
	}
	if (o.check_only) {
		if (o.verbose)
			conf_print(&fo.conf, stdout);
		free_fo(&fo);
		return 0;
	}
	log_open("failoverd", o.foreground, o.verbose ? LOG_DEBUG : LOG_INFO);
	rc = run(&fo);
	free_fo(&fo);
	return rc;
}
