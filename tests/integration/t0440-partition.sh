#!/bin/bash
# t0440: the heartbeat path between master and slave is cut while both still
# reach the client: the slave takes over (dual master).  When the path heals
# the tie-break (term, priority, name) leaves one holder within 1 s, and the
# client is answered by that holder.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
fo_start_pair

in_ns master ip route add blackhole "$(host_addr slave)/32"
in_ns slave ip route add blackhole "$(host_addr master)/32"
wait_until 5 "slave MASTER during the partition" is_state slave master
is_state master master || fail "master should still be master (it reaches the client)"

t0=$(now_ms)
in_ns master ip route del blackhole "$(host_addr slave)/32"
in_ns slave ip route del blackhole "$(host_addr master)/32"
single() { no_vip master && has_vip slave; }
wait_until 1 "a single VIP holder within 1 s" single
t1=$(now_ms)
log "heal -> single holder: $((t1 - t0)) ms"
wait_until 1 "client reaches the single holder within 1 s of healing" probe_is slave
t2=$(now_ms)
log "heal -> client on the holder: $((t2 - t0)) ms"
is_state master stale || fail "loser not stale"
sleep 2
[ "$(probe_count_after "$t2" master)" -eq 0 ] || fail "client flapped back to the loser"
pass "partition healed: single holder after $((t1 - t0)) ms, client after $((t2 - t0)) ms"
