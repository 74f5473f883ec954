#!/bin/bash
# A hardlink the sink holds back (until the content in flight has arrived)
# when a whole-tree pass supersedes the records that would have removed it.
# The pass's listing cannot remove a name the sink does not have yet, so
# the held link must go with the listing that does not name it, or it is
# made after the pass and the slave keeps a name the master no longer has.
#
# Made deterministic: the sink is stopped (SIGSTOP) while the source sends
# the changed content of T and the link d/X to it, so the sink has asked
# for nothing and holds d/X until T's content arrives; the paused source
# then records d/X's removal behind a name whose inode has a name outside
# the tree (which makes it reconcile the whole tree); on resume the pass
# and the listings after it all reach the sink before it asks for T.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$MIRRORCTL" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
OUT=$T_DIR/master/outside
mkdir -p "$M/d" "$S" "$OUT" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"
ctl() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" "$@"; }

# T in the root is listed before d/X: the group's content goes as T, d/X
# as a hardlink to it
echo old >"$M/T"
ln "$M/T" "$M/d/X"
echo outside >"$OUT/O"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge_trees "$M" "$S" "start-up" 10

kill -STOP "$PID_sink" || fail "cannot stop the sink"
echo new >>"$M/T"
sleep 1                         # T's content and the link d/X went out
ctl pause www >/dev/null || fail "mirrorctl pause www"
sleep 0.5                       # the source sees the pause
ln "$OUT/O" "$M/y"              # a name whose other name is not in the tree
sleep 0.3
rm "$M/d/X"                     # recorded behind it: superseded by the pass
sleep 1
ctl resume www >/dev/null || fail "mirrorctl resume www"
sleep 1.5                       # the pass and the listings after it went out
grep -q "a file has a name not seen yet, reconciling the whole tree" "$T_DIR/source.log" ||
	fail "the source did not supersede its records with a pass"
kill -CONT "$PID_sink" || fail "cannot continue the sink"

converge_trees "$M" "$S" "the held link the pass superseded is not made" 10
sleep 1                         # nothing comes back later either
"$TREECMP" "$M" "$S" >/dev/null 2>&1 || fail "the slave changed again after converging"
[ ! -e "$S/d/X" ] || fail "d/X is back on the slave"
grep -q "held hardlink 'd/X' dropped: the listing of 'd' does not name it" "$T_DIR/sink.log" ||
	fail "the sink did not hold d/X through the pass as this test means it to"
running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
