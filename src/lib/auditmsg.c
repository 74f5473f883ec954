/* auditmsg: drift audit messages.  See auditmsg.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auditmsg.h"
#include "entry.h"
#include "path.h"
#include "proto.h"

void auditmsg_put_req(struct wbuf *out, const struct auditmsg_req *q)
{
	struct wbuf w;

	wbuf_init(&w, 13 + PATH_WIRE_MAX);
	wbuf_put_u64(&w, q->rate);
	wbuf_put_u8(&w, q->kind);
	wbuf_put_bytes(&w, q->path, q->len);
	if (w.err)
		out->err = out->err ? out->err : w.err;
	else
		proto_put_raw(out, MSG_AUDIT_REQ, w.data, w.len);
	wbuf_free(&w);
}

int auditmsg_get_req(const uint8_t *p, size_t n, struct auditmsg_req *ret)
{
	struct rbuf r;
	const uint8_t *path;

	rbuf_init(&r, p, n);
	ret->rate = rbuf_get_u64(&r);
	ret->kind = rbuf_get_u8(&r);
	rbuf_get_bytes(&r, PATH_WIRE_MAX, &path, &ret->len);
	if (rbuf_end(&r) < 0 || ret->kind < AUDITMSG_LIST || ret->kind > AUDITMSG_HASH ||
	    path_check((const char *)path, ret->len) < 0)
		return -EBADMSG;
	ret->path = (const char *)path;
	return 0;
}

void auditmsg_put_end(struct wbuf *out, const struct auditmsg_end *e)
{
	uint8_t b[20];
	struct wbuf w;

	wbuf_init(&w, sizeof(b));
	wbuf_put_u32(&w, (uint32_t)e->status);
	wbuf_put_u64(&w, e->records);
	wbuf_put_u64(&w, e->bytes);
	proto_put_raw(out, MSG_AUDIT_END, w.data, w.len);
	wbuf_free(&w);
}

int auditmsg_get_end(const uint8_t *p, size_t n, struct auditmsg_end *ret)
{
	struct rbuf r;

	rbuf_init(&r, p, n);
	ret->status = (int32_t)rbuf_get_u32(&r);
	ret->records = rbuf_get_u64(&r);
	ret->bytes = rbuf_get_u64(&r);
	if (rbuf_end(&r) < 0 || ret->status > 0)
		return -EBADMSG;
	return 0;
}

void auditmsg_put_rec(struct wbuf *b, const struct audit_item *it)
{
	static const uint8_t zero[HASH_LEN];

	wbuf_put_u8(b, it->type);
	wbuf_put_u32(b, it->mode);
	wbuf_put_u32(b, it->uid);
	wbuf_put_u32(b, it->gid);
	wbuf_put_u64(b, it->size);
	wbuf_put_u64(b, (uint64_t)it->mtime_sec);
	wbuf_put_u32(b, it->mtime_nsec);
	wbuf_put_u64(b, it->rdev);
	wbuf_put_u8(b, it->has_digest);
	wbuf_put_raw(b, it->has_digest ? it->digest : zero, HASH_LEN);
	wbuf_put_bytes(b, it->name, it->name_len);
	wbuf_put_bytes(b, it->link, it->link_len);
}

bool auditmsg_batch_full(const struct wbuf *b)
{
	return b->len + AUDITMSG_REC_MAX > PROTO_BATCH_MAX;
}

/* A name is empty (STAT, HASH) or one path component. */
static bool name_ok(const uint8_t *p, size_t n)
{
	return n == 0 || (n <= 255 && !memchr(p, '/', n) && path_check((const char *)p, n) == 0);
}

int auditmsg_get_rec(struct rbuf *r, struct audit_item *ret)
{
	const uint8_t *name, *link, *dg;

	memset(ret, 0, sizeof(*ret));
	if (rbuf_left(r) == 0)
		return 0;
	ret->type = rbuf_get_u8(r);
	ret->mode = rbuf_get_u32(r);
	ret->uid = rbuf_get_u32(r);
	ret->gid = rbuf_get_u32(r);
	ret->size = rbuf_get_u64(r);
	ret->mtime_sec = (int64_t)rbuf_get_u64(r);
	ret->mtime_nsec = rbuf_get_u32(r);
	ret->rdev = rbuf_get_u64(r);
	ret->has_digest = rbuf_get_u8(r) != 0;
	dg = rbuf_get_raw(r, HASH_LEN);
	rbuf_get_bytes(r, 255, &name, &ret->name_len);
	rbuf_get_bytes(r, PATH_WIRE_MAX, &link, &ret->link_len);
	if (r->err || ret->type < ENT_FILE || ret->type > ENT_TYPE_MAX ||
	    ret->type == ENT_HARDLINK || ret->mtime_nsec >= 1000000000u ||
	    !name_ok(name, ret->name_len) ||
	    (ret->link_len && memchr(link, '\0', ret->link_len))) {
		memset(ret, 0, sizeof(*ret));
		return -EBADMSG;
	}
	memcpy(ret->digest, dg, HASH_LEN);
	ret->name = strndup((const char *)name, ret->name_len);
	ret->link = ret->link_len ? strndup((const char *)link, ret->link_len) : NULL;
	if (!ret->name || (ret->link_len && !ret->link)) {
		audit_item_clear(ret);
		return -ENOMEM;
	}
	return 1;
}

void audit_item_clear(struct audit_item *it)
{
	free(it->name);
	free(it->link);
	memset(it, 0, sizeof(*it));
}

void audit_items_free(struct audit_item *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		audit_item_clear(&v[i]);
	free(v);
}

int audit_item_cmp(const void *a, const void *b)
{
	const struct audit_item *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}
