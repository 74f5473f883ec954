#!/bin/bash
# t0400: the master's cable is cut.  The slave takes the VIP and the client
# is answered by the slave; the master goes FAULT and releases the VIP; when
# its cable returns it is STALE and the VIP stays on the slave.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
fo_start_pair

t0=$(now_ms)
link_down master
wait_until 5 "client reaches slave" probe_is slave
rto=$(( $(probe_first_after "$t0" slave) - t0 ))
log "RTO (link down -> first answer from slave): ${rto} ms"
[ "$rto" -lt 1000 ] || fail "RTO ${rto} ms >= 1000 ms"
wait_until 2 "master FAULT" is_state master fault
wait_until 2 "master released the VIP" no_vip master
has_vip slave || fail "slave does not hold the VIP"

t1=$(now_ms)
link_up master
wait_until 5 "master STALE after return" is_state master stale
sleep 2
has_vip slave || fail "VIP left the slave"
no_vip master || fail "returning master took the VIP"
[ "$(probe_count_after "$t1" master)" -eq 0 ] || fail "client was answered by the returning master"
probe_is slave || fail "client not answered by the slave at the end"
pass "link down: RTO ${rto} ms, returning master stale"
