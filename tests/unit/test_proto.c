/* test_proto: the message table and every payload codec.
 *
 * Round trips for every proto_put_* / proto_get_* pair (also into tiny
 * output buffers), the table checks of proto_check_frame, wire paths that
 * escape the root, and a deterministic mutation run: every valid frame of
 * every type gets every single-bit flip, every byte set to 0x00 and 0xff and
 * every truncation; the table check and the matching decoder must answer an
 * error or a well-formed result, never crash or read out of bounds (each
 * mutant lives in an exact-size heap block, so ASan and valgrind see an
 * overread). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry.h"
#include "fsmeta.h"
#include "path.h"
#include "proto.h"
#include "wire.h"

/* Two sorted user xattrs, in the fsmeta blob format. */
static const uint8_t xattr_blob[] = {
	0, 6, 'u', 's', 'e', 'r', '.', 'a', 0, 0, 0, 1, '1',
	0, 6, 'u', 's', 'e', 'r', '.', 'b', 0, 0, 0, 2, '2', '2',
};

struct frame {
	const uint8_t *p;
	size_t len;
	struct wire_hdr h;
	const uint8_t *payload;
};

/* Split the single frame in b; fails the test if it is not exactly one. */
static void one_frame(const struct wbuf *b, struct frame *f)
{
	assert_int_equal(b->err, 0);
	assert_true(b->len >= WIRE_HDR_LEN);
	assert_int_equal(wire_hdr_decode(b->data, WIRE_MAX_PAYLOAD, &f->h), 0);
	assert_int_equal(f->h.len + WIRE_HDR_LEN, b->len);
	f->p = b->data;
	f->len = b->len;
	f->payload = b->data + WIRE_HDR_LEN;
}

static void expect_dir(const struct wire_hdr *h, enum proto_dir dir)
{
	assert_int_equal(proto_check_frame(h, dir), 0);
	if (dir != BOTH)
		assert_int_equal(proto_check_frame(h, dir == TO_SINK ? TO_SOURCE : TO_SINK),
				 -EBADMSG);
	else
		assert_int_equal(proto_check_frame(h, TO_SINK) | proto_check_frame(h, TO_SOURCE),
				 0);
}

static void init_entry(struct entry *e, uint8_t type, const char *path, const char *link)
{
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->path = (char *)path;
	e->path_len = strlen(path);
	e->mode = 0644;
	e->uid = 1000;
	e->gid = 1001;
	e->size = type == ENT_FILE ? 123456789012ull : 0;
	e->mtime_sec = -5;           /* before the epoch, still valid */
	e->mtime_nsec = 999999999;
	e->rdev = type == ENT_CHR || type == ENT_BLK ? 0x0801 : 0;
	if (link) {
		e->link = (char *)link;
		e->link_len = strlen(link);
	}
}

/* ---- round trips ---- */

static void test_hello(void **state)
{
	struct wbuf b;
	struct frame f;
	struct proto_hello m;

	(void)state;
	wbuf_init(&b, 4096);
	proto_put_hello(&b, "www", "web1");
	one_frame(&b, &f);
	assert_int_equal(f.h.type, MSG_HELLO);
	expect_dir(&f.h, TO_SINK);
	assert_int_equal(proto_get_hello(f.payload, f.h.len, &m), 0);
	assert_int_equal(m.magic, PROTO_MAGIC);
	assert_int_equal(m.min_version, PROTO_VERSION);
	assert_int_equal(m.max_version, PROTO_VERSION);
	assert_int_equal(m.mirror_len, 3);
	assert_memory_equal(m.mirror, "www", 3);
	assert_int_equal(m.node_len, 4);
	assert_memory_equal(m.node, "web1", 4);

	/* wrong magic */
	uint8_t *copy = malloc(f.h.len);
	assert_non_null(copy);
	memcpy(copy, f.payload, f.h.len);
	copy[0] ^= 0x20;
	assert_int_equal(proto_get_hello(copy, f.h.len, &m), -EBADMSG);
	free(copy);

	/* names at the limit and over it */
	char name[PROTO_NAME_MAX + 2];
	memset(name, 'n', sizeof(name));
	name[PROTO_NAME_MAX] = '\0';
	wbuf_reset(&b);
	proto_put_hello(&b, name, name);
	one_frame(&b, &f);
	assert_int_equal(proto_check_frame(&f.h, TO_SINK), 0);
	assert_int_equal(proto_get_hello(f.payload, f.h.len, &m), 0);
	assert_int_equal(m.mirror_len, PROTO_NAME_MAX);
	name[PROTO_NAME_MAX] = 'n';
	name[PROTO_NAME_MAX + 1] = '\0';
	wbuf_reset(&b);
	proto_put_hello(&b, name, "n");
	one_frame(&b, &f);
	assert_int_equal(proto_get_hello(f.payload, f.h.len, &m), -EBADMSG);
	wbuf_free(&b);
}

static void test_hello_nul_in_name(void **state)
{
	struct wbuf b;
	struct proto_hello m;

	(void)state;
	wbuf_init(&b, 4096);
	wbuf_put_u32(&b, PROTO_MAGIC);
	wbuf_put_u16(&b, 1);
	wbuf_put_u16(&b, 1);
	wbuf_put_u64(&b, 0);
	wbuf_put_bytes(&b, "w\0w", 3);
	wbuf_put_bytes(&b, "n", 1);
	assert_int_equal(proto_get_hello(b.data, b.len, &m), -EBADMSG);
	wbuf_free(&b);
}

static void test_hello_ok(void **state)
{
	struct proto_hello_ok in = { .version = 7, .features = 0x0102030405060708ull,
				     .journal_id = UINT64_MAX, .acked = 42 };
	struct proto_hello_ok out;
	struct wbuf b;
	struct frame f;

	(void)state;
	wbuf_init(&b, 4096);
	proto_put_hello_ok(&b, &in);
	one_frame(&b, &f);
	assert_int_equal(f.h.type, MSG_HELLO_OK);
	expect_dir(&f.h, TO_SOURCE);
	assert_int_equal(proto_get_hello_ok(f.payload, f.h.len, &out), 0);
	assert_int_equal(out.version, 7);
	assert_true(out.features == in.features);
	assert_true(out.journal_id == UINT64_MAX);
	assert_true(out.acked == 42);
	wbuf_free(&b);
}

static void test_error(void **state)
{
	struct wbuf b;
	struct frame f;
	uint32_t code;
	const uint8_t *text;
	size_t len;
	char *big = malloc(PROTO_MSG_MAX + 100);

	(void)state;
	assert_non_null(big);
	wbuf_init(&b, 8192);
	proto_put_error(&b, EPROTO, "expected HELLO");
	one_frame(&b, &f);
	assert_int_equal(f.h.type, MSG_ERROR);
	expect_dir(&f.h, BOTH);
	assert_int_equal(proto_get_error(f.payload, f.h.len, &code, &text, &len), 0);
	assert_int_equal(code, EPROTO);
	assert_int_equal(len, 14);
	assert_memory_equal(text, "expected HELLO", 14);

	/* over-long text is cut to PROTO_MSG_MAX and still passes the table */
	memset(big, 'e', PROTO_MSG_MAX + 99);
	big[PROTO_MSG_MAX + 99] = '\0';
	wbuf_reset(&b);
	proto_put_error(&b, 1, big);
	one_frame(&b, &f);
	assert_int_equal(proto_check_frame(&f.h, TO_SOURCE), 0);
	assert_int_equal(proto_get_error(f.payload, f.h.len, &code, &text, &len), 0);
	assert_int_equal(len, PROTO_MSG_MAX);
	free(big);
	wbuf_free(&b);
}

static void check_entry_equal(const struct entry *a, const struct entry *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->path_len, b->path_len);
	assert_memory_equal(a->path, b->path, a->path_len);
	assert_int_equal(a->path[a->path_len], '\0');
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_true(a->size == b->size);
	assert_true(a->mtime_sec == b->mtime_sec);
	assert_int_equal(a->mtime_nsec, b->mtime_nsec);
	assert_true(a->rdev == b->rdev);
	assert_int_equal(a->link_len, b->link_len);
	if (b->link) {
		assert_non_null(a->link);
		assert_memory_equal(a->link, b->link, a->link_len);
		assert_int_equal(a->link[a->link_len], '\0');
	} else {
		assert_null(a->link);
	}
	assert_int_equal(a->xattrs_len, b->xattrs_len);
	if (b->xattrs)
		assert_memory_equal(a->xattrs, b->xattrs, a->xattrs_len);
	else
		assert_null(a->xattrs);
}

static void test_entry_types(void **state)
{
	static const char *const nasty = "dir with space/new\nline/\xff\xfe bytes";
	struct entry v[9];
	struct wbuf b;

	(void)state;
	init_entry(&v[0], ENT_FILE, "a/file", NULL);
	init_entry(&v[1], ENT_DIR, "", NULL);           /* the root itself */
	init_entry(&v[2], ENT_SYMLINK, "a/ln", "../../anywhere/is/fine");
	init_entry(&v[3], ENT_HARDLINK, "a/hl", "a/file");
	init_entry(&v[4], ENT_FIFO, "a/fifo", NULL);
	init_entry(&v[5], ENT_CHR, "a/chr", NULL);
	init_entry(&v[6], ENT_BLK, "a/blk", NULL);
	init_entry(&v[7], ENT_SOCK, "a/sock", NULL);
	init_entry(&v[8], ENT_FILE, nasty, NULL);
	v[0].xattrs = (uint8_t *)xattr_blob;
	v[0].xattrs_len = sizeof(xattr_blob);
	v[1].mode = 07777;
	assert_int_equal(fsmeta_xattrs_check(xattr_blob, sizeof(xattr_blob)), 0);

	wbuf_init(&b, 65536);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct frame f;
		struct entry out;
		uint64_t id;

		wbuf_reset(&b);
		proto_put_entry(&b, 1000 + i, &v[i]);
		one_frame(&b, &f);
		assert_int_equal(f.h.type, MSG_ENTRY);
		expect_dir(&f.h, TO_SINK);
		assert_int_equal(proto_get_entry(f.payload, f.h.len, &id, &out), 0);
		assert_true(id == 1000 + i);
		check_entry_equal(&out, &v[i]);
		entry_clear(&out);
	}
	wbuf_free(&b);
}

/* Field checks of proto_get_entry beyond paths. */
static void test_entry_bad_fields(void **state)
{
	struct entry e, out;
	struct wbuf b;
	struct frame f;
	uint64_t id;
	static const uint8_t bad_xattr[] = { 0, 3, 'f', 'o', 'o', 0, 0, 0, 0 };
	char longlink[PATH_WIRE_MAX + 2];

	(void)state;
	wbuf_init(&b, 65536);
#define EXPECT_BAD()                                                                  \
	do {                                                                          \
		wbuf_reset(&b);                                                       \
		proto_put_entry(&b, 1, &e);                                           \
		one_frame(&b, &f);                                                    \
		memset(&out, 0x5a, sizeof(out));                                      \
		assert_int_equal(proto_get_entry(f.payload, f.h.len, &id, &out), -EBADMSG); \
		assert_null(out.path);                                                \
		assert_null(out.link);                                                \
		assert_null(out.xattrs);                                              \
	} while (0)
	init_entry(&e, ENT_NONE, "a", NULL);
	EXPECT_BAD();
	init_entry(&e, ENT_TYPE_MAX + 1, "a", NULL);
	EXPECT_BAD();
	init_entry(&e, 0xff, "a", NULL);
	EXPECT_BAD();
	init_entry(&e, ENT_FILE, "a", NULL);
	e.mode = 010644;                    /* file type bits in mode */
	EXPECT_BAD();
	init_entry(&e, ENT_FILE, "a", NULL);
	e.mtime_nsec = 1000000000u;
	EXPECT_BAD();
	init_entry(&e, ENT_FILE, "a", "b");    /* link on a file */
	EXPECT_BAD();
	init_entry(&e, ENT_SYMLINK, "a", NULL);  /* symlink without target */
	EXPECT_BAD();
	init_entry(&e, ENT_HARDLINK, "a", NULL);
	EXPECT_BAD();
	init_entry(&e, ENT_SYMLINK, "a", "x");
	e.link = "x\0y";
	e.link_len = 3;                     /* NUL inside a target */
	EXPECT_BAD();
	memset(longlink, 'l', sizeof(longlink));
	init_entry(&e, ENT_SYMLINK, "a", NULL);
	e.link = longlink;
	e.link_len = PATH_WIRE_MAX + 1;
	EXPECT_BAD();
	init_entry(&e, ENT_FILE, "a", NULL);
	e.xattrs = (uint8_t *)bad_xattr;    /* "foo" is no wanted namespace */
	e.xattrs_len = sizeof(bad_xattr);
	EXPECT_BAD();
	init_entry(&e, ENT_FILE, "a", NULL);
	e.xattrs = (uint8_t *)xattr_blob;   /* truncated blob */
	e.xattrs_len = sizeof(xattr_blob) - 1;
	EXPECT_BAD();
#undef EXPECT_BAD
	wbuf_free(&b);
}

static const char *const bad_paths[] = {
	"..", "../escape", "a/../../escape", "a/..", "/etc/escape", "/", "a//b", "a/",
	"//a", ".", "./a", "a/./b", "a/.",
};

static const char *const good_paths[] = {
	"a", "a/b/c", "...", "..a", "a..", ".hidden", "a/.b/c", "sp ace/new\nline", "\xff",
};

static void test_paths_rejected(void **state)
{
	struct wbuf b;
	struct frame f;
	uint64_t id;
	char *p, *q;
	size_t len, qlen;
	struct entry e, out;

	(void)state;
	wbuf_init(&b, 65536);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		const char *bp = bad_paths[i];
		size_t bl = strlen(bp);

		wbuf_reset(&b);
		proto_put_path(&b, MSG_DELETE, 7, bp, bl);
		one_frame(&b, &f);
		assert_int_equal(proto_get_path(f.payload, f.h.len, &id, &p, &len), -EBADMSG);

		wbuf_reset(&b);
		proto_put_rename(&b, 7, bp, bl, "ok", 2);
		one_frame(&b, &f);
		assert_int_equal(proto_get_rename(f.payload, f.h.len, &id, &p, &len, &q, &qlen),
				 -EBADMSG);
		wbuf_reset(&b);
		proto_put_rename(&b, 7, "ok", 2, bp, bl);
		one_frame(&b, &f);
		assert_int_equal(proto_get_rename(f.payload, f.h.len, &id, &p, &len, &q, &qlen),
				 -EBADMSG);

		for (int t = 0; t < 4; t++) {
			static const uint8_t types[] = { ENT_FILE, ENT_DIR, ENT_SYMLINK, ENT_FIFO };
			init_entry(&e, types[t], bp, types[t] == ENT_SYMLINK ? "t" : NULL);
			wbuf_reset(&b);
			proto_put_entry(&b, 7, &e);
			one_frame(&b, &f);
			assert_int_equal(proto_get_entry(f.payload, f.h.len, &id, &out), -EBADMSG);
		}
		/* a hardlink whose target escapes, from a harmless name */
		init_entry(&e, ENT_HARDLINK, "inside", bp);
		wbuf_reset(&b);
		proto_put_entry(&b, 7, &e);
		one_frame(&b, &f);
		assert_int_equal(proto_get_entry(f.payload, f.h.len, &id, &out), -EBADMSG);
	}
	/* NUL inside a path, an over-long component and an over-long path */
	static const char nul[] = "a\0b";
	char *lng = malloc(PATH_WIRE_MAX + 2);
	assert_non_null(lng);
	memset(lng, 'x', PATH_WIRE_MAX + 2);
	const struct { const char *p; size_t len; } odd[] = {
		{ nul, 3 }, { lng, NAME_MAX + 1 }, { lng, PATH_WIRE_MAX + 1 },
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		wbuf_reset(&b);
		proto_put_path(&b, MSG_DIR_DONE, 1, odd[i].p, odd[i].len);
		one_frame(&b, &f);
		assert_int_equal(proto_get_path(f.payload, f.h.len, &id, &p, &len), -EBADMSG);
		init_entry(&e, ENT_DIR, "x", NULL);
		e.path = (char *)odd[i].p;
		e.path_len = odd[i].len;
		wbuf_reset(&b);
		proto_put_entry(&b, 7, &e);
		one_frame(&b, &f);
		assert_int_equal(proto_get_entry(f.payload, f.h.len, &id, &out), -EBADMSG);
	}
	/* a component of exactly NAME_MAX is fine */
	wbuf_reset(&b);
	proto_put_path(&b, MSG_DELETE, 1, lng, NAME_MAX);
	one_frame(&b, &f);
	assert_int_equal(proto_get_path(f.payload, f.h.len, &id, &p, &len), 0);
	assert_int_equal(len, NAME_MAX);
	free(p);
	free(lng);
	/* rename needs two non-empty paths */
	wbuf_reset(&b);
	proto_put_rename(&b, 7, "", 0, "ok", 2);
	one_frame(&b, &f);
	assert_int_equal(proto_get_rename(f.payload, f.h.len, &id, &p, &len, &q, &qlen), -EBADMSG);
	wbuf_reset(&b);
	proto_put_rename(&b, 7, "ok", 2, "", 0);
	one_frame(&b, &f);
	assert_int_equal(proto_get_rename(f.payload, f.h.len, &id, &p, &len, &q, &qlen), -EBADMSG);
	wbuf_free(&b);
}

static void test_paths_accepted(void **state)
{
	struct wbuf b;
	struct frame f;
	uint64_t id;
	char *p, *q;
	size_t len, qlen;

	(void)state;
	wbuf_init(&b, 65536);
	for (size_t i = 0; i < sizeof(good_paths) / sizeof(good_paths[0]); i++) {
		const char *gp = good_paths[i];
		size_t gl = strlen(gp);

		wbuf_reset(&b);
		proto_put_path(&b, MSG_DELETE, 99, gp, gl);
		one_frame(&b, &f);
		assert_int_equal(f.h.type, MSG_DELETE);
		expect_dir(&f.h, TO_SINK);
		assert_int_equal(proto_get_path(f.payload, f.h.len, &id, &p, &len), 0);
		assert_true(id == 99);
		assert_int_equal(len, gl);
		assert_string_equal(p, gp);
		free(p);

		wbuf_reset(&b);
		proto_put_rename(&b, 5, gp, gl, "to/x", 4);
		one_frame(&b, &f);
		expect_dir(&f.h, TO_SINK);
		assert_int_equal(proto_get_rename(f.payload, f.h.len, &id, &p, &len, &q, &qlen), 0);
		assert_true(id == 5);
		assert_string_equal(p, gp);
		assert_int_equal(len, gl);
		assert_string_equal(q, "to/x");
		assert_int_equal(qlen, 4);
		free(p);
		free(q);
	}
	/* DIR_DONE of the root is the empty path */
	wbuf_reset(&b);
	proto_put_path(&b, MSG_DIR_DONE, 3, "", 0);
	one_frame(&b, &f);
	expect_dir(&f.h, TO_SINK);
	assert_int_equal(proto_get_path(f.payload, f.h.len, &id, &p, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	wbuf_free(&b);
}

static void test_id_frames(void **state)
{
	static const struct { uint8_t type; enum proto_dir dir; } v[] = {
		{ MSG_END, TO_SINK }, { MSG_SIG_END, TO_SOURCE }, { MSG_ACK, TO_SOURCE },
		{ MSG_PING, BOTH }, { MSG_PONG, BOTH },
	};
	struct wbuf b;
	struct frame f;
	uint64_t id;

	(void)state;
	wbuf_init(&b, 64);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		wbuf_reset(&b);
		proto_put_id(&b, v[i].type, 0xfedcba9876543210ull + i);
		one_frame(&b, &f);
		assert_int_equal(f.h.type, v[i].type);
		expect_dir(&f.h, v[i].dir);
		assert_int_equal(proto_get_id(f.payload, f.h.len, &id), 0);
		assert_true(id == 0xfedcba9876543210ull + i);
		assert_int_equal(proto_get_id(f.payload, f.h.len - 1, &id), -EBADMSG);
	}
	wbuf_free(&b);
}

static void test_chunks(void **state)
{
	struct wbuf b;
	struct frame f;
	uint64_t id;
	const uint8_t *d;
	size_t len;
	uint8_t *big = calloc(1, PROTO_CHUNK);

	(void)state;
	assert_non_null(big);
	big[0] = 1;
	big[PROTO_CHUNK - 1] = 2;
	wbuf_init(&b, WIRE_MAX_PAYLOAD + WIRE_HDR_LEN);
	proto_put_chunk(&b, MSG_DATA, DATA_ZSTD, 11, big, PROTO_CHUNK);
	one_frame(&b, &f);
	assert_int_equal(f.h.flags, DATA_ZSTD);
	expect_dir(&f.h, TO_SINK);
	assert_int_equal(proto_get_chunk(f.payload, f.h.len, &id, &d, &len), 0);
	assert_true(id == 11);
	assert_int_equal(len, PROTO_CHUNK);
	assert_memory_equal(d, big, PROTO_CHUNK);

	wbuf_reset(&b);
	proto_put_chunk(&b, MSG_SIG, 0, 12, big, PROTO_CHUNK);
	one_frame(&b, &f);
	expect_dir(&f.h, TO_SOURCE);
	assert_int_equal(proto_get_chunk(f.payload, f.h.len, &id, &d, &len), 0);
	assert_int_equal(len, PROTO_CHUNK);

	/* empty chunk */
	wbuf_reset(&b);
	proto_put_chunk(&b, MSG_DATA, 0, 13, NULL, 0);
	one_frame(&b, &f);
	assert_int_equal(proto_check_frame(&f.h, TO_SINK), 0);
	assert_int_equal(proto_get_chunk(f.payload, f.h.len, &id, &d, &len), 0);
	assert_int_equal(len, 0);

	/* a SIG chunk over PROTO_CHUNK is out of the table */
	wbuf_reset(&b);
	proto_put_chunk(&b, MSG_SIG, 0, 12, big, PROTO_CHUNK);
	wbuf_put_u8(&b, 0);
	struct wire_hdr h = { .len = 8 + PROTO_CHUNK + 1, .type = MSG_SIG };
	assert_int_equal(proto_check_frame(&h, TO_SOURCE), -EBADMSG);
	free(big);
	wbuf_free(&b);
}

static void test_file_end(void **state)
{
	struct proto_file_end in = { .id = 77, .status = FILE_OK, .size = 1ull << 40 };
	struct proto_file_end out;
	struct wbuf b;
	struct frame f;

	(void)state;
	for (int i = 0; i < HASH_LEN; i++)
		in.digest[i] = (uint8_t)(i * 11 + 3);
	wbuf_init(&b, 256);
	proto_put_file_end(&b, &in);
	one_frame(&b, &f);
	expect_dir(&f.h, TO_SINK);
	assert_int_equal(proto_get_file_end(f.payload, f.h.len, &out), 0);
	assert_true(out.id == 77);
	assert_int_equal(out.status, FILE_OK);
	assert_true(out.size == 1ull << 40);
	assert_memory_equal(out.digest, in.digest, HASH_LEN);

	in.status = FILE_ABORTED;
	wbuf_reset(&b);
	proto_put_file_end(&b, &in);
	one_frame(&b, &f);
	assert_int_equal(proto_get_file_end(f.payload, f.h.len, &out), 0);
	assert_int_equal(out.status, FILE_ABORTED);

	in.status = FILE_ABORTED + 1;
	wbuf_reset(&b);
	proto_put_file_end(&b, &in);
	one_frame(&b, &f);
	assert_int_equal(proto_get_file_end(f.payload, f.h.len, &out), -EBADMSG);
	wbuf_free(&b);
}

static void append_put(struct wbuf *b, uint64_t base, uint64_t length, uint32_t tail_len)
{
	struct proto_append in = { .id = 9, .path = (char *)"var/log/app.log", .path_len = 15,
				   .base = base, .length = length, .tail_len = tail_len };

	for (int i = 0; i < HASH_LEN; i++)
		in.tail[i] = (uint8_t)(0xa0 + i);
	wbuf_reset(b);
	proto_put_append(b, &in);
}

static void test_append(void **state)
{
	struct proto_append out;
	struct wbuf b;
	struct frame f;
	static const struct { uint64_t base, length; uint32_t tail; int want; } v[] = {
		{ 1ull << 40, 4096, PROTO_TAIL_MAX, 0 },
		{ 0, 1, 0, 0 },                         /* the copy must be empty */
		{ 100, 0, 100, 0 },                     /* nothing appended: legal */
		{ PROTO_TAIL_MAX, 7, PROTO_TAIL_MAX, 0 },
		{ 100, 7, 99, -EBADMSG },               /* tail must be min(base, 4096) */
		{ 100, 7, 101, -EBADMSG },
		{ 1ull << 40, 7, PROTO_TAIL_MAX + 1, -EBADMSG },
		{ 1ull << 40, 7, 0, -EBADMSG },
		{ UINT64_MAX - 3, 4, PROTO_TAIL_MAX, -EBADMSG },   /* base + length wraps */
		{ UINT64_MAX - 4, 4, PROTO_TAIL_MAX, 0 },
	};

	(void)state;
	wbuf_init(&b, 256);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		append_put(&b, v[i].base, v[i].length, v[i].tail);
		one_frame(&b, &f);
		expect_dir(&f.h, TO_SINK);
		int rc = proto_get_append(f.payload, f.h.len, &out);
		if (rc != v[i].want)
			fail_msg("row %zu: got %d want %d", i, rc, v[i].want);
		if (rc < 0)
			continue;
		assert_true(out.id == 9);
		assert_int_equal(out.path_len, 15);
		assert_string_equal(out.path, "var/log/app.log");
		assert_true(out.base == v[i].base && out.length == v[i].length);
		assert_int_equal(out.tail_len, v[i].tail);
		for (int k = 0; k < HASH_LEN; k++)
			assert_int_equal(out.tail[k], 0xa0 + k);
		free(out.path);
	}
	/* the path is checked like every other wire path */
	struct proto_append bad = { .id = 1, .path = (char *)"../etc/passwd", .path_len = 13,
				    .base = 1, .length = 1, .tail_len = 1 };
	wbuf_reset(&b);
	proto_put_append(&b, &bad);
	one_frame(&b, &f);
	assert_int_equal(proto_get_append(f.payload, f.h.len, &out), -EBADMSG);
	bad.path = (char *)"";
	bad.path_len = 0;                       /* the root is no file */
	wbuf_reset(&b);
	proto_put_append(&b, &bad);
	one_frame(&b, &f);
	assert_int_equal(proto_get_append(f.payload, f.h.len, &out), -EBADMSG);
	wbuf_free(&b);
}

static void test_need_done_end_ok(void **state)
{
	struct wbuf b;
	struct frame f;
	uint64_t id;
	uint8_t mode;
	int32_t st;
	struct proto_end_ok in = { 1, 2, 3, 4, 5, 6 }, out;

	(void)state;
	wbuf_init(&b, 256);
	for (uint8_t m = 0; m <= NEED_DELTA + 1; m++) {
		wbuf_reset(&b);
		proto_put_need(&b, 8, m);
		one_frame(&b, &f);
		expect_dir(&f.h, TO_SOURCE);
		if (m <= NEED_DELTA) {
			assert_int_equal(proto_get_need(f.payload, f.h.len, &id, &mode), 0);
			assert_true(id == 8);
			assert_int_equal(mode, m);
		} else {
			assert_int_equal(proto_get_need(f.payload, f.h.len, &id, &mode), -EBADMSG);
		}
	}
	wbuf_reset(&b);
	proto_put_done(&b, 9, -ELOOP);
	one_frame(&b, &f);
	expect_dir(&f.h, TO_SOURCE);
	assert_int_equal(proto_get_done(f.payload, f.h.len, &id, &st), 0);
	assert_true(id == 9);
	assert_int_equal(st, -ELOOP);

	char *path;
	size_t len;
	wbuf_reset(&b);
	proto_put_failed(&b, -ENOENT, "a/b", 3);
	one_frame(&b, &f);
	expect_dir(&f.h, TO_SOURCE);
	assert_int_equal(proto_get_failed(f.payload, f.h.len, &st, &path, &len), 0);
	assert_int_equal(st, -ENOENT);
	assert_string_equal(path, "a/b");
	assert_int_equal(len, 3);
	free(path);
	wbuf_reset(&b);
	proto_put_failed(&b, -EPERM, "a/../b", 6);     /* paths are checked */
	one_frame(&b, &f);
	assert_int_equal(proto_get_failed(f.payload, f.h.len, &st, &path, &len), -EBADMSG);

	wbuf_reset(&b);
	proto_put_end_ok(&b, &in);
	one_frame(&b, &f);
	expect_dir(&f.h, TO_SOURCE);
	assert_int_equal(proto_get_end_ok(f.payload, f.h.len, &out), 0);
	assert_memory_equal(&out, &in, sizeof(in));
	wbuf_free(&b);
}

/* Encoders into tiny buffers: either the whole frame or a latched error,
 * never a partial frame reported as success. */
static void test_tiny_buffers(void **state)
{
	struct entry e;
	size_t full;
	struct wbuf b;

	(void)state;
	init_entry(&e, ENT_SYMLINK, "dir/link", "target");
	wbuf_init(&b, 4096);
	proto_put_entry(&b, 1, &e);
	full = b.len;
	wbuf_free(&b);
	for (size_t lim = 0; lim <= full; lim++) {
		wbuf_init(&b, lim);
		proto_put_entry(&b, 1, &e);
		if (lim < full) {
			assert_int_equal(b.err, -EMSGSIZE);
		} else {
			struct frame f;
			one_frame(&b, &f);
		}
		wbuf_free(&b);
		wbuf_init(&b, lim);
		proto_put_hello(&b, "www", "node");
		assert_true(b.err == (lim < WIRE_HDR_LEN + 24 + 7 ? -EMSGSIZE : 0));
		wbuf_free(&b);
	}
}

/* ---- the table ---- */

static void test_table(void **state)
{
	static const struct { uint8_t type; uint32_t len; uint8_t flags; enum proto_dir dir; int want; } v[] = {
		{ MSG_HELLO, 24, 0, TO_SINK, 0 },
		{ MSG_HELLO, 24, 0, TO_SOURCE, -EBADMSG },      /* wrong direction */
		{ MSG_HELLO, 23, 0, TO_SINK, -EBADMSG },        /* too short */
		{ MSG_HELLO, 24 + 2 * PROTO_NAME_MAX, 0, TO_SINK, 0 },
		{ MSG_HELLO, 24 + 2 * PROTO_NAME_MAX + 1, 0, TO_SINK, -EBADMSG },  /* too long */
		{ MSG_HELLO, 24, 1, TO_SINK, -EBADMSG },        /* unknown flag */
		{ MSG_HELLO_OK, 26, 0, TO_SINK, -EBADMSG },
		{ MSG_HELLO_OK, 25, 0, TO_SOURCE, -EBADMSG },
		{ MSG_HELLO_OK, 27, 0, TO_SOURCE, -EBADMSG },
		{ MSG_ERROR, 8, 0, TO_SINK, 0 },
		{ MSG_ERROR, 8, 0, TO_SOURCE, 0 },
		{ MSG_ERROR, 7, 0, TO_SINK, -EBADMSG },
		{ MSG_ERROR, 8 + PROTO_MSG_MAX + 1, 0, TO_SINK, -EBADMSG },
		{ MSG_ENTRY, 61, 0, TO_SINK, 0 },
		{ MSG_ENTRY, 60, 0, TO_SINK, -EBADMSG },
		{ MSG_ENTRY, 61, 0x80, TO_SINK, -EBADMSG },
		{ MSG_ENTRY, 61, 0, TO_SOURCE, -EBADMSG },
		{ MSG_ENTRY, WIRE_MAX_PAYLOAD, 0, TO_SINK, -EBADMSG },
		{ MSG_DIR_DONE, 11, 0, TO_SINK, -EBADMSG },
		{ MSG_DELETE, 12, 0, TO_SINK, -EBADMSG },       /* DELETE needs a name */
		{ MSG_RENAME, 17, 0, TO_SINK, -EBADMSG },
		{ MSG_END, 8, 0, TO_SINK, 0 },
		{ MSG_END, 9, 0, TO_SINK, -EBADMSG },
		{ MSG_END, 8, 0, TO_SOURCE, -EBADMSG },
		{ MSG_DATA, 8, DATA_ZSTD, TO_SINK, 0 },
		{ MSG_DATA, 8, 0x02, TO_SINK, -EBADMSG },
		{ MSG_DATA, 8, 0xff, TO_SINK, -EBADMSG },
		{ MSG_DATA, 7, 0, TO_SINK, -EBADMSG },
		{ MSG_DATA, 8, 0, TO_SOURCE, -EBADMSG },
		{ MSG_DATA, (1u << 20) + 1, 0, TO_SINK, -EBADMSG },
		{ MSG_FILE_END, 17 + HASH_LEN, 0, TO_SINK, 0 },
		{ MSG_FILE_END, 16 + HASH_LEN, 0, TO_SINK, -EBADMSG },
		{ MSG_FILE_END, 18 + HASH_LEN, 0, TO_SINK, -EBADMSG },
		{ MSG_APPEND, 32 + HASH_LEN, 0, TO_SINK, -EBADMSG },   /* needs a name */
		{ MSG_APPEND, 32 + HASH_LEN + 1, 0, TO_SINK, 0 },
		{ MSG_APPEND, 32 + HASH_LEN + 1, 0, TO_SOURCE, -EBADMSG },
		{ MSG_APPEND, 32 + HASH_LEN + 1, 1, TO_SINK, -EBADMSG },
		{ MSG_APPEND, 8 + 4 + PATH_WIRE_MAX + 20 + HASH_LEN, 0, TO_SINK, 0 },
		{ MSG_APPEND, 8 + 4 + PATH_WIRE_MAX + 20 + HASH_LEN + 1, 0, TO_SINK, -EBADMSG },
		{ MSG_NEED, 9, 0, TO_SINK, -EBADMSG },
		{ MSG_NEED, 9, 0, TO_SOURCE, 0 },
		{ MSG_SIG, 8, 0, TO_SINK, -EBADMSG },
		{ MSG_SIG, 8, DATA_ZSTD, TO_SOURCE, -EBADMSG },
		{ MSG_ACK, 8, 0, TO_SINK, -EBADMSG },
		{ MSG_DONE, 12, 0, TO_SOURCE, 0 },
		{ MSG_DONE, 11, 0, TO_SOURCE, -EBADMSG },
		{ MSG_END_OK, 48, 0, TO_SOURCE, 0 },
		{ MSG_END_OK, 47, 0, TO_SOURCE, -EBADMSG },
		{ MSG_PING, 8, 0, TO_SINK, 0 },
		{ MSG_PONG, 8, 0, TO_SOURCE, 0 },
		{ MSG_PING, 8, 1, TO_SINK, -EBADMSG },
		/* unknown types */
		{ 0, 8, 0, TO_SINK, -EBADMSG },
		{ 4, 8, 0, TO_SINK, -EBADMSG },
		{ 9, 8, 0, TO_SINK, -EBADMSG },
		{ 16, 8, 0, TO_SINK, -EBADMSG },
		{ 42, 8, 0, BOTH, -EBADMSG },
		{ 255, 8, 0, BOTH, -EBADMSG },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct wire_hdr h = { .len = v[i].len, .type = v[i].type, .flags = v[i].flags };
		int rc = proto_check_frame(&h, v[i].dir);
		if (rc != v[i].want)
			fail_msg("row %zu: type %u len %u flags %#x dir %d: got %d want %d", i,
				 v[i].type, v[i].len, v[i].flags, v[i].dir, rc, v[i].want);
	}
	/* every unknown type is refused whatever its shape */
	for (unsigned t = 0; t < 256; t++) {
		const char *n = proto_msg_name((uint8_t)t);
		struct wire_hdr h = { .len = 8, .type = (uint8_t)t };
		assert_non_null(n);
		if (strcmp(n, "UNKNOWN") == 0)
			assert_int_equal(proto_check_frame(&h, BOTH), -EBADMSG);
	}
	assert_string_equal(proto_msg_name(MSG_HELLO), "HELLO");
	assert_string_equal(proto_msg_name(MSG_FILE_END), "FILE_END");
}

/* ---- deterministic mutation ---- */

struct corpus {
	struct wbuf b[32];
	enum proto_dir dir[32];
	size_t n;
};

static struct wbuf *corpus_next(struct corpus *c, enum proto_dir dir)
{
	assert_true(c->n < 32);
	c->dir[c->n] = dir;
	wbuf_init(&c->b[c->n], 65536);
	return &c->b[c->n++];
}

static void corpus_build(struct corpus *c)
{
	struct proto_hello_ok hok = { 1, 2, 3, 4 };
	struct proto_file_end fe = { .id = 5, .status = FILE_OK, .size = 6 };
	struct proto_end_ok eok = { 1, 2, 3, 4, 5, 6 };
	struct entry e;

	memset(c, 0, sizeof(*c));
	proto_put_hello(corpus_next(c, TO_SINK), "www", "web1");
	proto_put_hello_ok(corpus_next(c, TO_SOURCE), &hok);
	proto_put_error(corpus_next(c, BOTH), EPROTO, "bad");
	init_entry(&e, ENT_FILE, "d/f", NULL);
	e.xattrs = (uint8_t *)xattr_blob;
	e.xattrs_len = sizeof(xattr_blob);
	proto_put_entry(corpus_next(c, TO_SINK), 1, &e);
	init_entry(&e, ENT_DIR, "d", NULL);
	proto_put_entry(corpus_next(c, TO_SINK), 2, &e);
	init_entry(&e, ENT_SYMLINK, "d/s", "../t");
	proto_put_entry(corpus_next(c, TO_SINK), 3, &e);
	init_entry(&e, ENT_HARDLINK, "d/h", "d/f");
	proto_put_entry(corpus_next(c, TO_SINK), 4, &e);
	init_entry(&e, ENT_CHR, "d/c", NULL);
	proto_put_entry(corpus_next(c, TO_SINK), 5, &e);
	proto_put_path(corpus_next(c, TO_SINK), MSG_DIR_DONE, 6, "d", 1);
	proto_put_path(corpus_next(c, TO_SINK), MSG_DIR_DONE, 6, "", 0);
	proto_put_path(corpus_next(c, TO_SINK), MSG_DELETE, 7, "d/x/y", 5);
	proto_put_rename(corpus_next(c, TO_SINK), 8, "a/b", 3, "c", 1);
	proto_put_id(corpus_next(c, TO_SINK), MSG_END, 9);
	proto_put_chunk(corpus_next(c, TO_SINK), MSG_DATA, DATA_ZSTD, 10, "zstd?", 5);
	proto_put_chunk(corpus_next(c, TO_SINK), MSG_DATA, 0, 10, "", 0);
	proto_put_file_end(corpus_next(c, TO_SINK), &fe);
	struct proto_append ap = { .id = 18, .path = (char *)"d/log", .path_len = 5,
				   .base = 5000, .length = 4096, .tail_len = PROTO_TAIL_MAX };
	proto_put_append(corpus_next(c, TO_SINK), &ap);
	proto_put_need(corpus_next(c, TO_SOURCE), 11, NEED_DELTA);
	proto_put_chunk(corpus_next(c, TO_SOURCE), MSG_SIG, 0, 12, "sig", 3);
	proto_put_id(corpus_next(c, TO_SOURCE), MSG_SIG_END, 13);
	proto_put_id(corpus_next(c, TO_SOURCE), MSG_ACK, 14);
	proto_put_done(corpus_next(c, TO_SOURCE), 15, -EIO);
	proto_put_end_ok(corpus_next(c, TO_SOURCE), &eok);
	proto_put_id(corpus_next(c, BOTH), MSG_PING, 16);
	proto_put_id(corpus_next(c, BOTH), MSG_PONG, 17);
	for (size_t i = 0; i < c->n; i++) {
		struct frame f;
		one_frame(&c->b[i], &f);
		assert_int_equal(proto_check_frame(&f.h, c->dir[i]), 0);
	}
}

static void corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		wbuf_free(&c->b[i]);
}

static void assert_in(const uint8_t *q, size_t qlen, const uint8_t *p, size_t n)
{
	assert_true(qlen <= n);
	if (qlen > 0)
		assert_true(q >= p && q + qlen <= p + n);
}

static void assert_wire_path(const char *p, size_t len)
{
	assert_non_null(p);
	assert_int_equal(path_check(p, len), 0);
	assert_int_equal(p[len], '\0');
	assert_int_equal(strlen(p), len);
}

/* Decode payload p[0..n) as type; a success must be well formed.  Returns
 * 1 when the decoder accepted it. */
static int decode_as(uint8_t type, const uint8_t *p, size_t n)
{
	uint64_t id;
	int rc = -EBADMSG;

	switch (type) {
	case MSG_HELLO: {
		struct proto_hello m;
		if ((rc = proto_get_hello(p, n, &m)) == 0) {
			assert_int_equal(m.magic, PROTO_MAGIC);
			assert_true(m.mirror_len <= PROTO_NAME_MAX && m.node_len <= PROTO_NAME_MAX);
			assert_in(m.mirror, m.mirror_len, p, n);
			assert_in(m.node, m.node_len, p, n);
			assert_null(memchr(m.mirror, 0, m.mirror_len));
		}
		break;
	}
	case MSG_HELLO_OK: {
		struct proto_hello_ok m;
		rc = proto_get_hello_ok(p, n, &m);
		break;
	}
	case MSG_ERROR: {
		uint32_t code;
		const uint8_t *t;
		size_t len;
		if ((rc = proto_get_error(p, n, &code, &t, &len)) == 0) {
			assert_true(len <= PROTO_MSG_MAX);
			assert_in(t, len, p, n);
		}
		break;
	}
	case MSG_ENTRY: {
		struct entry e;
		if ((rc = proto_get_entry(p, n, &id, &e)) == 0) {
			assert_wire_path(e.path, e.path_len);
			assert_true(e.type > ENT_NONE && e.type <= ENT_TYPE_MAX);
			assert_int_equal(e.mode & ~07777u, 0);
			assert_true(e.mtime_nsec < 1000000000u);
			if (e.type == ENT_HARDLINK) {
				assert_true(e.link_len > 0);
				assert_wire_path(e.link, e.link_len);
			} else if (e.type == ENT_SYMLINK) {
				assert_true(e.link_len > 0);
				assert_int_equal(strlen(e.link), e.link_len);
			} else {
				assert_null(e.link);
			}
			if (e.xattrs)
				assert_int_equal(fsmeta_xattrs_check(e.xattrs, e.xattrs_len), 0);
			entry_clear(&e);
		} else {
			assert_null(e.path);
			assert_null(e.link);
			assert_null(e.xattrs);
		}
		break;
	}
	case MSG_DIR_DONE:
	case MSG_DELETE: {
		char *path;
		size_t len;
		if ((rc = proto_get_path(p, n, &id, &path, &len)) == 0) {
			assert_wire_path(path, len);
			free(path);
		}
		break;
	}
	case MSG_RENAME: {
		char *from, *to;
		size_t fl, tl;
		if ((rc = proto_get_rename(p, n, &id, &from, &fl, &to, &tl)) == 0) {
			assert_true(fl > 0 && tl > 0);
			assert_wire_path(from, fl);
			assert_wire_path(to, tl);
			free(from);
			free(to);
		}
		break;
	}
	case MSG_END: case MSG_SIG_END: case MSG_ACK: case MSG_PING: case MSG_PONG:
		rc = proto_get_id(p, n, &id);
		if (rc == 0)
			assert_int_equal(n, 8);
		break;
	case MSG_DATA: case MSG_SIG: {
		const uint8_t *d;
		size_t len;
		if ((rc = proto_get_chunk(p, n, &id, &d, &len)) == 0) {
			assert_int_equal(len, n - 8);
			assert_in(d, len, p, n);
		}
		break;
	}
	case MSG_FILE_END: {
		struct proto_file_end m;
		if ((rc = proto_get_file_end(p, n, &m)) == 0)
			assert_true(m.status <= FILE_ABORTED);
		break;
	}
	case MSG_APPEND: {
		struct proto_append m;
		if ((rc = proto_get_append(p, n, &m)) == 0) {
			assert_true(m.path_len > 0);
			assert_wire_path(m.path, m.path_len);
			assert_true(m.tail_len <= PROTO_TAIL_MAX && m.tail_len <= m.base);
			assert_true(m.base + m.length >= m.base);
			free(m.path);
		}
		break;
	}
	case MSG_NEED: {
		uint8_t mode;
		if ((rc = proto_get_need(p, n, &id, &mode)) == 0)
			assert_true(mode <= NEED_DELTA);
		break;
	}
	case MSG_DONE: {
		int32_t st;
		rc = proto_get_done(p, n, &id, &st);
		break;
	}
	case MSG_END_OK: {
		struct proto_end_ok m;
		rc = proto_get_end_ok(p, n, &m);
		break;
	}
	case MSG_FAILED: {
		int32_t st;
		char *path;
		size_t len;
		if ((rc = proto_get_failed(p, n, &st, &path, &len)) == 0) {
			assert_wire_path(path, len);
			free(path);
		}
		break;
	}
	default:
		return 0;
	}
	if (rc != 0)
		assert_int_equal(rc, -EBADMSG);
	return rc == 0;
}

struct mstats {
	unsigned long mutants, hdr_refused, table_refused, decoded, refused;
};

/* One mutant of a frame of original type orig: the header as a receiver
 * would see it, the table, then the decoder of the type it claims and the
 * decoder of the original type, on an exact-size heap copy of the payload. */
static void feed(const uint8_t *m, size_t n, uint8_t orig, struct mstats *st)
{
	struct wire_hdr h;
	uint8_t *payload;
	size_t plen;

	st->mutants++;
	if (n < WIRE_HDR_LEN) {
		st->hdr_refused++;
		return;
	}
	if (wire_hdr_decode(m, WIRE_MAX_PAYLOAD, &h) < 0) {
		st->hdr_refused++;
		return;
	}
	plen = n - WIRE_HDR_LEN;
	payload = malloc(plen ? plen : 1);
	assert_non_null(payload);
	memcpy(payload, m + WIRE_HDR_LEN, plen);
	if (h.len == plen && (proto_check_frame(&h, TO_SINK) == 0 ||
			      proto_check_frame(&h, TO_SOURCE) == 0)) {
		if (decode_as(h.type, payload, plen))
			st->decoded++;
		else
			st->refused++;
	} else {
		st->table_refused++;
	}
	/* decoders are safe on their own, whatever the header said */
	(void)decode_as(orig, payload, plen);
	free(payload);
}

static void test_mutation(void **state)
{
	struct corpus c;
	struct mstats st = { 0 };

	(void)state;
	corpus_build(&c);
	for (size_t i = 0; i < c.n; i++) {
		const uint8_t *orig = c.b[i].data;
		size_t n = c.b[i].len;
		uint8_t type = orig[4];
		uint8_t *m = malloc(n);

		assert_non_null(m);
		/* the original decodes */
		assert_int_equal(decode_as(type, orig + WIRE_HDR_LEN, n - WIRE_HDR_LEN), 1);
		for (size_t k = 0; k < n; k++) {
			for (int bit = 0; bit < 8; bit++) {
				memcpy(m, orig, n);
				m[k] ^= (uint8_t)(1u << bit);
				feed(m, n, type, &st);
			}
			memcpy(m, orig, n);
			m[k] = 0x00;
			feed(m, n, type, &st);
			m[k] = 0xff;
			feed(m, n, type, &st);
		}
		for (size_t cut = 0; cut < n; cut++) {
			uint8_t *t = malloc(cut ? cut : 1);
			assert_non_null(t);
			memcpy(t, orig, cut);
			feed(t, cut, type, &st);
			/* a truncated payload under an honest header */
			if (cut >= WIRE_HDR_LEN) {
				struct wire_hdr h;
				assert_int_equal(wire_hdr_decode(orig, WIRE_MAX_PAYLOAD, &h), 0);
				h.len = (uint32_t)(cut - WIRE_HDR_LEN);
				wire_hdr_encode(t, &h);
				feed(t, cut, type, &st);
			}
			free(t);
		}
		free(m);
	}
	print_message("mutation: %lu mutants: %lu bad header, %lu refused by the table, "
		      "%lu refused by a decoder, %lu decoded well formed\n", st.mutants,
		      st.hdr_refused, st.table_refused, st.refused, st.decoded);
	/* the run must exercise every layer, or it proves nothing */
	assert_true(st.hdr_refused > 0);
	assert_true(st.table_refused > 0);
	assert_true(st.refused > 0);
	assert_true(st.decoded > 0);
	corpus_free(&c);
}

/* Truncating the payload of any frame, with the header adjusted to match,
 * is refused by the table or by the decoder: no field is optional. */
static void test_truncation_always_refused(void **state)
{
	struct corpus c;

	(void)state;
	corpus_build(&c);
	for (size_t i = 0; i < c.n; i++) {
		const uint8_t *orig = c.b[i].data;
		size_t plen = c.b[i].len - WIRE_HDR_LEN;
		uint8_t type = orig[4];
		uint8_t flags = orig[5];

		/* DATA/SIG carry raw bytes to the end: cutting those is legal */
		size_t min_cut = type == MSG_DATA || type == MSG_SIG ? 8 : plen;
		for (size_t cut = 0; cut < min_cut; cut++) {
			struct wire_hdr h = { .len = (uint32_t)cut, .type = type, .flags = flags };
			uint8_t *p = malloc(cut ? cut : 1);
			assert_non_null(p);
			memcpy(p, orig + WIRE_HDR_LEN, cut);
			if (proto_check_frame(&h, c.dir[i]) == 0 && decode_as(type, p, cut))
				fail_msg("%s cut to %zu of %zu bytes was accepted",
					 proto_msg_name(type), cut, plen);
			free(p);
		}
	}
	corpus_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_hello_nul_in_name),
		cmocka_unit_test(test_hello_ok),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_entry_types),
		cmocka_unit_test(test_entry_bad_fields),
		cmocka_unit_test(test_paths_rejected),
		cmocka_unit_test(test_paths_accepted),
		cmocka_unit_test(test_id_frames),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_file_end),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_need_done_end_ok),
		cmocka_unit_test(test_tiny_buffers),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_mutation),
		cmocka_unit_test(test_truncation_always_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
