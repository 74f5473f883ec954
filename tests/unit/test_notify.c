/* test_notify: the notification hook.  A small shell hook writes its
 * stdin and its MIRRORD_* environment into one file per run; the tests
 * count those files and read them back: once per condition, resolved
 * once, repeats, the event rate limit, the table and in-flight bounds,
 * the timeout, and the payload's fields. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "json.h"
#include "notify.h"

struct fix {
	char dir[64];
	char hook[128], slow[128];
};

static void write_script(const char *path, const char *dir, const char *pre)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s"
		"f=$(mktemp %s/ev.XXXXXX) || exit 1\n"
		"{ cat; env | grep '^MIRRORD_' | sort; echo \"ARG1=$1\"; } > \"$f.tmp\"\n"
		"mv \"$f.tmp\" \"$f\"\n", pre, dir);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	strcpy(x->dir, "/tmp/test_notify.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->hook, sizeof(x->hook), "%s/hook", x->dir);
	snprintf(x->slow, sizeof(x->slow), "%s/slow", x->dir);
	write_script(x->hook, x->dir, "");
	char pre[160];
	snprintf(pre, sizeof(pre), "sleep \"$(cat %s/slow_sec)\"\n", x->dir);
	write_script(x->slow, x->dir, pre);
	*state = x;
	return 0;
}

/* How long the slow hook sleeps (its environment is clean: a file). */
static void set_slow(const struct fix *x, const char *sec)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/slow_sec", x->dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s\n", sec);
	assert_int_equal(fclose(f), 0);
}

static int teardown(void **state)
{
	struct fix *x = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

/* The hook runs written so far, oldest first (mtime order is not fine
 * enough; the tests that read contents drain after every notification,
 * so clear_runs() between them keeps one file at a time). */
static unsigned count_runs(const struct fix *x)
{
	DIR *d = opendir(x->dir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "ev.", 3) == 0 && !strstr(e->d_name, ".tmp"))
			n++;
	closedir(d);
	return n;
}

static void clear_runs(const struct fix *x)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -f %s/ev.*", x->dir);
	assert_int_equal(system(cmd), 0);
}

/* The one run's file: the JSON line, then the environment. */
static char *read_run(const struct fix *x)
{
	DIR *d = opendir(x->dir);
	struct dirent *e;
	char path[384] = "";
	static char buf[65536];

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "ev.", 3) == 0 && !strstr(e->d_name, ".tmp"))
			snprintf(path, sizeof(path), "%s/%s", x->dir, e->d_name);
	closedir(d);
	assert_true(path[0]);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct json *run_json(const struct fix *x, char **env)
{
	char *text = read_run(x), *nl = strchr(text, '\n');

	assert_non_null(nl);
	*nl = '\0';
	*env = nl + 1;
	struct json *j = json_parse(text);
	assert_non_null(j);
	return j;
}

static void test_raise_once_resolve_once(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "node-a");
	char *env;

	assert_non_null(n);
	assert_int_equal(notify_raise(n, "lag", "www", "www is 12 s behind",
				      "{\"lag_sec\":12,\"threshold_sec\":5}"), 1);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 1);
	struct json *j = run_json(x, &env);
	assert_int_equal((int)json_num(j, "version", 0), 1);
	assert_string_equal(json_str(j, "event", ""), "lag");
	assert_string_equal(json_str(j, "state", ""), "raised");
	assert_string_equal(json_str(j, "key", ""), "www");
	assert_string_equal(json_str(j, "mirror", ""), "www");
	assert_string_equal(json_str(j, "node", ""), "node-a");
	assert_string_equal(json_str(j, "summary", ""), "www is 12 s behind");
	assert_true(json_num(j, "time", 0) > 1.6e9);
	assert_true(json_num(j, "since", 0) > 1.6e9);
	assert_int_equal((int)json_num(json_get(j, "detail"), "lag_sec", 0), 12);
	json_free(j);
	assert_non_null(strstr(env, "MIRRORD_EVENT=lag\n"));
	assert_non_null(strstr(env, "MIRRORD_STATE=raised\n"));
	assert_non_null(strstr(env, "MIRRORD_KEY=www\n"));
	assert_non_null(strstr(env, "MIRRORD_MIRROR=www\n"));
	assert_non_null(strstr(env, "MIRRORD_NODE=node-a\n"));
	assert_non_null(strstr(env, "MIRRORD_SUMMARY=www is 12 s behind\n"));
	assert_non_null(strstr(env, "ARG1=\n"));
	assert_true(notify_is_raised(n, "lag", "www"));

	/* held: nothing more */
	clear_runs(x);
	for (int i = 0; i < 5; i++)
		assert_int_equal(notify_raise(n, "lag", "www", "still", NULL), 0);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 0);

	/* cleared: resolved once */
	assert_int_equal(notify_clear(n, "lag", "www", "www caught up"), 1);
	assert_int_equal(notify_clear(n, "lag", "www", "www caught up"), 0);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 1);
	j = run_json(x, &env);
	assert_string_equal(json_str(j, "state", ""), "resolved");
	assert_string_equal(json_str(j, "summary", ""), "www caught up");
	assert_true(json_is_null(j, "detail"));
	json_free(j);
	assert_non_null(strstr(env, "MIRRORD_STATE=resolved\n"));
	assert_false(notify_is_raised(n, "lag", "www"));

	/* and it can be raised again */
	clear_runs(x);
	assert_int_equal(notify_raise(n, "lag", "www", "again", NULL), 1);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 1);
	notify_free(n);
}

static void test_clear_without_raise(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "a");

	assert_int_equal(notify_clear(n, "error", "www/sink/ENOSPC", "fine"), 0);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 0);
	notify_free(n);
}

static void test_key_mirror(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "a");
	char buf[8], *env;

	notify_key_mirror("error", "www/sink/ENOSPC", buf, sizeof(buf));
	assert_string_equal(buf, "www");
	notify_key_mirror("failover", "www/x", buf, sizeof(buf));
	assert_string_equal(buf, "");
	notify_key_mirror("lag", "averylongname", buf, sizeof(buf));
	assert_string_equal(buf, "averylo");

	assert_int_equal(notify_event(n, "failover", "vip", "now master",
				      "{\"from\":\"backup\",\"to\":\"master\"}"), 1);
	assert_true(notify_drain(n, 5000));
	struct json *j = run_json(x, &env);
	assert_string_equal(json_str(j, "state", ""), "event");
	assert_true(json_is_null(j, "mirror"));
	assert_string_equal(json_str(json_get(j, "detail"), "to", ""), "master");
	json_free(j);
	assert_non_null(strstr(env, "MIRRORD_MIRROR=\n"));
	notify_free(n);
}

static void test_repeat(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 1, "a");
	char *env;

	assert_int_equal(notify_raise(n, "watch", "www", "limit", NULL), 1);
	assert_int_equal(notify_raise(n, "watch", "www", "limit", NULL), 0);
	assert_true(notify_drain(n, 5000));
	clear_runs(x);
	usleep(1100 * 1000);
	assert_int_equal(notify_raise(n, "watch", "www", "limit still", NULL), 1);
	assert_true(notify_drain(n, 5000));
	struct json *j = run_json(x, &env);
	assert_int_equal((int)json_num(j, "repeat", 0), 1);
	assert_string_equal(json_str(j, "state", ""), "raised");
	json_free(j);
	notify_free(n);
}

static void test_event_rate_limit(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "a");
	struct notify_stats st;
	char *env;

	notify_set_rate(n, 3, 3600 * 1000);     /* no refill during the test */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 1);
		assert_true(notify_drain(n, 5000));
	}
	assert_int_equal(count_runs(x), 3);
	assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 0);
	assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 0);
	notify_stats(n, &st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.started, 3);
	/* the next one that goes out says how many were dropped */
	clear_runs(x);
	notify_set_rate(n, 3, 3600 * 1000);     /* as if it had refilled */
	assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 1);
	assert_true(notify_drain(n, 5000));
	struct json *j = run_json(x, &env);
	assert_int_equal((int)json_num(j, "suppressed", 0), 2);
	json_free(j);
	notify_free(n);
}

static void test_event_refill(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "a");

	notify_set_rate(n, 1, 200);
	assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 1);
	assert_true(notify_drain(n, 5000));
	usleep(250 * 1000);
	assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 1);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 2);
	notify_free(n);
}

static void test_raise_rate_limit(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "a");
	struct notify_stats st;
	char key[32];

	notify_set_rate(n, 3, 3600 * 1000);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		assert_int_equal(notify_raise(n, "lag", key, "behind", NULL), 1);
		assert_true(notify_drain(n, 5000));
	}
	/* the bucket is empty: the next raise waits in its row */
	assert_int_equal(notify_raise(n, "lag", "flap", "behind", NULL), 0);
	assert_true(notify_is_raised(n, "lag", "flap"));
	assert_false(notify_drain(n, 300));
	assert_int_equal(count_runs(x), 3);
	/* cleared before its turn: never notified, nothing to resolve */
	assert_int_equal(notify_clear(n, "lag", "flap", "ok"), 0);
	assert_true(notify_drain(n, 300));
	assert_int_equal(count_runs(x), 3);
	/* resolved is not rate-limited */
	assert_int_equal(notify_clear(n, "lag", "m0", "ok"), 1);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 4);
	notify_stats(n, &st);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.conditions, 2);
	/* with a token again, a pending raise goes out from notify_poll */
	assert_int_equal(notify_raise(n, "lag", "late", "behind", NULL), 0);
	notify_set_rate(n, 3, 3600 * 1000);
	assert_true(notify_drain(n, 5000));
	assert_int_equal(count_runs(x), 5);
	notify_free(n);
}

static void test_table_bound(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->slow, 5000, 0, "a");
	struct notify_stats st;
	char key[32];

	/* one token, no refill: only m0 goes out, so m255 is still pending
	 * when it is cleared however fast the hooks end */
	notify_set_rate(n, 1, 3600 * 1000);
	set_slow(x, "0");
	for (int i = 0; i < NOTIFY_CONDS_MAX; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		assert_true(notify_raise(n, "error", key, "x", NULL) >= 0);
	}
	notify_stats(n, &st);
	assert_int_equal(st.conditions, NOTIFY_CONDS_MAX);
	assert_true(st.in_flight <= NOTIFY_INFLIGHT_MAX);
	assert_int_equal(notify_raise(n, "error", "one-more", "x", NULL), -ENOSPC);
	/* a raise still pending is forgotten by a clear: nothing to resolve */
	assert_int_equal(notify_clear(n, "error", "m255", "ok"), 0);
	assert_false(notify_is_raised(n, "error", "m255"));
	assert_int_equal(notify_raise(n, "error", "one-more", "x", NULL) >= 0, 1);
	notify_stats(n, &st);
	assert_int_equal(st.dropped, 1);
	notify_free(n);
}

static void test_in_flight_bound(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->slow, 10000, 0, "a");
	struct notify_stats st;
	char key[32];

	set_slow(x, "1");
	for (int i = 0; i < NOTIFY_INFLIGHT_MAX + 2; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		assert_int_equal(notify_raise(n, "lag", key, "behind", NULL),
				 i < NOTIFY_INFLIGHT_MAX ? 1 : 0);
	}
	notify_stats(n, &st);
	assert_int_equal(st.in_flight, NOTIFY_INFLIGHT_MAX);
	/* an event finds no slot: dropped, not queued */
	assert_int_equal(notify_event(n, "restore", "m0", "done", NULL), 0);
	/* the pending raises go out from notify_poll as slots free */
	assert_true(notify_drain(n, 10000));
	assert_int_equal(count_runs(x), NOTIFY_INFLIGHT_MAX + 2);
	/* resolved also waits for a slot rather than being lost */
	for (int i = 0; i < NOTIFY_INFLIGHT_MAX + 2; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		assert_true(notify_clear(n, "lag", key, "ok") >= 0);
		assert_false(notify_is_raised(n, "lag", key));
	}
	assert_true(notify_drain(n, 10000));
	assert_int_equal(count_runs(x), 2 * (NOTIFY_INFLIGHT_MAX + 2));
	notify_stats(n, &st);
	assert_int_equal(st.conditions, 0);
	assert_int_equal(st.dropped, 1);
	notify_free(n);
}

static void test_timeout(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->slow, 200, 0, "a");
	struct notify_stats st;

	set_slow(x, "20");
	assert_int_equal(notify_event(n, "restore", "www", "done", NULL), 1);
	assert_true(notify_drain(n, 3000));
	notify_stats(n, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(count_runs(x), 0);
	notify_free(n);
}

static void test_payload_escaping(void **state)
{
	struct fix *x = *state;
	struct notify *n = notify_new(x->hook, 5000, 0, "a");
	char *env;

	/* a detail that is not a JSON object becomes null; strings are escaped */
	assert_int_equal(notify_event(n, "audit", "www/a\"b", "line1\nline2\t\"q\"",
				      "not json"), 1);
	assert_true(notify_drain(n, 5000));
	struct json *j = run_json(x, &env);
	assert_string_equal(json_str(j, "key", ""), "www/a\"b");
	assert_string_equal(json_str(j, "summary", ""), "line1\nline2\t\"q\"");
	assert_true(json_is_null(j, "detail"));
	json_free(j);
	assert_non_null(strstr(env, "MIRRORD_SUMMARY=line1 line2 \"q\"\n"));
	notify_free(n);
}

static void test_spawn_arg1(void **state)
{
	struct fix *x = *state;
	struct notify_msg m = { .kind = "failover", .state = "event", .key = "vip",
				.node = "a", .summary = "master" };
	char *env;
	int status;
	pid_t pid = notify_spawn(x->hook, "master", &m, NULL);

	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	struct json *j = run_json(x, &env);
	assert_string_equal(json_str(j, "event", ""), "failover");
	json_free(j);
	assert_non_null(strstr(env, "ARG1=master\n"));
}

static void test_null_is_noop(void **state)
{
	(void)state;
	assert_null(notify_new(NULL, 1000, 0, "a"));
	assert_int_equal(notify_raise(NULL, "lag", "www", "x", NULL), 0);
	assert_int_equal(notify_clear(NULL, "lag", "www", "x"), 0);
	assert_int_equal(notify_event(NULL, "lag", "www", "x", NULL), 0);
	notify_poll(NULL);
	assert_true(notify_drain(NULL, 10));
	notify_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raise_once_resolve_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_without_raise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_mirror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_refill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raise_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_flight_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_arg1, setup, teardown),
		cmocka_unit_test(test_null_is_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
