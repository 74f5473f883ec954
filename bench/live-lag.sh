#!/bin/bash
# live-lag: measure mirrord's live mirroring on two namespaces.
#   1. replication lag of a small file write: a writer updates a small file
#      every 20 ms; time from the write to the new content on the slave
#      (median and p99 over N writes, default 200);
#   2. convergence of a burst of 10,000 new 1 KiB files vs a one-shot
#      `rsync -a` of the same files to an rsync daemon on the slave;
#   3. bytes on the veth and time to follow the rename of a directory of
#      5,000 files.
# Usage (as root, from a build tree):
#   top_builddir=BUILD bench/live-lag.sh [--burst-only] [--shared-fs] [N] [RUNS]
# N writes for the lag (default 200), RUNS alternating burst runs per tool
# (default 5); --burst-only skips parts 1 and 3.  The master's and the
# slave's trees are each on a fresh ext4 file system of their own, as on
# two hosts (own_fs in lib.sh; the slave's holds the mirror and rsync's
# destination); --shared-fs puts both in the temporary directory's file
# system instead.
. "$(dirname "$0")/lib.sh"
BURST_ONLY=false
SHARED_FS=false
while :; do
	case ${1:-} in
	--burst-only) BURST_ONLY=true; shift ;;
	--shared-fs) SHARED_FS=true; shift ;;
	*) break ;;
	esac
done
N=${1:-200}
RUNS=${2:-5}

net_setup master slave
$SHARED_FS || { own_fs "$T_DIR/master"; own_fs "$T_DIR/slave"; }
M=$T_DIR/master/www
S=$T_DIR/slave/www
RS=$T_DIR/slave/rs
mkdir -p "$M" "$S" "$RS"
pair_confs "$M" "$S"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 10 "source connected" grep -q "in sync" "$T_DIR/source.log"

if ! $BURST_ONLY; then
# ---- 1. lag ----
: >"$T_DIR/lag"
for i in $(seq 1 "$N"); do
	t0=$(date +%s%N)
	echo "write $i" >"$M/small"
	until [ "$(cat "$S/small" 2>/dev/null)" = "write $i" ]; do
		[ $(( $(date +%s%N) - t0 )) -lt 10000000000 ] || fail "write $i never arrived"
	done
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000 )) >>"$T_DIR/lag"
	left=$(( 20000000 - (t1 - t0) ))
	[ $left -gt 0 ] && sleep "0.$(printf '%09d' $left)"
done
sort -n "$T_DIR/lag" | awk '{v[NR] = $1} END {
	printf "lag of a small write over %d writes: median %.1f ms, p99 %.1f ms, max %.1f ms\n",
	NR, v[int(NR * 0.5 + 0.5)] / 1000, v[int(NR * 0.99 + 0.5)] / 1000, v[NR] / 1000 }'
fi

# ---- 2. burst of 10,000 new 1 KiB files ----
# Every run copies into a directory of its own (burst1, burst2 ...): removing
# the previous copy instead would make the next run's inode allocation slow
# for a while (ext4 without a journal skips recently deleted inodes), which
# would measure the deletion, not the tools.  The file system is flushed
# before each run, so no run pays for another's writeback.  mirrord's time
# runs from the start of `cp -a` into the master tree until the slave has
# all 10,000 names and the directory's mtime; that is polled cheaply (a full
# treecmp takes ~200 ms of CPU, which would slow down both daemons and
# quantise the result), then checked with treecmp: a run that is not equal
# by then is timed until treecmp passes.
mkdir -p "$T_DIR/master/src"
perl -e 'open(my $r, "<", "/dev/urandom") or die; for my $i (1..10000) {
	read($r, my $b, 1024) == 1024 or die; open(my $f, ">", "$ARGV[0]/f$i") or die;
	print $f $b or die; close($f) or die }' "$T_DIR/master/src" || fail "making the source files"
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
[t]
path = $RS
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10
cat "$T_DIR/master/src"/* >/dev/null

names() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.mirrord.tmp.*' 2>/dev/null | wc -l; }
# The directory's mtime first: two stats, where counting 10,000 names takes
# ~10 ms of CPU (~40 ms at a load of 14) that the daemons would compete for
# at every poll.  The sink sets a directory's mtime after its content is in
# place, so the count is taken about once.
burst_there() {
	[ "$(stat -c %y "$M/$1")" = "$(stat -c %y "$S/$1" 2>/dev/null)" ] &&
		[ "$(names "$S/$1")" -eq 10000 ]
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# CPU time (utime + stime, all threads) of the sink so far, in ms.
sink_cpu_ms() { echo $(( ($(proc_field "$PID_sink" 14) + $(proc_field "$PID_sink" 15)) * 1000 / $(getconf CLK_TCK) )); }

run_mirrord() {
	local d=burst$1 t0 end cp_ms ms c0
	wait_until 60 "idle before the burst" "$TREECMP" "$M" "$S"
	sync -f "$S"
	c0=$(sink_cpu_ms)
	t0=$(date +%s%N)
	cp -a "$T_DIR/master/src" "$M/$d"
	cp_ms=$(ms_since "$t0")
	end=$(( t0 + 120000000000 ))
	until burst_there "$d"; do
		[ "$(date +%s%N)" -lt "$end" ] || fail "burst $1 never converged"
		sleep 0.01
	done
	ms=$(ms_since "$t0")
	if ! "$TREECMP" "$M/$d" "$S/$d" >/dev/null 2>&1; then
		wait_until 120 "burst $1 converged" "$TREECMP" "$M/$d" "$S/$d"
		ms=$(ms_since "$t0")
		log "run $1: the names were there before the trees were equal"
	fi
	c0=$(( $(sink_cpu_ms) - c0 ))
	echo "$ms" >>"$T_DIR/b.mirrord"
	echo "$c0" >>"$T_DIR/b.sinkcpu"
	echo $(( ms - cp_ms )) >>"$T_DIR/b.tail"
	echo "burst run $1: mirrord $ms ms (cp -a took $cp_ms ms, sink CPU $c0 ms)"
}

run_rsync() {
	local d=burst$1 t0 ms sms
	sync -f "$RS"
	t0=$(date +%s%N)
	in_ns master rsync -a "$T_DIR/master/src/" "rsync://192.0.2.12:8730/t/$d/" || fail "rsync"
	ms=$(ms_since "$t0")
	sync -f "$RS"
	sms=$(ms_since "$t0")
	"$TREECMP" "$T_DIR/master/src" "$RS/$d" >/dev/null 2>&1 || fail "rsync copy differs"
	echo "$ms" >>"$T_DIR/b.rsync"
	echo "$sms" >>"$T_DIR/b.rsync_sync"
	echo "burst run $1: rsync -a $ms ms (+ sync -f: $sms ms)"
}

median() { sort -n "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

: >"$T_DIR/b.mirrord"; : >"$T_DIR/b.rsync"; : >"$T_DIR/b.rsync_sync"; : >"$T_DIR/b.sinkcpu"; : >"$T_DIR/b.tail"
for r in $(seq 1 "$RUNS"); do
	if [ $((r % 2)) -eq 1 ]; then run_mirrord "$r"; run_rsync "$r"
	else run_rsync "$r"; run_mirrord "$r"; fi
done
bm=$(median "$T_DIR/b.mirrord"); br=$(median "$T_DIR/b.rsync"); bs=$(median "$T_DIR/b.rsync_sync")
echo "burst of 10,000 new 1 KiB files, medians of $RUNS alternating runs: mirrord $bm ms" \
	"(copy + wait), one-shot rsync -a $br ms (+ sync -f: $bs ms); mirrord after cp -a" \
	"$(median "$T_DIR/b.tail") ms, sink CPU until converged $(median "$T_DIR/b.sinkcpu") ms"
awk -v m="$bm" -v r="$br" -v s="$bs" 'BEGIN {
	printf "burst ratio mirrord/rsync: %.2f (vs rsync + sync -f: %.2f)\n", m / r, m / s }'
$BURST_ONLY && exit 0

# ---- 3. rename of a directory of 5,000 files ----
mkdir "$M/five"
for i in $(seq 1 5000); do echo "$i" >"$M/five/f$i"; done
wait_until 60 "5,000 files converged" "$TREECMP" "$M" "$S"
b0=$(wire_bytes master)
t0=$(date +%s%N)
mv "$M/five" "$M/moved"
wait_until 10 "rename converged" test -d "$S/moved" -a ! -e "$S/five"
t1=$(date +%s%N)
b1=$(wire_bytes master)
wait_until 10 "rename: trees equal" "$TREECMP" "$M" "$S"
echo "rename of a 5,000-file directory: $((b1 - b0)) bytes on the veth, visible on the slave in $(( (t1 - t0) / 1000000 )) ms"
