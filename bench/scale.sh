#!/bin/bash
# scale.sh [--files N] [--keep-going]: start-up at scale, mirrord against
# `rsync -a` and lsyncd (default.rsync, delay = 0), in two network
# namespaces, same run.
#
# Tree: N small files (default 1,000,000; 64-300 bytes each, pseudo-random
# text) in N/10 directories (d0000/d0000000 ... two levels), generated on
# /dev/shm (a tmpfs, so the disk is out of the comparison; a file there costs
# a page and an inode: about 5 GB per 1,000,000-file tree, and at most two
# trees exist at once: the source and one destination, emptied between
# tools).
#
# Measured, in this order:
#   rsync -a       one-shot copy of the tree to an rsync daemon on the slave
#   lsyncd         delay = 0, cold: from start until the slave tree equals
#                  the source (its start-up rsync); peak RSS (VmHWM of the
#                  lsyncd process; its rsync children are not counted);
#                  then a restart of lsyncd (it copies/compares everything
#                  again) until its start-up rsync finished
#   mirrord cold   source and sink started on an empty slave tree: time
#                  until the source logs "in sync" (every watch added, the
#                  tree reconciled and acknowledged by the sink), checked
#                  with treecmp; peak RSS of source and sink
#   clean restart  SIGTERM the source, start it again: time to "in sync"
#   SIGKILL        SIGKILL the source, make 1,000 changes while it is down
#                  (400 rewrites, 300 new files, 300 removals), start it:
#                  time to "in sync", then treecmp until converged
# Each time is printed with the ratio to the cold start and to rsync -a.
#
# --cold-only [--runs R]: only the cold starts, rsync -a and mirrord
# alternating R times (default 3; the slave tree and both daemons' state
# removed before each), with the CPU time (user + system) of each side:
# rsync's client, and its daemon's children (the connection's receiver
# and generator); mirrord's source (all threads) from its start to "in
# sync", the sink's over the same time.  Prints every run, the medians and
# the ratio of the medians.
#
# Needs root, iproute2, rsync, lsyncd (not for --cold-only); a build tree with tests/tools/treecmp.
# Raises fs.inotify.max_user_watches for the run if it is below 2 x N/10 +
# 10,000 (restored at exit).
set -u
N=1000000
KEEP=0
COLD_ONLY=0
RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	--files) N=$2; shift ;;
	--keep-going) KEEP=1 ;;
	--cold-only) COLD_ONLY=1 ;;
	--runs) RUNS=$2; shift ;;
	*) echo "usage: $0 [--files N] [--keep-going] [--cold-only [--runs R]]" >&2; exit 2 ;;
	esac
	shift
done
export TMPDIR=/dev/shm

. "$(dirname "$0")/lib.sh"
bench_need rsync perl
[ $COLD_ONLY = 1 ] || bench_need lsyncd
bench_built "$MIRRORD" "$TREECMP"

tree_bench_setup "$N"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
empty_dst() { rm -rf "$DST" && mkdir "$DST" || fail "cannot empty $DST"; }
res() { echo "$1 $2" >>"$T_DIR/results"; log "$1 = $2"; }
bad() { log "BAD: $*"; BAD=1; [ $KEEP = 1 ] || exit 1; }
BAD=0
: >"$T_DIR/results"

log "generating $N files in $NDIRS directories on $(df --output=fstype "$T_DIR" | tail -n 1)"
t0=$(now_ms)
tree_generate "$N"
log "generated in $(( $(now_ms) - t0 )) ms; $(du -sm "$SRC" | cut -f1) MiB"
sleep 1         # rsync -a leaves a directory's mtime of the current second unset

cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
munge symlinks = no
[t]
path = $DST
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10

tree_confs

src_run() { # src_run NAME: start the source, time until "in sync"
	local t0
	t0=$(now_ms)
	start_bg master "$1" "$MIRRORD" -f -c "$T_DIR/master.conf"
	SRC_PID=$(eval echo "\$PID_$1")
	wait_for "$BOUND" grep -q ": in sync with " "$T_DIR/$1.log" || fail "$1: not in sync in $BOUND s"
	res "${1}_ms" $(( $(now_ms) - t0 ))
	res "${1}_hwm_kb" "$(hwm_kb "$SRC_PID")"
}
converged() { "$TREECMP" "$SRC" "$DST" >"$T_DIR/cmp.log" 2>&1; }

# CPU time (user + system, ms) of a process, and of its children it waited for
TICK=$(getconf CLK_TCK)
cpu_ms() { echo $(( ($(proc_field "$1" 14) + $(proc_field "$1" 15)) * 1000 / TICK )); }
ccpu_ms() { echo $(( ($(proc_field "$1" 16) + $(proc_field "$1" 17)) * 1000 / TICK )); }

if [ $COLD_ONLY = 1 ]; then
	median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
	for run in $(seq 1 "$RUNS"); do
		empty_dst
		c0=$(ccpu_ms "$PID_rsyncd")
		t0=$(now_ms)
		cli=$(in_ns master perl -e 'system(@ARGV) == 0 or exit 1; my @t = times;
			printf "%d\n", 1000 * ($t[2] + $t[3])' \
			rsync -a "$SRC/" rsync://192.0.2.12:8730/t/ 2>"$T_DIR/rsync.log") ||
			fail "rsync -a (see rsync.log)"
		t=$(( $(now_ms) - t0 ))
		sleep 0.2       # the daemon reaps its connection's processes
		res rsync_ms "$t"; res rsync_cli_cpu_ms "$cli"
		res rsync_daemon_cpu_ms $(( $(ccpu_ms "$PID_rsyncd") - c0 ))
		"$TREECMP" "$SRC" "$DST" >"$T_DIR/cmp.log" 2>&1 || bad "rsync -a run $run: trees differ"

		empty_dst
		rm -rf "$T_DIR/master-state" "$T_DIR/slave-state"
		start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
		wait_port slave 192.0.2.12 7770 10
		s0=$(cpu_ms "$PID_sink")
		src_run "mirrord_cold$run"
		res mirrord_src_cpu_ms "$(cpu_ms "$SRC_PID")"
		res mirrord_sink_cpu_ms $(( $(cpu_ms "$PID_sink") - s0 ))
		res mirrord_ms "$(awk -v k="mirrord_cold${run}_ms" '$1 == k {print $2}' "$T_DIR/results")"
		stop_pid "$SRC_PID" TERM
		stop_pid "$PID_sink" TERM
		converged || bad "mirrord cold run $run: trees differ: $(head -n 3 "$T_DIR/cmp.log")"
	done
	m() { awk -v k="$1" '$1 == k {print $2}' "$T_DIR/results" | median; }
	echo "scale --cold-only: $N files in $NDIRS directories on tmpfs, $RUNS runs each, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for k in rsync_ms rsync_cli_cpu_ms rsync_daemon_cpu_ms mirrord_ms mirrord_src_cpu_ms mirrord_sink_cpu_ms; do
		printf '%-22s %s   (median %s)\n' "$k" "$(awk -v k="$k" '$1 == k {printf "%s ", $2}' "$T_DIR/results")" "$(m "$k")"
	done
	awk -v r="$(m rsync_ms)" -v mc="$(m mirrord_ms)" 'BEGIN { printf "cold start: mirrord/rsync %.2f (medians)\n", mc / r }'
	exit $BAD
fi

# ---- rsync -a ----
t0=$(now_ms)
in_ns master rsync -a "$SRC/" rsync://192.0.2.12:8730/t/ >"$T_DIR/rsync.log" 2>&1 ||
	fail "rsync -a (see rsync.log)"
res rsync_cold_ms $(( $(now_ms) - t0 ))
"$TREECMP" "$SRC" "$DST" >"$T_DIR/cmp.log" 2>&1 || bad "rsync -a: trees differ"

# ---- lsyncd, delay 0 ----
empty_dst
printf 'settings { nodaemon = true, insist = true }\nsync { default.rsync, source = "%s", target = "rsync://192.0.2.12:8730/t/", delay = 0 }\n' \
	"$SRC" >"$T_DIR/lsyncd.lua"
lsyncd_run() { # lsyncd_run NAME: start, wait for its start-up rsync, time it
	local t0 pid
	t0=$(now_ms)
	start_bg master "$1" lsyncd "$T_DIR/lsyncd.lua"
	pid=$(eval echo "\$PID_$1")
	wait_for "$BOUND" grep -q "Startup of .* finished" "$T_DIR/$1.log" ||
		fail "$1: no start-up in $BOUND s"
	res "${1}_ms" $(( $(now_ms) - t0 ))
	res "${1}_hwm_kb" "$(hwm_kb "$pid")"
	stop_pid "$pid" TERM
}
lsyncd_run lsyncd_cold
"$TREECMP" --content-only "$SRC" "$DST" >"$T_DIR/cmp.log" 2>&1 || bad "lsyncd: trees differ"
lsyncd_run lsyncd_restart

# ---- mirrord ----
empty_dst
rm -f "$DST/.mirrord"* 2>/dev/null
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10


src_run mirrord_cold
res mirrord_sink_hwm_kb "$(hwm_kb "$PID_sink")"
converged || bad "mirrord cold: trees differ: $(head -n 3 "$T_DIR/cmp.log")"

stop_pid "$SRC_PID" TERM
src_run mirrord_restart
converged || bad "mirrord clean restart: trees differ"

stop_pid "$SRC_PID" KILL
log "1,000 changes while the source is down"
perl -e '
	my ($root, $nd) = @ARGV;
	srand(2);
	my $dir = sub { sprintf("%s/d%04d/d%07d", $root, int($_[0] / 1000), $_[0]) };
	for my $i (1 .. 400) {
		my $p = $dir->(int(rand($nd))) . "/f" . int(rand(10));
		open(my $h, ">", $p) or die "$p: $!"; print $h "rewritten $i\n"; close($h);
	}
	for my $i (1 .. 300) {
		my $p = $dir->(int(rand($nd))) . "/new$i";
		open(my $h, ">", $p) or die "$p: $!"; print $h "new $i\n"; close($h);
	}
	my ($gone, $tries) = (0, 0);
	while ($gone < 300 && $tries++ < 100000) {      # bounded on a small tree
		my $p = $dir->(int(rand($nd))) . "/f" . int(rand(10));
		$gone++ if unlink($p);
	}' "$SRC" "$NDIRS" || fail "changes"
src_run mirrord_sigkill
res mirrord_sink_hwm_kb_end "$(hwm_kb "$PID_sink")"
t0=$(now_ms)
wait_for 120 converged || bad "mirrord after SIGKILL: not converged: $(head -n 3 "$T_DIR/cmp.log")"
res mirrord_sigkill_converged_extra_ms $(( $(now_ms) - t0 ))
grep -h "reconcil\|index" "$T_DIR"/mirrord_*.log | head -n 20
stop_pid "$SRC_PID" TERM

# ---- summary ----
v() { awk -v k="$1" '$1 == k {print $2}' "$T_DIR/results" | tail -n 1; }
echo "scale: $N files in $NDIRS directories on tmpfs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v r="$(v rsync_cold_ms)" -v lc="$(v lsyncd_cold_ms)" -v lr="$(v lsyncd_restart_ms)" \
	-v mc="$(v mirrord_cold_ms)" -v mr="$(v mirrord_restart_ms)" -v mk="$(v mirrord_sigkill_ms)" \
	-v lh="$(v lsyncd_cold_hwm_kb)" -v lh2="$(v lsyncd_restart_hwm_kb)" \
	-v mh="$(v mirrord_cold_hwm_kb)" -v mh2="$(v mirrord_restart_hwm_kb)" \
	-v mh3="$(v mirrord_sigkill_hwm_kb)" -v sh="$(v mirrord_sink_hwm_kb_end)" 'BEGIN {
	printf "cold start:  rsync -a %d ms, lsyncd %d ms, mirrord %d ms (mirrord/rsync %.2f)\n", r, lc, mc, mc / r
	printf "restart:     lsyncd %d ms; mirrord clean %d ms (%.1f%% of cold), after SIGKILL + 1,000 changes %d ms (%.1f%% of cold)\n", lr, mr, 100 * mr / mc, mk, 100 * mk / mc
	printf "peak RSS:    lsyncd %d / %d KiB (cold / restart); mirrord source %d / %d / %d KiB (cold / restart / SIGKILL), sink %d KiB; mirrord source/lsyncd %.2f\n", lh, lh2, mh, mh2, mh3, sh, mh / lh
}'
exit $BAD
