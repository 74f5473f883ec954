#!/bin/bash
# t0420: failoverd on the master crashes and leaves the VIP configured.  The
# slave takes over and its gratuitous ARPs move the client; a restarted
# master daemon removes the leftover VIP and stays STALE.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
fo_start_pair

t0=$(now_ms)
stop_pid "$PID_fo_master" KILL
has_vip master || fail "the VIP should still be on the master"
wait_until 5 "client reaches slave" probe_is slave
rto=$(( $(probe_first_after "$t0" slave) - t0 ))
log "RTO (daemon crash, VIP left -> slave answers): ${rto} ms"
[ "$rto" -lt 1500 ] || fail "RTO ${rto} ms"
t1=$(now_ms)
sleep 1
[ "$(probe_count_after "$t1" master)" -eq 0 ] || fail "client went back to the master"

fo_start master
wait_until 5 "restarted master STALE" is_state master stale
wait_until 2 "leftover VIP removed" no_vip master
has_vip slave || fail "slave lost the VIP"
probe_is slave || fail "client not on the slave"
pass "crash with VIP left: RTO ${rto} ms, leftover removed"
