/* test_alerts: mirrord's notification conditions over a real status table
 * and a hook that keeps one file per run: lag raised and resolved once
 * around the threshold, and when the mirror stops being a source; a
 * watcher's coverage; errors only once they persist; audit findings. */
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

#include <cmocka.h>

#include "alerts.h"
#include "status.h"

static char dir[64], hook[128];
static double probe_lag;
static enum status_coverage probe_cover = STATUS_COVER_FULL;

static void probe(void *ctx, struct status_source *ret)
{
	(void)ctx;
	ret->connected = false;
	ret->lag_seconds = probe_lag;
	ret->lag_entries = 3;
	ret->coverage = probe_cover;
	ret->watched_dirs = 40;
	ret->unwatched_dirs = probe_cover == STATUS_COVER_PARTIAL ? 2 : 0;
}

static int setup(void **state)
{
	static struct conf_mirror ms[2];
	static struct conf c;
	FILE *f;

	(void)state;
	strcpy(dir, "/tmp/test_alerts.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(hook, sizeof(hook), "%s/hook", dir);
	assert_non_null(f = fopen(hook, "w"));
	fprintf(f, "#!/bin/sh\nf=$(mktemp %s/ev.XXXXXX) || exit 1\n"
		"{ env | grep '^MIRRORD_' | sort; cat; } >\"$f.tmp\" && mv \"$f.tmp\" \"$f.done\"\n"
		"rm -f \"$f\"\n", dir);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(hook, 0755), 0);
	ms[0] = (struct conf_mirror){ .name = "www", .path = "/srv/www", .has_peer = true };
	snprintf(ms[0].peer.text, sizeof(ms[0].peer.text), "192.0.2.12:7770");
	ms[1] = (struct conf_mirror){ .name = "db", .path = "/srv/db" };
	c = (struct conf){ .node_name = "gw-a", .mirrors = ms, .n_mirrors = 2,
			   .notify = hook, .notify_timeout_ms = 5000, .notify_lag_sec = 2 };
	assert_int_equal(status_init(&c), 0);
	assert_int_equal(alerts_init(&c), 0);
	assert_non_null(alerts_notify());
	probe_lag = 0;
	probe_cover = STATUS_COVER_FULL;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	status_set_probe("www", NULL, NULL);
	alerts_free();
	status_free();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Hook runs with this line in their environment (e.g. "MIRRORD_STATE=raised"),
 * and another (NULL: any). */
static unsigned runs(const char *line, const char *and)
{
	DIR *d;
	struct dirent *e;
	unsigned n = 0;
	char path[384], buf[8192];

	assert_true(notify_drain(alerts_notify(), 5000));
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".done"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		size_t k = fread(buf, 1, sizeof(buf) - 1, f);
		buf[k] = '\0';
		fclose(f);
		char want[160], want2[160];
		snprintf(want, sizeof(want), "%s\n", line);
		snprintf(want2, sizeof(want2), "%s\n", and ? and : "");
		if (strstr(buf, want) && (!and || strstr(buf, want2)))
			n++;
	}
	closedir(d);
	return n;
}

static void test_lag(void **state)
{
	(void)state;
	status_set_probe("www", probe, NULL);
	alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=lag", NULL), 0);
	probe_lag = 5;
	for (int i = 0; i < 5; i++)
		alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=lag", "MIRRORD_STATE=raised"), 1);
	assert_int_equal(runs("MIRRORD_KEY=www", "MIRRORD_NODE=gw-a"), 1);
	assert_int_equal(runs("MIRRORD_SUMMARY=mirror www is 5 s behind its sink 192.0.2.12:7770 "
			      "(threshold 2 s)", NULL), 1);
	probe_lag = 1.5;        /* under the threshold: resolved once */
	for (int i = 0; i < 5; i++)
		alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=lag", "MIRRORD_STATE=resolved"), 1);
	assert_int_equal(runs("MIRRORD_EVENT=lag", "MIRRORD_STATE=raised"), 1);
}

static void test_lag_source_gone(void **state)
{
	(void)state;
	probe_lag = 60;
	status_set_probe("www", probe, NULL);
	alerts_tick();
	assert_int_equal(runs("MIRRORD_STATE=raised", NULL), 1);
	status_set_probe("www", NULL, NULL);    /* demoted, or its source stopped */
	alerts_tick();
	alerts_tick();
	assert_int_equal(runs("MIRRORD_STATE=resolved",
			      "MIRRORD_SUMMARY=mirror www is no longer a source here"), 1);
}

static void test_watch_coverage(void **state)
{
	(void)state;
	status_set_probe("www", probe, NULL);
	alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=watch", NULL), 0);
	probe_cover = STATUS_COVER_PARTIAL;     /* the watch limit was reached */
	for (int i = 0; i < 3; i++)
		alerts_tick();
	probe_cover = STATUS_COVER_NONE;        /* worse: still the same condition */
	alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=watch", "MIRRORD_STATE=raised"), 1);
	assert_int_equal(runs("MIRRORD_SUMMARY=mirror www: 2 directories are not watched, "
			      "changes below them are not followed (see the log; usually "
			      "fs.inotify.max_user_watches)", NULL), 1);
	probe_cover = STATUS_COVER_FULL;        /* retried after the limit was raised */
	alerts_tick();
	alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=watch", "MIRRORD_STATE=resolved"), 1);
	assert_int_equal(runs("MIRRORD_EVENT=watch", "MIRRORD_STATE=raised"), 1);
}

static void test_errors_need_to_persist(void **state)
{
	(void)state;
	alerts_file_error("www", "sink", "big", -EIO);          /* not watched */
	alerts_file_error("www", "sink", "big", -ENOSPC);
	alerts_file_error("www", "source", "secret", -EACCES);
	for (int i = 0; i < 3; i++)
		alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=error", NULL), 0);
	alerts_file_ok("www");          /* went through before it persisted */
	alerts_tick();
	assert_int_equal(runs("MIRRORD_EVENT=error", NULL), 0);
}

static void test_audit(void **state)
{
	(void)state;
	alerts_audit("www", "digest", "www differs from its sink", "{\"paths\":3}");
	alerts_audit("www", "digest", "www differs from its sink", "{\"paths\":4}");
	assert_int_equal(runs("MIRRORD_EVENT=audit", "MIRRORD_KEY=www/digest"), 1);
	assert_int_equal(runs("MIRRORD_MIRROR=www", "MIRRORD_STATE=raised"), 1);
	alerts_audit_clear("www", "digest", "www matches its sink");
	assert_int_equal(runs("MIRRORD_EVENT=audit", "MIRRORD_STATE=resolved"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lag_source_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_coverage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_need_to_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
