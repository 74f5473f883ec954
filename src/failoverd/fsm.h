/* fsm: failoverd's state machine.  Pure logic: it takes events and "now"
 * (milliseconds on a monotonic clock) and returns actions; it does no I/O and
 * reads no clock, so it is unit-tested with a fake clock.
 *
 * States: INIT (start-up grace), BACKUP, MASTER (holds the VIP), FAULT (own
 * link down or check failing), STALE (was master, was deposed by a takeover
 * of the peer; never takes the VIP until cleared).  The diagram is in
 * doc/failover.md and failoverd(8).
 *
 * The caller runs the returned actions in this order: MIRROR_PROMOTE,
 * VIP_ADD, GARP, on the way up; VIP_DEL, MIRROR_DEMOTE on the way down; then
 * PERSIST, SEND_HB and finally NOTIFY with the new state. */
#ifndef FAILOVERD_FSM_H
#define FAILOVERD_FSM_H

#include <stdbool.h>
#include <stdint.h>

#define FSM_NAME_MAX 64

enum fsm_state {
	FSM_INIT = 0,
	FSM_BACKUP,
	FSM_MASTER,
	FSM_FAULT,
	FSM_STALE,
	FSM_STATE_COUNT
};

enum fsm_event_type {
	FSM_EV_TICK,            /* time passes */
	FSM_EV_HB,              /* a verified heartbeat from the peer */
	FSM_EV_LINK_UP,
	FSM_EV_LINK_DOWN,
	FSM_EV_CHECK_OK,
	FSM_EV_CHECK_FAIL,
	FSM_EV_GRACE_OVER,      /* start-up grace period elapsed */
	FSM_EV_PROMOTE,         /* admin */
	FSM_EV_DEMOTE,          /* admin */
	FSM_EV_CLEAR_STALE,     /* restore succeeded (or admin forces it) */
};

/* What a peer said about itself in a heartbeat. */
struct fsm_peer {
	char name[FSM_NAME_MAX + 1];
	enum fsm_state state;
	uint8_t priority;
	uint64_t term;
	/* Replication position (pos.h): on the sender's wall clock, ms since
	 * the epoch, the sinks of its source mirrors hold every change made
	 * before it; 0 = unknown (no source mirror, mirrord not reached). */
	uint64_t position;
	uint64_t sent_ms;       /* the sender's wall clock when it sent this */
};

struct fsm_event {
	enum fsm_event_type type;
	struct fsm_peer peer;   /* FSM_EV_HB only */
	/* FSM_EV_HB only: when the heartbeat arrived (the kernel's receive
	 * time), 0 = now.  A heartbeat that waited in the socket because the
	 * loop woke late counts from its arrival, not from when it was read. */
	int64_t heard_ms;
};

enum fsm_action {
	FSM_ACT_MIRROR_PROMOTE = 1 << 0,
	FSM_ACT_VIP_ADD = 1 << 1,
	FSM_ACT_GARP = 1 << 2,
	FSM_ACT_VIP_DEL = 1 << 3,
	FSM_ACT_MIRROR_DEMOTE = 1 << 4,
	FSM_ACT_PERSIST = 1 << 5,      /* term / was_master / stale changed */
	FSM_ACT_SEND_HB = 1 << 6,      /* send a heartbeat now */
	FSM_ACT_NOTIFY = 1 << 7,       /* run the notify hook with the new state */
	FSM_ACT_NOTE = 1 << 8,         /* log out->reason, no state change */
};

struct fsm_out {
	unsigned actions;              /* enum fsm_action bits */
	enum fsm_state from, to;
	char reason[128];              /* why, when a transition or NOTE happens */
	int64_t lag_ms;                /* RPO estimate at takeover (fsm_lag_ms),
					* -1 = unknown */
};

struct fsm_config {
	const char *name;              /* borrowed for the life of the fsm */
	uint8_t priority;              /* 1..254 */
	uint32_t interval_ms;
	uint32_t dead_after;           /* missed intervals */
	uint32_t max_lag_sec;          /* 0 = promote whatever the lag */
	bool preempt;
};

/* What survives a restart (the state file). */
struct fsm_persist {
	uint64_t term;
	bool was_master;
	bool stale;
};

/* After an admin demote (the failback of mirror-restore), a STALE peer is
 * not taken over from for this long: it is about to be restored and take
 * the VIP.  If it does not, the demoted node takes the VIP back. */
#define FSM_HOLD_STALE_MS 30000

struct fsm {
	struct fsm_config cfg;
	struct fsm_persist p;
	enum fsm_state state;
	int64_t since_ms;              /* entered the current state */
	bool link_up, check_ok, grace_over;
	bool hold;                     /* admin-demoted: advertise priority 0 */
	int64_t hold_since_ms;         /* when the demote came */
	bool lag_noted;
	bool peer_seen;
	int64_t peer_last_ms;
	int64_t stall_end_ms;          /* this node's last stall ended (0: none) */
	struct fsm_peer peer;
	uint64_t local_position;
	char last_reason[128];
	int64_t last_change_ms;
};

/* Initialise f in INIT (or STALE when the persisted state says so). */
void fsm_init(struct fsm *f, const struct fsm_config *cfg,
	      const struct fsm_persist *p, int64_t now_ms);

/* Feed one event.  Fills *out (always).  Returns 0, or -EPERM when an admin
 * command is refused in the current state (out->reason says why). */
int fsm_step(struct fsm *f, const struct fsm_event *ev, int64_t now_ms,
	     struct fsm_out *out);

/* In BACKUP, the time at which a TICK finds the peer dead if nothing is
 * heard before (INT64_MAX in other states), so the caller can tick right
 * then instead of up to one tick period later. */
int64_t fsm_dead_at(const struct fsm *f);

/* This node itself did not run until end_ms (its loop woke that late):
 * when the whole machine stops, the peer's heartbeats stop with it (on
 * one host, or a paused VM), so a silence that ends less than one
 * interval after such a stall is not the peer's fault.  The peer then
 * counts as dead no earlier than one interval after the stall (and never
 * earlier than without it): detection waits only when this node could
 * not watch, and then by one interval at most. */
void fsm_note_stall(struct fsm *f, int64_t end_ms);

/* The local mirrord's replication position (same unit as fsm_peer), to
 * advertise. */
void fsm_set_local_position(struct fsm *f, uint64_t position);

/* How far our copy is behind the peer as of its last heartbeat: the time
 * between the peer's position and the moment it sent it (both on the
 * peer's clock, so clock skew does not count); -1 = unknown.  This is
 * the data a takeover would lose, and what max_lag_sec is compared with. */
int64_t fsm_lag_ms(const struct fsm *f);

/* Priority to advertise in heartbeats (0 while admin-demoted). */
uint8_t fsm_advertised_priority(const struct fsm *f);

/* Order two nodes for the dual-master tie-break: > 0 when a wins.  Higher
 * term, then higher priority, then the greater name (strcmp). */
int fsm_cmp(uint64_t a_term, uint8_t a_prio, const char *a_name,
	    uint64_t b_term, uint8_t b_prio, const char *b_name);

const char *fsm_state_name(enum fsm_state s);      /* "master" ... */
int fsm_state_parse(const char *name, enum fsm_state *ret);

#endif
