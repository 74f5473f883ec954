#!/bin/bash
# t0730: failover transitions reach both hooks with the payload of
# doc/notify.md.  [failover] notify still gets the new state as $1 and now
# the transition as JSON on stdin; [node] notify, another hook, gets every
# transition as an event.  The master takes the VIP, then the slave takes
# over when the master's failoverd stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
need_tools "$FAILOVERD"
fo_setup
EV=$T_DIR/ev
mkdir -p "$EV"
for h in notify.sh node-hook; do
	cat >"$T_DIR/$h" <<HOOK
#!/bin/sh
f=\$(mktemp $EV/$h.XXXXXX) || exit 1
{ cat; env | grep '^MIRRORD_' | sort; echo "ARG1=\${1:-}"; } >"\$f.tmp" && mv "\$f.tmp" "\$f.done"
rm -f "\$f"
HOOK
	chmod 755 "$T_DIR/$h"
done
for n in master slave; do
	sed -i "s|^state_dir = .*|&\nnotify = $T_DIR/node-hook|" "$T_DIR/$n.conf"
done

# with HOOK NODE TO: the runs of HOOK on NODE for a transition to TO
with() { grep -l "^MIRRORD_NODE=$2\$" "$EV"/"$1".*.done 2>/dev/null |
	xargs -r grep -l "\"to\":\"$3\""; }
has() { [ -n "$(with "$@")" ]; }
field() { # field HOOK NODE TO FIELD
	head -n 1 "$(with "$1" "$2" "$3" | head -n 1)" | python3 -c "import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split('.'): v=v[k]
print(v)" "$4"
}

fo_start master
wait_until 5 "master holds the VIP" has_vip master
fo_start slave
wait_until 3 "slave BACKUP" is_state slave backup
wait_until 5 "[failover] notify of master" has notify.sh master master
wait_until 5 "[node] notify of master" has node-hook master master
f=$(with notify.sh master master | head -n 1)
grep -q "^ARG1=master$" "$f" || fail "[failover] notify lost its argument"
grep -q "^MIRRORD_EVENT=failover$" "$f" || fail "[failover] notify: MIRRORD_EVENT"
[ "$(field notify.sh master master event)" = failover ] || fail "event"
[ "$(field notify.sh master master state)" = event ] || fail "state"
[ "$(field notify.sh master master key)" = "$VIP/$VIP_PREFIX" ] || fail "key"
[ "$(field notify.sh master master detail.vip)" = "$VIP/$VIP_PREFIX" ] || fail "detail.vip"
[ "$(field node-hook master master program)" = failoverd ] || fail "program"
grep -q "^ARG1=$" "$(with node-hook master master | head -n 1)" || fail "[node] notify got an argument"
log "master: $(field node-hook master master summary)"
pass "a takeover reaches [failover] notify (state as \$1, JSON on stdin) and [node] notify"

stop_pid "$PID_fo_master"
wait_until 5 "slave takes over" has_vip slave
wait_until 5 "[node] notify of slave" has node-hook slave master
wait_until 5 "[failover] notify of slave" has notify.sh slave master
[ "$(field node-hook slave master detail.from)" = backup ] || fail "detail.from"
[ "$(with node-hook slave master | wc -l)" = 1 ] || fail "the takeover notified more than once"
log "slave: $(field node-hook slave master summary)"
pass "the slave's takeover reaches both hooks once"
