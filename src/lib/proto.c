/* proto: message table and payload codecs. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsmeta.h"
#include "path.h"
#include "proto.h"

/* One row per message: name, direction, payload bounds, allowed flags. */
struct proto_row {
	const char *name;
	uint8_t dir;
	uint32_t min_len, max_len;
	uint8_t flags;
};

#define PATH_FIELD (4 + PATH_WIRE_MAX)
#define ENTRY_MAX (8 + 1 + 4 * 3 + 8 + 8 + 4 + 8 + 2 * PATH_FIELD + 4 + FSMETA_XATTRS_MAX)

static const struct proto_row proto_table[] = {
	[MSG_HELLO] = { "HELLO", TO_SINK, 24, 24 + 2 * PROTO_NAME_MAX, 0 },
	[MSG_HELLO_OK] = { "HELLO_OK", TO_SOURCE, 26, 26, 0 },
	[MSG_ERROR] = { "ERROR", BOTH, 8, 8 + PROTO_MSG_MAX, 0 },
	[MSG_ENTRY] = { "ENTRY", TO_SINK, 8 + 41 + 12, ENTRY_MAX, ENTRY_LISTED | ENTRY_FORCE },
	[MSG_DIR_DONE] = { "DIR_DONE", TO_SINK, 12, 8 + PATH_FIELD, 0 },
	[MSG_DELETE] = { "DELETE", TO_SINK, 13, 8 + PATH_FIELD, 0 },
	[MSG_RENAME] = { "RENAME", TO_SINK, 18, 8 + 2 * PATH_FIELD, 0 },
	[MSG_END] = { "END", TO_SINK, 8, 8, 0 },
	[MSG_APPEND] = { "APPEND", TO_SINK, 8 + 4 + 1 + 8 + 8 + 4 + HASH_LEN,
			 8 + PATH_FIELD + 8 + 8 + 4 + HASH_LEN, 0 },
	[MSG_DATA] = { "DATA", TO_SINK, 8, 8 + 4 + PROTO_CHUNK + 1024, DATA_ZSTD },
	[MSG_FILE_END] = { "FILE_END", TO_SINK, 17 + HASH_LEN, 17 + HASH_LEN, 0 },
	[MSG_NEED] = { "NEED", TO_SOURCE, 9, 9, 0 },
	[MSG_SIG] = { "SIG", TO_SOURCE, 8, 8 + PROTO_CHUNK, 0 },
	[MSG_SIG_END] = { "SIG_END", TO_SOURCE, 8, 8, 0 },
	[MSG_ACK] = { "ACK", TO_SOURCE, 8, 8, 0 },
	[MSG_DONE] = { "DONE", TO_SOURCE, 12, 12, 0 },
	[MSG_END_OK] = { "END_OK", TO_SOURCE, 48, 48, 0 },
	[MSG_FAILED] = { "FAILED", TO_SOURCE, 8, 4 + PATH_FIELD, 0 },
	[MSG_PING] = { "PING", BOTH, 8, 8, 0 },
	[MSG_PONG] = { "PONG", BOTH, 8, 8, 0 },
	[MSG_CHANGES] = { "CHANGES", TO_SOURCE, 25, 25, 0 },
	[MSG_CHANGE] = { "CHANGE", TO_SOURCE, 1, PROTO_BATCH_MAX, 0 },
	[MSG_CHANGES_END] = { "CHANGES_END", TO_SOURCE, 16, 16, 0 },
	[MSG_PATHS] = { "PATHS", TO_SINK, 1, PROTO_BATCH_MAX, 0 },
	[MSG_PATHS_END] = { "PATHS_END", TO_SINK, 8, 8, 0 },
	[MSG_DIGESTS] = { "DIGESTS", TO_SOURCE, 1, PROTO_BATCH_MAX, 0 },
	[MSG_DIGESTS_END] = { "DIGESTS_END", TO_SOURCE, 16, 16, 0 },
	[MSG_AUDIT_REQ] = { "AUDIT_REQ", TO_SINK, 13, 13 + PATH_WIRE_MAX, 0 },
	[MSG_AUDIT_LIST] = { "AUDIT_LIST", TO_SOURCE, 1, PROTO_BATCH_MAX, 0 },
	[MSG_AUDIT_END] = { "AUDIT_END", TO_SOURCE, 20, 20, 0 },
};

#define N_ROWS (sizeof(proto_table) / sizeof(proto_table[0]))

static const struct proto_row *row_of(uint8_t type)
{
	return type < N_ROWS && proto_table[type].name ? &proto_table[type] : NULL;
}

const char *proto_msg_name(uint8_t type)
{
	const struct proto_row *r = row_of(type);

	return r ? r->name : "UNKNOWN";
}

int proto_check_frame(const struct wire_hdr *h, enum proto_dir dir)
{
	const struct proto_row *r = row_of(h->type);

	if (!r || !(r->dir & dir))
		return -EBADMSG;
	if (h->len < r->min_len || h->len > r->max_len)
		return -EBADMSG;
	if (h->flags & ~r->flags)
		return -EBADMSG;
	return 0;
}

/* Frame builder: reserve the header, fill it once the payload is known. */
static size_t frame_begin(struct wbuf *out)
{
	size_t at = out->len;

	wbuf_reserve(out, WIRE_HDR_LEN);
	return at;
}

static void frame_end(struct wbuf *out, size_t at, uint8_t type, uint8_t flags)
{
	if (out->err)
		return;
	struct wire_hdr h = { .len = (uint32_t)(out->len - at - WIRE_HDR_LEN),
			      .type = type, .flags = flags };
	wire_hdr_encode(out->data + at, &h);
}

void proto_put_hello(struct wbuf *out, const char *mirror, const char *node)
{
	proto_put_hello_features(out, mirror, node, 0);
}

void proto_put_hello_features(struct wbuf *out, const char *mirror, const char *node,
			      uint64_t features)
{
	size_t at = frame_begin(out);

	wbuf_put_u32(out, PROTO_MAGIC);
	wbuf_put_u16(out, PROTO_VERSION);
	wbuf_put_u16(out, PROTO_VERSION);
	wbuf_put_u64(out, features);
	wbuf_put_bytes(out, mirror, strlen(mirror));
	wbuf_put_bytes(out, node, strlen(node));
	frame_end(out, at, MSG_HELLO, 0);
}

void proto_put_hello_ok(struct wbuf *out, const struct proto_hello_ok *m)
{
	size_t at = frame_begin(out);

	wbuf_put_u16(out, m->version);
	wbuf_put_u64(out, m->features);
	wbuf_put_u64(out, m->journal_id);
	wbuf_put_u64(out, m->acked);
	frame_end(out, at, MSG_HELLO_OK, 0);
}

void proto_put_error(struct wbuf *out, uint32_t code, const char *text)
{
	size_t at = frame_begin(out);
	size_t n = strlen(text);

	wbuf_put_u32(out, code);
	wbuf_put_bytes(out, text, n > PROTO_MSG_MAX ? PROTO_MSG_MAX : n);
	frame_end(out, at, MSG_ERROR, 0);
}

void proto_put_entry(struct wbuf *out, uint64_t id, const struct entry *e)
{
	proto_put_entry_flags(out, id, 0, e);
}

void proto_put_entry_flags(struct wbuf *out, uint64_t id, uint8_t flags, const struct entry *e)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	wbuf_put_u8(out, e->type);
	wbuf_put_u32(out, e->mode);
	wbuf_put_u32(out, e->uid);
	wbuf_put_u32(out, e->gid);
	wbuf_put_u64(out, e->size);
	wbuf_put_u64(out, (uint64_t)e->mtime_sec);
	wbuf_put_u32(out, e->mtime_nsec);
	wbuf_put_u64(out, e->rdev);
	wbuf_put_bytes(out, e->path, e->path_len);
	wbuf_put_bytes(out, e->link, e->link ? e->link_len : 0);
	wbuf_put_bytes(out, e->xattrs, e->xattrs ? e->xattrs_len : 0);
	frame_end(out, at, MSG_ENTRY, flags);
}

void proto_put_path(struct wbuf *out, uint8_t type, uint64_t id, const char *p, size_t len)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	wbuf_put_bytes(out, p, len);
	frame_end(out, at, type, 0);
}

void proto_put_rename(struct wbuf *out, uint64_t id, const char *from, size_t flen,
		      const char *to, size_t tlen)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	wbuf_put_bytes(out, from, flen);
	wbuf_put_bytes(out, to, tlen);
	frame_end(out, at, MSG_RENAME, 0);
}

void proto_put_id(struct wbuf *out, uint8_t type, uint64_t id)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	frame_end(out, at, type, 0);
}

void proto_put_chunk(struct wbuf *out, uint8_t type, uint8_t flags, uint64_t id,
		     const void *p, size_t len)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	wbuf_put_raw(out, p, len);
	frame_end(out, at, type, flags);
}

void proto_put_raw(struct wbuf *out, uint8_t type, const void *p, size_t len)
{
	size_t at = frame_begin(out);

	wbuf_put_raw(out, p, len);
	frame_end(out, at, type, 0);
}

void proto_put_file_end(struct wbuf *out, const struct proto_file_end *m)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, m->id);
	wbuf_put_u8(out, m->status);
	wbuf_put_u64(out, m->size);
	wbuf_put_raw(out, m->digest, HASH_LEN);
	frame_end(out, at, MSG_FILE_END, 0);
}

void proto_put_need(struct wbuf *out, uint64_t id, uint8_t mode)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	wbuf_put_u8(out, mode);
	frame_end(out, at, MSG_NEED, 0);
}

void proto_put_done(struct wbuf *out, uint64_t id, int32_t status)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, id);
	wbuf_put_u32(out, (uint32_t)status);
	frame_end(out, at, MSG_DONE, 0);
}

void proto_put_failed(struct wbuf *out, int32_t status, const char *p, size_t len)
{
	size_t at = frame_begin(out);

	wbuf_put_u32(out, (uint32_t)status);
	wbuf_put_bytes(out, p, len);
	frame_end(out, at, MSG_FAILED, 0);
}

void proto_put_append(struct wbuf *out, const struct proto_append *m)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, m->id);
	wbuf_put_bytes(out, m->path, m->path_len);
	wbuf_put_u64(out, m->base);
	wbuf_put_u64(out, m->length);
	wbuf_put_u32(out, m->tail_len);
	wbuf_put_raw(out, m->tail, HASH_LEN);
	frame_end(out, at, MSG_APPEND, 0);
}

void proto_put_end_ok(struct wbuf *out, const struct proto_end_ok *m)
{
	size_t at = frame_begin(out);

	wbuf_put_u64(out, m->id);
	wbuf_put_u64(out, m->files);
	wbuf_put_u64(out, m->bytes);
	wbuf_put_u64(out, m->entries);
	wbuf_put_u64(out, m->deletes);
	wbuf_put_u64(out, m->errors);
	frame_end(out, at, MSG_END_OK, 0);
}

int proto_get_hello(const uint8_t *p, size_t n, struct proto_hello *ret)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	ret->magic = rbuf_get_u32(&r);
	ret->min_version = rbuf_get_u16(&r);
	ret->max_version = rbuf_get_u16(&r);
	ret->features = rbuf_get_u64(&r);
	rbuf_get_bytes(&r, PROTO_NAME_MAX, &ret->mirror, &ret->mirror_len);
	rbuf_get_bytes(&r, PROTO_NAME_MAX, &ret->node, &ret->node_len);
	if (rbuf_end(&r) < 0 || ret->magic != PROTO_MAGIC)
		return -EBADMSG;
	if (memchr(ret->mirror, 0, ret->mirror_len) || memchr(ret->node, 0, ret->node_len))
		return -EBADMSG;
	return 0;
}

int proto_get_hello_ok(const uint8_t *p, size_t n, struct proto_hello_ok *ret)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	ret->version = rbuf_get_u16(&r);
	ret->features = rbuf_get_u64(&r);
	ret->journal_id = rbuf_get_u64(&r);
	ret->acked = rbuf_get_u64(&r);
	return rbuf_end(&r);
}

int proto_get_error(const uint8_t *p, size_t n, uint32_t *ret_code, const uint8_t **ret_text,
		    size_t *ret_len)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_code = rbuf_get_u32(&r);
	rbuf_get_bytes(&r, PROTO_MSG_MAX, ret_text, ret_len);
	return rbuf_end(&r);
}

static char *dup_path(const uint8_t *p, size_t len)
{
	char *s;

	if (path_check((const char *)p, len) < 0)
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static int entry_fields_check(const struct entry *e)
{
	if (e->type == ENT_NONE || e->type > ENT_TYPE_MAX || (e->mode & ~07777u))
		return -EBADMSG;
	if (e->mtime_nsec >= 1000000000u)
		return -EBADMSG;
	if ((e->type == ENT_SYMLINK || e->type == ENT_HARDLINK) != (e->link != NULL))
		return -EBADMSG;
	if (e->type == ENT_SYMLINK && (e->link_len == 0 || memchr(e->link, 0, e->link_len)))
		return -EBADMSG;
	if (e->type == ENT_HARDLINK &&
	    (e->link_len == 0 || path_check(e->link, e->link_len) < 0))
		return -EBADMSG;
	if (e->xattrs && fsmeta_xattrs_check(e->xattrs, e->xattrs_len) < 0)
		return -EBADMSG;
	return 0;
}

/* Copy the variable fields of an ENTRY; 0 or -EBADMSG / -ENOMEM. */
static int entry_get_strings(struct rbuf *r, struct entry *e)
{
	const uint8_t *path, *link, *xa;
	size_t plen, llen, xlen;

	rbuf_get_bytes(r, PATH_WIRE_MAX, &path, &plen);
	rbuf_get_bytes(r, PATH_WIRE_MAX, &link, &llen);
	rbuf_get_bytes(r, FSMETA_XATTRS_MAX, &xa, &xlen);
	if (rbuf_end(r) < 0)
		return -EBADMSG;
	e->path = dup_path(path, plen);
	if (!e->path)
		return -EBADMSG;
	e->path_len = plen;
	if (llen > 0) {
		e->link = malloc(llen + 1);
		if (!e->link)
			return -ENOMEM;
		memcpy(e->link, link, llen);
		e->link[llen] = '\0';
		e->link_len = llen;
	}
	if (xlen > 0) {
		e->xattrs = malloc(xlen);
		if (!e->xattrs)
			return -ENOMEM;
		memcpy(e->xattrs, xa, xlen);
		e->xattrs_len = xlen;
	}
	return 0;
}

int proto_get_entry(const uint8_t *p, size_t n, uint64_t *ret_id, struct entry *ret)
{
	struct rbuf r;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	ret->type = rbuf_get_u8(&r);
	ret->mode = rbuf_get_u32(&r);
	ret->uid = rbuf_get_u32(&r);
	ret->gid = rbuf_get_u32(&r);
	ret->size = rbuf_get_u64(&r);
	ret->mtime_sec = (int64_t)rbuf_get_u64(&r);
	ret->mtime_nsec = rbuf_get_u32(&r);
	ret->rdev = rbuf_get_u64(&r);
	rc = entry_get_strings(&r, ret);
	if (rc == 0)
		rc = entry_fields_check(ret);
	if (rc < 0)
		entry_clear(ret);
	return rc;
}

/* The frame's last field, a path: copied out, the frame fully read. */
static int get_last_path(struct rbuf *r, char **ret_path, size_t *ret_len)
{
	const uint8_t *path;
	size_t len;

	rbuf_get_bytes(r, PATH_WIRE_MAX, &path, &len);
	if (rbuf_end(r) < 0)
		return -EBADMSG;
	*ret_path = dup_path(path, len);
	*ret_len = len;
	return *ret_path ? 0 : -EBADMSG;
}

int proto_get_path(const uint8_t *p, size_t n, uint64_t *ret_id, char **ret_path,
		   size_t *ret_len)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	return get_last_path(&r, ret_path, ret_len);
}

int proto_get_rename(const uint8_t *p, size_t n, uint64_t *ret_id, char **ret_from,
		     size_t *ret_flen, char **ret_to, size_t *ret_tlen)
{
	struct rbuf r;
	const uint8_t *from, *to;

	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	rbuf_get_bytes(&r, PATH_WIRE_MAX, &from, ret_flen);
	rbuf_get_bytes(&r, PATH_WIRE_MAX, &to, ret_tlen);
	if (rbuf_end(&r) < 0 || *ret_flen == 0 || *ret_tlen == 0)
		return -EBADMSG;
	*ret_from = dup_path(from, *ret_flen);
	*ret_to = dup_path(to, *ret_tlen);
	if (!*ret_from || !*ret_to) {
		free(*ret_from);
		free(*ret_to);
		*ret_from = *ret_to = NULL;
		return -EBADMSG;
	}
	return 0;
}

int proto_get_id(const uint8_t *p, size_t n, uint64_t *ret_id)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	return rbuf_end(&r);
}

int proto_get_chunk(const uint8_t *p, size_t n, uint64_t *ret_id, const uint8_t **ret_data,
		    size_t *ret_len)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	*ret_len = rbuf_left(&r);
	*ret_data = rbuf_get_raw(&r, *ret_len);
	return rbuf_end(&r);
}

int proto_get_file_end(const uint8_t *p, size_t n, struct proto_file_end *ret)
{
	struct rbuf r;
	const uint8_t *d;

	rbuf_init(&r, p, n);
	ret->id = rbuf_get_u64(&r);
	ret->status = rbuf_get_u8(&r);
	ret->size = rbuf_get_u64(&r);
	d = rbuf_get_raw(&r, HASH_LEN);
	if (rbuf_end(&r) < 0 || ret->status > FILE_ABORTED)
		return -EBADMSG;
	memcpy(ret->digest, d, HASH_LEN);
	return 0;
}

int proto_get_need(const uint8_t *p, size_t n, uint64_t *ret_id, uint8_t *ret_mode)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	*ret_mode = rbuf_get_u8(&r);
	if (rbuf_end(&r) < 0 || *ret_mode > NEED_DELTA)
		return -EBADMSG;
	return 0;
}

int proto_get_done(const uint8_t *p, size_t n, uint64_t *ret_id, int32_t *ret_status)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_id = rbuf_get_u64(&r);
	*ret_status = (int32_t)rbuf_get_u32(&r);
	return rbuf_end(&r);
}

int proto_get_failed(const uint8_t *p, size_t n, int32_t *ret_status, char **ret_path,
		     size_t *ret_len)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	*ret_status = (int32_t)rbuf_get_u32(&r);
	return get_last_path(&r, ret_path, ret_len);
}

int proto_get_end_ok(const uint8_t *p, size_t n, struct proto_end_ok *ret)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	ret->id = rbuf_get_u64(&r);
	ret->files = rbuf_get_u64(&r);
	ret->bytes = rbuf_get_u64(&r);
	ret->entries = rbuf_get_u64(&r);
	ret->deletes = rbuf_get_u64(&r);
	ret->errors = rbuf_get_u64(&r);
	return rbuf_end(&r);
}

int proto_get_append(const uint8_t *p, size_t n, struct proto_append *ret)
{
	struct rbuf r;
	const uint8_t *path, *tail;
	size_t len;
	struct proto_append m = { 0 };

	rbuf_init(&r, p, n);
	m.id = rbuf_get_u64(&r);
	rbuf_get_bytes(&r, PATH_WIRE_MAX, &path, &len);
	m.base = rbuf_get_u64(&r);
	m.length = rbuf_get_u64(&r);
	m.tail_len = rbuf_get_u32(&r);
	tail = rbuf_get_raw(&r, HASH_LEN);
	if (rbuf_end(&r) < 0 || len == 0 || m.base + m.length < m.base ||
	    m.tail_len != (m.base < PROTO_TAIL_MAX ? m.base : PROTO_TAIL_MAX))
		return -EBADMSG;
	memcpy(m.tail, tail, HASH_LEN);
	char *copy = dup_path(path, len);
	if (!copy)
		return -EBADMSG;
	m.path = copy;
	m.path_len = len;
	*ret = m;
	return 0;
}
