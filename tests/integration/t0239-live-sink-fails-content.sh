#!/bin/bash
# File content the sink keeps failing to write (its filesystem is full:
# ENOSPC for the temporary file, while its commits go through) must not be
# sent again and again without pause.  The source gives the file up after
# its tries and leaves it to the bounded rescans after the sink's failures
# (0.2 s, then four times later each time): in a window of several seconds
# only a few rounds go out, the status counts the errors, and once the
# cause is gone a later rescan brings the file over without any further
# change on the master.  The slave's tree is on a small tmpfs of its own,
# filled by a file beside the tree (a file in it would be pruned).
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$MIRRORCTL" "$TREECMP"

MNT=$T_DIR/slavefs
undo() {        # the daemons first: the sink keeps the tree open
	local pid
	for pid in $T_PIDS; do stop_pid "$pid" TERM; done
	mountpoint -q "$MNT" && { umount "$MNT" || umount -l "$MNT"; }
}
trap 'rc=$?; undo; (exit $rc); cleanup' EXIT

net_setup master slave
M=$T_DIR/master/www
S=$MNT/www
mkdir -p "$M/sub" "$MNT" "$T_DIR/master-state" "$T_DIR/slave-state"
mount -t tmpfs -o size=4m tmpfs "$MNT" || fail "cannot mount a tmpfs for the slave"
mkdir "$S"
pair_confs "$M" "$S"
ctl() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" "$@"; }

echo old >"$M/sub/f"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge_trees "$M" "$S" "start-up" 10

# fill the slave's filesystem, then give the master a file it cannot hold
dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null
[ "$(df --output=avail -k "$MNT" | tail -n 1)" -le 64 ] || fail "the slave's tmpfs is not full"
head -c 262144 /dev/urandom >"$M/sub/f"
sleep 8
rounds=$(grep -c "giving up on 'sub/f'" "$T_DIR/source.log")
log "the source gave sub/f up $rounds times in 8 s"
[ "$rounds" -ge 1 ] || fail "the sink did not fail sub/f as this test means it to"
[ "$rounds" -le 8 ] || fail "sub/f was given up $rounds times in 8 s: sent again without pause"
errors=$(ctl status --json | grep -o '"sessions":[0-9]*,"errors":[0-9]*' | head -n 1)
errors=${errors##*:}
log "the status counts ${errors:-no} errors"
[ "${errors:-0}" -ge "$rounds" ] || fail "the status counts ${errors:-no} errors for $rounds give-ups"

rm "$MNT/fill" || fail "cannot free the slave's filesystem"
converge_trees "$M" "$S" "the next rescan brings sub/f once the sink can write it" 25
running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
