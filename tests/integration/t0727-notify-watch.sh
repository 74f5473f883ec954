#!/bin/bash
# t0727: the watch limit reaches the notification hook ([node] notify).
# The source runs in a user namespace of its own whose inotify watch cap
# is lowered (user.max_inotify_watches, as t0260 does): new directories
# beyond the cap leave the coverage partial, and "watch" is raised once for
# the mirror; once the cap is raised the source watches the whole tree
# again and "resolved" goes out once.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
EV=$T_DIR/ev
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state" "$EV"
pair_confs "$M" "$S"
notify_hook "$EV"

runs() { grep -l "^MIRRORD_EVENT=watch\$" "$EV"/*.done 2>/dev/null |
	xargs -r grep -l "^MIRRORD_STATE=$1\$" | wc -l; }
has_runs() { [ "$(runs "$1")" -ge 1 ]; }
field() {
	head -n 1 "$(grep -l "^MIRRORD_EVENT=watch\$" "$EV"/*.done |
		xargs grep -l "^MIRRORD_STATE=$1\$" | head -n 1)" |
		python3 -c "import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split('.'): v=v[k]
print(v)" "$2"
}
same() { "$TREECMP" "$M" "$S" >/dev/null 2>&1; }
status_json() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status --json; }
coverage_is() { status_json | grep -q "\"coverage\":\"$1\""; }
cap() { nsenter -U -t "$PID_source" sh -c "echo $1 >/proc/sys/user/max_inotify_watches"; }
OWN_USERNS=(unshare --user --map-root-user
	sh -c 'echo "$0" >/proc/sys/user/max_inotify_watches && exec "$@"')

for i in $(seq 1 10); do mkdir -p "$M/d$i" && echo "$i" >"$M/d$i/f"; done
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "${OWN_USERNS[@]}" 100000 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 15 "first sync" same
wait_until 5 "coverage full" coverage_is full
[ "$(runs raised)" = 0 ] || fail "watch raised with every directory watched"

used=$(status_json | sed -n 's/.*"watched_dirs":\([0-9]*\).*/\1/p')
[ -n "$used" ] || fail "no watched_dirs in the status"
cap $((used + 2))
for i in $(seq 1 8); do mkdir "$M/late$i"; done
wait_until 10 "coverage partial" coverage_is partial
wait_until 5 "watch raised" has_runs raised
mkdir "$M/later"
sleep 2
[ "$(runs raised)" = 1 ] || fail "watch raised $(runs raised) times"
[ "$(runs resolved)" = 0 ] || fail "watch resolved while partial"
[ "$(field raised key)" = www ] || fail "key"
[ "$(field raised detail.coverage)" = partial ] || fail "detail.coverage"
[ "$(field raised detail.unwatched_dirs)" -ge 1 ] || fail "detail.unwatched_dirs"
log "raised: $(field raised summary)"
pass "the watch limit raised watch once"

cap 100000
wait_until 20 "coverage full again" coverage_is full
wait_until 5 "watch resolved" has_runs resolved
sleep 1
[ "$(runs resolved)" = 1 ] || fail "watch resolved $(runs resolved) times"
[ "$(runs raised)" = 1 ] || fail "watch raised again"
log "resolved: $(field resolved summary)"
pass "resolved once when the whole tree is watched again"
running "$PID_source" || fail "source died"
