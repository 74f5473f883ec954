#!/bin/bash
# t0120-path-races: the sink's tree changed under it on the slave, between
# two operations of the source.  (a) TOCTOU: a directory the sink made is
# replaced by a symlink to an outside directory, then the source pushes
# changes inside it; (b) a file of the tree is a hardlink to a file outside
# it, and the source sends the same size and mtime with another mode and
# owner; (c) a FIFO and a device node where the source sends files, and
# device nodes from the source.  Nothing outside the mirror root may change,
# the sink never opens (hangs on, writes through) a FIFO or device node.
. "$(dirname "$0")/lib.sh"
need_root

need_tools "$MIRRORD" "$BADPEER" "$TREECMP"

net_setup master slave
SINK=$(host_addr slave)
PORT=7770
M="$T_DIR/master/www"
S="$T_DIR/slave/www"
OUT="$T_DIR/outside"
mkdir -p "$M/d" "$S" "$OUT" "$T_DIR/out" || fail "mkdir"

# outside: a canary, a file named like one of d's, and the hardlink victim
printf 'do not touch\n' >"$OUT/canary"
printf 'outside f1\n' >"$OUT/f1"
printf 'secret\n' >"$OUT/victim"
chmod 600 "$OUT/victim"
touch -d '2001-02-03 04:05:06.123456789' "$OUT/canary" "$OUT/f1" "$OUT/victim" "$OUT"
# (b) the slave's tree: h is another name of outside/victim
ln "$OUT/victim" "$S/h" || fail "cannot make the hardlink"
# the master: d with files, h with victim's content and times, mode 0666,
# another owner
printf 'one\n' >"$M/d/f1"
printf 'two\n' >"$M/d/f2"
printf 'secret\n' >"$M/h"
chmod 666 "$M/h"
chown 4321:4321 "$M/h"
touch -d '2001-02-03 04:05:06.123456789' "$M/h"

cat >"$T_DIR/slave.conf" <<EOF
[node]
name = slave
listen = $SINK:$PORT
control_socket = $T_DIR/slave.sock
state_dir = $T_DIR/state-slave

[mirror www]
path = $S

[security]
insecure_plaintext = yes
EOF
cat >"$T_DIR/master.conf" <<EOF
[node]
name = master
control_socket = $T_DIR/master.sock
state_dir = $T_DIR/state-master

[mirror www]
path = $M
peer = $SINK:$PORT

[security]
insecure_plaintext = yes
EOF

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
SINK_LOG="$T_DIR/sink.log"
wait_port master "$SINK" "$PORT" 10

# $1 = full: also link counts and ctimes (breaking h's link changes both)
outside_state() {
	local fmt='%p %y %s %m %U:%G %T@'
	[ "${1:-full}" = full ] && fmt="$fmt %n %C@"
	find "$OUT" -printf "$fmt\n" | sort
	sha256sum "$OUT"/* /etc/passwd
	ls -d "$T_DIR/slave/f1" "$T_DIR/slave/f3" "$T_DIR/f1" "$T_DIR/f3" 2>/dev/null
}
outside_state full >"$T_DIR/out/outside.0"
outside_state loose >"$T_DIR/out/outside.loose"
# outside_same WHAT [loose]
outside_same() {
	local f="$T_DIR/out/outside.${2:-0}"
	outside_state "${2:-full}" | cmp -s - "$f" ||
		{ outside_state "${2:-full}" | diff "$f" -; fail "$1: outside changed"; }
}
sink_alive() { running "$PID_sink" || fail "$1: the sink died"; }

push() {
	in_ns master timeout 60 "$MIRRORD" -f -c "$T_DIR/master.conf" --once www \
		>"$T_DIR/out/push-$1" 2>&1 || { cat "$T_DIR/out/push-$1"; fail "push $1 failed"; }
}

# ---- (b) hardlink to an outside file: metadata not applied through it ----
push 1
sink_alive "push 1"
outside_same "hardlink to outside" loose
[ "$(stat -c '%h %a %u' "$OUT/victim")" = "1 600 0" ] ||
	fail "outside/victim: $(stat -c 'links %h mode %a owner %u' "$OUT/victim")"
[ "$(stat -c '%h %a %u' "$S/h")" = "1 666 4321" ] ||
	fail "slave h: $(stat -c 'links %h mode %a owner %u' "$S/h")"
"$TREECMP" "$M" "$S" || fail "trees differ after push 1"
pass "hardlink to an outside file: replaced inside, outside mode, owner, content kept"
outside_state full >"$T_DIR/out/outside.0"

# ---- (a) TOCTOU: d replaced by a symlink to outside between two pushes ----
rm -rf "$S/d" && ln -s "$OUT" "$S/d" || fail "cannot replace d"
printf 'one, changed\n' >"$M/d/f1"
printf 'three\n' >"$M/d/f3"
chmod 600 "$M/d/f2"
push 2
sink_alive "push 2"
outside_same "d replaced by a symlink"
[ -d "$S/d" ] && [ ! -L "$S/d" ] || fail "d is not a directory inside the tree again"
"$TREECMP" "$M" "$S" || fail "trees differ after push 2"
pass "directory replaced by a symlink to outside: nothing written through it"

# ---- (c) FIFOs and device nodes ----
log_lines() { wc -l <"$SINK_LOG"; }
attack() {
	local name=$1 before rc
	before=$(log_lines)
	in_ns master timeout 60 "$BADPEER" "$SINK" "$PORT" www "$name" >"$T_DIR/out/$name" 2>&1
	rc=$?
	sed "s/^/    badpeer: /" "$T_DIR/out/$name"
	tail -n +"$((before + 1))" "$SINK_LOG" | sed "s/^/    sink: /"
	[ $rc -eq 0 ] || fail "$name: not carried out as expected (badpeer exit $rc)"
	sink_alive "$name"
	outside_same "$name"
}
mkfifo "$S/fifo" || fail "mkfifo"
mknod "$S/devnull" c 1 3 || fail "mknod"
attack file-over-fifo
[ -f "$S/fifo" ] && [ "$(cat "$S/fifo")" = owned ] || fail "the FIFO was not replaced by the file"
pass "a file where the sink has a FIFO: replaced, the sink did not hang"
attack file-over-dev
[ -f "$S/devnull" ] && [ "$(cat "$S/devnull")" = owned ] ||
	fail "the device node was not replaced by the file"
pass "a file where the sink has a device node: replaced, not written through"
attack dev-nodes
[ "$(stat -c '%F %t:%T' "$S/dev-chr")" = "character special file 8:0" ] &&
	[ "$(stat -c '%F %t:%T' "$S/dev-blk")" = "block special file 8:0" ] ||
	fail "device nodes not made inside the tree"
# the sink holds nothing open in the tree (never a FIFO or device)
for fd in /proc/"$PID_sink"/fd/*; do
	case $(readlink "$fd") in "$S"/*) fail "the sink holds $(readlink "$fd") open" ;; esac
done
pass "device nodes from the source: made inside the tree only (rsync -D), never opened"

# the next real push removes what the source does not have
push 3
"$TREECMP" "$M" "$S" || fail "trees differ after push 3"
[ -e "$S/dev-chr" ] || [ -e "$S/dev-blk" ] && fail "device nodes not pruned"
outside_same "push 3"
pass "path races: nothing outside the mirror root touched"
