/* fuzz_hb: failoverd's heartbeat parser.  The input is tried as it is
 * (almost always a bad HMAC) and again with a valid HMAC appended over its
 * header and name, so the field checks behind the HMAC are reached too. */
#include "config.h"

#include <string.h>

#include "hb.h"
#include "hmac.h"

static const uint8_t key[] = "fuzzing-key-0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[HB_MAX_LEN + HMAC_LEN];
	struct hb_msg m;
	struct hb_rx rx = { .peer_name = "peer" };

	(void)hb_decode(data, size, key, sizeof(key) - 1, &m);
	(void)hb_accept(&rx, data, size, key, sizeof(key) - 1, &m);
	if (size < HB_HDR_LEN || size > HB_MAX_LEN - HMAC_LEN)
		return 0;
	memcpy(buf, data, size);
	if (hmac_sha256(key, sizeof(key) - 1, buf, size, buf + size) < 0)
		return 0;
	(void)hb_decode(buf, size + HMAC_LEN, key, sizeof(key) - 1, &m);
	(void)hb_accept(&rx, buf, size + HMAC_LEN, key, sizeof(key) - 1, &m);
	(void)hb_accept(&rx, buf, size + HMAC_LEN, key, sizeof(key) - 1, &m);
	return 0;
}
