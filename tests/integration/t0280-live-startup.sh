#!/bin/bash
# Start-up of a live source: changes made while the initial reconciliation
# runs are all delivered; a restart (clean, or after SIGKILL with changes
# made while it was down) compares the tree with the index of the previous
# run instead of reconciling the whole tree with the sink, and converges; a
# sink whose copy is not the one the index was acknowledged by (its state
# lost) gets a full reconciliation.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
pair_confs "$M" "$S"

converge() { # converge LABEL [SECONDS]: strict tree comparison, bounded
	local end=$(( $(date +%s%N) + ${2:-60} * 1000000000 ))
	until "$TREECMP" "$M" "$S" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -gt "$end" ]; then
			"$TREECMP" "$M" "$S" 2>&1 | head -n 20
			fail "$1: trees still differ after ${2:-60}s"
		fi
		sleep 0.1
	done
	pass "$1"
}
in_sync_count() { grep -c "in sync with" "$T_DIR/$1.log"; }

# 200 directories x 100 files: the initial reconciliation takes a while
for d in $(seq 1 200); do
	mkdir "$M/d$d"
	for f in $(seq 1 100); do echo "$d $f" >"$M/d$d/f$f"; done
done

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10

# ---- changes during the initial reconciliation ----
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 20 "the initial reconciliation starts" grep -q "reconciliation of '' started" \
	"$T_DIR/source.log"
ops=0
during=0
while [ $ops -lt 3000 ]; do
	d=$(( ops % 200 + 1 )) f=$(( ops * 7 % 100 + 1 ))
	case $(( ops % 6 )) in
	0) echo "rewritten $ops" >"$M/d$d/f$f" ;;
	1) echo "new $ops" >"$M/d$d/new$ops" ;;
	2) rm -f "$M/d$d/f$f" ;;
	3) mv "$M/d$d/f$f" "$M/d$d/moved$ops" 2>/dev/null ;;
	4) mkdir -p "$M/n$ops/sub" && echo x >"$M/n$ops/sub/x" ;;
	5) chmod 600 "$M/d$d/f$f" 2>/dev/null ;;
	esac
	ops=$((ops + 1))
	grep -q "reconciliation of '' sent" "$T_DIR/source.log" || during=$ops
	[ $during -lt $ops ] && [ $ops -ge 600 ] && break
done
log "$during of $ops changes made while the initial reconciliation was being sent"
[ "$during" -ge 100 ] || fail "the initial reconciliation was too quick to test (only $during changes during it)"
converge "changes during the initial reconciliation all delivered"
wait_until 30 "the source saves its tree index" grep -q "tree index saved" "$T_DIR/source.log"
grep -q "start-up: no index yet" "$T_DIR/source.log" || fail "first start did not say it had no index"

# ---- clean restart: the index, not the sink's tree ----
stop_pid "$PID_source" TERM
start_bg master source2 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "restarted source in sync" grep -q "in sync with" "$T_DIR/source2.log"
grep -q "compared with the tree index, no full reconciliation" "$T_DIR/source2.log" ||
	fail "clean restart did not use the tree index"
if grep -q "reconciliation of '' started" "$T_DIR/source2.log"; then
	fail "clean restart reconciled the whole tree with the sink"
fi
converge "clean restart"
pass "clean restart used the index, the sink's tree was not listed"
# the index of the first start predates the changes made during its
# reconciliation (they were sent again, as metadata checks); the second
# restart's index is current
wait_until 30 "the index saved again" grep -q "tree index saved" "$T_DIR/source2.log"
stop_pid "$PID_source2" TERM
start_bg master source2b "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "second restart in sync" grep -q "in sync with" "$T_DIR/source2b.log"
grep -q "0 paths changed and 0 gone" "$T_DIR/source2b.log" ||
	fail "a restart with nothing changed found changes"
pass "restart with nothing changed: nothing sent"

# ---- SIGKILL, changes while down ----
wait_until 30 "the index saved again" grep -q "tree index saved" "$T_DIR/source2b.log"
stop_pid "$PID_source2b" KILL
echo "while down" >"$M/d1/f50"                  # rewrite
echo "new while down" >"$M/d2/brand-new"        # create
rm -f "$M/d3/f10"                               # delete
rm -rf "$M/d4"                                  # delete a directory
mv "$M/d5" "$M/d5-renamed"                      # rename a directory
chmod 0700 "$M/d6"                              # metadata only
mkdir -p "$M/fresh/a/b" && echo deep >"$M/fresh/a/b/c"
touch -d '2001-01-01 00:00:00' "$M/d7/f7"       # mtime only
start_bg master source3 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "source in sync after SIGKILL" grep -q "in sync with" "$T_DIR/source3.log"
grep -q "compared with the tree index, no full reconciliation" "$T_DIR/source3.log" ||
	fail "restart after SIGKILL did not use the tree index"
if grep -q "reconciliation of '' started" "$T_DIR/source3.log"; then
	fail "restart after SIGKILL reconciled the whole tree"
fi
converge "changes made while the source was down (SIGKILL) delivered"

# ---- a sink that lost its state: full reconciliation ----
wait_until 30 "the index saved after SIGKILL restart" grep -q "tree index saved" "$T_DIR/source3.log"
stop_pid "$PID_source3" TERM
stop_pid "$PID_sink" TERM
rm -rf "$T_DIR/slave-state"
rm -f "$S/d8/f8"                                # the copy differs behind the source's back
start_bg slave sink2 "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source4 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "source in sync with the new sink" grep -q "in sync with" "$T_DIR/source4.log"
grep -q "not the one the tree index was made for" "$T_DIR/source4.log" ||
	fail "a sink without its state was trusted"
converge "a sink that lost its state is reconciled in full"
