/* test_journal: the source's persistent change journal. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "journal.h"

struct fx {
	char dir[64];
	char file[96];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_journal.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->file, sizeof(f->file), "%s/journal", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct journal *jopen(struct fx *f)
{
	struct journal *j = NULL;

	assert_int_equal(journal_open(f->dir, &j), 0);
	assert_non_null(j);
	return j;
}

static void add(struct journal *j, const char *p, uint64_t want_seq)
{
	uint64_t seq = 0;

	assert_int_equal(journal_append(j, JOURNAL_UPSERT, p, strlen(p), NULL, 0, &seq), 0);
	assert_int_equal(seq, want_seq);
}

/* Iterate from 'from' and check the seqs are exactly first..last. */
static void expect_range(struct journal *j, uint64_t from, uint64_t first, uint64_t last)
{
	struct journal_iter *it = NULL;
	struct journal_rec rec;
	uint64_t want = first;
	int r;

	assert_int_equal(journal_iter_new(j, from, &it), 0);
	while ((r = journal_iter_next(it, &rec)) == 1) {
		assert_int_equal(rec.seq, want);
		want++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(want, last + 1);
	journal_iter_free(it);
}

static void fill(struct journal *j, uint64_t first, uint64_t last)
{
	char p[32];

	for (uint64_t s = first; s <= last; s++) {
		snprintf(p, sizeof(p), "dir/f%llu", (unsigned long long)s);
		add(j, p, s);
	}
}

static void test_append_sync_reopen(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_iter *it = NULL;
	struct journal_rec rec;
	struct journal_stats st;
	uint64_t id = journal_id(j), seq;

	add(j, "a", 1);
	assert_int_equal(journal_append(j, JOURNAL_DELETE, "b", 1, NULL, 0, &seq), 0);
	assert_int_equal(journal_append(j, JOURNAL_RENAME, "c", 1, "d/e", 3, &seq), 0);
	assert_int_equal(journal_append(j, JOURNAL_RESCAN, "", 0, NULL, 0, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(journal_count(j), 4);
	assert_int_equal(journal_sync(j), 0);
	journal_close(j);

	j = jopen(f);
	assert_int_equal(journal_id(j), id);
	journal_get_stats(j, &st);
	assert_int_equal(st.synced_seq, 4);
	assert_int_equal(st.next_seq, 5);
	assert_int_equal(st.torn_bytes, 0);
	assert_int_equal(journal_count(j), 4);
	assert_int_equal(journal_iter_new(j, 1, &it), 0);
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.op, JOURNAL_UPSERT);
	assert_string_equal(rec.path, "a");
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.op, JOURNAL_DELETE);
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.op, JOURNAL_RENAME);
	assert_string_equal(rec.path, "c");
	assert_string_equal(rec.path2, "d/e");
	assert_int_equal(rec.path2_len, 3);
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.op, JOURNAL_RESCAN);
	assert_int_equal(rec.path_len, 0);
	assert_int_equal(journal_iter_next(it, &rec), 0);
	journal_iter_free(it);
	add(j, "z", 5);
	journal_close(j);
}

static void test_new_journals_differ(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	uint64_t id = journal_id(j);

	journal_close(j);
	assert_int_equal(unlink(f->file), 0);
	j = jopen(f);
	assert_int_not_equal(journal_id(j), id);
	journal_close(j);
}

static void test_torn_tail_truncated(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_stats st;
	struct stat sb;

	fill(j, 1, 10);
	assert_int_equal(journal_sync(j), 0);
	journal_close(j);
	assert_int_equal(stat(f->file, &sb), 0);
	assert_int_equal(truncate(f->file, sb.st_size - 3), 0);

	j = jopen(f);
	journal_get_stats(j, &st);
	assert_true(st.torn_bytes > 0);
	assert_int_equal(st.synced_seq, 9);
	expect_range(j, 1, 1, 9);
	add(j, "after", 10);
	assert_int_equal(journal_sync(j), 0);
	journal_close(j);
	j = jopen(f);
	expect_range(j, 1, 1, 10);
	journal_close(j);
}

static void test_corrupt_last_record(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_stats st;
	struct stat sb;
	uint8_t c;
	int fd;

	fill(j, 1, 5);
	assert_int_equal(journal_sync(j), 0);
	journal_close(j);
	assert_int_equal(stat(f->file, &sb), 0);
	fd = open(f->file, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, sb.st_size - 2), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, sb.st_size - 2), 1);
	close(fd);

	j = jopen(f);
	journal_get_stats(j, &st);
	assert_true(st.torn_bytes > 0);
	expect_range(j, 1, 1, 4);
	journal_close(j);
	assert_int_equal(stat(f->file, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, st.file_bytes);
}

/* Corrupt one byte of a file by flipping its bits: writing a constant
 * would leave a byte of the random journal id unchanged one run in 256. */
static void flip_byte(int fd, off_t off)
{
	unsigned char b;

	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0xff;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
}

static void test_corrupt_header(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	int fd;

	journal_close(j);
	fd = open(f->file, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	flip_byte(fd, 20);
	close(fd);
	j = NULL;
	assert_int_equal(journal_open(f->dir, &j), -EBADMSG);
	assert_null(j);
}

/* Another reader's view: the header of a journal its owner holds open. */
static void test_read_header(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	uint64_t id = 0, keep = 0;
	int fd;

	fill(j, 1, 3);
	assert_int_equal(journal_sync(j), 0);
	fd = open(f->file, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(journal_read_header(fd, &id, &keep), 0);
	assert_true(id == journal_id(j));
	assert_true(keep <= 1);
	flip_byte(fd, 20);
	assert_int_equal(journal_read_header(fd, &id, &keep), -EBADMSG);
	assert_int_equal(ftruncate(fd, 10), 0);
	assert_int_equal(journal_read_header(fd, &id, &keep), -EBADMSG);
	close(fd);
	journal_close(j);
}

static void test_ack_reopen(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_stats st;

	fill(j, 1, 10);
	assert_int_equal(journal_ack(j, 1), -EINVAL);   /* not synced yet */
	assert_int_equal(journal_sync(j), 0);
	assert_int_equal(journal_ack(j, 4), 0);
	assert_int_equal(journal_ack(j, 2), 0);         /* older: no-op */
	assert_int_equal(journal_count(j), 6);
	assert_int_equal(journal_ack(j, 11), -EINVAL);
	journal_close(j);

	j = jopen(f);
	journal_get_stats(j, &st);
	assert_int_equal(st.acked_seq, 4);
	assert_int_equal(journal_count(j), 6);
	expect_range(j, st.acked_seq + 1, 5, 10);
	/* Not compacted yet: a sink that lost its last acks can still resume. */
	expect_range(j, 2, 2, 10);
	journal_close(j);
}

static void test_compaction(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_iter *it = NULL;
	struct journal_stats st;
	struct journal_rec rec;
	uint64_t id = journal_id(j);

	assert_int_equal(journal_set_limits(j, 0, 1000), 0);
	fill(j, 1, 100);
	assert_int_equal(journal_sync(j), 0);
	assert_int_equal(journal_iter_new(j, 50, &it), 0);
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.seq, 50);
	assert_int_equal(journal_ack(j, 60), 0);
	journal_get_stats(j, &st);
	assert_int_equal(st.compactions, 1);
	assert_int_equal(st.keep_from, 61);
	assert_int_equal(st.live_count, 40);
	assert_int_equal(st.file_bytes, JOURNAL_HDR_LEN + st.live_bytes);
	/* The open iterator resumes after compaction at the first kept record. */
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.seq, 61);
	journal_iter_free(it);
	expect_range(j, 61, 61, 100);
	assert_int_equal(journal_iter_new(j, 10, &it), -ERANGE);
	assert_int_equal(journal_iter_new(j, 102, &it), -ERANGE);
	journal_close(j);

	j = jopen(f);
	assert_int_equal(journal_id(j), id);
	expect_range(j, 61, 61, 100);
	assert_int_equal(journal_iter_new(j, 60, &it), -ERANGE);
	add(j, "next", 101);
	journal_close(j);
}

static void test_seq_survives_full_compaction(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_stats st;
	char ack[128];

	fill(j, 1, 5);
	assert_int_equal(journal_sync(j), 0);
	assert_int_equal(journal_ack(j, 5), 0);
	assert_int_equal(journal_compact(j), 0);
	journal_get_stats(j, &st);
	assert_int_equal(st.live_count, 0);
	assert_int_equal(st.file_bytes, JOURNAL_HDR_LEN);
	journal_close(j);
	j = jopen(f);
	add(j, "again", 6);
	assert_int_equal(journal_sync(j), 0);
	journal_close(j);
	/* Even without the ack file the header's floor keeps the counter. */
	snprintf(ack, sizeof(ack), "%s/journal.ack", f->dir);
	assert_int_equal(unlink(ack), 0);
	j = jopen(f);
	add(j, "no ack file", 7);
	journal_close(j);
	/* A new journal (new id) starts again at 1. */
	assert_int_equal(unlink(f->file), 0);
	j = jopen(f);
	add(j, "fresh journal starts at 1", 1);
	journal_close(j);
}

static void test_enospc_bound(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	char big[1000];
	uint64_t seq = 0, n = 0;
	int r;

	memset(big, 'p', sizeof(big));
	assert_int_equal(journal_set_limits(j, 100, 0), -EINVAL);
	assert_int_equal(journal_set_limits(j, 20000, 0), 0);
	while ((r = journal_append(j, JOURNAL_UPSERT, big, sizeof(big), NULL, 0, &seq)) == 0)
		n++;
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(n, 20000 / (JOURNAL_REC_FIXED + sizeof(big)));
	assert_true(journal_size(j) <= 20000);
	assert_int_equal(journal_sync(j), 0);
	assert_int_equal(journal_ack(j, seq), 0);
	assert_int_equal(journal_append(j, JOURNAL_UPSERT, big, sizeof(big), NULL, 0, NULL), 0);
	journal_close(j);
}

static void test_odd_paths(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_iter *it = NULL;
	struct journal_rec rec;
	const char nl[] = "line\nbreak";
	const char ff[] = "\xff\xfe/\x01name";
	char longp[JOURNAL_PATH_MAX + 1];

	memset(longp, 'l', sizeof(longp));
	assert_int_equal(journal_append(j, JOURNAL_UPSERT, "a\0b", 3, NULL, 0, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_RENAME, "a", 1, "", 0, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_DELETE, "a", 1, "b", 1, NULL), -EINVAL);
	assert_int_equal(journal_append(j, 9, "a", 1, NULL, 0, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_LISTDIR + 1, "a", 1, NULL, 0, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_LISTDIR, "a", 1, "b", 1, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_REPAIR, "a", 1, "b", 1, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_UPSERT, longp, sizeof(longp), NULL, 0, NULL), -EINVAL);
	assert_int_equal(journal_append(j, JOURNAL_UPSERT, longp, JOURNAL_PATH_MAX, NULL, 0, NULL), 0);
	assert_int_equal(journal_append(j, JOURNAL_RENAME, nl, sizeof(nl) - 1, ff, sizeof(ff) - 1, NULL), 0);
	assert_int_equal(journal_sync(j), 0);
	journal_close(j);
	j = jopen(f);
	assert_int_equal(journal_iter_new(j, 1, &it), 0);
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.path_len, JOURNAL_PATH_MAX);
	assert_int_equal(journal_iter_next(it, &rec), 1);
	assert_int_equal(rec.seq, 2);
	assert_int_equal(rec.path_len, sizeof(nl) - 1);
	assert_memory_equal(rec.path, nl, sizeof(nl));
	assert_int_equal(rec.path2_len, sizeof(ff) - 1);
	assert_memory_equal(rec.path2, ff, sizeof(ff));
	journal_iter_free(it);
	journal_close(j);
}

static void test_iter_sees_only_synced(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);
	struct journal_iter *it = NULL;
	struct journal_rec rec;

	assert_int_equal(journal_iter_new(j, 1, &it), 0);
	fill(j, 1, 3);
	assert_int_equal(journal_iter_next(it, &rec), 0);
	assert_int_equal(journal_sync(j), 0);
	for (uint64_t s = 1; s <= 3; s++) {
		assert_int_equal(journal_iter_next(it, &rec), 1);
		assert_int_equal(rec.seq, s);
	}
	assert_int_equal(journal_iter_next(it, &rec), 0);
	journal_iter_free(it);
	journal_close(j);
}

/* Many records, more than one batch buffer and one reader chunk. */
static void test_large_batch(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen(f);

	fill(j, 1, 30000);
	assert_int_equal(journal_sync(j), 0);
	expect_range(j, 1, 1, 30000);
	assert_int_equal(journal_ack(j, 12345), 0);
	expect_range(j, 12346, 12346, 30000);
	journal_close(j);
	j = jopen(f);
	assert_int_equal(journal_count(j), 30000 - 12345);
	expect_range(j, 12346, 12346, 30000);
	journal_close(j);
}

static void child_loop(const char *dir, int wfd)
{
	struct journal *j = NULL;
	uint64_t seq = 0;
	char p[64];

	if (journal_open(dir, &j) < 0)
		_exit(2);
	for (unsigned round = 0;; round++) {
		for (unsigned k = 0; k <= round % 7; k++) {
			snprintf(p, sizeof(p), "d/%u/%u", round, k);
			if (journal_append(j, JOURNAL_UPSERT, p, strlen(p), NULL, 0, &seq) < 0)
				_exit(3);
		}
		if (journal_sync(j) < 0)
			_exit(4);
		if (write(wfd, &seq, sizeof(seq)) != sizeof(seq))
			_exit(5);
	}
}

static void test_kill_safety(void **state)
{
	struct fx *f = *state;
	struct journal *j;
	struct journal_stats st;
	struct timespec ts = { 0, 0 };
	uint64_t seq, max = 0;
	int pfd[2], status;
	pid_t pid;

	for (int run = 0; run < 5; run++) {
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child_loop(f->dir, pfd[1]);
		}
		close(pfd[1]);
		/* Wait (bounded) for its first synced record, so a loaded
		 * machine cannot make the run empty; then let it go on a little
		 * (its reports wait in the pipe; a full pipe only shortens the
		 * run) and kill it in the middle of its work. */
		struct pollfd pp = { .fd = pfd[0], .events = POLLIN };
		assert_int_equal(poll(&pp, 1, 10000), 1);
		assert_int_equal(read(pfd[0], &seq, sizeof(seq)), sizeof(seq));
		max = seq;
		ts.tv_nsec = (10 + 20 * run) * 1000 * 1000;
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		while (read(pfd[0], &seq, sizeof(seq)) == sizeof(seq))
			max = seq > max ? seq : max;
		close(pfd[0]);
		assert_true(max > 0);

		j = jopen(f);
		journal_get_stats(j, &st);
		assert_true(st.synced_seq >= max);
		expect_range(j, 1, 1, st.synced_seq);
		journal_close(j);
	}
}

/* Pure codec: every prefix is incomplete, every byte flip is rejected. */
static void test_codec_prefix_and_mutation(void **state)
{
	uint8_t buf[128], mut[128];
	struct journal_rec rec;
	int n;

	(void)state;
	assert_int_equal(journal_rec_encode(buf, 10, 7, JOURNAL_RENAME, "ab", 2, "c", 1), -ENOBUFS);
	n = journal_rec_encode(buf, sizeof(buf), 7, JOURNAL_RENAME, "ab", 2, "c", 1);
	assert_int_equal(n, JOURNAL_REC_FIXED + 3);
	assert_int_equal(journal_rec_decode(buf, (size_t)n, &rec), n);
	assert_int_equal(rec.seq, 7);
	for (int len = 0; len < n; len++)
		assert_int_equal(journal_rec_decode(buf, (size_t)len, &rec), -EAGAIN);
	for (int i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(mut, buf, (size_t)n);
			mut[i] ^= (uint8_t)(1u << bit);
			assert_true(journal_rec_decode(mut, (size_t)n, &rec) < 0);
		}
	}
	/* Known CRC32C check value. */
	assert_int_equal(journal_crc32c(0, "123456789", 9), 0xe3069283);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_sync_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_journals_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_last_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_survives_full_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter_sees_only_synced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_safety, setup, teardown),
		cmocka_unit_test(test_codec_prefix_and_mutation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
