#!/bin/bash
# Changes the sink cannot apply when they arrive (t0230 found a directory
# whose parent was renamed away before it arrived, and a hardlink whose
# target was missing) must not be lost: the sink reports them (FAILED) and
# the source reconciles the nearest directory above them that it still
# has.  Here the slave's copy of a directory is removed behind the sink's
# back, then the master makes directories and a symlink in it (no file
# content: its failures have their own retries).  The slave must catch up
# in the same session, without any further change on the master.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M/d/e" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"

echo data >"$M/d/f"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge_trees "$M" "$S" "start-up" 10

rm -rf "$S/d/e"
mkdir -p "$M/d/e/sub/deeper"
ln -s ../f "$M/d/e/sl"
converge_trees "$M" "$S" "the slave gets what it failed to apply" 15
grep -q "cannot apply 'd/e/sub': No such file or directory" "$T_DIR/sink.log" ||
	fail "the sink did not fail as this test means it to"
grep -q "the sink could not apply a change to 'd/e/sub'" "$T_DIR/source.log" ||
	fail "the source did not log the sink's failure"
grep -q "the sink failed to apply a change beneath it, reconciling 'd/e'" "$T_DIR/source.log" ||
	fail "the source did not rescan the directory above the failure"
n=$(grep -c "connected to 192.0.2.12" "$T_DIR/source.log")
[ "$n" -eq 1 ] || fail "the source connected $n times: a new session's reconciliation did the work"

running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
