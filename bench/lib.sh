# lib.sh: the set-up every benchmark shares.  Source it after the
# benchmark has read its arguments (TMPDIR may be set there), e.g.
#
#   . "$(dirname "$0")/lib.sh"     # finds the build, the test helpers, root
#   bench_need rsync lsyncd        # the tools compared against (scripts/deps)
#   bench_built "$MIRRORD" "$TREECMP"
#
# The build is top_builddir (default: the current directory when it holds
# a built mirrord, else the source tree); the sources are top_srcdir
# (default: the parent of this folder).  Everything tests/integration/lib.sh
# offers (namespaces, start_bg, stop_pid, wait_until ...) is there too.

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$bench_here/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
[ -x "$top_builddir/src/mirrord/mirrord" ] || top_builddir=$top_srcdir
. "$top_srcdir/tests/integration/lib.sh"
need_root

# bench_need COMMAND...: every tool a benchmark runs must be installed; a
# comparison that cannot be made ends the run (exit 77, not a result).
bench_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { log "$c not installed (scripts/deps)"; exit 77; }
	done
}

# bench_built PROGRAM...: every program of the build it needs was built.
bench_built() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { log "missing $b (make; make check TESTS= builds the test tools)"; exit 99; }
	done
}

# wait_for SECONDS CMD...: poll CMD every BENCH_POLL seconds (0.05); 0
# once it succeeds, 1 after SECONDS (for the benchmarks that count a
# timeout as a result instead of failing).
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep "${BENCH_POLL:-0.05}"
	done
}

# tree_bench_setup N: for the benches on a generated tree of N files in
# N/10 directories (scale.sh, resume.sh): NDIRS, BOUND (s, the longest any
# phase is waited for), enough inotify watches for two trees (the old
# limit is put back on exit), SRC on master and DST on slave, the hosts.
tree_bench_setup() {
	NDIRS=$(($1 / 10))
	BOUND=$((600 + $1 / 500))
	OLD_WATCHES=$(sysctl -n fs.inotify.max_user_watches)
	if [ "$OLD_WATCHES" -lt $((2 * NDIRS + 10000)) ]; then
		sysctl -q -w fs.inotify.max_user_watches=$((2 * NDIRS + 10000)) || exit 99
		trap 'rc=$?; sysctl -q -w fs.inotify.max_user_watches='"$OLD_WATCHES"'; (exit $rc); cleanup' EXIT
	fi
	SRC=$T_DIR/master/src
	DST=$T_DIR/slave/dst
	mkdir -p "$SRC" "$DST"
	net_setup master slave
}

# tree_generate N: N small files (65-300 bytes, seeded) in NDIRS
# directories under SRC, 1,000 directories per top directory.
tree_generate() {
	perl -e '
		my ($root, $n, $nd) = @ARGV;
		my $per = int($n / $nd);
		srand(1);
		for my $d (0 .. $nd - 1) {
			my $top = sprintf("%s/d%04d", $root, int($d / 1000));
			mkdir $top unless -d $top;
			my $dir = sprintf("%s/d%07d", $top, $d);
			mkdir $dir or die "$dir: $!";
			for my $f (0 .. $per - 1) {
				open(my $h, ">", "$dir/f$f") or die "$dir/f$f: $!";
				print $h ("x" x (64 + int(rand(236))), "\n") or die;
				close($h) or die;
			}
		}' "$SRC" "$1" "$NDIRS" || fail "generating the tree"
}

# tree_confs: mirrord's configurations for mirror m, SRC on master to DST
# on slave: plaintext on the namespaces' link, defaults otherwise (xattrs,
# owner, compression).
tree_confs() {
	local role
	for role in slave master; do
		{
			printf '[node]\nname = %s\ncontrol_socket = %s/%s.sock\nstate_dir = %s/%s-state\n' \
				"$role" "$T_DIR" "$role" "$T_DIR" "$role"
			[ $role = slave ] && printf 'listen = 192.0.2.12:7770\n'
			printf '\n[mirror m]\n'
			if [ $role = slave ]; then printf 'path = %s\n' "$DST"
			else printf 'path = %s\npeer = 192.0.2.12:7770\n' "$SRC"; fi
			printf '\n[security]\ninsecure_plaintext = yes\n'
		} >"$T_DIR/$role.conf"
	done
}

# own_fs DIR [MiB]: a file system of its own at DIR, for one host of a
# bench: a fresh ext4 image (default 2,048 MiB, sparse, an inode per
# 4 KiB) on a loop device, unmounted (lazily) and removed on exit.  On one
# machine the two namespaces otherwise share one aged file system: the
# slave's durability flushes (syncfs) would also write back the master's
# dirty pages, both sides' inode allocations would contend in the same
# block groups, and the speed of creating files would depend on what
# earlier runs deleted there.  Two real hosts have a disk each.
OWN_FS=""
own_fs() {
	local dir=$1 mib=${2:-2048} img
	bench_need mkfs.ext4
	mkdir -p "$dir" || exit 99
	img=$T_DIR/fs$(( $(echo "$OWN_FS" | wc -w) + 1 )).img
	truncate -s "${mib}M" "$img" && mkfs.ext4 -q -F -i 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$img" ||
		{ log "cannot make a file system image"; exit 99; }
	mount -o loop "$img" "$dir" || { log "cannot mount a loop device on $dir"; exit 99; }
	OWN_FS="$OWN_FS $dir"
	trap 'rc=$?; for d in $OWN_FS; do umount -l "$d" 2>/dev/null; done; (exit $rc); cleanup' EXIT
}
