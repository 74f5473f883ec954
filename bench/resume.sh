#!/bin/bash
# resume.sh [--files N] [--at PERCENT] [--resumed-only]: an initial sync
# interrupted by SIGKILL, then resumed (mirrord), started over (mirrord without its tree
# index, which is what a source without resume does: every directory
# listed again, the sink skipping content it has) and finished by
# `rsync -a` instead, same run, two network namespaces.
#
# Tree: N small files (default 200,000; 64-300 bytes, as scale.sh) in N/10
# directories (two levels) on /dev/shm.  Each of the three cases starts
# from an empty slave tree: mirrord's first start runs until the sink has
# acknowledged PERCENT (default 50) of the listing's records (one per
# directory; the source's journal.ack), the source is killed (SIGKILL),
# 1,000 changes are made (400 rewrites, 300 new files, 300 removals,
# spread over the tree), and then:
#   resumed        the source is started again: time to "in sync",
#                  operations it sent (its session summary), its CPU time
#   started over   the tree index file is removed first, then as above
#   rsync -a       rsync -a to an rsync daemon on the slave instead: time
# --resumed-only runs the first case alone (a check at scale).
# Every end state is checked with treecmp (rsync's with --content-only:
# it may leave the mtime of a directory it changed after an interrupted
# copy as the copy made it).  Prints the ratios resumed /
# started over and resumed / rsync.
#
# Needs root, iproute2, rsync; a build tree with tests/tools/treecmp.
set -u
N=200000
AT=50
ONLY=0
while [ $# -gt 0 ]; do
	case $1 in
	--files) N=$2; shift ;;
	--at) AT=$2; shift ;;
	--resumed-only) ONLY=1 ;;
	*) echo "usage: $0 [--files N] [--at PERCENT] [--resumed-only]" >&2; exit 2 ;;
	esac
	shift
done
export TMPDIR=/dev/shm

. "$(dirname "$0")/lib.sh"
bench_need rsync perl
bench_built "$MIRRORD" "$TREECMP"

tree_bench_setup "$N"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }
res() { echo "$1 $2" >>"$T_DIR/results"; log "$1 = $2"; }
: >"$T_DIR/results"

log "generating $N files in $NDIRS directories"
tree_generate "$N"
RECORDS=$(( NDIRS + (NDIRS + 999) / 1000 + 1 ))   # the listing's: every directory

tree_confs
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

acked() {
	perl -e 'open(my $h, "<", $ARGV[0]) or exit 1; binmode $h;
		read($h, my $a, 32) == 32 or exit 1;
		print unpack("Q<", substr($a, 16, 8)), "\n"' \
		"$T_DIR/master-state/m/journal.ack" 2>/dev/null || echo 0
}
acked_ge() { [ "$(acked)" -ge "$1" ]; }
changes() { # 1,000 changes while the source is down (seeded by $1)
	perl -e '
		my ($root, $nd, $seed) = @ARGV;
		srand($seed);
		my $dir = sub { sprintf("%s/d%04d/d%07d", $root, int($_[0] / 1000), $_[0]) };
		for my $i (1 .. 400) {
			my $p = $dir->(int(rand($nd))) . "/f" . int(rand(10));
			open(my $h, ">", $p) or next; print $h "rewritten $i\n"; close($h);
		}
		for my $i (1 .. 300) {
			my $p = $dir->(int(rand($nd))) . "/new$seed-$i";
			open(my $h, ">", $p) or die "$p: $!"; print $h "new $i\n"; close($h);
		}
		my ($gone, $tries) = (0, 0);
		while ($gone < 300 && $tries++ < 100000) {
			my $p = $dir->(int(rand($nd))) . "/f" . int(rand(10));
			$gone++ if unlink($p);
		}' "$SRC" "$NDIRS" "$1" || fail "changes"
}

# interrupted NAME: from an empty slave tree, a first start killed once
# AT % of the listing is acknowledged, then 1,000 changes
interrupted() {
	rm -rf "$DST" "$T_DIR/master-state" "$T_DIR/slave-state" && mkdir "$DST" ||
		fail "cannot empty the slave"
	start_bg slave "sink_$1" "$MIRRORD" -f -c "$T_DIR/slave.conf"
	SINK_PID=$(eval echo "\$PID_sink_$1")
	wait_port slave 192.0.2.12 7770 10
	start_bg master "first_$1" "$MIRRORD" -f -c "$T_DIR/master.conf"
	wait_for "$BOUND" acked_ge $(( RECORDS * AT / 100 )) || fail "$1: listing not acknowledged"
	stop_pid "$(eval echo "\$PID_first_$1")" KILL
	log "$1: killed at journal record $(acked) of about $RECORDS, $(find "$DST" -type f | wc -l) files on the slave"
	changes "$2"
}

# restart NAME: the source again; time to "in sync", its CPU, its ops
restart() {
	local t0 pid
	t0=$(now_ms)
	start_bg master "$1" "$MIRRORD" -f -c "$T_DIR/master.conf"
	pid=$(eval echo "\$PID_$1")
	wait_for "$BOUND" grep -q ": in sync with " "$T_DIR/$1.log" || fail "$1: not in sync in $BOUND s"
	res "${1}_ms" $(( $(now_ms) - t0 ))
	res "${1}_cpu_ms" "$(cpu_ms "$pid")"
	wait_for 120 "$TREECMP" "$SRC" "$DST" || fail "$1: trees differ: $("$TREECMP" "$SRC" "$DST" 2>&1 | head -n 3)"
	stop_pid "$pid" TERM
	res "${1}_ops" "$(sed -n 's/.*session ended: \([0-9]*\) ops.*/\1/p' "$T_DIR/$1.log" | head -n 1)"
	grep -h "start-up:\|paths walked\|listing sent\|reconciliation of ''\|connected to\|resuming at\|in sync with\|session ended" "$T_DIR/$1.log" | cut -c1-200
	stop_pid "$SINK_PID" TERM
}

interrupted a 11
restart resumed
[ $ONLY = 1 ] && { echo "resume: $N files, killed at $AT %: resumed in $(awk '$1 == "resumed_ms" {print $2}' "$T_DIR/results") ms"; exit 0; }
interrupted b 11
rm -f "$T_DIR/master-state/m/index" || fail "removing the index"
restart started_over
interrupted c 11
stop_pid "$SINK_PID" TERM       # done with what it had: rsync alone writes
t0=$(now_ms)
in_ns master rsync -a --delete "$SRC/" rsync://192.0.2.12:8730/t/ >"$T_DIR/rsync.log" 2>&1 ||
	fail "rsync -a (see rsync.log)"
res rsync_ms $(( $(now_ms) - t0 ))
"$TREECMP" --content-only "$SRC" "$DST" >"$T_DIR/cmp.log" 2>&1 || fail "rsync -a: trees differ: $(head -n 3 "$T_DIR/cmp.log")"

v() { awk -v k="$1" '$1 == k {print $2}' "$T_DIR/results" | tail -n 1; }
echo "resume: $N files in $NDIRS directories on tmpfs, killed at $AT % of the listing, load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v r="$(v resumed_ms)" -v rc="$(v resumed_cpu_ms)" -v ro="$(v resumed_ops)" \
	-v s="$(v started_over_ms)" -v sc="$(v started_over_cpu_ms)" -v so="$(v started_over_ops)" \
	-v y="$(v rsync_ms)" 'BEGIN {
	printf "resumed:      %d ms, %d ms of CPU, %d operations\n", r, rc, ro
	printf "started over: %d ms, %d ms of CPU, %d operations\n", s, sc, so
	printf "rsync -a:     %d ms\n", y
	printf "resumed / started over: time %.2f, CPU %.2f, operations %.2f; resumed / rsync %.2f\n",
		r / s, rc / sc, ro / so, r / y
}'
