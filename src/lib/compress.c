/* compress: zstd, one self-contained frame per chunk.  The only file that
 * includes <zstd.h>. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "compress.h"

struct compress {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int level;
};

struct compress *compress_new(int level)
{
	struct compress *c;

	if (level < 1)
		level = 1;
	if (level > 19)
		level = 19;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->level = level;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->cctx || !c->dctx) {
		compress_free(c);
		return NULL;
	}
	return c;
}

void compress_free(struct compress *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c);
}

size_t compress_bound(size_t n)
{
	return ZSTD_compressBound(n);
}

long compress_chunk(struct compress *c, const void *in, size_t in_len, void *out, size_t out_cap)
{
	size_t r;

	if (in_len > (size_t)LONG_MAX)
		return -EINVAL;
	r = ZSTD_compressCCtx(c->cctx, out, out_cap, in, in_len, c->level);
	if (ZSTD_isError(r)) {
		/* Output too small means the result did not fit: not worth it. */
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			return 0;
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ?
			-ENOMEM : -EINVAL;
	}
	/* It pays only when at least 1/32 of the input (rounded up) is saved. */
	if (r + (in_len + 31) / 32 > in_len)
		return 0;
	return (long)r;
}

long compress_expand(struct compress *c, const void *in, size_t in_len, void *out, size_t out_cap)
{
	unsigned long long want;
	size_t r;

	want = ZSTD_getFrameContentSize(in, in_len);
	if (want == ZSTD_CONTENTSIZE_ERROR)
		return -EBADMSG;
	if (want != ZSTD_CONTENTSIZE_UNKNOWN && want > out_cap)
		return -EMSGSIZE;
	r = ZSTD_decompressDCtx(c->dctx, out, out_cap, in, in_len);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			return -EMSGSIZE;
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ?
			-ENOMEM : -EBADMSG;
	}
	if (r > (size_t)LONG_MAX)
		return -EMSGSIZE;
	return (long)r;
}
