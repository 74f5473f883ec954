#!/bin/bash
# t0410: master power-off, simulated as failoverd SIGKILL plus removal of the
# VIP.  The slave takes over; the client is answered by the slave.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
fo_start_pair

t0=$(now_ms)
stop_pid "$PID_fo_master" KILL
in_ns master ip addr del "$VIP/24" dev eth0
wait_until 5 "client reaches slave" probe_is slave
rto=$(( $(probe_first_after "$t0" slave) - t0 ))
log "RTO (power-off -> first answer from slave): ${rto} ms"
[ "$rto" -lt 1000 ] || fail "RTO ${rto} ms >= 1000 ms"
wait_until 2 "slave MASTER" is_state slave master
[ "$(fo_field slave term)" -eq 2 ] || fail "slave term is not 2"
grep -q "takeover RPO" "$T_DIR/fo_slave.log" || fail "no RPO line at takeover"
[ -f "$T_DIR/notify-master.log" ] || fail "notify hook not run with 'master'"
pass "power-off: RTO ${rto} ms"
