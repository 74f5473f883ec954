#!/bin/bash
# Fan-out: one master mirrord sends mirror www to two slaves (peer = twice).
# Live changes reach both; with one slave's mirrord stopped the other keeps
# converging with its lag unchanged; restarted, the stopped one catches up
# from the journal (its own cursor).  Then it is stopped again while more
# changes than journal_max arrive: it is dropped from the journal, which is
# compacted past its cursor, and on restart it is reconciled by comparing
# the trees.  An unreachable slave (cable cut, connection attempts time out)
# does not hold up the other either.  Every convergence is a strict treecmp.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MKTREE" "$TREECMP"

JMAX=100
net_setup master slave1 slave2
M=$T_DIR/master/www S1=$T_DIR/slave1/www S2=$T_DIR/slave2/www
STATE=$T_DIR/master-state/www
mkdir -p "$M" "$S1" "$S2"
fanout_slave_confs
{
	printf '[node]\nname = master\nlisten = 192.0.2.11:7770\n'
	printf 'control_socket = %s/master.sock\nstate_dir = %s/master-state\n' "$T_DIR" "$T_DIR"
	printf 'metrics_file = %s/master.prom\n\n' "$T_DIR"
	printf '[mirror www]\npath = %s\npeer = 192.0.2.12:7770\npeer = 192.0.2.13:7770\n' "$M"
	printf 'journal_max = %s\n\n[security]\ninsecure_plaintext = yes\n' $JMAX
} >"$T_DIR/master.conf"

converge() { converge_trees "$M" "$2" "$1" "${3:-30}"; }  # LABEL DST [SECONDS]
both() { converge "$1 (slave1)" "$S1" "${2:-30}"; converge "$1 (slave2)" "$S2" "${2:-30}"; }
# latency DST NAME: ms until a new small file M/NAME is on DST (at most 10 s)
latency() {
	local t0 t1 end
	t0=$(date +%s%N)
	end=$((t0 + 10000000000))
	echo "$2" >"$M/$2"
	until [ -f "$1/$2" ] && [ "$(cat "$1/$2" 2>/dev/null)" = "$2" ]; do
		[ "$(date +%s%N)" -gt "$end" ] && fail "$2 did not reach $1 within 10 s"
		sleep 0.01
	done
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000000 ))
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
status_json() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status --json >"$T_DIR/status.json"; }
# peer_field ADDR FIELD: a field of one peer in mirrorctl status --json
peer_field() {
	python3 - "$T_DIR/status.json" "$1" "$2" <<'PY'
import json, sys
m = [x for x in json.load(open(sys.argv[1]))["mirrord"]["mirrors"] if x["name"] == "www"][0]
p = [x for x in m["peers"] if x["peer"] == sys.argv[2]][0]
print(json.dumps(p[sys.argv[3]]))
PY
}
# cursor_line ADDR: its line of journal.peers ("addr cursor kept|dropped")
cursor_line() { grep "^$1 " "$STATE/journal.peers"; }
keep_from() { # the first record the journal file still holds
	python3 -c 'import struct,sys; print(struct.unpack_from("<Q", open(sys.argv[1],"rb").read(48), 32)[0])' \
		"$STATE/journal"
}

"$MKTREE" "$M/seed" 31 300 || fail "mktree"
start_bg slave1 sink1 "$MIRRORD" -f -c "$T_DIR/slave1.conf"
start_bg slave2 sink2 "$MIRRORD" -f -c "$T_DIR/slave2.conf"
wait_port slave1 192.0.2.12 7770 10
wait_port slave2 192.0.2.13 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
both "initial sync to two slaves"
grep -q "2 peers" "$T_DIR/source.log" || fail "the master does not run two peers"

# ---- live changes reach both ----
mkdir -p "$M/live/sub" && echo a >"$M/live/a" && echo b >"$M/live/sub/b"
mv "$M/seed" "$M/seed2" && rm -f "$M/live/a" && ln -s sub/b "$M/live/link"
both "live changes reach both slaves"
both_up() { status_json && [ "$(peer_field 192.0.2.12:7770 connected)" = true ] &&
	[ "$(peer_field 192.0.2.13:7770 connected)" = true ]; }
wait_until 10 "mirrorctl status: both peers connected" both_up
in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status >"$T_DIR/status.txt" 2>&1
grep -q "sink 192.0.2.13:7770 connected" "$T_DIR/status.txt" ||
	{ cat "$T_DIR/status.txt"; fail "mirrorctl status does not list each sink"; }
pass "mirrorctl status lists each sink with its cursor"
wait_until 10 "per-sink metrics" grep -q \
	'^mirrord_peer_connected{mirror="www",peer="192.0.2.13:7770"} 1$' "$T_DIR/master.prom"
grep -q '^mirrord_peer_journal_behind{mirror="www",peer="192.0.2.12:7770"} ' "$T_DIR/master.prom" ||
	fail "no journal_behind metric per sink"
l_up=$(median3 "$(latency "$S1" probe1)" "$(latency "$S1" probe2)" "$(latency "$S1" probe3)")

# ---- slave2 stopped for a while: slave1 keeps converging ----
stop_pid "$PID_sink2" TERM
for i in $(seq 1 10); do echo "while down $i" >"$M/live/down$i"; done
echo changed >>"$M/live/sub/b"
mv "$M/live/down1" "$M/live/sub/down1"
converge "slave1 converges while slave2 is down" "$S1" 10
sleep 1   # several reconnect attempts to slave2 in the meantime
l_down=$(median3 "$(latency "$S1" probe4)" "$(latency "$S1" probe5)" "$(latency "$S1" probe6)")
log "latency to slave1: ${l_up} ms with both slaves up, ${l_down} ms with slave2 down (medians of 3)"
[ "$l_down" -le $((l_up * 3 + 300)) ] || fail "slave1's lag grew with slave2 down: $l_up -> $l_down ms"
pass "slave1's lag unchanged with slave2 down"
status_json
[ "$(peer_field 192.0.2.13:7770 connected)" = false ] || fail "slave2 is shown connected"
[ "$(peer_field 192.0.2.12:7770 connected)" = true ] || fail "slave1 is shown disconnected"
behind=$(peer_field 192.0.2.13:7770 behind)
[ "$behind" -gt 0 ] || fail "slave2's cursor is not behind ($behind)"
wait_until 5 "journal.peers keeps slave2" grep -q "^192.0.2.13:7770 [0-9]* kept$" "$STATE/journal.peers"
pass "slave2 kept in the journal, $behind records behind"

start_bg slave2 sink2 "$MIRRORD" -f -c "$T_DIR/slave2.conf"
both "slave2 restarted: both converge"
grep -q "fell beyond the journal" "$T_DIR/source.log" &&
	fail "slave2 was reconciled although the journal kept its records"
pass "slave2 caught up from the journal"

# ---- slave2's cable cut with its session up: the master neither spins
# nor makes slave1 wait ----
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID_source/stat"; }
link_down slave2
c0=$(cpu_ticks)
lat=()
# past the keep-alive PING (2 s) that slave2 cannot answer
for i in 1 2 3 4 5 6 7; do lat+=("$(latency "$S1" hung$i)"); sleep 0.7; done
c1=$(cpu_ticks)
l_hung=$(printf '%s\n' "${lat[@]}" | sort -n | sed -n 4p)
log "slave2's session hung: latency to slave1 ${lat[*]} ms (median $l_hung), master CPU $((c1 - c0)) ticks in ~5 s"
[ "$l_hung" -le $((l_up * 3 + 300)) ] || fail "slave1's lag grew with slave2's session hung: $l_up -> $l_hung ms"
[ $((c1 - c0)) -le 80 ] || fail "the master spins while slave2's session hangs ($((c1 - c0)) ticks)"
link_up slave2
converge "slave2's session resumes after its cable is back" "$S2" 20
pass "a hung session to slave2 holds up neither slave1 nor the CPU"

# ---- slave2 unreachable (its cable cut): connection attempts hang, and
# slave1 does not notice ----
stop_pid "$PID_sink2" TERM
link_down slave2
sleep 1
lat=()
for i in 1 2 3 4 5; do lat+=("$(latency "$S1" cut$i)"); sleep 0.4; done
l_cut=$(printf '%s\n' "${lat[@]}" | sort -n | sed -n 3p)
log "latency to slave1 with slave2 unreachable: ${lat[*]} ms (median $l_cut)"
[ "$l_cut" -le $((l_up * 3 + 300)) ] || fail "slave1's lag grew with slave2 unreachable: $l_up -> $l_cut ms"
wait_until 8 "a connection attempt to the unreachable slave2 timing out" \
	grep -q "192.0.2.13:7770: cannot connect: Connection timed out" "$T_DIR/source.log"
link_up slave2
start_bg slave2 sink2 "$MIRRORD" -f -c "$T_DIR/slave2.conf"
both "slave2 reachable again: both converge"
pass "an unreachable slave2 does not hold up slave1"

# ---- slave2 falls beyond journal_max: dropped, compacted, reconciled ----
cur_before=$(cursor_line 192.0.2.13:7770 | cut -d' ' -f2)
stop_pid "$PID_sink2" TERM
mkdir -p "$M/many"
for i in $(seq 1 $((JMAX * 3))); do echo "$i" >"$M/many/f$i"; done
rm -f "$M/seed2/"*1* 2>/dev/null
converge "slave1 converges while slave2 falls behind" "$S1" 20
wait_until 10 "slave2 dropped from the journal" \
	grep -q "^192.0.2.13:7770 [0-9]* dropped$" "$STATE/journal.peers"
grep -q "192.0.2.13:7770 is [0-9]* records behind (journal_max $JMAX)" "$T_DIR/source.log" ||
	fail "no log line for the drop"
cur2=$(cursor_line 192.0.2.13:7770 | cut -d' ' -f2)
wait_until 10 "the journal compacted past slave2's cursor" \
	test "$(keep_from)" -gt "$((cur2 + 1))"
log "slave2's cursor $cur2 (was $cur_before), journal keeps records from $(keep_from), $(stat -c %s "$STATE/journal") bytes"
status_json
[ "$(peer_field 192.0.2.13:7770 dropped)" = true ] || fail "status does not show slave2 dropped"
pass "slave2 beyond journal_max: dropped and the journal compacted past it"

start_bg slave2 sink2 "$MIRRORD" -f -c "$T_DIR/slave2.conf"
both "slave2 reconciled after falling beyond the journal" 40
grep -q "192.0.2.13:7770 fell beyond the journal, reconciling it" "$T_DIR/source.log" ||
	fail "slave2 was not reconciled by comparing the trees"
wait_until 10 "journal.peers keeps slave2 again" \
	grep -q "^192.0.2.13:7770 [0-9]* kept$" "$STATE/journal.peers"
echo after >"$M/after-reconcile"
both "changes after the reconciliation reach both" 10
running "$PID_source" || fail "the master died"
exit 0
