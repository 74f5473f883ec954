/* hash: whole-file content digest (XXH3 128-bit), streamed.  The only file
 * that includes <xxhash.h>.  Used end to end: the source hashes what it reads,
 * the sink what it writes, and the two must agree before a rename. */
#ifndef MIRROR_HASH_H
#define MIRROR_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_LEN 16

struct hash;

struct hash *hash_new(void);            /* NULL on -ENOMEM */
void hash_reset(struct hash *h);
void hash_update(struct hash *h, const void *p, size_t n);
void hash_final(struct hash *h, uint8_t out[HASH_LEN]);   /* h stays usable after reset */
void hash_free(struct hash *h);         /* NULL is a no-op */
/* One-shot digest of a buffer. */
void hash_buf(const void *p, size_t n, uint8_t out[HASH_LEN]);
/* Digest of a whole file read from fd (from offset 0, pread); 0 or -errno. */
int hash_fd(int fd, uint8_t out[HASH_LEN]);

#endif
