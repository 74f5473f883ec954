/* hmac: the only failoverd file that includes OpenSSL.  HMAC-SHA256,
 * constant-time comparison, random bytes and the heartbeat key file. */
#ifndef FAILOVERD_HMAC_H
#define FAILOVERD_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define HMAC_LEN 32
#define HMAC_KEY_MIN 16
#define HMAC_KEY_MAX 1024

/* HMAC-SHA256 of data with key into out[HMAC_LEN].  0 or -EIO. */
int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data,
		size_t len, uint8_t out[HMAC_LEN]);
/* Constant-time equality of two HMAC_LEN buffers: true when equal. */
int hmac_equal(const uint8_t a[HMAC_LEN], const uint8_t b[HMAC_LEN]);
/* Fill buf with cryptographically random bytes.  0 or -EIO. */
int hmac_random(void *buf, size_t len);
/* Read the shared key from path into a heap buffer (*ret, *ret_len; the
 * caller frees with hmac_key_free).  A trailing newline is stripped.
 * Refuses (-EPERM) a file readable or writable by group or other, and
 * (-EINVAL) a key shorter than HMAC_KEY_MIN or longer than HMAC_KEY_MAX. */
int hmac_key_load(const char *path, uint8_t **ret, size_t *ret_len);
void hmac_key_free(uint8_t *key, size_t len);

#endif
