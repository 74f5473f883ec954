/* session: the I/O loops that drive a sender or a receiver over a stream.
 * The sender side is non-blocking (it must keep reading the sink's replies
 * while its own output drains, or both ends could block writing); the
 * receiver side is blocking and commits whenever its input runs dry. */
#ifndef MIRROR_SESSION_H
#define MIRROR_SESSION_H

#include <signal.h>
#include <sys/socket.h>

#include "conf.h"
#include "receiver.h"
#include "sender.h"
#include "stream.h"

struct tls_ctx;

/* A session with nothing to say for this long is dead; sources PING every
 * SESSION_PING_MS when idle, so a healthy peer never comes near it. */
#define SESSION_IDLE_MS 30000
#define SESSION_PING_MS 2000
/* TCP connect + TLS + HELLO / HELLO_OK, in total. */
#define SESSION_HANDSHAKE_MS 10000

/* The transport [security] asks for, as a client (server false) or server.
 * 0 with *ret a TLS context (free with tls_ctx_free), 0 with *ret NULL when
 * plaintext is explicitly allowed (insecure_plaintext = yes), or -errno with
 * a reason in why: a key file that cannot be used, or no [security] at all
 * (plaintext is never the default). */
int session_security(const struct conf *c, bool server, struct tls_ctx **ret, char *why,
		     size_t why_len);

/* Connect to m's peer and exchange TLS (as [security] says) and HELLO /
 * HELLO_OK within timeout_ms in total, asking for features (PROTO_FEATURE_*,
 * 0 for a plain source session); the peer must grant all of them but
 * PROTO_FEATURES_OPTIONAL.  Returns
 * the stream (blocking; replies checked as from a sink, or as from a source
 * when PROTO_FEATURE_PULL was asked for), or NULL with *ret_err set and a
 * one-line reason in why (for the caller's log line). */
struct stream *session_connect(const struct conf *c, const struct conf_mirror *m,
			       uint64_t features, int timeout_ms, int *ret_err, char *why,
			       size_t why_len);
/* The same, and *ret_sink_id = the id the sink gave in HELLO_OK (its copy's
 * identity for this mirror, 0 when it keeps none). */
struct stream *session_connect_id(const struct conf *c, const struct conf_mirror *m,
				  uint64_t features, int timeout_ms, int *ret_err, char *why,
				  size_t why_len, uint64_t *ret_sink_id);

/* Server side: wrap an accepted fd (taken over, closed on failure), check
 * frame headers as a sink, and run the TLS handshake when ctx is not NULL.
 * The stream's deadline is left at now + deadline_ms for the HELLO that
 * follows; the caller clears it (stream_set_deadline(s, 0)) once HELLO is
 * done.  NULL with *ret_err and why on failure. */
struct stream *session_accept(int fd, struct tls_ctx *ctx, int deadline_ms, int *ret_err,
			      char *why, size_t why_len);

/* Read what the socket has (non-blocking) and hand every complete frame to
 * the sender.  Returns the bytes read, or -errno (-ECONNRESET at end). */
long session_pump_sender(struct stream *s, struct sender *snd);

/* Run until the sender is finished (0), *stop is set (-EINTR) or the
 * session fails (-errno).  The stream must be non-blocking.  Sends PING
 * when it has had nothing to send for SESSION_PING_MS.  In live
 * mode (the sender never finishes) it returns only on stop or failure. */
int session_run_sender(struct stream *s, struct sender *snd, volatile sig_atomic_t *stop);

/* Serve frames until the peer closes (0) or breaks the protocol (-errno,
 * after an ERROR frame was sent).  who names the peer and mirror in logs. */
int session_run_receiver(struct stream *s, struct receiver *r, const char *who);

#endif
