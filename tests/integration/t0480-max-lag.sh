#!/bin/bash
# t0480: data-aware promotion.  mirrord and failoverd run on both nodes
# (one configuration file each), max_lag_sec = 2.  The master's failoverd
# advertises its mirrord's replication position in its heartbeats.
#  1. The slave's mirrord is stopped while the master keeps writing: the
#     copy falls behind (and stays behind when the master's mirrord
#     restarts with the changes in its journal); when the master powers
#     off, the slave refuses to take over, says why, and leaves the VIP
#     alone.
#  2. The slave's mirrord is back and has caught up, the master returns:
#     when it powers off again, the slave takes over and logs the RPO.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
# fo_conf ends with [failover]: max_lag_sec goes there, then the mirror
echo "max_lag_sec = 2" >>"$T_DIR/master.conf"
echo "max_lag_sec = 2" >>"$T_DIR/slave.conf"
printf '\n[mirror www]\npath = %s\npeer = %s:7770\n\n[security]\ninsecure_plaintext = yes\n' \
	"$M" "$(host_addr slave)" >>"$T_DIR/master.conf"
printf '\n[mirror www]\npath = %s\n\n[security]\ninsecure_plaintext = yes\n' \
	"$S" >>"$T_DIR/slave.conf"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave "$(host_addr slave)" 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
fo_start_pair

lag() { fo_field slave peer_lag_ms; }
lag_below() { local l; l=$(lag); [ -n "$l" ] && [ "$l" -ge 0 ] && [ "$l" -lt "$1" ]; }
lag_above() { local l; l=$(lag); [ -n "$l" ] && [ "$l" -gt "$1" ]; }
has_file() { [ "$(cat "$S/$1" 2>/dev/null)" = "$2" ]; }

echo one >"$M/a"
wait_until 10 "the slave has a" has_file a one
wait_until 10 "the slave sees a current copy (lag < 1 s)" lag_below 1000
[ "$(fo_field master position)" -gt 0 ] || fail "master advertises no position"
[ "$(fo_field slave position)" -eq 0 ] || fail "a sink-only node advertises a position"
log "in sync: the slave's copy lags $(lag) ms"

# 1. the copy falls behind: the slave's mirrord is down, the master writes
stop_pid "$PID_sink" TERM
echo two >"$M/a"
echo new >"$M/b"
wait_until 10 "the slave sees its copy lag > 2.5 s" lag_above 2500
log "lagging: the slave's copy lags $(lag) ms"
# a restart of the master's mirrord does not make the copy current: the
# changes still wait in its journal, so the lag grows again from there
stop_pid "$PID_source" TERM
start_bg master source2 "$MIRRORD" -f -c "$T_DIR/master.conf"
lag_dropped() { lag_below 2000; }
wait_until 10 "the restarted mirrord answers" lag_dropped
wait_until 10 "the lag grows again after the restart" lag_above 2500
log "after the master's mirrord restarted: the slave's copy lags $(lag) ms"
stop_pid "$PID_fo_master" KILL
in_ns master ip addr del "$VIP/24" dev eth0
refused() { grep -q "refusing to promote: copy lags [0-9]* ms > max_lag 2 s" "$T_DIR/fo_slave.log"; }
wait_until 5 "the slave refuses the takeover" refused
sleep 1         # several dead times (300 ms): it must still not take over
is_state slave backup || fail "the slave took over with a lagging copy"
no_vip slave || fail "the slave holds the VIP with a lagging copy"
grep -q "state backup -> master" "$T_DIR/fo_slave.log" && fail "a takeover was logged"
log "$(grep -o 'refusing to promote.*' "$T_DIR/fo_slave.log" | head -n 1)"

# 2. the slave's mirrord catches up, the master returns and powers off again
start_bg slave sink2 "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_until 30 "the slave catches up" has_file b new
fo_start master
wait_until 10 "master MASTER again" is_state master master
wait_until 30 "the slave sees a current copy again" lag_below 1000
stop_pid "$PID_fo_master" KILL
in_ns master ip addr del "$VIP/24" dev eth0
wait_until 5 "the slave takes over" is_state slave master
wait_until 5 "client reaches the slave" probe_is slave
rpo=$(sed -n 's/.*takeover RPO: copy was \([0-9]*\) ms behind.*/\1/p' "$T_DIR/fo_slave.log")
[ -n "$rpo" ] || fail "no RPO figure logged at the takeover"
[ "$rpo" -lt 2000 ] || fail "RPO $rpo ms with a current copy"
pass "lagging copy: takeover refused; current copy: takeover with RPO $rpo ms"
