#!/bin/bash
# t0430: the master returns after a takeover.  It stays STALE across
# restarts, the VIP stays on the slave; only clear-stale (what
# mirror-restore sends after a successful restore) makes it BACKUP, and it
# still does not take the VIP back (no preemption).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
fo_start_pair

stop_pid "$PID_fo_master" KILL
in_ns master ip addr del "$VIP/24" dev eth0
wait_until 5 "slave MASTER" is_state slave master
wait_until 5 "client reaches slave" probe_is slave

t1=$(now_ms)
fo_start master
wait_until 5 "returning master STALE" is_state master stale
# a restart keeps it stale even before it hears the peer
stop_pid "$PID_fo_master" TERM
fo_start master
wait_until 3 "still STALE after restart" is_state master stale
case "$(fo_ctl master promote)" in error*) ;; *) fail "promote accepted while stale" ;; esac
sleep 2
no_vip master || fail "stale master holds the VIP"
[ "$(probe_count_after "$t1" master)" -eq 0 ] || fail "client answered by the stale master"

case "$(fo_ctl master clear-stale)" in ok*) ;; *) fail "clear-stale refused" ;; esac
wait_until 3 "master BACKUP after clear-stale" is_state master backup
sleep 1
has_vip slave || fail "VIP left the slave after clear-stale"
probe_is slave || fail "client not on the slave"
pass "returning master stays stale; clear-stale gives backup without preemption"
