#!/bin/bash
# Versioned retention on the slave (keep_versions): a real mirrord source on
# "master" and sink on "slave".  An overwrite and a delete on the master leave
# the previous versions retrievable on the slave; a point-in-time restore of a
# subtree (and of the whole mirror) at a recorded time T matches a manifest
# recorded at T (content and mode), after creates, overwrites, deletes, an
# rm -r and renames made after T; once the retention has passed the versions
# are pruned and T can no longer be restored.
. "$(dirname "$0")/lib.sh"
need_root

KEEP=15                       # keep_versions, seconds
need_tools "$MIRRORD" "$TREECMP" "$RESTORE"
net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
V=$T_DIR/slave-versions
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"
# the slave keeps versions beside its tree (same file system)
sed -i "s|^path = $S\$|path = $S\nkeep_versions = ${KEEP}s\nversions_dir = $V|" \
	"$T_DIR/slave.conf"
grep -q "^keep_versions = ${KEEP}s" "$T_DIR/slave.conf" || fail "slave.conf not edited"

same() { "$TREECMP" "$M" "$S"; }
converge() { wait_until "${2:-10}" "$1: trees equal" same; pass "$1"; }
# manifest DIR: every path with type and mode, symlink targets, file digests
manifest() {
	(cd "$1" && find . -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum)
}
restore() { "$RESTORE" -c "$T_DIR/slave.conf" "$@"; }
# kept FILE: the stored versions of path FILE on the slave
kept() { restore --list-versions www "$1" | cut -f4; }

# ---- a tree before T ----
mkdir -p "$M/sub/keep" "$M/sub/gone" "$M/sub/moved" "$M/other"
for i in 1 2 3; do echo "keep $i" >"$M/sub/keep/f$i"; echo "gone $i" >"$M/sub/gone/g$i"; done
echo "old content" >"$M/sub/over.txt"
echo "to delete" >"$M/sub/del.txt"
echo "will move" >"$M/sub/moved/m.txt"
echo "rename me" >"$M/sub/ren.txt"
chmod 640 "$M/sub/over.txt"; chmod 711 "$M/sub/keep"
ln -s keep/f1 "$M/sub/link"
echo outside >"$M/other/o.txt"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge "start-up reconciliation" 20
[ -f "$V/index" ] || fail "no versions index in $V"
if find "$S" -path "*versions*" | grep -q .; then fail "versions inside the served tree"; fi

manifest "$M/sub" >"$T_DIR/sub-at-T"
manifest "$M" >"$T_DIR/all-at-T"
T="@$(date +%s.%N)"
sleep 0.2

# ---- changes after T ----
echo "new content, longer than the old" >"$M/sub/over.txt"; converge "overwrite"
rm "$M/sub/del.txt";                                     converge "delete"
echo created >"$M/sub/new.txt";                          converge "create"
mv "$M/sub/ren.txt" "$M/sub/renamed.txt";                converge "rename a file"
mv "$M/sub/moved" "$M/other/moved";                      converge "rename a directory out"
echo "changed after its move" >"$M/other/moved/m.txt";   converge "overwrite after a move"
rm -rf "$M/sub/gone";                                    converge "rm -r a directory"
echo "over a file" >"$M/sub/x"; mv "$M/sub/x" "$M/sub/keep/f2"; converge "rename over a file"
ln -sfn keep/f3 "$M/sub/link";                           converge "symlink retarget"
T_CHANGED=$(date +%s)

# ---- the previous versions are retrievable on the slave ----
v=$(kept sub/over.txt)
[ -n "$v" ] && [ "$(cat "$v")" = "old content" ] || fail "no kept version of the overwrite: '$v'"
pass "overwritten file: previous version kept ($v)"
v=$(kept sub/del.txt)
[ -n "$v" ] && [ "$(cat "$v")" = "to delete" ] || fail "no kept version of the delete: '$v'"
pass "deleted file: previous version kept"
# rm -r reaches the sink as deletes of the files and then of the directory
# (or of the directory alone when its events coalesce): either way every
# file is kept
for i in 1 2 3; do
	v=$(kept sub/gone/g$i)
	[ -n "$v" ] && [ "$(cat "$v")" = "gone $i" ] && continue
	v=$(kept sub/gone)
	[ -n "$v" ] && [ "$(cat "$v/g$i")" = "gone $i" ] || fail "rm -r: sub/gone/g$i not kept"
done
pass "rm -r: the directory's files kept"
[ -z "$(kept sub/renamed.txt)$(kept sub/ren.txt)" ] || fail "a rename was kept as a version"
grep -q " R 0 sub/ren.txt . sub/renamed.txt\$" "$V/index" || fail "the rename is not in the index"
pass "renames are not versions"

# ---- point-in-time restore at T ----
restore --from-version "$T" --to "$S/restored" www sub 2>"$T_DIR/refused.err" &&
	fail "a restore into the mirrored tree was not refused"
grep -q "inside the mirror's tree" "$T_DIR/refused.err" || fail "refusal not explained"
pass "a target inside the mirrored tree is refused"

restore --from-version "$T" --to "$T_DIR/sub-restored" www sub >"$T_DIR/restore.log" 2>&1 ||
	{ cat "$T_DIR/restore.log"; fail "point-in-time restore of sub"; }
manifest "$T_DIR/sub-restored" >"$T_DIR/sub-restored.manifest"
diff -u "$T_DIR/sub-at-T" "$T_DIR/sub-restored.manifest" || fail "restored sub differs from T"
pass "point-in-time restore of a subtree matches the manifest at T"
restore --from-version "$T" --to "$T_DIR/all-restored" www >"$T_DIR/restore-all.log" 2>&1 ||
	{ cat "$T_DIR/restore-all.log"; fail "point-in-time restore of the mirror"; }
manifest "$T_DIR/all-restored" >"$T_DIR/all-restored.manifest"
diff -u "$T_DIR/all-at-T" "$T_DIR/all-restored.manifest" || fail "restored mirror differs from T"
pass "point-in-time restore of the whole mirror matches the manifest at T"
restore --from-version "$T" --to "$T_DIR/over-at-T" www "$S/sub/over.txt" >/dev/null 2>&1 ||
	fail "restore of one file (absolute path)"
[ "$(cat "$T_DIR/over-at-T")" = "old content" ] && [ "$(stat -c %a "$T_DIR/over-at-T")" = 640 ] ||
	fail "one file restored wrong"
restore --from-version "$T" --to "$T_DIR/new-at-T" www sub/new.txt 2>/dev/null &&
	fail "a file created after T was restored"
pass "one file restored as at T; a file created after T refused"
now="@$(date +%s.%N)"
restore --from-version "$now" --to "$T_DIR/now-restored" www >/dev/null 2>&1 ||
	fail "restore of now"
"$TREECMP" --content-only "$M" "$T_DIR/now-restored" >/dev/null || fail "restore of now differs"
pass "a restore of now equals the master"

# ---- after the retention the versions are gone ----
gone() {
	[ -z "$(kept sub/over.txt)$(kept sub/del.txt)$(kept sub/gone)$(kept sub/gone/g1)" ] &&
		[ -z "$(find "$V" -mindepth 1 -not -name index)" ]
}
wait_until $((KEEP + 15)) "versions pruned after ${KEEP}s" gone
waited=$(( $(date +%s) - T_CHANGED ))
[ "$waited" -ge $((KEEP - 1)) ] || fail "versions pruned after ${waited}s, before ${KEEP}s"
pass "versions pruned ${waited}s after the changes (keep_versions = ${KEEP}s)"
restore --from-version "$T" --to "$T_DIR/late" www sub 2>"$T_DIR/late.err" &&
	fail "a restore beyond the retention succeeded"
grep -q "outside the kept history" "$T_DIR/late.err" || fail "late restore not explained"
pass "a restore beyond the retention is refused"

converge "trees still equal"
running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
