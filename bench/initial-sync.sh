#!/bin/bash
# initial-sync.sh [--tmpfs] [--strict] [--tls] [RUNS]: time the initial sync of a fresh
# tree with mirrord (--once push to a sink) and with `rsync -a` to an rsync
# daemon, in the same two network namespaces and the same run.
#
# Tree: 20,000 x 4 KiB files in 200 directories plus 10 x 16 MiB files, all
# incompressible (pseudo-random) content, owned by root, mode 0644.
# Each tool runs RUNS times (default 5), the order alternating per round; the
# slave tree is empty before every run and both tools read the same warm
# source (it is read once before the first run).  Dirty pages are flushed
# (sync) between runs, outside the timed region.  After every run the slave
# tree is compared with the source (treecmp: content, mode, owner, mtime ns),
# so a fast but wrong run cannot count: it is marked BAD, left out of the
# medians, and the script exits 1 at the end.
#
# Prints every run, then the medians, the ratio mirrord/rsync (time) and the
# bytes on the veth (rx+tx of the master's eth0) for each tool.  mirrord
# returns once everything is durable on the sink, `rsync -a` does not fsync:
# each run also reports "+sync", the time until a `sync -f` of the slave file
# system returns, and the ratio of those medians is printed as well.
#
#   --tmpfs   trees on /dev/shm instead of ${TMPDIR:-/tmp}
#   --strict  stop at the first run whose trees differ
#   --tls     mirrord over TLS 1.3 with certificates (scripts/mkcerts)
#             instead of insecure_plaintext
#
# Needs root, iproute2 and rsync.  Run from a build tree
# (cd BUILD && top_srcdir=SRC SRC/bench/initial-sync.sh), or set
# top_builddir/top_srcdir; the build needs tests/tools/mktree and treecmp.
set -u
RUNS=5
STRICT=0
TLS=0
while [ $# -gt 0 ]; do
	case $1 in
	--tmpfs) export TMPDIR=/dev/shm ;;
	--strict) STRICT=1 ;;
	--tls) TLS=1 ;;
	[0-9]*) RUNS=$1 ;;
	*) echo "usage: $0 [--tmpfs] [--strict] [--tls] [RUNS]" >&2; exit 2 ;;
	esac
	shift
done

. "$(dirname "$0")/lib.sh"
bench_need rsync
bench_built "$MIRRORD" "$MKTREE" "$TREECMP"

NDIRS=200
PER_DIR=100        # 200 x 100 = 20,000 small files
SMALL=4096
NBIG=10
BIG_MIB=16

SRC=$T_DIR/master/src
MS=$T_DIR/slave/mirrord   # mirrord's sink tree
RS=$T_DIR/slave/rsync     # rsyncd's module tree
mkdir -p "$SRC" "$T_DIR/slave"

net_setup master slave

log "trees on $(df --output=fstype "$T_DIR" | tail -n 1) ($T_DIR), $RUNS runs per tool"
log "generating $((NDIRS * PER_DIR)) x $SMALL B files in $NDIRS dirs + $NBIG x $BIG_MIB MiB"
for d in $(seq -w 1 $NDIRS); do
	mkdir "$SRC/d$d"
	head -c $((PER_DIR * SMALL)) /dev/urandom |
		split -b $SMALL -a 3 -d - "$SRC/d$d/f" || fail "small files"
done
mkdir "$SRC/big"
for i in $(seq -w 1 $NBIG); do
	"$MKTREE" --big "$SRC/big/b$i.bin" $BIG_MIB || fail "big file"
done
chmod -R u=rwX,go=rX "$SRC"
# warm source for both tools: every byte once through the page cache
find "$SRC" -type f -exec cat {} + >/dev/null
sync
log "source: $(find "$SRC" -type f | wc -l) files, $(du -sm "$SRC" | cut -f1) MiB"

SEC_SLAVE="insecure_plaintext = yes"
SEC_MASTER=$SEC_SLAVE
if [ $TLS = 1 ]; then
	"$top_srcdir/scripts/mkcerts" -d "$T_DIR/certs" master slave >/dev/null || exit 99
	SEC_SLAVE=$(printf 'cert = %s/slave.crt\nkey = %s/slave.key\nca = %s/ca.crt\npeer_name = master' \
		"$T_DIR/certs" "$T_DIR/certs" "$T_DIR/certs")
	SEC_MASTER=$(printf 'cert = %s/master.crt\nkey = %s/master.key\nca = %s/ca.crt\npeer_name = slave' \
		"$T_DIR/certs" "$T_DIR/certs" "$T_DIR/certs")
fi
cat >"$T_DIR/slave.conf" <<CONF
[node]
name = slave
listen = 192.0.2.12:7770
control_socket = $T_DIR/slave.sock
state_dir = $T_DIR/slave-state

[mirror bench]
path = $MS

[security]
$SEC_SLAVE
CONF
cat >"$T_DIR/master.conf" <<CONF
[node]
name = master
control_socket = $T_DIR/master.sock
state_dir = $T_DIR/master-state

[mirror bench]
path = $SRC
peer = 192.0.2.12:7770

[security]
$SEC_MASTER
CONF
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
munge symlinks = no
[bench]
path = $RS
read only = no
CONF

mkdir -p "$MS" "$RS"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 7770 10
wait_port slave 192.0.2.12 8730 10

# rx+tx bytes of the master's eth0 (bash arithmetic: awk prints big sums
# in exponent notation)
wire() {
	local rx tx
	rx=$(in_ns master cat /sys/class/net/eth0/statistics/rx_bytes)
	tx=$(in_ns master cat /sys/class/net/eth0/statistics/tx_bytes)
	echo $((rx + tx))
}

empty() { # empty DIR: a fresh empty slave tree, deletes flushed to disk
	rm -rf "$1" && mkdir "$1" || fail "cannot empty $1"
	sync
}

run_mirrord() {
	in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once bench \
		>>"$T_DIR/push.log" 2>&1
}
run_rsync() {
	in_ns master rsync -a "$SRC/" rsync://192.0.2.12:8730/bench/ \
		>>"$T_DIR/rsync.log" 2>&1
}

# one TOOL DST ROUND: empty DST, time TOOL (and until its writes are on
# disk), count veth bytes, compare trees.  Appends "ms bytes ms_synced" to
# $T_DIR/TOOL.res for a good run.
one() {
	local tool=$1 dst=$2 round=$3 t0 t1 t2 b0 b1 ms ok=ok
	empty "$dst"
	b0=$(wire)
	t0=$(date +%s%N)
	"run_$tool" || fail "$tool: run $round failed (see $tool log)"
	t1=$(date +%s%N)
	sync -f "$dst"
	t2=$(date +%s%N)
	b1=$(wire)
	ms=$(( (t1 - t0) / 1000000 ))
	if ! "$TREECMP" "$SRC" "$dst" >"$T_DIR/cmp.log" 2>&1; then
		head -n 5 "$T_DIR/cmp.log"
		[ $STRICT -eq 0 ] || fail "$tool: run $round: trees differ"
		ok="BAD: $(tail -n 1 "$T_DIR/cmp.log")"
		BAD=$((BAD + 1))
	fi
	[ "$ok" = ok ] && echo "$ms $((b1 - b0)) $(( (t2 - t0) / 1000000 ))" >>"$T_DIR/$tool.res"
	printf 'run %2d  %-7s %7d ms  (+sync %7d ms)  %11d bytes on the wire  %s\n' \
		"$round" "$tool" "$ms" "$(( (t2 - t0) / 1000000 ))" "$((b1 - b0))" "$ok"
	sync
}

BAD=0
: >"$T_DIR/mirrord.res"
: >"$T_DIR/rsync.res"
for r in $(seq 1 "$RUNS"); do
	if [ $((r % 2)) -eq 1 ]; then
		one mirrord "$MS" "$r"; one rsync "$RS" "$r"
	else
		one rsync "$RS" "$r"; one mirrord "$MS" "$r"
	fi
done

median() { # median COLUMN FILE
	cut -d' ' -f"$1" "$2" | sort -n |
		awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) printf "%.0f\n", v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
mt=$(median 1 "$T_DIR/mirrord.res"); mb=$(median 2 "$T_DIR/mirrord.res"); ms=$(median 3 "$T_DIR/mirrord.res")
rt=$(median 1 "$T_DIR/rsync.res");   rb=$(median 2 "$T_DIR/rsync.res");   rs=$(median 3 "$T_DIR/rsync.res")
[ "$rt" != 0 ] && [ "$mt" != 0 ] || fail "no good runs to compare"
echo "median  mirrord $mt ms (+sync $ms ms), $mb bytes on the wire ($(wc -l <"$T_DIR/mirrord.res")/$RUNS good runs)"
echo "median  rsync   $rt ms (+sync $rs ms), $rb bytes on the wire ($(wc -l <"$T_DIR/rsync.res")/$RUNS good runs)"
awk -v m="$mt" -v r="$rt" -v ms="$ms" -v rs="$rs" -v mb="$mb" -v rb="$rb" 'BEGIN {
	printf "ratio mirrord/rsync: time %.3f, time until on disk %.3f, wire bytes %.3f\n",
		m / r, ms / rs, mb / rb
}'
if awk -v m="$mt" -v r="$rt" 'BEGIN {exit !(m <= r)}'; then
	log "target met: mirrord no slower than rsync -a"
else
	log "target missed: mirrord slower than rsync -a"
fi
[ $BAD -eq 0 ] || { log "$BAD run(s) left trees that differ from the source"; T_FAILED=1; exit 1; }
exit 0
