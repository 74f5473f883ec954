/* compress: zstd for whole-file and delta chunks, only when it pays.  The only
 * file that includes <zstd.h>.  Each chunk is compressed on its own (no state
 * across chunks) so a chunk is self-contained on the wire. */
#ifndef MIRROR_COMPRESS_H
#define MIRROR_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

struct compress;

struct compress *compress_new(int level);      /* level 1..19; NULL on -ENOMEM */
void compress_free(struct compress *c);        /* NULL is a no-op */
/* Worst-case output size for n input bytes. */
size_t compress_bound(size_t n);
/* Compress in into out (out_cap >= compress_bound(in_len) recommended).
 * Returns the compressed size, or 0 when compression does not pay (the result
 * would not be at least 1/32 smaller): the caller then sends in raw.
 * Negative errno on failure. */
long compress_chunk(struct compress *c, const void *in, size_t in_len, void *out, size_t out_cap);
/* Decompress one chunk; fails with -EBADMSG on corrupt input and -EMSGSIZE
 * when the result would exceed out_cap.  Returns the decompressed size. */
long compress_expand(struct compress *c, const void *in, size_t in_len, void *out, size_t out_cap);

#endif
