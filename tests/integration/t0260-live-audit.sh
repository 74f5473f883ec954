#!/bin/bash
# Drift audit: files changed directly on the slave, outside mirrord's
# knowledge, are found by `mirrorctl audit` on the master: one whose content
# differs with the same size and mtime (only the content hash can tell),
# one of another size, one that exists on the slave only.  Mirror "rep"
# (audit_repair = yes) gets them repaired from the master (the strict tree
# comparison passes afterwards, and a second pass finds nothing); mirror
# "www" (audit_repair = no) only reports them.  Mirror "slow" hashes a few
# MiB at audit_rate = 1M: the bytes both daemons read (/proc/PID/io rchar)
# and the audit's own counters stay within 10% of the limit, and a file
# written to all along the pass is not reported as drift.
. "$(dirname "$0")/lib.sh"
need_root

MIRRORCTL="$top_builddir/src/mirrorctl/mirrorctl"
RATE=1048576

net_setup master slave
mkdir -p "$T_DIR/master-state" "$T_DIR/slave-state"
for m in www rep slow; do mkdir -p "$T_DIR/master/$m" "$T_DIR/slave/$m"; done

confs() {
	local node addr mirror
	for node in slave master; do
		[ $node = slave ] && addr=192.0.2.12 || addr=192.0.2.11
		{
			printf '[node]\nname = %s\nlisten = %s:7770\n' $node $addr
			printf 'control_socket = %s/%s.sock\nstate_dir = %s/%s-state\n\n' \
				"$T_DIR" $node "$T_DIR" $node
			for mirror in www rep slow; do
				printf '[mirror %s]\npath = %s/%s/%s\n' $mirror "$T_DIR" $node $mirror
				[ $node = master ] || { echo; continue; }
				printf 'peer = 192.0.2.12:7770\n'
				case $mirror in
				www) printf 'audit_rate = off\naudit_sample = 1%%\naudit_repair = no\n' ;;
				rep) printf 'audit_rate = off\naudit_sample = 1%%\naudit_repair = yes\n' ;;
				slow) printf 'audit_rate = 1M\naudit_sample = 100%%\n' ;;
				esac
				echo
			done
			printf '[security]\ninsecure_plaintext = yes\n'
		} >"$T_DIR/$node.conf"
	done
}
confs

ctl() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" "$@"; }
# audit_field MIRROR FIELD: a number from the audit object of mirrorctl status --json
audit_field() {
	ctl status --json 2>/dev/null |
		sed -n "s/.*\"name\":\"$1\"[^{]*\"audit\":{\([^}]*\)}.*/\1/p" |
		tr ',' '\n' | sed -n "s/^\"$2\"://p"
}
same() { "$TREECMP" "$T_DIR/master/$1" "$T_DIR/slave/$1"; }
converge() { wait_until "${2:-20}" "$1 converged" same "$1"; }
passes_reach() { [ "$(audit_field "$1" passes)" -ge "$2" ] 2>/dev/null; }
run_audit() { # run_audit MIRROR [--full]: one pass, waited for
	local before
	before=$(audit_field "$1" passes)
	ctl audit "$@" >/dev/null || fail "mirrorctl audit $*"
	wait_until "${AUDIT_WAIT:-60}" "audit pass of $1" passes_reach "$1" $((before + 1))
}
rchar() { awk '/^rchar:/ { print $2 }' "/proc/$1/io"; }

# ---- trees ----
for m in www rep; do
	"$MKTREE" "$T_DIR/master/$m" 2 60 || fail "mktree"
	head -c 200000 /dev/urandom >"$T_DIR/master/$m/same-size.bin"
	head -c 50000 /dev/urandom >"$T_DIR/master/$m/other-size.bin"
done
for i in 1 2 3 4 5 6; do head -c $RATE /dev/urandom >"$T_DIR/master/slow/f$i.bin"; done
echo start >"$T_DIR/master/slow/busy.txt"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
for m in www rep slow; do converge $m 30; done
pass "start-up reconciliation of three mirrors"

# the audit leaves alone what changed on the master in the last seconds
sleep 6

# ---- a clean tree: no findings ----
run_audit www --full
[ "$(audit_field www drift_last)" = 0 ] || fail "a clean tree reported drift"
[ "$(audit_field www hashed_files)" -ge 60 ] ||
	fail "--full hashed $(audit_field www hashed_files) files, expected every one"
pass "a full pass over a clean tree finds nothing and hashes every file"

# ---- change the slave behind mirrord's back ----
for m in www rep; do
	S=$T_DIR/slave/$m
	printf 'XXXX' | dd of="$S/same-size.bin" bs=1 seek=100000 conv=notrunc status=none
	touch -m -r "$T_DIR/master/$m/same-size.bin" "$S/same-size.bin"
	cmp -s "$T_DIR/master/$m/same-size.bin" "$S/same-size.bin" && fail "corruption failed"
	[ "$(stat -c '%s %Y' "$S/same-size.bin")" = \
	  "$(stat -c '%s %Y' "$T_DIR/master/$m/same-size.bin")" ] || fail "size/mtime not kept"
	echo more >>"$S/other-size.bin"
	echo stray >"$S/slave-only.txt"
done

# report only
run_audit www --full
n=$(audit_field www drift_last)
[ "$n" = 3 ] || fail "www: $n differences reported, expected 3"
for p in same-size.bin other-size.bin slave-only.txt; do
	grep -q "mirror www: audit: '$p'" "$T_DIR/source.log" || fail "www: $p not logged"
done
grep -q "mirror www: audit: 'same-size.bin' differs in content" "$T_DIR/source.log" ||
	fail "www: the content difference is not named as such"
[ "$(audit_field www repaired_total)" = 0 ] || fail "www: repaired with audit_repair = no"
sleep 2
same www >/dev/null 2>&1 && fail "www: repaired with audit_repair = no"
ctl status | grep -q "audit .* 3 differences" || fail "mirrorctl status has no audit line"
pass "audit_repair = no: the three differences are reported (status, log), not repaired"

# repair
run_audit rep --full
n=$(audit_field rep drift_last)
[ "$n" = 3 ] || fail "rep: $n differences reported, expected 3"
[ "$(audit_field rep repaired_total)" = 3 ] || fail "rep: not every difference repaired"
converge rep 20
pass "audit_repair = yes: the three differences are repaired from the master"
sleep 6
run_audit rep --full
[ "$(audit_field rep drift_last)" = 0 ] || fail "rep: drift after the repair"
pass "a second pass after the repair finds nothing"

# the sample pass (1%) checks every file's metadata all the same
echo more >>"$T_DIR/slave/rep/other-size.bin"
touch -m -d '2001-01-01' "$T_DIR/slave/rep/same-size.bin"
run_audit rep
[ "$(audit_field rep drift_last)" = 2 ] || fail "rep: a sample pass missed metadata drift"
converge rep 20
pass "a sample pass finds size and mtime differences of files outside its sample"

# ---- a slow audit keeps to its rate ----
( for i in $(seq 1 200); do echo "$i" >>"$T_DIR/master/slow/busy.txt"; sleep 0.1; done ) &
writer=$!
T_PIDS="$T_PIDS $writer"
r0s=$(rchar "$PID_sink"); r0m=$(rchar "$PID_source"); t0=$(date +%s%N)
AUDIT_WAIT=30 run_audit slow
t1=$(date +%s%N); r1s=$(rchar "$PID_sink"); r1m=$(rchar "$PID_source")
stop_pid "$writer"
ms=$(( (t1 - t0) / 1000000 ))
total=$((6 * RATE))
log "slow audit: $ms ms; sink read $((r1s - r0s)) bytes, source $((r1m - r0m)) bytes;" \
    "audit counters: here $(audit_field slow hashed_bytes), slave $(audit_field slow peer_hashed_bytes)"
[ "$(audit_field slow hashed_bytes)" -ge "$total" ] || fail "the source did not hash every file"
[ "$(audit_field slow peer_hashed_bytes)" -ge "$total" ] || fail "the sink did not hash every file"
for side in sink source; do
	[ $side = sink ] && got=$((r1s - r0s)) || got=$((r1m - r0m))
	# bytes per second over the pass, against the limit
	rate=$(( got * 1000 / ms ))
	log "$side: $rate bytes/s read during the pass (limit $RATE)"
	[ "$rate" -le $((RATE * 110 / 100)) ] || fail "$side read $rate bytes/s, limit $RATE"
	[ "$rate" -ge $((RATE * 70 / 100)) ] || fail "$side read only $rate bytes/s: not the limit at work"
done
pass "audit_rate = 1M: both sides read within 10% of 1 MiB/s"
[ "$(audit_field slow drift_last)" = 0 ] ||
	fail "a file written during the audit was reported as drift"
pass "a file written during the audit is not reported"

kill -0 "$PID_source" || fail "source died"
kill -0 "$PID_sink" || fail "sink died"
