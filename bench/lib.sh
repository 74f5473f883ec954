# lib.sh: the set-up every benchmark shares.  Source it after the
# benchmark has read its arguments (TMPDIR may be set there), e.g.
#
#   . "$(dirname "$0")/lib.sh"     # finds the build, the test helpers, root
#   bench_need rsync lsyncd        # the tools compared against (scripts/deps)
#   bench_built "$MIRRORD" "$TREECMP"
#
# The build is top_builddir (default: the current directory when it holds
# a built mirrord, else the source tree); the sources are top_srcdir
# (default: the parent of this folder).  Everything tests/integration/lib.sh
# offers (namespaces, start_bg, stop_pid, wait_until ...) is there too.

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$bench_here/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
[ -x "$top_builddir/src/mirrord/mirrord" ] || top_builddir=$top_srcdir
. "$top_srcdir/tests/integration/lib.sh"
need_root

# bench_need COMMAND...: every tool a benchmark runs must be installed; a
# comparison that cannot be made ends the run (exit 77, not a result).
bench_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { log "$c not installed (scripts/deps)"; exit 77; }
	done
}

# bench_built PROGRAM...: every program of the build it needs was built.
bench_built() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { log "missing $b (make; make check TESTS= builds the test tools)"; exit 99; }
	done
}

# wait_for SECONDS CMD...: poll CMD every BENCH_POLL seconds (0.05); 0
# once it succeeds, 1 after SECONDS (for the benchmarks that count a
# timeout as a result instead of failing).
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep "${BENCH_POLL:-0.05}"
	done
}
