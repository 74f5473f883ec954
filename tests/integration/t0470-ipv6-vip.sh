#!/bin/bash
# t0470: an IPv6 VIP (2001:db8::100/64).  Power-off of the master; the
# slave adds the VIP (no DAD) and sends unsolicited neighbour
# advertisements.  The client's neighbour entry for the VIP still names the
# master's MAC (REACHABLE, so it would be used blindly for up to 45 s):
# only the NA moves it, so the client must reach the slave within 1 s and
# its entry must name the slave's MAC.  Heartbeats stay on IPv4.
VIP=2001:db8::100
VIP_PREFIX=64
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
i=11
for h in master slave client; do
	in_ns "$h" ip -6 addr add "2001:db8::$i/64" dev eth0 nodad || fail "IPv6 address on $h"
	i=$((i + 1))
done
ll_ready() { in_ns "$1" ip -6 addr show dev eth0 scope link | grep -q fe80 &&
	! in_ns "$1" ip -6 addr show dev eth0 tentative | grep -q fe80; }
for h in master slave client; do wait_until 10 "link-local address on $h" ll_ready "$h"; done
mac_of() { in_ns "$1" cat /sys/class/net/eth0/address; }
client_neigh() { in_ns client ip -6 neigh show "$VIP" dev eth0 | awk '{print $3}'; }

fo_start_pair
has_vip master || fail "master does not hold the IPv6 VIP"
[ "$(client_neigh)" = "$(mac_of master)" ] || fail "client's entry for $VIP is not the master's MAC"
sent0=$(fo_field slave garp_sent)

t0=$(now_ms)
stop_pid "$PID_fo_master" KILL
in_ns master ip -6 addr del "$VIP/64" dev eth0
wait_until 5 "client reaches slave" probe_is slave
rto=$(( $(probe_first_after "$t0" slave) - t0 ))
log "RTO (power-off -> first answer from slave over IPv6): ${rto} ms"
[ "$rto" -lt 1000 ] || fail "RTO ${rto} ms >= 1000 ms: the neighbour advertisement did not work"
is_state slave master || fail "slave is not MASTER"
has_vip slave || fail "slave does not hold the IPv6 VIP"
in_ns slave ip -6 addr show dev eth0 tentative | grep -q "$VIP" && fail "VIP is tentative (DAD) on slave"
[ "$(fo_field slave garp_sent)" -gt "${sent0:-0}" ] || fail "slave sent no advertisement"
[ "$(client_neigh)" = "$(mac_of slave)" ] || fail "client's entry for $VIP is not the slave's MAC: $(client_neigh)"
grep -q "neighbour advertisement on" "$T_DIR/fo_slave.log" && fail "sending the NA failed: $(grep 'neighbour advertisement on' "$T_DIR/fo_slave.log")"
pass "IPv6 VIP: RTO ${rto} ms, client's neighbour entry moved to the slave by NA"
