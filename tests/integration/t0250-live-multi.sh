#!/bin/bash
# Several mirrors in one daemon: one master mirrord runs two live sources
# (www and data) to one sink mirrord that receives both, plus a sink mirror
# of its own (back) that is promoted while the sources run.  Changes in both
# trees converge independently (strict treecmp for each), a rename in one
# tree leaves the other's copy untouched, a burst in one does not hold up
# the other, and a SIGKILL and restart of the master converges both.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M1=$T_DIR/master/www S1=$T_DIR/slave/www
M2=$T_DIR/master/data S2=$T_DIR/slave/data
MB=$T_DIR/master/back
mkdir -p "$M1" "$S1" "$M2" "$S2" "$MB" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M1" "$S1"
printf '\n[mirror data]\npath = %s\n' "$S2" >>"$T_DIR/slave.conf"
printf '\n[mirror data]\npath = %s\npeer = 192.0.2.12:7770\n' "$M2" >>"$T_DIR/master.conf"
printf '\n[mirror back]\npath = %s\n' "$MB" >>"$T_DIR/master.conf"

converge() { converge_trees "$2" "$3" "$1" "${4:-30}"; }  # LABEL SRC DST [SECONDS]
both() { converge "$1 (www)" "$M1" "$S1" "${2:-30}"; converge "$1 (data)" "$M2" "$S2" "${2:-30}"; }
burst() { # burst DIR N: N files of 1..8 KiB, some rewritten
	mkdir -p "$1"
	for i in $(seq 1 "$2"); do
		head -c $(( (i % 8 + 1) * 1024 )) /dev/urandom >"$1/f$i"
		[ $((i % 7)) -eq 0 ] && echo again >>"$1/f$((i / 2 + 1))"
	done
}
# snapshot DIR: path, inode, mtime and digest of every entry (a rewrite or
# a rename on the sink changes the inode or the mtime).
snapshot() {
	(cd "$1" && find . -mindepth 1 -printf '%p %i %T@ %s\n' | sort &&
		find . -type f -exec md5sum {} + | sort)
}

# both trees start with content of their own, and a directory of the same
# name and content, so a rename of one cannot pass for the other's
"$MKTREE" "$M1/seed" 25 300 || fail "mktree www"
"$MKTREE" "$M2/seed" 26 200 || fail "mktree data"
for m in "$M1" "$M2"; do
	mkdir -p "$m/shared/sub" && echo same >"$m/shared/x" && echo deep >"$m/shared/sub/y"
	touch -d '2020-01-01 00:00:00' "$m/shared/x" "$m/shared/sub/y"
done

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
both "initial sync of two mirrors from one daemon"
for m in www data; do
	grep -q "mirror $m: watching" "$T_DIR/source.log" || fail "no watcher for $m in the master's log"
	[ -f "$T_DIR/master-state/$m/journal" ] || fail "mirror $m has no journal of its own"
done
pass "one watcher and one journal per source mirror"
# mirrorctl: both sources connected with figures of their own, back a sink
sources_ok() {
	in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" status --json >"$T_DIR/status.json" &&
		python3 - "$T_DIR/status.json" <<'PY'
import json, sys
m = {x["name"]: x for x in json.load(open(sys.argv[1]))["mirrord"]["mirrors"]}
ok = all(m[n]["role"] == "source" and m[n]["connected"] and m[n]["bytes_sent"] > 0
         for n in ("www", "data")) and m["back"]["role"] == "sink"
sys.exit(0 if ok else 1)
PY
}
wait_until 10 "mirrorctl status: www and data sources, connected; back a sink" sources_ok
pass "status lists two connected sources"

# ---- independent changes: a burst in www while data changes a little ----
burst "$M1/b1" 1500 &
bp=$!
echo one >"$M2/small1"
mkdir "$M2/newdir" && echo two >"$M2/newdir/small2"
converge "data converges while www takes a burst" "$M2" "$S2" 15
wait_pids 120 "the burst to be written" "$bp"
both "changes in both trees"

# ---- a rename in www leaves data's copy as it was ----
snapshot "$S2" >"$T_DIR/data.before"
mv "$M1/shared" "$M1/moved"
echo after >"$M1/moved/sub/z"
converge "rename in www" "$M1" "$S1"
[ -e "$S1/shared" ] && fail "www: the renamed directory is still on the sink"
sleep 0.5   # anything wrongly sent to data would have landed by now
snapshot "$S2" >"$T_DIR/data.after"
diff -u "$T_DIR/data.before" "$T_DIR/data.after" || fail "the rename in www touched data's copy"
[ -e "$S2/moved" ] && fail "data got www's rename"
converge "data untouched by the rename in www" "$M2" "$S2" 5

# ---- a promoted sink beside the two live sources ----
in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" promote back >"$T_DIR/out" 2>&1 ||
	{ cat "$T_DIR/out"; fail "promote back beside two live sources"; }
wait_until 5 "back promoted" test -f "$T_DIR/master-state/back/promoted/active"
echo local >"$MB/written-while-promoted"
wait_until 10 "back's promoted journal records its change" \
	grep -qa written-while-promoted "$T_DIR/master-state/back/promoted/journal"
echo still >"$M2/after-promote"
converge "sources keep running beside the promoted sink" "$M2" "$S2" 10
pass "a promoted sink beside two live sources"

# ---- SIGKILL of the master with both trees busy, changes while down ----
burst "$M1/b2" 800 &
bp1=$!
burst "$M2/b2" 800 &
bp2=$!
wait_until 10 "first files of both bursts on the slave" test -e "$S1/b2/f50" -a -e "$S2/b2/f50"
stop_pid "$PID_source" KILL
wait_pids 120 "both bursts to be written" "$bp1" "$bp2"
rm -f "$M1/b2/f3" && mv "$M2/b2/f4" "$M2/b2/f4.moved"    # while nobody watches
mv "$M2/newdir" "$M2/renamed-while-down"
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
both "master killed with both trees busy, then restarted" 40
[ -f "$T_DIR/master-state/back/promoted/active" ] || fail "back lost its promotion"
running "$PID_sink" || fail "sink died"
grep -q "supports one source" "$T_DIR/source.log" && fail "the daemon still refuses two sources"
exit 0
