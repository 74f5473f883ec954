#!/bin/bash
# Initial sync between two namespaces, then convergence after random
# changes, then a 1 MiB in-place change inside a 256 MiB file whose bytes on
# the wire must stay within 1.2x of what rsync reports for the same change.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
MB=$T_DIR/master/big     # a mirror holding only the big file: its bytes alone
SB=$T_DIR/slave/big
mkdir -p "$M" "$MB" "$T_DIR/slave" "$T_DIR/rsync"

write_confs() {
	cat >"$T_DIR/slave.conf" <<CONF
[node]
name = slave
listen = 192.0.2.12:7770
control_socket = $T_DIR/slave.sock
state_dir = $T_DIR/slave-state

[mirror www]
path = $S

[mirror big]
path = $SB

[security]
insecure_plaintext = yes
CONF
	cat >"$T_DIR/master.conf" <<CONF
[node]
name = master
control_socket = $T_DIR/master.sock
state_dir = $T_DIR/master-state

[mirror www]
path = $M
peer = 192.0.2.12:7770

[mirror big]
path = $MB
peer = 192.0.2.12:7770

[security]
insecure_plaintext = yes
CONF
}

push() { # push LABEL [MIRROR SRC DST]: one-shot sync, then strict comparison
	local t0 t1 name=${2:-www} src=${3:-$M} dst=${4:-$S}
	t0=$(date +%s%N)
	in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once "$name" \
		>>"$T_DIR/push.log" 2>&1 || { tail -n 30 "$T_DIR/push.log"; fail "$1: push failed"; }
	t1=$(date +%s%N)
	"$TREECMP" "$src" "$dst" >"$T_DIR/cmp.log" 2>&1 || { head -n 40 "$T_DIR/cmp.log"; fail "$1: trees differ"; }
	log "$1: converged in $(( (t1 - t0) / 1000000 )) ms"
}

write_confs
"$MKTREE" "$M" 7 3000 || fail "mktree"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10

push "initial sync"
pass "initial sync of $(find "$M" | wc -l) paths is identical"

"$MKTREE" --mutate "$M" 11 300 || fail "mutate"
push "after 300 random changes"
pass "second pass converges"

push "nothing changed"
grep -q 'in sync.* 0 files whole, 0 by delta' "$T_DIR/push.log" ||
	fail "an unchanged tree sent file content"
pass "an unchanged tree stays identical and sends no content"

# nothing left behind by the atomic apply
if find "$S" -name '.mirrord.tmp.*' | grep -q .; then fail "temporary files left on the slave"; fi

# ---- a 1 MiB change inside a 256 MiB file: delta bytes vs rsync ----
"$MKTREE" --big "$MB/big.bin" 256 || fail "big file"
push "256 MiB file sent whole" big "$MB" "$SB"
cp --sparse=never "$MB/big.bin" "$T_DIR/rsync/big.bin"
"$MKTREE" --poke "$MB/big.bin" 100000000 1048576 5 || fail "poke"

b0=$(wire_bytes master)
push "1 MiB changed inside 256 MiB" big "$MB" "$SB"
b1=$(wire_bytes master)
ours=$((b1 - b0))

cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
[t]
path = $T_DIR/rsync
read only = no
CONF
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" \
	--address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10
r0=$(wire_bytes master)
in_ns master rsync -a -I --stats "$MB/big.bin" rsync://192.0.2.12:8730/t/big.bin \
	>"$T_DIR/rsync.log" 2>&1 || fail "rsync"
r1=$(wire_bytes master)
rs_sent=$(awk '/^Total bytes sent:/ {gsub(",", "", $4); print $4}' "$T_DIR/rsync.log")
rs_recv=$(awk '/^Total bytes received:/ {gsub(",", "", $4); print $4}' "$T_DIR/rsync.log")
rs=$((rs_sent + rs_recv))
cmp -s "$MB/big.bin" "$T_DIR/rsync/big.bin" || fail "rsync copy differs"
ratio=$(awk -v a="$ours" -v b="$rs" 'BEGIN {printf "%.3f", a / b}')
log "bytes on the veth for the change: mirrord $ours, rsync --stats $rs (rsync on the veth: $((r1 - r0))); ratio $ratio"
awk -v r="$ratio" 'BEGIN {exit !(r <= 1.2)}' || fail "delta transfer used ${ratio}x rsync's bytes"
pass "delta of a 1 MiB change in 256 MiB: ${ratio}x rsync's bytes"
