#!/bin/bash
# Progress of the initial sync: while the first whole-tree pass runs (the
# master's link is throttled so it lasts a few seconds), mirrorctl status
# --json carries a "progress" object whose numbers grow (paths done, bytes
# sent; the total counted by the index walk before it, or beside the pass,
# a percentage and an ETA), the
# human format shows it, and mirrorctl status --watch on a terminal (script)
# redraws a line with a percentage and an ETA until in sync, then ends.
# The log has a progress line every 5 s.  Once in sync the progress is gone.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$TREECMP"
command -v python3 >/dev/null || fail "python3 is needed (scripts/deps)"
command -v script >/dev/null || fail "script is needed (bsdutils, scripts/deps)"
command -v tc >/dev/null || fail "tc is needed (iproute2, scripts/deps)"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
pair_confs "$M" "$S"

# 960 files of 4 KiB that do not compress (~4 MiB, 5 s at 6 Mbit/s) and
# 14400 empty ones: 15385 paths, more than the sender keeps in flight, so
# the listing waits for the link and the total is an estimate meanwhile
python3 - "$M" <<'PY'
import os, sys
for d in range(24):
    p = os.path.join(sys.argv[1], "d%02d" % d)
    os.mkdir(p)
    for f in range(40):
        with open(os.path.join(p, "f%03d" % f), "wb") as o:
            o.write(os.urandom(4096))
    for f in range(600):
        open(os.path.join(p, "e%03d" % f), "wb").close()
PY
PATHS=15385
in_ns master tc qdisc add dev eth0 root tbf rate 6mbit burst 16kb latency 500ms ||
	fail "tc tbf on the master's link"

start_bg slave slave "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master master "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 10 "the master's control socket" test -S "$T_DIR/master.sock"

# the terminal view, beside the JSON polls (bounded by timeout)
in_ns master timeout 90 script -q -e -c \
	"$MIRRORCTL -c $T_DIR/master.conf status --watch" "$T_DIR/tty.out" \
	</dev/null >/dev/null 2>&1 &
watch_pid=$!
T_PIDS="$T_PIDS $watch_pid"

# sample FILE: one mirrorctl status --json; a line in FILE when it has a
# progress object ("done total source percent eta bytes phase"); true
# once in sync (connected, no lag, no progress) after some progress
sample() {
	in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status --json >"$T_DIR/st.json" || true
	python3 - "$T_DIR/st.json" "$1" <<'PY'
import json, sys
try:
    m = json.load(open(sys.argv[1]))["mirrord"]["mirrors"][0]
except Exception:
    sys.exit(1)
p = m.get("progress")
if p:
    with open(sys.argv[2], "a") as f:
        print(p["files_done"], p["files_total"], p["total_source"], p["percent"],
              p["eta_seconds"], p["bytes_sent"], p["phase"], file=f)
seen = open(sys.argv[2]).read().strip() != ""
sys.exit(0 if seen and not p and m["connected"] and m["lag_seconds"] == 0 else 1)
PY
}

: >"$T_DIR/samples"
end=$(( $(date +%s) + 60 ))
human_seen=0
until sample "$T_DIR/samples"; do
	[ "$(date +%s)" -gt "$end" ] && fail "not in sync within 60 s"
	if [ $human_seen = 0 ]; then
		in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status >"$T_DIR/human" 2>&1 || true
		grep -q '^  progress      initial sync: [0-9]* of 1[0-9]* paths (.* %, total by [a-z]*), sent .*ETA' \
			"$T_DIR/human" && human_seen=1
	fi
	sleep 0.3
done
wait_until 30 "trees equal" "$TREECMP" "$M" "$S"
pass "converged through a throttled link"
cat "$T_DIR/samples"
python3 - "$T_DIR/samples" <<'PY' || fail "progress figures did not show or grow (see above)"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
phases = "".join("i" if r[6] == "initial" else "w" if r[6] == "walk" else "?" for r in rows)
# the walk that writes the tree index, then the listing of every
# directory it recorded (the initial sync)
assert phases.lstrip("w").strip("i") == "", "phases: " + phases
rows = [r for r in rows if r[6] == "initial"]
assert len(rows) >= 3, "fewer than 3 samples of the pass: %d" % len(rows)
done = [int(r[0]) for r in rows]
sent = [int(r[5]) for r in rows]
assert all(b >= a for a, b in zip(done, done[1:])), "files_done went back"
assert all(b >= a for a, b in zip(sent, sent[1:])), "bytes_sent went back"
assert done[-1] > done[0] and sent[-1] > sent[0], "no growth"
counted = [r for r in rows if r[1] != "None"]
assert counted, "never a total"
assert all(r[2] in ("count", "previous", "listed") and int(r[1]) == 15385 for r in counted), "total"
# the walk that writes the tree index comes first and counts the tree
assert any(r[2] in ("count", "previous") for r in counted), "the total was never counted"
assert any(r[4] != "None" and float(r[3]) > 0 for r in counted), "no ETA"
PY
pass "progress in mirrorctl status --json grew: $(wc -l <"$T_DIR/samples") samples"
[ $human_seen = 1 ] || fail "the human status never showed the progress line"
pass "progress line in mirrorctl status"

grep -E 'mirror www: initial sync: [0-9]+ of [0-9]+ paths complete on the sink \([0-9.]+%, total by [a-z]+\), [0-9]+ bytes sent, [0-9]+ paths/s, about [0-9]+ s left' \
	"$T_DIR/master.log" || fail "no progress line in the log"
pass "progress line in the log"

no_progress() {
	in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status --json >"$T_DIR/st.json" &&
		python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["mirrord"]["mirrors"][0]; sys.exit(m["progress"] is not None)' "$T_DIR/st.json"
}
wait_until 10 "progress gone once in sync" no_progress
pass "no progress once in sync"

# the watcher ends by itself once in sync, with the usual status
wait_pids 10 "mirrorctl status --watch to end once in sync" "$watch_pid" ||
	fail "mirrorctl status --watch exit code $?"
cat -v "$T_DIR/tty.out" | tail -n 20
grep -aq $'\r\033\[K''www  initial sync: [0-9]* of [0-9]* paths ([0-9.]* %, total by [a-z]*).*ETA [0-9]' \
	"$T_DIR/tty.out" || fail "no redrawn progress line with a percentage and an ETA"
grep -aq 'www  in sync' "$T_DIR/tty.out" || fail "the watch did not end on 'in sync'"
grep -aq '^health        healthy' "$T_DIR/tty.out" || fail "no status after the watch"
pass "mirrorctl status --watch on a terminal"

# ---- a restart whose tree index cannot be trusted (other settings): the
# whole-tree pass takes its total from the index's rows ----
wait_until 30 "the tree index saved" grep -q "tree index saved" "$T_DIR/master.log"
stop_pid "$PID_master"
stop_pid "$PID_slave"
rm -rf "$S" "$T_DIR/slave-state"
mkdir -p "$S"
sed -i '/^peer = /a exclude = no-such-name-anywhere' "$T_DIR/master.conf"
start_bg slave slave2 "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master master2 "$MIRRORD" -f -c "$T_DIR/master.conf"
: >"$T_DIR/samples2"
end=$(( $(date +%s) + 60 ))
until sample "$T_DIR/samples2"; do
	[ "$(date +%s)" -gt "$end" ] && fail "not in sync after the restart within 60 s"
	sleep 0.3
done
wait_until 30 "trees equal after the restart" "$TREECMP" "$M" "$S"
grep -q "index made with other settings" "$T_DIR/master2.log" ||
	fail "the index was not set aside for its settings"
cat "$T_DIR/samples2"
grep -q "^[0-9]* $PATHS \(index\|previous\) .* initial\$" "$T_DIR/samples2" ||
	fail "the pass after a restart did not take its total from the index or its walk"
pass "after a restart, the total comes from the previous index or its walk"
