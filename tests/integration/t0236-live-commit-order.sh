#!/bin/bash
# The sink commits a batch of new files on a thread of its own while it
# reads the next one.  Changes right behind a burst of new files depend on
# the batch being in place: renames, deletes and hardlinks of files of the
# burst, a second write of the same files, files moved to another
# directory, the directory's own times.  Several rounds, each a burst of
# 3,000 files followed at once by those changes, must leave the slave equal
# to the master (content, metadata, hardlinks), with no failed commit.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
pair_confs "$M" "$S"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 10 "source connected" grep -q "in sync" "$T_DIR/source.log"

# burst DIR N: N new files of 1 KiB in DIR, as fast as one process makes them
burst() {
	perl -e 'my ($d, $n) = @ARGV; mkdir $d or die "$d: $!";
		for my $i (1 .. $n) { open(my $f, ">", "$d/f$i") or die; print $f "$i\n" x 200;
		close($f) or die }' "$1" "$2"
}
# right behind it, changes that need the burst's files in place
after() {
	local d=$1 o=$2 i
	mkdir -p "$o"
	for i in $(seq 1 100); do mv "$d/f$i" "$d/r$i"; done
	for i in $(seq 101 200); do rm "$d/f$i"; done
	for i in $(seq 201 300); do ln "$d/f$i" "$d/h$i"; done
	for i in $(seq 301 400); do echo "second $i" >"$d/f$i"; done
	for i in $(seq 401 450); do mv "$d/f$i" "$o/m$i"; done
	for i in $(seq 451 500); do mv "$d/f$i" "$d/f$((i + 50))"; done    # over another
	chmod 0750 "$d/f600"
	touch -d '2001-02-03 04:05:06' "$d"
}

for r in 1 2 3; do
	burst "$M/b$r" 3000 || fail "round $r: burst"
	after "$M/b$r" "$M/o$r" || fail "round $r: changes"
	converge_trees "$M" "$S" "round $r" 30
done
# and a burst with its changes into the same directories again
burst "$M/b1/again" 3000 || fail "burst again"
after "$M/b1/again" "$M/o1" || fail "changes again"
rm -rf "$M/b2"
mv "$M/b3" "$M/b3moved"
converge_trees "$M" "$S" "again, then a directory removed and one renamed" 30

# A RENAME can reach the sink while the content of its source is still on
# its way (the source does not wait for it): that one fails, is reported,
# and the source reconciles the directory.  A commit must never fail.
! grep -E "commit failed|cannot (delete|create hardlink|write)" "$T_DIR/sink.log" ||
	fail "the sink reported errors"
running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
