#!/bin/bash
# A file whose name becomes a hardlink to another file while its content
# is being sent.  The retry of that content finds a file with two names: sent
# alone it replaced the sink's copy under one name, which parted it from
# the other there (and made the sink drop the hardlink it still held for
# that name), with no link sent after it; the source must send it again
# with all its names.
#
# Made deterministic: the sink is stopped (SIGSTOP) while the source sends
# the new content of d/B and then, after `ln -f A d/B`, the group A with
# the link d/B to it; on resume the sink asks for d/B's content first,
# which has changed by then, and holds the link while it waits.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M/d" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"
T_KEEP_TREES="$M $S"

echo aaa >"$M/A"
echo bbbbbb >"$M/d/B"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge_trees "$M" "$S" "start-up" 10

kill -STOP "$PID_sink" || fail "cannot stop the sink"
printf 'new %0100d\n' 1 >"$M/d/B"
sleep 2.5                       # d/B's ENTRY went out (under load too)
ln -f "$M/A" "$M/d/B"
sleep 1.5                       # and the group: A, the link d/B
kill -CONT "$PID_sink" || fail "cannot continue the sink"

converge_trees "$M" "$S" "the link made while d/B was sent is on the slave" 10
grep -q "'d/B' changed while being sent" "$T_DIR/source.log" ||
	fail "d/B did not change while being sent, as this test means it to"
grep -q "'d/B' has other names now, sending it again with them" "$T_DIR/source.log" ||
	fail "the source did not send d/B again with its other names"
sleep 1                         # nothing parts them later either
"$TREECMP" "$M" "$S" >/dev/null 2>&1 || fail "the slave changed again after converging"
running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
