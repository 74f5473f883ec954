/* stream: a byte stream carrying frames, over a socket today and over TLS
 * once the TLS module exists (the read/write pair is the only thing that
 * changes).  Blocking or non-blocking, as the fd is.
 *
 * Reading: stream_fill() reads what the socket has into the stream's input
 * buffer; stream_frame() hands out the next complete frame from it, checking
 * the header's length bound before any payload is buffered.  Writing:
 * callers append whole frames to stream_out() and call stream_flush(). */
#ifndef MIRROR_STREAM_H
#define MIRROR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct stream;

struct stream_stats {
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
};

/* Takes ownership of fd (closed by stream_free). */
struct stream *stream_new(int fd);
void stream_free(struct stream *s);     /* NULL is a no-op */
int stream_fd(const struct stream *s);

/* Read once from the socket into the input buffer.  Returns bytes read,
 * 0 at end of stream, -EAGAIN when nothing is there (non-blocking), -errno. */
long stream_fill(struct stream *s);
/* Next complete frame: 1 and *ret_hdr and *ret_payload (valid until the next
 * stream_frame/stream_fill call), 0 when more input is needed, -EMSGSIZE or
 * -EBADMSG for a bad header. */
int stream_frame(struct stream *s, struct wire_hdr *ret_hdr, const uint8_t **ret_payload);
/* Blocking convenience: fill until a whole frame is there.  1, 0 at a clean
 * end of stream between frames, or -errno (-ECONNRESET when the stream ends
 * inside a frame, -ETIMEDOUT after timeout_ms without progress, -1 = none). */
int stream_recv(struct stream *s, int timeout_ms, struct wire_hdr *ret_hdr,
		const uint8_t **ret_payload);
/* True when a complete frame is already buffered (no syscall needed). */
bool stream_has_frame(const struct stream *s);

/* The output buffer; append frames with the proto_put_* encoders. */
struct wbuf *stream_out(struct stream *s);
/* Write buffered output.  Blocking fds: everything, or -errno.  Non-blocking:
 * as much as the socket takes; 0 when empty afterwards, -EAGAIN when bytes
 * remain, -errno on error. */
int stream_flush(struct stream *s);
size_t stream_pending_out(const struct stream *s);
const struct stream_stats *stream_stats(const struct stream *s);

#endif
