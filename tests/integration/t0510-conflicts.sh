#!/bin/bash
# Conflicts: changes made on the master that never reached the slave (in
# the master's journal, unacknowledged) are kept in the dated conflicts
# folder and listed, never lost; a second run, and a run after a kill
# between keeping and replacing, keep nothing twice; --conflicts-by-mtime
# without a journal; --reapply puts the master's versions back.
# The journal is written with tests/tools/jappend (as the live source does).
. "$(dirname "$0")/t05-common.sh"

"$MKTREE" "$M" 9 300 || fail "mktree"
mkdir -p "$M/dir" && echo "b v1" >"$M/dir/b.txt" && echo "a v1" >"$M/a.txt"
echo "c v1" >"$M/c.txt"; echo keep >"$M/untouched.txt"
start_slave
push "initial sync"

# the master, cut off from the slave, changes files; its journal holds them
echo "a master-only" >"$M/a.txt"
echo "new master-only" >"$M/new.txt"
echo "b master" >"$M/dir/b.txt"
mkdir -p "$M/mdir" && echo "deep master" >"$M/mdir/f"
mkdir -p "$T_DIR/master-state/www"
"$JAPPEND" "$T_DIR/master-state/www" upsert a.txt create new.txt upsert dir/b.txt \
	create mdir create mdir/f || fail "jappend"
# the slave, promoted, changes some of the same paths
sleep 0.01
echo "b slave" >"$S/dir/b.txt"
rm "$S/c.txt"
echo "slave new" >"$S/s.txt"

cp -a "$M" "$T_DIR/before"
restore 0 dry.log --dry-run
"$TREECMP" "$T_DIR/before" "$M" >/dev/null 2>&1 || fail "--dry-run changed the master"
[ -d "$T_DIR/master-state/conflicts" ] && fail "--dry-run kept something"
grep -q 'conflict: a.txt -> would be kept' "$T_DIR/dry.log" || { cat "$T_DIR/dry.log"; fail "--dry-run did not list a.txt as a conflict"; }
pass "--dry-run lists the conflicts and keeps nothing"

restore 1 restore.log --verify
same "restore"
run=$(ls "$T_DIR/master-state/conflicts/www")
C="$T_DIR/master-state/conflicts/www/$run"
[ "$(echo "$run" | wc -l)" = 1 ] || fail "expected one run folder, got: $run"
[ "$(cat "$C/a.txt")" = "a master-only" ] || fail "a.txt: master's version not kept"
[ "$(cat "$C/new.txt")" = "new master-only" ] || fail "new.txt not kept"
[ "$(cat "$C/dir/b.txt")" = "b master" ] || fail "dir/b.txt: master's version not kept"
[ "$(cat "$C/mdir/f")" = "deep master" ] || fail "mdir/f not kept"
[ -e "$C/c.txt" ] && fail "c.txt (deleted on the slave, acknowledged) kept as a conflict"
[ -e "$C/untouched.txt" ] && fail "untouched.txt kept"
for p in a.txt new.txt dir/b.txt mdir/f; do
	grep -q "^$p	" "$C/conflicts.txt" || fail "$p missing from conflicts.txt"
	grep -q "conflict: $p -> " "$T_DIR/restore.log" || fail "$p not listed at the end"
done
[ "$(cat "$M/dir/b.txt")" = "b slave" ] || fail "dir/b.txt is not the slave's version"
pass "master-only changes kept in $run, listed in conflicts.txt and at the end"

restore 0 again.log
same "second run"
[ "$(ls "$T_DIR/master-state/conflicts/www" | wc -l)" = 1 ] || fail "a second run made a new conflicts folder"
pass "a second run keeps nothing again"

# killed after keeping, before replacing: the master's versions are back in place
sleep 1.1     # a new run stamp
cp -a "$C/a.txt" "$M/a.txt"; cp -a "$C/dir/b.txt" "$M/dir/b.txt"
restore 1 killed.log
same "after a kill"
[ "$(ls "$T_DIR/master-state/conflicts/www" | wc -l)" = 1 ] || fail "duplicate conflicts folder after a rerun"
grep -q "conflict: a.txt -> already kept in $run" "$T_DIR/killed.log" || { cat "$T_DIR/killed.log"; fail "a.txt not recognised as kept"; }
pass "a rerun after an interrupted run keeps no duplicates"

# no journal: --conflicts-by-mtime keeps files newer than the slave's
rm -rf "$T_DIR/master-state/www"
sleep 0.01
echo "mtime master" >"$M/a.txt"
restore 1 mtime.log --conflicts-by-mtime
same "by mtime"
grep -q "conflict: a.txt -> .*/a.txt" "$T_DIR/mtime.log" || { cat "$T_DIR/mtime.log"; fail "by mtime: a.txt not kept"; }
grep -rqx "mtime master" "$T_DIR/master-state/conflicts/www" || fail "by mtime: content not kept"
pass "--conflicts-by-mtime keeps the newer master file"

# --reapply: the master's version goes back in place, the slave's is kept
sleep 1.1
echo "reapply master" >"$M/a.txt"
restore 1 reapply.log --conflicts-by-mtime --reapply
[ "$(cat "$M/a.txt")" = "reapply master" ] || fail "--reapply did not put the master's version back"
grep -rqx "a master-only\|mtime master" "$T_DIR/master-state/conflicts/www" || fail "earlier versions lost"
find "$T_DIR/master-state/conflicts/www" -path '*from-slave/a.txt' | grep -q . || fail "--reapply did not keep the slave's version"
pass "--reapply puts the master's version back and keeps the slave's"
