/* wire: frame header and payload codecs (big-endian). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

int wire_hdr_decode(const uint8_t *p, uint32_t max_payload, struct wire_hdr *ret)
{
	uint32_t len = (uint32_t)get_be(p, 4);

	if (p[6] != 0 || p[7] != 0)
		return -EBADMSG;
	if (len > max_payload)
		return -EMSGSIZE;
	ret->len = len;
	ret->type = p[4];
	ret->flags = p[5];
	return 0;
}

void wire_hdr_encode(uint8_t *p, const struct wire_hdr *h)
{
	put_be(p, h->len, 4);
	p[4] = h->type;
	p[5] = h->flags;
	p[6] = p[7] = 0;
}

void wbuf_init(struct wbuf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void wbuf_free(struct wbuf *b)
{
	free(b->data);
	wbuf_init(b, b->limit);
}

void wbuf_reset(struct wbuf *b)
{
	b->len = 0;
	b->err = 0;
}

uint8_t *wbuf_reserve(struct wbuf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > b->limit || b->len > b->limit - n) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->limit)
			cap = b->limit;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	uint8_t *p = b->data + b->len;
	b->len += n;
	return p;
}

void wbuf_put_raw(struct wbuf *b, const void *p, size_t n)
{
	uint8_t *d = wbuf_reserve(b, n);

	if (d && n)
		memcpy(d, p, n);
}

static void put_n(struct wbuf *b, uint64_t v, int n)
{
	uint8_t *d = wbuf_reserve(b, (size_t)n);

	if (d)
		put_be(d, v, n);
}

void wbuf_put_u8(struct wbuf *b, uint8_t v) { put_n(b, v, 1); }
void wbuf_put_u16(struct wbuf *b, uint16_t v) { put_n(b, v, 2); }
void wbuf_put_u32(struct wbuf *b, uint32_t v) { put_n(b, v, 4); }
void wbuf_put_u64(struct wbuf *b, uint64_t v) { put_n(b, v, 8); }

void wbuf_put_bytes(struct wbuf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		b->err = b->err ? b->err : -EMSGSIZE;
		return;
	}
	wbuf_put_u32(b, (uint32_t)n);
	wbuf_put_raw(b, p, n);
}

void wbuf_consume(struct wbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

const uint8_t *rbuf_get_raw(struct rbuf *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t get_n(struct rbuf *r, int n)
{
	const uint8_t *p = rbuf_get_raw(r, (size_t)n);

	return p ? get_be(p, n) : 0;
}

uint8_t rbuf_get_u8(struct rbuf *r) { return (uint8_t)get_n(r, 1); }
uint16_t rbuf_get_u16(struct rbuf *r) { return (uint16_t)get_n(r, 2); }
uint32_t rbuf_get_u32(struct rbuf *r) { return (uint32_t)get_n(r, 4); }
uint64_t rbuf_get_u64(struct rbuf *r) { return get_n(r, 8); }

void rbuf_get_bytes(struct rbuf *r, size_t max, const uint8_t **ret_p, size_t *ret_len)
{
	uint32_t n = rbuf_get_u32(r);

	*ret_p = NULL;
	*ret_len = 0;
	if (r->err)
		return;
	if (n > max) {
		r->err = -EBADMSG;
		return;
	}
	const uint8_t *p = rbuf_get_raw(r, n);
	if (p) {
		*ret_p = p;
		*ret_len = n;
	}
}

size_t rbuf_left(const struct rbuf *r)
{
	return r->len - r->off;
}

int rbuf_end(const struct rbuf *r)
{
	return r->err || r->off != r->len ? -EBADMSG : 0;
}
