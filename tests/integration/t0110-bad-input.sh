#!/bin/bash
# t0110-bad-input: a hostile source (tests/tools/badpeer) runs every attack
# against a real sink.  After each one: the sink is alive, its log names the
# refusal, and nothing outside the mirror root was created or changed (an
# outside directory holds a canary; slave/www/evil is a symlink to it).  A
# slowloris connection hangs while a real push runs, and that push, made
# after all the attacks, must still converge.
. "$(dirname "$0")/lib.sh"
need_root

need_tools "$MIRRORD" "$BADPEER" "$TREECMP"

net_setup master slave
SINK=$(host_addr slave)
PORT=7770

OUT="$T_DIR/outside"
mkdir -p "$T_DIR/master/www/sub" "$T_DIR/slave/www" "$OUT/sub" "$T_DIR/out" ||
	fail "mkdir"
printf 'do not touch\n' >"$OUT/canary"
printf 'nested\n' >"$OUT/sub/kept"
touch -d '2001-02-03 04:05:06.123456789' "$OUT/canary" "$OUT/sub/kept" "$OUT/sub" "$OUT"
# the slave tree: a symlink out of the root, and a file to rename into it
ln -s "$OUT" "$T_DIR/slave/www/evil"
printf 'inbox\n' >"$T_DIR/slave/www/inbox"
# a small source tree for the pushes
printf 'hello\n' >"$T_DIR/master/www/a"
head -c 100000 /dev/urandom >"$T_DIR/master/www/sub/b"
ln -s ../a "$T_DIR/master/www/sub/link"
mkdir "$T_DIR/master/www/empty"

cat >"$T_DIR/slave.conf" <<EOF
[node]
name = slave
listen = $SINK:$PORT
control_socket = $T_DIR/slave.sock
state_dir = $T_DIR/state-slave

[mirror www]
path = $T_DIR/slave/www

[security]
insecure_plaintext = yes
EOF
cat >"$T_DIR/master.conf" <<EOF
[node]
name = master
control_socket = $T_DIR/master.sock
state_dir = $T_DIR/state-master

[mirror www]
path = $T_DIR/master/www
peer = $SINK:$PORT

[security]
insecure_plaintext = yes
EOF

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
SINK_LOG="$T_DIR/sink.log"
wait_port master "$SINK" "$PORT" 10

# What must never change: the outside directory (content, mode, links,
# times), the files of this test outside the mirror root, and /etc.
outside_state() {
	find "$OUT" -printf '%p %y %s %m %n %T@ %C@\n' | sort
	sha256sum "$OUT/canary" "$OUT/sub/kept" /etc/passwd
}
around_state() {
	find "$T_DIR" \( -path "$T_DIR/slave/www" -o -path "$T_DIR/out" -o -name '*.log' \
		-o -path "$T_DIR/state-*" -o -path "$OUT" \) -prune -o -printf '%p %y %s\n' | sort
	ls -d /etc/escape /escape /etc/x "$T_DIR/slave/escape" "$T_DIR/slave/x" 2>/dev/null
}
outside_state >"$T_DIR/out/outside.0"
around_state >"$T_DIR/out/around.0"
[ "$(stat -c %h "$OUT/canary")" = 1 ] || fail "canary starts with extra links"

sink_alive() { running "$PID_sink"; }
log_lines() { wc -l <"$SINK_LOG"; }
new_log_has() { tail -n +"$(($1 + 1))" "$SINK_LOG" | grep -Eq "$2"; }

HARD_RE='no valid HELLO|unknown mirror|bad frame|protocol error in'
ELOOP='Too many levels of symbolic links'

# attack NAME REGEX: run it from the master namespace and check the sink.
# An empty REGEX: no log line is required (the operation is legal).
attack() {
	local name=$1 re=$2 before rc
	before=$(log_lines)
	in_ns master timeout 60 "$BADPEER" "$SINK" "$PORT" www "$name" >"$T_DIR/out/$name" 2>&1
	rc=$?
	sed "s/^/    badpeer: /" "$T_DIR/out/$name"
	[ $rc -eq 0 ] || fail "$name: the sink did not answer as expected (badpeer exit $rc)"
	# the log line may follow the close by a moment
	[ -z "$re" ] ||
		wait_until 5 "a log line for $name matching /$re/" new_log_has "$before" "$re"
	tail -n +"$((before + 1))" "$SINK_LOG" | sed "s/^/    sink: /"
	sink_alive || fail "$name: the sink died"
	outside_state | cmp -s - "$T_DIR/out/outside.0" ||
		{ outside_state | diff "$T_DIR/out/outside.0" -; fail "$name: outside changed"; }
	around_state | cmp -s - "$T_DIR/out/around.0" ||
		{ around_state | diff "$T_DIR/out/around.0" -; fail "$name: created outside the root"; }
	[ -e "$T_DIR/slave/www/stolen" ] && fail "$name: a link to the outside was made"
	pass "$name"
}

# before or instead of the handshake
attack truncated-hello 'no valid HELLO \(Connection reset'
attack bad-magic 'no valid HELLO'
attack unknown-mirror "unknown mirror 'no-such-mirror'"
attack entry-before-hello 'no valid HELLO'
# malformed frames and escaping paths inside a session: ERROR and close
attack truncated 'ended \(Connection reset'
attack oversize 'bad frame header \(Message too long\)'
attack unknown-type 'bad frame \(type 42'
attack reserved-bits 'bad frame header \(Bad message\)'
for a in path-dotdot path-dotdot-dir path-abs path-updown path-empty hardlink-up \
	hardlink-abs; do
	attack "$a" 'protocol error in ENTRY: Bad message'
done
attack data-without-need 'protocol error in DATA'
attack file-end-unknown 'protocol error in FILE_END'
attack big-split 'bad frame \(type 20, 1052672 bytes\)'
# through slave/www/evil -> outside: the operation fails, the session goes on
[ -L "$T_DIR/slave/www/evil" ] || fail "the test's symlink is gone"
attack evil-file "cannot write 'evil/owned': $ELOOP"
for a in evil-dir evil-symlink evil-fifo; do
	attack "$a" "cannot apply 'evil/owned': $ELOOP"
done
attack evil-hardlink "cannot apply 'stolen': $ELOOP"
attack evil-delete "cannot delete 'evil/canary': $ELOOP"
attack evil-prune "cannot prune 'evil': $ELOOP"
attack evil-rename "cannot rename 'inbox': $ELOOP"
attack zstd-garbage "cannot write 'zstd-garbage'"
[ -e "$T_DIR/slave/www/zstd-garbage" ] && fail "a file made of zstd garbage was installed"
[ -e "$T_DIR/slave/www/inbox" ] || fail "inbox was moved through the symlink"
# legal: a directory where the symlink is; its metadata must not reach outside
attack evil-meta ''
[ -d "$T_DIR/slave/www/evil" ] && [ ! -L "$T_DIR/slave/www/evil" ] ||
	fail "evil-meta: the symlink was not replaced by a directory"

# Slowloris: half a header, then silence.  The push must succeed while it
# hangs, and the sink must drop the silent connection by itself.
before=$(log_lines)
start_bg master slowloris "$BADPEER" "$SINK" "$PORT" www slowloris 30
wait_until 5 "slowloris connected" grep -q 'sent half a header' "$T_DIR/slowloris.log"
t0=$(date +%s)
in_ns master timeout 30 "$MIRRORD" -f -c "$T_DIR/master.conf" --once www \
	>"$T_DIR/out/push" 2>&1 || { cat "$T_DIR/out/push"; fail "push during slowloris failed"; }
running "$PID_slowloris" ||
	fail "slowloris was not hanging during the push (it ended too early)"
log "push during slowloris took $(( $(date +%s) - t0 )) s"
wait_until 30 "the sink to drop the slowloris" exited "$PID_slowloris"
wait "$PID_slowloris" || { cat "$T_DIR/slowloris.log"; fail "slowloris was not refused"; }
sed "s/^/    badpeer: /" "$T_DIR/slowloris.log"
new_log_has "$before" 'no valid HELLO' || fail "no log line for the slowloris"
tail -n +"$((before + 1))" "$SINK_LOG" | grep -E 'no valid HELLO' | sed "s/^/    sink: /"
sink_alive || fail "the sink died"

# The push converged, pruned evil (the symlink, not its target) and left
# everything outside alone.
"$TREECMP" "$T_DIR/master/www" "$T_DIR/slave/www" || fail "trees differ after the push"
outside_state | cmp -s - "$T_DIR/out/outside.0" || fail "outside changed by the push"
around_state | cmp -s - "$T_DIR/out/around.0" || fail "push created outside the root"
pass "bad input refused, nothing outside the root touched, push converges"
