#!/bin/bash
# t0460: a slow notify hook does not stop heartbeats, and the next sequence
# waits for it.  The hook takes 2 s for "master" (notify_timeout_ms 5000).
# (1) While the master's hook runs, its heartbeats go on: the slave, up
# and listening with a 300 ms dead time, stays BACKUP.  (2) The slave takes
# over after a power-off and its hook sleeps; its link goes down meanwhile:
# FAULT is decided at once, but the VIP is released and the "fault" hook
# runs only after the "master" hook has ended, in that order.  Idle
# control-socket clients do not stop heartbeats either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
cat >"$T_DIR/notify.sh" <<HOOK
#!/bin/sh
echo "\$(date +%s%3N) start" >>$T_DIR/notify-\$1.log
[ "\$1" = master ] && sleep 2
echo "\$(date +%s%3N) end" >>$T_DIR/notify-\$1.log
exit 0
HOOK
chmod 755 "$T_DIR/notify.sh"

hook_ended() { grep -q end "$T_DIR/notify-$1.log" 2>/dev/null; }
hook_started() { grep -q start "$T_DIR/notify-$1.log" 2>/dev/null; }
stamp() { awk -v w="$2" '$2 == w {print $1; exit}' "$T_DIR/notify-$1.log"; }

# (1) the master's 2 s hook starts as it takes the VIP
fo_start master
wait_until 5 "master holds the VIP" has_vip master
fo_start slave
wait_until 3 "slave BACKUP" is_state slave backup
hook_ended master && fail "master's hook ended before the slave was up: no overlap to test"
tx0=$(fo_field master tx_ok)
wait_until 5 "master's hook ends" hook_ended master
tx1=$(fo_field master tx_ok)
is_state slave backup || fail "slave left BACKUP while the master's hook ran"
grep -q "backup -> master" "$T_DIR/fo_slave.log" && fail "slave took over during the master's hook"
[ $((tx1 - tx0)) -ge 5 ] || fail "master sent $((tx1 - tx0)) heartbeats during its hook"
log "master sent $((tx1 - tx0)) heartbeats while its hook ran; slave stayed BACKUP"
# idle control clients must not stall the loop either: 4 connections that
# send nothing for 1 s (a blocking read of each would stop heartbeats)
tx0=$(fo_field master tx_ok)
idle=""
for i in 1 2 3 4; do
	(sleep 1 | socat -u - "UNIX-CONNECT:$T_DIR/master.sock-failoverd" 2>/dev/null) &
	idle="$idle $!"
done
sleep 1.2
for pid in $idle; do stop_pid "$pid"; done
tx1=$(fo_field master tx_ok)
[ $((tx1 - tx0)) -ge 8 ] || fail "master sent $((tx1 - tx0)) heartbeats in 1.2 s with idle control clients"
is_state slave backup || fail "slave left BACKUP while control clients idled on the master"
log "master sent $((tx1 - tx0)) heartbeats in 1.2 s with 4 idle control clients"
rm -f "$T_DIR/notify-master.log"

# (2) power-off; the slave's "master" hook runs when its link goes down
probe_start
wait_until 5 "client reaches master" probe_is master
stop_pid "$PID_fo_master" KILL
in_ns master ip addr del "$VIP/24" dev eth0
wait_until 5 "slave's hook starts" hook_started master
wait_until 2 "client reaches slave" probe_is slave
link_down slave
wait_until 2 "slave FAULT" is_state slave fault
has_vip slave || fail "VIP released before the running hook ended"
hook_ended master && fail "hook ended too early to test the order"
wait_until 5 "slave's fault hook" hook_ended fault
wait_until 2 "VIP released" no_vip slave
m_end=$(stamp master end)
f_start=$(stamp fault start)
[ -n "$m_end" ] && [ -n "$f_start" ] || fail "hook logs incomplete"
[ "$f_start" -ge "$m_end" ] || fail "fault hook started ($f_start) before the master hook ended ($m_end)"
awk '/notify .* master: ok/ {m = NR} /VIP .* removed/ {v = NR} END {exit !(m && v && m < v)}' \
	"$T_DIR/fo_slave.log" || fail "VIP removed before the master hook ended (log order)"
grep -q "waits for notify" "$T_DIR/fo_slave.log" || fail "no 'waits for notify' line"
zombies=$(ps -o stat= --ppid "$PID_fo_slave" | grep -c Z)
[ "$zombies" -eq 0 ] || fail "$zombies unreaped hook processes"
pass "slow hook: heartbeats went on, the release waited for the hook ($((f_start - m_end)) ms after it)"
