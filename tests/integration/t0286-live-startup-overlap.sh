#!/bin/bash
# A restart of the live source adds its watches while it walks the tree
# (the walk lists a directory once the watcher has reached it): changes
# made while it starts, in directories the watcher has not reached yet
# (late in its order, deep), are all delivered: creates, rewrites,
# renames, deletes, new and removed directories, directories with their
# files moved to another top directory.  Three restarts (two
# clean, one after SIGKILL), each compared strictly with the sink.  The
# restarts skip the count of directories (the last start's watches fit).
. "$(dirname "$0")/lib.sh"
need_root

startup_fixture

startup_round restart1 TERM
startup_round restart2 KILL
startup_round restart3 TERM
stop_pid "$PREV" TERM
pass "changes during three overlapped start-ups all delivered"
