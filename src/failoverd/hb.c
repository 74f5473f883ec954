/* hb: heartbeat encode/decode/verify (see hb.h for the layout). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hb.h"
#include "hmac.h"

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* A name is 1..HB_NAME_MAX bytes of printable ASCII without spaces. */
static int name_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > HB_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	return 1;
}

int hb_encode(const struct hb_msg *m, const uint8_t *key, size_t key_len,
	      uint8_t *buf, size_t buflen)
{
	size_t n = strnlen(m->node.name, sizeof(m->node.name));
	size_t total = HB_HDR_LEN + n + HMAC_LEN;

	if (!name_ok((const uint8_t *)m->node.name, n) ||
	    (unsigned)m->node.state >= FSM_STATE_COUNT)
		return -EINVAL;
	if (buflen < total)
		return -ENOBUFS;
	put_u32(buf, HB_MAGIC);
	buf[4] = HB_VERSION;
	buf[5] = (uint8_t)m->node.state;
	buf[6] = m->node.priority;
	buf[7] = (uint8_t)n;
	put_u64(buf + 8, m->node.term);
	put_u64(buf + 16, m->node.position);
	put_u64(buf + 24, m->seq);
	put_u64(buf + 32, m->time_ms);
	memcpy(buf + HB_HDR_LEN, m->node.name, n);
	if (hmac_sha256(key, key_len, buf, HB_HDR_LEN + n, buf + HB_HDR_LEN + n) < 0)
		return -EIO;
	return (int)total;
}

enum hb_verdict hb_decode(const uint8_t *buf, size_t len, const uint8_t *key,
			  size_t key_len, struct hb_msg *ret)
{
	uint8_t mac[HMAC_LEN];
	struct hb_msg m;
	size_t n;

	if (len < HB_MIN_LEN || len > HB_MAX_LEN)
		return HB_BAD_LEN;
	if (get_u32(buf) != HB_MAGIC)
		return HB_BAD_MAGIC;
	if (buf[4] != HB_VERSION)
		return HB_BAD_VERSION;
	n = buf[7];
	if (len != HB_HDR_LEN + n + HMAC_LEN)
		return HB_BAD_LEN;
	if (hmac_sha256(key, key_len, buf, HB_HDR_LEN + n, mac) < 0 ||
	    !hmac_equal(mac, buf + HB_HDR_LEN + n))
		return HB_BAD_HMAC;
	/* authenticated from here on; still validate every field */
	if (buf[5] >= FSM_STATE_COUNT || !name_ok(buf + HB_HDR_LEN, n))
		return HB_BAD_FIELD;
	memset(&m, 0, sizeof(m));
	m.node.state = (enum fsm_state)buf[5];
	m.node.priority = buf[6];
	m.node.term = get_u64(buf + 8);
	m.node.position = get_u64(buf + 16);
	m.seq = get_u64(buf + 24);
	m.time_ms = get_u64(buf + 32);
	m.node.sent_ms = m.time_ms;
	memcpy(m.node.name, buf + HB_HDR_LEN, n);
	*ret = m;
	return HB_OK;
}

enum hb_verdict hb_accept(struct hb_rx *rx, const uint8_t *buf, size_t len,
			  const uint8_t *key, size_t key_len, struct hb_msg *ret)
{
	struct hb_msg m;
	enum hb_verdict v;

	v = hb_decode(buf, len, key, key_len, &m);
	if (v == HB_OK && rx->peer_name && strcmp(rx->peer_name, m.node.name) != 0)
		v = HB_BAD_PEER;
	if (v == HB_OK && rx->have_seq && m.seq <= rx->last_seq)
		v = HB_REPLAY;
	rx->count[v]++;
	if (v != HB_OK)
		return v;
	rx->have_seq = 1;
	rx->last_seq = m.seq;
	*ret = m;
	return HB_OK;
}

const char *hb_verdict_name(enum hb_verdict v)
{
	static const char *const names[HB_VERDICT_COUNT] = {
		"ok", "bad_len", "bad_magic", "bad_version", "bad_field",
		"bad_hmac", "bad_peer", "replay",
	};

	if ((unsigned)v >= HB_VERDICT_COUNT)
		return "unknown";
	return names[v];
}
