#!/bin/bash
# An interrupted initial sync resumes: a first start lists every directory
# from journal records (one per directory) after writing the tree index,
# saved as it is at the first session; a source killed (SIGKILL) partway
# through that listing, with changes made while it ran and while it was
# down (in directories listed already and in some not listed yet: files
# created, rewritten, removed, renamed, a directory renamed, one removed,
# one made; hardlinks across directories), starts again at the first
# directory the sink did not
# acknowledge, comparing the others with the index, sends well under the
# whole tree and converges to an equal tree; the next restart finds the
# index complete.
. "$(dirname "$0")/lib.sh"
need_root

net_setup master slave
M=$T_DIR/master/www
S=$T_DIR/slave/www
mkdir -p "$M" "$S"
pair_confs "$M" "$S"

converge() { converge_trees "$M" "$S" "$1" "${2:-60}"; }  # LABEL [SECONDS]
# acked: the source's journal acknowledgement (journal.ack: seq at 16, LE)
acked() {
	perl -e 'open(my $h, "<", $ARGV[0]) or exit 1; binmode $h;
		read($h, my $a, 32) == 32 or exit 1;
		print unpack("Q<", substr($a, 16, 8)), "\n"' \
		"$T_DIR/master-state/www/journal.ack" 2>/dev/null || echo 0
}
acked_ge() { [ "$(acked)" -ge "$1" ]; }

# 100 directories x 300 files of 400 bytes (12 MiB), through a 16 Mbit/s
# link: the initial sync takes several seconds
NDIR=100 NFILE=300
perl -e '
	my ($m, $nd, $nf) = @ARGV;
	for my $d (1 .. $nd) {
		mkdir "$m/d$d" or die;
		for my $f (1 .. $nf) {
			open(my $h, ">", "$m/d$d/f$f") or die;
			print $h (sprintf("%04d %04d ", $d, $f) x 40) or die;
			close($h) or die;
		}
	}' "$M" $NDIR $NFILE || fail "making the tree"
TOTAL=$(( NDIR * NFILE ))
# hardlink groups across directories: each directory is listed on its own
ln "$M/d1/f10" "$M/d99/hl-d1" && ln "$M/d50/f1" "$M/hl-root" && ln "$M/d50/f1" "$M/d2/hl-d50" ||
	fail "making the hardlinks"
in_ns master tc qdisc add dev eth0 root tbf rate 16mbit burst 32kb latency 400ms ||
	fail "tc: cannot limit the link"

start_bg slave sink "$MIRRORD" -f -c "$T_DIR/slave.conf"
wait_port slave 192.0.2.12 7770 10
start_bg master source "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "the listing's index saved at the first session" \
	grep -q "tree index of the start-up listing saved" "$T_DIR/source.log"
grep -q "tree index written, every directory to be listed" "$T_DIR/source.log" ||
	fail "the first start did not list every directory from the index walk"
if grep -q "reconciliation of '' started" "$T_DIR/source.log"; then
	fail "the first start ran a full reconciliation pass"
fi

# ---- changes while the listing runs, SIGKILL once half is acknowledged ----
# records 1..NDIR+1 are the listing's LISTDIRs, in the walk's order ("",
# d1, d10, d100, d11, ...); the sink acknowledges them once durable
wait_until 60 "a tenth of the listing acknowledged" acked_ge $(( NDIR / 10 ))
echo "rewritten during" >"$M/d1/f2"
echo "new during" >"$M/d99/new-during"
rm -f "$M/d98/f3"
mv "$M/d2/f4" "$M/d97/f4-moved"
wait_until 60 "half of the listing acknowledged" acked_ge $(( NDIR / 2 ))
stop_pid "$PID_source" KILL
ack=$(acked)
if grep -q "in sync with" "$T_DIR/source.log"; then
	fail "the listing ended before the source was killed (too quick to test)"
fi
had=$(find "$S" -type f | wc -l)
log "source killed with $had of $TOTAL files on the sink, journal acknowledged up to $ack"
[ "$had" -lt "$TOTAL" ] || fail "every file was on the sink already"
in_ns master tc qdisc del dev eth0 root || fail "tc: cannot lift the limit"

# ---- changes while down: in listed directories (d1, d10, d100) and in
# some not listed yet (d8, d9, d90..d99; the order is bytewise) ----
echo "changed while down" >"$M/d1/f1"
rm "$M/d10/f5"
mv "$M/d100/f6" "$M/d100/f6-renamed"
mv "$M/d1/f7" "$M/d95/f7-from-d1"
echo "new while down" >"$M/d99/new"
rm -r "$M/d98"
mv "$M/d97" "$M/d97-renamed"
mv "$M/d10" "$M/d9/d10-inside"
mkdir -p "$M/new/deeper" && echo x >"$M/new/deeper/x"
touch -d '2001-01-01' "$M/d8/f8"

start_bg master source2 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 60 "the restarted source in sync" grep -q "in sync with" "$T_DIR/source2.log"
grep -q "start-up: index of [0-9]* paths of an interrupted listing, resumed at journal record $(( ack + 1 )) of" \
	"$T_DIR/source2.log" || fail "the restart did not resume the listing after record $ack"
if grep -q "reconciliation of '' started\|listing every directory" "$T_DIR/source2.log"; then
	fail "the restart started the initial sync over"
fi
converge "the interrupted initial sync resumed and converged"
wait_until 30 "the index completed" grep -q "tree index saved" "$T_DIR/source2.log"
stop_pid "$PID_source2" TERM
ops=$(sed -n 's/.*session ended: \([0-9]*\) ops.*/\1/p' "$T_DIR/source2.log" | tail -n 1)
[ -n "$ops" ] || fail "no session summary from the restarted source"
log "the restarted source sent $ops operations (tree: $TOTAL files in $NDIR directories, $had were on the sink, $ack records acknowledged)"
# starting over sends every path and a DIR_DONE per directory (more than
# TOTAL + 2 x NDIR operations); resumed, about NFILE + 4 per directory not
# acknowledged, and the changes: every directory changed is listed
# (d1, d9, d95, d99, the root: NFILE each, some of them a second time), a
# directory renamed is new paths for the index, each sent and then listed
# with its directory (2 x NFILE each for d10 and d97): about 9 x NFILE
limit=$(( (NDIR + 1 - ack) * (NFILE + 6) + 12 * NFILE ))
[ "$ops" -le "$limit" ] && [ "$ops" -lt $(( TOTAL * 3 / 4 )) ] ||
	fail "the restart sent $ops operations (more than $limit): the listing was not resumed"
pass "the restart sent again only what the sink had not acknowledged"

# ---- the index is complete: a restart finds nothing to do ----
start_bg master source3 "$MIRRORD" -f -c "$T_DIR/master.conf"
wait_until 30 "the third start in sync" grep -q "in sync with" "$T_DIR/source3.log"
grep -q "start-up: index of [0-9]* paths at journal record" "$T_DIR/source3.log" ||
	fail "the index was not completed after the resumed listing"
grep -q "0 paths changed and 0 gone" "$T_DIR/source3.log" ||
	fail "a restart after the resumed listing found changes"
converge "a restart after the resumed listing"
stop_pid "$PID_source3" TERM
