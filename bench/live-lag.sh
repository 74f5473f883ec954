#!/bin/bash
# live-lag: measure mirrord's live mirroring on two namespaces.
#   1. replication lag of a small file write: a writer updates a small file
#      every 20 ms; time from the write to the new content on the slave
#      (median and p99 over N writes, default 200);
#   2. convergence of a burst of 10,000 new 1 KiB files vs a one-shot
#      `rsync -a` of the same files to an rsync daemon on the slave;
#   3. bytes on the veth and time to follow the rename of a directory of
#      5,000 files.
# Usage (as root, from a build tree): top_builddir=BUILD bench/live-lag.sh [N]
. "$(dirname "$0")/../tests/integration/lib.sh"
need_root
N=${1:-200}

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/rs"
cat >"$T_DIR/slave.conf" <<CONF
[node]
name = slave
listen = 192.0.2.12:7770
control_socket = $T_DIR/slave.sock
state_dir = $T_DIR/slave-state

[mirror www]
path = $S

[security]
insecure_plaintext = yes
CONF
cat >"$T_DIR/master.conf" <<CONF
[node]
name = master
listen = 192.0.2.11:7770
control_socket = $T_DIR/master.sock
state_dir = $T_DIR/master-state

[mirror www]
path = $M
peer = 192.0.2.12:7770

[security]
insecure_plaintext = yes
CONF
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 10 "source connected" grep -q "in sync" "$T_DIR/source.log"

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

# ---- 2. burst of 10,000 new 1 KiB files ----
mkdir -p "$T_DIR/src"
for i in $(seq 1 10000); do head -c 1024 /dev/urandom >"$T_DIR/src/f$i"; done
t0=$(date +%s%N)
cp -a "$T_DIR/src" "$M/burst"
wait_until 120 "burst converged" "$TREECMP" "$M" "$S"
t1=$(date +%s%N)
ours=$(( (t1 - t0) / 1000000 ))
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
[t]
path = $T_DIR/rs
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10
t0=$(date +%s%N)
in_ns master rsync -a "$T_DIR/src/" rsync://192.0.2.12:8730/t/burst/ || fail "rsync"
t1=$(date +%s%N)
rs=$(( (t1 - t0) / 1000000 ))
echo "burst of 10,000 new 1 KiB files: mirrord converged in $ours ms (copy + wait), one-shot rsync -a $rs ms"

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
