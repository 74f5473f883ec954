/* restlist: record lists of the journal-driven restore.  See restlist.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "path.h"
#include "proto.h"
#include "restlist.h"

void restlist_put_head(struct wbuf *b, const struct restlist_head *h)
{
	wbuf_put_u64(b, h->journal_id);
	wbuf_put_u64(b, h->first);
	wbuf_put_u64(b, h->last);
	wbuf_put_u8(b, h->status);
}

int restlist_get_head(const uint8_t *p, size_t n, struct restlist_head *ret)
{
	struct rbuf r;
	struct restlist_head h;

	rbuf_init(&r, p, n);
	h.journal_id = rbuf_get_u64(&r);
	h.first = rbuf_get_u64(&r);
	h.last = rbuf_get_u64(&r);
	h.status = rbuf_get_u8(&r);
	if (rbuf_end(&r) < 0 || h.status > RESTLIST_INCOMPLETE)
		return -EBADMSG;
	*ret = h;
	return 0;
}

void restlist_put_change(struct wbuf *b, const struct restlist_change *c)
{
	wbuf_put_u64(b, c->seq);
	wbuf_put_u8(b, c->op);
	wbuf_put_bytes(b, c->path, c->len);
	wbuf_put_bytes(b, c->path2, c->path2 ? c->len2 : 0);
}

void restlist_put_item(struct wbuf *b, const struct restlist_item *it)
{
	wbuf_put_u8(b, it->kind);
	wbuf_put_bytes(b, it->path, it->len);
}

void restlist_put_digest(struct wbuf *b, const struct restlist_digest *d)
{
	wbuf_put_u8(b, d->type);
	wbuf_put_u64(b, d->size);
	wbuf_put_raw(b, d->digest, HASH_LEN);
	wbuf_put_bytes(b, d->path, d->len);
}

bool restlist_batch_full(const struct wbuf *b)
{
	return b->len + RESTLIST_REC_MAX > PROTO_BATCH_MAX;
}

/* A path field: bytes, valid as a wire path ("" is the root). */
static int get_path(struct rbuf *r, const char **ret, size_t *ret_len)
{
	const uint8_t *p;
	size_t n;

	rbuf_get_bytes(r, PATH_WIRE_MAX, &p, &n);
	if (r->err || (n > 0 && path_check((const char *)p, n) < 0))
		return -EBADMSG;
	*ret = (const char *)p;
	*ret_len = n;
	return 0;
}

int restlist_get_change(struct rbuf *r, struct restlist_change *ret)
{
	struct restlist_change c;

	if (rbuf_left(r) == 0)
		return 0;
	c.seq = rbuf_get_u64(r);
	c.op = rbuf_get_u8(r);
	if (r->err || c.op < 1 || c.op > 5 || get_path(r, &c.path, &c.len) < 0 ||
	    get_path(r, &c.path2, &c.len2) < 0)
		return -EBADMSG;
	*ret = c;
	return 1;
}

int restlist_get_item(struct rbuf *r, struct restlist_item *ret)
{
	struct restlist_item it;

	if (rbuf_left(r) == 0)
		return 0;
	it.kind = rbuf_get_u8(r);
	if (r->err || (it.kind != RESTLIST_PATH && it.kind != RESTLIST_SCAN) ||
	    get_path(r, &it.path, &it.len) < 0)
		return -EBADMSG;
	*ret = it;
	return 1;
}

int restlist_get_digest(struct rbuf *r, struct restlist_digest *ret)
{
	struct restlist_digest d;
	const uint8_t *dg;

	if (rbuf_left(r) == 0)
		return 0;
	d.type = rbuf_get_u8(r);
	d.size = rbuf_get_u64(r);
	dg = rbuf_get_raw(r, HASH_LEN);
	if (!dg || r->err || get_path(r, &d.path, &d.len) < 0)
		return -EBADMSG;
	memcpy(d.digest, dg, HASH_LEN);
	*ret = d;
	return 1;
}
