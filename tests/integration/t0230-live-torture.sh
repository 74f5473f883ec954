#!/bin/bash
# Seeded random-operation torture test: for each seed, thousands of mixed
# operations (create, overwrite, append, truncate, mkdir, rm, rm -r, rename
# of files and directories, rename over an existing file or an empty
# directory, symlink, hardlink, chmod, touch -m, xattr) run while
# mirroring; then the master goes quiet and the strict tree comparison must
# pass within a bounded wait.  The seeds run one after the other on the same
# tree; a failure names the seeds to replay, e.g.
#   T0230_SEEDS="101 202" bash t0230-live-torture.sh
# T0230_OPS sets the operations per seed.  T0230_MIX=basic leaves out rm -r,
# directory renames and hardlinks, to tell whether a failure needs them.
# With T_KEEP_LOGS=DIR a failed run leaves there the daemons' logs, ops.log
# (each operation with its time and paths; some fail, as they may) and both
# trees.
. "$(dirname "$0")/lib.sh"
need_root

SEEDS=${T0230_SEEDS:-"101 202 303"}
OPS=${T0230_OPS:-1500}
MIX=${T0230_MIX:-full}
case $MIX in full|basic) ;; *) fail "T0230_MIX=$MIX: expected full or basic" ;; esac

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S" "$T_DIR/master-state" "$T_DIR/slave-state"
pair_confs "$M" "$S"
T_KEEP_TREES="$M $S"
OPS_LOG=$T_DIR/ops.log

converge() { converge_trees "$M" "$S" "$@"; }  # LABEL SECONDS [HINT]

# Paths come from a small name space so operations collide: d0..d5 nested
# at most two deep, files f0..f9 in each.
pick_dir() {
	case $((RANDOM % 4)) in
	0) REPLY=. ;;
	1) REPLY=d$((RANDOM % 6)) ;;
	*) REPLY=d$((RANDOM % 6))/d$((RANDOM % 6)) ;;
	esac
}
pick() { pick_dir; REPLY="$REPLY/f$((RANDOM % 10))"; }

# One random operation in the current directory (the master tree).  Failures
# (a missing parent, a name that is a directory ...) are part of the game.
one_op() {
	local a b
	pick; a=$REPLY
	local n=$((RANDOM % 20))
	[ "$MIX" = basic ] && case $n in 8|11|13) n=19 ;; esac
	case $n in
	0|1|2) mkdir -p "${a%/*}" && printf '%*s' $((RANDOM % 6000)) "$RANDOM" >"$a" ;;
	3|4) printf 'line %d\n' "$RANDOM" >>"$a" ;;
	5) truncate -s $((RANDOM % 3000)) "$a" ;;
	6) pick_dir; mkdir -p "$REPLY" ;;
	7) rm -f "$a" ;;
	8) pick_dir; [ "$REPLY" != . ] && rm -rf "$REPLY" ;;
	9|10) pick; b=$REPLY; mkdir -p "${b%/*}" && mv -f "$a" "$b" ;;
	11) pick_dir; a=$REPLY; pick_dir; b=$REPLY
	    [ "$a" != . ] && [ "$b" != . ] && b=$b.m$((RANDOM % 3)) && mv -T "$a" "$b" ;;
	12) pick; b=$REPLY; ln -sfn "../t$((RANDOM % 5))" "$b" ;;
	13) pick; b=$REPLY; ln -f "$a" "$b" ;;
	14) chmod $((RANDOM % 2 ? 600 : 644)) "$a" ;;
	15) touch -m -d "@$((1000000000 + RANDOM * 1000)).$((RANDOM))" "$a" ;;
	16) setfattr -n user.t -v "$RANDOM" "$a" ;;
	17) pick_dir; [ -d "$REPLY" ] && mkdir -p "$REPLY/e$((RANDOM % 3))/f" ;;
	*) printf '%*s' $((RANDOM % 100000)) x >"$a" ;;
	esac
	echo "$EPOCHREALTIME op=$n a=$a b=${b:-} last=$REPLY" >>"$OPS_LOG"
}

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
converge "start-up" 10

[ "$MIX" = basic ] && log "T0230_MIX=basic: without rm -r, directory renames and hardlinks"
done_seeds=""
for seed in $SEEDS; do
	done_seeds="${done_seeds:+$done_seeds }$seed"
	RANDOM=$seed
	t0=$(date +%s%N)
	( cd "$M" && for _ in $(seq 1 "$OPS"); do one_op 2>/dev/null; done; true )
	log "seed $seed: $OPS operations in $(( ($(date +%s%N) - t0) / 1000000 )) ms," \
	    "$(find "$M" | wc -l) paths"
	converge "seed $seed" 20 "replay: T0230_MIX=$MIX T0230_OPS=$OPS T0230_SEEDS=\"$done_seeds\""
done

running "$PID_source" || fail "source died"
running "$PID_sink" || fail "sink died"
