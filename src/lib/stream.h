/* stream: a byte stream carrying frames, over a plain socket or over TLS
 * (tls.h; only the read/write pair and the poll direction differ).
 *
 * Reading: stream_fill() reads what the socket has into the stream's input
 * buffer; stream_frame() hands out the next complete frame from it, checking
 * the header (length bound, and with stream_set_dir the per-type table of
 * proto.h) as soon as its 8 bytes are there, before any payload is buffered.
 * Writing: callers append whole frames to stream_out() and call
 * stream_flush().
 *
 * Blocking or non-blocking, as the fd is at stream_new (stream_set_nonblock
 * changes it).  Over TLS the fd itself is always non-blocking and blocking
 * calls are emulated with poll, bounded by the deadline (stream_set_deadline)
 * so that a slow or silent peer cannot hold a thread past it.
 *
 * Memory: nothing is allocated before the first read; input grows in small
 * steps until two frames have arrived (an unauthenticated peer costs a few
 * KiB), then up to one maximal frame plus a read step. */
#ifndef MIRROR_STREAM_H
#define MIRROR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct stream;
struct tls_ctx;

struct stream_stats {
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
};

/* Takes ownership of fd (closed by stream_free). */
struct stream *stream_new(int fd);
void stream_free(struct stream *s);     /* NULL is a no-op */
int stream_fd(const struct stream *s);
/* Switch the caller-visible mode (and a plain socket's O_NONBLOCK).  0 or -errno. */
int stream_set_nonblock(struct stream *s, bool on);
/* Every wait of this stream ends by now + ms (CLOCK_MONOTONIC) with
 * -ETIMEDOUT; 0 removes the deadline.  Used for the whole handshake. */
void stream_set_deadline(struct stream *s, int ms);
/* Check each frame header with proto_check_frame(h, dir) (enum proto_dir)
 * as soon as it arrives; 0 = only the length bound. */
void stream_set_dir(struct stream *s, int dir);

/* Run the TLS handshake (client or server as ctx is) on the stream's fd,
 * within the deadline.  0, or -errno with a reason in why.  After it every
 * byte goes through TLS. */
int stream_start_tls(struct stream *s, struct tls_ctx *ctx, char *why, size_t why_len);
/* The TLS layer's reason for the last failure, or NULL (plain socket, or
 * no TLS failure yet): lets a caller say "tlsv1 alert unknown ca" rather
 * than "Protocol error". */
const char *stream_tls_why(const struct stream *s);
/* "plaintext" or the peer's certificate name and the cipher. */
void stream_peer(const struct stream *s, char *buf, size_t len);

/* Read once from the socket into the input buffer.  Returns bytes read,
 * 0 at end of stream, -EAGAIN when nothing is there (non-blocking), -errno. */
long stream_fill(struct stream *s);
/* Next complete frame: 1 and *ret_hdr and *ret_payload (valid until the next
 * stream_frame/stream_fill call), 0 when more input is needed, -EMSGSIZE or
 * -EBADMSG for a bad header, -ENOMSG (with *ret_hdr set, no payload) for a
 * header that stream_set_dir's check refuses. */
int stream_frame(struct stream *s, struct wire_hdr *ret_hdr, const uint8_t **ret_payload);
/* Blocking convenience: fill until a whole frame is there.  1, 0 at a clean
 * end of stream between frames, or -errno (-ECONNRESET when the stream ends
 * inside a frame, -ETIMEDOUT when no whole frame arrived within timeout_ms
 * (total, not per read; -1 = none) or by the deadline). */
int stream_recv(struct stream *s, int timeout_ms, struct wire_hdr *ret_hdr,
		const uint8_t **ret_payload);
/* True when a complete frame is already buffered (no syscall needed). */
bool stream_has_frame(const struct stream *s);
/* Milliseconds that stream_recv has been waiting for the current frame, 0
 * when it is not waiting.  Safe to call from another thread while the
 * stream is alive. */
uint64_t stream_waiting_ms(const struct stream *s);

/* The output buffer; append frames with the proto_put_* encoders. */
struct wbuf *stream_out(struct stream *s);
/* Write buffered output.  Blocking: everything, or -errno (-ETIMEDOUT past
 * the deadline, or after STREAM_WRITE_WAIT_MS without progress over TLS).
 * Non-blocking: as much as the socket takes; 0 when empty afterwards,
 * -EAGAIN when bytes remain, -errno on error. */
int stream_flush(struct stream *s);
size_t stream_pending_out(const struct stream *s);
/* poll(2) events a non-blocking user waits for: POLLIN, plus POLLOUT when
 * output is pending or TLS needs to write to make progress. */
short stream_events(const struct stream *s);
const struct stream_stats *stream_stats(const struct stream *s);

#define STREAM_WRITE_WAIT_MS 60000

#endif
