# t04-common.sh: shared set-up for the failoverd integration tests (t04*):
# namespaces master, slave and client on one bridge, failoverd on master
# and slave, a TCP service on the VIP on each node answering its own name,
# and a prober in the client that connects to the VIP every 10 ms and logs
# which node answered.  Source after lib.sh.

VIP=${VIP:-192.0.2.100}          # or an IPv6 VIP from 2001:db8::/32
VIP_PREFIX=${VIP_PREFIX:-24}
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
vip = $VIP/$VIP_PREFIX
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
	local h listen="TCP-LISTEN:$SVC_PORT,bind=$VIP"
	case "$VIP" in *:*) listen="TCP6-LISTEN:$SVC_PORT,bind=[$VIP]" ;; esac
	for h in master slave; do
		in_ns "$h" sysctl -qw net.ipv4.ip_nonlocal_bind=1 || fail "sysctl in $h"
		in_ns "$h" sysctl -qw net.ipv6.ip_nonlocal_bind=1 || fail "sysctl in $h"
		start_bg "$h" "svc_$h" socat "$listen,fork,reuseaddr" "SYSTEM:echo $h"
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
has_vip() { in_ns "$1" ip addr show dev eth0 | grep -q "inet6\? $VIP/"; }
no_vip() { ! has_vip "$1"; }

# The prober: one line "MS NAME" per answer change (NAME = node or "none"),
# MS = when the attempt started.  A new connection starts every 10 ms
# whatever the earlier ones are doing (non-blocking, at most 150 ms each),
# so an outage is timed to 10 ms, not to the length of a connect timeout;
# results are written in the order the attempts started.
probe_start() {
	cat >"$T_DIR/probe.py" <<'PY'
import errno, select, socket, sys, time
vip, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STEP, LIFE = 0.01, 0.15
f = open(out, "w", buffering=1)
last = None
pend = []           # [t0, sock, phase, answer]; phase: c(onnect) r(ecv) d(one)
nxt = time.time()

def done(p, ans):
    if p[1] is not None:
        p[1].close()
    p[1], p[2], p[3] = None, "d", ans

while True:
    now = time.time()
    if now >= nxt:
        s = socket.socket(socket.AF_INET6 if ":" in vip else socket.AF_INET,
                          socket.SOCK_STREAM)
        s.setblocking(False)
        p = [now, s, "c", None]
        e = s.connect_ex((vip, port))
        pend.append(p)
        if e not in (0, errno.EINPROGRESS):
            done(p, "none")
        nxt += STEP
        if nxt < now:
            nxt = now + STEP
    for p in pend:
        if p[2] != "d" and now - p[0] > LIFE:
            done(p, "none")
    while pend and pend[0][2] == "d":
        p = pend.pop(0)
        if p[3] != last:
            f.write("%d %s\n" % (int(p[0] * 1000), p[3]))
            last = p[3]
    wr = [p[1] for p in pend if p[2] == "c"]
    rd = [p[1] for p in pend if p[2] == "r"]
    r, w, _ = select.select(rd, wr, [], max(0.0, nxt - time.time()))
    for p in pend:
        if p[2] == "c" and p[1] in w:
            if p[1].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                done(p, "none")
            else:
                p[2] = "r"
        elif p[2] == "r" and p[1] in r:
            try:
                ans = p[1].recv(64).decode(errors="replace").strip() or "none"
            except OSError:
                ans = "none"
            done(p, ans)
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
