/* tls: OpenSSL behind a dozen functions (see tls.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define TLS_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_KEY_FILE_MAX (64u << 10)
#define TLS_PSK_ID "mirrord-psk-1"
#define TLS_PSK_LEN 32                /* SHA-256 of the file, for TLS_AES_128_GCM_SHA256 */
#define TLS_RECORD_HANDSHAKE 0x16

struct tls_ctx {
	SSL_CTX *ssl;
	bool server, psk;
	unsigned char psk_key[TLS_PSK_LEN];
};

struct tls {
	SSL *ssl;
	int fd;
	short want;
	bool peeked, done;
	char why[256];
};

/* The first queued OpenSSL error as text, queue cleared. */
static void ssl_reason(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(why, len, "%s%s%s", what, r ? ": " : "", r ? r : "");
	ERR_clear_error();
}

void tls_key_free(unsigned char *key, size_t len)
{
	if (!key)
		return;
	OPENSSL_cleanse(key, len);
	free(key);
}

int tls_key_load(const char *path, size_t min, size_t max, unsigned char **ret,
		 size_t *ret_len)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode) || (st.st_mode & 077))
		rc = -EPERM;
	else if (!(buf = malloc(max + 1)))
		rc = -ENOMEM;
	while (rc == 0 && got <= max) {
		ssize_t n = read(fd, buf + got, max + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	while (rc == 0 && got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
		got--;
	if (rc == 0 && (got > max || got < min))
		rc = -EINVAL;
	if (rc < 0) {
		tls_key_free(buf, max + 1);
		return rc;
	}
	*ret = buf;
	*ret_len = got;
	return 0;
}

static const char *key_error(int rc)
{
	return rc == -EPERM ? "not a regular file, or readable by group or others (chmod 600)" :
	       rc == -EINVAL ? "too short or too long" : strerror(-rc);
}

/* ---- PSK: one external key, one identity, TLS 1.3 only ---- */

static SSL_SESSION *psk_session(SSL *ssl, const struct tls_ctx *c)
{
	static const unsigned char aes128gcm[2] = { 0x13, 0x01 };
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s = cipher ? SSL_SESSION_new() : NULL;

	if (s && (!SSL_SESSION_set1_master_key(s, c->psk_key, sizeof(c->psk_key)) ||
		  !SSL_SESSION_set_cipher(s, cipher) ||
		  !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *id_len,
		   SSL_SESSION **sess)
{
	const struct tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_SESSION *s = psk_session(ssl, c);

	*sess = NULL;
	if (!s)
		return 0;
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);    /* after a retry with another hash: no PSK */
		return 1;
	}
	*id = (const unsigned char *)TLS_PSK_ID;
	*id_len = strlen(TLS_PSK_ID);
	*sess = s;
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t id_len, SSL_SESSION **sess)
{
	const struct tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	*sess = NULL;
	if (id_len != strlen(TLS_PSK_ID) || memcmp(id, TLS_PSK_ID, id_len) != 0)
		return 1;               /* unknown identity: no PSK, handshake fails */
	*sess = psk_session(ssl, c);
	return *sess ? 1 : 0;
}

static int setup_psk(struct tls_ctx *c, const char *file, char *why, size_t why_len)
{
	unsigned char *key = NULL;
	size_t len = 0;
	unsigned int n = 0;
	int rc = tls_key_load(file, TLS_PSK_MIN, TLS_PSK_MAX, &key, &len);

	if (rc < 0) {
		snprintf(why, why_len, "psk_file %s: %s", file, key_error(rc));
		return rc;
	}
	/* the file holds any bytes (say 32 random bytes, hex or base64);
	 * the TLS key is their SHA-256 */
	rc = EVP_Digest(key, len, c->psk_key, &n, EVP_sha256(), NULL) && n == TLS_PSK_LEN ?
	     0 : -EIO;
	tls_key_free(key, TLS_PSK_MAX + 1);
	if (rc < 0) {
		ssl_reason(why, why_len, "cannot hash the PSK");
		return rc;
	}
	c->psk = true;
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	if (c->server)
		SSL_CTX_set_psk_find_session_callback(c->ssl, psk_find);
	else
		SSL_CTX_set_psk_use_session_callback(c->ssl, psk_use);
	return 0;
}

/* ---- certificates ---- */

static int load_key(SSL_CTX *ssl, const char *file, char *why, size_t why_len)
{
	unsigned char *pem = NULL;
	size_t len = 0;
	int rc = tls_key_load(file, 1, TLS_KEY_FILE_MAX, &pem, &len);

	if (rc < 0) {
		snprintf(why, why_len, "key %s: %s", file, key_error(rc));
		return rc;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	rc = pk && SSL_CTX_use_PrivateKey(ssl, pk) == 1 ? 0 : -EINVAL;
	if (rc < 0)
		ssl_reason(why, why_len, "key: not a usable PEM private key");
	EVP_PKEY_free(pk);
	BIO_free(bio);
	tls_key_free(pem, TLS_KEY_FILE_MAX + 1);
	return rc;
}

static int setup_cert(struct tls_ctx *c, const struct tls_opts *o, char *why, size_t why_len)
{
	char what[320];

	if (SSL_CTX_use_certificate_chain_file(c->ssl, o->cert) != 1) {
		snprintf(what, sizeof(what), "cert %s", o->cert);
		ssl_reason(why, why_len, what);
		return -EINVAL;
	}
	int rc = load_key(c->ssl, o->key, why, why_len);
	if (rc < 0)
		return rc;
	if (SSL_CTX_check_private_key(c->ssl) != 1) {
		ssl_reason(why, why_len, "key does not match the certificate");
		return -EINVAL;
	}
	if (SSL_CTX_load_verify_locations(c->ssl, o->ca, NULL) != 1) {
		snprintf(what, sizeof(what), "ca %s", o->ca);
		ssl_reason(why, why_len, what);
		return -EINVAL;
	}
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(c->ssl, 4);
	if (o->peer_name) {
		X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(c->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_host(vp, o->peer_name, 0) != 1) {
			ssl_reason(why, why_len, "peer_name");
			return -EINVAL;
		}
	}
	return 0;
}

struct tls_ctx *tls_ctx_new(const struct tls_opts *o, bool server, char *why, size_t why_len)
{
	struct tls_ctx *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	snprintf(why, why_len, "out of memory");
	if (!c)
		return NULL;
	c->server = server;
	c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c->ssl)
		goto fail;
	if (SSL_CTX_set_min_proto_version(c->ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c->ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(c->ssl, TLS_SUITES) != 1 ||
	    SSL_CTX_set_num_tickets(c->ssl, 0) != 1) {
		ssl_reason(why, why_len, "cannot set up TLS 1.3");
		goto fail;
	}
	SSL_CTX_set_options(c->ssl, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
			    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* read whole socket buffers, not a 5-byte header then a record:
	 * half the syscalls; tls_pending then counts the raw bytes too */
	SSL_CTX_set_read_ahead(c->ssl, 1);
	SSL_CTX_set_default_read_buffer_len(c->ssl, 64 << 10);
	SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_app_data(c->ssl, c);
	if (o->psk_file && !o->cert)
		rc = setup_psk(c, o->psk_file, why, why_len);
	else if (o->cert && o->key && o->ca)
		rc = setup_cert(c, o, why, why_len);
	else {
		snprintf(why, why_len, "neither cert/key/ca nor psk_file given");
		rc = -EINVAL;
	}
	if (rc == 0)
		return c;
fail:
	tls_ctx_free(c);
	return NULL;
}

void tls_ctx_free(struct tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ssl);
	OPENSSL_cleanse(c->psk_key, sizeof(c->psk_key));
	free(c);
}

const char *tls_ctx_mode(const struct tls_ctx *c)
{
	return c->psk ? "PSK" : "certificate";
}

/* ---- connections ---- */

struct tls *tls_new(struct tls_ctx *c, int fd)
{
	struct tls *t = calloc(1, sizeof(*t));
	int fl = fcntl(fd, F_GETFL);

	if (!t || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    !(t->ssl = SSL_new(c->ssl)) || SSL_set_fd(t->ssl, fd) != 1) {
		if (t)
			SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	t->fd = fd;
	t->peeked = !c->server;
	if (c->server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	return t;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	if (t->done)
		(void)SSL_shutdown(t->ssl);    /* non-blocking fd: one try */
	SSL_free(t->ssl);
	ERR_clear_error();
	free(t);
}

/* Translate an SSL_* result <= 0 into 0 (end), -EAGAIN or -errno. */
static int tls_result(struct tls *t, int ret, const char *what)
{
	int e = SSL_get_error(t->ssl, ret), err = errno;
	long vr;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (err == EINTR || err == EAGAIN)
			return -EAGAIN;
		snprintf(t->why, sizeof(t->why), "%s: %s", what,
			 err ? strerror(err) : "connection closed by the peer");
		return err ? -err : -ECONNRESET;
	default:
		vr = SSL_get_verify_result(t->ssl);
		if (vr != X509_V_OK) {
			snprintf(t->why, sizeof(t->why), "%s: peer certificate rejected: %s",
				 what, X509_verify_cert_error_string(vr));
			ERR_clear_error();
			return -EKEYREJECTED;
		}
		ssl_reason(t->why, sizeof(t->why), what);
		return -EPROTO;
	}
}

/* A server first looks at one byte: a peer that does not start with a TLS
 * handshake record is most likely a plaintext mirrord. */
static int peek_first(struct tls *t)
{
	unsigned char b;
	ssize_t n = recv(t->fd, &b, 1, MSG_PEEK);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		t->want = POLLIN;
		return -EAGAIN;
	}
	if (n < 0) {
		snprintf(t->why, sizeof(t->why), "TLS handshake: %s", strerror(errno));
		return -errno;
	}
	if (n == 0) {
		snprintf(t->why, sizeof(t->why), "closed before the TLS handshake");
		return -ENODATA;
	}
	if (b != TLS_RECORD_HANDSHAKE) {
		snprintf(t->why, sizeof(t->why), "the peer does not speak TLS (a plaintext "
			 "client? check [security] on both nodes)");
		return -EPROTO;
	}
	t->peeked = true;
	return 0;
}

int tls_handshake(struct tls *t)
{
	int rc;

	if (!t->peeked && (rc = peek_first(t)) < 0)
		return rc;
	ERR_clear_error();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = true;
		return 0;
	}
	rc = tls_result(t, rc, "TLS handshake failed");
	if (rc == 0) {
		snprintf(t->why, sizeof(t->why), "TLS handshake failed: connection closed by "
			 "the peer");
		return -ECONNRESET;
	}
	return rc;
}

ssize_t tls_read(struct tls *t, void *buf, size_t len)
{
	size_t n = 0;

	ERR_clear_error();
	int rc = SSL_read_ex(t->ssl, buf, len, &n);
	if (rc == 1) {
		t->want = 0;
		return (ssize_t)n;
	}
	return tls_result(t, rc, "TLS read");
}

ssize_t tls_write(struct tls *t, const void *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return 0;
	ERR_clear_error();
	int rc = SSL_write_ex(t->ssl, buf, len, &n);
	if (rc == 1) {
		t->want = 0;
		return (ssize_t)n;
	}
	rc = tls_result(t, rc, "TLS write");
	return rc == 0 ? -EPIPE : rc;
}

short tls_want(const struct tls *t)
{
	return t->want ? t->want : POLLIN;
}

size_t tls_pending(const struct tls *t)
{
	int n = SSL_pending(t->ssl);

	if (n > 0)
		return (size_t)n;
	return SSL_has_pending(t->ssl) ? 1 : 0;   /* raw bytes read ahead */
}

bool tls_failed(const struct tls *t)
{
	return t->why[0] != 0;
}

const char *tls_why(const struct tls *t)
{
	return t->why[0] ? t->why : "unknown TLS error";
}

void tls_peer(const struct tls *t, char *buf, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(t->ssl);
	char cn[128] = "";

	if (x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					   (int)sizeof(cn)) < 0)
		snprintf(cn, sizeof(cn), "?");
	snprintf(buf, len, "%s%s, %s %s", x ? "CN=" : "PSK", x ? cn : "",
		 SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
}
