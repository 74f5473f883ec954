/* wire: frames and the byte codecs used inside them.  Pure: no I/O.
 *
 * A frame is an 8-byte header followed by a payload:
 *     u32 length of payload (big-endian)   <= WIRE_MAX_PAYLOAD
 *     u8  type                             enum proto_msg (see proto.h)
 *     u8  flags                            per type, unknown bits rejected by proto
 *     u16 reserved                         must be zero
 * See doc/PROTOCOL.md.
 *
 * struct wbuf builds a payload (growing heap buffer, bounded by its limit);
 * struct rbuf reads one, failing on short data.  Both latch the first error in
 * ->err so callers can check once at the end. */
#ifndef MIRROR_WIRE_H
#define MIRROR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR_LEN 8
#define WIRE_MAX_PAYLOAD ((1u << 20) + 4096)  /* 1 MiB data chunk plus fields */

struct wire_hdr {
	uint32_t len;
	uint8_t type;
	uint8_t flags;
};

/* Decode a header from at least WIRE_HDR_LEN bytes.  Returns 0,
 * -EMSGSIZE if the length exceeds max_payload, -EBADMSG if reserved bits are
 * set. */
int wire_hdr_decode(const uint8_t *p, uint32_t max_payload, struct wire_hdr *ret);
void wire_hdr_encode(uint8_t *p, const struct wire_hdr *h);

struct wbuf {
	uint8_t *data;
	size_t len, cap;
	size_t limit;   /* the buffer never grows beyond this many bytes */
	int err;        /* 0 or first negative errno (-ENOMEM, -EMSGSIZE) */
};

void wbuf_init(struct wbuf *b, size_t limit);
void wbuf_free(struct wbuf *b);
void wbuf_reset(struct wbuf *b);                 /* len = 0, err = 0 */
/* Make room for n more bytes; returns a pointer to them or NULL (err set). */
uint8_t *wbuf_reserve(struct wbuf *b, size_t n);
void wbuf_put_raw(struct wbuf *b, const void *p, size_t n);
void wbuf_put_u8(struct wbuf *b, uint8_t v);
void wbuf_put_u16(struct wbuf *b, uint16_t v);
void wbuf_put_u32(struct wbuf *b, uint32_t v);
void wbuf_put_u64(struct wbuf *b, uint64_t v);
/* u32 length followed by the bytes. */
void wbuf_put_bytes(struct wbuf *b, const void *p, size_t n);
/* Drop the first n bytes (consumed by a writer). */
void wbuf_consume(struct wbuf *b, size_t n);

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;        /* 0 or -EBADMSG after a short read */
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
uint8_t rbuf_get_u8(struct rbuf *r);
uint16_t rbuf_get_u16(struct rbuf *r);
uint32_t rbuf_get_u32(struct rbuf *r);
uint64_t rbuf_get_u64(struct rbuf *r);
/* Borrow n raw bytes; NULL (err set) when fewer remain. */
const uint8_t *rbuf_get_raw(struct rbuf *r, size_t n);
/* u32 length + bytes; the length must be <= max.  *ret_p borrows from r. */
void rbuf_get_bytes(struct rbuf *r, size_t max, const uint8_t **ret_p, size_t *ret_len);
size_t rbuf_left(const struct rbuf *r);
/* 0 when no error occurred and every byte was consumed, else -EBADMSG. */
int rbuf_end(const struct rbuf *r);

#endif
