#!/bin/bash
# live-append: a writer keeps a log file open and appends 4 KiB of random
# bytes every PERIOD_MS for SECONDS, then closes it.  For every block: the
# time from its write until the slave's copy is at least that long (median,
# p99, max), and the bytes on the master's veth (both directions) over the
# bytes appended.  The same workload then runs against lsyncd (default.rsync
# to an rsync daemon on the slave, delay = 0, its default inotify mode) in
# the same namespaces, for the ratio.  Random bytes: compression cannot help
# either tool.
# Usage (as root, from a build tree):
#   top_builddir=BUILD bench/live-append.sh [SECONDS] [PERIOD_MS] [INTERVAL_MS]
# INTERVAL_MS sets mirrord's append_interval_ms (default: the config default).
. "$(dirname "$0")/lib.sh"
SECS=${1:-10}
PERIOD_MS=${2:-20}
INTERVAL_MS=${3:-}
BLOCK=4096

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state" "$T_DIR/lsrc" "$T_DIR/ldst"
pair_confs "$M" "$S"
[ -n "$INTERVAL_MS" ] && sed -i "/^peer = /a append_interval_ms = $INTERVAL_MS" "$T_DIR/master.conf"

# writer SRC LOG: append BLOCK bytes every PERIOD_MS for SECS through one fd,
# then close; LOG gets "SIZE T_NS" per block.
writer() {
	local src=$1 log=$2 i=0 t0 next now left
	exec 3>>"$src"
	t0=$(date +%s%N)
	next=$t0
	while [ $(( next - t0 )) -lt $(( SECS * 1000000000 )) ]; do
		head -c $BLOCK /dev/urandom >&3
		i=$((i + 1))
		echo "$((i * BLOCK)) $(date +%s%N)" >>"$log"
		next=$(( next + PERIOD_MS * 1000000 ))
		now=$(date +%s%N)
		left=$(( next - now ))
		[ $left -gt 0 ] && sleep "$(printf '0.%09d' $left)"
	done
	exec 3>&-
}

# observe DST LOG WANT_FILE WRITER_PID: poll DST's size until it reaches the
# size in WANT_FILE (written once the writer is done), at most 60 s after
# that (1 at once when the writer ended without writing it); LOG gets
# "SIZE T_NS" for every size seen.
observe() {
	local dst=$1 log=$2 want=$3 wpid=$4 last=-1 s deadline=0 n=0
	while :; do
		s=$(stat -c %s "$dst" 2>/dev/null || echo -1)
		if [ "$s" != "$last" ]; then
			echo "$s $(date +%s%N)" >>"$log"
			last=$s
		fi
		if [ -s "$want" ]; then
			[ "$s" -ge "$(cat "$want")" ] && return 0
			[ $deadline -eq 0 ] && deadline=$(( $(date +%s%N) + 60000000000 ))
			[ "$(date +%s%N)" -lt $deadline ] || return 1
		elif [ $((++n % 250)) -eq 0 ] && exited "$wpid"; then
			[ -s "$want" ] || return 1    # (checked now and then: it forks)
		fi
		sleep 0.002
	done
}

# run NAME SRC DST: the workload, then one line of results.
run() {
	local name=$1 src=$2 dst=$3 w=$T_DIR/$1.writes o=$T_DIR/$1.seen want=$T_DIR/$1.want b0 b1
	: >"$w"; : >"$o"; : >"$want"
	b0=$(wire_bytes master)
	( writer "$src" "$w"; stat -c %s "$src" >"$want" ) &
	local wpid=$!
	observe "$dst" "$o" "$want" "$wpid" || log "$name: the slave never reached the final size"
	wait_pids $((SECS + 120)) "the writer" "$wpid"
	sleep 1                      # late acknowledgements
	b1=$(wire_bytes master)
	local appended
	appended=$(cat "$want")
	# lag of each block: the first time the copy was at least that long
	awk 'FNR == NR { ss[FNR] = $1; st[FNR] = $2; ns = FNR; next }
	     { while (k < ns && ss[k + 1] < $1) k++
	       if (k < ns) print (st[k + 1] - $2) / 1e6; else print "missing" }' \
		k=0 "$o" "$w" >"$T_DIR/$name.lags"
	local missing
	missing=$(grep -c missing "$T_DIR/$name.lags")
	grep -v missing "$T_DIR/$name.lags" | sort -n | awk -v name="$name" -v wire=$((b1 - b0)) \
	    -v app="$appended" -v secs="$SECS" -v period="$PERIOD_MS" -v missing="$missing" \
	    -v sum="$T_DIR/$name.sum" '
		{ v[NR] = $1 }
		END {
			m = v[int(NR * 0.5 + 0.5)]; p = v[int(NR * 0.99 + 0.5)]
			printf "%s: %d blocks of 4 KiB every %d ms for %d s: visibility lag median %.0f ms, p99 %.0f ms, max %.0f ms%s; wire %d bytes = %.3f x the %d bytes appended\n",
				name, NR + missing, period, secs, m, p, v[NR],
				missing ? sprintf(" (%d never seen)", missing) : "",
				wire, wire / app, app
			print m, p, wire / app >sum
		}'
}

# ---- mirrord ----
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 10 "source connected" grep -q "in sync" "$T_DIR/source.log"
run mirrord "$M/app.log" "$S/app.log"
"$TREECMP" "$M" "$S" >/dev/null || log "mirrord: trees differ at the end"
stop_pid "$PID_source"
stop_pid "$PID_sink"

# ---- lsyncd, same namespaces ----
if ! command -v lsyncd >/dev/null; then
	log "lsyncd not installed: no comparison"
	exit 0
fi
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
[t]
path = $T_DIR/ldst
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10
cat >"$T_DIR/lsyncd.lua" <<CONF
settings { nodaemon = true, logfile = "$T_DIR/lsyncd-file.log" }
sync { default.rsync, source = "$T_DIR/lsrc", target = "rsync://192.0.2.12:8730/t/",
       delay = 0, rsync = { archive = true } }
CONF
start_bg master lsyncd lsyncd "$T_DIR/lsyncd.lua"
sleep 2                              # its start-up rsync of the empty tree
run lsyncd "$T_DIR/lsrc/app.log" "$T_DIR/ldst/app.log"
stop_pid "$PID_lsyncd"
read -r m50 m99 mw <"$T_DIR/mirrord.sum"
read -r l50 l99 lw <"$T_DIR/lsyncd.sum"
awk -v a="$m50" -v b="$l50" -v c="$m99" -v d="$l99" -v e="$mw" -v f="$lw" 'BEGIN {
	printf "ratio mirrord/lsyncd: lag median %.3f, lag p99 %.3f, wire bytes %.3f\n",
		a / (b ? b : 1), c / (d ? d : 1), e / (f ? f : 1) }'
