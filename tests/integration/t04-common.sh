# t04-common.sh: shared set-up for the failoverd integration tests (t04*):
# namespaces master, slave and client on one bridge, failoverd on master
# and slave, a TCP service on the VIP on each node answering its own name,
# and a prober in the client that connects to the VIP every 10 ms and logs
# which node answered.  Source after lib.sh.

VIP=192.0.2.100
SVC_PORT=7000
FO_IV=${FO_IV:-100}
FO_DEAD=${FO_DEAD:-3}
PROBE_LOG="$T_DIR/probe.out"

now_ms() { date +%s%3N; }

# fo_conf NODE PEER_HOST PRIORITY: write $T_DIR/NODE.conf
fo_conf() {
	local node=$1 peer=$2 prio=$3
	mkdir -p "$T_DIR/$node-state"
	cat >"$T_DIR/$node.conf" <<CONF
[node]
name = $node
control_socket = $T_DIR/$node.sock
state_dir = $T_DIR/$node-state

[failover]
interface = eth0
vip = $VIP/24
peer = $(host_addr "$peer")
priority = $prio
interval_ms = $FO_IV
dead_after = $FO_DEAD
garp_count = 5
garp_interval_ms = 100
garp_refresh_ms = 2000
key_file = $T_DIR/hb.key
notify = $T_DIR/notify.sh
CONF
}

fo_setup() {
	net_setup master slave client
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T_DIR/hb.key"
	chmod 600 "$T_DIR/hb.key"
	printf '#!/bin/sh\necho "$(date +%%s%%3N) $1" >>%s/notify-$1.log\nexit 0\n' "$T_DIR" >"$T_DIR/notify.sh"
	chmod 755 "$T_DIR/notify.sh"
	fo_conf master slave 200
	fo_conf slave master 100
	local h
	for h in master slave; do
		in_ns "$h" sysctl -qw net.ipv4.ip_nonlocal_bind=1 || fail "sysctl in $h"
		start_bg "$h" "svc_$h" socat "TCP-LISTEN:$SVC_PORT,bind=$VIP,fork,reuseaddr" \
			"SYSTEM:echo $h"
	done
}

fo_start() { # fo_start NODE
	start_bg "$1" "fo_$1" "$FAILOVERD" -f -v -c "$T_DIR/$1.conf"
}

fo_ctl() { # fo_ctl NODE COMMAND -> reply line
	echo "$2" | socat -t 1 - "UNIX-CONNECT:$T_DIR/$1.sock-failoverd" 2>/dev/null
}
fo_state() { fo_ctl "$1" status | sed -n 's/^state=\([a-z]*\) .*/\1/p'; }
fo_field() { fo_ctl "$1" status | tr ' ' '\n' | sed -n "s/^$2=//p"; }
is_state() { [ "$(fo_state "$1")" = "$2" ]; }
has_vip() { in_ns "$1" ip -4 addr show dev eth0 | grep -q "inet $VIP/"; }
no_vip() { ! has_vip "$1"; }

# The prober: one line "MS NAME" per answer change (NAME = node or "none").
probe_start() {
	cat >"$T_DIR/probe.py" <<'PY'
import socket, sys, time
vip, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
last = None
f = open(out, "w", buffering=1)
while True:
    t0 = time.time()
    ans = "none"
    try:
        s = socket.create_connection((vip, port), timeout=0.05)
        s.settimeout(0.1)
        ans = s.recv(64).decode(errors="replace").strip() or "none"
        s.close()
    except OSError:
        pass
    if ans != last:
        f.write("%d %s\n" % (int(t0 * 1000), ans))
        last = ans
    d = 0.01 - (time.time() - t0)
    if d > 0:
        time.sleep(d)
PY
	start_bg client probe python3 "$T_DIR/probe.py" "$VIP" "$SVC_PORT" "$PROBE_LOG"
}

probe_last() { tail -n 1 "$PROBE_LOG" 2>/dev/null | awk '{print $2}'; }
probe_is() { [ "$(probe_last)" = "$1" ]; }
# first time (ms) at or after $1 that $2 answered
probe_first_after() { awk -v t="$1" -v n="$2" '$1 >= t && $2 == n {print $1; exit}' "$PROBE_LOG"; }
# how many times NAME started answering at or after time T
probe_count_after() { awk -v t="$1" -v n="$2" '$1 >= t && $2 == n {c++} END {print c+0}' "$PROBE_LOG"; }

# Both daemons up, master holds the VIP, the client sees "master".
fo_start_pair() {
	fo_start master
	wait_until 5 "master MASTER" is_state master master
	fo_start slave
	wait_until 5 "slave BACKUP" is_state slave backup
	probe_start
	wait_until 5 "client reaches master" probe_is master
}
