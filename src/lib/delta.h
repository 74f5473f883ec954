/* delta: the librsync engine (signature, delta, patch), streamed through
 * bounded buffers.  The only file that includes <librsync.h>.
 *
 * Every job is driven the same way: the caller offers input bytes and an
 * output buffer; delta_step() consumes some input and produces some output.
 * No job ever holds a whole file in memory.
 *
 *   sink   : delta_sig_new(basis_size)        in: basis file bytes   out: signature
 *   source : delta_load_new()                 in: signature          out: nothing
 *            delta_diff_new(load job)         in: new file bytes     out: delta
 *   sink   : delta_patch_new(basis_fd)        in: delta              out: new file bytes
 *
 * Signatures always use RabinKarp + BLAKE2 (RS_RK_BLAKE2_SIG_MAGIC); a
 * signature with any other magic (MD4 in particular) is refused with -EPROTO.
 * Errors are negative errno values: -EBADMSG for a corrupt stream, -EPROTO for
 * a refused format, -EIO for a read error on the basis, -ENOMEM. */
#ifndef MIRROR_DELTA_H
#define MIRROR_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct delta_job;

/* Signature of a basis of basis_size bytes; block and strong-sum lengths
 * are chosen from the size (rs_sig_args). */
struct delta_job *delta_sig_new(uint64_t basis_size);
/* Job that parses a signature received from the peer. */
struct delta_job *delta_load_new(void);
/* Delta job against a fully loaded signature (load job done).  Takes the
 * loaded signature out of load: the load job may be freed afterwards. */
struct delta_job *delta_diff_new(struct delta_job *load);
/* Patch job reading the basis from basis_fd with pread (fd borrowed; it must
 * stay open until the job is freed). */
struct delta_job *delta_patch_new(int basis_fd);

/* One step.  in/in_len: input offered (may be 0); eof: no more input after
 * this.  out/out_cap: room for output.  Sets *ret_used (input consumed) and
 * *ret_out (output produced).  Returns 1 when the job is finished (all output
 * produced), 0 when it needs more input or more output room, <0 on error. */
int delta_step(struct delta_job *job, const uint8_t *in, size_t in_len, bool eof,
	       uint8_t *out, size_t out_cap, size_t *ret_used, size_t *ret_out);

void delta_job_free(struct delta_job *job);  /* NULL is a no-op */

/* Expected signature size for a basis of basis_size bytes (to bound memory). */
uint64_t delta_sig_size(uint64_t basis_size);

#endif
