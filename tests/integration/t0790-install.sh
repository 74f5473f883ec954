#!/bin/bash
# make install DESTDIR=...: binaries, units, sample configurations and man
# pages where Debian puts them; configurations never overwritten; uninstall
# removes what install put (but a configuration the admin changed).
set -u
T_NAME=$(basename "$0" .sh)
: "${top_builddir:?top_builddir must name the build tree}"
D=$(mktemp -d "${TMPDIR:-/tmp}/mirrord-$T_NAME.XXXXXX")
trap 'rm -rf "$D"' EXIT
log() { printf '%s %s: %s\n' "$(date +%H:%M:%S.%3N)" "$T_NAME" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
pass() { log "PASS: $*"; }
inst() { make -s -C "$top_builddir" "$@" DESTDIR="$D" prefix=/usr sysconfdir=/etc >"$D.log" 2>&1 ||
	{ cat "$D.log"; rm -f "$D.log"; fail "make $*"; }; rm -f "$D.log"; }

inst install
for f in usr/sbin/mirrord usr/sbin/failoverd usr/sbin/mirrorctl; do
	[ -x "$D/$f" ] || fail "$f not installed"
done
for f in usr/share/man/man8/mirrord.8 usr/share/man/man8/failoverd.8 \
	usr/share/man/man8/mirrorctl.8 usr/share/man/man5/mirrord.conf.5 \
	etc/mirrord/mirrord.conf etc/mirrord/master.conf etc/mirrord/slave.conf \
	usr/lib/systemd/system/mirrord.service usr/lib/systemd/system/failoverd.service; do
	[ -f "$D/$f" ] || fail "$f not installed"
done
a=$D/usr/lib/ocf/resource.d/mirrord/mirrord
[ -x "$a" ] || fail "OCF resource agent not installed"
sh "$a" meta-data | grep -q '<resource-agent name="mirrord"' || fail "installed OCF agent: meta-data"
pass "binaries, man pages, sample configurations and units installed"

u=$D/usr/lib/systemd/system
grep -qx 'ExecStart=/usr/sbin/mirrord' "$u/mirrord.service" || fail "mirrord.service: ExecStart"
grep -qx 'ExecStart=/usr/sbin/failoverd' "$u/failoverd.service" || fail "failoverd.service: ExecStart"
grep -qx 'Type=notify' "$u/mirrord.service" || fail "mirrord.service: Type"
grep -q '^WatchdogSec=' "$u/failoverd.service" || fail "failoverd.service: WatchdogSec"
grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_NICE CAP_IPC_LOCK' "$u/failoverd.service" ||
	fail "failoverd.service: capabilities"
if grep -q '@[a-z]*dir@' "$u/mirrord.service" "$u/failoverd.service"; then fail "unsubstituted @...@ in a unit"; fi
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (systemd, scripts/deps)"
# only syntax errors count: the DESTDIR root has no targets or man pages
systemd-analyze verify "$u/mirrord.service" "$u/failoverd.service" 2>&1 |
	grep -E 'Unknown (key|section)|Failed to parse|bad unit file|Invalid' && fail "systemd-analyze"
for m in "$D"/usr/share/man/man*/*; do
	mandoc -Tlint -Wwarning "$m" || fail "mandoc -Tlint $m"
done
"$D/usr/sbin/mirrord" -n -c "$D/etc/mirrord/mirrord.conf" || fail "sample mirrord.conf does not check"
pass "units point at /usr/sbin, parse, man pages lint clean, sample configuration checks"

echo '# changed by the admin' >>"$D/etc/mirrord/mirrord.conf"
inst install
tail -n 1 "$D/etc/mirrord/mirrord.conf" | grep -q 'changed by the admin' ||
	fail "a second install overwrote mirrord.conf"
pass "install keeps existing configurations"

inst uninstall
left=$(cd "$D" && find . -type f | sort)
[ "$left" = "./etc/mirrord/mirrord.conf" ] || fail "uninstall left: $left"
pass "uninstall removes everything but the changed configuration"
