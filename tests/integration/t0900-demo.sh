#!/bin/bash
# t0900: the README's first command, scripts/demo, runs its whole life
# cycle (initial sync, live lag, client writes through the VIP, master
# killed, takeover, restore with a conflict, failback, final comparison)
# against the tree the harness built (top_builddir set: no deps, no build)
# and must exit 0 within 2 minutes.
. "$(dirname "$0")/lib.sh"
need_root
rc=0
t0=$(date +%s)
timeout 300 "$top_srcdir/scripts/demo" >"$T_DIR/demo.log" 2>&1 || rc=$?
t1=$(date +%s)
cat "$T_DIR/demo.log"
[ "$rc" = 0 ] || fail "scripts/demo exited $rc"
grep -q '== done in' "$T_DIR/demo.log" || fail "scripts/demo did not reach its end"
[ $((t1 - t0)) -lt 120 ] || fail "scripts/demo took $((t1 - t0)) s (>= 120 s)"
pass "scripts/demo: the whole life cycle in $((t1 - t0)) s"
