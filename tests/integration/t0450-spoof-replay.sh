#!/bin/bash
# t0450: forged heartbeats (wrong key, garbage) sent from the master's
# address do not make the slave take over; replays of captured genuine
# heartbeats do not stop the takeover when the master dies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t04-common.sh"
need_root
fo_setup
cat >"$T_DIR/hbtool.py" <<'PY'
import hmac, hashlib, os, socket, struct, sys, time
mode = sys.argv[1]
if mode == "capture":     # capture genuine heartbeats to the slave (UDP 7771)
    out, secs = sys.argv[2], float(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.settimeout(0.2)
    pk, end = [], time.time() + secs
    while time.time() < end:
        try:
            f = s.recv(2048)
        except socket.timeout:
            continue
        ihl = (f[14] & 15) * 4
        if f[23] == 17 and struct.unpack("!H", f[14 + ihl + 2:14 + ihl + 4])[0] == 7771:
            pk.append(f[14 + ihl + 8:])
    open(out, "wb").write(b"".join(struct.pack("!H", len(p)) + p for p in pk))
    print(len(pk))
elif mode == "replay":    # resend captured packets for secs seconds
    src, dst, secs = sys.argv[2], sys.argv[3], float(sys.argv[4])
    data, pk, i = open(src, "rb").read(), [], 0
    while i < len(data):
        n = struct.unpack("!H", data[i:i + 2])[0]; pk.append(data[i + 2:i + 2 + n]); i += 2 + n
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.time() + secs
    while time.time() < end:
        for p in pk:
            s.sendto(p, (dst, 7771)); time.sleep(0.005)
elif mode == "forge":     # wrong key claiming FAULT with a huge term, and garbage
    dst, count = sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        name = b"master"
        body = struct.pack("!IBBBBQQQQ", 0x4d524842, 1, 3, 200, len(name), 99, 0,
                           2**62 + i, int(time.time() * 1000)) + name
        s.sendto(body + hmac.new(b"not-the-key-0123456789", body, hashlib.sha256).digest(), (dst, 7771))
        s.sendto(os.urandom(i % 140), (dst, 7771))
        time.sleep(0.002)
PY
fo_start_pair
slave_ip=$(host_addr slave)

start_bg slave cap python3 "$T_DIR/hbtool.py" capture "$T_DIR/cap.bin" 1.5
t1=$(now_ms)
in_ns master python3 "$T_DIR/hbtool.py" forge "$slave_ip" 300
sleep 1
is_state slave backup || fail "forged heartbeats made the slave $(fo_state slave)"
has_vip master || fail "master lost the VIP"
[ "$(probe_count_after "$t1" slave)" -eq 0 ] || fail "client answered by the slave"
bad=$(fo_field slave rx_bad_hmac)
[ "$bad" -ge 300 ] || fail "slave counted $bad bad HMACs, expected >= 300"
wait_until 3 "capture done" test -s "$T_DIR/cap.bin"

start_bg master replay python3 "$T_DIR/hbtool.py" replay "$T_DIR/cap.bin" "$slave_ip" 4
t0=$(now_ms)
stop_pid "$PID_fo_master" KILL
in_ns master ip addr del "$VIP/24" dev eth0
wait_until 5 "client reaches slave despite replays" probe_is slave
rto=$(( $(probe_first_after "$t0" slave) - t0 ))
log "RTO under replay: ${rto} ms"
[ "$rto" -lt 1000 ] || fail "replays delayed the takeover: ${rto} ms"
# the capture is mostly the forged flood, replayed in order at 5 ms per
# packet: the genuine heartbeats may come seconds into the replay
replays_seen() { [ "$(fo_field slave rx_replay)" -gt 0 ]; }
wait_until 5 "replays counted" replays_seen
rep=$(fo_field slave rx_replay)
pass "forged: $bad rejected, no takeover; replays: $rep rejected, RTO ${rto} ms"
