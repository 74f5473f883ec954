/* hb: failoverd heartbeat packets.  Pure: bytes in, bytes out (the HMAC
 * comes from hmac.c); no sockets, no clock.
 *
 * Layout, all integers big-endian (doc/failover.md):
 *   0  u32 magic "MRHB"      4  u8 version (1)   5  u8 state (enum fsm_state)
 *   6  u8 priority            7  u8 name length (1..HB_NAME_MAX)
 *   8  u64 term              16  u64 replication position (ms, 0 = unknown)
 *  24  u64 sequence          32  u64 sender time (ms since epoch)
 *  40  name bytes            40+n  HMAC-SHA256 over bytes 0 .. 40+n-1
 *
 * Receivers drop and count: wrong length, bad magic, unknown version, bad
 * field, bad HMAC, unexpected sender name, and replays (a sequence number
 * not greater than the last one accepted from that peer). */
#ifndef FAILOVERD_HB_H
#define FAILOVERD_HB_H

#include <stddef.h>
#include <stdint.h>

#include "fsm.h"

#define HB_MAGIC 0x4d524842u    /* "MRHB" */
#define HB_VERSION 1
#define HB_NAME_MAX FSM_NAME_MAX
#define HB_HDR_LEN 40
#define HB_MIN_LEN (HB_HDR_LEN + 1 + 32)
#define HB_MAX_LEN (HB_HDR_LEN + HB_NAME_MAX + 32)

struct hb_msg {
	struct fsm_peer node;        /* name, state, priority, term, position */
	uint64_t seq;
	uint64_t time_ms;
};

/* Encode m into buf.  Returns the length or -EINVAL (bad name/state) or
 * -ENOBUFS (buflen too small) or -EIO (HMAC failed). */
int hb_encode(const struct hb_msg *m, const uint8_t *key, size_t key_len,
	      uint8_t *buf, size_t buflen);

enum hb_verdict {
	HB_OK = 0,
	HB_BAD_LEN,
	HB_BAD_MAGIC,
	HB_BAD_VERSION,
	HB_BAD_FIELD,
	HB_BAD_HMAC,
	HB_BAD_PEER,
	HB_REPLAY,
	HB_VERDICT_COUNT
};

/* Decode and verify a packet (length, magic, version, fields, HMAC in
 * constant time).  On HB_OK *ret is filled; otherwise it is untouched. */
enum hb_verdict hb_decode(const uint8_t *buf, size_t len, const uint8_t *key,
			  size_t key_len, struct hb_msg *ret);

/* Per-peer receive state: replay window and counters. */
struct hb_rx {
	const char *peer_name;       /* expected sender, NULL = any; borrowed */
	int have_seq;
	uint64_t last_seq;
	uint64_t count[HB_VERDICT_COUNT];
};

/* hb_decode, then the sender-name and replay checks; counts the verdict.
 * Only HB_OK advances the replay window. */
enum hb_verdict hb_accept(struct hb_rx *rx, const uint8_t *buf, size_t len,
			  const uint8_t *key, size_t key_len, struct hb_msg *ret);

const char *hb_verdict_name(enum hb_verdict v);

#endif
