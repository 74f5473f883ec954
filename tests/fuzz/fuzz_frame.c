/* fuzz_frame: the frame parser.  Bytes from the network go through a
 * stream (socketpair, header checked as a sink would) and every complete
 * frame through proto_check_frame and its type's decoder. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "entry.h"
#include "proto.h"
#include "stream.h"
#include "wire.h"

static void decode(const struct wire_hdr *h, const uint8_t *p)
{
	uint64_t id;
	struct entry e;
	char *a = NULL, *b = NULL;
	size_t al, bl;
	const uint8_t *d;
	size_t dl;
	uint8_t mode;
	int32_t st;
	uint32_t code;
	struct proto_hello hello;
	struct proto_hello_ok ok;
	struct proto_file_end fe;
	struct proto_end_ok eo;

	switch (h->type) {
	case MSG_HELLO: (void)proto_get_hello(p, h->len, &hello); break;
	case MSG_HELLO_OK: (void)proto_get_hello_ok(p, h->len, &ok); break;
	case MSG_ERROR: (void)proto_get_error(p, h->len, &code, &d, &dl); break;
	case MSG_ENTRY:
		memset(&e, 0, sizeof(e));
		if (proto_get_entry(p, h->len, &id, &e) == 0)
			entry_clear(&e);
		break;
	case MSG_RENAME:
		if (proto_get_rename(p, h->len, &id, &a, &al, &b, &bl) == 0) {
			free(a);
			free(b);
		}
		break;
	case MSG_FILE_END: (void)proto_get_file_end(p, h->len, &fe); break;
	case MSG_NEED: (void)proto_get_need(p, h->len, &id, &mode); break;
	case MSG_DONE: (void)proto_get_done(p, h->len, &id, &st); break;
	case MSG_END_OK: (void)proto_get_end_ok(p, h->len, &eo); break;
	case MSG_DATA: (void)proto_get_chunk(p, h->len, &id, &d, &dl); break;
	default:
		if (proto_get_path(p, h->len, &id, &a, &al) == 0)
			free(a);
		(void)proto_get_id(p, h->len, &id);
		break;
	}
}

/* Feed data through a stream checking headers for dir. */
static void through_stream(const uint8_t *data, size_t size, int dir)
{
	struct wire_hdr h;
	const uint8_t *p;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	close(sv[1]);
	struct stream *s = stream_new(sv[0]);
	if (!s) {
		close(sv[0]);
		return;
	}
	stream_set_dir(s, dir);
	for (int i = 0; i < 64; i++) {
		long n = stream_fill(s);
		int rc;
		while ((rc = stream_frame(s, &h, &p)) == 1)
			if (proto_check_frame(&h, (enum proto_dir)dir) == 0)
				decode(&h, p);
		if (rc < 0 || n <= 0)
			break;
	}
	stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	through_stream(data, size, TO_SINK);
	through_stream(data, size, TO_SOURCE);
	/* the decoders on the raw bytes, no header */
	for (uint8_t t = 0; t <= MSG_PONG; t++) {
		struct wire_hdr hh = { .len = (uint32_t)size, .type = t };
		decode(&hh, data);
	}
	return 0;
}
