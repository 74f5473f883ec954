#!/bin/bash
# Drift audit: files changed directly on the slave, outside mirrord's
# knowledge, are found by `mirrorctl audit` on the master: one whose content
# differs with the same size and mtime (only the content hash can tell),
# one of another size, one that exists on the slave only.  Mirror "rep"
# (audit_repair = yes) gets them repaired from the master (the strict tree
# comparison passes afterwards, and a second pass finds nothing); mirror
# "www" (audit_repair = no) only reports them.  Both raise the "audit"
# condition of the notify hook; "rep"'s clean pass after the repair
# resolves it.
# Mirror "slow" hashes a few MiB at audit_rate = 1M: the bytes both
# daemons read (/proc/PID/io rchar) over the pass and in any 2 s window
# stay within 10% of the limit (and reach 80% of it in the busiest
# window), the audit's own counters account for every file byte, and a
# file written to all along the pass is not reported as drift.
# Mirror "sched" runs passes by itself every 2 s (hashing next to nothing,
# so as not to blur the measurement) and keeps its cursor in state_dir;
# mirror "closed" has an audit window that does not include now, and runs
# none.  Mirror "held" is paused (mirrorctl pause): a change recorded on
# the master but not yet sent differs on the slave, and is not drift.
. "$(dirname "$0")/lib.sh"
need_root

need_tools "$MIRRORD" "$MIRRORCTL" "$MKTREE" "$TREECMP"
RATE=1048576

MIRRORS="www rep slow sched closed held"
net_setup master slave
mkdir -p "$T_DIR/master-state" "$T_DIR/slave-state"
for m in $MIRRORS; do mkdir -p "$T_DIR/master/$m" "$T_DIR/slave/$m"; done
# a window of one hour starting two hours from now: never open during the test
h=$(( ($(date +%-H) + 2) % 24 ))
CLOSED=$(printf '%02d:00-%02d:00' $h $(( (h + 1) % 24 )))

confs() {
	local node addr mirror
	for node in slave master; do
		[ $node = slave ] && addr=192.0.2.12 || addr=192.0.2.11
		{
			printf '[node]\nname = %s\nlisten = %s:7770\n' $node $addr
			printf 'control_socket = %s/%s.sock\nstate_dir = %s/%s-state\n\n' \
				"$T_DIR" $node "$T_DIR" $node
			for mirror in $MIRRORS; do
				printf '[mirror %s]\npath = %s/%s/%s\n' $mirror "$T_DIR" $node $mirror
				[ $node = master ] || { echo; continue; }
				printf 'peer = 192.0.2.12:7770\n'
				case $mirror in
				www) printf 'audit_rate = off\naudit_sample = 1%%\naudit_repair = no\n' ;;
				rep) printf 'audit_rate = off\naudit_sample = 1%%\naudit_repair = yes\n' ;;
				slow) printf 'audit_rate = 1M\naudit_sample = 100%%\n' ;;
				sched) printf 'audit_interval = 2s\naudit_sample = 1K\n' ;;
				closed) printf 'audit_interval = 1s\naudit_window = %s\n' "$CLOSED" ;;
				esac
				echo
			done
			printf '[security]\ninsecure_plaintext = yes\n'
		} >"$T_DIR/$node.conf"
	done
}
confs
EV=$T_DIR/ev
mkdir -p "$EV"
cat >"$T_DIR/hook" <<HOOK
#!/bin/sh
f=\$(mktemp $EV/run.XXXXXX) || exit 1
{ cat; echo; env | grep '^MIRRORD_' | sort; } >"\$f.tmp" && mv "\$f.tmp" "\$f.done"
rm -f "\$f"
HOOK
chmod 755 "$T_DIR/hook"
sed -i "s|^state_dir = .*|&\nnotify = $T_DIR/hook|" "$T_DIR/master.conf"
# runs STATE KEY: hook runs for the audit condition KEY in STATE
runs() { grep -l "^MIRRORD_EVENT=audit\$" "$EV"/*.done 2>/dev/null |
	xargs -r grep -l "^MIRRORD_STATE=$1\$" | xargs -r grep -l "^MIRRORD_KEY=$2\$" | wc -l; }
has_run() { [ "$(runs "$1" "$2")" -ge 1 ]; }

ctl() { in_ns master "$MIRRORCTL" -c "$T_DIR/master.conf" "$@"; }
# audit_field MIRROR FIELD: a number from the audit object of mirrorctl status --json
audit_field() {
	ctl status --json 2>/dev/null |
		sed -n "s/.*\"name\":\"$1\"[^{]*\"audit\":{\([^}]*\)}.*/\1/p" |
		tr ',' '\n' | sed -n "s/^\"$2\"://p"
}
same() { "$TREECMP" "$T_DIR/master/$1" "$T_DIR/slave/$1"; }
converge() { wait_until "${2:-20}" "$1 converged" same "$1"; }
passes_reach() { [ "$(audit_field "$1" passes)" -ge "$2" ] 2>/dev/null; }
run_audit() { # run_audit MIRROR [--full]: one pass, waited for
	local before
	before=$(audit_field "$1" passes)
	ctl audit "$@" >/dev/null || fail "mirrorctl audit $*"
	wait_until "${AUDIT_WAIT:-60}" "audit pass of $1" passes_reach "$1" $((before + 1))
}
rchar() { awk '/^rchar:/ { print $2 }' "/proc/$1/io"; }

# ---- trees ----
for m in www rep sched closed held; do
	"$MKTREE" "$T_DIR/master/$m" 2 60 || fail "mktree"
	head -c 200000 /dev/urandom >"$T_DIR/master/$m/same-size.bin"
	head -c 50000 /dev/urandom >"$T_DIR/master/$m/other-size.bin"
done
for i in 1 2 3 4 5 6; do head -c $RATE /dev/urandom >"$T_DIR/master/slow/f$i.bin"; done
echo start >"$T_DIR/master/slow/busy.txt"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
for m in $MIRRORS; do converge $m 30; done
pass "start-up reconciliation of six mirrors"

# a change the paused live source holds back
ctl pause held >/dev/null || fail "mirrorctl pause held"
sleep 0.5       # the live source sees the pause within a quarter of a second
echo "not yet sent" >"$T_DIR/master/held/pending.txt"
echo "changed, not yet sent" >>"$T_DIR/master/held/other-size.bin"

# the audit leaves alone what changed on the master in the last seconds
sleep 6
ctl audit held >/dev/null || fail "mirrorctl audit held"

# ---- a clean tree: no findings ----
run_audit www --full
[ "$(audit_field www drift_last)" = 0 ] || fail "a clean tree reported drift"
[ "$(audit_field www hashed_files)" -ge 60 ] ||
	fail "--full hashed $(audit_field www hashed_files) files, expected every one"
pass "a full pass over a clean tree finds nothing and hashes every file"

# ---- change the slave behind mirrord's back ----
for m in www rep; do
	S=$T_DIR/slave/$m
	printf 'XXXX' | dd of="$S/same-size.bin" bs=1 seek=100000 conv=notrunc status=none
	touch -m -r "$T_DIR/master/$m/same-size.bin" "$S/same-size.bin"
	cmp -s "$T_DIR/master/$m/same-size.bin" "$S/same-size.bin" && fail "corruption failed"
	[ "$(stat -c '%s %Y' "$S/same-size.bin")" = \
	  "$(stat -c '%s %Y' "$T_DIR/master/$m/same-size.bin")" ] || fail "size/mtime not kept"
	echo more >>"$S/other-size.bin"
	echo stray >"$S/slave-only.txt"
done

# report only
run_audit www --full
n=$(audit_field www drift_last)
[ "$n" = 3 ] || fail "www: $n differences reported, expected 3"
for p in same-size.bin other-size.bin slave-only.txt; do
	grep -q "mirror www: audit: '$p'" "$T_DIR/source.log" || fail "www: $p not logged"
done
grep -q "mirror www: audit: 'same-size.bin' differs in content" "$T_DIR/source.log" ||
	fail "www: the content difference is not named as such"
[ "$(audit_field www repaired_total)" = 0 ] || fail "www: repaired with audit_repair = no"
sleep 2
same www >/dev/null 2>&1 && fail "www: repaired with audit_repair = no"
ctl status | grep -q "audit .* 3 differences" || fail "mirrorctl status has no audit line"
wait_until 10 "www: the audit notification" has_run raised www/drift
grep -h '"differences":3' "$EV"/*.done >/dev/null || fail "www: no count in the notification"
pass "audit_repair = no: the three differences are reported (status, log, notify hook), not repaired"

# repair
run_audit rep --full
n=$(audit_field rep drift_last)
[ "$n" = 3 ] || fail "rep: $n differences reported, expected 3"
[ "$(audit_field rep repaired_total)" = 3 ] || fail "rep: not every difference repaired"
converge rep 20
pass "audit_repair = yes: the three differences are repaired from the master"
sleep 6
run_audit rep --full
[ "$(audit_field rep drift_last)" = 0 ] || fail "rep: drift after the repair"
wait_until 10 "rep: the audit notification resolved" has_run resolved rep/drift
[ "$(runs raised rep/drift)" = 1 ] || fail "rep: raised $(runs raised rep/drift) times"
pass "a second pass after the repair finds nothing, and resolves the notification"

# the sample pass (1%) checks every file's metadata all the same
echo more >>"$T_DIR/slave/rep/other-size.bin"
touch -m -d '2001-01-01' "$T_DIR/slave/rep/same-size.bin"
run_audit rep
[ "$(audit_field rep drift_last)" = 2 ] || fail "rep: a sample pass missed metadata drift"
converge rep 20
pass "a sample pass finds size and mtime differences of files outside its sample"

# ---- a slow audit keeps to its rate ----
( for i in $(seq 1 200); do echo "$i" >>"$T_DIR/master/slow/busy.txt"; sleep 0.1; done ) &
writer=$!
T_PIDS="$T_PIDS $writer"
# rchar of both daemons every 200 ms along the pass
sample() { echo "$(date +%s%N) $(rchar "$PID_sink") $(rchar "$PID_source")"; }
before=$(audit_field slow passes)
sample >"$T_DIR/rchar"
ctl audit slow >/dev/null || fail "mirrorctl audit slow"
end=$(( $(date +%s%N) + 30000000000 ))
until passes_reach slow $((before + 1)); do
	[ "$(date +%s%N)" -lt "$end" ] || fail "the slow audit did not end within 30 s"
	sample >>"$T_DIR/rchar"
	sleep 0.2
done
sample >>"$T_DIR/rchar"
stop_pid "$writer"
total=$((6 * RATE))
log "slow audit: $(wc -l <"$T_DIR/rchar") samples; audit counters: here" \
    "$(audit_field slow hashed_bytes), slave $(audit_field slow peer_hashed_bytes)"
[ "$(audit_field slow hashed_bytes)" -ge "$total" ] || fail "the source did not hash every file"
[ "$(audit_field slow peer_hashed_bytes)" -ge "$total" ] || fail "the sink did not hash every file"
for col in 2 3; do
	[ $col = 2 ] && side=sink || side=source
	# the pass as a whole, and the busiest window of at least 2 s: at most
	# 10% over the rate (plus the limiter's burst and one read); and the
	# busiest window at 80% of it at least, so it is the limit that paces
	# the reads (the whole pass also holds start-up and, on a loaded
	# machine, waits that say nothing about the limiter)
	read -r whole busiest raw < <(awk -v c=$col '
		{ t[NR] = $1 / 1e9; b[NR] = $c }
		END {
			printf "%d ", (b[NR] - b[1]) / (t[NR] - t[1]);
			worst = 0; raw = 0;
			for (i = 1; i <= NR; i++)
				for (j = i + 1; j <= NR; j++)
					if (t[j] - t[i] >= 2) {
						x = (b[j] - b[i] - 262144) / (t[j] - t[i]);
						if (x > worst) { worst = x; raw = (b[j] - b[i]) / (t[j] - t[i]); }
						break;
					}
			printf "%d %d\n", worst, raw;
		}' "$T_DIR/rchar")
	log "$side: $whole bytes/s over the pass; busiest 2 s window $raw bytes/s," \
	    "$busiest less one burst (limit $RATE)"
	[ "$busiest" -le $((RATE * 110 / 100)) ] || fail "$side read $busiest bytes/s, limit $RATE"
	[ "$whole" -le $((RATE * 110 / 100)) ] || fail "$side read $whole bytes/s, limit $RATE"
	[ "$raw" -ge $((RATE * 80 / 100)) ] || fail "$side read only $raw bytes/s: not the limit at work"
done
pass "audit_rate = 1M: both sides read within 10% of 1 MiB/s"
[ "$(audit_field slow drift_last)" = 0 ] ||
	fail "a file written during the audit was reported as drift"
pass "a file written during the audit is not reported"

# ---- what the paused live source holds back is not drift ----
n=$(audit_field held passes)
[ "$n" = 1 ] || fail "held: $n passes, expected the one asked for"
[ "$(audit_field held drift_last)" = 0 ] || fail "held: changes not yet sent reported as drift"
grep -q "mirror held: audit: the live source did not settle" "$T_DIR/source.log" ||
	fail "held: the audit did not wait for the live source"
ctl resume held >/dev/null || fail "mirrorctl resume held"
converge held 20
pass "changes the paused live source holds back are not reported; sent after resume"

# ---- scheduled passes, the window, the cursor on disk ----
n=$(audit_field sched passes)
[ "$n" -ge 3 ] || fail "sched: $n scheduled passes, expected one every 2 s"
grep -q '^passes [1-9]' "$T_DIR/master-state/sched/audit" || fail "sched: no cursor on disk"
grep -q '^cursor [1-9]' "$T_DIR/master-state/sched/audit" || fail "sched: the cursor did not move"
pass "audit_interval = 2s: $n passes by themselves, the sample's cursor kept in state_dir"
[ "$(audit_field closed passes)" = 0 ] || fail "closed: a pass ran outside audit_window $CLOSED"
pass "audit_window = $CLOSED: no pass outside the window"

running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
