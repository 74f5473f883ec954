# lib.sh: helpers for integration tests that run the real daemons in network
# namespaces created here.  Source it from a test script:
#
#   . "$(dirname "$0")/lib.sh"
#   need_root                  # exit 77 off CI when not root; hard error in CI
#   net_setup master slave     # bridge namespace + one namespace per host
#   in_ns master cmd ...       # run cmd inside the "master" namespace
#   start_bg master NAME cmd   # start a process in a namespace, record its PID
#   wait_until 10 "what" cmd   # poll cmd every 50 ms for at most 10 s
#   running PID                # PID is our child and has not ended
#   stop_pid PID [SIG]         # signal it (if still ours), wait at most 5 s
#   wait_pids 30 "what" PID... # wait at most 30 s for background jobs
#   converge_trees M S "what" 10   # until S equals M (treecmp), at most 10 s
#
# Hosts get 192.0.2.(10+i)/24 in the order given (master .11, slave .12,
# client .13 ...).  Namespaces are named mt-<pid>-<host> so parallel runs do
# not collide; everything is removed by the EXIT trap.  Processes are stopped
# by the PIDs recorded here only.

set -u

T_NAME=$(basename "$0" .sh)
T_ID="mt$$"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mirrord-$T_NAME.XXXXXX")
T_HOSTS=""
T_PIDS=""
T_ADOPTED=""
T_FAILED=0
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
MIRRORD="$top_builddir/src/mirrord/mirrord"
FAILOVERD="$top_builddir/src/failoverd/failoverd"
MKTREE="$top_builddir/tests/tools/mktree"
TREECMP="$top_builddir/tests/tools/treecmp"
BADPEER="$top_builddir/tests/tools/badpeer"
MIRRORCTL="$top_builddir/src/mirrorctl/mirrorctl"
RESTORE="$top_builddir/src/restore/mirror-restore"

log() { printf '%s %s: %s\n' "$(date +%H:%M:%S.%3N)" "$T_NAME" "$*"; }
fail() { log "FAIL: $*"; T_FAILED=1; exit 1; }
pass() { log "PASS: $*"; }

need_root() {
	[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1 && return 0
	if [ "${CI:-}" = true ]; then
		log "ERROR: needs root and iproute2, and CI must run it"
		exit 99
	fi
	log "SKIP: needs root and iproute2"
	exit 77
}

# need_tools PROG...: fail unless every test program was built (make check).
need_tools() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || fail "missing $b (make check builds it)"
	done
}

ns_name() { printf '%s-%s' "$T_ID" "$1"; }
in_ns() { local h=$1; shift; ip netns exec "$(ns_name "$h")" "$@"; }
host_addr() { # host_addr HOST -> 192.0.2.N
	local i=11 h
	for h in $T_HOSTS; do
		[ "$h" = "$1" ] && { echo "192.0.2.$i"; return 0; }
		i=$((i + 1))
	done
	return 1
}

# net_setup HOST...: a bridge in namespace "<id>-br" and one veth per host.
net_setup() {
	local br i=11 h ns
	br=$(ns_name br)
	ip netns add "$br" || fail "ip netns add $br"
	ip -n "$br" link add br0 type bridge || fail "bridge"
	ip -n "$br" link set br0 up
	ip -n "$br" link set lo up
	for h in "$@"; do
		ns=$(ns_name "$h")
		ip netns add "$ns" || fail "ip netns add $ns"
		T_HOSTS="$T_HOSTS $h"
		ip link add "v$$$i" type veth peer name eth0 netns "$ns" || fail "veth for $h"
		ip link set "v$$$i" netns "$br"
		ip -n "$br" link set "v$$$i" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "192.0.2.$i/24" dev eth0
		ip -n "$ns" link set eth0 up
		i=$((i + 1))
	done
	# the bridge forwards at once (no STP learning delay)
	ip -n "$br" link set br0 type bridge forward_delay 0 2>/dev/null || true
}

# pair_confs SRC DST: $T_DIR/slave.conf, a sink for mirror "www" at DST
# listening on 192.0.2.12:7770, and $T_DIR/master.conf, mirror "www" at SRC
# sent there; state and control sockets in $T_DIR, plaintext (the TLS tests
# write their own).
pair_confs() {
	local node addr
	for node in slave master; do
		[ $node = slave ] && addr=192.0.2.12 || addr=192.0.2.11
		{
			printf '[node]\nname = %s\nlisten = %s:7770\n' $node $addr
			printf 'control_socket = %s/%s.sock\nstate_dir = %s/%s-state\n\n' \
				"$T_DIR" $node "$T_DIR" $node
			if [ $node = slave ]; then
				printf '[mirror www]\npath = %s\n\n' "$2"
			else
				printf '[mirror www]\npath = %s\npeer = 192.0.2.12:7770\n\n' "$1"
			fi
			printf '[security]\ninsecure_plaintext = yes\n'
		} >"$T_DIR/$node.conf"
	done
}

# fanout_slave_confs: slave1.conf and slave2.conf, one mirror www each at
# $T_DIR/slaveN/www, listening on 192.0.2.12 and .13 (the fan-out tests).
fanout_slave_confs() {
	local n
	for n in 1 2; do
		{
			printf '[node]\nname = slave%s\nlisten = 192.0.2.1%s:7770\n' $n $((n + 1))
			printf 'control_socket = %s/slave%s.sock\nstate_dir = %s/slave%s-state\n\n' \
				"$T_DIR" $n "$T_DIR" $n
			printf '[mirror www]\npath = %s/slave%s/www\n\n' "$T_DIR" $n
			printf '[security]\ninsecure_plaintext = yes\n'
		} >"$T_DIR/slave$n.conf"
	done
}

# link_down HOST / link_up HOST: cut or restore a host's cable at the bridge.
host_port() {
	local i=11 h
	for h in $T_HOSTS; do
		[ "$h" = "$1" ] && { echo "v$$$i"; return 0; }
		i=$((i + 1))
	done
}
link_down() { ip -n "$(ns_name br)" link set "$(host_port "$1")" down; }
link_up() { ip -n "$(ns_name br)" link set "$(host_port "$1")" up; }

# start_bg HOST NAME CMD...: run CMD in HOST's namespace, output to
# $T_DIR/NAME.log; the PID is stored in variable PID_NAME.
start_bg() {
	local h=$1 name=$2; shift 2
	ip netns exec "$(ns_name "$h")" "$@" >"$T_DIR/$name.log" 2>&1 &
	local pid=$!
	T_PIDS="$T_PIDS $pid"
	eval "PID_$name=$pid"
}

# proc_field PID N: field N (3 = state, 4 = parent) of /proc/PID/stat.
proc_field() {
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	set -- "$2" ${stat##*) }        # after the name, which may hold spaces
	shift $(( $1 - 2 ))
	printf '%s\n' "$1"
}

# child_of PID PARENT: PID has not ended and PARENT is its parent.
child_of() {
	local st ppid
	case $1 in ''|*[!0-9]*) return 1 ;; esac
	st=$(proc_field "$1" 3) && ppid=$(proc_field "$1" 4) || return 1
	[ "$st" != Z ] && [ "$ppid" = "$2" ]
}

# running PID: PID is a process this shell started (or adopted) and it has
# not ended.  bash reaps a background job as soon as it ends, and its PID
# may then be anybody's: kill -0 alone cannot tell, and a signal could hit
# a stranger.
running() {
	child_of "$1" "$$" && return 0
	case " $T_ADOPTED " in *" $1@"*) ;; *) return 1 ;; esac
	local rec=" $T_ADOPTED " st
	rec=${rec#* "$1"@}
	st=$(proc_field "$1" 3) && [ "$st" != Z ] && [ "$(proc_field "$1" 22)" = "${rec%% *}" ]
}
exited() { ! running "$1"; }

# adopt_pid PID: a process started for the test that is not this shell's
# child (a daemon that forked away) is stopped at the end like one; it is
# told from a later process with its PID by its start time.
adopt_pid() {
	local t
	t=$(proc_field "$1" 22) || fail "cannot adopt process $1: it is gone"
	T_ADOPTED="$T_ADOPTED $1@$t"
	T_PIDS="$T_PIDS $1"
}

# signal_pid SIGNAL PID: signal one of our processes; fail if it is not.
signal_pid() {
	running "$2" || fail "process $2 is not ours (any more) to send SIG$1"
	kill -"$1" "$2" || fail "kill -$1 $2"
}

# stop_pid PID [SIGNAL]: signal one of our processes, if it is still ours,
# and wait (bounded) for it.
stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	if running "$pid"; then
		kill -"$sig" "$pid" 2>/dev/null
		for i in $(seq 1 100); do
			running "$pid" || break
			sleep 0.05
		done
		running "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	# ended (or never ours): collect its status, at once either way
	wait "$pid" 2>/dev/null
	return 0
}

# wait_pids SECONDS WHAT PID...: wait for background jobs of this shell to
# end, at most SECONDS (then they are killed and the test fails).  Returns
# the last non-zero exit status, else 0.
wait_pids() {
	local secs=$1 what=$2 pid st rc=0; shift 2
	local end=$(( $(date +%s%N) + secs * 1000000000 ))
	for pid in "$@"; do
		while running "$pid"; do
			if [ "$(date +%s%N)" -ge "$end" ]; then
				for pid in "$@"; do stop_pid "$pid" KILL; done
				fail "timed out after ${secs}s waiting for: $what"
			fi
			sleep 0.05
		done
		wait "$pid"
		st=$?
		[ $st -eq 0 ] || rc=$st
	done
	return $rc
}

# wait_until SECONDS WHAT CMD...: poll CMD every 50 ms; fail with WHAT.
wait_until() {
	local secs=$1 what=$2; shift 2
	local end=$(( $(date +%s%N) + secs * 1000000000 ))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "timed out after ${secs}s waiting for: $what"
}

# converge_trees SRC DST LABEL SECONDS [HINT]: wait (bounded) until DST is
# strictly equal to SRC (treecmp) with no temporary file of mirrord left in
# it; on failure the first differences and HINT are printed.
converge_trees() {
	local src=$1 dst=$2 label=$3 secs=$4 hint=${5:-} t0 end
	t0=$(date +%s%N)
	end=$(( t0 + secs * 1000000000 ))
	until "$TREECMP" "$src" "$dst" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -gt "$end" ]; then
			"$TREECMP" "$src" "$dst" 2>&1 | head -n 20
			fail "$label: $dst still differs after ${secs}s${hint:+; $hint}"
		fi
		sleep 0.05
	done
	if find "$dst" -name '.mirrord.tmp.*' | grep -q .; then fail "$label: temporary files left"; fi
	pass "$label (converged in $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
}

# startup_fixture: master and slave hosts, a live pair on $M -> $S with a
# tree of 40 top directories x 100 subdirectories x 3 files (4,041
# directories: the watches take a moment to add; names around '/' in byte
# order too), the sink and a first source (source0, its PID in PREV)
# started and in sync, its tree index saved: the restart tests' start.
startup_fixture() {
	net_setup master slave
	M=$T_DIR/master/www
	S=$T_DIR/slave/www
	mkdir -p "$M" "$S"
	pair_confs "$M" "$S"
	perl -e '
		my $m = shift;
		for my $t (0 .. 39) {
			my $top = sprintf("%s/t%02d", $m, $t);
			mkdir $top or die;
			for my $s (0 .. 99) {
				mkdir "$top/s$s" or die;
				for my $f (0 .. 2) {
					open(my $h, ">", "$top/s$s/f$f") or die; print $h "$t $s $f\n"; close($h);
				}
			}
		}' "$M" || fail "making the tree"
	mkdir -p "$M/a/x" "$M/a-b" "$M/a b/c" "$M/a.d/e"
	touch "$M/a.txt" "$M/a0" "$M/a/x/y" "$M/a-b/z" "$M/a b/c/d"
	start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
	wait_port slave 192.0.2.12 7770 10
	start_bg master source0 "$MIRRORD" -f -c "$T_DIR/master.conf"
	converge_trees "$M" "$S" "initial sync" 60
	wait_until 30 "the source saves its tree index" grep -q "tree index saved" "$T_DIR/source0.log"
	PREV=$PID_source0
}

# startup_changes LOG: one process makes changes, from before the source
# starts until its start-up walk (logged in LOG) ended plus 200 more (at
# most 4,000, a few a millisecond), mostly in the last top directories of
# startup_fixture's tree (the watcher reaches them last) and deep; prints
# "during total".  Every seventh change moves a directory to another top
# directory: the one it is in (STARTUP_MOVE=dir, the default) or the one
# made last, a millisecond or two earlier (STARTUP_MOVE=made).
startup_changes() {
	perl -e '
		my ($m, $logf, $round, $move) = @ARGV;
		my ($ops, $during, $ready, $last) = (0, 0, 0, "");
		sub put { my ($p, $t) = @_; open(my $h, ">", $p) or return; print $h $t; close($h) }
		use Time::HiRes qw(sleep);
		while ($ops < 4000) {
			sleep(0.001) if $ops % 4 == 0;          # spread over the start-up
			my $t = $ops % 3 ? 39 - $ops % 5 : $ops % 40;
			my $d = sprintf("%s/t%02d/s%d", $m, $t, $ops * 7 % 100);
			my $k = $ops % 7;
			my $n = "r${round}_$ops";
			if ($k == 0) { put("$d/f" . $ops % 3, "rewritten $n\n") }
			elsif ($k == 1) { put("$d/$n", "new $n\n") }
			elsif ($k == 2) { unlink("$d/f" . $ops % 3) }
			elsif ($k == 3) { rename("$d/f" . ($ops + 1) % 3, "$d/m$n") }
			elsif ($k == 4) { mkdir("$d/n$n"); mkdir("$d/n$n/deep");
					  put("$d/n$n/deep/x", "x\n"); $last = "$d/n$n" }
			elsif ($k == 5) { my @n;
					  if (opendir(my $h, $d)) { @n = grep { /^n/ } readdir($h) }
					  if (@n) { unlink("$d/$n[0]/deep/x"); rmdir("$d/$n[0]/deep");
						    rmdir("$d/$n[0]") } }
			elsif ($move eq "made") { rename($last, "$d/dmoved$n") }
			else { rename($d, sprintf("%s/t%02d/mv%s", $m, 39 - ($ops + 1) % 5, $n)) }
			$ops++;
			if (!$ready && $ops % 10 == 0 && open(my $l, "<", $logf)) {
				local $/; my $txt = <$l>;
				$ready = $txt =~ /paths walked in/;
			}
			$during = $ops unless $ready;
			last if $ready && $ops >= $during + 200;
		}
		print "$during $ops\n";' "$M" "$T_DIR/$1.log" "$1" "${STARTUP_MOVE:-dir}"
}

# startup_round NAME SIGNAL: stop the source (PID in PREV) with SIGNAL,
# start it again as NAME while startup_changes runs, check that it walked
# with its tree index without counting the tree, and converge strictly.
startup_round() {
	local during ops pid
	stop_pid "$PREV" "$2"
	: >"$T_DIR/$1.log"
	startup_changes "$1" >"$T_DIR/$1.changes" &
	pid=$!
	T_PIDS="$T_PIDS $pid"
	start_bg master "$1" "$MIRRORD" -f -c "$T_DIR/master.conf"
	PREV=$(eval echo "\$PID_$1")
	wait_until 60 "the changes of $1 end" test -s "$T_DIR/$1.changes"
	wait "$pid" || fail "$1: the changes failed"
	read -r during ops <"$T_DIR/$1.changes"
	log "$1: $during of $ops changes made before its start-up walk ended"
	[ "$during" -ge 20 ] || fail "$1: the start-up was too quick to test ($during changes)"
	grep -q "compared with the tree index, no full reconciliation" "$T_DIR/$1.log" ||
		fail "$1: the restart did not walk with the tree index"
	grep -q "watching .*not counted: they fit" "$T_DIR/$1.log" ||
		fail "$1: the restart counted the directories again"
	converge_trees "$M" "$S" "$1: every change made during the start-up delivered" 30
	wait_until 30 "$1 saves the tree index" grep -q "tree index saved" "$T_DIR/$1.log"
}

# wait_port HOST ADDR PORT SECONDS: until a TCP listener answers.
tcp_open() { in_ns "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }
wait_port() { wait_until "$4" "$2:$3 listening in $1" tcp_open "$1" "$2" "$3"; }

# veth byte counters of HOST's eth0 (rx+tx), for bytes-on-the-wire checks.
wire_bytes() {
	in_ns "$1" cat /sys/class/net/eth0/statistics/rx_bytes /sys/class/net/eth0/statistics/tx_bytes |
		awk '{s += $1} END {print s}'
}

dump_logs() {
	local f
	for f in "$T_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f") (last 40 lines)"
		tail -n 40 "$f"
	done
}

cleanup() {
	local rc=$? pid h
	trap - EXIT INT TERM
	for pid in $T_PIDS; do stop_pid "$pid" TERM; done
	for h in $T_HOSTS br; do ip netns del "$(ns_name "$h")" 2>/dev/null; done
	if [ $rc -ne 0 ] || [ $T_FAILED -ne 0 ]; then
		dump_logs
		# T_KEEP_LOGS=DIR keeps the whole logs of a failed run there, and
		# the trees a test names in T_KEEP_TREES (DIR/master-www for
		# $T_DIR/master/www)
		if [ -n "${T_KEEP_LOGS:-}" ]; then
			mkdir -p "$T_KEEP_LOGS" && cp "$T_DIR"/*.log "$T_KEEP_LOGS"/ 2>/dev/null
			for h in ${T_KEEP_TREES:-}; do
				local rel=${h#"$T_DIR"/}
				cp -a "$h" "$T_KEEP_LOGS/${rel//\//-}" 2>/dev/null
			done
		fi
	fi
	case "$T_DIR" in */mirrord-*) rm -rf "$T_DIR" ;; esac
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# notify_hook DIR [CONF_LINES]: install $T_DIR/hook as the master's
# notification hook ([node] notify); each run leaves DIR/run.*.done with
# its stdin and sorted MIRRORD_* environment.  CONF_LINES (sed replacement
# text, "\n"-separated) are added after the notify line.
notify_hook() {
	mkdir -p "$1" || fail "cannot create $1"
	cat >"$T_DIR/hook" <<HOOK
#!/bin/sh
f=\$(mktemp $1/run.XXXXXX) || exit 1
{ cat; env | grep '^MIRRORD_' | sort; } >"\$f.tmp" && mv "\$f.tmp" "\$f.done"
rm -f "\$f"
HOOK
	chmod 755 "$T_DIR/hook" || fail "cannot make the hook executable"
	sed -i "s|^state_dir = .*|&\nnotify = $T_DIR/hook${2:+\\n$2}|" "$T_DIR/master.conf" ||
		fail "cannot add the hook to master.conf"
}
