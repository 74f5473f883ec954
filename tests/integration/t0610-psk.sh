#!/bin/bash
# t0610-psk: data connections over TLS 1.3 with an external pre-shared key.
# A push with the right key converges; a wrong key is refused on both sides
# with the slave tree untouched; a key file readable by others, or a
# certificate key file readable by others, stops the sink at start-up.
. "$(dirname "$0")/lib.sh"
need_root
command -v openssl >/dev/null || fail "needs openssl (scripts/deps)"
need_tools "$MIRRORD" "$TREECMP"

net_setup master slave
SINK=$(host_addr slave)
PORT=7770
mkdir -p "$T_DIR/master/www/d" "$T_DIR/slave/www" "$T_DIR/out" || fail "mkdir"
printf 'one\n' >"$T_DIR/master/www/one"
head -c 200000 /dev/urandom >"$T_DIR/master/www/d/two"
(umask 077 && openssl rand -hex 32 >"$T_DIR/psk" && openssl rand -hex 32 >"$T_DIR/psk-wrong") ||
	fail "psk"

conf() { # conf FILE NAME SECURITY-LINES...
	local f=$1 n=$2; shift 2
	{
		printf '[node]\nname = %s\nlisten = %s:%s\ncontrol_socket = %s\nstate_dir = %s\n\n' \
			"$n" "$SINK" "$PORT" "$T_DIR/$f.sock" "$T_DIR/state-$f"
		printf '[mirror www]\npath = %s\n' "$T_DIR/$n/www"
		[ "$n" = master ] && printf 'peer = %s:%s\n' "$SINK" "$PORT"
		printf '\n'
		printf '[security]\n'
		printf '%s\n' "$@"
	} >"$T_DIR/$f.conf"
}
conf slave slave "psk_file = $T_DIR/psk"
conf good master "psk_file = $T_DIR/psk"
conf wrong master "psk_file = $T_DIR/psk-wrong"

# a key file that others can read stops the sink before it listens
cp "$T_DIR/psk" "$T_DIR/psk-open" && chmod 644 "$T_DIR/psk-open"
conf open slave "psk_file = $T_DIR/psk-open"
in_ns slave timeout 10 "$MIRRORD" -f -c "$T_DIR/open.conf" >"$T_DIR/out/open" 2>&1 &&
	fail "the sink started with a world-readable psk_file"
grep -q 'readable by group or others' "$T_DIR/out/open" ||
	{ cat "$T_DIR/out/open"; fail "no clear log line for the open psk_file"; }
sed "s/^/    sink: /" "$T_DIR/out/open"
"$top_srcdir/scripts/mkcerts" -d "$T_DIR/c" slave >/dev/null || fail "mkcerts"
chmod 640 "$T_DIR/c/slave.key"
conf openkey slave "cert = $T_DIR/c/slave.crt" "key = $T_DIR/c/slave.key" "ca = $T_DIR/c/ca.crt"
in_ns slave timeout 10 "$MIRRORD" -f -c "$T_DIR/openkey.conf" >"$T_DIR/out/openkey" 2>&1 &&
	fail "the sink started with a group-readable key"
grep -q 'key .*readable by group or others' "$T_DIR/out/openkey" ||
	{ cat "$T_DIR/out/openkey"; fail "no clear log line for the open key"; }
sed "s/^/    sink: /" "$T_DIR/out/openkey"
pass "key files readable by others are refused at start-up"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
SINK_LOG="$T_DIR/sink.log"
wait_port master "$SINK" "$PORT" 10
grep -q 'TLS 1.3 with PSK authentication' "$SINK_LOG" || fail "no PSK start-up line"

in_ns master timeout 60 "$MIRRORD" -f -c "$T_DIR/good.conf" --once www >"$T_DIR/out/good" 2>&1 ||
	{ cat "$T_DIR/out/good"; fail "PSK push failed"; }
"$TREECMP" "$T_DIR/master/www" "$T_DIR/slave/www" || fail "trees differ after the PSK push"
grep -q 'session from .*(PSK, TLSv1.3 TLS_AES_128_GCM_SHA256)' "$SINK_LOG" ||
	fail "the sink did not log the PSK session"
pass "PSK push converges"

printf 'must not arrive\n' >"$T_DIR/master/www/new"
find "$T_DIR/slave/www" -printf '%P %y %s %T@\n' | sort >"$T_DIR/out/slave.0"
before=$(wc -l <"$SINK_LOG")
in_ns master timeout 60 "$MIRRORD" -f -c "$T_DIR/wrong.conf" --once www >"$T_DIR/out/wrong" 2>&1 &&
	fail "the push with a wrong PSK succeeded"
sed "s/^/    source: /" "$T_DIR/out/wrong"
grep -Eq 'TLS handshake failed' "$T_DIR/out/wrong" || fail "no clear source log line"
wait_until 5 "a sink log line for the wrong PSK" sh -c \
	"tail -n +$((before + 1)) '$SINK_LOG' | grep -q 'TLS handshake failed'"
tail -n +"$((before + 1))" "$SINK_LOG" | sed "s/^/    sink: /"
running "$PID_sink" || fail "the sink died"
find "$T_DIR/slave/www" -printf '%P %y %s %T@\n' | sort | cmp -s - "$T_DIR/out/slave.0" ||
	fail "the slave tree changed"
pass "wrong PSK refused, nothing touched"
