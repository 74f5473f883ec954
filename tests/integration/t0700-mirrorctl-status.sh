#!/bin/bash
# mirrorctl status in each state, checked field by field in --json, with its
# exit codes; promote/demote/pause/resume answers; hostile control clients;
# the metrics file; SIGHUP with a bad and a good configuration; a daemon
# not ready yet with its mirror idle is not healthy.
. "$(dirname "$0")/lib.sh"
need_root
command -v python3 >/dev/null || fail "python3 is needed (scripts/deps)"

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$T_DIR/slave"

cat >"$T_DIR/slave.conf" <<CONF
[node]
name = slave
listen = 192.0.2.12:7770
control_socket = $T_DIR/run-slave/control.sock
state_dir = $T_DIR/slave-state
metrics_file = $T_DIR/slave.prom

[mirror www]
path = $S

[security]
insecure_plaintext = yes
CONF
cat >"$T_DIR/master.conf" <<CONF
[node]
name = master
control_socket = $T_DIR/run-master/control.sock
state_dir = $T_DIR/master-state

[mirror www]
path = $M
peer = 192.0.2.12:7770

[security]
insecure_plaintext = yes
CONF

# ctl HOST ARGS...: mirrorctl against HOST's config; output in $T_DIR/out,
# exit code in $rc.
ctl() {
	local h=$1; shift
	rc=0
	in_ns "$h" "$MIRRORCTL" -c "$T_DIR/$h.conf" "$@" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
}
# jq_true FILE PYEXPR...: each expression over j (the JSON) is true.
jq_true() {
	local f=$1; shift
	python3 - "$f" "$@" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for e in sys.argv[2:]:
    if not eval(e, {"j": j}):
        print("false: " + e, file=sys.stderr)
        sys.exit(1)
PY
}
# jq_check FILE PYEXPR...: as jq_true, and fail when one is false.
jq_check() { jq_true "$@" || { cat "$1"; fail "JSON check failed"; }; }
expect_rc() { [ "$rc" -eq "$1" ] || { cat "$T_DIR/out" "$T_DIR/err"; fail "$2: exit $rc, expected $1"; }; }
status_is() { # status_is HOST EXIT: mirrorctl status exits with EXIT
	ctl "$1" status --json
	[ "$rc" -eq "$2" ]
}

# ---- nothing runs: exit 4, errors say why ----
ctl slave status --json
expect_rc 4 "status without a daemon"
jq_check "$T_DIR/out" 'j["mirrord"] is None' 'j["exit_code"] == 4' 'j["health"] == "unreachable"' \
	'"is it running" in j["errors"][0]'
pass "no daemon: exit 4 and the reason"

# ---- a daemon that answers before its mirrors started: not healthy ----
# (a stand-in on the master's socket answers as mirrord does between its
# control socket and its source role: ready false, the mirror idle)
mkdir -p "$T_DIR/run-master"
python3 - "$T_DIR/run-master/control.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(2); s.settimeout(20)
for _ in range(2):
    c, _ = s.accept()
    c.recv(100)
    c.sendall(b'{"node":"master","version":"0","pid":1,"started":0,"time":0,"ready":false,'
              b'"mirrors":[{"name":"www","role":"idle","requested_role":"idle","paused":false,'
              b'"peer":"192.0.2.12:7770","connected":false,"connected_since":null,'
              b'"lag_seconds":null,"lag_entries":null}]}\n')
    c.close()
PY
fake=$!
wait_until 5 "stand-in control socket" test -S "$T_DIR/run-master/control.sock"
ctl master status --json
expect_rc 2 "an idle mirror of a daemon not ready"
jq_check "$T_DIR/out" 'j["health"] == "disconnected"' 'j["mirrord"]["ready"] is False'
ctl master status
expect_rc 2 "an idle mirror of a daemon not ready, text"
grep -q '^node .*, starting$' "$T_DIR/out" || { cat "$T_DIR/out"; fail "text status: starting"; }
wait_pids 45 "the stand-in control socket" "$fake" || fail "the stand-in control socket failed"
rm -f "$T_DIR/run-master/control.sock"
pass "not ready, mirror idle: disconnected (exit 2), not healthy"

# ---- the sink alone: waiting, healthy ----
start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
wait_until 5 "slave control socket" test -S "$T_DIR/run-slave/control.sock"
[ "$(stat -c %a "$T_DIR/run-slave/control.sock")" = 600 ] || fail "control socket is not mode 0600"
[ "$(stat -c %a "$T_DIR/run-slave")" = 755 ] || fail "control socket directory is not 0755"
ctl slave status --json
expect_rc 0 "sink waiting"
jq_check "$T_DIR/out" 'j["mirrord"]["node"] == "slave"' 'j["mirrord"]["version"] != ""' \
	'len(j["mirrord"]["mirrors"]) == 1' 'j["failoverd"] is None' 'j["errors"] == []' \
	'j["health"] == "healthy"' 'j["exit_code"] == 0' \
	'j["mirrord"]["mirrors"][0]["name"] == "www"' \
	'j["mirrord"]["mirrors"][0]["role"] == "sink"' \
	'j["mirrord"]["mirrors"][0]["connected"] is False' \
	'j["mirrord"]["mirrors"][0]["connected_since"] is None' \
	'j["mirrord"]["mirrors"][0]["lag_seconds"] is None' \
	'j["mirrord"]["mirrors"][0]["lag_entries"] is None' \
	'j["mirrord"]["mirrors"][0]["bytes_received"] == 0' \
	'j["mirrord"]["mirrors"][0]["last_error"] is None' \
	'j["mirrord"]["mirrors"][0]["paused"] is False'
ctl slave status
expect_rc 0 "sink waiting, text"
grep -q '^  role  *sink$' "$T_DIR/out" || { cat "$T_DIR/out"; fail "text status: role line"; }
grep -q '^health  *healthy$' "$T_DIR/out" || { cat "$T_DIR/out"; fail "text status: health line"; }
pass "sink waiting: role sink, not connected, no lag, exit 0"

# ---- the source connects: both sides connected ----
printf 'hello\n' >"$M/a.txt"
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
# (exit 0 once the source has started and connected; a.txt is sent soon
# after: wait for the whole state checked below, not just the exit code)
source_up=('j["mirrord"]["node"] == "master"' 'j["mirrord"]["ready"] is True' \
	'j["mirrord"]["mirrors"][0]["role"] == "source"' \
	'j["mirrord"]["mirrors"][0]["peer"] == "192.0.2.12:7770"' \
	'j["mirrord"]["mirrors"][0]["connected"] is True' \
	'abs(j["mirrord"]["mirrors"][0]["connected_since"] - j["mirrord"]["time"]) < 30' \
	'j["mirrord"]["mirrors"][0]["lag_seconds"] <= 10' \
	'isinstance(j["mirrord"]["mirrors"][0]["lag_entries"], int)' \
	'j["mirrord"]["mirrors"][0]["bytes_sent"] > 0')
source_healthy() { status_is master 0 && jq_true "$T_DIR/out" "${source_up[@]}" 2>/dev/null; }
wait_until 15 "master connected and in sync" source_healthy
jq_check "$T_DIR/out" "${source_up[@]}"
# and every status answer of a started source with a peer is a source's
ctl master status --json
jq_check "$T_DIR/out" 'j["mirrord"]["mirrors"][0]["role"] == "source"'
wait_until 10 "a.txt on the slave" test -f "$S/a.txt"
wait_until 10 "slave sees the session" \
	bash -c "'$MIRRORCTL' -c '$T_DIR/slave.conf' status --json | grep -q '\"connected\":true'"
ctl slave status --json
jq_check "$T_DIR/out" 'j["mirrord"]["mirrors"][0]["role"] == "sink"' \
	'j["mirrord"]["mirrors"][0]["connected"] is True' \
	'j["mirrord"]["mirrors"][0]["peer"].startswith("192.0.2.11:")' \
	'j["mirrord"]["mirrors"][0]["sessions"] >= 1'
pass "source connected: role source, peer, connected_since, lag, bytes; sink sees the session"

# ---- lag threshold: --max-lag 0 turns any lag into exit 1 ----
for i in $(seq 1 200); do printf 'x%s\n' "$i" >"$M/f$i"; done
ctl master status --json --max-lag 10
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "status under load: exit $rc"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(j["exit_code"] != '"$rc"')' "$T_DIR/out" ||
	fail "exit_code in JSON differs from the exit status"
ctl master status --max-lag -1
expect_rc 64 "negative --max-lag"
pass "exit code and JSON agree; a bad --max-lag is a usage error"

# ---- commands ----
for c in promote demote pause resume; do
	ctl master "$c" www
	expect_rc 0 "$c www"
	[ "$(cat "$T_DIR/out")" = ok ] || fail "$c www answered '$(cat "$T_DIR/out")'"
	ctl master "$c" nosuch
	expect_rc 1 "$c nosuch"
	grep -q "^mirrorctl: error unknown mirror 'nosuch'" "$T_DIR/err" || fail "$c nosuch: $(cat "$T_DIR/err")"
done
ctl master pause www
ctl master status --json
jq_check "$T_DIR/out" 'j["mirrord"]["mirrors"][0]["paused"] is True' \
	'j["mirrord"]["mirrors"][0]["requested_role"] == "sink"'
ctl master resume www
ctl master promote www
ctl master status --json
jq_check "$T_DIR/out" 'j["mirrord"]["mirrors"][0]["paused"] is False' \
	'j["mirrord"]["mirrors"][0]["requested_role"] == "source"'
ctl master frobnicate www
expect_rc 64 "unknown command"
ctl master promote
expect_rc 64 "promote without a mirror"
pass "promote/demote/pause/resume answer ok or error, and status shows them"

# ---- pause holds changes back (they are journaled), resume sends them ----
wait_until 10 "slave in step before pause" test -f "$S/f200"
ctl master pause www
expect_rc 0 "pause www"
echo held >"$M/while-paused"
end=$(( $(date +%s%N) + 2000000000 ))
while [ "$(date +%s%N)" -lt "$end" ]; do      # bounded: 2 s of absence
	[ -e "$S/while-paused" ] && fail "a change reached the slave while paused"
	sleep 0.1
done
ctl master status --json
jq_check "$T_DIR/out" 'j["mirrord"]["mirrors"][0]["paused"] is True' \
	'j["mirrord"]["mirrors"][0]["lag_entries"] >= 1'
grep -q "mirror www: paused" "$T_DIR/source.log" || fail "no paused line in the source log"
ctl master resume www
expect_rc 0 "resume www"
wait_until 10 "the held change after resume" test -f "$S/while-paused"
[ "$(cat "$S/while-paused")" = held ] || fail "content after resume: $(cat "$S/while-paused")"
pass "pause holds changes back on the master, resume sends them"

# ---- hostile clients: the daemon stays up and answers ----
sock=$T_DIR/run-slave/control.sock
head -c 1000 /dev/zero | tr '\0' 'a' | timeout 5 socat -t 3 - "UNIX-CONNECT:$sock" >"$T_DIR/long" 2>"$T_DIR/long.err" || true
grep -q '^error request line too long' "$T_DIR/long" || fail "long line: $(head -c 200 "$T_DIR/long")"
reply=$(printf 'nonsense\n' | timeout 5 socat -t 3 - "UNIX-CONNECT:$sock")
case $reply in "error unknown command"*) ;; *) fail "unknown command answered '$reply'" ;; esac
# a client that connects and says nothing holds the socket for at most 2 s
timeout 10 socat -u "UNIX-CONNECT:$sock" EXEC:'sleep 8' >/dev/null 2>&1 &
silent=$!
sleep 0.3
t0=$(date +%s%N)
ctl slave status --json --timeout 5000
t1=$(date +%s%N)
expect_rc 0 "status while a silent client is connected"
[ $(( (t1 - t0) / 1000000 )) -lt 4000 ] || fail "a silent client delayed status by $(( (t1 - t0) / 1000000 )) ms"
stop_pid "$silent"
running "$PID_sink" || fail "the sink died"
# a flood: cut off, and the daemon answers the next client
head -c 10000000 /dev/zero | timeout 10 socat -t 3 - "UNIX-CONNECT:$sock" >/dev/null 2>&1 || true
ctl slave status --json
expect_rc 0 "status after a flood"
pass "long lines, unknown commands and silent clients are answered or cut off; the daemon runs on"

# ---- metrics file ----
wait_until 10 "metrics file" grep -q '^mirrord_connected{mirror="www",role="sink"} 1$' "$T_DIR/slave.prom"
grep -q '^mirrord_info{node="slave",version="' "$T_DIR/slave.prom" || fail "metrics: mirrord_info"
grep -q '^# TYPE mirrord_received_bytes_total counter$' "$T_DIR/slave.prom" || fail "metrics: counter type"
# (a sink session's received bytes are counted when it ends)
grep -q '^mirrord_received_bytes_total{mirror="www",role="sink"} [0-9]' "$T_DIR/slave.prom" ||
	fail "metrics: received bytes"
if ls "$T_DIR"/slave.prom.tmp.* >/dev/null 2>&1; then fail "metrics temporary file left behind"; fi
pass "metrics file written with connection state and counters"

# ---- the sink stops: the source is disconnected, exit 2 ----
stop_pid "$PID_sink"
wait_until 40 "master reports disconnected" status_is master 2
jq_check "$T_DIR/out" 'j["mirrord"]["mirrors"][0]["connected"] is False' \
	'j["mirrord"]["mirrors"][0]["connected_since"] is None' \
	'j["health"] == "disconnected"' 'j["exit_code"] == 2' \
	'j["mirrord"]["mirrors"][0]["lag_seconds"] is not None'
ctl master status
expect_rc 2 "disconnected, text"
grep -q '^  peer  *192.0.2.12:7770, disconnected$' "$T_DIR/out" || { cat "$T_DIR/out"; fail "text: peer line"; }
pass "sink stopped: source disconnected, exit 2"

# ---- failover section without failoverd: exit 4 and the reason ----
cp "$T_DIR/master.conf" "$T_DIR/master-fo.conf"
head -c 32 /dev/urandom | base64 >"$T_DIR/hb.key"; chmod 600 "$T_DIR/hb.key"
cat >>"$T_DIR/master-fo.conf" <<CONF

[failover]
interface = eth0
vip = 192.0.2.100/24
peer = 192.0.2.12
key_file = $T_DIR/hb.key
CONF
rc=0
in_ns master "$MIRRORCTL" -c "$T_DIR/master-fo.conf" status --json >"$T_DIR/out" 2>&1 || rc=$?
expect_rc 4 "failoverd unreachable"
jq_check "$T_DIR/out" 'j["failoverd"] is None' 'any("failoverd" in e for e in j["errors"])' \
	'j["mirrord"]["node"] == "master"'
pass "a configured but absent failoverd: exit 4"

# ---- SIGHUP: a bad file keeps the running configuration ----
cp "$T_DIR/master.conf" "$T_DIR/master.good"
printf '\n[mirror www]\nbogus_key = 1\n' >>"$T_DIR/master.conf"
signal_pid HUP "$PID_source"
wait_until 5 "reload error logged" grep -q 'reload failed, keeping the running configuration: .*master.conf:[0-9]*:' "$T_DIR/source.log"
running "$PID_source" || fail "mirrord died on a bad reload"
# mirrorctl reads the file too: with the bad one it cannot find the socket
ctl master status --json
expect_rc 4 "mirrorctl with a bad configuration"
grep -q "master.conf:[0-9]*:" "$T_DIR/err" || fail "mirrorctl: config error without file:line"
rc=0
in_ns master "$MIRRORCTL" -c "$T_DIR/master.good" status --json >"$T_DIR/out" || rc=$?
expect_rc 2 "status after a failed reload (the sink is still stopped)"
jq_check "$T_DIR/out" 'j["mirrord"]["node"] == "master"'
# ---- and a good one is reloaded; what needs a restart is named ----
cp "$T_DIR/master.good" "$T_DIR/master.conf"
sed -i "s|^state_dir = .*|&\nmetrics_file = $T_DIR/master.prom|" "$T_DIR/master.conf"
sed -i 's|^peer = 192.0.2.12:7770$|&\nexclude = *.swp|' "$T_DIR/master.conf"
"$MIRRORD" -n -c "$T_DIR/master.conf" || fail "the good configuration does not check"
signal_pid HUP "$PID_source"
wait_until 5 "reloaded logged" grep -q 'configuration .*master.conf reloaded: 1 change(s) applied, 1 need a restart' "$T_DIR/source.log"
grep -q 'reload: mirror www: excludes or options changed' "$T_DIR/source.log" || fail "the exclude change is not named"
wait_until 10 "metrics file after reload" test -s "$T_DIR/master.prom"
running "$PID_source" || fail "mirrord died on a reload"
pass "SIGHUP: bad file logged with file:line and ignored; good file reloaded, metrics_file applied"

stop_pid "$PID_source"
[ ! -e "$T_DIR/run-master/control.sock" ] || fail "control socket left behind after stop"
pass "control socket removed at stop"

# ---- a stale socket (daemon killed) is replaced at start ----
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	"$T_DIR/run-master/control.sock" || fail "cannot make a stale socket"
start_bg master source2 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 10 "mirrord answers on a replaced stale socket" status_is master 2
# and a second daemon on the same socket refuses to start (exit 5)
rc=0
in_ns master timeout 10 "$MIRRORD" -f -c "$T_DIR/master.conf" >"$T_DIR/second.log" 2>&1 || rc=$?
expect_rc 5 "a second mirrord on the same control socket"
grep -q 'another mirrord runs with this socket' "$T_DIR/second.log" || fail "second daemon: $(cat "$T_DIR/second.log")"
status_is master 2 || fail "the first daemon stopped answering"
pass "stale socket replaced; a live one is not stolen"
