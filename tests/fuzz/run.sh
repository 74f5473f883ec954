#!/bin/bash
# tests/fuzz/run.sh [SECONDS] [TARGET...]: build the libFuzzer targets with
# clang (-fsanitize=fuzzer,address,undefined) and run each for SECONDS
# (default 20; bench/ or a developer passes more).  Exits 77 (skip) without
# clang's fuzzer runtime, 1 when a target crashes or leaks: the reproducer
# is left in $top_builddir/tests/fuzz/out/<target>/.
#
# Targets: frame (stream + wire + proto decoders), hello (handshake),
# conf (conf_load), hb (failoverd's heartbeat parser).  Seeds live in
# tests/fuzz/corpus/<target>/; new inputs found go to out/<target>/corpus,
# not into the source tree.
set -u
SECS=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
TARGETS=${*:-frame hello conf hb}
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
CC=${FUZZ_CC:-clang}
[ -f "$top_builddir/config.h" ] || { echo "fuzz: no config.h in $top_builddir (configure first)" >&2; exit 99; }
skip_rc=77; [ "${CI:-}" = true ] && skip_rc=99   # never a silent skip in CI
command -v "$CC" >/dev/null || { echo "fuzz: SKIP, no $CC"; exit $skip_rc; }
OUT=$top_builddir/tests/fuzz/out
mkdir -p "$OUT/obj"
FLAGS="-g -O1 -std=gnu11 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
 -I$top_builddir -I$top_srcdir/src/lib -I$top_srcdir/src/failoverd"
LIBS="-lrsync -linih -lzstd -lxxhash -lssl -lcrypto -lsqlite3 -lpthread"
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' >"$OUT/probe.c"
$CC -fsanitize=fuzzer "$OUT/probe.c" -o "$OUT/probe" 2>/dev/null ||
	{ echo "fuzz: SKIP, $CC has no libFuzzer runtime (libclang-rt-dev)"; exit $skip_rc; }

# the library, once per run (sources newer than objects are rebuilt)
OBJS=""
for src in "$top_srcdir"/src/lib/*.c "$top_srcdir/src/failoverd/hb.c" "$top_srcdir/src/failoverd/hmac.c"; do
	o="$OUT/obj/$(basename "$src" .c).o"
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ]; then
		# shellcheck disable=SC2086
		$CC $FLAGS -c "$src" -o "$o" || exit 99
	fi
	OBJS="$OBJS $o"
done

rc=0
for t in $TARGETS; do
	src=$here/fuzz_$t.c
	[ -f "$src" ] || { echo "fuzz: no target $t" >&2; exit 2; }
	# shellcheck disable=SC2086
	$CC $FLAGS -fsanitize=fuzzer "$src" $OBJS $LIBS -o "$OUT/fuzz_$t" || exit 99
	mkdir -p "$OUT/$t/corpus"
	echo "fuzz: $t for ${SECS}s"
	(cd "$OUT/$t" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$OUT/fuzz_$t" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 corpus "$here/corpus/$t" >"$OUT/$t.log" 2>&1)
	r=$?
	grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$OUT/$t.log" | tail -1 | sed "s/^/fuzz: $t: /"
	if [ $r -ne 0 ]; then
		echo "fuzz: $t FAILED (exit $r), see $OUT/$t.log; reproducer in $OUT/$t/"
		tail -40 "$OUT/$t.log"
		rc=1
	fi
done
exit $rc
