/* fsm: failoverd's state machine (see fsm.h; diagram in doc/failover.md). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fsm.h"

static const char *const state_names[FSM_STATE_COUNT] = {
	[FSM_INIT] = "init",
	[FSM_BACKUP] = "backup",
	[FSM_MASTER] = "master",
	[FSM_FAULT] = "fault",
	[FSM_STALE] = "stale",
};

const char *fsm_state_name(enum fsm_state s)
{
	if ((unsigned)s >= FSM_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

int fsm_state_parse(const char *name, enum fsm_state *ret)
{
	for (unsigned i = 0; i < FSM_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*ret = (enum fsm_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

int fsm_cmp(uint64_t a_term, uint8_t a_prio, const char *a_name,
	    uint64_t b_term, uint8_t b_prio, const char *b_name)
{
	int c;

	if (a_term != b_term)
		return a_term > b_term ? 1 : -1;
	if (a_prio != b_prio)
		return a_prio > b_prio ? 1 : -1;
	c = strcmp(a_name, b_name);
	return c > 0 ? 1 : (c < 0 ? -1 : 0);
}

void fsm_init(struct fsm *f, const struct fsm_config *cfg,
	      const struct fsm_persist *p, int64_t now_ms)
{
	memset(f, 0, sizeof(*f));
	f->cfg = *cfg;
	if (p)
		f->p = *p;
	f->state = f->p.stale ? FSM_STALE : FSM_INIT;
	f->since_ms = now_ms;
	f->last_change_ms = now_ms;
	f->link_up = true;
	f->check_ok = true;
	snprintf(f->last_reason, sizeof(f->last_reason), "%s",
		 f->p.stale ? "stale at start-up (state file)" : "start-up");
}

void fsm_set_local_position(struct fsm *f, uint64_t position)
{
	f->local_position = position;
}

uint8_t fsm_advertised_priority(const struct fsm *f)
{
	return f->hold ? 0 : f->cfg.priority;
}

static void note(struct fsm_out *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct fsm_out *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

/* Forget what the peer last said.  Used on the way into and out of FAULT:
 * while our link is down we hear nothing, so the cached view (typically
 * "peer is BACKUP, term T") goes stale exactly when the peer is most likely
 * to change state (it takes over).  Deciding an election on it right after
 * the link returns made a returning master depose the node that had taken
 * over.  With the view forgotten, BACKUP waits for a fresh heartbeat (or a
 * full dead time of silence) before deciding anything. */
static void forget_peer(struct fsm *f)
{
	f->peer_seen = false;
	f->peer_last_ms = 0;
}

/* Move to state "to"; the reason is already in out->reason. */
static void enter(struct fsm *f, struct fsm_out *out, enum fsm_state to,
		  int64_t now)
{
	if (f->state == FSM_MASTER && to != FSM_MASTER)
		out->actions |= FSM_ACT_VIP_DEL | FSM_ACT_MIRROR_DEMOTE;
	/* Entering FAULT: the peer view is about to go out of date.  Leaving
	 * FAULT for BACKUP: only heartbeats heard from now on may drive an
	 * election (any "deposed" verdict was taken before this point). */
	if ((to == FSM_FAULT && f->state != FSM_FAULT) ||
	    (f->state == FSM_FAULT && to == FSM_BACKUP))
		forget_peer(f);
	if (to == FSM_STALE && !f->p.stale) {
		f->p.stale = true;
		out->actions |= FSM_ACT_PERSIST;
	}
	f->state = to;
	f->since_ms = now;
	f->last_change_ms = now;
	f->lag_noted = false;
	snprintf(f->last_reason, sizeof(f->last_reason), "%s", out->reason);
	out->to = to;
	out->actions |= FSM_ACT_SEND_HB | FSM_ACT_NOTIFY;
}

static bool eligible(const struct fsm *f)
{
	return f->link_up && f->check_ok;
}

static int64_t dead_ms(const struct fsm *f)
{
	return (int64_t)f->cfg.dead_after * f->cfg.interval_ms;
}

/* Last heard, counting from entry into the current state at the earliest,
 * so a node leaving FAULT listens a full dead time first. */
static int64_t heard_ref(const struct fsm *f)
{
	int64_t ref = f->since_ms;

	if (f->peer_seen && f->peer_last_ms > ref)
		ref = f->peer_last_ms;
	return ref;
}

/* The last instant the peer still counts as alive (see fsm_note_stall). */
static int64_t alive_until(const struct fsm *f)
{
	int64_t ref = heard_ref(f), until = ref + dead_ms(f);

	if (f->stall_end_ms > ref && f->stall_end_ms + f->cfg.interval_ms > until)
		until = f->stall_end_ms + f->cfg.interval_ms;
	return until;
}

static bool peer_alive(const struct fsm *f, int64_t now)
{
	return now <= alive_until(f);
}

int64_t fsm_dead_at(const struct fsm *f)
{
	if (f->state != FSM_BACKUP)
		return INT64_MAX;
	return alive_until(f) + 1;
}

void fsm_note_stall(struct fsm *f, int64_t end_ms)
{
	if (end_ms > f->stall_end_ms)
		f->stall_end_ms = end_ms;
}

/* A node that was master and hears a master with a newer term was deposed. */
static bool deposed(const struct fsm *f)
{
	return f->peer_seen && f->p.was_master && f->peer.state == FSM_MASTER &&
	       f->peer.term > f->p.term;
}

static int64_t lag_ms(const struct fsm *f)
{
	if (!f->peer_seen || f->peer.position == 0)
		return -1;
	if (f->peer.position >= f->peer.sent_ms)
		return 0;
	return (int64_t)(f->peer.sent_ms - f->peer.position);
}

int64_t fsm_lag_ms(const struct fsm *f)
{
	return lag_ms(f);
}

static void takeover(struct fsm *f, struct fsm_out *out, int64_t now)
{
	uint64_t t = f->p.term;

	if (f->peer_seen && f->peer.term > t)
		t = f->peer.term;
	f->p.term = t + 1;
	f->p.was_master = true;
	f->p.stale = false;
	f->hold = false;
	out->lag_ms = lag_ms(f);
	out->actions |= FSM_ACT_MIRROR_PROMOTE | FSM_ACT_VIP_ADD | FSM_ACT_GARP |
			FSM_ACT_PERSIST;
	enter(f, out, FSM_MASTER, now);
}

/* Automatic takeover, refused when the copy lags more than max_lag_sec. */
static void auto_takeover(struct fsm *f, struct fsm_out *out, int64_t now)
{
	int64_t lag = lag_ms(f);

	if (f->cfg.max_lag_sec && lag > (int64_t)f->cfg.max_lag_sec * 1000) {
		if (!f->lag_noted) {
			note(out, "refusing to promote: copy lags %lld ms > max_lag %u s",
			     (long long)lag, f->cfg.max_lag_sec);
			out->actions |= FSM_ACT_NOTE;
			out->lag_ms = lag;
			f->lag_noted = true;
		}
		return;
	}
	takeover(f, out, now);
}

static void adopt_term(struct fsm *f, struct fsm_out *out)
{
	if (f->peer.term > f->p.term) {
		f->p.term = f->peer.term;
		out->actions |= FSM_ACT_PERSIST;
	}
}

static void record_peer(struct fsm *f, const struct fsm_event *ev, int64_t now)
{
	int64_t at = ev->heard_ms > 0 && ev->heard_ms < now ? ev->heard_ms : now;

	if (f->peer_seen && at < f->peer_last_ms)
		at = f->peer_last_ms;      /* never move the last-heard time back */
	f->peer = ev->peer;
	f->peer_seen = true;
	f->peer_last_ms = at;
	if (ev->peer.state == FSM_MASTER)
		f->hold = false;
}

/* BACKUP: decide whether to take the VIP given what the peer says. */
static void backup_eval(struct fsm *f, struct fsm_out *out, int64_t now)
{
	const struct fsm_peer *pe = &f->peer;

	if (deposed(f)) {
		note(out, "deposed: peer %s is master with term %llu > ours %llu",
		     pe->name, (unsigned long long)pe->term,
		     (unsigned long long)f->p.term);
		enter(f, out, FSM_STALE, now);
		return;
	}
	adopt_term(f, out);
	if (!peer_alive(f, now)) {
		note(out, "peer %s silent for more than %lld ms",
		     f->peer_seen ? pe->name : "(never heard)", (long long)dead_ms(f));
		auto_takeover(f, out, now);
		return;
	}
	if (!f->peer_seen)
		return;
	switch (pe->state) {
	case FSM_MASTER:
		if (f->cfg.preempt && !f->hold && f->cfg.priority > pe->priority) {
			note(out, "preempting peer %s (priority %u > %u)", pe->name,
			     f->cfg.priority, pe->priority);
			takeover(f, out, now);
		}
		break;
	case FSM_STALE:
		if (f->hold && now - f->hold_since_ms < FSM_HOLD_STALE_MS)
			break;          /* demoted for a failback: the peer takes over */
		/* fall through */
	case FSM_FAULT:
		note(out, "peer %s is %s%s", pe->name, fsm_state_name(pe->state),
		     f->hold ? " and the demote hold expired" : "");
		auto_takeover(f, out, now);
		break;
	case FSM_BACKUP:
		if (fsm_cmp(f->p.term, fsm_advertised_priority(f), f->cfg.name,
			    pe->term, pe->priority, pe->name) > 0) {
			note(out, "election won against backup %s", pe->name);
			takeover(f, out, now);
		}
		break;
	default:
		break;
	}
}

/* The peer gave up the VIP after a dual-master episode.  Its last
 * announcements may have come after ours and left the neighbours pointing
 * at it; announce once more so they point here.  Without this, a client
 * could wait for the next periodic refresh after a healed partition. */
static void peer_left_master(struct fsm *f, struct fsm_out *out)
{
	note(out, "peer %s left MASTER (now %s), re-announcing", f->peer.name,
	     fsm_state_name(f->peer.state));
	out->actions |= FSM_ACT_NOTE | FSM_ACT_GARP;
}

static void master_hb(struct fsm *f, struct fsm_out *out, int64_t now, bool was_master)
{
	const struct fsm_peer *pe = &f->peer;

	if (pe->state != FSM_MASTER) {
		if (was_master)
			peer_left_master(f, out);
		return;
	}
	if (fsm_cmp(pe->term, pe->priority, pe->name, f->p.term,
		    fsm_advertised_priority(f), f->cfg.name) > 0) {
		note(out, "dual master: peer %s wins (term %llu prio %u)", pe->name,
		     (unsigned long long)pe->term, pe->priority);
		if (pe->term > f->p.term) {      /* it took over from us */
			enter(f, out, FSM_STALE, now);
			return;
		}
		/* same term: a start-up race, nobody was deposed */
		f->p.was_master = false;
		out->actions |= FSM_ACT_PERSIST;
		enter(f, out, FSM_BACKUP, now);
		return;
	}
	note(out, "dual master: peer %s claims the VIP, we win (term %llu), re-announcing",
	     pe->name, (unsigned long long)f->p.term);
	out->actions |= FSM_ACT_NOTE | FSM_ACT_GARP | FSM_ACT_SEND_HB;
}

static void to_fault(struct fsm *f, struct fsm_out *out, int64_t now)
{
	note(out, "%s", !f->link_up ? "own link down" : "check script failing");
	enter(f, out, FSM_FAULT, now);
}

/* Link or check state changed; flags are already updated. */
static void health_changed(struct fsm *f, struct fsm_out *out, int64_t now)
{
	switch (f->state) {
	case FSM_BACKUP:
	case FSM_MASTER:
		if (!eligible(f))
			to_fault(f, out, now);
		break;
	case FSM_FAULT:
		if (!eligible(f))
			break;
		if (deposed(f)) {
			note(out, "healthy again, but deposed by peer %s (term %llu)",
			     f->peer.name, (unsigned long long)f->peer.term);
			enter(f, out, FSM_STALE, now);
		} else {
			note(out, "link up and check ok");
			enter(f, out, FSM_BACKUP, now);
		}
		break;
	default:
		break;
	}
}

static void on_hb(struct fsm *f, const struct fsm_event *ev, int64_t now,
		  struct fsm_out *out)
{
	bool was_master = f->peer_seen && f->peer.state == FSM_MASTER;

	record_peer(f, ev, now);
	switch (f->state) {
	case FSM_INIT:
		if (deposed(f)) {
			note(out, "start-up: peer %s is master with term %llu > ours %llu",
			     f->peer.name, (unsigned long long)f->peer.term,
			     (unsigned long long)f->p.term);
			enter(f, out, FSM_STALE, now);
		} else if (ev->peer.state == FSM_MASTER) {
			adopt_term(f, out);
			note(out, "start-up: peer %s is master", f->peer.name);
			enter(f, out, eligible(f) ? FSM_BACKUP : FSM_FAULT, now);
			if (f->state == FSM_BACKUP && f->cfg.preempt)
				backup_eval(f, out, now);
		}
		break;
	case FSM_BACKUP:
		backup_eval(f, out, now);
		break;
	case FSM_MASTER:
		master_hb(f, out, now, was_master);
		break;
	case FSM_FAULT:
		if (deposed(f)) {
			note(out, "deposed while in fault: peer %s term %llu",
			     f->peer.name, (unsigned long long)f->peer.term);
			enter(f, out, FSM_STALE, now);
		}
		break;
	default:
		break;
	}
}

static void on_grace_over(struct fsm *f, int64_t now, struct fsm_out *out)
{
	f->grace_over = true;
	if (f->state != FSM_INIT)
		return;
	if (!eligible(f)) {
		to_fault(f, out, now);
		return;
	}
	if (f->peer_seen && peer_alive(f, now)) {
		note(out, "start-up grace over, peer %s heard", f->peer.name);
		enter(f, out, FSM_BACKUP, now);
		backup_eval(f, out, now);
		return;
	}
	note(out, "start-up grace over, no peer heard");
	takeover(f, out, now);
}

static int on_promote(struct fsm *f, int64_t now, struct fsm_out *out)
{
	if (f->state == FSM_MASTER)
		return 0;
	if (f->state != FSM_BACKUP) {
		note(out, "promote refused in state %s%s", fsm_state_name(f->state),
		     f->state == FSM_STALE ? ": run mirror-restore first" : "");
		out->actions |= FSM_ACT_NOTE;
		return -EPERM;
	}
	note(out, "admin promote");
	takeover(f, out, now);
	return 0;
}

static int on_demote(struct fsm *f, int64_t now, struct fsm_out *out)
{
	if (f->state != FSM_MASTER && f->state != FSM_BACKUP) {
		note(out, "demote refused in state %s", fsm_state_name(f->state));
		out->actions |= FSM_ACT_NOTE;
		return -EPERM;
	}
	f->hold = true;
	f->hold_since_ms = now;
	out->actions |= FSM_ACT_SEND_HB;
	if (f->state == FSM_BACKUP)
		return 0;
	f->p.was_master = false;
	out->actions |= FSM_ACT_PERSIST;
	note(out, "admin demote");
	enter(f, out, FSM_BACKUP, now);
	return 0;
}

static int on_clear_stale(struct fsm *f, int64_t now, struct fsm_out *out)
{
	if (f->state != FSM_STALE) {
		note(out, "clear-stale refused: not stale (%s)", fsm_state_name(f->state));
		out->actions |= FSM_ACT_NOTE;
		return -EPERM;
	}
	f->p.stale = false;
	f->p.was_master = false;
	if (f->peer_seen && f->peer.term > f->p.term)
		f->p.term = f->peer.term;
	out->actions |= FSM_ACT_PERSIST;
	note(out, "stale cleared");
	enter(f, out, eligible(f) ? FSM_BACKUP : FSM_FAULT, now);
	return 0;
}

static void on_health(struct fsm *f, const struct fsm_event *ev, int64_t now,
		      struct fsm_out *out)
{
	switch (ev->type) {
	case FSM_EV_LINK_UP: f->link_up = true; break;
	case FSM_EV_LINK_DOWN: f->link_up = false; break;
	case FSM_EV_CHECK_OK: f->check_ok = true; break;
	default: f->check_ok = false; break;
	}
	health_changed(f, out, now);
}

int fsm_step(struct fsm *f, const struct fsm_event *ev, int64_t now_ms,
	     struct fsm_out *out)
{
	memset(out, 0, sizeof(*out));
	out->from = out->to = f->state;
	out->lag_ms = -1;
	switch (ev->type) {
	case FSM_EV_TICK:
		if (f->state == FSM_BACKUP)
			backup_eval(f, out, now_ms);
		return 0;
	case FSM_EV_HB:
		on_hb(f, ev, now_ms, out);
		return 0;
	case FSM_EV_LINK_UP:
	case FSM_EV_LINK_DOWN:
	case FSM_EV_CHECK_OK:
	case FSM_EV_CHECK_FAIL:
		on_health(f, ev, now_ms, out);
		return 0;
	case FSM_EV_GRACE_OVER:
		on_grace_over(f, now_ms, out);
		return 0;
	case FSM_EV_PROMOTE:
		return on_promote(f, now_ms, out);
	case FSM_EV_DEMOTE:
		return on_demote(f, now_ms, out);
	case FSM_EV_CLEAR_STALE:
		return on_clear_stale(f, now_ms, out);
	}
	return -EINVAL;
}
