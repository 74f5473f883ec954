#!/bin/bash
# A directory renamed into a directory that is gone by the time the source
# sends its records.  The source sends each record by the current state of
# its path: a directory touched before the rename and removed after it goes
# out as DELETE ahead of the RENAME, so the sink has no target directory and
# cannot make the rename.  What the sink keeps under the old name must not
# stay there (t0230 found it as files left under a directory that was made
# again at the old name).  The paused source holds its records back so the
# order is the same on every run.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$MIRRORCTL" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"

ctl() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" "$@"; }
converge() { converge_trees "$M" "$S" "$@"; }  # LABEL SECONDS
# paused LABEL CMD...: run CMD on the master while the source holds its
# records back, then let them go and wait for the trees to agree.
paused() {
	local label=$1; shift
	ctl pause www >/dev/null || fail "mirrorctl pause www"
	sleep 0.5       # the live source sees the pause within a quarter of a second
	"$@" || fail "$label: the change on the master failed"
	sleep 1         # every record is in the journal (delay_ms is 10 ms)
	ctl resume www >/dev/null || fail "mirrorctl resume www"
	converge "$label" 10
}

mkdir -p "$M/a" "$M/b" "$M/c/old"
for f in 1 2 3; do echo "$f" >"$M/c/old/f$f"; done
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge "start-up" 10

# the target's parent removed after the rename: the sink must not keep c/old
into_removed() {
	echo new >"$M/a/new" && mv "$M/c/old" "$M/a/moved" && rm -rf "$M/a"
}
paused "rename into a directory removed after it" into_removed

# the old name made again at once: the files the rename took away must not
# come back there on the sink
mkdir -p "$M/c/old" "$M/d"
for f in 1 2 3; do echo "$f" >"$M/c/old/f$f"; done
converge "set-up again" 10
into_removed_remade() {
	echo new >"$M/b/new" && mv "$M/c/old" "$M/b/moved" && rm -rf "$M/b" &&
		mkdir "$M/c/old" && echo 4 >"$M/c/old/f4"
}
paused "rename into a removed directory, old name made again" into_removed_remade

# the target's parent renamed on after it: its new name has what was moved
mkdir -p "$M/c/old"
for f in 1 2 3; do echo "$f" >"$M/c/old/f$f"; done
converge "set-up once more" 10
into_renamed() {
	echo new >"$M/d/new" && mv "$M/c/old" "$M/d/moved" && mv "$M/d" "$M/e" &&
		mkdir "$M/c/old"
}
paused "rename into a directory renamed after it" into_renamed

running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
