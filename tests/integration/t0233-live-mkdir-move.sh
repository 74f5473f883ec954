#!/bin/bash
# Directories made (with a subdirectory and a file) and moved into another
# directory a millisecond or two later, while a restarted source starts
# and just after.  The start-up sends a listing of each directory that
# changed while it was stopped, read when it is sent: it may send such a
# new directory before its creation record goes out, and the rename of a
# path never sent as a change is elided (its items are sent under the new
# name), so the old name must be sent too (absent: a delete), or the sink
# keeps an empty copy there.  ROUNDS restarts (default 6), each compared
# strictly; the changes are those t0286 used to make.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
pair_confs "$M" "$S"

# 40 top directories x 100 subdirectories x 3 files (4,041 directories):
# the watches take a moment to add; names around '/' in byte order too
perl -e '
	my $m = shift;
	for my $t (0 .. 39) {
		my $top = sprintf("%s/t%02d", $m, $t);
		mkdir $top or die;
		for my $s (0 .. 99) {
			mkdir "$top/s$s" or die;
			for my $f (0 .. 2) {
				open(my $h, ">", "$top/s$s/f$f") or die; print $h "$t $s $f\n"; close($h);
			}
		}
	}' "$M" || fail "making the tree"
mkdir -p "$M/a/x" "$M/a-b" "$M/a b/c" "$M/a.d/e"
touch "$M/a.txt" "$M/a0" "$M/a/x/y" "$M/a-b/z" "$M/a b/c/d"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source0 "$MIRRORD" -f -c "$T_DIR/master.conf"
converge_trees "$M" "$S" "initial sync" 60
wait_until 30 "the source saves its tree index" grep -q "tree index saved" "$T_DIR/source0.log"
PREV=$PID_source0

# changes LOG: one process makes them, from before the source starts
# until its start-up walk ended plus 200 more (at most 4,000, a few a millisecond), mostly in the last top directories
# (the watcher reaches them last) and deep; prints "during total"
changes() {
	perl -e '
		my ($m, $logf, $round) = @ARGV;
		my ($ops, $during, $ready, $last) = (0, 0, 0, "");
		sub put { my ($p, $t) = @_; open(my $h, ">", $p) or return; print $h $t; close($h) }
		use Time::HiRes qw(sleep);
		while ($ops < 4000) {
			sleep(0.001) if $ops % 4 == 0;          # spread over the start-up
			my $t = $ops % 3 ? 39 - $ops % 5 : $ops % 40;
			my $d = sprintf("%s/t%02d/s%d", $m, $t, $ops * 7 % 100);
			my $k = $ops % 7;
			my $n = "r${round}_$ops";
			if ($k == 0) { put("$d/f" . $ops % 3, "rewritten $n\n") }
			elsif ($k == 1) { put("$d/$n", "new $n\n") }
			elsif ($k == 2) { unlink("$d/f" . $ops % 3) }
			elsif ($k == 3) { rename("$d/f" . ($ops + 1) % 3, "$d/m$n") }
			elsif ($k == 4) { mkdir("$d/n$n"); mkdir("$d/n$n/deep");
					  put("$d/n$n/deep/x", "x\n"); $last = "$d/n$n" }
			elsif ($k == 5) { opendir(my $h, $d) or next;
					  my @n = grep { /^n/ } readdir($h);
					  if (@n) { unlink("$d/$n[0]/deep/x"); rmdir("$d/$n[0]/deep");
						    rmdir("$d/$n[0]") } }
			else { rename($last, "$d/dmoved$n") }      # to another directory
			$ops++;
			if (!$ready && $ops % 10 == 0 && open(my $l, "<", $logf)) {
				local $/; my $txt = <$l>;
				$ready = $txt =~ /paths walked in/;
			}
			$during = $ops unless $ready;
			last if $ready && $ops >= $during + 200;
		}
		print "$during $ops\n";' "$M" "$T_DIR/$1.log" "$1"
}

round() { # round NAME SIGNAL: stop the source, restart it while changing
	local during ops pid
	stop_pid "$PREV" "$2"
	: >"$T_DIR/$1.log"
	changes "$1" >"$T_DIR/$1.changes" &
	pid=$!
	T_PIDS="$T_PIDS $pid"
	start_bg master "$1" "$MIRRORD" -f -c "$T_DIR/master.conf"
	PREV=$(eval echo "\$PID_$1")
	wait_until 60 "the changes of $1 end" test -s "$T_DIR/$1.changes"
	wait "$pid" || fail "$1: the changes failed"
	read -r during ops <"$T_DIR/$1.changes"
	log "$1: $during of $ops changes made before its start-up walk ended"
	[ "$during" -ge 20 ] || fail "$1: the start-up was too quick to test ($during changes)"
	grep -q "compared with the tree index, no full reconciliation" "$T_DIR/$1.log" ||
		fail "$1: the restart did not walk with the tree index"
	grep -q "watching .*not counted: they fit" "$T_DIR/$1.log" ||
		fail "$1: the restart counted the directories again"
	converge_trees "$M" "$S" "$1: every change made during the start-up delivered" 10
	wait_until 30 "$1 saves the tree index" grep -q "tree index saved" "$T_DIR/$1.log"
}

for r in $(seq 1 "${T_ROUNDS:-6}"); do
	round "restart$r" TERM
done
stop_pid "$PREV" TERM
pass "directories made and moved during $r overlapped start-ups all delivered"
