/* fuzz_hello: the handshake as the sink reads it: a frame header, the
 * direction table, then HELLO (and the source's view: HELLO_OK / ERROR). */
#include "config.h"

#include <string.h>

#include "proto.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	struct proto_hello m;
	struct proto_hello_ok ok;
	const uint8_t *text;
	size_t len;
	uint32_t code;

	(void)proto_get_hello(data, size, &m);
	(void)proto_get_hello_ok(data, size, &ok);
	(void)proto_get_error(data, size, &code, &text, &len);
	if (size < WIRE_HDR_LEN || wire_hdr_decode(data, WIRE_MAX_PAYLOAD, &h) < 0)
		return 0;
	if (h.len > size - WIRE_HDR_LEN)
		return 0;
	if (h.type == MSG_HELLO && proto_check_frame(&h, TO_SINK) == 0 &&
	    proto_get_hello(data + WIRE_HDR_LEN, h.len, &m) == 0) {
		/* what serve.c does with it */
		volatile size_t n = strnlen((const char *)m.mirror, m.mirror_len);
		(void)n;
	}
	if (proto_check_frame(&h, TO_SOURCE) == 0 && h.type == MSG_ERROR)
		(void)proto_get_error(data + WIRE_HDR_LEN, h.len, &code, &text, &len);
	return 0;
}
