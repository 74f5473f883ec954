#!/bin/bash
# mirror-restore after a takeover: the slave's tree changed (creates,
# overwrites, deletes, renames); --dry-run changes nothing; the restore
# brings the master to equality (--verify too); a second run changes
# nothing; a run killed halfway and run again converges.
. "$(dirname "$0")/t05-common.sh"

"$MKTREE" "$M" 5 2000 || fail "mktree"
start_slave
push "initial sync"
pass "initial sync"

# writes on the promoted slave while the master is away
"$MKTREE" --mutate "$S" 17 200 || fail "mutate"
echo overwritten >"$S/over.txt"; echo new >"$S/created.txt"
mkdir -p "$S/newdir/sub" && echo deep >"$S/newdir/sub/f"
first=$(find "$S" -type f -name '*' | head -n 1)
mv "$first" "$S/renamed-file"
d=$(find "$S" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -n "$d" ] && mv "$d" "$S/renamed-dir"
rm -rf "$(find "$S" -mindepth 1 -maxdepth 1 -type d ! -name 'renamed-dir' ! -name newdir | head -n 1)"

cp -a "$M" "$T_DIR/before"
restore 0 dry.log --dry-run
"$TREECMP" "$T_DIR/before" "$M" >/dev/null 2>&1 || fail "--dry-run changed the master"
grep -q 'would create: created.txt' "$T_DIR/dry.log" || fail "--dry-run did not list created.txt"
grep -q 'dry run: [1-9][0-9]* to create' "$T_DIR/dry.log" || fail "--dry-run summary missing"
pass "--dry-run lists the changes and changes nothing"

restore 0 restore.log --verify
same "restore"
grep -q 'NO JOURNAL' "$T_DIR/restore.log" || fail "no warning about the missing journal"
grep -q 'verify: this tree equals' "$T_DIR/restore.log" || fail "verify did not pass"
pass "restore brings the master to the slave's tree ($(grep -o 'restore done in [0-9.]* s' "$T_DIR/restore.log"))"

restore 0 again.log
grep -q ' 0 created, 0 changed, 0 removed' "$T_DIR/again.log" || { cat "$T_DIR/again.log"; fail "second run changed something"; }
same "second run"
pass "a second run changes nothing"

# killed halfway: many changes on the slave, kill the restore, run again
"$MKTREE" --mutate "$S" 23 1500 || fail "mutate 2"
dd if=/dev/urandom of="$S/big1" bs=1M count=64 status=none
dd if=/dev/urandom of="$S/big2" bs=1M count=64 status=none
in_ns master "$RESTORE" -q -c "$T_DIR/master.conf" >"$T_DIR/killed.log" 2>&1 &
rpid=$!
sleep 0.4
stop_pid "$rpid" KILL
restore 0 after-kill.log --verify
same "after a kill"
pass "a restore killed halfway converges when run again"
find "$M" -name '.mirrord.tmp.*' | grep -q . && fail "temporary files left on the master"
[ -d "$T_DIR/master-state/conflicts" ] && fail "conflicts kept without a journal or --conflicts-by-mtime"
pass "no temporary files, no conflicts folder"
