/* hash: XXH3 128-bit content digest, streamed.  The only file that includes
 * <xxhash.h>.  Digests are written in XXH128 canonical (big-endian) form. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "hash.h"

#define HASH_CHUNK (256 * 1024)

struct hash {
	XXH3_state_t *st;
};

struct hash *hash_new(void)
{
	struct hash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->st = XXH3_createState();
	if (!h->st) {
		free(h);
		return NULL;
	}
	hash_reset(h);
	return h;
}

void hash_reset(struct hash *h)
{
	/* Only fails on a NULL state, which hash_new() excludes. */
	(void)XXH3_128bits_reset(h->st);
}

void hash_update(struct hash *h, const void *p, size_t n)
{
	/* Only fails on a NULL state; NULL p with n == 0 is accepted. */
	if (n)
		(void)XXH3_128bits_update(h->st, p, n);
}

static void hash_put(XXH128_hash_t v, uint8_t out[HASH_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, v);
	memcpy(out, c.digest, HASH_LEN);
}

void hash_final(struct hash *h, uint8_t out[HASH_LEN])
{
	hash_put(XXH3_128bits_digest(h->st), out);
}

void hash_free(struct hash *h)
{
	if (!h)
		return;
	XXH3_freeState(h->st);
	free(h);
}

void hash_buf(const void *p, size_t n, uint8_t out[HASH_LEN])
{
	hash_put(XXH3_128bits(n ? p : "", n), out);
}

/* pread() with EINTR retried: bytes read, 0 at end of file, or -errno. */
static ssize_t hash_pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r;

	do
		r = pread(fd, buf, n, off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int hash_fd(int fd, uint8_t out[HASH_LEN])
{
	struct hash *h;
	uint8_t *buf;
	off_t off = 0;
	ssize_t r;

	h = hash_new();
	buf = malloc(HASH_CHUNK);
	if (!h || !buf) {
		r = -ENOMEM;
		goto out;
	}
	while ((r = hash_pread(fd, buf, HASH_CHUNK, off)) > 0) {
		hash_update(h, buf, (size_t)r);
		off += r;
	}
	if (r == 0)
		hash_final(h, out);
out:
	free(buf);
	hash_free(h);
	return (int)r;
}
