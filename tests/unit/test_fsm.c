/* test_fsm: every transition of failoverd's state machine, with a fake
 * clock, and the dual-master tie-break. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fsm.h"

#define IV 100
#define DEAD 3

static const struct fsm_config cfg_a = {
	.name = "alpha", .priority = 150, .interval_ms = IV, .dead_after = DEAD,
};

static struct fsm_event hb(const char *name, enum fsm_state st, uint8_t prio,
			   uint64_t term)
{
	struct fsm_event ev = { .type = FSM_EV_HB };

	snprintf(ev.peer.name, sizeof(ev.peer.name), "%s", name);
	ev.peer.state = st;
	ev.peer.priority = prio;
	ev.peer.term = term;
	return ev;
}

static struct fsm_event simple(enum fsm_event_type t)
{
	struct fsm_event ev = { .type = t };

	return ev;
}

static struct fsm_out step(struct fsm *f, struct fsm_event ev, int64_t now)
{
	struct fsm_out out;

	fsm_step(f, &ev, now, &out);
	return out;
}

/* A node that reached MASTER at t=1000 with term 1 (no peer at start). */
static void make_master(struct fsm *f)
{
	struct fsm_out o;

	fsm_init(f, &cfg_a, NULL, 0);
	o = step(f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.to, FSM_MASTER);
}

/* A node in BACKUP following master "beta" with term 1. */
static void make_backup(struct fsm *f)
{
	struct fsm_out o;

	fsm_init(f, &cfg_a, NULL, 0);
	o = step(f, hb("beta", FSM_MASTER, 100, 1), 10);
	assert_int_equal(o.to, FSM_BACKUP);
}

static void test_names(void **state)
{
	enum fsm_state s;

	assert_string_equal(fsm_state_name(FSM_STALE), "stale");
	assert_string_equal(fsm_state_name((enum fsm_state)42), "unknown");
	assert_int_equal(fsm_state_parse("master", &s), 0);
	assert_int_equal(s, FSM_MASTER);
	assert_int_equal(fsm_state_parse("boss", &s), -EINVAL);
}

static void test_init_grace_no_peer_takes_over(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	assert_int_equal(f.state, FSM_INIT);
	o = step(&f, simple(FSM_EV_TICK), 500);
	assert_int_equal(o.actions, 0);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.from, FSM_INIT);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(o.actions & FSM_ACT_VIP_ADD);
	assert_true(o.actions & FSM_ACT_GARP);
	assert_true(o.actions & FSM_ACT_MIRROR_PROMOTE);
	assert_true(o.actions & FSM_ACT_NOTIFY);
	assert_true(o.actions & FSM_ACT_PERSIST);
	assert_int_equal(f.p.term, 1);
	assert_true(f.p.was_master);
}

static void test_init_hears_master_goes_backup(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	assert_int_equal(f.p.term, 1);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.actions, 0);
	assert_int_equal(f.state, FSM_BACKUP);
	assert_false(f.p.was_master);
}

static void test_init_hears_backup_waits(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	o = step(&f, hb("beta", FSM_BACKUP, 200, 0), 10);
	assert_int_equal(o.to, FSM_INIT);
	/* beta has the higher priority: alpha waits in BACKUP */
	o = step(&f, hb("beta", FSM_BACKUP, 200, 0), 990);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
}

static void test_init_election_won(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	step(&f, hb("beta", FSM_BACKUP, 100, 0), 990);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(o.actions & FSM_ACT_VIP_ADD);
	assert_int_equal(f.p.term, 1);
}

static void test_init_link_down_fault(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	o = step(&f, simple(FSM_EV_LINK_DOWN), 5);
	assert_int_equal(o.to, FSM_INIT);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.to, FSM_FAULT);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
	o = step(&f, simple(FSM_EV_LINK_UP), 1100);
	assert_int_equal(o.to, FSM_BACKUP);
}

static void test_init_check_fail_fault(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	step(&f, simple(FSM_EV_CHECK_FAIL), 5);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.to, FSM_FAULT);
	o = step(&f, simple(FSM_EV_CHECK_OK), 1100);
	assert_int_equal(o.to, FSM_BACKUP);
}

static void test_init_master_heard_while_fault(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	step(&f, simple(FSM_EV_LINK_DOWN), 5);
	o = step(&f, hb("beta", FSM_MASTER, 100, 3), 10);
	assert_int_equal(o.to, FSM_FAULT);
}

static void test_returning_master_goes_stale(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_persist p = { .term = 4, .was_master = true };

	fsm_init(&f, &cfg_a, &p, 0);
	o = step(&f, hb("beta", FSM_MASTER, 100, 5), 10);
	assert_int_equal(o.to, FSM_STALE);
	assert_true(o.actions & FSM_ACT_PERSIST);
	assert_true(o.actions & FSM_ACT_NOTIFY);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
	assert_true(f.p.stale);
	assert_int_equal(f.p.term, 4);   /* not adopted while stale */
}

static void test_returning_master_same_term_not_stale(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_persist p = { .term = 5, .was_master = true };

	fsm_init(&f, &cfg_a, &p, 0);
	o = step(&f, hb("beta", FSM_MASTER, 100, 5), 10);
	assert_int_equal(o.to, FSM_BACKUP);
}

static void test_stale_persisted_survives_restart(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_persist p = { .term = 4, .was_master = true, .stale = true };

	fsm_init(&f, &cfg_a, &p, 0);
	assert_int_equal(f.state, FSM_STALE);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 1000);
	assert_int_equal(o.to, FSM_STALE);
	o = step(&f, simple(FSM_EV_TICK), 99999);
	assert_int_equal(o.actions, 0);
}

static void test_stale_never_takes_vip(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_persist p = { .term = 1, .was_master = true };

	fsm_init(&f, &cfg_a, &p, 0);
	step(&f, hb("beta", FSM_MASTER, 100, 2), 10);
	assert_int_equal(f.state, FSM_STALE);
	/* peer dies, peer fault, link flaps, admin promote: still stale */
	o = step(&f, simple(FSM_EV_TICK), 100000);
	assert_int_equal(o.to, FSM_STALE);
	o = step(&f, hb("beta", FSM_FAULT, 100, 2), 100010);
	assert_int_equal(o.to, FSM_STALE);
	step(&f, simple(FSM_EV_LINK_DOWN), 100020);
	o = step(&f, simple(FSM_EV_LINK_UP), 100030);
	assert_int_equal(o.to, FSM_STALE);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_PROMOTE },
				  100040, &o), -EPERM);
	assert_int_equal(f.state, FSM_STALE);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
}

static void test_clear_stale(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_persist p = { .term = 1, .was_master = true };

	fsm_init(&f, &cfg_a, &p, 0);
	step(&f, hb("beta", FSM_MASTER, 100, 2), 10);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_CLEAR_STALE },
				  20, &o), 0);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_true(o.actions & FSM_ACT_PERSIST);
	assert_false(f.p.stale);
	assert_false(f.p.was_master);
	assert_int_equal(f.p.term, 2);
	/* peer still master: stays backup even with higher priority */
	o = step(&f, hb("beta", FSM_MASTER, 100, 2), 50);
	assert_int_equal(o.to, FSM_BACKUP);
	/* not stale any more: clearing again is refused */
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_CLEAR_STALE },
				  60, &o), -EPERM);
}

static void test_clear_stale_link_down_goes_fault(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_persist p = { .term = 1, .was_master = true, .stale = true };

	fsm_init(&f, &cfg_a, &p, 0);
	step(&f, simple(FSM_EV_LINK_DOWN), 5);
	fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_CLEAR_STALE }, 10, &o);
	assert_int_equal(o.to, FSM_FAULT);
}

static void test_backup_takes_over_after_dead(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 1000);
	o = step(&f, simple(FSM_EV_TICK), 1000 + IV * DEAD);
	assert_int_equal(o.to, FSM_BACKUP);       /* exactly dead_after: not yet */
	o = step(&f, simple(FSM_EV_TICK), 1000 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(o.actions & FSM_ACT_VIP_ADD);
	assert_true(o.actions & FSM_ACT_MIRROR_PROMOTE);
	assert_int_equal(f.p.term, 2);
	assert_true(f.p.was_master);
}

/* fsm_dead_at names the first instant a TICK takes over, and moves with
 * every heartbeat; outside BACKUP there is no deadline. */
static void test_dead_at(void **state)
{
	struct fsm f;
	struct fsm_out o;
	int64_t at;

	make_backup(&f);
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 1000);
	assert_int_equal(fsm_dead_at(&f), 1000 + IV * DEAD + 1);
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 1100);
	at = fsm_dead_at(&f);
	assert_int_equal(at, 1100 + IV * DEAD + 1);
	o = step(&f, simple(FSM_EV_TICK), at - 1);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, simple(FSM_EV_TICK), at);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(fsm_dead_at(&f) == INT64_MAX);
}

/* A heartbeat counts from when it arrived (heard_ms), not from when the
 * loop read it; a stamp in the future or before the last one is clamped. */
static void test_heard_time(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_event ev = hb("beta", FSM_MASTER, 100, 1);

	make_backup(&f);
	ev.heard_ms = 1000;
	o = step(&f, ev, 1050);                   /* read 50 ms late */
	assert_int_equal(o.to, FSM_BACKUP);
	assert_int_equal(fsm_dead_at(&f), 1000 + IV * DEAD + 1);
	ev.heard_ms = 900;                         /* older than the last one */
	step(&f, ev, 1060);
	assert_int_equal(fsm_dead_at(&f), 1000 + IV * DEAD + 1);
	ev.heard_ms = 5000;                        /* "after now": now counts */
	step(&f, ev, 1100);
	assert_int_equal(fsm_dead_at(&f), 1100 + IV * DEAD + 1);
	ev.heard_ms = 0;                           /* no stamp: now */
	step(&f, ev, 1150);
	assert_int_equal(fsm_dead_at(&f), 1150 + IV * DEAD + 1);
	/* a late read of a timely heartbeat does not push detection back */
	ev.heard_ms = 1200;
	step(&f, ev, 1400);
	o = step(&f, simple(FSM_EV_TICK), 1200 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
}

/* A stall of this node near the deadline gives the peer one interval
 * after it; a stall long before the deadline, or before the last
 * heartbeat, changes nothing. */
static void test_own_stall(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	step(&f, hb("beta", FSM_MASTER, 100, 1), 1000);
	fsm_note_stall(&f, 1100);                      /* early: no effect */
	assert_int_equal(fsm_dead_at(&f), 1000 + IV * DEAD + 1);
	fsm_note_stall(&f, 900);                       /* never moves back */
	assert_int_equal(f.stall_end_ms, 1100);
	fsm_note_stall(&f, 1290);                      /* woke just before the deadline */
	assert_int_equal(fsm_dead_at(&f), 1290 + IV + 1);
	o = step(&f, simple(FSM_EV_TICK), 1000 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, simple(FSM_EV_TICK), 1290 + IV);
	assert_int_equal(o.to, FSM_BACKUP);
	/* the peer's late heartbeat arrives: back to the normal deadline */
	step(&f, hb("beta", FSM_MASTER, 100, 1), 1320);
	assert_int_equal(fsm_dead_at(&f), 1320 + IV * DEAD + 1);
	o = step(&f, simple(FSM_EV_TICK), 1320 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
	/* a stall with a silent peer: taken over one interval after it */
	make_backup(&f);
	step(&f, hb("beta", FSM_MASTER, 100, 1), 1000);
	fsm_note_stall(&f, 1500);
	o = step(&f, simple(FSM_EV_TICK), 1500 + IV);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, simple(FSM_EV_TICK), 1500 + IV + 1);
	assert_int_equal(o.to, FSM_MASTER);
}

static void test_backup_peer_fault_or_stale(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	o = step(&f, hb("beta", FSM_FAULT, 100, 1), 100);
	assert_int_equal(o.to, FSM_MASTER);
	make_backup(&f);
	o = step(&f, hb("beta", FSM_STALE, 100, 1), 100);
	assert_int_equal(o.to, FSM_MASTER);
}

static void test_backup_no_preempt_by_default(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);   /* alpha 150 > beta 100 */
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 100);
	assert_int_equal(o.to, FSM_BACKUP);
}

static void test_backup_preempt(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_config c = cfg_a;

	c.preempt = true;
	fsm_init(&f, &c, NULL, 0);
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 10);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(f.p.term, 2);
}

static void test_backup_lost_election_waits(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	o = step(&f, hb("beta", FSM_BACKUP, 200, 1), 100);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, hb("beta", FSM_BACKUP, 100, 1), 200);
	assert_int_equal(o.to, FSM_MASTER);
}

static void test_backup_adopts_term(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	o = step(&f, hb("beta", FSM_MASTER, 100, 7), 100);
	assert_true(o.actions & FSM_ACT_PERSIST);
	assert_int_equal(f.p.term, 7);
}

static void test_backup_link_down_no_takeover(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	o = step(&f, simple(FSM_EV_LINK_DOWN), 100);
	assert_int_equal(o.to, FSM_FAULT);
	o = step(&f, simple(FSM_EV_TICK), 100000);
	assert_int_equal(o.to, FSM_FAULT);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
}

static void test_backup_check_fail(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	o = step(&f, simple(FSM_EV_CHECK_FAIL), 100);
	assert_int_equal(o.to, FSM_FAULT);
	o = step(&f, simple(FSM_EV_CHECK_OK), 200);
	assert_int_equal(o.to, FSM_BACKUP);
}

static void test_fault_recovery_listens_first(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	step(&f, simple(FSM_EV_LINK_DOWN), 100);
	o = step(&f, simple(FSM_EV_LINK_UP), 5000);
	assert_int_equal(o.to, FSM_BACKUP);
	/* the peer was last heard long ago, but we listen a full dead time */
	o = step(&f, simple(FSM_EV_TICK), 5000 + IV);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 5000 + 2 * IV);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, simple(FSM_EV_TICK), 5000 + 2 * IV + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
}

static void test_master_link_down_fault(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	o = step(&f, simple(FSM_EV_LINK_DOWN), 2000);
	assert_int_equal(o.from, FSM_MASTER);
	assert_int_equal(o.to, FSM_FAULT);
	assert_true(o.actions & FSM_ACT_VIP_DEL);
	assert_true(o.actions & FSM_ACT_MIRROR_DEMOTE);
	assert_true(o.actions & FSM_ACT_NOTIFY);
	assert_true(f.p.was_master);
}

static void test_master_check_fail_fault(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	o = step(&f, simple(FSM_EV_CHECK_FAIL), 2000);
	assert_int_equal(o.to, FSM_FAULT);
	assert_true(o.actions & FSM_ACT_VIP_DEL);
}

static void test_fault_deposed_on_return(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	step(&f, simple(FSM_EV_LINK_DOWN), 2000);
	/* heard while in fault (link flapping) */
	o = step(&f, hb("beta", FSM_MASTER, 100, 2), 2500);
	assert_int_equal(o.to, FSM_STALE);
	assert_false(o.actions & FSM_ACT_VIP_DEL);  /* already released */
}

static void test_fault_link_up_then_deposed(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	step(&f, simple(FSM_EV_LINK_DOWN), 2000);
	step(&f, simple(FSM_EV_LINK_UP), 3000);
	assert_int_equal(f.state, FSM_BACKUP);
	o = step(&f, hb("beta", FSM_MASTER, 100, 2), 3010);
	assert_int_equal(o.to, FSM_STALE);
}

/* t0400's flake: master alpha last heard beta as BACKUP (term 1), its link
 * went down, beta took over (term 2) meanwhile, the link came back and the
 * first tick, before any fresh heartbeat, ran the election on the cached
 * "beta is BACKUP" and took the VIP back with term 2, then won the equal-term
 * dual master on priority.  The cached view must be forgotten in FAULT. */
static void test_fault_return_no_election_on_stale_view(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);                                   /* term 1 */
	o = step(&f, hb("beta", FSM_BACKUP, 100, 1), 1050);
	assert_int_equal(o.to, FSM_MASTER);
	step(&f, simple(FSM_EV_LINK_DOWN), 1100);
	o = step(&f, simple(FSM_EV_LINK_UP), 1600);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_false(f.peer_seen);
	/* ticks before the first fresh heartbeat: no election, no VIP */
	o = step(&f, simple(FSM_EV_TICK), 1620);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
	o = step(&f, simple(FSM_EV_TICK), 1640);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_int_equal(f.p.term, 1);
	/* the fresh heartbeat: beta took over in term 2, we were deposed */
	o = step(&f, hb("beta", FSM_MASTER, 100, 2), 1680);
	assert_int_equal(o.to, FSM_STALE);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
	assert_true(f.p.stale);
	o = step(&f, simple(FSM_EV_TICK), 9000);
	assert_int_equal(o.to, FSM_STALE);
}

/* Same, with the check script instead of the link: the view from before the
 * fault is dropped, and so is the one heard during it; an election needs a
 * heartbeat heard after leaving FAULT, and a fresh BACKUP peer still loses
 * it normally. */
static void test_fault_return_election_needs_fresh_hb(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	step(&f, hb("beta", FSM_BACKUP, 100, 1), 1050);
	step(&f, simple(FSM_EV_CHECK_FAIL), 1100);
	assert_false(f.peer_seen);
	o = step(&f, hb("beta", FSM_BACKUP, 100, 1), 1150);
	assert_int_equal(o.to, FSM_FAULT);
	o = step(&f, simple(FSM_EV_CHECK_OK), 1200);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, simple(FSM_EV_TICK), 1220);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, hb("beta", FSM_BACKUP, 100, 1), 1250);
	assert_int_equal(o.to, FSM_MASTER);               /* election on fresh news */
	assert_int_equal(f.p.term, 2);
}

static void test_master_ignores_backup_peer(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	o = step(&f, hb("beta", FSM_BACKUP, 250, 1), 2000);
	assert_int_equal(o.actions, 0);
	o = step(&f, simple(FSM_EV_TICK), 900000);
	assert_int_equal(o.to, FSM_MASTER);
}

static void test_dual_master_we_win(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);    /* term 1, prio 150, "alpha" */
	o = step(&f, hb("beta", FSM_MASTER, 100, 1), 2000);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(o.actions & FSM_ACT_GARP);
	assert_true(o.actions & FSM_ACT_SEND_HB);
	assert_false(o.actions & FSM_ACT_VIP_DEL);
	/* the loser gives up: announce once more (its last GARP may have
	 * come after ours), then nothing while it stays out */
	o = step(&f, hb("beta", FSM_STALE, 100, 1), 2100);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(o.actions & FSM_ACT_GARP);
	o = step(&f, hb("beta", FSM_STALE, 100, 1), 2200);
	assert_int_equal(o.actions, 0);
	o = step(&f, hb("beta", FSM_BACKUP, 100, 2), 2300);
	assert_int_equal(o.actions, 0);
}

static void test_dual_master_higher_term_wins(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	o = step(&f, hb("beta", FSM_MASTER, 1, 2), 2000);
	assert_int_equal(o.to, FSM_STALE);
	assert_true(o.actions & FSM_ACT_VIP_DEL);
	assert_true(o.actions & FSM_ACT_MIRROR_DEMOTE);
	assert_true(f.p.stale);
}

static void test_dual_master_priority_then_name(void **state)
{
	struct fsm f;
	struct fsm_out o;

	/* equal terms (a start-up race): the loser steps back to BACKUP,
	 * not STALE, since nobody took over from it */
	make_master(&f);
	o = step(&f, hb("beta", FSM_MASTER, 151, 1), 2000);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_true(o.actions & FSM_ACT_VIP_DEL);
	assert_false(f.p.was_master);
	make_master(&f);
	o = step(&f, hb("beta", FSM_MASTER, 150, 1), 2000);
	assert_int_equal(o.to, FSM_BACKUP);        /* "beta" > "alpha" */
	make_master(&f);
	o = step(&f, hb("aaa", FSM_MASTER, 150, 1), 2000);
	assert_int_equal(o.to, FSM_MASTER);        /* "alpha" > "aaa" */
}

static void test_tiebreak_symmetric(void **state)
{
	static const struct { uint64_t t; uint8_t p; const char *n; } nodes[] = {
		{ 1, 100, "a" }, { 1, 100, "b" }, { 1, 200, "a" }, { 2, 1, "a" },
		{ 2, 1, "z" }, { 0, 254, "m" },
	};
	size_t n = sizeof(nodes) / sizeof(nodes[0]);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int a = fsm_cmp(nodes[i].t, nodes[i].p, nodes[i].n,
					nodes[j].t, nodes[j].p, nodes[j].n);
			int b = fsm_cmp(nodes[j].t, nodes[j].p, nodes[j].n,
					nodes[i].t, nodes[i].p, nodes[i].n);
			assert_int_equal(a, -b);
			assert_int_equal(a == 0, i == j);
		}
	}
	assert_true(fsm_cmp(2, 1, "a", 1, 254, "z") > 0);
	assert_true(fsm_cmp(1, 2, "a", 1, 1, "z") > 0);
	assert_true(fsm_cmp(1, 1, "b", 1, 1, "a") > 0);
}

static void test_admin_promote(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_backup(&f);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_PROMOTE },
				  100, &o), 0);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(f.p.term, 2);
	/* again: no-op */
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_PROMOTE },
				  110, &o), 0);
	assert_int_equal(o.actions, 0);
}

static void test_admin_promote_refused(void **state)
{
	struct fsm f;
	struct fsm_out o;

	fsm_init(&f, &cfg_a, NULL, 0);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_PROMOTE },
				  10, &o), -EPERM);
	make_backup(&f);
	step(&f, simple(FSM_EV_LINK_DOWN), 20);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_PROMOTE },
				  30, &o), -EPERM);
	assert_int_equal(f.state, FSM_FAULT);
}

/* Failback: the demoted slave leaves the VIP to its STALE peer (which is
 * being restored) for FSM_HOLD_STALE_MS, then takes it back. */
static void test_demote_hold_against_stale_peer(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_DEMOTE },
				  2000, &o), 0);
	assert_int_equal(o.to, FSM_BACKUP);
	o = step(&f, hb("beta", FSM_STALE, 100, 1), 2100);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
	o = step(&f, hb("beta", FSM_STALE, 100, 1), 2000 + FSM_HOLD_STALE_MS - 100);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_false(o.actions & FSM_ACT_VIP_ADD);
	o = step(&f, hb("beta", FSM_STALE, 100, 1), 2000 + FSM_HOLD_STALE_MS + 100);
	assert_int_equal(o.to, FSM_MASTER);
	assert_true(o.actions & FSM_ACT_VIP_ADD);
}

static void test_admin_demote(void **state)
{
	struct fsm f;
	struct fsm_out o;

	make_master(&f);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_DEMOTE },
				  2000, &o), 0);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_true(o.actions & FSM_ACT_VIP_DEL);
	assert_false(f.p.was_master);
	assert_int_equal(fsm_advertised_priority(&f), 0);
	/* a backup peer must now win; we do not re-elect ourselves */
	o = step(&f, hb("beta", FSM_BACKUP, 100, 1), 2010);
	assert_int_equal(o.to, FSM_BACKUP);
	/* the peer takes over: hold is released, no stale (planned) */
	o = step(&f, hb("beta", FSM_MASTER, 100, 2), 2100);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_int_equal(fsm_advertised_priority(&f), 150);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_DEMOTE },
				  2200, &o), 0);
	assert_int_equal(o.to, FSM_BACKUP);
	step(&f, simple(FSM_EV_LINK_DOWN), 2300);
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_DEMOTE },
				  2400, &o), -EPERM);
}

/* The peer (a source) says its sink holds everything before "position",
 * in a heartbeat sent at sent_ms, both on its clock: our copy lags
 * sent_ms - position, whatever our own clock says. */
static struct fsm_event hb_pos(uint64_t sent, uint64_t position)
{
	struct fsm_event ev = hb("beta", FSM_MASTER, 100, 1);

	ev.peer.sent_ms = sent;
	ev.peer.position = position;
	return ev;
}

static void test_max_lag_refuses(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_config c = cfg_a;

	c.max_lag_sec = 5;
	fsm_init(&f, &c, NULL, 0);
	step(&f, hb_pos(1700000100000, 1700000090000), 10);   /* 10 s behind */
	assert_int_equal(fsm_lag_ms(&f), 10000);
	o = step(&f, simple(FSM_EV_TICK), 10 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_true(o.actions & FSM_ACT_NOTE);
	assert_non_null(strstr(o.reason, "refusing to promote"));
	assert_int_equal(o.lag_ms, 10000);
	o = step(&f, simple(FSM_EV_TICK), 10 + IV * DEAD + 2);
	assert_int_equal(o.actions, 0);     /* noted once */
	/* a peer FAULT with the same lag: refused too */
	fsm_init(&f, &c, NULL, 0);
	step(&f, hb_pos(1700000100000, 1700000090000), 10);
	o = step(&f, simple(FSM_EV_GRACE_OVER), 20);
	assert_int_equal(o.to, FSM_BACKUP);
	struct fsm_event ev = hb_pos(1700000100100, 1700000090000);
	ev.peer.state = FSM_FAULT;
	o = step(&f, ev, 30);
	assert_int_equal(o.to, FSM_BACKUP);
	assert_true(o.actions & FSM_ACT_NOTE);
	/* admin promote overrides max_lag */
	assert_int_equal(fsm_step(&f, &(struct fsm_event){ .type = FSM_EV_PROMOTE }, 40, &o), 0);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(o.lag_ms, 10100);
}

/* A copy within max_lag: the takeover happens and reports the lag (RPO). */
static void test_lag_within_limit(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_config c = cfg_a;

	c.max_lag_sec = 5;
	fsm_init(&f, &c, NULL, 0);
	step(&f, hb_pos(1700000100000, 1700000098000), 10);
	o = step(&f, simple(FSM_EV_TICK), 10 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(o.lag_ms, 2000);
	/* in sync: the position can be a little after the send time */
	fsm_init(&f, &c, NULL, 0);
	step(&f, hb_pos(1700000100000, 1700000100003), 10);
	o = step(&f, simple(FSM_EV_TICK), 10 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(o.lag_ms, 0);
	/* the lag is the peer's last word: a fresh heartbeat that caught up
	 * lifts an earlier refusal */
	fsm_init(&f, &c, NULL, 0);
	step(&f, hb_pos(1700000100000, 1700000090000), 10);
	o = step(&f, simple(FSM_EV_TICK), 10 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_BACKUP);
	step(&f, hb_pos(1700000101000, 1700000101000), 400);
	o = step(&f, simple(FSM_EV_TICK), 400 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(o.lag_ms, 0);
}

static void test_lag_unknown(void **state)
{
	struct fsm f;
	struct fsm_out o;
	struct fsm_config c = cfg_a;

	c.max_lag_sec = 1;
	fsm_init(&f, &c, NULL, 0);
	assert_int_equal(fsm_lag_ms(&f), -1);          /* never heard */
	step(&f, hb_pos(1700000100000, 0), 10);         /* no position */
	assert_int_equal(fsm_lag_ms(&f), -1);
	fsm_set_local_position(&f, 1700000000000);      /* ours does not matter */
	o = step(&f, simple(FSM_EV_TICK), 10 + IV * DEAD + 1);
	assert_int_equal(o.to, FSM_MASTER);
	assert_int_equal(o.lag_ms, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_init_grace_no_peer_takes_over),
		cmocka_unit_test(test_init_hears_master_goes_backup),
		cmocka_unit_test(test_init_hears_backup_waits),
		cmocka_unit_test(test_init_election_won),
		cmocka_unit_test(test_init_link_down_fault),
		cmocka_unit_test(test_init_check_fail_fault),
		cmocka_unit_test(test_init_master_heard_while_fault),
		cmocka_unit_test(test_returning_master_goes_stale),
		cmocka_unit_test(test_returning_master_same_term_not_stale),
		cmocka_unit_test(test_stale_persisted_survives_restart),
		cmocka_unit_test(test_stale_never_takes_vip),
		cmocka_unit_test(test_clear_stale),
		cmocka_unit_test(test_clear_stale_link_down_goes_fault),
		cmocka_unit_test(test_backup_takes_over_after_dead),
		cmocka_unit_test(test_dead_at),
		cmocka_unit_test(test_heard_time),
		cmocka_unit_test(test_own_stall),
		cmocka_unit_test(test_backup_peer_fault_or_stale),
		cmocka_unit_test(test_backup_no_preempt_by_default),
		cmocka_unit_test(test_backup_preempt),
		cmocka_unit_test(test_backup_lost_election_waits),
		cmocka_unit_test(test_backup_adopts_term),
		cmocka_unit_test(test_backup_link_down_no_takeover),
		cmocka_unit_test(test_backup_check_fail),
		cmocka_unit_test(test_fault_recovery_listens_first),
		cmocka_unit_test(test_master_link_down_fault),
		cmocka_unit_test(test_master_check_fail_fault),
		cmocka_unit_test(test_fault_deposed_on_return),
		cmocka_unit_test(test_fault_link_up_then_deposed),
		cmocka_unit_test(test_fault_return_no_election_on_stale_view),
		cmocka_unit_test(test_fault_return_election_needs_fresh_hb),
		cmocka_unit_test(test_master_ignores_backup_peer),
		cmocka_unit_test(test_dual_master_we_win),
		cmocka_unit_test(test_dual_master_higher_term_wins),
		cmocka_unit_test(test_dual_master_priority_then_name),
		cmocka_unit_test(test_tiebreak_symmetric),
		cmocka_unit_test(test_admin_promote),
		cmocka_unit_test(test_admin_promote_refused),
		cmocka_unit_test(test_admin_demote),
		cmocka_unit_test(test_demote_hold_against_stale_peer),
		cmocka_unit_test(test_max_lag_refuses),
		cmocka_unit_test(test_lag_within_limit),
		cmocka_unit_test(test_lag_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
