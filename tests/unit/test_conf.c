/* test_conf: mirrord.conf loading, checking and printing.
 *
 * Golden files live in tests/conf: NAME.conf + NAME.out (conf_print output)
 * for valid files, BAD-NAME.conf + BAD-NAME.err (the exact message, file name
 * relative to that directory) for invalid ones.  The directory is found
 * through $top_srcdir (set by "make check"), else next to the binary. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char *top_dir;	/* the source tree */
static char *conf_dir;	/* top_dir/tests/conf */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(r >= 0);
	return s;
}

/* Whole file, or NULL if it cannot be read. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int ch;

	if (!f)
		return NULL;
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	while ((ch = getc(f)) != EOF)
		fputc(ch, mem);
	assert_int_equal(ferror(f), 0);
	fclose(f);
	assert_int_equal(fclose(mem), 0);
	return buf;
}

static char *print_to_string(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	assert_non_null(mem);
	conf_print(c, mem);
	assert_int_equal(fclose(mem), 0);
	return buf;
}

/* A temporary file holding text; the caller unlinks and frees the name. */
static char *write_tmp(const char *text, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/test_conf.XXXXXX", tmp ? tmp : P_tmpdir);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

/* Load text as a file; returns conf_load's result, the message in err. */
static int load_bytes(const char *text, size_t text_len, struct conf *c,
		      char *err, size_t len)
{
	char *path = write_tmp(text, text_len);
	int r = conf_load(path, c, err, len);

	unlink(path);
	free(path);
	return r;
}

static int load_text(const char *text, struct conf *c, char *err, size_t len)
{
	return load_bytes(text, strlen(text), c, err, len);
}

static void load_ok(const char *text, struct conf *c)
{
	char err[512];
	int r = load_text(text, c, err, sizeof(err));

	if (r < 0)
		fail_msg("conf_load failed: %s", err);
}

/* Error message for text, with the temporary file name cut off. */
static void expect_error(const char *text, const char *reason)
{
	struct conf c;
	char err[512];
	const char *colon;

	assert_true(load_text(text, &c, err, sizeof(err)) < 0);
	colon = strchr(err, ':');	/* after the file name */
	assert_non_null(colon);
	assert_string_equal(colon + 1, reason);
}

static int select_conf(const struct dirent *d, int bad)
{
	size_t len = strlen(d->d_name);

	return len > 5 && !strcmp(d->d_name + len - 5, ".conf") &&
	       (strncmp(d->d_name, "BAD-", 4) == 0) == bad;
}

static int select_good(const struct dirent *d)
{
	return select_conf(d, 0);
}

static int select_bad(const struct dirent *d)
{
	return select_conf(d, 1);
}

/* The sibling of NAME.conf with another extension. */
static char *sibling(const char *name, const char *ext)
{
	return xasprintf("%s/%.*s%s", conf_dir, (int)(strlen(name) - 5), name,
			 ext);
}

static void check_round_trip(const char *printed)
{
	struct conf c;
	char *again;

	load_ok(printed, &c);
	again = print_to_string(&c);
	assert_string_equal(again, printed);
	free(again);
	conf_free(&c);
}

static void test_golden_valid(void **state)
{
	struct dirent **list;
	int n = scandir(conf_dir, &list, select_good, alphasort);

	assert_true(n >= 5);
	for (int i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", conf_dir, list[i]->d_name);
		char *out_path = sibling(list[i]->d_name, ".out");
		char *want = slurp(out_path), *got;
		struct conf c;
		char err[512];

		if (!want)
			fail_msg("%s: missing golden output", out_path);
		if (conf_load(path, &c, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		got = print_to_string(&c);
		if (strcmp(got, want))
			fail_msg("%s: conf_print differs from %s:\n%s", path,
				 out_path, got);
		check_round_trip(got);
		conf_free(&c);
		free(got);
		free(want);
		free(out_path);
		free(path);
		free(list[i]);
	}
	free(list);
}

static void test_golden_bad(void **state)
{
	struct dirent **list;
	int n = scandir(conf_dir, &list, select_bad, alphasort);

	assert_true(n >= 12);
	for (int i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", conf_dir, list[i]->d_name);
		char *err_path = sibling(list[i]->d_name, ".err");
		char *want = slurp(err_path), *full;
		struct conf c, untouched;
		char err[512];

		if (!want)
			fail_msg("%s: missing golden message", err_path);
		want[strcspn(want, "\n")] = '\0';
		full = xasprintf("%s/%s", conf_dir, want);
		memset(&c, 0xa5, sizeof(c));
		memcpy(&untouched, &c, sizeof(c));
		if (conf_load(path, &c, err, sizeof(err)) != -EINVAL)
			fail_msg("%s: loaded, or failed with another error: "
				 "%s", path, err);
		if (strcmp(err, full))
			fail_msg("%s:\n got  %s\n want %s", path, err, full);
		assert_memory_equal(&c, &untouched, sizeof(c));
		free(full);
		free(want);
		free(err_path);
		free(path);
		free(list[i]);
	}
	free(list);
}

static void test_missing_file(void **state)
{
	char *path = xasprintf("%s/no-such-file.conf", conf_dir);
	char *want = xasprintf("%s: cannot open: No such file or directory",
			       path);
	struct conf c;
	char err[512];

	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, want);
	/* a tiny or absent error buffer is not written past */
	err[0] = 'x';
	err[1] = 'y';
	assert_int_equal(conf_load(path, &c, err, 1), -ENOENT);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'y');
	assert_int_equal(conf_load(path, &c, NULL, 0), -ENOENT);
	free(want);
	free(path);
}

static void test_parse_addr(void **state)
{
	static const struct {
		const char *in;
		int rc, family;
		const char *host;
		unsigned port;
	} t[] = {
		{ "192.0.2.2", 0, AF_INET, "192.0.2.2", 7770 },
		{ "192.0.2.2:7000", 0, AF_INET, "192.0.2.2", 7000 },
		{ "0.0.0.0:1", 0, AF_INET, "0.0.0.0", 1 },
		{ "192.0.2.2:65535", 0, AF_INET, "192.0.2.2", 65535 },
		{ "[2001:db8::1]:7771", 0, AF_INET6, "2001:db8::1", 7771 },
		{ "[2001:db8::1]", 0, AF_INET6, "2001:db8::1", 7770 },
		{ "2001:db8::1", 0, AF_INET6, "2001:db8::1", 7770 },
		{ "[::]:80", 0, AF_INET6, "::", 80 },
		{ "192.0.2.2:0", -ERANGE, 0, NULL, 0 },
		{ "192.0.2.2:65536", -ERANGE, 0, NULL, 0 },
		{ "192.0.2.2:", -ERANGE, 0, NULL, 0 },
		{ "192.0.2.2:http", -ERANGE, 0, NULL, 0 },
		{ "192.0.2.2:+80", -ERANGE, 0, NULL, 0 },
		{ "192.0.2.2:80x", -ERANGE, 0, NULL, 0 },
		{ "[2001:db8::1]:99999", -ERANGE, 0, NULL, 0 },
		{ "", -EINVAL, 0, NULL, 0 },
		{ "localhost", -EINVAL, 0, NULL, 0 },
		{ "web2.example.org:7770", -EINVAL, 0, NULL, 0 },
		{ "192.0.2", -EINVAL, 0, NULL, 0 },
		{ "192.0.2.256", -EINVAL, 0, NULL, 0 },
		{ " 192.0.2.2", -EINVAL, 0, NULL, 0 },
		{ "[192.0.2.2]:80", -EINVAL, 0, NULL, 0 },
		{ "[2001:db8::1", -EINVAL, 0, NULL, 0 },
		{ "[2001:db8::1]x", -EINVAL, 0, NULL, 0 },
		{ "2001:db8::zz", -EINVAL, 0, NULL, 0 },
		{ "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd",
		  -EINVAL, 0, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct conf_addr a, untouched;
		char host[INET6_ADDRSTRLEN];
		const void *bin;
		unsigned port;
		int r;

		memset(&a, 0x5a, sizeof(a));
		untouched = a;
		r = conf_parse_addr(t[i].in, 7770, &a);
		if (r != t[i].rc)
			fail_msg("'%s': got %d, want %d", t[i].in, r, t[i].rc);
		if (r < 0) {
			assert_memory_equal(&a, &untouched, sizeof(a));
			continue;
		}
		assert_int_equal(a.ss.ss_family, t[i].family);
		if (t[i].family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&a.ss;

			assert_int_equal(a.len, sizeof(*in));
			bin = &in->sin_addr;
			port = ntohs(in->sin_port);
		} else {
			const struct sockaddr_in6 *in6 = (const void *)&a.ss;

			assert_int_equal(a.len, sizeof(*in6));
			bin = &in6->sin6_addr;
			port = ntohs(in6->sin6_port);
		}
		assert_non_null(inet_ntop(t[i].family, bin, host, sizeof(host)));
		assert_string_equal(host, t[i].host);
		assert_int_equal(port, t[i].port);
		assert_string_equal(a.text, t[i].in);
	}
}

static void test_durations(void **state)
{
	static const struct { const char *in; uint64_t sec; } ok[] = {
		{ "off", 0 }, { "OFF", 0 }, { "0", 0 }, { "90s", 90 },
		{ "30m", 1800 }, { "12h", 43200 }, { "7d", 604800 },
		{ "0d", 0 }, { "3650d", 3650ULL * 86400 },
	};
	static const char *const bad[] = {
		"7", "d", "7w", "-1d", "7 d", "1.5h", "3651d", "h7", "7dd",
		"99999999999999999999999d", "on",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *text = xasprintf("[mirror m]\npath = /m\n"
				       "keep_versions = %s\n", ok[i].in);
		struct conf c;

		load_ok(text, &c);
		assert_int_equal(c.mirrors[0].keep_versions_sec, ok[i].sec);
		conf_free(&c);
		free(text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = xasprintf("[mirror m]\npath = /m\n"
				       "keep_versions = %s\n", bad[i]);
		struct conf c;
		char err[512];

		if (load_text(text, &c, err, sizeof(err)) >= 0)
			fail_msg("keep_versions = %s accepted", bad[i]);
		assert_non_null(strstr(err, ":3: bad value for "
				       "'keep_versions' in [mirror m]: "));
		free(text);
	}
}

static void test_versions(void **state)
{
	static const char *const bad[] = {
		"[mirror m]\npath = /srv/m\nkeep_versions = 1d\nversions_dir = /srv/m/v\n",
		"[mirror m]\npath = /srv/m\nversions_dir = /srv\n",
		"[mirror a]\npath = /a\nversions_dir = /v\n[mirror b]\npath = /v/b\n",
		"[mirror a]\npath = /a\n[mirror b]\npath = /b\nversions_dir = /a/v\n",
		"[node]\nstate_dir = /a/st\n[mirror a]\npath = /a\nkeep_versions = 1d\n",
		"[node]\nstate_dir = /srv\n[mirror www]\npath = /srv/www\nkeep_versions = 1d\n",
	};
	struct conf c;
	char err[512], *dir;

	(void)state;
	load_ok("[node]\nstate_dir = /srv\n[mirror m]\npath = /srv/www\nkeep_versions = 1d\n", &c);
	conf_free(&c);                       /* /srv/m/versions: beside the tree */
	load_ok("[node]\nstate_dir = /st\n[mirror m]\npath = /m\nkeep_versions_count = 5\n"
		"keep_versions_mb = 100\n[mirror n]\npath = /n\nversions_dir = /v/n\n", &c);
	assert_true(conf_keeps_versions(&c.mirrors[0]));
	assert_false(conf_keeps_versions(&c.mirrors[1]));
	assert_int_equal(c.mirrors[0].keep_versions_count, 5);
	assert_int_equal(c.mirrors[0].keep_versions_mb, 100);
	dir = conf_versions_dir(&c, &c.mirrors[0]);
	assert_string_equal(dir, "/st/m/versions");
	free(dir);
	dir = conf_versions_dir(&c, &c.mirrors[1]);
	assert_string_equal(dir, "/v/n");
	free(dir);
	conf_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load_text(bad[i], &c, err, sizeof(err)) >= 0)
			fail_msg("accepted:\n%s", bad[i]);
		assert_non_null(strstr(err, "versions_dir"));
	}
}

static void test_durations_print(void **state)
{
	static const struct { const char *in, *out; } t[] = {
		{ "86400s", "1d" }, { "120m", "2h" }, { "61s", "61s" },
		{ "0d", "off" }, { "25h", "25h" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *text = xasprintf("[mirror m]\npath = /m\n"
				       "keep_versions = %s\n", t[i].in);
		char *want = xasprintf("\nkeep_versions = %s\n", t[i].out);
		struct conf c;
		char *out;

		load_ok(text, &c);
		out = print_to_string(&c);
		if (!strstr(out, want))
			fail_msg("%s printed as:\n%s", t[i].in, out);
		conf_free(&c);
		free(out);
		free(want);
		free(text);
	}
}

static void test_booleans(void **state)
{
	static const struct { const char *in; bool v; } t[] = {
		{ "yes", true }, { "Yes", true }, { "true", true },
		{ "on", true }, { "1", true }, { "no", false },
		{ "NO", false }, { "false", false }, { "off", false },
		{ "0", false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *text = xasprintf("[mirror m]\npath = /m\nowner = %s\n"
				       "xattrs = %s\n", t[i].in, t[i].in);
		struct conf c;

		load_ok(text, &c);
		assert_int_equal(c.mirrors[0].owner, t[i].v);
		assert_int_equal(c.mirrors[0].xattrs, t[i].v);
		assert_true(c.mirrors[0].one_fs);
		conf_free(&c);
		free(text);
	}
	expect_error("[mirror m]\npath = /m\nowner = y\n",
		     "3: bad value for 'owner' in [mirror m]: 'y' is not a "
		     "boolean (yes/no, true/false, on/off, 1/0)");
}

static void test_excludes_order(void **state)
{
	static const char *const want[] = {
		"*.swp", "/cache/", "a;b", "*.tmp", "#not-a-comment",
	};
	struct conf c;

	load_ok("[mirror m]\n"
		"exclude = *.swp\n"
		"path = /m\n"
		"  exclude = /cache/   ; trailing comment\n"
		"exclude = a;b\n"
		"\texclude = *.tmp\n"
		"exclude = #not-a-comment\n", &c);
	assert_int_equal(c.mirrors[0].n_excludes, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(c.mirrors[0].excludes[i], want[i]);
	conf_free(&c);
}

static void test_several_mirrors(void **state)
{
	static const char *const names[] = { "www", "mail", "logs" };
	const struct conf_mirror *m;
	struct conf c;

	load_ok("[mirror www]\npath = /srv/www\npeer = 192.0.2.2\n"
		"[node]\nname = x\n"
		"[mirror mail]\npath = /var/mail\ndelay_ms = 250\n"
		"[mirror logs]\npath = /var/log\npeer = 192.0.2.3:9\n", &c);
	assert_int_equal(c.n_mirrors, 3);
	for (size_t i = 0; i < 3; i++) {
		m = conf_find_mirror(&c, names[i]);
		assert_ptr_equal(m, &c.mirrors[i]);
		assert_string_equal(m->name, names[i]);
	}
	assert_string_equal(c.mirrors[1].path, "/var/mail");
	assert_int_equal(c.mirrors[1].delay_ms, 250);
	assert_int_equal(c.mirrors[0].delay_ms, 10);
	assert_true(c.mirrors[0].has_peer);
	assert_false(c.mirrors[1].has_peer);
	assert_string_equal(c.mirrors[2].peer.text, "192.0.2.3:9");
	assert_null(conf_find_mirror(&c, "nope"));
	assert_null(conf_find_mirror(&c, "ww"));
	assert_null(conf_find_mirror(NULL, "www"));
	assert_null(conf_find_mirror(&c, NULL));
	conf_free(&c);
}

static void test_defaults(void **state)
{
	char host[HOST_NAME_MAX + 1] = "";
	const struct sockaddr_in *in;
	struct conf c;

	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	load_ok("# nothing but a comment\n", &c);
	assert_string_equal(c.node_name, host);
	assert_string_equal(c.control_socket, "/run/mirrord/control.sock");
	assert_string_equal(c.state_dir, "/var/lib/mirrord");
	assert_null(c.metrics_file);
	assert_null(c.notify);
	assert_int_equal(c.notify_timeout_ms, 5000);
	assert_int_equal(c.notify_repeat_sec, 0);
	assert_int_equal(c.notify_lag_sec, 0);
	in = (const void *)&c.listen.ss;
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), CONF_DEFAULT_PORT);
	assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(c.n_mirrors, 0);
	assert_false(c.failover.enabled);
	assert_false(c.security.insecure_plaintext);
	assert_null(c.security.cert);
	assert_non_null(strstr(c.file, "test_conf."));
	conf_free(&c);
}

static void test_failover_defaults(void **state)
{
	const struct sockaddr_in *in;
	const struct conf_failover *f;
	struct conf c;

	load_ok("[failover]\ninterface = eth0\nvip = 192.0.2.100/24\n"
		"peer = 192.0.2.2\nkey_file = /k\n", &c);
	f = &c.failover;
	assert_true(f->enabled);
	assert_string_equal(f->interface, "eth0");
	assert_string_equal(f->vip, "192.0.2.100/24");
	in = (const void *)&f->peer.ss;
	assert_int_equal(ntohs(in->sin_port), CONF_HB_DEFAULT_PORT);
	in = (const void *)&f->listen.ss;
	assert_int_equal(ntohs(in->sin_port), CONF_HB_DEFAULT_PORT);
	assert_int_equal(f->priority, 100);
	assert_int_equal(f->interval_ms, 100);
	assert_int_equal(f->dead_after, 3);
	assert_int_equal(f->startup_grace_ms, 900);
	assert_int_equal(f->garp_count, 5);
	assert_int_equal(f->garp_interval_ms, 200);
	assert_int_equal(f->garp_refresh_ms, 5000);
	assert_int_equal(f->max_lag_sec, 0);
	assert_null(f->check);
	assert_int_equal(f->check_interval_ms, 1000);
	assert_int_equal(f->check_timeout_ms, 2000);
	assert_null(f->notify);
	assert_int_equal(f->notify_timeout_ms, 5000);
	assert_string_equal(f->key_file, "/k");
	assert_false(f->preempt);
	assert_true(f->realtime);
	conf_free(&c);

	load_ok("[failover]\ninterface = eth0\nvip = 192.0.2.100/24\n"
		"peer = 192.0.2.2\nkey_file = /k\nrealtime = no\n", &c);
	assert_false(c.failover.realtime);
	conf_free(&c);

	/* an explicit grace wins over the derived one */
	load_ok("[failover]\ninterface = eth0\nvip = 192.0.2.100/24\n"
		"startup_grace_ms = 7\ninterval_ms = 1000\n"
		"peer = 192.0.2.2\nkey_file = /k\n", &c);
	assert_int_equal(c.failover.startup_grace_ms, 7);
	conf_free(&c);
}

static void test_comments_and_layout(void **state)
{
	struct conf c;

	load_ok("\xef\xbb\xbf[node]   ; a comment after the header\n"
		"name = web1 ; inline comment\n"
		"  state_dir = /srv/state  \n"
		"# full-line comment\n"
		"; another one\n"
		"\n"
		"[ mirror   www ]\r\n"
		"path: /srv/www\r\n", &c);
	assert_string_equal(c.node_name, "web1");
	assert_string_equal(c.state_dir, "/srv/state");
	assert_int_equal(c.n_mirrors, 1);
	assert_string_equal(c.mirrors[0].name, "www");
	assert_string_equal(c.mirrors[0].path, "/srv/www");
	conf_free(&c);
	/* an indented key is a key, not inih's continuation of the one above */
	expect_error("[mirror m]\npath = /m\n    delya_ms = 3\n",
		     "3: unknown key 'delya_ms' in [mirror m]");
	expect_error("[Node]\n", "1: unknown section [Node]");
	expect_error("[node]\nname =\n", "2: empty value for 'name' in [node]");
}

/* inih's line buffer holds 197 bytes of text plus "\r\n\0". */
static void test_line_length(void **state)
{
	char *text = xasprintf("[mirror m]\npath = /%0*d\r\n", 197 - 8, 0);
	struct conf c;

	load_ok(text, &c);
	assert_int_equal(strlen(c.mirrors[0].path), 197 - 7);
	conf_free(&c);
	free(text);
	text = xasprintf("[mirror m]\npath = /%0*d\n", 198 - 8, 0);
	expect_error(text, "2: line is longer than 197 bytes");
	free(text);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[node]\nname = a\0b\n";
	struct conf c;
	char err[512];

	assert_int_equal(load_bytes(text, sizeof(text) - 1, &c, err,
				    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: NUL byte in line"));
}

/* The first error wins, even when inih notices it later. */
static void test_first_error(void **state)
{
	expect_error("[mirror m]\npath /m\ndelya_ms = 1\n",
		     "2: syntax error: expected 'key = value' or '[section]'");
	expect_error("[mirror m]\ndelya_ms = 1\npath /m\n",
		     "2: unknown key 'delya_ms' in [mirror m]");
}

static void test_samples(void **state)
{
	static const char *const files[] = {
		"etc/mirrord.conf", "etc/master.conf", "etc/slave.conf",
	};
	struct conf c[3];

	for (size_t i = 0; i < 3; i++) {
		char *path = xasprintf("%s/%s", top_dir, files[i]);
		char err[512];

		if (conf_load(path, &c[i], err, sizeof(err)) < 0)
			fail_msg("%s", err);
		assert_true(c[i].n_mirrors >= 1);
		free(path);
	}
	for (size_t i = 1; i < 3; i++) {
		assert_true(c[i].failover.enabled);
		assert_string_equal(c[i].failover.vip, "192.0.2.100/24");
	}
	assert_string_equal(c[1].failover.peer.text, "192.0.2.2");
	assert_string_equal(c[2].failover.peer.text, "192.0.2.1");
	assert_true(c[1].failover.priority > c[2].failover.priority);
	for (size_t i = 0; i < 3; i++)
		conf_free(&c[i]);
}

static void test_free_twice(void **state)
{
	struct conf c;

	conf_free(NULL);
	load_ok("[mirror m]\npath = /m\nexclude = x\n", &c);
	conf_free(&c);
	assert_null(c.mirrors);
	assert_int_equal(c.n_mirrors, 0);
	conf_free(&c);	/* twice is harmless */
}

/* Sets top_dir and conf_dir, or says loudly why not. */
static int find_dirs(void)
{
	const char *top = getenv("top_srcdir");
	char exe[PATH_MAX];
	ssize_t n;

	if (top && *top) {
		top_dir = xasprintf("%s", top);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0 || n >= (ssize_t)sizeof(exe) - 1)
			return -1;
		exe[n] = '\0';
		top_dir = xasprintf("%s/../..", dirname(exe));
	}
	conf_dir = xasprintf("%s/tests/conf", top_dir);
	return access(conf_dir, R_OK | X_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_valid),
		cmocka_unit_test(test_golden_bad),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_durations_print),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_excludes_order),
		cmocka_unit_test(test_several_mirrors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_failover_defaults),
		cmocka_unit_test(test_comments_and_layout),
		cmocka_unit_test(test_first_error),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_free_twice),
	};
	int r;

	if (find_dirs() < 0) {
		fprintf(stderr, "test_conf: golden files not found at %s; "
			"set top_srcdir to the source tree\n",
			conf_dir ? conf_dir : "(unknown)");
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	free(conf_dir);
	free(top_dir);
	return r;
}
