/* conf: the node's configuration file (INI, parsed with libinih).  The only
 * file that includes <ini.h>.
 *
 * Table driven: one row per key (section type, name, type, bounds, default,
 * offset into the target struct).  Unknown sections or keys, bad values and
 * missing required keys are errors reported as "FILE:LINE: reason".  See
 * mirrord.conf(5) for every key. */
#ifndef MIRROR_CONF_H
#define MIRROR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONF_DEFAULT_PATH "/etc/mirrord/mirrord.conf"
#define CONF_DEFAULT_PORT 7770
#define CONF_HB_DEFAULT_PORT 7771
#define CONF_MAX_PEERS 8           /* sinks of one source mirror (fan-out) */

struct conf_addr {                 /* host[:port], numeric addresses only */
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];                 /* as written, for logs */
};

struct conf_mirror {
	char *name;                    /* from "[mirror NAME]" */
	char *path;                    /* absolute path of the tree */
	struct conf_addr peer;         /* the sink this mirror sends to (source role);
					* with several, the first (failoverd's partner) */
	bool has_peer;
	struct conf_addr more_peers[CONF_MAX_PEERS - 1];   /* "peer =" repeated */
	size_t n_more_peers;
	uint32_t journal_max;          /* records a sink of several may lag before it is
					* dropped from the journal, default 1000000 */
	char **excludes;               /* repeatable "exclude =" */
	size_t n_excludes;
	uint32_t delay_ms;             /* coalescing window, default 10 */
	uint32_t append_interval_ms;   /* growing open files shipped this often, default 500 */
	uint64_t keep_versions_sec;    /* 0 = off */
	uint32_t keep_versions_count;  /* versions per path, 0 = no limit */
	uint32_t keep_versions_mb;     /* MiB of versions in all, 0 = no limit */
	char *versions_dir;            /* NULL: state_dir/NAME/versions */
	bool one_fs;                   /* default true */
	bool xattrs;                   /* default true */
	bool owner;                    /* default true (effective only as root) */
	/* drift audit (source role, audit.h) */
	uint64_t audit_interval_sec;   /* between passes, 0 = off (manual only) */
	uint32_t audit_window_from;    /* minutes after local midnight; from == to: */
	uint32_t audit_window_to;      /*   any time (default) */
	uint64_t audit_rate;           /* content bytes read per second, each side,
					* default 10M, 0 = unlimited */
	uint32_t audit_sample_ppm;     /* files hashed per pass, as a fraction */
	uint64_t audit_sample_bytes;   /*   or as bytes (ppm 0); default 1% */
	bool audit_repair;             /* resend what differs, default false */
};

struct conf_failover {
	bool enabled;                  /* a [failover] section exists */
	char *interface;
	char *vip;                     /* "192.0.2.100/24" */
	struct conf_addr peer;         /* heartbeat peer (port default 7771) */
	struct conf_addr listen;       /* local heartbeat bind, default 0.0.0.0:7771 */
	uint32_t priority;             /* 1..254, default 100 */
	uint32_t interval_ms;          /* 10..10000, default 100 */
	uint32_t dead_after;           /* missed intervals, 2..100, default 3 */
	uint32_t startup_grace_ms;     /* default 3 * dead_after * interval */
	uint32_t garp_count;           /* default 5 */
	uint32_t garp_interval_ms;     /* default 200 */
	uint32_t garp_refresh_ms;      /* periodic re-announce, default 5000, 0 = off */
	uint32_t max_lag_sec;          /* refuse promotion beyond this lag, 0 = off */
	char *check;                   /* track script, may be NULL */
	uint32_t check_interval_ms;    /* default 1000 */
	uint32_t check_timeout_ms;     /* default 2000 */
	char *notify;                  /* hook, may be NULL */
	uint32_t notify_timeout_ms;    /* default 5000 */
	char *key_file;                /* heartbeat HMAC key, required */
	bool preempt;                  /* default false */
	bool realtime;                 /* SCHED_RR + mlockall, default true */
};

struct conf_security {
	char *cert, *key, *ca;
	char *peer_name;               /* expected name in the peer certificate */
	char *psk_file;
	bool insecure_plaintext;       /* "insecure_plaintext = yes", loudly logged */
};

struct conf {
	char *file;                    /* the file it was read from */
	char *node_name;               /* [node] name, default: hostname */
	char *control_socket;          /* default /run/mirrord/control.sock */
	char *state_dir;               /* default /var/lib/mirrord */
	struct conf_addr listen;       /* [node] listen, default 0.0.0.0:7770 */
	char *metrics_file;            /* Prometheus text file, may be NULL */
	char *notify;                  /* notification hook (notify.h), may be NULL */
	uint32_t notify_timeout_ms;    /* default 5000 */
	uint32_t notify_repeat_sec;    /* a held condition again after this, 0 = never */
	uint32_t notify_lag_sec;       /* a source mirror this far behind raises "lag", 0 = off */
	struct conf_mirror *mirrors;
	size_t n_mirrors;
	struct conf_failover failover;
	struct conf_security security;
};

/* Parse path into *ret.  On error returns a negative errno and writes
 * "FILE:LINE: reason" (one line, no newline) into err. */
int conf_load(const char *path, struct conf *ret, char *err, size_t err_len);
void conf_free(struct conf *c);
/* Print the effective configuration, defaults included, in the file's own
 * syntax (the -n -v / --check-config --verbose output). */
void conf_print(const struct conf *c, FILE *out);
const struct conf_mirror *conf_find_mirror(const struct conf *c, const char *name);
/* Retention is on when any of the keep_versions keys is set. */
bool conf_keeps_versions(const struct conf_mirror *m);
/* The mirror's versions directory (heap; NULL on ENOMEM). */
char *conf_versions_dir(const struct conf *c, const struct conf_mirror *m);
/* Parse "host[:port]" (IPv4, or IPv6 in brackets) with a default port. */
int conf_parse_addr(const char *s, uint16_t default_port, struct conf_addr *ret);

#endif
