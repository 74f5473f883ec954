#!/bin/bash
# failover-rto.sh [RUNS] [INTERVAL_MS]: recovery time objective of failoverd
# and keepalived (VRRPv3, unicast peer, same advert interval) in the same
# namespaces and the same run.  RTO = fault to the first answer from the
# slave seen by a client probing a TCP service on the VIP every 10 ms.
# Scenarios: 1 = master link down, 2 = master power-off (daemon SIGKILL +
# VIP removed).  Prints median, p95 and the ratio keepalived/failoverd.
# Needs root; run from a build tree (top_builddir) or set FAILOVERD.
RUNS=${1:-10}
FO_IV=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/t04-common.sh"
need_root
command -v keepalived >/dev/null || { log "keepalived not installed"; exit 77; }
fo_setup

ka_conf() { # ka_conf NODE PEER PRIO
	local adv
	adv=$(awk -v i="$FO_IV" 'BEGIN {printf "%g", i / 1000}')
	cat >"$T_DIR/ka-$1.conf" <<CONF
global_defs {
	vrrp_version 3
	script_user root
}
vrrp_instance VI {
	state BACKUP
	interface eth0
	virtual_router_id 51
	priority $3
	advert_int $adv
	unicast_src_ip $(host_addr "$1")
	unicast_peer {
		$(host_addr "$2")
	}
	virtual_ipaddress {
		$VIP/24 dev eth0
	}
}
CONF
}
ka_conf master slave 200
ka_conf slave master 100

ka_start() {
	start_bg "$1" "ka_$1" keepalived -n -l -D -P -f "$T_DIR/ka-$1.conf" \
		-p "$T_DIR/ka-$1.pid" -r "$T_DIR/ka-$1-vrrp.pid"
}
ka_kill() { # kill -9 the keepalived processes of NODE (parent and VRRP child)
	local f pid
	# the parent first, or it respawns the VRRP child; then the child, twice
	# in case a respawn raced with us
	for f in "$T_DIR/ka-$1.pid" "$T_DIR/ka-$1-vrrp.pid" "$T_DIR/ka-$1-vrrp.pid"; do
		pid=$(cat "$f" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null
		sleep 0.02
	done
	stop_pid "$(eval echo "\${PID_ka_$1:-}")" KILL
	rm -f "$T_DIR/ka-$1-vrrp.pid" "$T_DIR/ka-$1.pid"
}

start_impl() { # start_impl IMPL: both nodes, master holds the VIP
	if [ "$1" = failoverd ]; then
		rm -rf "$T_DIR/master-state" "$T_DIR/slave-state"
		mkdir -p "$T_DIR/master-state" "$T_DIR/slave-state"
		fo_start master; wait_until 10 "master holds VIP" has_vip master
		fo_start slave; wait_until 10 "slave backup" is_state slave backup
	else
		ka_start master; wait_until 15 "master holds VIP" has_vip master
		ka_start slave; sleep 1
	fi
	wait_until 10 "client reaches master" probe_is master
}

stop_impl() {
	if [ "$1" = failoverd ]; then
		stop_pid "$PID_fo_master" KILL; stop_pid "$PID_fo_slave" TERM
	else
		ka_kill master; ka_kill slave
	fi
	link_up master
	in_ns master ip addr del "$VIP/24" dev eth0 2>/dev/null
	in_ns slave ip addr del "$VIP/24" dev eth0 2>/dev/null
	in_ns client ip neigh flush dev eth0
}

fault() { # fault SCENARIO IMPL
	if [ "$1" = 1 ]; then
		link_down master
	elif [ "$2" = failoverd ]; then
		stop_pid "$PID_fo_master" KILL; in_ns master ip addr del "$VIP/24" dev eth0
	else
		ka_kill master; in_ns master ip addr del "$VIP/24" dev eth0 2>/dev/null
	fi
}

one_run() { # one_run SCENARIO IMPL -> RTO ms on stdout
	local t0 t1
	start_impl "$2" >&2
	t0=$(now_ms)
	fault "$1" "$2"
	wait_until 30 "client reaches slave ($2, scenario $1)" probe_is slave >&2
	t1=$(probe_first_after "$t0" slave)
	stop_impl "$2" >&2
	echo $((t1 - t0))
}

stats() { # stats FILE -> "median p95"
	sort -n "$1" | awk '{v[NR] = $1} END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		i = int(0.95 * NR + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
		printf "%d %d\n", m, v[i] }'
}

probe_start
for sc in 1 2; do
	for impl in failoverd keepalived; do : >"$T_DIR/rto-$sc-$impl"; done
	for run in $(seq 1 "$RUNS"); do
		for impl in failoverd keepalived; do
			r=$(one_run "$sc" "$impl")
			case "$r" in
			''|*[!0-9]*)
				log "scenario $sc run $run $impl: run failed, not counted"
				stop_impl "$impl"; continue ;;
			esac
			echo "$r" >>"$T_DIR/rto-$sc-$impl"
			log "scenario $sc run $run $impl: RTO $r ms"
		done
	done
done
echo
printf '%-28s %-10s %8s %8s\n' "interval ${FO_IV} ms, $RUNS runs" impl median p95
for sc in 1 2; do
	name=$([ "$sc" = 1 ] && echo "1 master link down" || echo "2 master power-off")
	read -r fm fp < <(stats "$T_DIR/rto-$sc-failoverd")
	read -r km kp < <(stats "$T_DIR/rto-$sc-keepalived")
	printf '%-28s %-10s %8d %8d\n' "$name" failoverd "$fm" "$fp"
	printf '%-28s %-10s %8d %8d\n' "" keepalived "$km" "$kp"
	printf '%-28s %-10s %8s\n' "" ratio "$(awk -v a="$km" -v b="$fm" 'BEGIN {printf "%.2fx", a / (b ? b : 1)}')"
done
