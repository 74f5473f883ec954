#!/bin/bash
# retention-lag: the cost of keep_versions on the live mirroring lag.
# One master mirrord with two mirrors, "plain" and "kept", to one slave
# mirrord where only "kept" keeps versions (keep_versions = 1d, versions on
# the tree's file system).  A writer overwrites a small file in each mirror
# every 20 ms, alternating which one goes first; the lag is the time from the
# write to the new content on the slave.  Same daemons, same run, same
# noise: the ratio kept/plain of the median and p99 is the headline.
# As a reference, the same overwrite pushed with a one-shot rsync to an rsync
# daemon on the slave, with and without --backup --backup-dir (rsync's way of
# keeping the replaced file), alternating, medians and ratio.
# Usage (as root, from a build tree):
#   top_builddir=BUILD bench/retention-lag.sh [N] [RSYNC_RUNS]
# N overwrites per mirror (default 300), RSYNC_RUNS pushes per rsync mode
# (default 50).
. "$(dirname "$0")/lib.sh"
N=${1:-300}
RSYNC_RUNS=${2:-50}

net_setup master slave
M=$T_DIR/master
S=$T_DIR/slave
V=$T_DIR/slave-versions
mkdir -p "$M/plain" "$M/kept" "$S/plain" "$S/kept" "$T_DIR/rs/plain" "$T_DIR/rs/kept" \
	"$T_DIR/rs-backup"
conf() { # conf NODE ADDR MIRROR-LINES
	printf '[node]\nname = %s\nlisten = %s:7770\ncontrol_socket = %s/%s.sock\n' \
		"$1" "$2" "$T_DIR" "$1"
	printf 'state_dir = %s/%s-state\n\n%b\n[security]\ninsecure_plaintext = yes\n' \
		"$T_DIR" "$1" "$3"
}
conf slave 192.0.2.12 "[mirror plain]\npath = $S/plain\n\n[mirror kept]\npath = $S/kept\nkeep_versions = 1d\nversions_dir = $V\n" \
	>"$T_DIR/slave.conf"
conf master 192.0.2.11 "[mirror plain]\npath = $M/plain\npeer = 192.0.2.12:7770\n\n[mirror kept]\npath = $M/kept\npeer = 192.0.2.12:7770\n" \
	>"$T_DIR/master.conf"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
in_sync() { [ "$(grep -c 'in sync' "$T_DIR/source.log")" -ge 2 ]; }
wait_until 20 "both mirrors in sync" in_sync

# one overwrite of mirror $1, lag in microseconds appended to $T_DIR/lag.$1
one() {
	local m=$1 i=$2 t0 t1
	t0=$(date +%s%N)
	echo "write $i" >"$M/$m/small"
	until [ "$(cat "$S/$m/small" 2>/dev/null)" = "write $i" ]; do
		[ $(( $(date +%s%N) - t0 )) -lt 10000000000 ] || fail "$m: write $i never arrived"
	done
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000 )) >>"$T_DIR/lag.$m"
	left=$(( 20000000 - (t1 - t0) ))
	[ $left -gt 0 ] && sleep "0.$(printf '%09d' $left)"
}
stats() { # stats FILE -> "median p99 max" in ms
	sort -n "$1" | awk '{v[NR] = $1} END {
		printf "%.1f %.1f %.1f\n", v[int(NR * 0.5 + 0.5)] / 1000,
		v[int(NR * 0.99 + 0.5)] / 1000, v[NR] / 1000 }'
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$T_DIR/lag.plain"; : >"$T_DIR/lag.kept"
for i in $(seq 1 "$N"); do
	if [ $((i % 2)) -eq 1 ]; then one plain "$i"; one kept "$i"
	else one kept "$i"; one plain "$i"; fi
done
read -r pm pp px < <(stats "$T_DIR/lag.plain")
read -r km kp kx < <(stats "$T_DIR/lag.kept")
kept=$(grep -c ' O ' "$V/index")
du_v=$(du -sk "$V" | cut -f1)
echo "load average at start: $load0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "small-overwrite lag over $N alternating writes per mirror:"
echo "  without keep_versions: median $pm ms, p99 $pp ms, max $px ms"
echo "  with keep_versions:    median $km ms, p99 $kp ms, max $kx ms ($kept versions kept, $du_v KiB in the versions directory)"
awk -v a="$pm" -v b="$km" -v c="$pp" -v d="$kp" 'BEGIN {
	printf "  ratio with/without: median %.2f, p99 %.2f\n", b / a, d / c }'

# ---- reference: rsync with and without --backup-dir ----
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
[plain]
path = $T_DIR/rs/plain
read only = no
[kept]
path = $T_DIR/rs/kept
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10
push() { # push MODE I: overwrite, then time the rsync push (us)
	local t0 t1
	echo "write $2" >"$M/plain/small"
	t0=$(date +%s%N)
	if [ "$1" = kept ]; then
		in_ns master rsync -a --backup --backup-dir="$T_DIR/rs-backup/$2" \
			"$M/plain/small" rsync://192.0.2.12:8730/kept/ || fail "rsync --backup-dir"
	else
		in_ns master rsync -a "$M/plain/small" rsync://192.0.2.12:8730/plain/ || fail "rsync"
	fi
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000 )) >>"$T_DIR/rs.$1"
}
: >"$T_DIR/rs.plain"; : >"$T_DIR/rs.kept"
for i in $(seq 1 "$RSYNC_RUNS"); do
	if [ $((i % 2)) -eq 1 ]; then push plain "$i"; push kept "$i"
	else push kept "$i"; push plain "$i"; fi
done
read -r rpm rpp _ < <(stats "$T_DIR/rs.plain")
read -r rkm rkp _ < <(stats "$T_DIR/rs.kept")
echo "reference, one-shot rsync push of the same overwrite, $RSYNC_RUNS alternating runs:"
echo "  rsync -a:                          median $rpm ms, p99 $rpp ms"
echo "  rsync -a --backup --backup-dir:    median $rkm ms, p99 $rkp ms"
awk -v a="$rpm" -v b="$rkm" -v m="$km" 'BEGIN {
	printf "  ratio rsync with/without backups: median %.2f; mirrord with versions / rsync with backups: median %.2f\n", b / a, m / b }'
running "$PID_sink" || fail "sink died"
