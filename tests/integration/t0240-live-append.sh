#!/bin/bash
# Live appends: a writer keeps a log file open and appends 4 KiB blocks.  The
# slave's copy must grow while the file is still open (each checkpoint within
# 1 s), the wire must carry under 1.1x the appended bytes (random data: zstd
# cannot help), and a shrink and a rewrite in the middle while the file is
# open must converge once it is closed.  Without append shipping the file
# only travels at its close and the first checkpoint fails.
. "$(dirname "$0")/lib.sh"
need_root
command -v perl >/dev/null || fail "perl is needed to truncate and rewrite through an open fd"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"
# half the default interval: the 1 s bound below keeps a margin on a busy host
sed -i '/^peer = /a append_interval_ms = 250' "$T_DIR/master.conf"
grep -q '^append_interval_ms = 250' "$T_DIR/master.conf" || fail "could not set append_interval_ms"

same() { "$TREECMP" "$M" "$S"; }
size_of() { stat -c %s "$1" 2>/dev/null || echo -1; }
slave_has() { [ "$(size_of "$S/app.log")" -ge "$1" ]; }
# the slave's copy is a byte-exact prefix of the master's first $1 bytes
prefix_same() { cmp -s -n "$1" "$M/app.log" "$S/app.log"; }

echo seed >"$M/seed.txt"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -v -c "$T_DIR/master.conf"
wait_until 20 "start-up reconciliation" same

BLOCK=4096
exec 3>>"$M/app.log"              # the writer: this shell, fd 3 stays open
head -c $BLOCK /dev/urandom >&3
wait_until 5 "first block on the slave while the file is open" slave_has $BLOCK
pass "first block shipped while the file is open"

# ---- 60 blocks, one every 40 ms; checkpoints every 10 blocks ----
b0=$(wire_bytes master)
worst=0
for i in $(seq 1 60); do
	head -c $BLOCK /dev/urandom >&3
	if [ $((i % 10)) -eq 0 ]; then
		want=$(size_of "$M/app.log")
		t0=$(date +%s%N)
		wait_until 1 "block $i on the slave within 1 s (file still open)" slave_has "$want"
		lag=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ $lag -gt $worst ] && worst=$lag
	fi
	sleep 0.04
done
want=$(size_of "$M/app.log")
wait_until 1 "last block on the slave within 1 s" slave_has "$want"
sleep 0.3                          # the sink's DONE/ACK for the last append
b1=$(wire_bytes master)
prefix_same "$want" || fail "the slave's copy is not the master's prefix"
appended=$((60 * BLOCK))
wire=$((b1 - b0))
log "appended $appended bytes, $wire bytes on the master's veth (both ways), worst checkpoint wait ${worst} ms"
[ $((wire * 10)) -lt $((appended * 11)) ] ||
	fail "appends cost $wire wire bytes for $appended appended (>= 1.1x)"
pass "slave copy grows while open; wire bytes $wire < 1.1 x $appended"
grep -q 'starts, sending the file' "$T_DIR/source.log" &&
	fail "the sink refused an append of a plain growing file"

# ---- shrink and rewrite in the middle while open; the close converges ----
perl -e 'truncate(STDOUT, 10000) or die "truncate: $!"' >&3 || fail "ftruncate through fd 3"
head -c $BLOCK /dev/urandom >&3
exec 4<>"$M/app.log"
perl -e 'open(my $f, "+<&=", 4) or die; sysseek($f, 100, 0) or die;
	 syswrite($f, "rewritten in the middle") == 23 or die "write: $!"' ||
	fail "rewrite through fd 4"
sleep 1                            # two append passes while it is open
head -c $BLOCK /dev/urandom >&3
exec 3>&- 4>&-                     # close: the normal transfer is the net
wait_until 10 "trees equal after the close" same
pass "shrink and middle rewrite while open converge after the close"

# ---- a file replaced while "open" by another writer gets no foreign append ----
exec 3>>"$M/app.log"
head -c $BLOCK /dev/urandom >&3
sleep 0.7
head -c $((3 * BLOCK)) /dev/urandom >"$M/app.log.new"
mv "$M/app.log.new" "$M/app.log"   # rotated under the writer
head -c $BLOCK /dev/urandom >&3     # goes to the old, now unlinked inode
exec 3>&-
wait_until 10 "trees equal after a rotation under the writer" same
pass "rotation under an open writer converges"

grep -E '\[(error|crit)\]' "$T_DIR/source.log" "$T_DIR/sink.log" && fail "errors in the logs"
if find "$S" -name '.mirrord.tmp.*' | grep -q .; then fail "temporary files left on the slave"; fi
kill -0 "$PID_source" || fail "source died"
kill -0 "$PID_sink" || fail "sink died"
same || fail "strict tree comparison"
pass "strict tree comparison"
