/* conf: the node's configuration file, read with libinih.
 *
 * inih splits lines into sections and "key = value" pairs and strips
 * "; comment" tails; everything else is here, driven by conf_keys[]: one row
 * per key with its type, bounds, default and place in the target struct.
 *
 * inih's handler gets no line numbers and is not called for empty sections,
 * so lines reach inih through conf_reader(), which counts them, opens
 * sections itself (recording the header's line for "missing key" errors) and
 * strips leading blanks: an indented line is never a continuation line. */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#define CONF_MAX_MIRRORS 256
#define CONF_MAX_EXCLUDES 4096
#define CONF_MIRROR_NAME_MAX 32
#define CONF_NODE_NAME_MAX 64
#define CONF_DURATION_MAX (3650ULL * 86400)	/* ten years */

enum conf_sec { SEC_NONE, SEC_NODE, SEC_MIRROR, SEC_SECURITY, SEC_FAILOVER };

static const char *const conf_sec_names[] = {
	[SEC_NONE] = "", [SEC_NODE] = "node", [SEC_MIRROR] = "mirror",
	[SEC_SECURITY] = "security", [SEC_FAILOVER] = "failover",
};

enum conf_type {
	T_STR,		/* free text, 1..max bytes */
	T_PATH,		/* absolute path, no "." or ".." components */
	T_SOCKPATH,	/* T_PATH that fits in sun_path */
	T_IFNAME,	/* network interface name */
	T_CIDR,		/* address/prefix, stored normalized */
	T_ADDR,		/* struct conf_addr; min = default port */
	T_U32,		/* uint32_t within min..max */
	T_DURATION,	/* uint64_t seconds: "7d", "12h", "30m", "90s", "off" */
	T_BOOL,
	T_LIST,		/* char ** appended to; aux = offset of the count */
	T_SIZE,		/* uint64_t bytes: "10M", "512K", "1G", "4096", "off" = 0 */
	T_WINDOW,	/* "HH:MM-HH:MM" into two uint32_t minutes (aux = the
			 * end's offset); "always" = from == to */
	T_SAMPLE,	/* "5%" into uint32_t ppm, or a T_SIZE into the
			 * uint64_t at aux (ppm 0) */
};

#define F_REQUIRED 1u	/* must appear in its section */
#define F_REPEAT 2u	/* may appear more than once */
#define F_HAS 4u	/* optional T_ADDR: aux = offset of its has_ flag */
#define F_COMPUTED 8u	/* default derived from other keys at section end */

struct conf_key {
	enum conf_sec sec;
	const char *name;
	enum conf_type type;
	uint64_t min, max;
	const char *def;	/* parsed like a value at section start; NULL: unset */
	size_t off;		/* into struct conf, conf_mirror, conf_security or
				 * conf_failover, after sec */
	size_t aux;
	unsigned flags;
};

#define N_(s, k, t, lo, hi, d, f) { SEC_NODE, k, t, lo, hi, d, \
	offsetof(struct conf, s), 0, f }
#define M_(s, k, t, lo, hi, d, aux, f) { SEC_MIRROR, k, t, lo, hi, d, \
	offsetof(struct conf_mirror, s), aux, f }
#define S_(s, k, t, lo, hi, d, f) { SEC_SECURITY, k, t, lo, hi, d, \
	offsetof(struct conf_security, s), 0, f }
#define F_(s, k, t, lo, hi, d, f) { SEC_FAILOVER, k, t, lo, hi, d, \
	offsetof(struct conf_failover, s), 0, f }

static const struct conf_key conf_keys[] = {
	N_(node_name, "name", T_STR, 1, CONF_NODE_NAME_MAX, NULL, F_COMPUTED),
	N_(control_socket, "control_socket", T_SOCKPATH, 0, 0,
	   "/run/mirrord/control.sock", 0),
	N_(state_dir, "state_dir", T_PATH, 0, 0, "/var/lib/mirrord", 0),
	N_(listen, "listen", T_ADDR, CONF_DEFAULT_PORT, 0, "0.0.0.0", 0),
	N_(metrics_file, "metrics_file", T_PATH, 0, 0, NULL, 0),
	N_(notify, "notify", T_PATH, 0, 0, NULL, 0),
	N_(notify_timeout_ms, "notify_timeout_ms", T_U32, 100, 600000, "5000", 0),
	N_(notify_repeat_sec, "notify_repeat_sec", T_U32, 0, 604800, "0", 0),
	N_(notify_lag_sec, "notify_lag_sec", T_U32, 0, 86400, "0", 0),

	M_(path, "path", T_PATH, 0, 0, NULL, 0, F_REQUIRED),
	M_(peer, "peer", T_ADDR, CONF_DEFAULT_PORT, 0, NULL,
	   offsetof(struct conf_mirror, has_peer), F_HAS | F_REPEAT),
	M_(journal_max, "journal_max", T_U32, 1, 2000000000, "1000000", 0, 0),
	M_(excludes, "exclude", T_LIST, 1, CONF_MAX_EXCLUDES, NULL,
	   offsetof(struct conf_mirror, n_excludes), F_REPEAT),
	M_(delay_ms, "delay_ms", T_U32, 0, 60000, "10", 0, 0),
	M_(append_interval_ms, "append_interval_ms", T_U32, 10, 600000, "500",
	   0, 0),
	M_(keep_versions_sec, "keep_versions", T_DURATION, 0,
	   CONF_DURATION_MAX, "off", 0, 0),
	M_(keep_versions_count, "keep_versions_count", T_U32, 0, 1000000, "0", 0, 0),
	M_(keep_versions_mb, "keep_versions_mb", T_U32, 0, 1u << 30, "0", 0, 0),
	M_(versions_dir, "versions_dir", T_PATH, 0, 0, NULL, 0, 0),
	M_(one_fs, "one_fs", T_BOOL, 0, 0, "yes", 0, 0),
	M_(xattrs, "xattrs", T_BOOL, 0, 0, "yes", 0, 0),
	M_(owner, "owner", T_BOOL, 0, 0, "yes", 0, 0),
	M_(audit_interval_sec, "audit_interval", T_DURATION, 0, CONF_DURATION_MAX, "off", 0, 0),
	M_(audit_window_from, "audit_window", T_WINDOW, 0, 0, "always",
	   offsetof(struct conf_mirror, audit_window_to), 0),
	M_(audit_rate, "audit_rate", T_SIZE, 0, UINT64_MAX / 2, "10M", 0, 0),
	M_(audit_sample_ppm, "audit_sample", T_SAMPLE, 0, UINT64_MAX / 2, "1%",
	   offsetof(struct conf_mirror, audit_sample_bytes), 0),
	M_(audit_repair, "audit_repair", T_BOOL, 0, 0, "no", 0, 0),

	S_(cert, "cert", T_PATH, 0, 0, NULL, 0),
	S_(key, "key", T_PATH, 0, 0, NULL, 0),
	S_(ca, "ca", T_PATH, 0, 0, NULL, 0),
	S_(peer_name, "peer_name", T_STR, 1, 255, NULL, 0),
	S_(psk_file, "psk_file", T_PATH, 0, 0, NULL, 0),
	S_(insecure_plaintext, "insecure_plaintext", T_BOOL, 0, 0, "no", 0),

	F_(interface, "interface", T_IFNAME, 0, 0, NULL, F_REQUIRED),
	F_(vip, "vip", T_CIDR, 0, 0, NULL, F_REQUIRED),
	F_(peer, "peer", T_ADDR, CONF_HB_DEFAULT_PORT, 0, NULL, F_REQUIRED),
	F_(listen, "listen", T_ADDR, CONF_HB_DEFAULT_PORT, 0, "0.0.0.0", 0),
	F_(priority, "priority", T_U32, 1, 254, "100", 0),
	F_(interval_ms, "interval_ms", T_U32, 10, 10000, "100", 0),
	F_(dead_after, "dead_after", T_U32, 2, 100, "3", 0),
	F_(startup_grace_ms, "startup_grace_ms", T_U32, 0, 3600000, NULL,
	   F_COMPUTED),
	F_(garp_count, "garp_count", T_U32, 0, 100, "5", 0),
	F_(garp_interval_ms, "garp_interval_ms", T_U32, 10, 10000, "200", 0),
	F_(garp_refresh_ms, "garp_refresh_ms", T_U32, 0, 3600000, "5000", 0),
	F_(max_lag_sec, "max_lag_sec", T_U32, 0, 86400, "0", 0),
	F_(check, "check", T_PATH, 0, 0, NULL, 0),
	F_(check_interval_ms, "check_interval_ms", T_U32, 100, 3600000, "1000",
	   0),
	F_(check_timeout_ms, "check_timeout_ms", T_U32, 10, 600000, "2000", 0),
	F_(notify, "notify", T_PATH, 0, 0, NULL, 0),
	F_(notify_timeout_ms, "notify_timeout_ms", T_U32, 100, 600000, "5000",
	   0),
	F_(key_file, "key_file", T_PATH, 0, 0, NULL, F_REQUIRED),
	F_(preempt, "preempt", T_BOOL, 0, 0, "no", 0),
	F_(realtime, "realtime", T_BOOL, 0, 0, "yes", 0),
};

#define N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))
_Static_assert(N_KEYS <= 64, "the seen mask is a uint64_t");

/* State of one conf_load(). */
struct parse {
	struct conf *c;
	const char *file;
	FILE *fp;
	char *line;		/* getline buffer */
	size_t line_cap;
	int lineno;
	int err_line;		/* line of the first error */
	enum conf_sec sec;	/* section being read */
	int sec_line;		/* line of its header */
	uint64_t seen;		/* bit i: conf_keys[i] given in this section */
	bool had_node, had_security;
	char *err;
	size_t err_len;
	int rc;			/* first error, 0 while none */
};

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

static const void *cfield(const void *base, size_t off)
{
	return (const char *)base + off;
}

/* Record the first error as "FILE:LINE: reason" (no LINE when line is 0). */
__attribute__((format(printf, 4, 5)))
static int parse_fail(struct parse *p, int line, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->rc)
		return p->rc;
	p->rc = rc;
	p->err_line = line;
	if (!p->err || !p->err_len)
		return rc;
	if (line > 0)
		n = snprintf(p->err, p->err_len, "%s:%d: ", p->file, line);
	else
		n = snprintf(p->err, p->err_len, "%s: ", p->file);
	if (n < 0 || (size_t)n >= p->err_len)
		return rc;	/* truncated: the caller's buffer is too small */
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->err_len - n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Base struct of the section being read. */
static void *sec_base(struct parse *p)
{
	switch (p->sec) {
	case SEC_NODE:
		return p->c;
	case SEC_MIRROR:
		return &p->c->mirrors[p->c->n_mirrors - 1];
	case SEC_SECURITY:
		return &p->c->security;
	case SEC_FAILOVER:
		return &p->c->failover;
	default:
		return NULL;
	}
}

/* "node" or "mirror www", for messages. */
static const char *sec_label(const struct parse *p, char *buf, size_t len)
{
	const char *name = "";

	if (p->sec == SEC_MIRROR)
		name = p->c->mirrors[p->c->n_mirrors - 1].name;
	snprintf(buf, len, "%s%s%s", conf_sec_names[p->sec],
		 *name ? " " : "", name);
	return buf;
}

/* ---- value parsers: 0, or a negative errno with the reason in why ---- */

static int parse_uint(const char *v, uint64_t *ret)
{
	unsigned long long n;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = n;
	return 0;
}

static int parse_u32(const struct conf_key *k, const char *v, void *dst,
		     char *why, size_t wl)
{
	uint64_t n;
	int r = parse_uint(v, &n);

	if (r == -EINVAL) {
		snprintf(why, wl, "'%s' is not a number", v);
		return r;
	}
	if (r < 0 || n < k->min || n > k->max) {
		snprintf(why, wl, "%s is out of range %llu..%llu", v,
			 (unsigned long long)k->min,
			 (unsigned long long)k->max);
		return -ERANGE;
	}
	*(uint32_t *)dst = (uint32_t)n;
	return 0;
}

static const struct { char unit; uint64_t sec; } conf_units[] = {
	{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
};

static int duration_unit(char u, uint64_t *ret)
{
	for (size_t i = 0; i < sizeof(conf_units) / sizeof(conf_units[0]); i++) {
		if (conf_units[i].unit == u) {
			*ret = conf_units[i].sec;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_duration(const struct conf_key *k, const char *v, void *dst,
			  char *why, size_t wl)
{
	size_t len = strlen(v);
	uint64_t n = 0, mul = 1;
	char *num;
	int r;

	if (!strcasecmp(v, "off") || !strcmp(v, "0")) {
		*(uint64_t *)dst = 0;
		return 0;
	}
	if (len < 2 || duration_unit(v[len - 1], &mul) < 0) {
		snprintf(why, wl, "'%s' is not a duration (e.g. 7d, 12h, 30m, "
			 "90s, or off)", v);
		return -EINVAL;
	}
	num = strndup(v, len - 1);
	if (!num)
		return -ENOMEM;
	r = parse_uint(num, &n);
	free(num);
	if (r == -EINVAL) {
		snprintf(why, wl, "'%s' is not a duration (e.g. 7d, 12h, 30m, "
			 "90s, or off)", v);
		return r;
	}
	if (r < 0 || n > k->max / mul || n * mul < k->min) {
		snprintf(why, wl, "%s is out of range (at most %llud)", v,
			 (unsigned long long)(k->max / 86400));
		return -ERANGE;
	}
	*(uint64_t *)dst = n * mul;
	return 0;
}

static int parse_bool(const struct conf_key *k, const char *v, void *dst,
		      char *why, size_t wl)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
			*(bool *)dst = !strcasecmp(v, yes[i]);
			return 0;
		}
	}
	snprintf(why, wl, "'%s' is not a boolean (yes/no, true/false, on/off, "
		 "1/0)", v);
	return -EINVAL;
}

static int parse_addr(const struct conf_key *k, const char *v, void *dst,
		      char *why, size_t wl)
{
	int r = conf_parse_addr(v, (uint16_t)k->min, dst);

	if (r == -ERANGE)
		snprintf(why, wl, "'%s' has a bad port (1..65535)", v);
	else if (r < 0)
		snprintf(why, wl, "'%s' is not a numeric address "
			 "(IPv4[:PORT] or [IPv6]:PORT; names are not resolved)",
			 v);
	return r;
}

static int set_string(void *dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*(char **)dst);
	*(char **)dst = s;
	return 0;
}

/* Absolute, no "." or ".." component; trailing slashes are dropped. */
static int parse_path(const struct conf_key *k, const char *v, void *dst,
		      char *why, size_t wl)
{
	size_t len = strlen(v);
	int r;

	if (v[0] != '/') {
		snprintf(why, wl, "'%s' is not an absolute path", v);
		return -EINVAL;
	}
	if (strstr(v, "/./") || strstr(v, "/../") ||
	    (len >= 2 && !strcmp(v + len - 2, "/.")) ||
	    (len >= 3 && !strcmp(v + len - 3, "/.."))) {
		snprintf(why, wl, "'%s' has a '.' or '..' component", v);
		return -EINVAL;
	}
	if (k->type == T_SOCKPATH &&
	    len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(why, wl, "socket path is longer than %zu bytes",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	r = set_string(dst, v);
	if (r < 0)
		return r;
	for (char *s = *(char **)dst; len > 1 && s[len - 1] == '/'; len--)
		s[len - 1] = '\0';
	return 0;
}

static int parse_str(const struct conf_key *k, const char *v, void *dst,
		     char *why, size_t wl)
{
	if (strlen(v) > k->max) {
		snprintf(why, wl, "longer than %llu bytes",
			 (unsigned long long)k->max);
		return -EINVAL;
	}
	return set_string(dst, v);
}

/* Linux's rules (dev_valid_name): < IFNAMSIZ, no '/', ':' or blank. */
static int parse_ifname(const struct conf_key *k, const char *v, void *dst,
			char *why, size_t wl)
{
	if (strlen(v) >= IFNAMSIZ || !strcmp(v, ".") || !strcmp(v, "..") ||
	    strpbrk(v, "/: \t")) {
		snprintf(why, wl, "'%s' is not an interface name", v);
		return -EINVAL;
	}
	return set_string(dst, v);
}

/* "ADDRESS/PREFIX", stored in inet_ntop's spelling. */
static int parse_cidr(const struct conf_key *k, const char *v, void *dst,
		      char *why, size_t wl)
{
	char host[INET6_ADDRSTRLEN], out[INET6_ADDRSTRLEN + 8];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *slash = strchr(v, '/');
	int af = strchr(v, ':') ? AF_INET6 : AF_INET;
	uint64_t prefix;

	snprintf(why, wl, "'%s' is not ADDRESS/PREFIX (e.g. 192.0.2.100/24)",
		 v);
	if (!slash || (size_t)(slash - v) >= sizeof(host))
		return -EINVAL;
	memcpy(host, v, slash - v);
	host[slash - v] = '\0';
	if (inet_pton(af, host, bin) != 1 || parse_uint(slash + 1, &prefix))
		return -EINVAL;
	if (prefix < 1 || prefix > (af == AF_INET ? 32u : 128u)) {
		snprintf(why, wl, "prefix length of '%s' is out of range 1..%u",
			 v, af == AF_INET ? 32u : 128u);
		return -ERANGE;
	}
	if (!inet_ntop(af, bin, host, sizeof(host)))
		return -errno;
	snprintf(out, sizeof(out), "%s/%u", host, (unsigned)prefix);
	return set_string(dst, out);
}

static int parse_list(const struct conf_key *k, const char *v, void *dst,
		      size_t *count, char *why, size_t wl)
{
	char ***list = dst;
	char **grown;

	if (*count >= k->max) {
		snprintf(why, wl, "more than %llu entries",
			 (unsigned long long)k->max);
		return -E2BIG;
	}
	grown = realloc(*list, (*count + 1) * sizeof(**list));
	if (!grown)
		return -ENOMEM;
	*list = grown;
	grown[*count] = strdup(v);
	if (!grown[*count])
		return -ENOMEM;
	(*count)++;
	return 0;
}

/* "peer =" again in a mirror (fan-out): one more sink, each address once. */
static int parse_more_peer(const struct conf_key *k, void *base, const char *v,
			   char *why, size_t wl)
{
	struct conf_mirror *m = base;
	struct conf_addr a;
	int r;

	if (m->n_more_peers == CONF_MAX_PEERS - 1) {
		snprintf(why, wl, "more than %d peers", CONF_MAX_PEERS);
		return -E2BIG;
	}
	memset(&a, 0, sizeof(a));
	if ((r = parse_addr(k, v, &a, why, wl)) < 0)
		return r;
	for (size_t i = 0; i <= m->n_more_peers; i++) {
		const struct conf_addr *o = i == 0 ? &m->peer : &m->more_peers[i - 1];
		if (o->len == a.len && memcmp(&o->ss, &a.ss, a.len) == 0) {
			snprintf(why, wl, "'%s' is already a peer of this mirror", v);
			return -EINVAL;
		}
	}
	m->more_peers[m->n_more_peers++] = a;
	return 0;
}

/* "10M" and the like (powers of 1024), or "off" / "0". */
static int size_value(const char *v, uint64_t max, uint64_t *ret)
{
	static const char units[] = "KMGT";
	size_t len = strlen(v);
	uint64_t n, mul = 1;
	const char *u = len ? strchr(units, toupper((unsigned char)v[len - 1])) : NULL;
	char *num;
	int r;

	if (!strcasecmp(v, "off")) {
		*ret = 0;
		return 0;
	}
	if (u && *u) {
		for (const char *q = units; q <= u; q++)
			mul *= 1024;
		len--;
	}
	if (!(num = strndup(v, len)))
		return -ENOMEM;
	r = parse_uint(num, &n);
	free(num);
	if (r < 0)
		return r;
	if (n > max / mul)
		return -ERANGE;
	*ret = n * mul;
	return 0;
}

static int parse_size(const struct conf_key *k, const char *v, void *dst, char *why, size_t wl)
{
	int r = size_value(v, k->max, dst);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		snprintf(why, wl, "'%s' is not a size (e.g. 10M, 512K, 1G, 4096, or off)", v);
	return r;
}

static int parse_window(const struct conf_key *k, const char *v, void *base, char *why,
			size_t wl)
{
	unsigned h1, m1, h2, m2;
	int end = 0;

	if (!strcasecmp(v, "always")) {
		*(uint32_t *)field(base, k->off) = 0;
		*(uint32_t *)field(base, k->aux) = 0;
		return 0;
	}
	if (sscanf(v, "%2u:%2u-%2u:%2u%n", &h1, &m1, &h2, &m2, &end) != 4 || v[end] ||
	    h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59 || (h1 == 24 && m1) || (h2 == 24 && m2)) {
		snprintf(why, wl, "'%s' is not a time window (HH:MM-HH:MM, or always)", v);
		return -EINVAL;
	}
	*(uint32_t *)field(base, k->off) = (h1 * 60 + m1) % 1440;
	*(uint32_t *)field(base, k->aux) = (h2 * 60 + m2) % 1440;
	return 0;
}

static int parse_sample(const struct conf_key *k, const char *v, void *base, char *why,
			size_t wl)
{
	size_t len = strlen(v);
	char *end;

	if (len > 1 && v[len - 1] == '%') {
		errno = 0;
		double f = strtod(v, &end);
		if (errno || end != v + len - 1 || !(f > 0) || f > 100 ||
		    !isdigit((unsigned char)v[0])) {
			snprintf(why, wl, "'%s' is not a percentage (0.0001%%..100%%)", v);
			return -EINVAL;
		}
		uint32_t ppm = (uint32_t)(f * 10000 + 0.5);
		*(uint32_t *)field(base, k->off) = ppm ? ppm : 1;
		*(uint64_t *)field(base, k->aux) = 0;
		return 0;
	}
	int r = parse_size(k, v, field(base, k->aux), why, wl);
	if (r == 0 && *(uint64_t *)field(base, k->aux) == 0) {
		snprintf(why, wl, "'%s': a sample of nothing (give a size or a percentage)", v);
		return -ERANGE;
	}
	if (r == 0)
		*(uint32_t *)field(base, k->off) = 0;
	return r;
}

/* Parse v into the row's field of base. */
static int key_parse(const struct conf_key *k, void *base, const char *v,
		     char *why, size_t wl)
{
	void *dst = field(base, k->off);
	int r;

	switch (k->type) {
	case T_STR:
		return parse_str(k, v, dst, why, wl);
	case T_PATH:
	case T_SOCKPATH:
		return parse_path(k, v, dst, why, wl);
	case T_IFNAME:
		return parse_ifname(k, v, dst, why, wl);
	case T_CIDR:
		return parse_cidr(k, v, dst, why, wl);
	case T_ADDR:
		if ((k->flags & F_REPEAT) && *(bool *)field(base, k->aux))
			return parse_more_peer(k, base, v, why, wl);
		r = parse_addr(k, v, dst, why, wl);
		if (r == 0 && (k->flags & F_HAS))
			*(bool *)field(base, k->aux) = true;
		return r;
	case T_U32:
		return parse_u32(k, v, dst, why, wl);
	case T_DURATION:
		return parse_duration(k, v, dst, why, wl);
	case T_BOOL:
		return parse_bool(k, v, dst, why, wl);
	case T_LIST:
		return parse_list(k, v, dst, field(base, k->aux), why, wl);
	case T_SIZE:
		return parse_size(k, v, dst, why, wl);
	case T_WINDOW:
		return parse_window(k, v, base, why, wl);
	case T_SAMPLE:
		return parse_sample(k, v, base, why, wl);
	}
	return -EINVAL;
}

/* An empty value unsets an optional key that has no default. */
static int key_unset(const struct conf_key *k, void *base)
{
	bool addr = k->type == T_ADDR && (k->flags & F_HAS);

	if (k->def || (k->flags & (F_REQUIRED | F_COMPUTED)) || ((k->flags & F_REPEAT) && !addr))
		return -EINVAL;
	switch (k->type) {
	case T_STR:
	case T_PATH:
	case T_SOCKPATH:
		free(*(char **)field(base, k->off));
		*(char **)field(base, k->off) = NULL;
		return 0;
	case T_ADDR:
		if (!(k->flags & F_HAS))
			return -EINVAL;
		*(bool *)field(base, k->aux) = false;
		if (k->flags & F_REPEAT)        /* only "peer" repeats */
			((struct conf_mirror *)base)->n_more_peers = 0;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool is_string(enum conf_type t)
{
	return t == T_STR || t == T_PATH || t == T_SOCKPATH ||
	       t == T_IFNAME || t == T_CIDR;
}

static void sec_free(enum conf_sec sec, void *base)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		char **s = field(base, k->off);

		if (k->sec != sec)
			continue;
		if (k->type == T_LIST) {
			size_t *count = field(base, k->aux);

			for (size_t j = 0; j < *count; j++)
				free((*(char ***)s)[j]);
			free(*(char ***)s);
			*(char ***)s = NULL;
			*count = 0;
		} else if (is_string(k->type)) {
			free(*s);
			*s = NULL;
		}
	}
}

static int sec_defaults(struct parse *p, enum conf_sec sec, void *base)
{
	char why[128];

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		int r;

		if (k->sec != sec || !k->def)
			continue;
		r = key_parse(k, base, k->def, why, sizeof(why));
		if (r < 0)
			return parse_fail(p, 0, r, "default of '%s': %s",
					  k->name, why);
	}
	return 0;
}

/* ---- sections ---- */

static bool name_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-") == len;
}

static bool paths_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;

	if (strncmp(a, b, n))
		return false;
	/* equal, or the shorter one is a parent ("/" is everyone's) */
	return la == lb || n == 1 || (la < lb ? b[n] : a[n]) == '/';
}

/* A versions directory lies outside every mirror's tree, and no tree in it. */
static int versions_close(struct parse *p, const struct conf_mirror *m)
{
	const struct conf *c = p->c;

	for (size_t i = 0; i < c->n_mirrors; i++) {
		const struct conf_mirror *o = &c->mirrors[i];
		const char *vd = o == m ? NULL : o->versions_dir;
		if (m->versions_dir && paths_overlap(m->versions_dir, o->path))
			return parse_fail(p, p->sec_line, -EINVAL,
					  "versions_dir '%s' of [mirror %s] overlaps "
					  "path '%s' of [mirror %s]", m->versions_dir,
					  m->name, o->path, o->name);
		if (vd && paths_overlap(vd, m->path))
			return parse_fail(p, p->sec_line, -EINVAL,
					  "path '%s' of [mirror %s] overlaps "
					  "versions_dir '%s' of [mirror %s]", m->path,
					  m->name, vd, o->name);
	}
	return 0;
}

static int mirror_close(struct parse *p)
{
	struct conf *c = p->c;
	const struct conf_mirror *m = &c->mirrors[c->n_mirrors - 1];

	if (versions_close(p, m) < 0)
		return -EINVAL;

	for (size_t i = 0; i + 1 < c->n_mirrors; i++) {
		if (paths_overlap(c->mirrors[i].path, m->path))
			return parse_fail(p, p->sec_line, -EINVAL,
					  "path '%s' of [mirror %s] overlaps "
					  "path '%s' of [mirror %s]", m->path,
					  m->name, c->mirrors[i].path,
					  c->mirrors[i].name);
	}
	return 0;
}

static int security_close(struct parse *p)
{
	const struct conf_security *s = &p->c->security;

	if (!s->cert != !s->key)
		return parse_fail(p, p->sec_line, -EINVAL,
				  "[security] needs both 'cert' and 'key'");
	if (s->cert && !s->ca)
		return parse_fail(p, p->sec_line, -EINVAL,
				  "[security] 'cert' needs 'ca' to check "
				  "the peer");
	if (s->cert && s->psk_file)
		return parse_fail(p, p->sec_line, -EINVAL,
				  "[security] takes 'cert' or 'psk_file', "
				  "not both");
	if (!s->cert && (s->ca || s->peer_name))
		return parse_fail(p, p->sec_line, -EINVAL,
				  "[security] 'ca' and 'peer_name' need 'cert'");
	if (s->insecure_plaintext && (s->cert || s->psk_file))
		return parse_fail(p, p->sec_line, -EINVAL,
				  "[security] 'insecure_plaintext = yes' contradicts "
				  "'cert' and 'psk_file'");
	return 0;
}

static uint64_t key_bit(enum conf_sec sec, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (conf_keys[i].sec == sec && !strcmp(conf_keys[i].name, name))
			return 1ULL << i;
	return 0;
}

/* Derived defaults, and a heartbeat socket that can reach its peer. */
static int failover_close(struct parse *p)
{
	struct conf_failover *f = &p->c->failover;
	uint64_t grace = 3ULL * f->dead_after * f->interval_ms;
	const struct conf_key *listen = NULL;
	char why[160];

	if (!(p->seen & key_bit(SEC_FAILOVER, "startup_grace_ms")))
		f->startup_grace_ms = (uint32_t)grace;	/* <= 3 * 100 * 10000 */
	if (f->peer.ss.ss_family == f->listen.ss.ss_family)
		return 0;
	if (p->seen & key_bit(SEC_FAILOVER, "listen"))
		return parse_fail(p, p->sec_line, -EINVAL,
				  "[failover] 'listen' and 'peer' are not of "
				  "the same address family");
	for (size_t i = 0; i < N_KEYS && !listen; i++)
		if (conf_keys[i].sec == SEC_FAILOVER &&
		    !strcmp(conf_keys[i].name, "listen"))
			listen = &conf_keys[i];
	/* the default listen address follows the peer's family */
	if (key_parse(listen, f, "::", why, sizeof(why)) < 0)
		return parse_fail(p, p->sec_line, -EINVAL, "%s", why);
	return 0;
}

static int sec_close(struct parse *p)
{
	char label[64];

	for (size_t i = 0; i < N_KEYS; i++) {
		if (conf_keys[i].sec == p->sec &&
		    (conf_keys[i].flags & F_REQUIRED) &&
		    !(p->seen & (1ULL << i)))
			return parse_fail(p, p->sec_line, -EINVAL,
					  "missing required key '%s' in [%s]",
					  conf_keys[i].name,
					  sec_label(p, label, sizeof(label)));
	}
	switch (p->sec) {
	case SEC_MIRROR:
		return mirror_close(p);
	case SEC_SECURITY:
		return security_close(p);
	case SEC_FAILOVER:
		return failover_close(p);
	default:
		return 0;
	}
}

static int mirror_open(struct parse *p, const char *name)
{
	struct conf *c = p->c;
	struct conf_mirror *grown;

	if (!name_ok(name, CONF_MIRROR_NAME_MAX))
		return parse_fail(p, p->lineno, -EINVAL,
				  "bad mirror name '%s' (1 to %d of A-Z a-z "
				  "0-9 . _ -, not starting with . or -)", name,
				  CONF_MIRROR_NAME_MAX);
	if (conf_find_mirror(c, name))
		return parse_fail(p, p->lineno, -EINVAL,
				  "duplicate section [mirror %s]", name);
	if (c->n_mirrors >= CONF_MAX_MIRRORS)
		return parse_fail(p, p->lineno, -EINVAL,
				  "more than %d mirrors", CONF_MAX_MIRRORS);
	grown = realloc(c->mirrors, (c->n_mirrors + 1) * sizeof(*grown));
	if (!grown)
		return parse_fail(p, p->lineno, -ENOMEM, "out of memory");
	c->mirrors = grown;
	grown += c->n_mirrors++;
	memset(grown, 0, sizeof(*grown));
	grown->name = strdup(name);
	if (!grown->name)
		return parse_fail(p, p->lineno, -ENOMEM, "out of memory");
	return sec_defaults(p, SEC_MIRROR, grown);
}

/* [node], [security] and [failover] appear at most once. */
static int single_open(struct parse *p, enum conf_sec sec)
{
	bool *once = sec == SEC_NODE ? &p->had_node :
		     sec == SEC_SECURITY ? &p->had_security :
		     &p->c->failover.enabled;

	if (*once)
		return parse_fail(p, p->lineno, -EINVAL,
				  "duplicate section [%s]", conf_sec_names[sec]);
	*once = true;
	return 0;
}

/* hdr: the text between the brackets, blanks trimmed. */
static int section_open(struct parse *p, const char *hdr)
{
	enum conf_sec sec;
	int r;

	if (p->sec != SEC_NONE && sec_close(p) < 0)
		return p->rc;
	p->sec = SEC_NONE;
	p->seen = 0;
	p->sec_line = p->lineno;
	for (sec = SEC_NODE; sec <= SEC_FAILOVER; sec++) {
		if (sec != SEC_MIRROR && !strcmp(hdr, conf_sec_names[sec])) {
			r = single_open(p, sec);
			if (r == 0)
				p->sec = sec;
			return r;
		}
	}
	if (strncmp(hdr, "mirror", 6) ||
	    (hdr[6] && hdr[6] != ' ' && hdr[6] != '\t'))
		return parse_fail(p, p->lineno, -EINVAL,
				  "unknown section [%s]", hdr);
	hdr += 6 + strspn(hdr + 6, " \t");
	if (!*hdr)
		return parse_fail(p, p->lineno, -EINVAL,
				  "[mirror] needs a name: [mirror NAME]");
	r = mirror_open(p, hdr);
	if (r == 0)
		p->sec = SEC_MIRROR;
	return r;
}

/* s: a line starting with '['. */
static int header_line(struct parse *p, const char *s)
{
	const char *end = strchr(s, ']'), *rest;
	size_t len;
	char *hdr;
	int r;

	if (!end)
		return parse_fail(p, p->lineno, -EINVAL,
				  "section header without ']'");
	rest = end + 1 + strspn(end + 1, " \t\r\n");
	if (*rest && *rest != ';' && *rest != '#')
		return parse_fail(p, p->lineno, -EINVAL,
				  "unexpected text after section header");
	s += 1 + strspn(s + 1, " \t");
	for (len = end - s; len && (s[len - 1] == ' ' || s[len - 1] == '\t');)
		len--;
	hdr = strndup(s, len);
	if (!hdr)
		return parse_fail(p, p->lineno, -ENOMEM, "out of memory");
	r = section_open(p, hdr);
	free(hdr);
	return r;
}

/* inih's fgets-like input: counts lines, opens sections, stops at the
 * first error (by reporting end of file). */
static char *conf_reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	ssize_t n;
	size_t len;
	char *s;

	if (p->rc)
		return NULL;
	errno = 0;
	n = getline(&p->line, &p->line_cap, p->fp);
	if (n < 0) {
		int e = errno ? errno : EIO;

		if (ferror(p->fp))
			parse_fail(p, 0, -e, "cannot read: %s", strerror(e));
		return NULL;
	}
	p->lineno++;
	if (strlen(p->line) != (size_t)n) {
		parse_fail(p, p->lineno, -EINVAL, "NUL byte in line");
		return NULL;
	}
	s = p->line;
	if (p->lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
		s += 3;	/* UTF-8 byte order mark */
	s += strspn(s, " \t\r\f\v");
	len = strlen(s);
	/* inih needs room for "\r\n\0" after the text */
	if (len - (len && s[len - 1] == '\n') -
	    (len > 1 && s[len - 2] == '\r') + 3 > (size_t)num) {
		parse_fail(p, p->lineno, -EINVAL,
			   "line is longer than %d bytes", num - 3);
		return NULL;
	}
	if (*s == '[' && header_line(p, s) < 0)
		return NULL;
	memcpy(str, s, len + 1);
	return str;
}

static int key_set(struct parse *p, const char *name, const char *v)
{
	const struct conf_key *k = NULL;
	char label[64], why[192];
	uint64_t bit = 0;
	void *base = sec_base(p);
	int r;

	if (p->rc)
		return p->rc;
	if (p->sec == SEC_NONE)
		return parse_fail(p, p->lineno, -EINVAL,
				  "key '%s' outside of any section", name);
	sec_label(p, label, sizeof(label));
	for (size_t i = 0; i < N_KEYS && !k; i++) {
		if (conf_keys[i].sec == p->sec &&
		    !strcmp(conf_keys[i].name, name)) {
			k = &conf_keys[i];
			bit = 1ULL << i;
		}
	}
	if (!k)
		return parse_fail(p, p->lineno, -EINVAL,
				  "unknown key '%s' in [%s]", name, label);
	if ((p->seen & bit) && !(k->flags & F_REPEAT))
		return parse_fail(p, p->lineno, -EINVAL,
				  "duplicate key '%s' in [%s]", name, label);
	p->seen |= bit;
	if (!*v) {
		if (key_unset(k, base) < 0)
			return parse_fail(p, p->lineno, -EINVAL,
					  "empty value for '%s' in [%s]",
					  name, label);
		return 0;
	}
	r = key_parse(k, base, v, why, sizeof(why));
	if (r == -ENOMEM)
		return parse_fail(p, p->lineno, r, "out of memory");
	if (r < 0)
		return parse_fail(p, p->lineno, -EINVAL, "bad value for '%s' in [%s]: "
				  "%s", name, label, why);
	return 0;
}

static int conf_handler(void *user, const char *section, const char *name,
			const char *value)
{
	return key_set(user, name, value) == 0;
}

static int conf_init(struct parse *p)
{
	char host[HOST_NAME_MAX + 1];
	struct conf *c = p->c;
	int r;

	c->file = strdup(p->file);
	if (!c->file)
		return parse_fail(p, 0, -ENOMEM, "out of memory");
	if (gethostname(host, sizeof(host)) < 0) {
		r = errno;
		return parse_fail(p, 0, -r, "cannot get the host name: %s",
				  strerror(r));
	}
	host[sizeof(host) - 1] = '\0';
	if (set_string(&c->node_name, host) < 0)
		return parse_fail(p, 0, -ENOMEM, "out of memory");
	r = sec_defaults(p, SEC_NODE, c);
	if (r == 0)
		r = sec_defaults(p, SEC_SECURITY, &c->security);
	if (r == 0)
		r = sec_defaults(p, SEC_FAILOVER, &c->failover);
	return r;
}

static int conf_parse(struct parse *p)
{
	int line = p->lineno;
	int ir = ini_parse_stream(conf_reader, p, conf_handler, p);

	if (ir > 0 && (p->rc == 0 || ir < p->err_line)) {
		p->rc = 0;
		return parse_fail(p, ir, -EINVAL, "syntax error: expected "
				  "'key = value' or '[section]'");
	}
	if (ir < 0 && !p->rc)
		return parse_fail(p, line, -ENOMEM, "out of memory");
	if (!p->rc && p->sec != SEC_NONE)
		sec_close(p);
	return p->rc;
}

/* The default versions directory (state_dir/NAME/versions) of a mirror
 * that keeps versions must lie outside every tree, as an explicit one. */
static int versions_defaults(struct parse *p)
{
	const struct conf *c = p->c;

	for (size_t i = 0; i < c->n_mirrors; i++) {
		const struct conf_mirror *m = &c->mirrors[i];
		char *dir;

		if (!conf_keeps_versions(m) || m->versions_dir)
			continue;
		if (!(dir = conf_versions_dir(c, m)))
			return parse_fail(p, 0, -ENOMEM, "out of memory");
		for (size_t j = 0; j < c->n_mirrors; j++) {
			if (!paths_overlap(dir, c->mirrors[j].path))
				continue;
			parse_fail(p, 0, -EINVAL, "the versions of [mirror %s] would go to "
				   "'%s', which overlaps path '%s' of [mirror %s]: set "
				   "versions_dir", m->name, dir, c->mirrors[j].path,
				   c->mirrors[j].name);
			break;
		}
		free(dir);
		if (p->rc)
			return p->rc;
	}
	return 0;
}

int conf_load(const char *path, struct conf *ret, char *err, size_t err_len)
{
	struct conf c = { 0 };
	struct parse p = {
		.c = &c, .file = path, .err = err, .err_len = err_len,
	};
	int r;

	if (err && err_len)
		err[0] = '\0';
	p.fp = fopen(path, "re");
	if (!p.fp) {
		r = errno;
		return parse_fail(&p, 0, -r, "cannot open: %s", strerror(r));
	}
	r = conf_init(&p);
	if (r == 0)
		r = conf_parse(&p);
	if (r == 0)
		r = versions_defaults(&p);
	fclose(p.fp);
	free(p.line);
	if (r < 0) {
		conf_free(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_mirrors; i++) {
		sec_free(SEC_MIRROR, &c->mirrors[i]);
		free(c->mirrors[i].name);
	}
	free(c->mirrors);
	sec_free(SEC_NODE, c);
	sec_free(SEC_SECURITY, &c->security);
	sec_free(SEC_FAILOVER, &c->failover);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

bool conf_keeps_versions(const struct conf_mirror *m)
{
	return m->keep_versions_sec || m->keep_versions_count || m->keep_versions_mb;
}

char *conf_versions_dir(const struct conf *c, const struct conf_mirror *m)
{
	size_t n;
	char *s;

	if (m->versions_dir)
		return strdup(m->versions_dir);
	n = strlen(c->state_dir) + strlen(m->name) + sizeof("//versions");
	if ((s = malloc(n)))
		snprintf(s, n, "%s/%s/versions", c->state_dir, m->name);
	return s;
}

const struct conf_mirror *conf_find_mirror(const struct conf *c,
					   const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->n_mirrors; i++)
		if (c->mirrors[i].name && !strcmp(c->mirrors[i].name, name))
			return &c->mirrors[i];
	return NULL;
}

/* ---- printing ---- */

static const char *addr_format(const struct conf_addr *a, char *buf,
			       size_t len)
{
	const struct sockaddr_in *in = (const void *)&a->ss;
	const struct sockaddr_in6 *in6 = (const void *)&a->ss;
	char host[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (a->ss.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	else if (a->ss.ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	return buf;
}

static const char *duration_format(uint64_t sec, char *buf, size_t len)
{
	size_t i;

	if (!sec) {
		snprintf(buf, len, "off");
		return buf;
	}
	for (i = 0; sec % conf_units[i].sec; i++)
		;	/* ends at 's', which divides everything */
	snprintf(buf, len, "%llu%c",
		 (unsigned long long)(sec / conf_units[i].sec),
		 conf_units[i].unit);
	return buf;
}

static const char *size_format(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	if (n == 0) {
		snprintf(buf, len, "off");
		return buf;
	}
	while (u < 3 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%.*s", (unsigned long long)n, u >= 0, u >= 0 ? units + u : "");
	return buf;
}

static const char *window_format(uint32_t from, uint32_t to, char *buf, size_t len)
{
	if (from == to)
		snprintf(buf, len, "always");
	else
		snprintf(buf, len, "%02u:%02u-%02u:%02u", from / 60, from % 60, to / 60, to % 60);
	return buf;
}

static void print_kv(FILE *out, const char *key, const char *v)
{
	if (v && *v)
		fprintf(out, "%s = %s\n", key, v);
	else
		fprintf(out, "%s =\n", key);
}

static void print_key(FILE *out, const struct conf_key *k, const void *base)
{
	const void *v = cfield(base, k->off);
	char buf[96];

	switch (k->type) {
	case T_STR:
	case T_PATH:
	case T_SOCKPATH:
	case T_IFNAME:
	case T_CIDR:
		print_kv(out, k->name, *(char *const *)v);
		break;
	case T_ADDR:
		if ((k->flags & F_HAS) && !*(const bool *)cfield(base, k->aux))
			print_kv(out, k->name, NULL);
		else
			print_kv(out, k->name, addr_format(v, buf, sizeof(buf)));
		if (k->flags & F_REPEAT) {      /* only "peer" repeats */
			const struct conf_mirror *m = base;
			for (size_t i = 0; i < m->n_more_peers; i++)
				print_kv(out, k->name,
					 addr_format(&m->more_peers[i], buf, sizeof(buf)));
		}
		break;
	case T_U32:
		fprintf(out, "%s = %u\n", k->name, *(const uint32_t *)v);
		break;
	case T_DURATION:
		print_kv(out, k->name,
			 duration_format(*(const uint64_t *)v, buf, sizeof(buf)));
		break;
	case T_BOOL:
		print_kv(out, k->name, *(const bool *)v ? "yes" : "no");
		break;
	case T_SIZE:
		print_kv(out, k->name, size_format(*(const uint64_t *)v, buf, sizeof(buf)));
		break;
	case T_WINDOW:
		print_kv(out, k->name, window_format(*(const uint32_t *)v,
			 *(const uint32_t *)cfield(base, k->aux), buf, sizeof(buf)));
		break;
	case T_SAMPLE:
		if (*(const uint32_t *)v)
			fprintf(out, "%s = %g%%\n", k->name, *(const uint32_t *)v / 10000.0);
		else
			print_kv(out, k->name, size_format(*(const uint64_t *)cfield(base, k->aux),
							  buf, sizeof(buf)));
		break;
	case T_LIST:
		for (size_t i = 0; i < *(const size_t *)cfield(base, k->aux); i++)
			print_kv(out, k->name, (*(char **const *)v)[i]);
		break;
	}
}

static void print_sec(FILE *out, enum conf_sec sec, const void *base,
		      const char *name)
{
	fprintf(out, "[%s%s%s]\n", conf_sec_names[sec], name ? " " : "",
		name ? name : "");
	for (size_t i = 0; i < N_KEYS; i++)
		if (conf_keys[i].sec == sec)
			print_key(out, &conf_keys[i], base);
}

void conf_print(const struct conf *c, FILE *out)
{
	print_sec(out, SEC_NODE, c, NULL);
	fputc('\n', out);
	print_sec(out, SEC_SECURITY, &c->security, NULL);
	for (size_t i = 0; i < c->n_mirrors; i++) {
		fputc('\n', out);
		print_sec(out, SEC_MIRROR, &c->mirrors[i], c->mirrors[i].name);
	}
	if (c->failover.enabled) {
		fputc('\n', out);
		print_sec(out, SEC_FAILOVER, &c->failover, NULL);
	}
}

/* ---- addresses ---- */

/* Split s into host (copied to host, which has room for strlen(s) + 1)
 * and port text (NULL when absent). */
static int addr_split(const char *s, char *host, const char **port,
		      int *af)
{
	const char *end;
	size_t len = strlen(s);

	*port = NULL;
	*af = AF_INET;
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return -EINVAL;
		if (end[1] == ':')
			*port = end + 2;
		else if (end[1])
			return -EINVAL;
		s++;
		len = end - s;
		*af = AF_INET6;
	} else if ((end = strchr(s, ':'))) {
		if (strchr(end + 1, ':'))
			*af = AF_INET6;	/* bare IPv6, no port */
		else {
			*port = end + 1;
			len = end - s;
		}
	}
	memcpy(host, s, len);
	host[len] = '\0';
	return 0;
}

int conf_parse_addr(const char *s, uint16_t default_port, struct conf_addr *ret)
{
	struct conf_addr a = { 0 };
	struct sockaddr_in *in = (void *)&a.ss;
	struct sockaddr_in6 *in6 = (void *)&a.ss;
	char host[sizeof(a.text)];
	uint64_t port = default_port;
	const char *ptext;
	int af;

	if (!s || !*s || strlen(s) >= sizeof(a.text))
		return -EINVAL;
	if (addr_split(s, host, &ptext, &af) < 0)
		return -EINVAL;
	if (ptext && (parse_uint(ptext, &port) < 0 || port < 1 ||
		      port > 65535))
		return -ERANGE;
	if (af == AF_INET && inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		a.len = sizeof(*in);
	} else if (af == AF_INET6 &&
		   inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a.len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	strcpy(a.text, s);	/* length checked above */
	*ret = a;
	return 0;
}
