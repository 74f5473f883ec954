#!/bin/bash
# t0725: persistent errors reach the notification hook ([node] notify).
# The slave's copy of the mirror lives on a 512 KiB tmpfs: a 2 MiB file
# on the master cannot be applied (ENOSPC).  The master's "error" condition
# www/sink/ENOSPC is raised once the failure has stood for 10 s, once only;
# when the big file is gone and a small one goes through, it is resolved
# once.
. "$(dirname "$0")/lib.sh"
need_root
need_tools "$MIRRORD" "$TREECMP"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
EV=$T_DIR/ev
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state" "$EV"
mount -t tmpfs -o size=512k tmpfs "$S" || fail "cannot mount a tmpfs"
trap 'rc=$?; umount -l "$S" 2>/dev/null; (exit $rc); cleanup' EXIT
pair_confs "$M" "$S"
notify_hook "$EV"

runs() { grep -l "^MIRRORD_EVENT=$1\$" "$EV"/*.done 2>/dev/null |
	xargs -r grep -l "^MIRRORD_STATE=$2\$" | xargs -r grep -l "^MIRRORD_KEY=$3\$" | wc -l; }
has_runs() { [ "$(runs "$1" "$2" "$3")" -ge "$4" ]; }
field() {
	local f
	f=$(grep -l "^MIRRORD_STATE=$1\$" "$EV"/*.done | xargs grep -l "^MIRRORD_KEY=$2\$" | head -n 1)
	head -n 1 "$f" | python3 -c "import json,sys; d=json.load(sys.stdin); v=d
for k in sys.argv[1].split('.'): v=v[k]
print(v)" "$3"
}
same() { "$TREECMP" "$M" "$S" >/dev/null 2>&1; }
key=www/sink/ENOSPC

echo small >"$M/a"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 15 "first sync" same

head -c 2M /dev/urandom >"$M/big"
wait_until 30 "error raised" has_runs error raised $key 1
sleep 3
[ "$(runs error raised $key)" = 1 ] || fail "raised $(runs error raised $key) times"
[ "$(runs error resolved $key)" = 0 ] || fail "resolved while the disk is full"
[ "$(field raised $key mirror)" = www ] || fail "mirror field"
[ "$(field raised $key detail.side)" = sink ] || fail "detail.side"
[ "$(field raised $key detail.path)" = big ] || fail "detail.path: $(field raised $key detail.path)"
log "raised: $(field raised $key summary)"
pass "ENOSPC on the sink raised once after it persisted"

rm -f "$M/big"
echo fits >"$M/b"
wait_until 20 "in sync again" same
wait_until 10 "error resolved" has_runs error resolved $key 1
sleep 2
[ "$(runs error resolved $key)" = 1 ] || fail "resolved $(runs error resolved $key) times"
[ "$(runs error raised $key)" = 1 ] || fail "raised again"
log "resolved: $(field resolved $key summary)"
pass "resolved once when files go through again"
