/* session: the I/O loops that drive a sender or a receiver over a stream.
 * The sender side is non-blocking (it must keep reading the sink's replies
 * while its own output drains, or both ends could block writing); the
 * receiver side is blocking and commits whenever its input runs dry. */
#ifndef MIRROR_SESSION_H
#define MIRROR_SESSION_H

#include <signal.h>

#include "receiver.h"
#include "sender.h"
#include "stream.h"

#define SESSION_IDLE_MS 300000

/* Connect to a sink and exchange HELLO / HELLO_OK within timeout_ms.
 * Returns the stream (blocking fd), or NULL with *ret_err set and a one-line
 * reason in why (for the caller's log line). */
struct stream *session_connect(const struct sockaddr *sa, socklen_t len, const char *mirror,
			       const char *node, int timeout_ms, int *ret_err, char *why,
			       size_t why_len);

/* Read what the socket has (non-blocking) and hand every complete frame to
 * the sender.  Returns the bytes read, or -errno (-ECONNRESET at end). */
long session_pump_sender(struct stream *s, struct sender *snd);

/* Run until the sender is finished (0), *stop is set (-EINTR) or the
 * session fails (-errno).  The stream's fd must be non-blocking.  In live
 * mode (the sender never finishes) it returns only on stop or failure. */
int session_run_sender(struct stream *s, struct sender *snd, volatile sig_atomic_t *stop);

/* Serve frames until the peer closes (0) or breaks the protocol (-errno,
 * after an ERROR frame was sent).  who names the peer and mirror in logs. */
int session_run_receiver(struct stream *s, struct receiver *r, const char *who);

#endif
