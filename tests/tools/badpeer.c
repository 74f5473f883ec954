/* badpeer: a hostile source for the sink's bad-input tests.
 *
 *     badpeer ADDR PORT MIRROR ATTACK [SECONDS]
 *
 * Connects to a mirrord sink, runs one named attack, prints what the sink
 * answered, and exits 0 when the sink refused the attack as expected, 1 when
 * it did not, 2 on a usage or local error.
 *
 * "Hard" attacks are protocol violations: the sink must answer MSG_ERROR
 * and/or close the connection.  "Soft" attacks are well-formed frames whose
 * paths lead through a symlink on the sink (slave/evil -> outside): the sink
 * keeps the session and must report the operation as failed (DONE with a
 * negative status or END_OK with errors > 0); an ERROR or a close there
 * means the attack did not get as far as it should, and is a failure too.
 * "Legal" probes are valid operations aimed at something dangerous (a
 * directory entry for the path of the symlink itself): the sink must carry
 * them out inside the tree (END_OK); the test checks that nothing outside
 * changed.  Run with no arguments for the
 * list of attacks.
 *
 * Over TLS when the environment names the client's credentials:
 * BADPEER_CERT, BADPEER_KEY, BADPEER_CA (and BADPEER_PEER_NAME), or
 * BADPEER_PSK (a psk_file).  A TLS handshake failure exits 3. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "entry.h"
#include "hash.h"
#include "net.h"
#include "proto.h"
#include "stream.h"
#include "tls.h"
#include "wire.h"

#define IO_TIMEOUT_MS 10000
#define FIRST_ID 100

enum kind { HARD, SOFT, SLOW, LEGAL };

struct peer {
	struct stream *s;
	int fd;
	const char *mirror;
	bool got_error, closed, soft_refused, end_ok_clean;
	uint64_t next_id;
};

struct attack {
	const char *name;
	enum kind kind;
	bool hello;          /* send a valid HELLO first and expect HELLO_OK */
	int (*run)(struct peer *p);
	const char *what;
};

static int write_all(struct peer *p, const void *buf, size_t n)
{
	int rc;

	wbuf_put_raw(stream_out(p->s), buf, n);
	if ((rc = stream_flush(p->s)) < 0) {
		printf("write: %s (the sink closed)\n", strerror(-rc));
		p->closed = true;
		wbuf_reset(stream_out(p->s));
	}
	return rc;
}

/* Send what the encoders put into b, then reset it. */
static int send_buf(struct peer *p, struct wbuf *b)
{
	int rc;

	if (b->err) {
		fprintf(stderr, "badpeer: encoding failed: %s\n", strerror(-b->err));
		exit(2);
	}
	rc = write_all(p, b->data, b->len);
	wbuf_reset(b);
	return rc;
}

static void put_hdr(struct wbuf *b, uint32_t len, uint8_t type, uint8_t flags)
{
	struct wire_hdr h = { .len = len, .type = type, .flags = flags };
	uint8_t *d = wbuf_reserve(b, WIRE_HDR_LEN);

	if (d)
		wire_hdr_encode(d, &h);
}

static void put_entry(struct wbuf *b, uint64_t id, uint8_t type, const char *path,
		      const char *link)
{
	struct entry e = { 0 };

	e.type = type;
	e.path = (char *)path;
	e.path_len = strlen(path);
	e.mode = type == ENT_DIR ? 0755 : 0644;
	e.mtime_sec = 1000000000;
	e.size = type == ENT_FILE ? 6 : 0;
	if (type == ENT_CHR || type == ENT_BLK) {
		e.mode = 0666;                  /* /dev/sda's numbers, for anyone */
		e.rdev = makedev(8, 0);
	}
	if (link) {
		e.link = (char *)link;
		e.link_len = strlen(link);
	}
	proto_put_entry(b, id, &e);
}

/* Answer a NEED with the file content "owned\n". */
static int send_content(struct peer *p, uint64_t id)
{
	static const char body[] = "owned\n";
	struct proto_file_end fe = { .id = id, .status = FILE_OK, .size = 6 };
	struct wbuf b;
	int rc;

	hash_buf(body, 6, fe.digest);
	wbuf_init(&b, 4096);
	proto_put_chunk(&b, MSG_DATA, 0, id, body, 6);
	proto_put_file_end(&b, &fe);
	rc = send_buf(p, &b);
	wbuf_free(&b);
	return rc;
}

/* Read replies until the sink ends the exchange: ERROR, close, END_OK or
 * the timeout.  NEEDs are answered.  Returns 0, or -ETIMEDOUT. */
static int read_replies(struct peer *p, int timeout_ms)
{
	for (;;) {
		struct wire_hdr h;
		const uint8_t *pl;
		int rc = stream_recv(p->s, timeout_ms, &h, &pl);
		uint64_t id;

		if (rc == 0 || rc == -ECONNRESET || rc == -EPIPE) {
			printf("answer: connection closed by the sink%s\n",
			       rc ? " (reset)" : "");
			p->closed = true;
			return 0;
		}
		if (rc == -ETIMEDOUT) {
			printf("answer: nothing for %d ms\n", timeout_ms);
			return rc;
		}
		if (rc < 0) {
			printf("answer: bad stream from the sink: %s\n", strerror(-rc));
			p->closed = true;
			return 0;
		}
		if (proto_check_frame(&h, TO_SOURCE) < 0) {
			printf("answer: malformed frame type %u len %u\n", h.type, h.len);
			return -EBADMSG;
		}
		switch (h.type) {
		case MSG_ERROR: {
			uint32_t code;
			const uint8_t *t;
			size_t n;
			if (proto_get_error(pl, h.len, &code, &t, &n) == 0)
				printf("answer: ERROR %u (%s) '%.*s'\n", code, strerror((int)code),
				       (int)n, (const char *)t);
			p->got_error = true;
			break;
		}
		case MSG_HELLO_OK:
			printf("answer: HELLO_OK\n");
			return 0;
		case MSG_NEED: {
			uint8_t mode;
			if (proto_get_need(pl, h.len, &id, &mode) < 0)
				return -EBADMSG;
			printf("answer: NEED %llu, sending 6 bytes\n", (unsigned long long)id);
			if (send_content(p, id) < 0)
				return 0;
			break;
		}
		case MSG_DONE: {
			int32_t st;
			if (proto_get_done(pl, h.len, &id, &st) < 0)
				return -EBADMSG;
			printf("answer: DONE %llu status %d (%s)\n", (unsigned long long)id, st,
			       st ? strerror(-st) : "ok");
			if (st < 0)
				p->soft_refused = true;
			break;
		}
		case MSG_END_OK: {
			struct proto_end_ok m;
			if (proto_get_end_ok(pl, h.len, &m) < 0)
				return -EBADMSG;
			printf("answer: END_OK entries %llu files %llu errors %llu\n",
			       (unsigned long long)m.entries, (unsigned long long)m.files,
			       (unsigned long long)m.errors);
			if (m.errors > 0)
				p->soft_refused = true;
			else
				p->end_ok_clean = true;
			return 0;
		}
		default:
			printf("answer: %s\n", proto_msg_name(h.type));
			break;
		}
	}
}

static int send_hello(struct peer *p, uint32_t magic, const char *mirror)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	put_hdr(&b, (uint32_t)(24 + strlen(mirror) + 7), MSG_HELLO, 0);
	wbuf_put_u32(&b, magic);
	wbuf_put_u16(&b, PROTO_VERSION);
	wbuf_put_u16(&b, PROTO_VERSION);
	wbuf_put_u64(&b, 0);
	wbuf_put_bytes(&b, mirror, strlen(mirror));
	wbuf_put_bytes(&b, "badpeer", 7);
	rc = send_buf(p, &b);
	wbuf_free(&b);
	return rc;
}

/* Send the frames in b, then END, then read what comes back. */
static int finish(struct peer *p, struct wbuf *b, bool with_end)
{
	if (with_end)
		proto_put_id(b, MSG_END, p->next_id++);
	if (send_buf(p, b) < 0)
		return read_replies(p, IO_TIMEOUT_MS);
	return read_replies(p, IO_TIMEOUT_MS);
}

/* ---- the attacks ---- */

static int a_truncated(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	put_entry(&b, p->next_id++, ENT_FILE, "truncated", NULL);
	b.len -= 7;                     /* cut the frame short */
	rc = send_buf(p, &b);
	wbuf_free(&b);
	if (rc == 0 && shutdown(p->fd, SHUT_WR) < 0)
		return -errno;
	return read_replies(p, IO_TIMEOUT_MS);
}

static int a_truncated_hello(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	proto_put_hello(&b, p->mirror, "badpeer");
	b.len -= 3;
	rc = send_buf(p, &b);
	wbuf_free(&b);
	if (rc == 0 && shutdown(p->fd, SHUT_WR) < 0)
		return -errno;
	return read_replies(p, IO_TIMEOUT_MS);
}

static int a_oversize(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	put_hdr(&b, WIRE_MAX_PAYLOAD + 1, MSG_DATA, 0);
	wbuf_put_u64(&b, p->next_id);
	wbuf_put_raw(&b, "AAAAAAAA", 8);
	rc = finish(p, &b, false);
	wbuf_free(&b);
	return rc;
}

static int a_unknown_type(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	proto_put_id(&b, 42, p->next_id++);
	rc = finish(p, &b, false);
	wbuf_free(&b);
	return rc;
}

static int a_reserved_bits(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	proto_put_id(&b, MSG_PING, 1);
	b.data[7] = 0x01;
	rc = finish(p, &b, false);
	wbuf_free(&b);
	return rc;
}

static int a_bad_magic(struct peer *p)
{
	if (send_hello(p, 0xdeadbeefu, p->mirror) < 0)
		return read_replies(p, IO_TIMEOUT_MS);
	return read_replies(p, IO_TIMEOUT_MS);
}

static int a_unknown_mirror(struct peer *p)
{
	if (send_hello(p, PROTO_MAGIC, "no-such-mirror") < 0)
		return read_replies(p, IO_TIMEOUT_MS);
	return read_replies(p, IO_TIMEOUT_MS);
}

static int a_entry_before_hello(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	put_entry(&b, p->next_id++, ENT_FILE, "before-hello", NULL);
	rc = finish(p, &b, false);
	wbuf_free(&b);
	return rc;
}

/* ENTRY frames built by hand where proto_put_entry would be fine too: the
 * path bytes are taken verbatim. */
static int entry_attack(struct peer *p, uint8_t type, const char *path, const char *link)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	put_entry(&b, p->next_id++, type, path, link);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

static int a_path_dotdot(struct peer *p) { return entry_attack(p, ENT_FILE, "../escape", NULL); }
static int a_path_abs(struct peer *p) { return entry_attack(p, ENT_DIR, "/etc/escape", NULL); }
static int a_path_updown(struct peer *p) { return entry_attack(p, ENT_FILE, "a/../../escape", NULL); }
static int a_path_empty(struct peer *p) { return entry_attack(p, ENT_DIR, "a//escape", NULL); }
static int a_path_dotdot_dir(struct peer *p) { return entry_attack(p, ENT_DIR, "..", NULL); }
static int a_hardlink_up(struct peer *p) { return entry_attack(p, ENT_HARDLINK, "hl", "../x"); }
static int a_hardlink_abs(struct peer *p) { return entry_attack(p, ENT_HARDLINK, "hl", "/etc/passwd"); }
static int a_evil_dir(struct peer *p) { return entry_attack(p, ENT_DIR, "evil/owned", NULL); }
static int a_evil_symlink(struct peer *p) { return entry_attack(p, ENT_SYMLINK, "evil/owned", "/etc/passwd"); }
static int a_evil_fifo(struct peer *p) { return entry_attack(p, ENT_FIFO, "evil/owned", NULL); }
static int a_evil_hardlink(struct peer *p) { return entry_attack(p, ENT_HARDLINK, "stolen", "evil/canary"); }
static int a_evil_meta(struct peer *p) { return entry_attack(p, ENT_DIR, "evil", NULL); }

static int a_evil_delete(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	proto_put_path(&b, MSG_DELETE, p->next_id++, "evil/canary", 11);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

static int a_evil_prune(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	proto_put_path(&b, MSG_DIR_DONE, p->next_id++, "evil", 4);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

static int a_evil_rename(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	proto_put_rename(&b, p->next_id++, "evil/canary", 11, "stolen", 6);
	proto_put_rename(&b, p->next_id++, "inbox", 5, "evil/planted", 12);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

static int a_data_without_need(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	proto_put_chunk(&b, MSG_DATA, 0, 555, "surprise", 8);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

static int a_file_end_unknown(struct peer *p)
{
	struct proto_file_end fe = { .id = 12345, .status = FILE_OK, .size = 0 };
	struct wbuf b;
	int rc;

	wbuf_init(&b, 4096);
	proto_put_file_end(&b, &fe);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

/* A file is announced and, once NEEDed, its content sent (as garbage
 * flagged zstd when garbage is set), then END.  The sink must fail that file
 * (DONE < 0, END_OK errors) or the session. */
static int file_attack(struct peer *p, const char *path, bool garbage)
{
	static const uint8_t junk[] = { 0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff,
					0x00, 0x13, 0x37, 0x42, 0xde, 0xad, 0xbe, 0xef };
	struct proto_file_end fe = { .status = FILE_OK, .size = 6 };
	struct wbuf b;
	struct wire_hdr h;
	const uint8_t *pl;
	uint64_t id = p->next_id++, nid = 0;
	uint8_t mode;
	int rc;

	wbuf_init(&b, 65536);
	put_entry(&b, id, ENT_FILE, path, NULL);
	if ((rc = send_buf(p, &b)) < 0)
		goto out;
	do
		rc = stream_recv(p->s, IO_TIMEOUT_MS, &h, &pl);
	while (rc == 1 && h.type == MSG_ACK);
	if (rc == 1 && h.type == MSG_ERROR) {
		printf("answer: ERROR instead of NEED\n");
		p->got_error = true;
		goto out;
	}
	if (rc != 1 || h.type != MSG_NEED || proto_check_frame(&h, TO_SOURCE) < 0 ||
	    proto_get_need(pl, h.len, &nid, &mode) < 0 || nid != id) {
		printf("answer: no NEED for the file (rc %d type %s)\n", rc,
		       rc == 1 ? proto_msg_name(h.type) : "-");
		p->closed = rc <= 0;
		rc = rc <= 0 ? 0 : -EPROTO;
		goto out;
	}
	printf("answer: NEED %llu, sending %s\n", (unsigned long long)id,
	       garbage ? "zstd garbage" : "6 bytes");
	fe.id = id;
	hash_buf("owned\n", 6, fe.digest);
	if (garbage)
		proto_put_chunk(&b, MSG_DATA, DATA_ZSTD, id, junk, sizeof(junk));
	else
		proto_put_chunk(&b, MSG_DATA, 0, id, "owned\n", 6);
	proto_put_file_end(&b, &fe);
	rc = finish(p, &b, true);
out:
	wbuf_free(&b);
	return rc;
}

static int a_zstd_garbage(struct peer *p) { return file_attack(p, "zstd-garbage", true); }
static int a_evil_file(struct peer *p) { return file_attack(p, "evil/owned", false); }
/* Files where the sink has a FIFO or a device node: replaced, never opened
 * (an open would hang on the FIFO or write through to the device). */
static int a_file_over_fifo(struct peer *p) { return file_attack(p, "fifo", false); }
static int a_file_over_dev(struct peer *p) { return file_attack(p, "devnull", false); }

/* Device nodes with /dev/sda's numbers: created inside the tree, or refused
 * (no CAP_MKNOD), never opened; the test checks the outcome. */
static int a_dev_nodes(struct peer *p)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 65536);
	put_entry(&b, p->next_id++, ENT_CHR, "dev-chr", NULL);
	put_entry(&b, p->next_id++, ENT_BLK, "dev-blk", NULL);
	rc = finish(p, &b, true);
	wbuf_free(&b);
	return rc;
}

/* A frame of WIRE_MAX_PAYLOAD bytes (over any per-type bound), written one
 * byte per write(2). */
static int a_big_split(struct peer *p)
{
	struct wbuf b;
	int rc = 0;
	size_t i;

	wbuf_init(&b, WIRE_HDR_LEN + WIRE_MAX_PAYLOAD);
	put_hdr(&b, WIRE_MAX_PAYLOAD, MSG_DATA, 0);
	wbuf_put_u64(&b, p->next_id++);
	if (wbuf_reserve(&b, WIRE_MAX_PAYLOAD - 8))
		memset(b.data + WIRE_HDR_LEN + 8, 'B', WIRE_MAX_PAYLOAD - 8);
	if (b.err) {
		wbuf_free(&b);
		return b.err;
	}
	for (i = 0; i < b.len && rc == 0; i++)
		rc = write_all(p, b.data + i, 1);
	printf("wrote %zu of %zu bytes one at a time\n", i - (rc != 0), b.len);
	wbuf_free(&b);
	return read_replies(p, IO_TIMEOUT_MS);
}

/* Half a header, then silence.  The sink must drop the connection by
 * itself (handshake timeout) within SECONDS; meanwhile it must serve other
 * sessions (the test checks that with a real push). */
static int slow(struct peer *p, int secs)
{
	static const uint8_t half[4] = { 0, 0, 0, 8 };
	int rc;

	if ((rc = write_all(p, half, sizeof(half))) < 0)
		return rc;
	printf("sent half a header, waiting up to %d s for the sink to close\n", secs);
	fflush(stdout);
	return read_replies(p, secs * 1000);
}

static int slow_secs = 30;
static int a_slowloris(struct peer *p) { return slow(p, slow_secs); }
static int a_slowloris_hello(struct peer *p) { return slow(p, slow_secs); }

/* After HELLO_OK, nothing at all: the mirror is held by a silent session. */
static int a_silent_hello(struct peer *p)
{
	printf("HELLO done, silent, waiting up to %d s for the sink to close\n", slow_secs);
	fflush(stdout);
	return read_replies(p, slow_secs * 1000);
}

/* A valid HELLO, one byte every 2 s: the handshake deadline is total. */
static int a_drip(struct peer *p)
{
	struct wbuf b;
	const char *m = p->mirror;
	int rc = 0;
	size_t i;

	wbuf_init(&b, 4096);
	put_hdr(&b, (uint32_t)(24 + strlen(m) + 7), MSG_HELLO, 0);
	wbuf_put_u32(&b, PROTO_MAGIC);
	wbuf_put_u16(&b, PROTO_VERSION);
	wbuf_put_u16(&b, PROTO_VERSION);
	wbuf_put_u64(&b, 0);
	wbuf_put_bytes(&b, m, strlen(m));
	wbuf_put_bytes(&b, "badpeer", 7);
	printf("dripping a %zu-byte HELLO, one byte every 2 s\n", b.len);
	fflush(stdout);
	for (i = 0; i < b.len && rc == 0 && (int)i * 2 < slow_secs; i++) {
		struct pollfd pfd = { .fd = stream_fd(p->s), .events = POLLIN };
		if ((rc = write_all(p, b.data + i, 1)) < 0)
			break;
		if (poll(&pfd, 1, 2000) > 0)
			break;          /* the sink answered or closed */
	}
	printf("dripped %zu bytes\n", i);
	wbuf_free(&b);
	if (p->closed)
		return 0;
	return read_replies(p, slow_secs * 1000);
}

static const struct attack attacks[] = {
	{ "truncated-hello", HARD, false, a_truncated_hello, "HELLO cut short, then close" },
	{ "truncated", HARD, true, a_truncated, "ENTRY cut short, then close" },
	{ "oversize", HARD, true, a_oversize, "length field over WIRE_MAX_PAYLOAD" },
	{ "unknown-type", HARD, true, a_unknown_type, "message type 42" },
	{ "reserved-bits", HARD, true, a_reserved_bits, "PING with a reserved header bit" },
	{ "bad-magic", HARD, false, a_bad_magic, "HELLO with wrong magic" },
	{ "unknown-mirror", HARD, false, a_unknown_mirror, "HELLO for an unknown mirror" },
	{ "entry-before-hello", HARD, false, a_entry_before_hello, "ENTRY as first frame" },
	{ "path-dotdot", HARD, true, a_path_dotdot, "ENTRY ../escape" },
	{ "path-dotdot-dir", HARD, true, a_path_dotdot_dir, "ENTRY .. (dir)" },
	{ "path-abs", HARD, true, a_path_abs, "ENTRY /etc/escape" },
	{ "path-updown", HARD, true, a_path_updown, "ENTRY a/../../escape" },
	{ "path-empty", HARD, true, a_path_empty, "ENTRY a//escape" },
	{ "hardlink-up", HARD, true, a_hardlink_up, "HARDLINK hl -> ../x" },
	{ "hardlink-abs", HARD, true, a_hardlink_abs, "HARDLINK hl -> /etc/passwd" },
	{ "evil-file", SOFT, true, a_evil_file, "file evil/owned, evil -> outside" },
	{ "evil-dir", SOFT, true, a_evil_dir, "dir evil/owned, evil -> outside" },
	{ "evil-symlink", SOFT, true, a_evil_symlink, "symlink evil/owned, evil -> outside" },
	{ "evil-fifo", SOFT, true, a_evil_fifo, "fifo evil/owned, evil -> outside" },
	{ "evil-hardlink", SOFT, true, a_evil_hardlink, "HARDLINK stolen -> evil/canary" },
	{ "evil-meta", LEGAL, true, a_evil_meta, "dir entry replacing the symlink evil" },
	{ "evil-delete", SOFT, true, a_evil_delete, "DELETE evil/canary" },
	{ "evil-prune", SOFT, true, a_evil_prune, "DIR_DONE evil (prune outside)" },
	{ "evil-rename", SOFT, true, a_evil_rename, "RENAME evil/canary and into evil/" },
	{ "data-without-need", HARD, true, a_data_without_need, "DATA for an id never NEEDed" },
	{ "file-end-unknown", HARD, true, a_file_end_unknown, "FILE_END for an unknown id" },
	{ "zstd-garbage", SOFT, true, a_zstd_garbage, "DATA flagged zstd with garbage" },
	{ "file-over-fifo", LEGAL, true, a_file_over_fifo, "file 'fifo' where the sink has a FIFO" },
	{ "file-over-dev", LEGAL, true, a_file_over_dev, "file 'devnull' where the sink has a device node" },
	{ "dev-nodes", LEGAL, true, a_dev_nodes, "char and block device 8:0, mode 0666" },
	{ "big-split", HARD, true, a_big_split, "1 MiB+ frame in 1-byte writes" },
	{ "slowloris", SLOW, false, a_slowloris, "half a header before HELLO, silence" },
	{ "slowloris-hello", SLOW, true, a_slowloris_hello, "HELLO, half a header, silence" },
	{ "silent-hello", SLOW, true, a_silent_hello, "HELLO, then silence" },
	{ "drip", SLOW, false, a_drip, "HELLO one byte every 2 s" },
};

static void usage(void)
{
	fprintf(stderr, "usage: badpeer ADDR PORT MIRROR ATTACK [SECONDS]\nattacks:\n");
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
		fprintf(stderr, "  %-20s %s\n", attacks[i].name, attacks[i].what);
	exit(2);
}

static bool verdict(const struct attack *a, const struct peer *p)
{
	/* a soft attack must be refused for what it is, an operation that
	 * fails on the sink, not by a session that breaks for another reason */
	if (a->kind == SOFT)
		return p->soft_refused && !p->end_ok_clean;
	if (a->kind == LEGAL)
		return p->end_ok_clean;
	return p->got_error || p->closed;
}

/* TLS as the environment asks: 0 (also when it does not), -errno. */
static int start_tls(struct peer *p)
{
	struct tls_opts o = { getenv("BADPEER_CERT"), getenv("BADPEER_KEY"),
			      getenv("BADPEER_CA"), getenv("BADPEER_PEER_NAME"),
			      getenv("BADPEER_PSK") };
	char why[512];
	struct tls_ctx *ctx;
	int rc;

	if (!o.cert && !o.psk_file)
		return 0;
	if (!(ctx = tls_ctx_new(&o, false, why, sizeof(why)))) {
		fprintf(stderr, "badpeer: %s\n", why);
		return -EINVAL;
	}
	stream_set_deadline(p->s, IO_TIMEOUT_MS);
	rc = stream_start_tls(p->s, ctx, why, sizeof(why));
	stream_set_deadline(p->s, 0);
	tls_ctx_free(ctx);
	if (rc < 0)
		printf("TLS: %s\n", why);
	return rc;
}

int main(int argc, char **argv)
{
	const struct attack *a = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct peer p = { .next_id = FIRST_ID };
	int fd, rc = 0;

	if (argc < 5 || argc > 6)
		usage();
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
		if (strcmp(argv[4], attacks[i].name) == 0)
			a = &attacks[i];
	if (!a || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		usage();
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (argc == 6 && (slow_secs = atoi(argv[5])) <= 0)
		usage();
	p.mirror = argv[3];
	signal(SIGPIPE, SIG_IGN);
	fd = net_connect((struct sockaddr *)&sa, sizeof(sa), IO_TIMEOUT_MS);
	if (fd < 0) {
		fprintf(stderr, "badpeer: connect %s:%s: %s\n", argv[1], argv[2], strerror(-fd));
		return 2;
	}
	p.s = stream_new(fd);
	if (!p.s) {
		close(fd);
		return 2;
	}
	p.fd = fd;
	if (start_tls(&p) < 0) {
		stream_free(p.s);
		return 3;
	}
	printf("attack %s: %s\n", a->name, a->what);
	if (a->hello) {
		if (send_hello(&p, PROTO_MAGIC, p.mirror) < 0 ||
		    read_replies(&p, IO_TIMEOUT_MS) < 0 || p.got_error || p.closed) {
			printf("verdict: no session (valid HELLO refused), cannot attack\n");
			stream_free(p.s);
			return 2;
		}
	}
	rc = a->run(&p);
	bool ok = verdict(a, &p);
	printf("verdict: %s (%s)\n", a->kind == LEGAL ? (ok ? "carried out" : "NOT CARRIED OUT") :
	       ok ? "refused as expected" : "NOT REFUSED",
	       rc == -ETIMEDOUT ? "timed out" : rc < 0 ? strerror(-rc) : "exchange ended");
	stream_free(p.s);
	return ok ? 0 : 1;
}
