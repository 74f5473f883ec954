#!/bin/bash
# Start-up of a live source: changes made while the initial reconciliation
# runs are all delivered; a restart (clean, or after SIGKILL with changes
# made while it was down) compares the tree with the index of the previous
# run instead of reconciling the whole tree with the sink, and converges; a
# sink whose copy is not the one the index was acknowledged by (its state
# lost) gets a full reconciliation.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
pair_confs "$M" "$S"

converge() { converge_trees "$M" "$S" "$1" "${2:-60}"; }  # LABEL [SECONDS]
in_sync_count() { grep -c "in sync with" "$T_DIR/$1.log"; }

# 100 directories x 100 files: the initial reconciliation takes a while
for d in $(seq 1 100); do
	mkdir "$M/d$d"
	for f in $(seq 1 100); do echo "$d $f" >"$M/d$d/f$f"; done
done
# names around '/' in byte order ("a" < "a-b" < "a.txt" < "a/x" < "a0"), a
# high byte: the walk must meet the index's rows in the index's order
mkdir -p "$M/a/x" "$M/a-b" "$M/a b/c" "$M/$(printf 'h\351')"
touch "$M/a.txt" "$M/a0" "$M/a/x/y" "$M/a-b/z" "$M/a b/c/d" "$M/$(printf 'h\351')/e"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10

# ---- changes during the initial reconciliation ----
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 20 "the initial listing starts" grep -q "every directory to be listed" \
	"$T_DIR/source.log"
# one process makes the changes (a shell loop forks too slowly to overlap
# a quick pass): rewrites, creates, deletes, renames, new subtrees, chmod,
# until the pass was sent and 300 more were made; prints "during total"
read -r during ops < <(perl -e '
	my ($m, $logf) = @ARGV;
	my ($ops, $during, $sent) = (0, 0, 0);
	sub put { my ($p, $t) = @_; open(my $h, ">", $p) or return; print $h $t; close($h) }
	while ($ops < 4000) {
		my $d = $ops % 100 + 1; my $f = $ops * 7 % 100 + 1;
		my $k = $ops % 6;
		if ($k == 0) { put("$m/d$d/f$f", "rewritten $ops\n") }
		elsif ($k == 1) { put("$m/d$d/new$ops", "new $ops\n") }
		elsif ($k == 2) { unlink("$m/d$d/f$f") }
		elsif ($k == 3) { rename("$m/d$d/f$f", "$m/d$d/moved$ops") }
		elsif ($k == 4) { mkdir("$m/n$ops"); mkdir("$m/n$ops/sub");
				  put("$m/n$ops/sub/x", "x\n") }
		else { chmod(0600, "$m/d$d/f$f") }
		$ops++;
		if (!$sent && $ops % 20 == 0) {
			open(my $l, "<", $logf) or die;
			local $/; my $t = <$l>;
			$sent = $t =~ /start-up listing sent/;
		}
		$during = $ops unless $sent;
		last if $sent && $ops >= $during + 300;
	}
	print "$during $ops\n";' "$M" "$T_DIR/source.log")
log "$during of $ops changes made while the initial reconciliation was being sent"
[ "$during" -ge 100 ] || fail "the initial reconciliation was too quick to test (only $during changes during it)"
converge "changes during the initial reconciliation all delivered"
wait_until 30 "the source saves its tree index" grep -q "tree index saved" "$T_DIR/source.log"
grep -q "start-up: no index yet" "$T_DIR/source.log" || fail "first start did not say it had no index"

# ---- clean restart: the index, not the sink's tree ----
stop_pid "$PID_source" TERM
start_bg master source2 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "restarted source in sync" grep -q "in sync with" "$T_DIR/source2.log"
grep -q "compared with the tree index, no full reconciliation" "$T_DIR/source2.log" ||
	fail "clean restart did not use the tree index"
if grep -q "reconciliation of '' started" "$T_DIR/source2.log"; then
	fail "clean restart reconciled the whole tree with the sink"
fi
converge "clean restart"
pass "clean restart used the index, the sink's tree was not listed"
# the index of the first start predates the changes made during its
# reconciliation (they were sent again, as metadata checks); the second
# restart's index is current
wait_until 30 "the index saved again" grep -q "tree index saved" "$T_DIR/source2.log"
stop_pid "$PID_source2" TERM
start_bg master source2b "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "second restart in sync" grep -q "in sync with" "$T_DIR/source2b.log"
grep -q "0 paths changed and 0 gone" "$T_DIR/source2b.log" ||
	fail "a restart with nothing changed found changes"
pass "restart with nothing changed: nothing sent"
# the index is updated in place (changed rows only), not written anew
wait_until 30 "the index saved again" grep -q "tree index saved" "$T_DIR/source2b.log"
grep -q "tree index saved (journal record [0-9]*, updated in place)" "$T_DIR/source2b.log" ||
	fail "a restart wrote the whole index anew"
pass "a restart updates the index in place"

# ---- SIGKILL, changes while down ----
stop_pid "$PID_source2b" KILL
echo "while down" >"$M/d1/f50"                  # rewrite
echo "new while down" >"$M/d2/brand-new"        # create
rm -f "$M/d3/f10"                               # delete
rm -rf "$M/d4"                                  # delete a directory
mv "$M/d5" "$M/d5-renamed"                      # rename a directory
chmod 0700 "$M/d6"                              # metadata only
mkdir -p "$M/fresh/a/b" && echo deep >"$M/fresh/a/b/c"
touch -d '2001-01-01 00:00:00' "$M/d7/f7"       # mtime only
start_bg master source3 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "source in sync after SIGKILL" grep -q "in sync with" "$T_DIR/source3.log"
grep -q "compared with the tree index, no full reconciliation" "$T_DIR/source3.log" ||
	fail "restart after SIGKILL did not use the tree index"
if grep -q "reconciliation of '' started" "$T_DIR/source3.log"; then
	fail "restart after SIGKILL reconciled the whole tree"
fi
converge "changes made while the source was down (SIGKILL) delivered"

# ---- a sink that lost its state: full reconciliation ----
wait_until 30 "the index saved after SIGKILL restart" grep -q "tree index saved" "$T_DIR/source3.log"
stop_pid "$PID_source3" TERM
stop_pid "$PID_sink" TERM
rm -rf "$T_DIR/slave-state"
rm -f "$S/d8/f8"                                # the copy differs behind the source's back
start_bg slave sink2 "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source4 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "source in sync with the new sink" grep -q "in sync with" "$T_DIR/source4.log"
grep -q "not the one the tree index was made for" "$T_DIR/source4.log" ||
	fail "a sink without its state was trusted"
converge "a sink that lost its state is reconciled in full"
