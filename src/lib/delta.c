/* delta: librsync jobs driven through caller-supplied bounded buffers.  The
 * only file that includes <librsync.h>; rs_result values are translated to
 * negative errno values here and nowhere else. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <librsync.h>

#include "delta.h"
#include "log.h"

#define DELTA_MAGIC_LEN 4

enum delta_kind {
	DELTA_SIG,
	DELTA_LOAD,
	DELTA_DIFF,
	DELTA_PATCH,
};

struct delta_job {
	enum delta_kind kind;
	rs_job_t *rs;
	rs_signature_t *sig;	/* LOAD and DIFF: owned, freed with the job */
	int fd;			/* PATCH: basis, borrowed */
	int state;		/* 0 running, 1 finished, <0 failed (sticky) */
	/* LOAD: the signature's first bytes, checked before librsync sees them. */
	uint8_t magic[DELTA_MAGIC_LEN];
	size_t magic_len;	/* bytes collected */
	size_t magic_fed;	/* bytes handed to librsync */
};

/* librsync reports through a global trace hook; keep it at debug level. */
static void delta_trace(rs_loglevel level, char const *msg)
{
	log_debug("librsync: %s", msg);
}

static int delta_err(rs_result r)
{
	switch (r) {
	case RS_DONE:
		return 1;
	case RS_BLOCKED:
	case RS_RUNNING:
		return 0;
	case RS_BAD_MAGIC:
		return -EPROTO;
	case RS_CORRUPT:
	case RS_INPUT_ENDED:
		return -EBADMSG;
	case RS_IO_ERROR:
		return -EIO;
	case RS_MEM_ERROR:
		return -ENOMEM;
	default:
		return -EINVAL;
	}
}

static struct delta_job *delta_job_new(enum delta_kind kind)
{
	struct delta_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	rs_trace_to(delta_trace);
	job->kind = kind;
	job->fd = -1;
	return job;
}

/* Our fixed parameters: RabinKarp + BLAKE2, librsync's recommended block
 * length for the size (about sqrt(size), as rsync's) and librsync's minimum
 * strong-sum length, the shortest that is safe against random collisions
 * (8 bytes at 256 MiB).  The full 32-byte sum made the signature of a
 * 256 MiB file 576 KiB against rsync's 112 KiB and the whole transfer 1.33x
 * rsync's bytes (3.3x for a 1 MiB file).  Like rsync, we rely on the
 * end-to-end content hash to catch a deliberate strong-sum collision. */
static int delta_sig_args(uint64_t basis_size, size_t *block_len, size_t *strong_len)
{
	rs_magic_number magic = RS_RK_BLAKE2_SIG_MAGIC;

	if (basis_size > INT64_MAX)
		return -EFBIG;
	*block_len = 0;
	*strong_len = (size_t)-1;     /* -1: minimum */
	if (rs_sig_args((rs_long_t)basis_size, &magic, block_len, strong_len) != RS_DONE)
		return -EINVAL;
	if (magic != RS_RK_BLAKE2_SIG_MAGIC || *block_len == 0)
		return -EINVAL;
	return 0;
}

struct delta_job *delta_sig_new(uint64_t basis_size)
{
	struct delta_job *job;
	size_t block_len, strong_len;

	if (delta_sig_args(basis_size, &block_len, &strong_len) < 0)
		return NULL;
	job = delta_job_new(DELTA_SIG);
	if (!job)
		return NULL;
	job->rs = rs_sig_begin(block_len, strong_len, RS_RK_BLAKE2_SIG_MAGIC);
	if (!job->rs) {
		free(job);
		return NULL;
	}
	return job;
}

struct delta_job *delta_load_new(void)
{
	struct delta_job *job = delta_job_new(DELTA_LOAD);

	if (!job)
		return NULL;
	job->rs = rs_loadsig_begin(&job->sig);
	if (!job->rs || !job->sig) {
		delta_job_free(job);
		return NULL;
	}
	return job;
}

struct delta_job *delta_diff_new(struct delta_job *load)
{
	struct delta_job *job;

	if (!load || load->kind != DELTA_LOAD || load->state != 1 || !load->sig) {
		errno = EINVAL;
		return NULL;
	}
	job = delta_job_new(DELTA_DIFF);
	if (!job)
		return NULL;
	job->rs = rs_delta_begin(load->sig);
	if (!job->rs) {
		free(job);
		return NULL;
	}
	job->sig = load->sig;
	load->sig = NULL;
	return job;
}

/* Basis reader for patch jobs: pread() straight into librsync's buffer.  A
 * copy beyond the end of the basis is a delta that does not fit the basis. */
static rs_result delta_copy_cb(void *arg, rs_long_t pos, size_t *len, void **buf)
{
	struct delta_job *job = arg;
	ssize_t r;

	if (pos < 0)
		return RS_CORRUPT;
	do
		r = pread(job->fd, *buf, *len, (off_t)pos);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return RS_IO_ERROR;
	if (r == 0 && *len > 0)
		return RS_CORRUPT;
	*len = (size_t)r;
	return RS_DONE;
}

struct delta_job *delta_patch_new(int basis_fd)
{
	struct delta_job *job;

	if (basis_fd < 0) {
		errno = EBADF;
		return NULL;
	}
	job = delta_job_new(DELTA_PATCH);
	if (!job)
		return NULL;
	job->fd = basis_fd;
	job->rs = rs_patch_begin(delta_copy_cb, job);
	if (!job->rs) {
		free(job);
		return NULL;
	}
	return job;
}

void delta_job_free(struct delta_job *job)
{
	if (!job)
		return;
	if (job->rs)
		rs_job_free(job->rs);
	if (job->sig)
		rs_free_sumset(job->sig);
	free(job);
}

/* One rs_job_iter() call.  librsync never writes through next_in; a dummy
 * byte stands in for NULL buffers so that no pointer arithmetic is done on
 * NULL. */
static rs_result delta_iter(struct delta_job *job, const uint8_t *in, size_t in_len,
			    bool eof, uint8_t *out, size_t out_cap,
			    size_t *used, size_t *made)
{
	static uint8_t none;
	rs_buffers_t b = {
		.next_in = (char *)(uintptr_t)(in ? in : &none),
		.avail_in = in ? in_len : 0,
		.eof_in = eof,
		.next_out = (char *)(out ? out : &none),
		.avail_out = out ? out_cap : 0,
	};
	rs_result r;

	r = rs_job_iter(job->rs, &b);
	*used = b.next_in - (char *)(uintptr_t)(in ? in : &none);
	*made = b.next_out - (char *)(out ? out : &none);
	return r;
}

static bool delta_magic_ok(const uint8_t *p)
{
	uint32_t m = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		     (uint32_t)p[2] << 8 | p[3];

	return m == RS_RK_BLAKE2_SIG_MAGIC || m == RS_BLAKE2_SIG_MAGIC;
}

/* LOAD: collect and check the magic, then hand it to librsync.  Sets *used
 * to the bytes of in taken.  Returns 1 when the magic is with librsync and
 * the rest of the input may follow, 0 when more input is needed, <0. */
static int delta_load_head(struct delta_job *job, const uint8_t *in, size_t in_len,
			   bool eof, size_t *used)
{
	size_t n = DELTA_MAGIC_LEN - job->magic_len, fed, made;
	rs_result r;

	if (n > in_len)
		n = in_len;
	for (size_t i = 0; i < n; i++)
		job->magic[job->magic_len++] = in[i];
	*used = n;
	if (job->magic_len < DELTA_MAGIC_LEN)
		return eof && n == in_len ? -EBADMSG : 0;
	if (!delta_magic_ok(job->magic))
		return -EPROTO;
	while (job->magic_fed < DELTA_MAGIC_LEN) {
		r = delta_iter(job, job->magic + job->magic_fed,
			       DELTA_MAGIC_LEN - job->magic_fed, false,
			       NULL, 0, &fed, &made);
		if (r != RS_BLOCKED && r != RS_RUNNING)
			return r == RS_DONE ? -EBADMSG : delta_err(r);
		if (fed == 0)
			return -EBADMSG;
		job->magic_fed += fed;
	}
	return 1;
}

/* The job finished: a loaded signature gets its hash table. */
static int delta_finish(struct delta_job *job)
{
	if (job->kind == DELTA_LOAD) {
		rs_result r = rs_build_hash_table(job->sig);

		if (r != RS_DONE)
			return delta_err(r) < 0 ? delta_err(r) : -EINVAL;
	}
	return 1;
}

static int delta_step_rs(struct delta_job *job, const uint8_t *in, size_t in_len, bool eof,
			 uint8_t *out, size_t out_cap, size_t *used, size_t *made)
{
	int r = delta_err(delta_iter(job, in, in_len, eof, out, out_cap, used, made));

	if (r == 1)
		return delta_finish(job);
	/* Stuck at the end of the input with room to spare: a truncated
	 * stream that librsync would wait on forever. */
	if (r == 0 && eof && *used == in_len && *made == 0 &&
	    (out_cap > 0 || job->kind == DELTA_LOAD))
		return -EBADMSG;
	return r;
}

int delta_step(struct delta_job *job, const uint8_t *in, size_t in_len, bool eof,
	       uint8_t *out, size_t out_cap, size_t *ret_used, size_t *ret_out)
{
	size_t head = 0, used = 0, made = 0;
	int r = 1;

	if (job->state != 0) {
		r = job->state;
		goto out;
	}
	if (job->kind == DELTA_LOAD && job->magic_fed < DELTA_MAGIC_LEN)
		r = delta_load_head(job, in, in_len, eof, &head);
	if (r == 1)
		r = delta_step_rs(job, in ? in + head : NULL, in_len - head, eof,
				  out, out_cap, &used, &made);
	if (r != 0)
		job->state = r;
out:
	if (r < 0)
		return r;
	*ret_used = head + used;
	*ret_out = made;
	return r;
}

uint64_t delta_sig_size(uint64_t basis_size)
{
	size_t block_len, strong_len;
	uint64_t blocks;

	if (delta_sig_args(basis_size, &block_len, &strong_len) < 0)
		return UINT64_MAX;
	blocks = basis_size / block_len + (basis_size % block_len != 0);
	return 12 + blocks * (4 + strong_len);
}
