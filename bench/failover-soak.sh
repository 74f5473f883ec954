#!/bin/bash
# failover-soak.sh [SECONDS] [INTERVAL_MS]: run a failoverd pair for
# SECONDS (default 600) at INTERVAL_MS (default 20) with both CPUs kept busy
# and a UDP flood on the link, and count false takeovers (any transition of
# either node while nothing failed).  Exit status 1 when there was one.
# SOAK_KEEP=DIR copies the daemons' logs and the probe log there.
DURATION=${1:-600}
FO_IV=${2:-20}
. "$(dirname "$0")/lib.sh"
. "$top_srcdir/tests/integration/t04-common.sh"
fo_setup
fo_start_pair

ncpu=$(nproc)
for i in $(seq 1 "$ncpu"); do
	start_bg master "burn$i" sh -c 'while :; do :; done'
done
# traffic: the client floods both nodes with UDP (discarded by the kernel)
start_bg client flood1 socat -u /dev/zero "UDP-SENDTO:$(host_addr master):9"
start_bg client flood2 socat -u /dev/zero "UDP-SENDTO:$(host_addr slave):9"
t0=$(now_ms)
log "soak: ${DURATION}s at ${FO_IV} ms, $ncpu busy loops, UDP flood"
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
rx=$(wire_bytes client)
false_takeovers=$(grep -c "state backup -> master" "$T_DIR/fo_slave.log")
master_changes=$(grep -c "state master ->" "$T_DIR/fo_master.log")
switches=$(probe_count_after "$t0" slave)
log "client link bytes: $rx"
log "false takeovers (slave became master): $false_takeovers"
log "master left MASTER: $master_changes times; client answered by slave: $switches times"
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
for h in master slave; do log "$h: $(fo_ctl "$h" status)"; done
# the sender side (late heartbeats) and the receiver side (gaps) of each node
for h in master slave; do
	log "$h: $(awk '/heartbeat sent [0-9]+ ms late/ {n++; v = $5 + 0; if (v > m) m = v}
		END {printf "%d heartbeats sent > 1 interval late, worst %d ms", n, m}' "$T_DIR/fo_$h.log");" \
		"$(awk '/heartbeat gap [0-9]+ ms/ {n++; v = $5 + 0; if (v > m) m = v}
		END {printf "%d gaps > 2 intervals heard, worst %d ms", n, m}' "$T_DIR/fo_$h.log")"
done
grep -h "state .* -> " "$T_DIR/fo_master.log" "$T_DIR/fo_slave.log" | sed 's/^/  /'
# SOAK_KEEP=DIR keeps the daemons' logs and the probe log for a post-mortem
if [ -n "${SOAK_KEEP:-}" ]; then
	mkdir -p "$SOAK_KEEP" && cp "$T_DIR"/fo_*.log "$PROBE_LOG" "$SOAK_KEEP"/
fi
[ "$false_takeovers" -eq 0 ] && [ "$master_changes" -eq 0 ] && [ "$switches" -eq 0 ]
