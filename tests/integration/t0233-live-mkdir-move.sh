#!/bin/bash
# Directories made (with a subdirectory and a file) and moved into another
# directory a millisecond or two later, while a restarted source starts
# and just after.  The start-up sends a listing of each directory that
# changed while it was stopped, read when it is sent: it may send such a
# new directory before its creation record goes out, and the rename of a
# path never sent as a change is elided (its items are sent under the new
# name), so the old name must be sent too (absent: a delete), or the sink
# keeps an empty copy there.  T_ROUNDS restarts (default 6), each compared
# strictly; the changes are lib.sh's startup_changes with STARTUP_MOVE=made.
. "$(dirname "$0")/lib.sh"
need_root

startup_fixture

STARTUP_MOVE=made
for r in $(seq 1 "${T_ROUNDS:-6}"); do
	startup_round "restart$r" TERM
done
stop_pid "$PREV" TERM
pass "directories made and moved during $r overlapped start-ups all delivered"
