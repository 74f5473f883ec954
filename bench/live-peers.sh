#!/bin/bash
# live-peers.sh: live mirroring of mirrord against its peers, lsyncd and
# clsync, on the same two network namespaces in the same run.
#
# The master namespace holds the source trees and runs the watcher under
# test; the slave namespace runs a sink mirrord (for mirrord) and one rsync
# daemon (module "t") that lsyncd and clsync push to with rsync over the
# veth.  Every (workload, tool) pair gets fresh trees and a freshly started
# tool, so one tool's backlog cannot leak into the next measurement.
#
# Tools (PEERS_TOOLS, default all, in this order):
#   mirrord    source mirrord -> sink mirrord, plaintext, default settings
#   lsyncd     lsyncd default.rsync with its default delay (15 s)
#   lsyncd0    the same with delay = 0, the smallest delay lsyncd accepts
#              (the rsync call still waits for the previous one to finish)
#   clsync0    clsync --mode rsyncdirect with -w 0 -t 0 (no delay between
#              syncs, no event collection delay: its smallest settings);
#              runs as root (-u 0 -g 0) like lsyncd, -x 23 as its manual
#              recommends for rsyncdirect
# Both peers keep their rsync options (lsyncd: -lts plus --delete; clsync:
# -aH --delete), so "identical" is judged on content: treecmp
# --content-only (paths, types, sizes, bytes, symlink targets).
#
# Workloads (PEERS_WORKLOADS, default all):
#   lag     a writer rewrites one of 10 small (256-263 B) files in place
#           every 20 ms for PEERS_LAG_S (20) s; the slave side is polled
#           every 2 ms; the lag of an update is the time from just before
#           its write until the slave file holds it or a later update,
#           complete.  Consecutive updates of a file differ in size:
#           rsync's quick check skips a same-size file whose mtime is in
#           the same second, which leaves the peers' copy stale until the
#           next change; PEERS_LAG_SAME_SIZE=1 keeps the size fixed to show
#           that (the stale updates are counted as never seen).
#   burst   10,000 new 1 KiB files copied in (cp -a) at once: time until the
#           slave tree equals the master's; before each tool, a one-shot
#           `rsync -a` of the same files to the rsync daemon as reference.
#   rename  a directory of 5,000 x 4 KiB files, synced first, renamed
#           (mv): time until the slave tree equals the master's and bytes
#           on the veth (rx+tx of the master's eth0) from the mv until 2 s
#           after that (copying the files again would be ~20 MB).
#   append  a writer keeps a log file open and appends 4 KiB every 100 ms
#           for PEERS_APPEND_S (20) s, then closes it; lag of each append
#           (until the slave copy holds those bytes) and bytes on the veth
#           from the first append until the trees are equal, over the bytes
#           appended.
# A peer that does not get there within PEERS_BOUND_S (180) s, or within
# 60 s of the last write for lag/append, is reported as "did not converge
# in N s"; a lag percentile that falls on updates never seen is printed as
# ">N s".  Every wait is bounded.
#
# Prints each measurement as it is taken, then a table with every tool's
# figures and the ratio peer/mirrord (above 1: the peer is slower or sends
# more).
#
# Needs root, iproute2, rsync, lsyncd, clsync and python3 (scripts/deps
# installs them).  Run from a build tree
# (cd BUILD && top_srcdir=SRC SRC/bench/live-peers.sh), or set
# top_builddir/top_srcdir; the build needs tests/tools/treecmp.
# Trees live under ${TMPDIR:-/tmp}; PEERS_TMPFS=1 puts them on /dev/shm.
# A quick run: PEERS_WORKLOADS=lag PEERS_TOOLS="mirrord lsyncd0" PEERS_LAG_S=5
set -u
[ $# -eq 0 ] || { echo "usage: $0 (settings are environment variables, see the header)" >&2; exit 2; }
[ "${PEERS_TMPFS:-0}" = 1 ] && export TMPDIR=/dev/shm

. "$(dirname "$0")/lib.sh"
bench_need rsync lsyncd clsync python3
bench_built "$MIRRORD" "$TREECMP"
BENCH_POLL=0.02         # wait_for: convergence times are read to 20 ms

WORKLOADS=${PEERS_WORKLOADS:-lag burst rename append}
TOOLS=${PEERS_TOOLS:-mirrord lsyncd lsyncd0 clsync0}
LAG_S=${PEERS_LAG_S:-20}
APPEND_S=${PEERS_APPEND_S:-20}
SAME_SIZE=${PEERS_LAG_SAME_SIZE:-}
[ "$SAME_SIZE" = 0 ] && SAME_SIZE=
BOUND=${PEERS_BOUND_S:-180}
DRAIN=60            # s after the last write (lag, append)
BURST_N=10000
RENAME_N=5000
PROBE=$here/live-peers-probe.py
RSYNC=$(command -v rsync)
for t in $TOOLS; do
	case $t in mirrord | lsyncd | lsyncd0 | clsync0) ;;
	*) echo "unknown tool $t (mirrord lsyncd lsyncd0 clsync0)" >&2; exit 2 ;; esac
done
for w in $WORKLOADS; do
	case $w in lag | burst | rename | append) ;;
	*) echo "unknown workload $w (lag burst rename append)" >&2; exit 2 ;; esac
done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
same() { "$TREECMP" --content-only "$1" "$2" >/dev/null 2>&1; }

# result WORKLOAD METRIC TOOL VALUE: VALUE is a number or "dnc:SECONDS"
# (did not converge) or ">SECONDS".
result() { echo "$1 $2 $3 $4" >>"$T_DIR/results"; }

net_setup master slave
mkdir -p "$T_DIR/master" "$T_DIR/slave"
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
log file = $T_DIR/rsyncd-daemon.log
[t]
path = $T_DIR/slave
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10

# ---- the tools ----
# tool_start TOOL RUN: mirror $T_DIR/master/RUN to $T_DIR/slave/RUN; returns
# once the tool is watching and the slave tree equals the master's (a
# marker file makes that true only after the tool's first pass); 1 if it did
# not get there within BOUND s.
RUN_PIDS=""
tool_start() {
	local tool=$1 run=$2 m=$T_DIR/master/$2 s=$T_DIR/slave/$2 n=${2//-/_}
	mkdir -p "$m" "$s"
	echo ready >"$m/.ready"
	case $tool in
	mirrord)
		rm -rf "$T_DIR/slave-state" "$T_DIR/master-state" "$T_DIR"/*.sock
		pair_confs "$m" "$s"
		start_bg slave "sink_$n" "$MIRRORD" -f -c "$T_DIR/slave.conf"
		RUN_PIDS="$(eval echo "\$PID_sink_$n")"
		wait_for 10 tcp_open slave 192.0.2.12 7770 || return 1
		start_bg master "src_$n" "$MIRRORD" -f -c "$T_DIR/master.conf"
		RUN_PIDS="$(eval echo "\$PID_src_$n") $RUN_PIDS"
		wait_for "$BOUND" grep -q "in sync" "$T_DIR/src_$n.log" || return 1
		;;
	lsyncd | lsyncd0)
		{
			printf 'settings { nodaemon = true, insist = true }\n'
			printf 'sync { default.rsync, source = "%s",\n' "$m"
			printf '       target = "rsync://192.0.2.12:8730/t/%s/"' "$run"
			[ "$tool" = lsyncd0 ] && printf ', delay = 0'
			printf ' }\n'
		} >"$T_DIR/$run.lua"
		start_bg master "$n" lsyncd "$T_DIR/$run.lua"
		RUN_PIDS="$(eval echo "\$PID_$n")"
		wait_for "$BOUND" grep -q "Startup of" "$T_DIR/$n.log" || return 1
		;;
	clsync0)
		mkdir -m 0700 "$T_DIR/lists-$run"
		start_bg master "$n" clsync -H /NULL/ -u 0 -g 0 -M rsyncdirect -S "$RSYNC" \
			-W "$m" -D "rsync://192.0.2.12:8730/t/$run" -L "$T_DIR/lists-$run" \
			-w 0 -t 0 -x 23 -Y stderr
		RUN_PIDS="$(eval echo "\$PID_$n")"
		;;
	esac
	wait_for "$BOUND" same "$m" "$s" || return 1
	sleep 0.5
}

tool_stop() {
	local pid
	for pid in $RUN_PIDS; do stop_pid "$pid" TERM; done
	RUN_PIDS=""
}

# run_clean RUN: drop both trees of a run, flush the deletion.
run_clean() { rm -rf "$T_DIR/master/$1" "$T_DIR/slave/$1" "$T_DIR/lists-$1"; sync; }

# probe_val LINE KEY: the value of KEY=... in a probe output line.
probe_val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# pct_val VALUE: a probe percentile as a result value.
pct_val() { case $1 in inf) echo ">$DRAIN" ;; nan | "") echo "error" ;; *) echo "$1" ;; esac; }

# not_started WORKLOAD TOOL: say so; the logs are printed at exit.
not_started() {
	log "$1 $2: the tool did not get through its first pass in $BOUND s"
	T_FAILED=1
}

# ---- workloads ----
w_lag() {
	local tool=$1 run=lag-$1 out
	if ! tool_start "$tool" "$run"; then
		not_started lag "$tool"; result lag med "$tool" error
		result lag p99 "$tool" error; tool_stop; run_clean "$run"; return
	fi
	out=$(python3 "$PROBE" lag "$T_DIR/master/$run" "$T_DIR/slave/$run" \
		--period-ms 20 --duration-s "$LAG_S" --poll-ms 2 --drain-s "$DRAIN" --ready-s "$BOUND" \
		${SAME_SIZE:+--same-size})
	log "lag $tool: $out"
	result lag med "$tool" "$(pct_val "$(probe_val "$out" med_ms)")"
	result lag p99 "$tool" "$(pct_val "$(probe_val "$out" p99_ms)")"
	result lag missing "$tool" "$(probe_val "$out" missing)"
	tool_stop
	run_clean "$run"
}

w_burst() {
	local tool=$1 run=burst-$1 t0 t1 ref=ref-$1
	mkdir -p "$T_DIR/slave/$ref"
	sync
	t0=$(now_ms)
	in_ns master rsync -a "$T_DIR/src-burst/" "rsync://192.0.2.12:8730/t/$ref/" ||
		log "burst: rsync -a failed"
	t1=$(now_ms)
	if same "$T_DIR/src-burst" "$T_DIR/slave/$ref"; then
		log "burst: one-shot rsync -a $((t1 - t0)) ms"
		result burst rsync "$tool" $((t1 - t0))
	else
		log "burst: one-shot rsync -a left a different tree"
		result burst rsync "$tool" error
	fi
	rm -rf "${T_DIR:?}/slave/$ref"
	if ! tool_start "$tool" "$run"; then
		not_started burst "$tool"; result burst ms "$tool" error
		tool_stop; run_clean "$run"; return
	fi
	sync
	t0=$(now_ms)
	cp -a "$T_DIR/src-burst" "$T_DIR/master/$run/burst"
	if wait_for "$BOUND" same "$T_DIR/master/$run" "$T_DIR/slave/$run"; then
		t1=$(now_ms)
		log "burst $tool: converged in $((t1 - t0)) ms (copy + wait)"
		result burst ms "$tool" $((t1 - t0))
	else
		log "burst $tool: did not converge in $BOUND s ($(find "$T_DIR/slave/$run/burst" \
			-type f -name "f*" 2>/dev/null | wc -l) of $BURST_N files on the slave)"
		result burst ms "$tool" "dnc:$BOUND"
	fi
	tool_stop
	run_clean "$run"
}

w_rename() {
	local tool=$1 run=rename-$1 t0 t1 b0 b1
	mkdir -p "$T_DIR/master/$run"
	cp -a "$T_DIR/src-rename" "$T_DIR/master/$run/five"
	if ! tool_start "$tool" "$run"; then
		not_started rename "$tool"
		result rename ms "$tool" error; result rename bytes "$tool" error
		tool_stop; run_clean "$run"; return
	fi
	sync
	sleep 1
	b0=$(wire_bytes master)
	t0=$(now_ms)
	mv "$T_DIR/master/$run/five" "$T_DIR/master/$run/moved"
	if wait_for "$BOUND" same "$T_DIR/master/$run" "$T_DIR/slave/$run"; then
		t1=$(now_ms)
		sleep 2
		b1=$(wire_bytes master)
		log "rename $tool: converged in $((t1 - t0)) ms, $((b1 - b0)) bytes on the veth"
		result rename ms "$tool" $((t1 - t0))
		result rename bytes "$tool" $((b1 - b0))
	else
		b1=$(wire_bytes master)
		log "rename $tool: did not converge in $BOUND s ($((b1 - b0)) bytes on the veth so far)"
		result rename ms "$tool" "dnc:$BOUND"
		result rename bytes "$tool" "dnc:$BOUND"
	fi
	tool_stop
	run_clean "$run"
}

w_append() {
	local tool=$1 run=append-$1 out b0 b1 appended
	if ! tool_start "$tool" "$run"; then
		not_started append "$tool"; result append med "$tool" error
		result append p99 "$tool" error; result append wire "$tool" error
		tool_stop; run_clean "$run"; return
	fi
	b0=$(wire_bytes master)
	out=$(python3 "$PROBE" append "$T_DIR/master/$run/app.log" "$T_DIR/slave/$run/app.log" \
		--chunk 4096 --period-ms 100 --duration-s "$APPEND_S" --poll-ms 2 \
		--drain-s "$DRAIN" --ready-s "$BOUND")
	appended=$(probe_val "$out" appended_bytes)
	if wait_for "$DRAIN" same "$T_DIR/master/$run" "$T_DIR/slave/$run"; then
		sleep 1
		b1=$(wire_bytes master)
		log "append $tool: $out wire_bytes=$((b1 - b0))"
		result append wire "$tool" "$(awk -v b=$((b1 - b0)) -v a="${appended:-0}" \
			'BEGIN { if (a > 0) printf "%.3f", b / a; else print "error" }')"
	else
		log "append $tool: $out; trees not equal $DRAIN s after the close"
		result append wire "$tool" "dnc:$DRAIN"
	fi
	result append med "$tool" "$(pct_val "$(probe_val "$out" med_ms)")"
	result append p99 "$tool" "$(pct_val "$(probe_val "$out" p99_ms)")"
	result append missing "$tool" "$(probe_val "$out" missing)"
	tool_stop
	run_clean "$run"
}

# ---- inputs, made once ----
python3 - "$T_DIR/src-burst" "$BURST_N" "$T_DIR/src-rename" "$RENAME_N" <<'PY'
import os, sys
burst, nb, ren, nr = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
os.makedirs(burst)
for i in range(nb):
    with open(os.path.join(burst, "f%05d" % i), "wb") as f:
        f.write(os.urandom(1024))
os.makedirs(ren)
for i in range(nr):
    with open(os.path.join(ren, "f%05d" % i), "wb") as f:
        f.write(os.urandom(4096))
PY
sync

log "tools: $TOOLS; workloads: $WORKLOADS"
for w in $WORKLOADS; do
	for t in $TOOLS; do
		log "---- $w, $t"
		"w_$w" "$t"
	done
done

# ---- table ----
echo
echo "live-peers: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), trees in ${TMPDIR:-/tmp}; bound $BOUND s, drain $DRAIN s"
awk -v tools="$TOOLS" '
function show(v) {
	if (v == "") return "-"
	if (v ~ /^dnc:/) return "dnc " substr(v, 5) "s"
	if (v ~ /^>/) return v "s"
	return v
}
# ratio of a peer value to the value of mirrord; a bound that was hit (seconds) gives
# a lower bound on the ratio of times
function ratio(v, base, ms) {
	if (v == "" || base == "" || v == "error" || base == "error" || base ~ /^(dnc:|>)/ || base + 0 == 0)
		return ""
	if (v ~ /^(dnc:|>)/) {
		if (!ms) return ""
		sub(/^(dnc:|>)/, "", v)
		return sprintf(">%.1fx", v * 1000 / base)
	}
	return sprintf("%.2fx", v / base)
}
{ val[$1 " " $2 " " $3] = $4; if (!($1 " " $2 in seen)) { seen[$1 " " $2] = 1; order[++n] = $1 " " $2 } }
END {
	nt = split(tools, T, " ")
	label["lag med"] = "lag, median (ms)"
	label["lag p99"] = "lag, p99 (ms)"
	label["lag missing"] = "lag, updates never seen"
	label["burst ms"] = "10k-file burst, converged (ms)"
	label["burst rsync"] = "  one-shot rsync -a, same files (ms)"
	label["rename ms"] = "rename of 5k files, converged (ms)"
	label["rename bytes"] = "rename of 5k files, veth bytes"
	label["append med"] = "4 KiB appends, median (ms)"
	label["append p99"] = "4 KiB appends, p99 (ms)"
	label["append missing"] = "4 KiB appends, never seen"
	label["append wire"] = "4 KiB appends, wire/appended"
	printf "%-38s", "measurement"
	for (i = 1; i <= nt; i++) printf " %12s%s", T[i], (T[i] == "mirrord" || T[1] != "mirrord") ? "" : sprintf(" %8s", "/mirrord")
	printf "\n"
	for (k = 1; k <= n; k++) {
		key = order[k]
		printf "%-38s", (key in label) ? label[key] : key
		base = val[key " mirrord"]
		for (i = 1; i <= nt; i++) {
			v = val[key " " T[i]]
			printf " %12s", show(v)
			if (T[i] != "mirrord" && T[1] == "mirrord")
				printf " %8s", (key ~ /missing|rsync/) ? "" : ratio(v, base, key !~ /bytes|wire/)
		}
		printf "\n"
	}
}' "$T_DIR/results"
# a tool that never got through its first pass makes the run fail (its
# logs are printed on exit); slow or non-converging peers do not
[ "$T_FAILED" = 0 ] || exit 1
