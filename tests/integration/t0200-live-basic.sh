#!/bin/bash
# Live mirroring: a real mirrord source on "master" follows changes and a
# real mirrord sink on "slave" applies them; after each step the strict tree
# comparison must pass within a bounded wait.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"

pair_confs "$M" "$S"

same() { "$TREECMP" "$M" "$S"; }
converge() { converge_trees "$M" "$S" "$1" "${2:-10}"; }  # LABEL [SECONDS]

"$MKTREE" "$M" 3 500 || fail "mktree"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge "start-up reconciliation of $(find "$M" | wc -l) paths" 30

echo hello >"$M/new.txt";                     converge "create"
echo world >"$M/new.txt";                     converge "overwrite"
echo more >>"$M/new.txt";                     converge "append"
head -c 100000 /dev/urandom >"$M/big.bin";    converge "create 100 kB"
truncate -s 5000 "$M/big.bin";                converge "truncate"
mkdir -p "$M/a/b/c/d/e" && echo x >"$M/a/b/c/d/e/f"; converge "mkdir -p"
mkdir -p "$M/deep" && "$MKTREE" "$M/deep" 5 400 || fail "mktree deep"
converge "deep tree"
rm -rf "$M/deep";                             converge "rm -rf of a deep tree"
mv "$M/new.txt" "$M/renamed.txt";             converge "rename a file"
ln -s target1 "$M/link";                      converge "symlink"
ln -sfn target2 "$M/link";                    converge "symlink retarget"
ln "$M/renamed.txt" "$M/hard";                converge "hardlink"
chmod 600 "$M/renamed.txt";                   converge "chmod"
touch -m -d '2001-02-03 04:05:06.123456789' "$M/big.bin"; converge "touch -m"
setfattr -n user.test -v v1 "$M/big.bin" 2>/dev/null || fail "setfattr"
converge "xattr set"
setfattr -n user.test -v v2 "$M/big.bin";     converge "xattr change"
rm -f "$M/renamed.txt" "$M/hard";             converge "unlink a hardlink group"
rm -rf "$M/a" && echo now-a-file >"$M/a";     converge "directory replaced by a file"
rm -f "$M/a" && mkdir "$M/a";                 converge "file replaced by a directory"

# ---- rename of a directory of 5,000 files: a rename on the wire ----
mkdir "$M/five"
for i in $(seq 1 5000); do printf '%s\n' "$i" >"$M/five/f$i"; done
converge "5,000 new files" 60
b0=$(wire_bytes master)
t0=$(date +%s%N)
mv "$M/five" "$M/moved"
wait_until 10 "directory rename: trees equal" same
t1=$(date +%s%N)
b1=$(wire_bytes master)
log "rename of a 5,000-file directory: $((b1 - b0)) bytes on the veth, $(( (t1 - t0) / 1000000 )) ms"
[ $((b1 - b0)) -lt 65536 ] || fail "directory rename sent $((b1 - b0)) bytes (>= 64 KiB)"
pass "directory rename of 5,000 files under 64 KiB on the wire"

if find "$S" -name '.mirrord.tmp.*' | grep -q .; then fail "temporary files left on the slave"; fi
running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
