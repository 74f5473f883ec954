# t05-common.sh: shared set-up of the mirror-restore tests.  A master and a
# slave namespace, one mirror "www"; the slave's mirrord serves it (sink
# role, which also answers mirror-restore's pulls).
. "$(dirname "$0")/lib.sh"
need_root

JAPPEND="$top_builddir/tests/tools/jappend"
net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$T_DIR/slave" "$T_DIR/master-state"

pair_confs "$M" "$S"

start_slave() {
	start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
	wait_port slave 192.0.2.12 7770 10
}

# push LABEL: one-shot master -> slave, then strict comparison.
push() {
	in_ns master "$MIRRORD" -f -c "$T_DIR/master.conf" --once www \
		>>"$T_DIR/push.log" 2>&1 || { tail -n 30 "$T_DIR/push.log"; fail "$1: push failed"; }
	"$TREECMP" "$M" "$S" >"$T_DIR/cmp.log" 2>&1 || { head -n 40 "$T_DIR/cmp.log"; fail "$1: trees differ"; }
}

# restore EXPECTED_EXIT LOG [ARGS...]: run mirror-restore on the master.
restore() {
	local want=$1 out=$2 rc=0; shift 2
	in_ns master "$RESTORE" -c "$T_DIR/master.conf" "$@" >"$T_DIR/$out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || { tail -n 40 "$T_DIR/$out"; fail "mirror-restore $* exited $rc, expected $want"; }
}

same() { # same LABEL: master and slave trees identical
	"$TREECMP" "$M" "$S" >"$T_DIR/cmp.log" 2>&1 || { head -n 40 "$T_DIR/cmp.log"; fail "$1: trees differ"; }
}
