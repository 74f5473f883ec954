#!/bin/bash
# The example notify hooks in scripts/hooks: each is run as failoverd runs
# it (state as $1, PATH only), with logger, curl and sendmail replaced by
# stubs that record what they were given.
. "$(dirname "$0")/lib.sh"
hooks="$top_srcdir/scripts/hooks"
stub="$T_DIR/bin"
mkdir -p "$stub"
for cmd in logger curl sendmail; do
	cat >"$stub/$cmd" <<STUB
#!/bin/sh
printf '%s\n' "\$@" >"$T_DIR/$cmd.args"
[ "$cmd" = sendmail ] && cat >"$T_DIR/$cmd.stdin"
exit 0
STUB
	chmod +x "$stub/$cmd"
done
run_hook() { env -i PATH="$stub:/usr/bin:/bin" "$@"; }

run_hook "$hooks/notify-log" master || fail "notify-log failed"
grep -q "failover state master" "$T_DIR/logger.args" || fail "notify-log did not log the state"
pass "notify-log logs the state"

echo "http://192.0.2.200/hook" >"$T_DIR/url"
run_hook MIRRORD_WEBHOOK_URL_FILE="$T_DIR/url" "$hooks/notify-webhook" stale ||
	fail "notify-webhook failed"
grep -q '"state":"stale"' "$T_DIR/curl.args" || fail "webhook body lacks the state"
grep -q "^http://192.0.2.200/hook$" "$T_DIR/curl.args" || fail "webhook URL not used"
pass "notify-webhook posts the state as JSON to the configured URL"

echo "ops@example.org" >"$T_DIR/to"
run_hook MIRRORD_MAIL_TO_FILE="$T_DIR/to" "$hooks/notify-mail" fault || fail "notify-mail failed"
grep -q "^To: ops@example.org" "$T_DIR/sendmail.stdin" || fail "mail recipient"
grep -q "^Subject: \[mirrord\] .* is now fault" "$T_DIR/sendmail.stdin" || fail "mail subject"
pass "notify-mail mails the state"

if run_hook "$hooks/notify-log" 2>/dev/null; then fail "a hook without a state must fail"; fi
pass "hooks refuse to run without a state"

# As notify hooks ([node] notify): the MIRRORD_* environment and the JSON
# payload on stdin (doc/notify.md), no argument.
payload='{"version":1,"event":"lag","state":"raised","key":"www","mirror":"www","node":"gw-a","summary":"mirror www is 12 s behind"}'
nenv() {
	env -i PATH="$stub:/usr/bin:/bin" MIRRORD_EVENT=lag MIRRORD_STATE=raised MIRRORD_KEY=www \
		MIRRORD_MIRROR=www MIRRORD_NODE=gw-a MIRRORD_SUMMARY="mirror www is 12 s behind" "$@"
}
printf '%s\n' "$payload" | nenv "$hooks/notify-log" || fail "notify-log as a notify hook failed"
grep -q "^gw-a: lag raised www: mirror www is 12 s behind$" "$T_DIR/logger.args" ||
	fail "notify-log did not log the notification: $(cat "$T_DIR/logger.args")"
grep -q "^daemon.warning$" "$T_DIR/logger.args" || fail "a raised condition is logged as a warning"
pass "notify-log logs a notification from its environment"

cat >"$stub/curl" <<STUB
#!/bin/sh
printf '%s\n' "\$@" >"$T_DIR/curl.args"
cat >"$T_DIR/curl.stdin"
STUB
printf '%s\n' "$payload" | nenv MIRRORD_WEBHOOK_URL_FILE="$T_DIR/url" "$hooks/notify-webhook" ||
	fail "notify-webhook as a notify hook failed"
grep -qx -- "--data-binary" "$T_DIR/curl.args" || fail "webhook does not post stdin"
[ "$(cat "$T_DIR/curl.stdin")" = "$payload" ] || fail "webhook body is not the payload"
pass "notify-webhook posts the JSON payload as it is"

printf '%s\n' "$payload" | nenv MIRRORD_MAIL_TO_FILE="$T_DIR/to" "$hooks/notify-mail" ||
	fail "notify-mail as a notify hook failed"
grep -q "^Subject: \[mirrord\] gw-a: lag raised www$" "$T_DIR/sendmail.stdin" || fail "mail subject"
grep -qF "$payload" "$T_DIR/sendmail.stdin" || fail "mail body lacks the payload"
grep -q "^mirror www is 12 s behind$" "$T_DIR/sendmail.stdin" || fail "mail body lacks the summary"
pass "notify-mail mails the summary and the payload"
