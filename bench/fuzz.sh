#!/bin/bash
# fuzz: the libFuzzer targets of tests/fuzz/ for longer than the test suite
# runs them (20 s each): SECONDS per target, default 600.
#   top_builddir=BUILD bench/fuzz.sh [SECONDS] [TARGET...]
# A crash or leak leaves its reproducer in BUILD/tests/fuzz/out/<target>/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-600}
[ $# -gt 0 ] && shift
exec "$here/../tests/fuzz/run.sh" "$secs" "$@"
