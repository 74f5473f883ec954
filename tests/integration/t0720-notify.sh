#!/bin/bash
# t0720: the notification hook ([node] notify, doc/notify.md).  A hook that
# keeps its stdin and MIRRORD_* environment, one file per run.  (1) With
# the slave's mirrord stopped and a change waiting, the master's "lag"
# condition is raised once (notify_lag_sec = 2), and nothing more while it
# holds; restarted, the sink catches up and "resolved" goes out once, with
# the documented fields.  (2) A mirror-restore run reports its result as a
# "restore" event with its counts.
. "$(dirname "$0")/lib.sh"
need_root

need_tools "$MIRRORD" "$RESTORE" "$TREECMP"
net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
EV=$T_DIR/ev
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state" "$EV"
pair_confs "$M" "$S"
notify_hook "$EV" "notify_lag_sec = 2\nmetrics_file = $T_DIR/master.prom"

# runs EVENT STATE: how many hook runs were for that event and state
runs() { grep -l "^MIRRORD_EVENT=$1\$" "$EV"/*.done 2>/dev/null |
	xargs -r grep -l "^MIRRORD_STATE=$2\$" | wc -l; }
has_runs() { [ "$(runs "$1" "$2")" -ge "$3" ]; }
# payload EVENT STATE FIELD: a field of that run's JSON (its first line)
payload() {
	local f
	f=$(grep -l "^MIRRORD_EVENT=$1\$" "$EV"/*.done | xargs grep -l "^MIRRORD_STATE=$2\$" | head -n 1)
	head -n 1 "$f" | python3 -c "import json,sys; d=json.load(sys.stdin); v=d
for k in sys.argv[1].split('.'): v=v[k]
print(json.dumps(v) if isinstance(v,(dict,list)) else v)" "$3"
}
same() { "$TREECMP" "$M" "$S" >/dev/null 2>&1; }

echo one >"$M/a"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 15 "first sync" same
sleep 3
[ "$(runs lag raised)" = 0 ] || fail "lag raised while in sync"

# (1) the sink goes away with a change waiting
stop_pid "$PID_sink"
echo two >"$M/b"
wait_until 15 "lag raised" has_runs lag raised 1
sleep 3         # it holds: no second notification
[ "$(runs lag raised)" = 1 ] || fail "lag raised $(runs lag raised) times"
[ "$(runs lag resolved)" = 0 ] || fail "lag resolved while the sink is down"
[ "$(payload lag raised version)" = 1 ] || fail "payload version"
[ "$(payload lag raised key)" = www ] || fail "payload key"
[ "$(payload lag raised mirror)" = www ] || fail "payload mirror"
[ "$(payload lag raised node)" = master ] || fail "payload node"
[ "$(payload lag raised detail.threshold_sec)" = 2 ] || fail "payload threshold"
grep -q "^MIRRORD_KEY=www$" "$(grep -l "^MIRRORD_EVENT=lag$" "$EV"/*.done | head -n 1)" ||
	fail "MIRRORD_KEY"
log "raised: $(payload lag raised summary)"
pass "lag raised once while the sink is down, with the documented payload"

start_bg slave sink2 "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_until 20 "caught up" same
wait_until 15 "lag resolved" has_runs lag resolved 1
sleep 2
[ "$(runs lag resolved)" = 1 ] || fail "lag resolved $(runs lag resolved) times"
[ "$(runs lag raised)" = 1 ] || fail "lag raised again after it cleared"
[ "$(payload lag resolved state)" = resolved ] || fail "resolved payload state"
[ "$(payload lag resolved key)" = www ] || fail "resolved payload key"
log "resolved: $(payload lag resolved summary)"
prom() { sed -n "s/^$1 //p" "$T_DIR/master.prom" 2>/dev/null; }
hooks_counted() { [ "$(prom mirrord_notify_hooks_total)" = 2 ]; }
wait_until 5 "the metrics count the hooks" hooks_counted
[ "$(prom mirrord_notify_conditions)" = 0 ] || fail "conditions held: $(prom mirrord_notify_conditions)"
[ "$(prom mirrord_notify_dropped_total)" = 0 ] || fail "notifications dropped"
pass "lag resolved once when the sink caught up"

# (2) mirror-restore's result
stop_pid "$PID_source"
echo three >"$S/c"
rc=0
in_ns master "$RESTORE" -q -c "$T_DIR/master.conf" www >"$T_DIR/restore.log" 2>&1 || rc=$?
[ $rc -le 1 ] || { cat "$T_DIR/restore.log"; fail "mirror-restore exited $rc"; }
wait_until 5 "restore event" has_runs restore event 1
[ "$(payload restore event key)" = www ] || fail "restore key"
[ "$(payload restore event detail.exit)" = "$rc" ] || fail "restore exit in the payload"
case "$(payload restore event detail.result)" in
restored|conflicts) ;;
*) fail "restore result $(payload restore event detail.result)" ;;
esac
[ "$(payload restore event detail.created)" -ge 1 ] || fail "restore counts"
log "restore: $(payload restore event summary)"
pass "mirror-restore's result reaches the hook"
