#!/bin/bash
# Live mirroring faults: SIGKILL of the source mid-burst and of the sink
# mid-burst; after a restart the trees converge with nothing lost and no
# temporary file left visible on the slave.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"

converge() { converge_trees "$M" "$S" "$1" "${2:-30}"; }  # LABEL [SECONDS]
burst() { # burst DIR N: N files of 1..8 KiB, some rewritten
	mkdir -p "$1"
	for i in $(seq 1 "$2"); do
		head -c $(( (i % 8 + 1) * 1024 )) /dev/urandom >"$1/f$i"
		[ $((i % 7)) -eq 0 ] && echo again >>"$1/f$((i / 2 + 1))"
	done
}

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge "empty trees"

# ---- SIGKILL of the source in the middle of a burst ----
burst "$M/b1" 1500 &
bp=$!
wait_until 10 "first files of burst 1 on the slave" test -e "$S/b1/f100"
stop_pid "$PID_source" KILL
wait_pids 120 "the burst to be written" "$bp"
rm -f "$M/b1/f3" && mv "$M/b1/f4" "$M/b1/f4.moved"    # while nobody watches
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge "source killed mid-burst and restarted"

# ---- SIGKILL of the sink in the middle of a burst ----
burst "$M/b2" 1500 &
bp=$!
wait_until 10 "first files of burst 2 on the slave" test -e "$S/b2/f100"
stop_pid "$PID_sink" KILL
wait_pids 120 "the burst to be written" "$bp"
echo "written while the sink is down" >"$M/b2/late"
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
converge "sink killed mid-burst and restarted" 40
running "$PID_source" || fail "source died"
grep -q "reconnecting\|cannot connect" "$T_DIR/source.log" || fail "source never noticed the sink was gone"
