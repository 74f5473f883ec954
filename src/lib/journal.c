/* journal: persistent change journal of the source.  See journal.h for the
 * file format and the contracts.  Bookkeeping (codec, validation, limits)
 * is pure; the I/O is confined to the rd_* reader and the *_file helpers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define JOURNAL_NAME "journal"
#define JOURNAL_TMP "journal.tmp"
#define ACK_NAME "journal.ack"
#define ACK_TMP "journal.ack.tmp"
#define ACK_LEN 32
#define JOURNAL_VERSION 1
#define BUF_CAP (256u << 10)            /* append batch buffer */
#define RD_CHUNK (64u << 10)            /* reader refill size */

static const uint8_t hdr_magic[8] = { 'M', 'I', 'R', 'J', 'R', 'N', 'L', '\n' };
static const uint8_t ack_magic[8] = { 'M', 'I', 'R', 'J', 'A', 'C', 'K', '\n' };

static const uint32_t crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

/* Buffered sequential reader over [off, end) of a file. */
struct rd {
	int fd;
	uint64_t off;           /* file offset of buf[0] */
	size_t pos, len;        /* consumed and filled bytes of buf */
	uint8_t *buf;           /* RD_CHUNK + JOURNAL_REC_MAX bytes */
};

struct journal {
	int dirfd, fd;
	bool poisoned;
	uint64_t id, next_seq, synced_seq, written_seq, acked_seq, keep_from;
	uint64_t file_size;     /* bytes written to the file */
	uint64_t synced_size;   /* bytes covered by the last fdatasync */
	uint64_t ack_off;       /* offset of the first record after acked_seq */
	uint64_t file_live;     /* records in [ack_off, file_size) */
	uint8_t *buf;           /* append batch, BUF_CAP bytes */
	size_t buf_len;
	uint64_t buf_count, buf_last_seq;
	uint64_t max_bytes, compact_bytes;
	uint64_t torn_bytes, compactions, gen;
};

struct journal_iter {
	struct journal *j;
	uint64_t gen, want;
	struct rd rd;
	char names[2 * (JOURNAL_PATH_MAX + 1)];
};

uint32_t journal_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static bool op_valid(unsigned op)
{
	return op >= JOURNAL_UPSERT && op <= JOURNAL_LISTDIR;
}

/* Shape rules shared by encode and decode. */
static bool rec_args_valid(unsigned op, const char *p, size_t len, const char *p2, size_t len2)
{
	if (!op_valid(op) || len > JOURNAL_PATH_MAX || len2 > JOURNAL_PATH_MAX)
		return false;
	if ((len && !p) || (len2 && !p2))
		return false;
	if (op == JOURNAL_RENAME ? (len == 0 || len2 == 0) : len2 != 0)
		return false;
	return !memchr(p ? p : "", 0, len) && !memchr(p2 ? p2 : "", 0, len2);
}

int journal_rec_encode(uint8_t *buf, size_t cap, uint64_t seq, enum journal_op op,
		       const char *path, size_t len, const char *path2, size_t len2)
{
	size_t n = JOURNAL_REC_FIXED + len + len2;

	if (!rec_args_valid(op, path, len, path2, len2) || seq == 0)
		return -EINVAL;
	if (cap < n)
		return -ENOBUFS;
	put32(buf + 4, (uint32_t)n);
	put64(buf + 8, seq);
	buf[16] = (uint8_t)op;
	buf[17] = buf[18] = buf[19] = 0;
	put32(buf + 20, (uint32_t)len);
	put32(buf + 24, (uint32_t)len2);
	if (len)
		memcpy(buf + JOURNAL_REC_FIXED, path, len);
	if (len2)
		memcpy(buf + JOURNAL_REC_FIXED + len, path2, len2);
	put32(buf, journal_crc32c(0, buf + 4, n - 4));
	return (int)n;
}

int journal_rec_decode(const uint8_t *buf, size_t len, struct journal_rec *ret_rec)
{
	uint32_t n, l1, l2;
	const char *p;

	if (len < JOURNAL_REC_FIXED)
		return -EAGAIN;
	n = get32(buf + 4);
	l1 = get32(buf + 20);
	l2 = get32(buf + 24);
	if (n > JOURNAL_REC_MAX || l1 > JOURNAL_PATH_MAX || l2 > JOURNAL_PATH_MAX ||
	    n != JOURNAL_REC_FIXED + l1 + l2)
		return -EBADMSG;
	if (len < n)
		return -EAGAIN;
	if (get32(buf) != journal_crc32c(0, buf + 4, n - 4))
		return -EBADMSG;
	p = (const char *)buf + JOURNAL_REC_FIXED;
	if (buf[17] || buf[18] || buf[19] || get64(buf + 8) == 0 ||
	    !rec_args_valid(buf[16], p, l1, p + l1, l2))
		return -EBADMSG;
	ret_rec->seq = get64(buf + 8);
	ret_rec->op = buf[16];
	ret_rec->path = p;
	ret_rec->path_len = l1;
	ret_rec->path2 = p + l1;
	ret_rec->path2_len = l2;
	return (int)n;
}

static void hdr_encode(uint8_t *h, uint64_t id, uint64_t seq_floor, uint64_t keep_from)
{
	memset(h, 0, JOURNAL_HDR_LEN);
	memcpy(h, hdr_magic, 8);
	put32(h + 8, JOURNAL_VERSION);
	put64(h + 16, id);
	put64(h + 24, seq_floor);
	put64(h + 32, keep_from);
	put32(h + 44, journal_crc32c(0, h, 44));
}

static int hdr_decode(const uint8_t *h, uint64_t *id, uint64_t *seq_floor, uint64_t *keep_from)
{
	if (memcmp(h, hdr_magic, 8) || get32(h + 44) != journal_crc32c(0, h, 44))
		return -EBADMSG;
	if (get32(h + 8) != JOURNAL_VERSION)
		return -EPROTONOSUPPORT;
	*id = get64(h + 16);
	*seq_floor = get64(h + 24);
	*keep_from = get64(h + 32);
	return 0;
}

/* ---- I/O helpers ---- */

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Bytes read (short only at end of file) or -errno. */
static ssize_t pread_full(int fd, void *p, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)p + got, n - got, (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int journal_read_header(int fd, uint64_t *ret_id, uint64_t *ret_keep_from)
{
	uint8_t h[JOURNAL_HDR_LEN];
	uint64_t id, floor, keep;
	ssize_t n = pread_full(fd, h, sizeof(h), 0);
	int rc;

	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(h))
		return -EBADMSG;
	if ((rc = hdr_decode(h, &id, &floor, &keep)) < 0)
		return rc;
	*ret_id = id;
	*ret_keep_from = keep;
	return 0;
}

static int rd_init(struct rd *r, int fd, uint64_t off)
{
	r->buf = malloc(RD_CHUNK + JOURNAL_REC_MAX);
	if (!r->buf)
		return -ENOMEM;
	r->fd = fd;
	r->off = off;
	r->pos = r->len = 0;
	return 0;
}

static void rd_seek(struct rd *r, int fd, uint64_t off)
{
	r->fd = fd;
	r->off = off;
	r->pos = r->len = 0;
}

static uint64_t rd_tell(const struct rd *r)
{
	return r->off + r->pos;
}

/* Keep unread bytes, read more up to end.  Bytes added, or -errno. */
static ssize_t rd_fill(struct rd *r, uint64_t end)
{
	uint64_t at;
	size_t room;
	ssize_t got;

	memmove(r->buf, r->buf + r->pos, r->len - r->pos);
	r->off += r->pos;
	r->len -= r->pos;
	r->pos = 0;
	at = r->off + r->len;
	room = RD_CHUNK + JOURNAL_REC_MAX - r->len;
	if (at >= end)
		return 0;
	if (room > end - at)
		room = (size_t)(end - at);
	got = pread_full(r->fd, r->buf + r->len, room, at);
	if (got > 0)
		r->len += (size_t)got;
	return got;
}

/* Next record before end: its length, 0 at a clean end, -EBADMSG for an
 * invalid or incomplete record (r stays at its start), -errno. */
static int rd_next(struct rd *r, uint64_t end, struct journal_rec *rec)
{
	for (;;) {
		int n = journal_rec_decode(r->buf + r->pos, r->len - r->pos, rec);
		ssize_t got;

		if (n > 0) {
			r->pos += (size_t)n;
			return n;
		}
		if (n != -EAGAIN)
			return n;
		got = rd_fill(r, end);
		if (got < 0)
			return (int)got;
		if (got == 0)
			return r->len == r->pos ? 0 : -EBADMSG;
	}
}

static int fsync_dir(struct journal *j)
{
	return fsync(j->dirfd) < 0 ? -errno : 0;
}


static int copy_range(int from, uint64_t off, int to, uint64_t to_off, uint64_t n)
{
	uint8_t *b = malloc(RD_CHUNK);
	int r = 0;

	if (!b)
		return -ENOMEM;
	while (n && r == 0) {
		size_t want = n < RD_CHUNK ? (size_t)n : RD_CHUNK;
		ssize_t got = pread_full(from, b, want, off);

		if (got < 0 || (size_t)got != want) {
			r = got < 0 ? (int)got : -EIO;
			break;
		}
		r = pwrite_all(to, b, want, to_off);
		off += want;
		to_off += want;
		n -= want;
	}
	free(b);
	return r;
}

/* Write head and copy_len bytes of copy_fd at copy_off to dir/tmp_name,
 * fdatasync, rename over name, fsync the directory.  If keep_fd, the new
 * file's fd (O_RDWR) is returned in it.  On error *keep_fd stays -1 and the
 * old file is intact, except when the final directory fsync fails: then
 * the new file is in place and *keep_fd is set anyway. */
static int replace_file(struct journal *j, const char *tmp_name, const char *name,
			const uint8_t *head, size_t head_len, int copy_fd,
			uint64_t copy_off, uint64_t copy_len, int *keep_fd)
{
	int fd, r;

	fd = openat(j->dirfd, tmp_name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = pwrite_all(fd, head, head_len, 0);
	if (r == 0 && copy_len)
		r = copy_range(copy_fd, copy_off, fd, head_len, copy_len);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(j->dirfd, tmp_name, j->dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(j->dirfd, tmp_name, 0);
		close(fd);
		return r;
	}
	r = fsync_dir(j);
	if (keep_fd)
		*keep_fd = fd;
	else
		close(fd);
	return r;
}

/* ---- ack file ---- */

static int ack_write(struct journal *j, uint64_t seq)
{
	uint8_t a[ACK_LEN] = { 0 };

	memcpy(a, ack_magic, 8);
	put64(a + 8, j->id);
	put64(a + 16, seq);
	put32(a + 28, journal_crc32c(0, a, 28));
	return replace_file(j, ACK_TMP, ACK_NAME, a, sizeof(a), -1, 0, 0, NULL);
}

/* Acknowledged seq from the ack file; 0 if absent or not ours. */
static int ack_read(struct journal *j, uint64_t *ret_seq)
{
	uint8_t a[ACK_LEN];
	ssize_t n;
	int fd;

	*ret_seq = 0;
	fd = openat(j->dirfd, ACK_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = pread_full(fd, a, sizeof(a), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n == ACK_LEN && !memcmp(a, ack_magic, 8) &&
	    get32(a + 28) == journal_crc32c(0, a, 28) && get64(a + 8) == j->id)
		*ret_seq = get64(a + 16);
	return 0;
}

/* ---- open ---- */

static int journal_create(struct journal *j)
{
	uint8_t h[JOURNAL_HDR_LEN];
	ssize_t n;
	int r;

	n = getrandom(&j->id, sizeof(j->id), 0);
	if (n != sizeof(j->id))
		return n < 0 ? -errno : -EIO;
	j->keep_from = 1;
	j->next_seq = 1;
	hdr_encode(h, j->id, j->next_seq, j->keep_from);
	r = replace_file(j, JOURNAL_TMP, JOURNAL_NAME, h, sizeof(h), -1, 0, 0, &j->fd);
	if (r < 0 && j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	return r;
}

/* Validate all records, note where the acknowledged prefix ends, cut a
 * torn tail.  Needs j->acked_seq. */
static int journal_replay(struct journal *j, uint64_t end)
{
	struct journal_rec rec;
	struct rd r;
	uint64_t last = 0;
	int n;

	n = rd_init(&r, j->fd, JOURNAL_HDR_LEN);
	if (n < 0)
		return n;
	j->ack_off = JOURNAL_HDR_LEN;
	while ((n = rd_next(&r, end, &rec)) > 0) {
		if (rec.seq <= last || rec.seq < j->keep_from) {
			r.pos -= (size_t)n;
			n = -EBADMSG;
			break;
		}
		last = rec.seq;
		if (rec.seq <= j->acked_seq)
			j->ack_off = rd_tell(&r);
		else
			j->file_live++;
	}
	j->file_size = rd_tell(&r);
	free(r.buf);
	if (n < 0 && n != -EBADMSG)
		return n;
	if (j->file_size < end) {
		j->torn_bytes = end - j->file_size;
		if (ftruncate(j->fd, (off_t)j->file_size) < 0)
			return -errno;
	}
	/* A clean close does not sync: make what we now expose durable. */
	if (fdatasync(j->fd) < 0)
		return -errno;
	j->synced_size = j->file_size;
	j->synced_seq = j->written_seq = last;
	if (j->next_seq < last + 1)
		j->next_seq = last + 1;
	return 0;
}

static int journal_load(struct journal *j)
{
	uint8_t h[JOURNAL_HDR_LEN];
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(j->fd, &st) < 0)
		return -errno;
	n = pread_full(j->fd, h, sizeof(h), 0);
	if (n < 0)
		return (int)n;
	if (n < JOURNAL_HDR_LEN)
		return -EBADMSG;
	r = hdr_decode(h, &j->id, &j->next_seq, &j->keep_from);
	if (r < 0)
		return r;
	r = ack_read(j, &j->acked_seq);
	if (r < 0)
		return r;
	r = journal_replay(j, (uint64_t)st.st_size);
	if (r < 0)
		return r;
	if (j->next_seq < j->acked_seq + 1)
		j->next_seq = j->acked_seq + 1;
	if (j->acked_seq > j->synced_seq)
		j->synced_seq = j->acked_seq;   /* everything acked is on the sink */
	return 0;
}

int journal_open(const char *dir, struct journal **ret_j)
{
	struct journal *j;
	int r;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->max_bytes = JOURNAL_DEFAULT_MAX_BYTES;
	j->compact_bytes = JOURNAL_DEFAULT_COMPACT_BYTES;
	j->buf = malloc(BUF_CAP);
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!j->buf || j->dirfd < 0) {
		r = !j->buf ? -ENOMEM : -errno;
		goto fail;
	}
	j->fd = openat(j->dirfd, JOURNAL_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (j->fd < 0 && errno != ENOENT) {
		r = -errno;
		goto fail;
	}
	if (j->fd < 0)
		r = journal_create(j);
	else
		r = journal_load(j);
	if (r < 0)
		goto fail;
	if (j->file_size == 0)
		j->file_size = j->synced_size = j->ack_off = JOURNAL_HDR_LEN;
	*ret_j = j;
	return 0;
fail:
	journal_close(j);
	return r;
}

/* ---- append, sync ---- */

int journal_set_limits(struct journal *j, uint64_t max_bytes, uint64_t compact_bytes)
{
	if (!max_bytes)
		max_bytes = JOURNAL_DEFAULT_MAX_BYTES;
	if (!compact_bytes)
		compact_bytes = JOURNAL_DEFAULT_COMPACT_BYTES;
	if (max_bytes < JOURNAL_REC_MAX)
		return -EINVAL;
	j->max_bytes = max_bytes;
	j->compact_bytes = compact_bytes < max_bytes ? compact_bytes : max_bytes;
	return 0;
}

uint64_t journal_size(const struct journal *j)
{
	return j->file_size - j->ack_off + j->buf_len;
}

size_t journal_count(const struct journal *j)
{
	return (size_t)(j->file_live + j->buf_count);
}

/* Write the batch buffer to the file (no sync). */
static int journal_flush(struct journal *j)
{
	int r;

	if (!j->buf_len)
		return 0;
	r = pwrite_all(j->fd, j->buf, j->buf_len, j->file_size);
	if (r < 0) {
		j->poisoned = true;
		return r;
	}
	j->file_size += j->buf_len;
	j->file_live += j->buf_count;
	j->written_seq = j->buf_last_seq;
	j->buf_len = 0;
	j->buf_count = 0;
	return 0;
}

int journal_append(struct journal *j, enum journal_op op, const char *path, size_t len,
		   const char *path2, size_t len2, uint64_t *ret_seq)
{
	size_t n = JOURNAL_REC_FIXED + len + len2;
	int r;

	if (j->poisoned)
		return -EIO;
	if (!rec_args_valid(op, path, len, path2, len2))
		return -EINVAL;
	if (journal_size(j) + n > j->max_bytes)
		return -ENOSPC;
	if (j->buf_len + n > BUF_CAP) {
		r = journal_flush(j);
		if (r < 0)
			return r;
	}
	r = journal_rec_encode(j->buf + j->buf_len, BUF_CAP - j->buf_len, j->next_seq,
			       op, path, len, path2, len2);
	if (r < 0)
		return r;
	j->buf_len += (size_t)r;
	j->buf_count++;
	j->buf_last_seq = j->next_seq;
	if (ret_seq)
		*ret_seq = j->next_seq;
	j->next_seq++;
	return 0;
}

int journal_sync(struct journal *j)
{
	int r;

	if (j->poisoned)
		return -EIO;
	r = journal_flush(j);
	if (r < 0)
		return r;
	if (j->synced_size == j->file_size)
		return 0;
	if (fdatasync(j->fd) < 0) {
		j->poisoned = true;
		return -errno;
	}
	j->synced_size = j->file_size;
	j->synced_seq = j->written_seq;
	return 0;
}

/* ---- ack, compaction ---- */

/* Move ack_off past every record <= seq (all of them are synced). */
static int journal_skip_acked(struct journal *j, uint64_t seq)
{
	struct journal_rec rec;
	struct rd r;
	int n;

	n = rd_init(&r, j->fd, j->ack_off);
	if (n < 0)
		return n;
	while ((n = rd_next(&r, j->synced_size, &rec)) > 0 && rec.seq <= seq) {
		j->ack_off = rd_tell(&r);
		j->file_live--;
	}
	free(r.buf);
	return n < 0 ? n : 0;
}

int journal_ack(struct journal *j, uint64_t seq)
{
	int r;

	if (j->poisoned)
		return -EIO;
	if (seq <= j->acked_seq)
		return 0;
	if (seq > j->synced_seq)
		return -EINVAL;
	r = ack_write(j, seq);
	if (r < 0)
		return r;
	r = journal_skip_acked(j, seq);
	if (r < 0) {
		j->poisoned = true;
		return r;
	}
	j->acked_seq = seq;
	if (j->ack_off - JOURNAL_HDR_LEN > j->compact_bytes)
		return journal_compact(j);
	return 0;
}

int journal_compact(struct journal *j)
{
	uint8_t h[JOURNAL_HDR_LEN];
	uint64_t live;
	int fd = -1, r;

	r = journal_sync(j);
	if (r < 0)
		return r;
	live = j->file_size - j->ack_off;
	hdr_encode(h, j->id, j->next_seq, j->acked_seq + 1);
	r = replace_file(j, JOURNAL_TMP, JOURNAL_NAME, h, sizeof(h), j->fd, j->ack_off, live, &fd);
	if (r < 0 && fd >= 0) {
		/* Renamed, but the directory fsync failed: in doubt. */
		close(fd);
		j->poisoned = true;
	}
	if (r < 0)
		return r;
	close(j->fd);
	j->fd = fd;
	j->keep_from = j->acked_seq + 1;
	j->file_size = j->synced_size = JOURNAL_HDR_LEN + live;
	j->ack_off = JOURNAL_HDR_LEN;
	j->compactions++;
	j->gen++;
	return 0;
}

/* ---- iteration ---- */

int journal_iter_new(struct journal *j, uint64_t from_seq, struct journal_iter **ret_it)
{
	struct journal_iter *it;
	int r;

	if (j->poisoned)
		return -EIO;
	if (from_seq < j->keep_from || from_seq > j->next_seq)
		return -ERANGE;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	r = rd_init(&it->rd, j->fd, from_seq > j->acked_seq ? j->ack_off : JOURNAL_HDR_LEN);
	if (r < 0) {
		free(it);
		return r;
	}
	it->j = j;
	it->gen = j->gen;
	it->want = from_seq;
	*ret_it = it;
	return 0;
}

int journal_iter_next(struct journal_iter *it, struct journal_rec *ret_rec)
{
	struct journal *j = it->j;
	struct journal_rec rec;
	int n;

	if (j->poisoned)
		return -EIO;
	if (it->gen != j->gen) {
		rd_seek(&it->rd, j->fd, JOURNAL_HDR_LEN);
		it->gen = j->gen;
	}
	do {
		n = rd_next(&it->rd, j->synced_size, &rec);
	} while (n > 0 && rec.seq < it->want);
	if (n <= 0)
		return n;
	memcpy(it->names, rec.path, rec.path_len);
	it->names[rec.path_len] = 0;
	memcpy(it->names + rec.path_len + 1, rec.path2, rec.path2_len);
	it->names[rec.path_len + 1 + rec.path2_len] = 0;
	rec.path = it->names;
	rec.path2 = it->names + rec.path_len + 1;
	it->want = rec.seq + 1;
	*ret_rec = rec;
	return 1;
}

void journal_iter_free(struct journal_iter *it)
{
	if (!it)
		return;
	free(it->rd.buf);
	free(it);
}

/* ---- stats, close ---- */

void journal_get_stats(const struct journal *j, struct journal_stats *ret_st)
{
	ret_st->id = j->id;
	ret_st->next_seq = j->next_seq;
	ret_st->synced_seq = j->synced_seq;
	ret_st->acked_seq = j->acked_seq;
	ret_st->keep_from = j->keep_from;
	ret_st->live_count = journal_count(j);
	ret_st->live_bytes = journal_size(j);
	ret_st->file_bytes = j->file_size;
	ret_st->torn_bytes = j->torn_bytes;
	ret_st->compactions = j->compactions;
}

uint64_t journal_id(const struct journal *j)
{
	return j->id;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0 && !j->poisoned)
		(void)journal_flush(j);
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->buf);
	free(j);
}
