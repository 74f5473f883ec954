/* hmac: OpenSSL behind four functions (see hmac.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "hmac.h"

int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data,
		size_t len, uint8_t out[HMAC_LEN])
{
	unsigned int n = 0;

	if (key_len > HMAC_KEY_MAX)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) ||
	    n != HMAC_LEN)
		return -EIO;
	return 0;
}

int hmac_equal(const uint8_t a[HMAC_LEN], const uint8_t b[HMAC_LEN])
{
	return CRYPTO_memcmp(a, b, HMAC_LEN) == 0;
}

int hmac_random(void *buf, size_t len)
{
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return -EIO;
	return 0;
}

void hmac_key_free(uint8_t *key, size_t len)
{
	if (!key)
		return;
	OPENSSL_cleanse(key, len);
	free(key);
}

static int read_all(int fd, uint8_t *buf, size_t max, size_t *ret_len)
{
	size_t got = 0;
	ssize_t n;

	while (got <= max) {
		n = read(fd, buf + got, max + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max)
		return -EINVAL;
	*ret_len = got;
	return 0;
}

int hmac_key_load(const char *path, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_fd;
	}
	r = -EPERM;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077))
		goto out_fd;
	r = -ENOMEM;
	buf = malloc(HMAC_KEY_MAX + 1);
	if (!buf)
		goto out_fd;
	r = read_all(fd, buf, HMAC_KEY_MAX, &len);
	while (r == 0 && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (r == 0 && len < HMAC_KEY_MIN)
		r = -EINVAL;
	if (r < 0) {
		hmac_key_free(buf, HMAC_KEY_MAX + 1);
		goto out_fd;
	}
	*ret = buf;
	*ret_len = len;
out_fd:
	close(fd);
	return r;
}
