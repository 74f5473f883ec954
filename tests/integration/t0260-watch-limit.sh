#!/bin/bash
# The inotify watch limit: a source whose tree has more directories than
# watches are left must say so (the exact sysctl in the log, "none" or
# "partial" in the status, mirrorctl's health) instead of following part of
# the tree silently, and must recover by itself once the limit is raised.
#
# The limit is lowered in a user namespace of the source's own
# (user.max_inotify_watches, Linux >= 5.11): the kernel charges each watch
# against that namespace's cap and every cap above it, so the test gets a
# low limit without touching the machine-wide fs.inotify.max_user_watches
# that other processes share.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"
sed -i "/^\[node\]/a metrics_file = $T_DIR/master.prom" "$T_DIR/master.conf"

same() { "$TREECMP" "$M" "$S"; }
status_json() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status --json; }
coverage_is() { status_json | grep -q "\"coverage\":\"$1\""; }
cap() { # cap N [PID]: the watch cap of the source's (or PID's) user namespace
	nsenter -U -t "${2:-$PID_source}" sh -c "echo $1 >/proc/sys/user/max_inotify_watches"
}
# "${OWN_USERNS[@]}" CAP CMD...: CMD in a user namespace of its own (root
# mapped to root) whose watch cap is CAP
OWN_USERNS=(unshare --user --map-root-user
	sh -c 'echo "$0" >/proc/sys/user/max_inotify_watches && exec "$@"')

# 1 root + 30 + 30 * 3 = 121 directories, a file in each leaf
for i in $(seq 1 30); do
	for j in 1 2 3; do mkdir -p "$M/d$i/e$j" && echo "$i.$j" >"$M/d$i/e$j/f"; done
done
[ "$(find "$M" -type d | wc -l)" -eq 121 ] || fail "tree setup"

start_bg slave sink "${OWN_USERNS[@]}" 100000 "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
# the source in a user namespace of its own whose cap is 40 watches
start_bg master source "${OWN_USERNS[@]}" 40 "$MIRRORD" -f -c "$T_DIR/master.conf"

# ---- start-up over the limit: refused loudly, visible in the status ----
wait_until 10 "the watch-limit error in the log" \
	grep -q "121 directories to watch" "$T_DIR/source.log"
grep "121 directories to watch" "$T_DIR/source.log" | head -n 1
grep -q "sysctl -w user.max_inotify_watches=[0-9]" "$T_DIR/source.log" ||
	fail "no sysctl command in the message"
grep -q "'user.max_inotify_watches = [0-9]*' in /etc/sysctl.d/" "$T_DIR/source.log" ||
	fail "no sysctl.d line in the message"
pass "start-up over the limit: error with the numbers and the sysctl"
wait_until 5 "status coverage none" coverage_is none
status_json | grep -q '"unwatched_dirs":121' || fail "status: $(status_json)"
in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status >"$T_DIR/human" 2>&1
rc=$?
grep -q "watching *NONE" "$T_DIR/human" || fail "human status: $(cat "$T_DIR/human")"
[ "$rc" -eq 1 ] || fail "mirrorctl status exit $rc, want 1 (not followed = lagging)"
wait_until 10 "metrics: unwatched directories" \
	grep -q '^mirrord_unwatched_directories{mirror="www",role="source"} 121$' "$T_DIR/master.prom"
pass "status: coverage none, 121 directories not followed, health lagging"
running "$PID_source" || fail "source exited instead of degrading"

# ---- the limit raised: the watcher starts by itself and reconciles ----
echo "written while not watched" >"$M/d7/e2/late"
cap 100000
wait_until 15 "status coverage full" coverage_is full
grep -q "every directory of .* is watched again" "$T_DIR/source.log" || fail "no recovery notice"
wait_until 20 "trees equal after recovery" same
pass "limit raised: watched again, converged (the change made meanwhile included)"
mkdir -p "$M/new/a" && echo fresh >"$M/new/a/g"
wait_until 10 "a change after recovery" same
pass "live changes followed after recovery"

# ---- the limit reached mid-run: partial, said once, then recovered ----
used=$(status_json | sed -n 's/.*"watched_dirs":\([0-9]*\).*/\1/p')
[ -n "$used" ] && [ "$used" -ge 121 ] || fail "watched_dirs '$used'"
cap $((used + 3))
for i in $(seq 1 10); do mkdir "$M/late$i"; done
wait_until 10 "status coverage partial" coverage_is partial
n=$(grep -c "the watch limit is reached: '" "$T_DIR/source.log")
[ "$n" -eq 1 ] || fail "the mid-run limit was logged $n times, want once"
grep "the watch limit is reached: '" "$T_DIR/source.log"
sleep 0.5
echo "in an unwatched directory" >"$M/late9/h"
cap 100000
wait_until 15 "status coverage full again" coverage_is full
wait_until 20 "trees equal after the second recovery" same
echo again >"$M/late9/h2"
wait_until 10 "a change in a directory that was not watched" same
pass "limit reached mid-run: partial in the status, logged once, recovered and converged"

# ---- a promotion over the limit is refused, with the same advice ----
cap 20 "$PID_sink"
in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" promote www >"$T_DIR/promote" 2>&1 &&
	fail "promotion over the watch limit succeeded"
grep -q "directories to watch and they do not fit.*sysctl -w user.max_inotify_watches=.*next promotion" \
	"$T_DIR/sink.log" || fail "no watch-limit error for the promotion"
cap 100000 "$PID_sink"
in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" promote www >"$T_DIR/promote" 2>&1 ||
	fail "promotion after raising the limit: $(cat "$T_DIR/promote")"
in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" demote www >/dev/null 2>&1 || fail "demote"
pass "promotion over the limit refused with the sysctl; accepted once raised"

running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
