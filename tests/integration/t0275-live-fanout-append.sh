#!/bin/bash
# Fan-out and growing files: a writer keeps a log file open and appends
# 4 KiB blocks on a master with two sinks (peer = twice).  Both slaves'
# copies must grow while the file is still open (each checkpoint within
# 1 s), as byte-exact prefixes, and the master's wire must carry under
# 2.2x the appended bytes (random data: only appends keep it that low).
# Then the file is closed and every tree is equal.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$TREECMP"

net_setup master slave1 slave2
M=$T_DIR/master/www S1=$T_DIR/slave1/www S2=$T_DIR/slave2/www
mkdir -p "$M" "$S1" "$S2"
fanout_slave_confs
{
	printf '[node]\nname = master\nlisten = 192.0.2.11:7770\n'
	printf 'control_socket = %s/master.sock\nstate_dir = %s/master-state\n\n' "$T_DIR" "$T_DIR"
	printf '[mirror www]\npath = %s\npeer = 192.0.2.12:7770\npeer = 192.0.2.13:7770\n' "$M"
	# half the default interval: the 1 s bound below keeps a margin
	printf 'append_interval_ms = 250\n\n[security]\ninsecure_plaintext = yes\n'
} >"$T_DIR/master.conf"

size_of() { stat -c %s "$1" 2>/dev/null || echo -1; }
has() { [ "$(size_of "$1/app.log")" -ge "$2" ]; }   # has DIR BYTES
both_have() { has "$S1" "$1" && has "$S2" "$1"; }
same() { "$TREECMP" "$M" "$S1" && "$TREECMP" "$M" "$S2"; }

echo seed >"$M/seed.txt"
start_bg slave1 sink1 "$MIRRORD" -f -c "$T_DIR/slave1.conf"
start_bg slave2 sink2 "$MIRRORD" -f -c "$T_DIR/slave2.conf"
wait_port slave1 192.0.2.12 7770 10
wait_port slave2 192.0.2.13 7770 10
start_bg master source "$MIRRORD" -f -v -c "$T_DIR/master.conf"
wait_until 20 "start-up reconciliation of both slaves" same

BLOCK=4096
exec 3>>"$M/app.log"              # the writer: this shell, fd 3 stays open
head -c $BLOCK /dev/urandom >&3
wait_until 5 "first block on both slaves while the file is open" both_have $BLOCK
pass "first block on both slaves while the file is open"

b0=$(wire_bytes master)
worst=0
for i in $(seq 1 40); do
	head -c $BLOCK /dev/urandom >&3
	if [ $((i % 10)) -eq 0 ]; then
		want=$(size_of "$M/app.log")
		t0=$(date +%s%N)
		wait_until 1 "block $i on both slaves within 1 s (file still open)" both_have "$want"
		lag=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ $lag -gt $worst ] && worst=$lag
	fi
	sleep 0.04
done
want=$(size_of "$M/app.log")
wait_until 1 "last block on both slaves within 1 s" both_have "$want"
sleep 0.3                          # the sinks' DONE/ACK for the last append
b1=$(wire_bytes master)
for s in "$S1" "$S2"; do
	cmp -s -n "$want" "$M/app.log" "$s/app.log" || fail "$s/app.log is not the master's prefix"
done
appended=$((40 * BLOCK))
wire=$((b1 - b0))
log "appended $appended bytes, $wire bytes on the master's veth (both sinks, both ways), worst checkpoint wait ${worst} ms"
[ $((wire * 10)) -lt $((appended * 22)) ] ||
	fail "appends to two sinks cost $wire wire bytes for $appended appended (>= 2.2x)"
pass "both slaves' copies grow while open by appends; wire $wire < 2.2 x $appended"

exec 3>&-
wait_until 10 "trees equal after the close" same
pass "both slaves equal after the close"
grep -E '\[(error|crit)\]' "$T_DIR/source.log" "$T_DIR/sink1.log" "$T_DIR/sink2.log" &&
	fail "errors in the logs"
stop_pid "$PID_source"
grep -E 'session ended: .* [1-9][0-9]* appends' "$T_DIR/source.log" | head -n 2
[ "$(grep -cE 'session ended: .* [1-9][0-9]* appends \(0 refused\)' "$T_DIR/source.log")" -ge 2 ] ||
	fail "not both sessions sent appends"
pass "both sinks' sessions sent appends, none refused"
