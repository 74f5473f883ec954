#!/bin/bash
# The OCF resource agent (scripts/ocf/mirrord) without Pacemaker: its
# actions run with the OCF environment against real mirrord processes in
# namespaces, and their exit codes must be the OCF ones (0 running, 7 not
# running, 8 running promoted, 9 promoted but failed, 5 / 6 not installed
# / not configured); meta-data must be well-formed XML naming every action.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$TREECMP"
AGENT="$top_srcdir/scripts/ocf/mirrord"
command -v xmllint >/dev/null || fail "xmllint missing (libxml2-utils, scripts/deps)"
command -v ocf-tester >/dev/null || fail "ocf-tester missing (resource-agents, scripts/deps)"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state" "$T_DIR/ocf"
pair_confs "$M" "$S"

# ocf NODE ACTION [VAR=VALUE...]: the agent as Pacemaker runs it, here
# without ocf-shellfuncs (OCF_ROOT is empty); ocf-tester below runs it with
ocf() {
	local node=$1 action=$2
	shift 2
	in_ns "$node" env OCF_ROOT="$T_DIR/ocf" OCF_RESOURCE_INSTANCE="mirrord-$node" \
		HA_RSCTMP="$T_DIR/rsc-$node" OCF_RESKEY_config="$T_DIR/$node.conf" \
		OCF_RESKEY_mirrord="$MIRRORD" OCF_RESKEY_mirrorctl="$MIRRORCTL" \
		OCF_RESKEY_ctl_timeout_ms=1000 OCF_RESKEY_CRM_meta_timeout=20000 "$@" \
		sh "$AGENT" "$action" >"$T_DIR/ocf.out" 2>&1
}
expect() { # expect CODE NODE ACTION [VAR=VALUE...]
	local want=$1 rc
	shift
	ocf "$@"
	rc=$?
	[ "$rc" -eq "$want" ] || { cat "$T_DIR/ocf.out"; fail "$2 on $1: exit $rc, want $want"; }
}
track() { # the daemon the agent started is ours to stop at the end
	local pid
	pid=$(cat "$T_DIR/rsc-$1/mirrord-mirrord-$1.pid") || fail "no pid file on $1"
	adopt_pid "$pid"
	eval "PID_$1=$pid"
}
same() { "$TREECMP" "$M" "$S"; }

# ---- meta-data and validate-all ----
expect 0 master meta-data
xmllint --noout "$T_DIR/ocf.out" || fail "meta-data is not well-formed XML"
for a in start stop monitor promote demote meta-data validate-all; do
	n=$(xmllint --xpath "count(/resource-agent/actions/action[@name='$a'])" "$T_DIR/ocf.out")
	[ "$n" -ge 1 ] || fail "meta-data lacks the $a action"
done
[ "$(xmllint --xpath 'string(/resource-agent/@name)' "$T_DIR/ocf.out")" = mirrord ] ||
	fail "meta-data: resource-agent name"
expect 0 master validate-all
expect 5 master validate-all OCF_RESKEY_config="$T_DIR/nonexistent.conf"
expect 5 master validate-all OCF_RESKEY_mirrord="$T_DIR/no-such-mirrord"
printf '[node]\nname = x\nbogus_key = 1\n' >"$T_DIR/bad.conf"
expect 6 master validate-all OCF_RESKEY_config="$T_DIR/bad.conf"
expect 6 master validate-all OCF_RESKEY_mirrors="www nosuch"
expect 3 master no-such-action
pass "meta-data is XML with every action; validate-all: 0, 5 not installed, 6 not configured"

# ---- start, monitor: 7 before, 0 after; start is idempotent ----
expect 7 slave monitor
expect 0 slave start
track slave
expect 0 slave monitor
expect 0 slave start
expect 7 master monitor
echo one >"$M/one"
expect 0 master start
track master
expect 0 master monitor
wait_until 20 "master's tree on the slave" same
pass "start/monitor: 7 stopped, 0 running unpromoted; data flows master -> slave"

# ---- promote / demote the configured master: a state of the agent's ----
expect 0 master promote
expect 8 master monitor
expect 0 master demote
expect 0 master monitor
pass "the master (mirrors with a peer): promote 0 -> monitor 8, demote 0 -> monitor 0"

# ---- failover: the master stops, the slave is promoted ----
expect 0 master stop
expect 7 master monitor
running "$PID_master" && fail "master's mirrord still runs after stop"
expect 0 master stop
expect 0 slave promote
expect 8 slave monitor
in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" status --json | grep -q '"role":"source"' ||
	fail "the slave's mirror is not promoted in mirrord's status"
echo "written on the promoted slave" >"$S/only-on-slave"
# the old master comes back unpromoted: its pushes are refused
expect 0 master start
track master
expect 0 master monitor
sleep 2
[ -f "$S/only-on-slave" ] || fail "the returning master overwrote the promoted slave"
pass "failover: slave promote 0 -> monitor 8; the returning master runs (0) and cannot push"

# ---- a hung or dead promoted daemon ----
signal_pid STOP "$PID_slave"
expect 9 slave monitor
signal_pid CONT "$PID_slave"
expect 8 slave monitor
signal_pid KILL "$PID_slave"
wait_until 5 "the slave's mirrord gone" exited "$PID_slave"
expect 7 slave monitor
expect 0 slave start
track slave
expect 8 slave monitor   # mirrord kept the promotion across the crash
pass "hung promoted daemon: 9; killed: 7; restarted: 8 (the promotion is persisted)"

# ---- demote, and everything stops ----
expect 0 slave demote
expect 0 slave monitor
wait_until 20 "the master is the source again" same
expect 0 slave stop
expect 0 master stop
expect 7 slave monitor
expect 7 master monitor
expect 0 slave stop
pass "demote 0 -> monitor 0, the master pushes again; stop 0 twice, then monitor 7"

# ---- a stale PID file naming another program: not ours to report or kill ----
sleep 60 &
other=$!
T_PIDS="$T_PIDS $other"
echo "$other" >"$T_DIR/rsc-slave/mirrord-mirrord-slave.pid"
expect 7 slave monitor
expect 0 slave stop
running "$other" || fail "stop killed a process that is not mirrord"
stop_pid "$other"
pass "a PID reused by another program: monitor 7, stop leaves it alone"

# ---- ocf-tester (resource-agents): the DTD, the action sequences, and the
# agent with the real ocf-shellfuncs sourced ----
mkdir -p "$T_DIR/solo/www" "$T_DIR/solo-state"
printf '[node]\nname = solo\nlisten = 192.0.2.12:7770\ncontrol_socket = %s/solo.sock\n' \
	"$T_DIR" >"$T_DIR/solo.conf"
printf 'state_dir = %s/solo-state\n\n[mirror www]\npath = %s/solo/www\n\n' \
	"$T_DIR" "$T_DIR" >>"$T_DIR/solo.conf"
printf '[security]\ninsecure_plaintext = yes\n' >>"$T_DIR/solo.conf"
in_ns slave env HA_RSCTMP="$T_DIR/rsc-solo" \
	PATH="$(dirname "$MIRRORD"):$(dirname "$MIRRORCTL"):$PATH" \
	timeout 120 ocf-tester -n mirrord-solo -o config="$T_DIR/solo.conf" "$AGENT" \
	>"$T_DIR/ocf-tester.out" 2>&1
rc=$?
grep -q "passed all tests" "$T_DIR/ocf-tester.out" && [ "$rc" -eq 0 ] ||
	{ cat "$T_DIR/ocf-tester.out"; fail "ocf-tester: exit $rc"; }
if ls "$T_DIR/rsc-solo"/*.pid >/dev/null 2>&1; then fail "ocf-tester left a pid file"; fi
pass "ocf-tester: every test passed (meta-data against the DTD, start/stop/promote/demote)"
