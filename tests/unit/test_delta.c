/* test_delta: librsync jobs through bounded buffers.  Every round trip goes
 * signature -> load -> delta -> patch and compares the result byte for byte;
 * the jobs are driven with tiny and odd buffer sizes as librsync's own tests
 * do. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "delta.h"

static const size_t steps[] = { 0, 1, 2, 3, 7, 15, 100, 10000, 200000 };
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))
#define BIG_STEP (256 * 1024)
/* Mode < NSTEPS: fixed step steps[mode] (mode 0: all sizes in turn, so that
 * zero-byte offers happen between real ones).  Mode NSTEPS: 256 KiB. */
#define MODE_BIG NSTEPS
#define OUT_LIMIT (64u << 20)

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_room(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n && b->p)
		return;
	b->cap = b->len + n + 1;
	b->p = realloc(b->p, b->cap);
	assert_non_null(b->p);
}

static size_t step_size(unsigned mode, unsigned i, unsigned salt)
{
	if (mode == MODE_BIG)
		return BIG_STEP;
	if (mode == 0)
		return steps[(i * salt + salt) % NSTEPS];
	return steps[mode];
}

/* Run job over all of in (n bytes), appending its output to out.  Returns 1
 * when the job finished, <0 on the job's error, -ETIMEDOUT when it stalled,
 * -EFBIG when it produced absurdly much. */
static int drive(struct delta_job *job, const uint8_t *in, size_t n, unsigned mode,
		 struct buf *out)
{
	size_t off = 0, stall = 0;

	for (unsigned i = 0;; i++) {
		size_t give = step_size(mode, i, 5), room = step_size(mode, i, 7);
		size_t used = 12345, made = 54321;
		int r;

		if (give > n - off)
			give = n - off;
		buf_room(out, room);
		r = delta_step(job, in ? in + off : NULL, give, off + give == n,
			       out->p + out->len, room, &used, &made);
		if (r < 0)
			return r;
		assert_true(used <= give);
		assert_true(made <= room);
		off += used;
		out->len += made;
		if (r == 1) {
			assert_int_equal(off, n);
			return 1;
		}
		stall = used || made ? 0 : stall + 1;
		if (stall > 4 * NSTEPS)
			return -ETIMEDOUT;
		if (out->len > OUT_LIMIT)
			return -EFBIG;
	}
}

static int memfd_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("basis", MFD_CLOEXEC);

	assert_true(fd >= 0);
	if (n)
		assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

static void make_sig(const uint8_t *old, size_t old_len, unsigned mode, struct buf *sig)
{
	struct delta_job *job = delta_sig_new(old_len);

	assert_non_null(job);
	assert_int_equal(drive(job, old, old_len, mode, sig), 1);
	assert_int_equal(sig->len, delta_sig_size(old_len));
	delta_job_free(job);
}

static struct delta_job *load_sig(const struct buf *sig, unsigned mode)
{
	struct delta_job *load = delta_load_new(), *diff;
	struct buf none = { 0 };

	assert_non_null(load);
	assert_int_equal(drive(load, sig->p, sig->len, mode, &none), 1);
	assert_int_equal(none.len, 0);
	free(none.p);
	diff = delta_diff_new(load);
	assert_non_null(diff);
	delta_job_free(load);
	return diff;
}

static void make_delta(const struct buf *sig, const uint8_t *new, size_t new_len,
		       unsigned mode, struct buf *delta)
{
	struct delta_job *diff = load_sig(sig, mode);

	assert_int_equal(drive(diff, new, new_len, mode, delta), 1);
	delta_job_free(diff);
}

static int apply(int basis, const struct buf *delta, unsigned mode, struct buf *out)
{
	struct delta_job *patch = delta_patch_new(basis);
	int r;

	assert_non_null(patch);
	r = drive(patch, delta->p, delta->len, mode, out);
	delta_job_free(patch);
	return r;
}

/* Full round trip in one mode; returns the delta size. */
static size_t round_trip(const uint8_t *old, size_t old_len, const uint8_t *new,
			 size_t new_len, unsigned mode)
{
	struct buf sig = { 0 }, delta = { 0 }, out = { 0 };
	int fd = memfd_with(old, old_len);
	size_t n;

	make_sig(old, old_len, mode, &sig);
	make_delta(&sig, new, new_len, mode, &delta);
	assert_int_equal(apply(fd, &delta, mode, &out), 1);
	assert_int_equal(out.len, new_len);
	if (new_len)
		assert_memory_equal(out.p, new, new_len);
	n = delta.len;
	close(fd);
	free(sig.p);
	free(delta.p);
	free(out.p);
	return n;
}

/* Round trip in every mode (tiny modes only for small inputs).  Returns
 * the delta size with 256 KiB steps, as the daemons feed it.  librsync
 * frames literal data per offered chunk, so with tiny input steps a delta
 * made of literals grows (up to 2x with 1-byte steps); that is bounded but
 * not what the size checks measure. */
static size_t round_trips(const uint8_t *old, size_t old_len, const uint8_t *new,
			  size_t new_len)
{
	size_t want = round_trip(old, old_len, new, new_len, MODE_BIG);
	bool small = old_len + new_len <= 300 * 1024;

	for (unsigned mode = 0; mode < NSTEPS; mode++) {
		if (!small && steps[mode] != 0 && steps[mode] < 10000)
			continue;
		assert_true(round_trip(old, old_len, new, new_len, mode) <=
			    2 * want + 64);
	}
	return want;
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	seed |= 1;
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (uint8_t)(seed >> 24);
	}
	return p;
}

/* Text-like data: numbered log lines with much repetition. */
static uint8_t *text_bytes(size_t n, unsigned variant)
{
	uint8_t *p = malloc(n + 64);
	size_t off = 0;

	assert_non_null(p);
	for (unsigned line = 0; off < n; line++) {
		int w = snprintf((char *)p + off, 64, "%08u GET /page/%u HTTP/1.1 %u\n",
				 line, (line * variant) % 97, line % 7 ? 200 : 404);

		assert_true(w > 0 && w < 64);
		off += (size_t)w;
	}
	return p;
}

/* A delta for a change of `changed` bytes stays small: under twice the
 * change plus `slack` (a few blocks' worth). */
static void assert_small_delta(size_t delta_len, size_t changed, size_t slack)
{
	assert_true(delta_len < 2 * changed + slack);
}

static void test_identical(void **state)
{
	size_t n = 100 * 1000;
	uint8_t *p = random_bytes(n, 1);

	assert_small_delta(round_trips(p, n, p, n), 0, 64);
	free(p);
}

static void test_appended(void **state)
{
	size_t n = 100 * 1000, add = 5000;
	uint8_t *old = random_bytes(n + add, 2);

	assert_small_delta(round_trips(old, n, old, n + add), add, 2048);
	free(old);
}

static void test_prefix_inserted(void **state)
{
	size_t n = 100 * 1000, add = 3001;
	uint8_t *new = random_bytes(n + add, 3);

	assert_small_delta(round_trips(new + add, n, new, n + add), add, 2048);
	free(new);
}

static void test_structured(void **state)
{
	size_t n = 200 * 1000;
	uint8_t *old = text_bytes(n, 3), *new = text_bytes(n, 3);

	/* A few scattered edits of 10 bytes each. */
	for (size_t at = 5000; at + 10 < n; at += 40000)
		memset(new + at, '#', 10);
	assert_small_delta(round_trips(old, n, new, n), 50, 5 * 2048);
	/* Another variant differs everywhere: the delta still round-trips. */
	free(new);
	new = text_bytes(n, 5);
	round_trips(old, n, new, n);
	free(old);
	free(new);
}

static void test_empty(void **state)
{
	size_t n = 50 * 1000;
	uint8_t *p = random_bytes(n, 4);
	size_t d;

	/* Empty basis: the delta carries the file (plus a little framing). */
	d = round_trips(NULL, 0, p, n);
	assert_true(d >= n && d < n + 64);
	/* Empty new file, empty both. */
	assert_true(round_trips(p, n, NULL, 0) < 16);
	assert_true(round_trips(NULL, 0, NULL, 0) < 16);
	free(p);
}

static void test_changed_inside_16m(void **state)
{
	size_t n = 16u << 20, change = 1u << 20;
	uint8_t *old = random_bytes(n, 5), *new = malloc(n), *fresh;

	assert_non_null(new);
	memcpy(new, old, n);
	fresh = random_bytes(change, 6);
	memcpy(new + n / 2 - change / 3, fresh, change);
	assert_small_delta(round_trips(old, n, new, n), change, 64 * 1024);
	free(fresh);
	free(old);
	free(new);
}

/* Push a hand-made signature into a load job one byte at a time. */
static int load_bytes(const uint8_t *p, size_t n)
{
	struct delta_job *load = delta_load_new(), *diff = NULL;
	struct buf none = { 0 };
	int r;

	assert_non_null(load);
	r = drive(load, p, n, 1, &none);
	/* A finished load job always yields a delta job. */
	if (r == 1) {
		diff = delta_diff_new(load);
		assert_non_null(diff);
	}
	delta_job_free(diff);
	delta_job_free(load);
	free(none.p);
	return r;
}

static void test_foreign_magic(void **state)
{
	/* magic, block_len 2048, strong_len 16 or 32, no blocks. */
	static const uint8_t md4[] = { 0x72, 0x73, 0x01, 0x36, 0, 0, 8, 0, 0, 0, 0, 16 };
	static const uint8_t rk_md4[] = { 0x72, 0x73, 0x01, 0x46, 0, 0, 8, 0, 0, 0, 0, 16 };
	static const uint8_t delta[] = { 0x72, 0x73, 0x02, 0x36, 0 };
	static const uint8_t junk[] = "GET / HTTP/1.0\r\n";
	static const uint8_t blake2[] = { 0x72, 0x73, 0x01, 0x37, 0, 0, 8, 0, 0, 0, 0, 32 };
	struct delta_job *load = delta_load_new();
	size_t used = 99, made = 99;
	uint8_t out[16];

	assert_int_equal(load_bytes(md4, sizeof(md4)), -EPROTO);
	assert_int_equal(load_bytes(rk_md4, sizeof(rk_md4)), -EPROTO);
	assert_int_equal(load_bytes(delta, sizeof(delta)), -EPROTO);
	assert_int_equal(load_bytes(junk, sizeof(junk)), -EPROTO);
	/* Plain BLAKE2 signatures (no RabinKarp) are accepted. */
	assert_int_equal(load_bytes(blake2, sizeof(blake2)), 1);

	/* Refused before librsync parses anything, and the error sticks. */
	assert_non_null(load);
	assert_int_equal(delta_step(load, md4, 3, false, out, sizeof(out), &used, &made), 0);
	assert_int_equal(used, 3);
	assert_int_equal(delta_step(load, md4 + 3, 9, true, out, sizeof(out), &used, &made),
			 -EPROTO);
	assert_int_equal(delta_step(load, NULL, 0, true, out, sizeof(out), &used, &made),
			 -EPROTO);
	assert_null(delta_diff_new(load));
	delta_job_free(load);
	delta_job_free(NULL);
}

static void test_truncated_signature(void **state)
{
	size_t n = 30000;
	uint8_t *p = random_bytes(n, 7);
	struct buf sig = { 0 };

	make_sig(p, n, MODE_BIG, &sig);
	assert_int_equal(load_bytes(sig.p, 0), -EBADMSG);
	assert_int_equal(load_bytes(sig.p, 3), -EBADMSG);
	assert_int_equal(load_bytes(sig.p, 11), -EBADMSG);
	/* Cut inside a block sum. */
	assert_int_equal(load_bytes(sig.p, sig.len - 1), -EBADMSG);
	assert_int_equal(load_bytes(sig.p, sig.len), 1);
	free(sig.p);
	free(p);
}

/* Build a delta of new against old, returned in *delta. */
static void delta_of(const uint8_t *old, size_t old_len, const uint8_t *new,
		     size_t new_len, struct buf *delta)
{
	struct buf sig = { 0 };

	make_sig(old, old_len, MODE_BIG, &sig);
	make_delta(&sig, new, new_len, MODE_BIG, delta);
	free(sig.p);
}

static void test_truncated_delta(void **state)
{
	size_t n = 60000;
	uint8_t *old = random_bytes(n, 8), *new = random_bytes(n, 9);
	struct buf delta = { 0 };
	int fd = memfd_with(old, n);

	/* Mix copies and literals. */
	memcpy(new + 20000, old + 10000, 30000);
	delta_of(old, n, new, n, &delta);
	for (size_t cut = 0; cut < delta.len; cut += cut < 64 ? 1 : 997) {
		struct buf d = { delta.p, cut, cut }, out = { 0 };

		assert_int_equal(apply(fd, &d, MODE_BIG, &out), -EBADMSG);
		free(out.p);
	}
	/* The last byte alone (the end command) matters too. */
	{
		struct buf d = { delta.p, delta.len - 1, delta.len }, out = { 0 };

		assert_int_equal(apply(fd, &d, 0, &out), -EBADMSG);
		free(out.p);
	}
	close(fd);
	free(delta.p);
	free(old);
	free(new);
}

static void test_corrupt_delta(void **state)
{
	size_t n = 40000;
	uint8_t *old = random_bytes(n, 10), *new = random_bytes(n, 11);
	struct buf delta = { 0 };
	int fd = memfd_with(old, n), errors = 0;

	memcpy(new + 5000, old + 2000, 20000);
	delta_of(old, n, new, n, &delta);
	for (size_t at = 0; at < delta.len; at += at < 64 ? 1 : 331) {
		struct buf out = { 0 };
		int r;

		delta.p[at] ^= 0xa5;
		r = apply(fd, &delta, MODE_BIG, &out);
		assert_true(r == 1 || r == -EBADMSG || r == -EPROTO || r == -EINVAL);
		if (at < 4)
			assert_int_equal(r, -EPROTO);
		if (r < 0)
			errors++;
		delta.p[at] ^= 0xa5;
		free(out.p);
	}
	assert_true(errors > 4);
	close(fd);
	free(delta.p);
	free(old);
	free(new);
}

static void test_basis_problems(void **state)
{
	size_t n = 50000;
	uint8_t *old = random_bytes(n, 12);
	struct buf delta = { 0 }, out = { 0 };
	int fd = memfd_with(old, n), wfd;
	char path[] = "/proc/self/fd/XXXXXXXXXXXX";

	delta_of(old, n, old, n, &delta);
	/* A basis shorter than the delta expects: an error, not garbage. */
	assert_int_equal(ftruncate(fd, (off_t)n / 2), 0);
	assert_int_equal(apply(fd, &delta, MODE_BIG, &out), -EBADMSG);
	/* A basis that cannot be read. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(wfd >= 0);
	out.len = 0;
	assert_int_equal(apply(wfd, &delta, MODE_BIG, &out), -EIO);
	assert_null(delta_patch_new(-1));
	close(wfd);
	close(fd);
	free(out.p);
	free(delta.p);
	free(old);
}

static void test_sig_size(void **state)
{
	static const uint64_t sizes[] = { 0, 1, 2047, 100000, 16u << 20, 256u << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t s = delta_sig_size(sizes[i]);

		assert_true(s >= 12);
		assert_true(s <= 12 + (sizes[i] / 256 + 1) * 36);
	}
	assert_int_equal(delta_sig_size(0), 12);
	/* Larger files get a bigger but sub-linear signature. */
	assert_true(delta_sig_size(256u << 20) < (256u << 20) / 100);
	/* Wire budget: within 1.2x of rsync, whose signature for 256 MiB is
	 * 112 KiB and for 1 MiB 6 KiB; the delta itself is a little smaller
	 * than rsync's, which leaves room for a somewhat larger signature. */
	assert_true(delta_sig_size(256u << 20) <= 200 * 1024);
	assert_true(delta_sig_size(1u << 20) <= 12 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_appended),
		cmocka_unit_test(test_prefix_inserted),
		cmocka_unit_test(test_structured),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_changed_inside_16m),
		cmocka_unit_test(test_foreign_magic),
		cmocka_unit_test(test_truncated_signature),
		cmocka_unit_test(test_truncated_delta),
		cmocka_unit_test(test_corrupt_delta),
		cmocka_unit_test(test_basis_problems),
		cmocka_unit_test(test_sig_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
