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

# the slave's side first: until both are cut, the slave keeps hearing the
# master, so it cannot take over and depose the master through the half
# still open (at 20 ms x 3 the gap between two "ip" commands is enough)
in_ns slave ip route add blackhole "$(host_addr master)/32"
in_ns master ip route add blackhole "$(host_addr slave)/32"
wait_until 5 "slave MASTER during the partition" is_state slave master
is_state master master || fail "master should still be master (it reaches the client)"

# Both nodes announce the VIP during the partition; point the client at
# the loser-to-be, so that the heal has something to fix.
# (retried: a periodic announcement of the slave may undo it)
mac=$(in_ns master cat /sys/class/net/eth0/address)
to_master() {
	in_ns client ip neigh replace "$VIP" lladdr "$mac" dev eth0 nud stale &&
		sleep 0.1 && probe_is master
}
burst_over() { [ "$(fo_field slave garp_sent)" -ge 5 ]; }
wait_until 5 "the slave's takeover announcements" burst_over
wait_until 5 "client answered by master before the heal" to_master

t0=$(now_ms)
in_ns master ip route del blackhole "$(host_addr slave)/32"
in_ns slave ip route del blackhole "$(host_addr master)/32"
single() { no_vip master && has_vip slave; }
wait_until 1 "a single VIP holder within 1 s" single
t1=$(now_ms)
log "heal -> single holder: $((t1 - t0)) ms (polled every 50 ms)"
wait_until 1 "client reaches the single holder within 1 s of healing" probe_is slave
is_state master stale || fail "loser not stale"
sleep 2
# From the prober's log (an attempt every 10 ms): the first answer of the
# holder after the heal, and never the loser's after it ("none", an
# attempt that timed out, is the prober starved on a busy machine).
t2=$(probe_first_after "$t0" slave)
[ -n "$t2" ] || fail "the client was never answered by the holder"
[ "$(probe_count_after "$t2" master)" -eq 0 ] || fail "client flapped back to the loser"
client_ms=$((t2 - t0))
[ "$client_ms" -lt 1000 ] || fail "client on the holder after $client_ms ms"
log "heal -> client answered by the single holder: $client_ms ms"
pass "partition healed: single holder after $((t1 - t0)) ms, client after $client_ms ms"
