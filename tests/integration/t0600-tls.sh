#!/bin/bash
# t0600-tls: data connections over TLS 1.3 with certificates from a project
# CA (scripts/mkcerts), the peer's name pinned on both sides.  A good push
# converges; a wrong CA, a wrong name, an expired certificate, a plaintext
# client, a client with no [security], a truncated TLS handshake and a drip
# feed are each refused with a clear log line, the sink stays up and the
# slave tree is not touched; a silent connection and an authenticated
# session that goes silent after HELLO do not keep a real push out.
. "$(dirname "$0")/lib.sh"
need_root
command -v openssl >/dev/null || fail "needs openssl (scripts/deps)"

need_tools "$MIRRORD" "$BADPEER" "$TREECMP"

net_setup master slave
SINK=$(host_addr slave)
PORT=7770
C="$T_DIR/certs"
X="$T_DIR/other-ca"
"$top_srcdir/scripts/mkcerts" -d "$C" master slave intruder >/dev/null || fail "mkcerts"
"$top_srcdir/scripts/mkcerts" -d "$X" master >/dev/null || fail "mkcerts (other CA)"
# an expired certificate for "master" from the right CA
openssl req -new -key "$C/master.key" -subj /CN=master -out "$T_DIR/exp.csr" 2>/dev/null &&
	printf 'subjectAltName=DNS:master\nextendedKeyUsage=serverAuth,clientAuth\n' >"$T_DIR/exp.ext" &&
	openssl x509 -req -in "$T_DIR/exp.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -days -1 \
		-extfile "$T_DIR/exp.ext" -out "$C/expired.crt" 2>/dev/null || fail "expired cert"

mkdir -p "$T_DIR/master/www/sub" "$T_DIR/slave/www" "$T_DIR/out" || fail "mkdir"
printf 'hello\n' >"$T_DIR/master/www/a"
head -c 300000 /dev/urandom >"$T_DIR/master/www/sub/b"
ln -s ../a "$T_DIR/master/www/sub/link"

cat >"$T_DIR/slave.conf" <<EOF2
[node]
name = slave
listen = $SINK:$PORT
control_socket = $T_DIR/slave.sock
state_dir = $T_DIR/state-slave

[mirror www]
path = $T_DIR/slave/www

[security]
cert = $C/slave.crt
key = $C/slave.key
ca = $C/ca.crt
peer_name = master
EOF2

# master_conf FILE SECURITY-LINES...: a source config with that [security].
master_conf() {
	local f=$1; shift
	{
		printf '[node]\nname = master\ncontrol_socket = %s\nstate_dir = %s\n\n' \
			"$T_DIR/master.sock" "$T_DIR/state-master"
		printf '[mirror www]\npath = %s\npeer = %s:%s\n\n' "$T_DIR/master/www" "$SINK" "$PORT"
		[ $# -gt 0 ] && printf '[security]\n' && printf '%s\n' "$@"
	} >"$T_DIR/$f.conf"
}
master_conf good "cert = $C/master.crt" "key = $C/master.key" "ca = $C/ca.crt" "peer_name = slave"
master_conf wrong-ca "cert = $X/master.crt" "key = $X/master.key" "ca = $C/ca.crt" "peer_name = slave"
master_conf trusts-other-ca "cert = $C/master.crt" "key = $C/master.key" "ca = $X/ca.crt" \
	"peer_name = slave"
master_conf pins-other-name "cert = $C/master.crt" "key = $C/master.key" "ca = $C/ca.crt" \
	"peer_name = backup"
master_conf wrong-name "cert = $C/intruder.crt" "key = $C/intruder.key" "ca = $C/ca.crt" \
	"peer_name = slave"
master_conf expired "cert = $C/expired.crt" "key = $C/master.key" "ca = $C/ca.crt" \
	"peer_name = slave"
master_conf plaintext "insecure_plaintext = yes"
master_conf nosecurity

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
SINK_LOG="$T_DIR/sink.log"
wait_port master "$SINK" "$PORT" 10
grep -q 'TLS 1.3 with certificate authentication' "$SINK_LOG" || fail "no TLS start-up line"

sink_alive() { running "$PID_sink"; }
log_lines() { wc -l <"$SINK_LOG"; }
new_log_has() { tail -n +"$(($1 + 1))" "$SINK_LOG" | grep -Eq "$2"; }
slave_state() { find "$T_DIR/slave/www" -printf '%P %y %s %m %T@\n' | sort; }

push() { # push CONF: mirrord --once from the master, output in out/CONF
	in_ns master timeout 60 "$MIRRORD" -f -c "$T_DIR/$1.conf" --once www >"$T_DIR/out/$1" 2>&1
}

push good || { cat "$T_DIR/out/good"; fail "TLS push failed"; }
"$TREECMP" "$T_DIR/master/www" "$T_DIR/slave/www" || fail "trees differ after the TLS push"
grep -q 'session from .*(CN=master, TLSv1.3 TLS_AES_128_GCM_SHA256)' "$SINK_LOG" ||
	fail "the sink did not log the authenticated peer and cipher"
pass "TLS push converges (CN=master, TLS_AES_128_GCM_SHA256)"

# From here on the master has a change that must not arrive.
printf 'must not arrive\n' >"$T_DIR/master/www/new"
slave_state >"$T_DIR/out/slave.0"

# refused NAME CLIENT-RE SINK-RE: the push fails, both sides say why.
refused() {
	local name=$1 cre=$2 sre=$3 before
	before=$(log_lines)
	push "$name" && { cat "$T_DIR/out/$name"; fail "$name: the push succeeded"; }
	sed "s/^/    source: /" "$T_DIR/out/$name"
	grep -Eq "$cre" "$T_DIR/out/$name" || fail "$name: source log lacks /$cre/"
	[ -z "$sre" ] || wait_until 5 "a sink log line for $name matching /$sre/" \
		new_log_has "$before" "$sre"
	tail -n +"$((before + 1))" "$SINK_LOG" | sed "s/^/    sink: /"
	sink_alive || fail "$name: the sink died"
	slave_state | cmp -s - "$T_DIR/out/slave.0" || fail "$name: the slave tree changed"
	pass "$name refused"
}

refused wrong-ca 'TLS read: tlsv1 alert unknown ca|rejected our certificate' \
	'peer certificate rejected: unable to get local issuer certificate'
refused trusts-other-ca 'TLS handshake failed: peer certificate rejected' \
	'TLS handshake failed: .*unknown ca'
refused pins-other-name 'peer certificate rejected: hostname mismatch' 'TLS handshake failed'
refused wrong-name 'TLS read: .*alert|rejected our certificate' 'peer certificate rejected: hostname mismatch'
refused expired 'TLS read: .*alert certificate expired|rejected our certificate' 'peer certificate rejected: certificate has expired'
refused plaintext 'INSECURE|handshake failed' 'does not speak TLS'
refused nosecurity 'refusing plaintext data connections' ''

# a ClientHello cut short, then close
before=$(log_lines)
in_ns master bash -c "exec 3<>/dev/tcp/$SINK/$PORT; printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&3; exec 3>&-" ||
	fail "truncated handshake: cannot connect"
wait_until 5 "a sink log line for the truncated handshake" \
	new_log_has "$before" 'TLS handshake failed: connection closed by the peer'
tail -n +"$((before + 1))" "$SINK_LOG" | sed "s/^/    sink: /"
sink_alive || fail "truncated handshake: the sink died"
pass "truncated TLS handshake refused"

export BADPEER_CERT="$C/master.crt" BADPEER_KEY="$C/master.key" BADPEER_CA="$C/ca.crt"
export BADPEER_PEER_NAME=slave

# Slow peers: a TCP connection that says nothing, a valid TLS client that
# drips its HELLO, and an authenticated session that falls silent after
# HELLO (it holds the mirror).  A real push must get through meanwhile.
before=$(log_lines)
in_ns master bash -c "exec 3<>/dev/tcp/$SINK/$PORT; sleep 30" &
SILENT_TCP=$!
T_PIDS="$T_PIDS $SILENT_TCP"
start_bg master drip "$BADPEER" "$SINK" "$PORT" www drip 40
start_bg master silent "$BADPEER" "$SINK" "$PORT" www silent-hello 40
wait_until 10 "the silent session to hold the mirror" grep -q 'HELLO done, silent' "$T_DIR/silent.log"
t0=$(date +%s)
push good || { cat "$T_DIR/out/good"; fail "push while slow peers hang failed"; }
t1=$(date +%s)
"$TREECMP" "$T_DIR/master/www" "$T_DIR/slave/www" || fail "trees differ after the push"
log "push while a silent session held the mirror took $((t1 - t0)) s"
[ $((t1 - t0)) -le 15 ] || fail "the push waited $((t1 - t0)) s for a silent session"
wait_until 15 "the sink to drop the drip feed" exited "$PID_drip"
wait "$PID_drip" || { cat "$T_DIR/drip.log"; fail "the drip feed was not refused"; }
wait_until 15 "the sink to drop the silent TCP connection" \
	new_log_has "$before" 'TLS handshake: Connection timed out'
stop_pid "$SILENT_TCP"
wait_until 5 "the silent session to end" exited "$PID_silent"
sed "s/^/    drip: /" "$T_DIR/drip.log"
sed "s/^/    silent: /" "$T_DIR/silent.log"
tail -n +"$((before + 1))" "$SINK_LOG" | sed "s/^/    sink: /"
new_log_has "$before" 'session silent for [0-9]+ ms, replacing it' ||
	fail "no log line for the replaced session"
new_log_has "$before" 'no valid HELLO \(Connection timed out\)' ||
	fail "no log line for the drip feed"
sink_alive || fail "the sink died"
pass "slow and silent peers do not keep a real push out"
