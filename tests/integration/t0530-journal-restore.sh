#!/bin/bash
# Journal-driven restore: the slave, promoted, journals its own changes;
# mirror-restore asks it for the paths changed since the takeover and pulls
# only those (the log says "journal: N paths", far fewer entries than the
# tree); --verify compares content digests; a second run asks only for
# what changed since the first; a run killed halfway converges without
# duplicate conflicts; excluded names are neither sent nor pruned in a
# renamed directory; --full still compares the whole trees; a promoted
# slave refuses pushes, stays promoted across a restart (and its next
# restore compares whole trees), continues its journal when promoted again
# without a push in between, and accepts pushes again once demoted (the
# first push spends its journal).
. "$(dirname "$0")/t05-common.sh"

# an excluded pattern: never sent either way, never pruned
sed -i 's|^path = .*|&\nexclude = *.swp|' "$T_DIR/master.conf" "$T_DIR/slave.conf"
"$MKTREE" "$M" 5 3000 || fail "mktree"
mkdir -p "$M/d" && echo "c v1" >"$M/d/c.txt"
start_slave
# the master's live source: initial sync, journal, acknowledgements
start_bg master src "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 60 "initial sync" "$TREECMP" "$M" "$S"
stop_pid "$PID_src"
same "live initial sync"
# as after hours of mirroring: the last acknowledgement came well after
# the initial tree was written (else its files would count as written
# after it, less the 5 s margin, and be kept as conflicts)
touch -d '10 seconds' "$T_DIR/master-state/www/journal.ack"
[ -f "$T_DIR/master-state/www/journal" ] || fail "the master has no journal"
pass "live initial sync, the master's journal exists"

# the master is away: one change of its own never reached the slave
echo "c master-only" >"$M/d/c.txt"
"$JAPPEND" "$T_DIR/master-state/www" upsert d/c.txt || fail "jappend"

in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" promote www >"$T_DIR/promote.log" 2>&1 ||
	{ cat "$T_DIR/promote.log"; fail "promote"; }
wait_until 5 "promoted journal" test -f "$T_DIR/slave-state/www/promoted/active"
# writes on the promoted slave
"$MKTREE" --mutate "$S" 17 60 || fail "mutate"
echo "c slave" >"$S/d/c.txt"
echo new >"$S/created.txt"
mkdir -p "$S/newdir/sub" && echo deep >"$S/newdir/sub/f"
d=$(cd "$S" && find . -mindepth 2 -maxdepth 2 -type d ! -path './special*' | head -n 1)
[ -n "$d" ] || fail "no directory to rename"
echo mine >"$M/$d/mine.swp"; echo theirs >"$S/$d/theirs.swp"
mv "$S/$d" "$S/moved-dir"
rm -f "$(find "$S" -type f -name '*' ! -path '*special*' | head -n 1)"

rc=0
in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once www >"$T_DIR/refused.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a push into the promoted slave was accepted"
grep -q 'promoted' "$T_DIR/sink.log" || fail "the slave did not say why it refused the push"
pass "the promoted slave refuses pushes"

restore 1 restore.log
[ -f "$M/moved-dir/mine.swp" ] || fail "an excluded file of the master was not kept in the renamed directory"
[ -e "$M/moved-dir/theirs.swp" ] && fail "an excluded file of the slave was sent"
rm -f "$M/moved-dir/mine.swp" "$S/moved-dir/theirs.swp"
touch -r "$S/moved-dir" "$M/moved-dir"     # (removing them changed the mtimes)
restore 0 verify.log --verify
same "journal restore"
grep -q 'journal: [0-9]* paths to check' "$T_DIR/restore.log" || { cat "$T_DIR/restore.log"; fail "the journal was not used"; }
grep -q 'verify: content of [0-9]* entries equals' "$T_DIR/verify.log" || fail "no content verification"
n=$(sed -n 's/.*restore done in [0-9.]* s: \([0-9]*\) entries.*/\1/p' "$T_DIR/restore.log")
total=$(find "$S" | wc -l)
[ -n "$n" ] && [ "$n" -lt $((total / 4)) ] || { cat "$T_DIR/restore.log"; fail "journal restore handled $n entries of $total"; }
C=$(ls -d "$T_DIR"/master-state/conflicts/www/*)
[ "$(cat "$C/d/c.txt")" = "c master-only" ] || fail "the master's own change was not kept"
pass "journal restore: $n entries of $total, conflict kept, content verified"

restore 0 again.log
grep -q 'journal: 0 paths to check' "$T_DIR/again.log" || { cat "$T_DIR/again.log"; fail "second run asked for old changes"; }
same "second run"
pass "a second run asks only for what changed since the first"

# more changes, a big file, kill the restore halfway, run again
"$MKTREE" --mutate "$S" 23 200 || fail "mutate 2"
"$MKTREE" --big "$S/big1" 64 || fail "big file"
in_ns master "$RESTORE" -q -c "$T_DIR/master.conf" >"$T_DIR/killed.log" 2>&1 &
rpid=$!
sleep 0.3
stop_pid "$rpid" KILL
restore 0 after-kill.log --verify
same "after a kill"
grep -q 'journal: [0-9]* paths to check' "$T_DIR/after-kill.log" || fail "the rerun did not use the journal"
[ "$(ls "$T_DIR/master-state/conflicts/www" | wc -l)" = 1 ] || fail "duplicate conflicts folder"
pass "a restore killed halfway converges with the journal, no duplicate conflicts"

echo "slave again" >"$S/created.txt"
restore 0 full.log --full
grep -q 'comparing whole trees: --full' "$T_DIR/full.log" || { cat "$T_DIR/full.log"; fail "--full did not compare whole trees"; }
same "--full"
pass "--full compares the whole trees"

# a restart keeps the promotion; the journal then asks for a whole comparison
stop_pid "$PID_sink"
start_slave
echo "after restart" >"$S/restart.txt"
rc=0
in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once www >"$T_DIR/refused2.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a push was accepted after the restart: promotion forgotten"
restore 0 restart.log
grep -q 'comparing whole trees: .*restarted while promoted' "$T_DIR/restart.log" || { cat "$T_DIR/restart.log"; fail "no whole comparison after a restart"; }
same "after a restart"
echo "later" >"$S/later.txt"
restore 0 later.log
grep -q 'journal: [0-9]* paths to check' "$T_DIR/later.log" || { cat "$T_DIR/later.log"; fail "journal not used after the full run"; }
same "later"
pass "promotion survives a restart; one whole comparison, then the journal again"

# demoted and promoted again without a restore: nothing of the first
# promotion is lost
echo "before the second promotion" >"$S/first.txt"
in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" demote www >"$T_DIR/demote.log" 2>&1 ||
	{ cat "$T_DIR/demote.log"; fail "demote"; }
in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" promote www >"$T_DIR/promote2.log" 2>&1 ||
	{ cat "$T_DIR/promote2.log"; fail "promote again"; }
echo "after the second promotion" >"$S/second.txt"
restore 0 repromoted.log
grep -q 'journal: [0-9]* paths to check' "$T_DIR/repromoted.log" || { cat "$T_DIR/repromoted.log"; fail "journal not used after a second promotion"; }
same "after a second promotion"
pass "a second promotion continues the journal of the first"

in_ns slave "$MIRRORCTL" -c "$T_DIR/slave.conf" demote www >"$T_DIR/demote.log" 2>&1 ||
	{ cat "$T_DIR/demote.log"; fail "demote"; }
echo "from the master" >"$M/pushed.txt"
in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once www >"$T_DIR/push2.log" 2>&1 ||
	{ tail "$T_DIR/push2.log"; fail "push after the demotion refused"; }
same "push after demote"
[ -f "$T_DIR/slave-state/www/promoted/active" ] && fail "demotion not persisted"
[ -f "$T_DIR/slave-state/www/promoted/journal" ] && fail "the push did not spend the promoted journal"
pass "demoted: pushes accepted again, the promoted journal is spent"
