#!/bin/bash
# restore.sh [NFILES]: mirror-restore vs `rsync -a --delete` for the restore
# of a returning master: a tree of NFILES (default 100,000) small files
# mirrored to the slave, then 1% of them changed on the slave (overwrites,
# creates, deletes: tests/tools/mktree --mutate).  Each tool then brings a
# copy of the master's old tree to the slave's tree, in the same two network
# namespaces and the same run: mirror-restore pulling from the slave's
# mirrord, rsync pulling from an rsync daemon on the slave.  Both results
# are compared with the slave tree (treecmp), then the times and the ratio
# mirror-restore/rsync are printed.  Target (issue 5): 0.2x.  This version
# of mirror-restore compares the whole trees (the slave does not journal
# its changes yet), so, like rsync, its time grows with the tree, not with
# the change.
#
# Run as root: top_builddir=BUILD top_srcdir=SRC bash bench/restore.sh
# (100,000 mktree files are about 1.4 GB: set-up alone takes minutes.)
# First result, 20,000 files (24,116 with mktree's extras), 200 changes:
# mirror-restore 3.2 s, rsync 2.7 s, 1.19x.
set -u
N=${1:-100000}
. "${top_srcdir:-$(dirname "$0")/..}/tests/integration/lib.sh"
need_root
RESTORE="$top_builddir/src/restore/mirror-restore"
net_setup master slave
M=$T_DIR/master/www; S=$T_DIR/slave/www; R=$T_DIR/master/rs
mkdir -p "$M" "$S" "$T_DIR/slave"
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
control_socket = $T_DIR/master.sock
state_dir = $T_DIR/master-state
[mirror www]
path = $M
peer = 192.0.2.12:7770
[security]
insecure_plaintext = yes
CONF
cat >"$T_DIR/rsyncd.conf" <<CONF
uid = root
gid = root
use chroot = no
[www]
path = $S
read only = yes
CONF
"$MKTREE" "$M" 1 "$N" || fail "mktree"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once www >"$T_DIR/push.log" 2>&1 || fail "initial push"
start_bg slave rsyncd rsync --daemon --no-detach --config="$T_DIR/rsyncd.conf" --address=192.0.2.12 --port=8730
wait_port slave 192.0.2.12 8730 10
cp -a "$M" "$R"                                   # the same old tree for rsync
"$MKTREE" --mutate "$S" 2 $((N / 100)) || fail "mutate"
log "tree: $(find "$S" -type f | wc -l) files, $((N / 100)) changes on the slave"
sync

t0=$(date +%s%N)
in_ns master "$RESTORE" -q -c "$T_DIR/master.conf" >"$T_DIR/restore.log" 2>&1 || { cat "$T_DIR/restore.log"; fail "mirror-restore"; }
t1=$(date +%s%N)
in_ns master rsync -a --delete rsync://192.0.2.12:8730/www/ "$R/" >"$T_DIR/rsync.log" 2>&1 || fail "rsync"
t2=$(date +%s%N)
"$TREECMP" "$M" "$S" >/dev/null 2>&1 || fail "mirror-restore result differs from the slave"
"$TREECMP" "$R" "$S" >/dev/null 2>&1 || log "note: rsync result differs from the slave (treecmp is strict: mtimes of directories, xattrs)"
mr=$(( (t1 - t0) / 1000000 )); rs=$(( (t2 - t1) / 1000000 ))
grep '^mirror www: restore' "$T_DIR/restore.log"
log "mirror-restore $mr ms, rsync -a --delete $rs ms, ratio $(awk -v a=$mr -v b=$rs 'BEGIN {printf "%.2f", a / b}')x (target 0.2x)"
