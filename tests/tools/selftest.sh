#!/bin/sh
# selftest.sh: prove that the test tools can be trusted before the
# integration tests lean on them.  mktree must be deterministic, treecmp must
# call equal trees equal and report exactly one difference for exactly one
# change.  Not wired into make check; run it by hand from the build tree:
#
#   sh SRCDIR/tests/tools/selftest.sh [TOOLDIR]     (default: ./tests/tools)
#
# Needs root for the owner checks (mktree chowns only as root).
set -eu

TOOLS=${1:-./tests/tools}
MKTREE="$TOOLS/mktree"
TREECMP="$TOOLS/treecmp"
W=$(mktemp -d "${TMPDIR:-/tmp}/treecmp-selftest.XXXXXX")
trap 'rm -rf "$W"' EXIT
FAILED=0

fail() { echo "FAIL: $*"; FAILED=1; }
pass() { echo "ok: $*"; }

# expect_diffs N WHAT PATTERN [TREECMP ARGS]: treecmp A C must exit 1 with
# exactly N difference lines, all matching PATTERN.
expect_diffs() {
	n=$1 what=$2 pat=$3
	shift 3
	rc=0
	"$TREECMP" "$@" "$W/a" "$W/c" >"$W/out" || rc=$?
	lines=$(grep -vc '^treecmp: ' "$W/out" || true)
	match=$(grep -c -- "$pat" "$W/out" || true)
	if [ "$rc" -eq 1 ] && [ "$lines" -eq "$n" ] && [ "$match" -eq "$n" ]; then
		pass "$what"
	else
		fail "$what (exit $rc, $lines lines, $match matching)"
		cat "$W/out"
	fi
}

expect_equal() {
	if "$TREECMP" "$@" >"$W/out"; then
		pass "equal: $*"
	else
		fail "not equal: $*"
		head -20 "$W/out"
	fi
}

fresh_copy() {
	rm -rf "$W/c"
	cp -a "$W/a" "$W/c"
}

# Creating or renaming in a directory moves its mtime; put it back.
keep_dir_mtime() {
	touch -h -r "$W/a/$1" "$W/c/$1"
}

"$MKTREE" "$W/a" 7 500
"$MKTREE" "$W/b" 7 500
expect_equal "$W/a" "$W/b"

fresh_copy
expect_equal "$W/a" "$W/c"

touch -d '2001-02-03 04:05:06.123456789' "$W/c/special/one_mib"
expect_diffs 1 "touch is one mtime difference" '^"special/one_mib": mtime'

fresh_copy
chmod 0751 "$W/c/special/zero"
expect_diffs 1 "chmod is one mode difference" '^"special/zero": mode'

fresh_copy
setfattr -n user.selftest -v 1 "$W/c/special/new
line"
expect_diffs 1 "xattr is one xattr difference" '^"special/new\\nline": xattrs'
expect_equal --no-xattrs "$W/a" "$W/c"

fresh_copy
chown 4242 "$W/c/special/zero"
chmod "$(stat -c %a "$W/a/special/zero")" "$W/c/special/zero"   # chown drops setuid
expect_diffs 1 "chown is one owner difference" '^"special/zero": owner'
expect_equal --no-owner "$W/a" "$W/c"

fresh_copy
: >"$W/c/special/.mirrord.tmp.123"
keep_dir_mtime special
expect_diffs 1 "a temp file is a difference" 'mirrord.tmp.123": only in B'
expect_equal --ignore-temp "$W/a" "$W/c"

fresh_copy
printf x | dd of="$W/c/special/one_mib" bs=1 seek=1000 conv=notrunc status=none
touch -r "$W/a/special/one_mib" "$W/c/special/one_mib"
expect_diffs 1 "one changed byte is a content difference" '^"special/one_mib": content'
expect_diffs 1 "--content-only still sees content" '^"special/one_mib": content' --content-only

fresh_copy
chmod 0751 "$W/c/special/zero"
touch -d '2001-02-03 04:05:06' "$W/c/special"
setfattr -n user.selftest -v 1 "$W/c/special/zero"
expect_equal --content-only "$W/a" "$W/c"

fresh_copy
cp -a "$W/c/special/hl_c2" "$W/c/special/hl_c2.new"
mv "$W/c/special/hl_c2.new" "$W/c/special/hl_c2"
keep_dir_mtime special
expect_diffs 2 "a broken hardlink is a group difference" 'hardlink group'

fresh_copy
cp -a --sparse=never "$W/c/special/sparse" "$W/c/special/sparse.new"
mv "$W/c/special/sparse.new" "$W/c/special/sparse"
keep_dir_mtime special
expect_diffs 1 "a filled sparse file is a difference" '^"special/sparse": sparse'

fresh_copy
touch -h -d '2001-01-01' "$W/c"
expect_diffs 1 "root mtime counts" '^"": mtime'
expect_equal --no-root-mtime "$W/a" "$W/c"

fresh_copy
"$MKTREE" --mutate "$W/c" 3 30
rc=0
"$TREECMP" "$W/a" "$W/c" >"$W/out" || rc=$?
[ "$rc" -eq 1 ] && pass "mutate makes differences" || fail "mutate: exit $rc"

rc=0
"$TREECMP" "$W/a" "$W/nonexistent" >"$W/out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && pass "missing tree is an error" || fail "missing tree: exit $rc"

"$MKTREE" --big "$W/big1" 8
"$MKTREE" --big "$W/big2" 8
cmp -s "$W/big1" "$W/big2" && [ "$(stat -c %s "$W/big1")" -eq 8388608 ] &&
	pass "--big is deterministic" || fail "--big"
"$MKTREE" --poke "$W/big2" 5000000 100 9
changed=$(cmp -l "$W/big1" "$W/big2" | wc -l)
first=$(cmp "$W/big1" "$W/big2" | sed 's/.*byte \([0-9]*\),.*/\1/')
[ "$changed" -gt 90 ] && [ "$changed" -le 100 ] && [ "$first" -ge 5000001 ] &&
	[ "$(stat -c %s "$W/big2")" -eq 8388608 ] &&
	pass "--poke changes only its range" || fail "--poke: $changed bytes from $first"

[ "$FAILED" -eq 0 ] && echo "selftest: all passed" || echo "selftest: FAILED"
exit "$FAILED"
