/* tls: TLS 1.3 for the data connections, the only file that includes
 * OpenSSL's TLS headers.  Mutual authentication either with X.509
 * certificates from a project CA (the peer's name optionally pinned) or with
 * an external pre-shared key read from a file.  AES-GCM is preferred.
 *
 * A tls_ctx is built once (certificates and keys loaded, files checked) and
 * shared read-only between threads; a tls wraps one connected fd, which it
 * switches to non-blocking.  Every function returns 0 (or a count) or a
 * negative errno and never logs; the reason for the last failure, readable
 * by an administrator, is kept in the tls (tls_why) or written into why. */
#ifndef MIRROR_TLS_H
#define MIRROR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TLS_PSK_MIN 16               /* bytes of key material in psk_file */
#define TLS_PSK_MAX 4096

struct tls_opts {
	const char *cert, *key, *ca;  /* PEM files, certificate mode */
	const char *peer_name;        /* pinned name in the peer's certificate, or NULL */
	const char *psk_file;         /* PSK mode */
};

struct tls_ctx;
struct tls;

/* Build a client or server context.  NULL with a reason in why (a file that
 * cannot be read, a key file readable by group or others, a key that does
 * not match its certificate...). */
struct tls_ctx *tls_ctx_new(const struct tls_opts *o, bool server, char *why, size_t why_len);
void tls_ctx_free(struct tls_ctx *ctx);     /* NULL is a no-op */
/* "certificate" or "PSK", for logs. */
const char *tls_ctx_mode(const struct tls_ctx *ctx);

/* Wrap a connected socket (borrowed: the caller closes it after tls_free).
 * NULL on allocation failure. */
struct tls *tls_new(struct tls_ctx *ctx, int fd);
/* Sends close_notify (best effort, never blocks) and frees.  NULL no-op. */
void tls_free(struct tls *t);

/* Advance the handshake: 0 when done, -EAGAIN when the socket must become
 * ready first (tls_want says for what), -EPROTO/-ECONNRESET... on failure
 * with the reason in tls_why. */
int tls_handshake(struct tls *t);
/* Like read(2)/write(2): a count, 0 at end of stream (read), -EAGAIN
 * (tls_want), or a negative errno. */
ssize_t tls_read(struct tls *t, void *buf, size_t len);
ssize_t tls_write(struct tls *t, const void *buf, size_t len);
/* POLLIN or POLLOUT: what the last -EAGAIN waits for. */
short tls_want(const struct tls *t);
/* Non-zero when bytes are buffered in the TLS layer (decrypted, or read
 * ahead from the socket): a read may succeed although poll says nothing. */
size_t tls_pending(const struct tls *t);
/* True once an operation failed (other than -EAGAIN). */
bool tls_failed(const struct tls *t);
/* The reason for the last failure ("certificate verify failed: ..."). */
const char *tls_why(const struct tls *t);
/* After the handshake: who the peer is ("CN=web2, TLS_AES_128_GCM_SHA256"). */
void tls_peer(const struct tls *t, char *buf, size_t len);

/* Read a key file: a regular file, no access for group or others, at most
 * max bytes (trailing newlines dropped), at least min.  *ret is freed with
 * tls_key_free.  -EPERM for a bad mode, -EINVAL for a bad size. */
int tls_key_load(const char *path, size_t min, size_t max, unsigned char **ret,
		 size_t *ret_len);
void tls_key_free(unsigned char *key, size_t len);

#endif
