/* sender: source side of a transfer session. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress.h"
#include "delta.h"
#include "hash.h"
#include "log.h"
#include "path.h"
#include "proto.h"
#include "scan.h"
#include "sender.h"

#define READ_STEP 262144
#define RETRY_MAX 1024
#define MODE_APPEND 2           /* slot mode of an APPEND (after NEED_*) */

enum slot_state {
	SLOT_FREE = 0,
	SLOT_SENT,          /* waiting for ACK or NEED */
	SLOT_NEEDED,        /* content requested; signature may be arriving */
	SLOT_DATA_SENT,     /* content sent, waiting for DONE */
};

struct slot {
	uint8_t state;
	uint8_t mode;
	uint8_t tries;
	bool is_file;
	bool retried;               /* a retry carries the tag on */
	uint64_t tag;
	struct entry e;             /* files only */
	struct delta_job *sig;      /* NEED_DELTA: signature being loaded */
};

struct retry {
	char *path;
	size_t len;
	uint8_t tries;
	uint64_t tag;
	uint64_t dev, ino;          /* of the file last sent, for on_unsent */
	uint32_t nlink;
	bool changed;               /* it changed here while it was read */
};

struct current {
	uint64_t id;
	struct slot *slot;
	int fd;
	struct delta_job *diff;
	uint64_t read;
	uint64_t wire;              /* content bytes put on the wire */
	bool eof;
};

struct sender {
	int rootfd;
	struct sender_opts opts;
	struct sender_feed feed;
	struct slot *slots;         /* ring of SENDER_WINDOW, index id % window */
	uint64_t base, next;        /* oldest incomplete id, next id */
	uint64_t acked;             /* highest ACK so far: nothing SENT up to it */
	uint64_t *ready;            /* FIFO of ids whose content can be sent */
	size_t ready_head, ready_n;
	struct retry *retry;        /* files to send again */
	size_t retry_n;
	struct current cur;
	bool have_cur;
	uint8_t next_tries;         /* tries of the op next_op() returned */
	uint64_t next_tag;          /* tag of a retried op next_op() dropped */
	bool listing;               /* last op sent was SOP_LISTING: no retry now */
	bool feed_done, end_sent, finished;
	struct hash *hash;
	struct compress *zstd;
	uint8_t *in, *out, *zout;
	/* the directory of the last file whose content was read, for the
	 * next one (content is asked for in the order of the entries, so
	 * runs of files share it); dropped by every RENAME or DELETE sent */
	int dirfd;
	char *dir;
	size_t dlen;
	struct sender_stats stats;
};

static struct slot *slot_of(struct sender *s, uint64_t id)
{
	return &s->slots[id % SENDER_WINDOW];
}

struct sender *sender_new(int rootfd, const struct sender_opts *opts,
			  const struct sender_feed *feed)
{
	struct sender *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->rootfd = rootfd;
	s->dirfd = -1;
	s->opts = *opts;
	s->feed = *feed;
	s->base = s->next = 1;
	s->slots = calloc(SENDER_WINDOW, sizeof(*s->slots));
	s->ready = calloc(SENDER_WINDOW, sizeof(*s->ready));
	s->retry = calloc(RETRY_MAX, sizeof(*s->retry));
	s->hash = hash_new();
	s->zstd = compress_new(opts->compress_level > 0 ? opts->compress_level : 1);
	s->in = malloc(READ_STEP);
	s->out = malloc(PROTO_CHUNK);
	s->zout = malloc(compress_bound(PROTO_CHUNK));
	if (!s->slots || !s->ready || !s->retry || !s->hash || !s->zstd || !s->in ||
	    !s->out || !s->zout) {
		sender_free(s);
		return NULL;
	}
	return s;
}

static void slot_clear(struct slot *sl)
{
	entry_clear(&sl->e);
	delta_job_free(sl->sig);
	memset(sl, 0, sizeof(*sl));
}

static void current_clear(struct sender *s)
{
	if (!s->have_cur)
		return;
	if (s->cur.fd >= 0)
		close(s->cur.fd);
	delta_job_free(s->cur.diff);
	memset(&s->cur, 0, sizeof(s->cur));
	s->have_cur = false;
}

static void dir_drop(struct sender *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	s->dirfd = -1;
	s->dir = NULL;
}

void sender_free(struct sender *s)
{
	if (!s)
		return;
	current_clear(s);
	dir_drop(s);
	for (size_t i = 0; s->slots && i < SENDER_WINDOW; i++)
		slot_clear(&s->slots[i]);
	for (size_t i = 0; s->retry && i < s->retry_n; i++)
		free(s->retry[i].path);
	free(s->slots);
	free(s->ready);
	free(s->retry);
	hash_free(s->hash);
	compress_free(s->zstd);
	free(s->in);
	free(s->out);
	free(s->zout);
	free(s);
}

bool sender_finished(const struct sender *s)
{
	return s->finished;
}

uint64_t sender_in_flight(const struct sender *s)
{
	return s->next - s->base + s->retry_n;
}

const struct sender_stats *sender_stats(const struct sender *s)
{
	return &s->stats;
}

/* ---- completion bookkeeping ---- */

static void advance_base(struct sender *s)
{
	while (s->base < s->next && slot_of(s, s->base)->state == SLOT_FREE)
		s->base++;
}

static void settle(struct sender *s, uint64_t tag)
{
	if (s->opts.on_settled)
		s->opts.on_settled(s->opts.ctx, tag);
}

static void unsent(struct sender *s, uint64_t tag, const struct entry *e, int err)
{
	if (s->opts.on_unsent)
		s->opts.on_unsent(s->opts.ctx, tag, e, err);
}

static void complete(struct sender *s, uint64_t id)
{
	struct slot *sl = slot_of(s, id);
	bool retried = sl->retried;
	uint64_t tag = sl->tag;

	slot_clear(sl);
	if (s->opts.on_complete)
		s->opts.on_complete(s->opts.ctx, id);
	if (!retried)
		settle(s, tag);
}

static void file_answered(struct sender *s, const struct slot *sl, int status, bool written)
{
	if (s->opts.on_file)
		s->opts.on_file(s->opts.ctx, &sl->e, status, written);
}

enum retry_why {
	RETRY_CHANGED,          /* the file changed here while it was read */
	RETRY_SINK,             /* the sink's copy or directory was not as sent */
	RETRY_SINK_REFUSED,     /* the sink could not write it (full, EPERM) */
};

/* Send sl's file again, or give it up after SENDER_TRIES tries.  A try
 * the sink refused (DONE) was already reported with on_unsent, so a
 * give-up is left to the caller's handling of that (bounded rescans in the
 * live source) instead of a new record at once. */
static void retry_push(struct sender *s, struct slot *sl, enum retry_why why)
{
	bool sink = why == RETRY_SINK_REFUSED;

	if (sl->tries + 1 >= SENDER_TRIES || s->retry_n == RETRY_MAX) {
		s->stats.errors++;
		log_err("mirror %s: giving up on '%s' after %u tries%s", s->opts.mirror,
			sl->e.path, sl->tries + 1, !s->opts.on_unsent ? "" : sink ?
			", the sink's failures are retried later" :
			", the feed sends it again later");
		if (!sink)
			unsent(s, sl->tag, &sl->e, -ETIMEDOUT);
		return;
	}
	char *p = strndup(sl->e.path, sl->e.path_len);
	if (!p) {
		s->stats.errors++;
		return;
	}
	s->retry[s->retry_n++] = (struct retry){ p, sl->e.path_len, (uint8_t)(sl->tries + 1),
						 sl->tag, sl->e.dev, sl->e.ino, sl->e.nlink,
						 why == RETRY_CHANGED };
	sl->retried = true;
	s->stats.retries++;
}

static bool id_in_flight(const struct sender *s, uint64_t id)
{
	return id >= s->base && id < s->next;
}

static int on_ack(struct sender *s, const uint8_t *p, size_t n)
{
	uint64_t id;

	if (proto_get_id(p, n, &id) < 0 || id >= s->next)
		return -EBADMSG;
	/* ids up to an earlier ACK were answered then (files waiting for
	 * DONE keep base back: do not walk them again for every ACK) */
	uint64_t from = s->acked >= s->base ? s->acked + 1 : s->base;
	if (id > s->acked)
		s->acked = id;
	for (uint64_t i = from; i <= id; i++) {
		struct slot *sl = slot_of(s, i);
		if (sl->state != SLOT_SENT)
			continue;
		if (sl->is_file)
			file_answered(s, sl, 0, false);    /* the sink had this content */
		complete(s, i);
	}
	advance_base(s);
	return 0;
}

static int on_need(struct sender *s, const uint8_t *p, size_t n)
{
	uint64_t id;
	uint8_t mode;
	struct slot *sl;

	if (proto_get_need(p, n, &id, &mode) < 0 || !id_in_flight(s, id))
		return -EBADMSG;
	sl = slot_of(s, id);
	if (sl->state != SLOT_SENT || !sl->is_file)
		return -EPROTO;
	sl->state = SLOT_NEEDED;
	sl->mode = mode;
	if (mode == NEED_DELTA) {
		sl->sig = delta_load_new();
		return sl->sig ? 0 : -ENOMEM;
	}
	s->ready[(s->ready_head + s->ready_n++) % SENDER_WINDOW] = id;
	return 0;
}

static struct slot *sig_slot(struct sender *s, uint64_t id)
{
	if (!id_in_flight(s, id))
		return NULL;
	struct slot *sl = slot_of(s, id);
	return sl->state == SLOT_NEEDED && sl->sig ? sl : NULL;
}

static int on_sig(struct sender *s, const uint8_t *p, size_t n)
{
	const uint8_t *data;
	size_t len, used, produced;
	uint64_t id;
	struct slot *sl;

	if (proto_get_chunk(p, n, &id, &data, &len) < 0 || !(sl = sig_slot(s, id)))
		return -EBADMSG;
	while (len > 0) {
		int rc = delta_step(sl->sig, data, len, false, s->out, PROTO_CHUNK, &used,
				    &produced);
		if (rc < 0)
			return rc;
		if (used == 0)
			return -EBADMSG;
		data += used;
		len -= used;
	}
	return 0;
}

static int on_sig_end(struct sender *s, const uint8_t *p, size_t n)
{
	size_t used, produced;
	uint64_t id;
	struct slot *sl;

	if (proto_get_id(p, n, &id) < 0 || !(sl = sig_slot(s, id)))
		return -EBADMSG;
	int rc = delta_step(sl->sig, NULL, 0, true, s->out, PROTO_CHUNK, &used, &produced);
	if (rc != 1)
		return rc < 0 ? rc : -EBADMSG;
	s->ready[(s->ready_head + s->ready_n++) % SENDER_WINDOW] = id;
	return 0;
}

static int on_done(struct sender *s, const uint8_t *p, size_t n)
{
	uint64_t id;
	int32_t status;
	struct slot *sl;

	if (proto_get_done(p, n, &id, &status) < 0 || !id_in_flight(s, id))
		return -EBADMSG;
	sl = slot_of(s, id);
	if (sl->state != SLOT_DATA_SENT)
		return -EPROTO;
	file_answered(s, sl, status, true);
	if (sl->mode == MODE_APPEND && status == -ESTALE) {
		log_info("mirror %s: the sink's copy of '%s' does not end where the append "
			 "starts, sending the file", s->opts.mirror, sl->e.path);
		s->stats.appends_refused++;
		retry_push(s, sl, RETRY_SINK);
	} else if (status != 0 && status != -EAGAIN) {   /* -EAGAIN: we aborted it */
		log_warn("mirror %s: sink could not apply '%s': %s, sending it again",
			 s->opts.mirror, sl->e.path, strerror(-status));
		/* the sink lacks it: a rename of its directory sent meanwhile
		 * moved what the retry at this name no longer reaches */
		unsent(s, sl->tag, &sl->e, status);
		/* a name missing there is made by its directory's listing, which
		 * the caller asks for; anything else the sink refuses (full,
		 * EPERM) is not sent again at once when given up */
		retry_push(s, sl, status != -ENOENT && status != -ENOTDIR ? RETRY_SINK_REFUSED :
				  RETRY_SINK);
	}
	complete(s, id);
	advance_base(s);
	return 0;
}

/* FAILED: the sink could not apply an operation on path (not file
 * content, which DONE reports). */
static int on_failed(struct sender *s, const uint8_t *p, size_t n)
{
	int32_t status;
	char *path;
	size_t len;

	if (proto_get_failed(p, n, &status, &path, &len) < 0 || status >= 0)
		return -EBADMSG;
	s->stats.errors++;
	log_warn("mirror %s: the sink could not apply a change to '%s': %s", s->opts.mirror,
		 path, strerror(-status));
	if (s->opts.on_sink_failed)
		s->opts.on_sink_failed(s->opts.ctx, path, len, status);
	free(path);
	return 0;
}

static int on_end_ok(struct sender *s, const uint8_t *p, size_t n)
{
	struct proto_end_ok m;

	if (proto_get_end_ok(p, n, &m) < 0 || !s->end_sent)
		return -EBADMSG;
	s->finished = true;
	return 0;
}

static int on_error(struct sender *s, const uint8_t *p, size_t n)
{
	uint32_t code;
	const uint8_t *text;
	size_t len;

	if (proto_get_error(p, n, &code, &text, &len) < 0)
		return -EBADMSG;
	log_err("mirror %s: sink refused the session: %.*s", s->opts.mirror, (int)len,
		(const char *)text);
	return code > 0 && code < 4096 ? -(int)code : -EPROTO;
}

int sender_frame(struct sender *s, const struct wire_hdr *h, const uint8_t *p)
{
	switch (h->type) {
	case MSG_ACK: return on_ack(s, p, h->len);
	case MSG_NEED: return on_need(s, p, h->len);
	case MSG_SIG: return on_sig(s, p, h->len);
	case MSG_SIG_END: return on_sig_end(s, p, h->len);
	case MSG_DONE: return on_done(s, p, h->len);
	case MSG_END_OK: return on_end_ok(s, p, h->len);
	case MSG_FAILED: return on_failed(s, p, h->len);
	case MSG_ERROR: return on_error(s, p, h->len);
	case MSG_PONG: return 0;
	default: return -EPROTO;
	}
}

/* ---- content ---- */

static bool same_file(const struct entry *e, const struct stat *st)
{
	return S_ISREG(st->st_mode) && (uint64_t)st->st_size == e->size &&
	       st->st_mtim.tv_sec == e->mtime_sec &&
	       (uint32_t)st->st_mtim.tv_nsec == e->mtime_nsec;
}

/* Open the file of the slot and check it is still what the ENTRY said.
 * Reading a file to mirror it is no access by a user: O_NOATIME keeps its
 * atime (and spares a write of its inode per file sent); a file we may not
 * open so (another owner, no CAP_FOWNER) is opened the normal way. */
static int open_in_dir(struct sender *s, const struct entry *e, int flags)
{
	size_t dlen = path_dirlen(e->path, e->path_len);
	const char *name = e->path + dlen + (dlen > 0);

	if (e->path_len == 0 || path_check(e->path, e->path_len) < 0 ||
	    e->path[e->path_len] != '\0')
		return -EINVAL;
	if (s->dirfd < 0 || s->dlen != dlen || memcmp(s->dir, e->path, dlen) != 0) {
		dir_drop(s);
		if (!(s->dir = strndup(e->path, dlen)))
			return -ENOMEM;
		int dfd = path_open_dir(s->rootfd, s->dir, dlen);
		if (dfd < 0) {
			dir_drop(s);
			return dfd;
		}
		s->dirfd = dfd;
		s->dlen = dlen;
	}
	int fd = openat(s->dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_checked(struct sender *s, const struct entry *e)
{
	struct stat st;
	int fd = open_in_dir(s, e, O_RDONLY | O_NONBLOCK | O_NOATIME);

	if (fd == -EPERM)
		fd = open_in_dir(s, e, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !same_file(e, &st)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static void put_data(struct sender *s, struct wbuf *out, const uint8_t *p, size_t n)
{
	long z = compress_chunk(s->zstd, p, n, s->zout, compress_bound(PROTO_CHUNK));

	if (z > 0)
		proto_put_chunk(out, MSG_DATA, DATA_ZSTD, s->cur.id, s->zout, (size_t)z);
	else
		proto_put_chunk(out, MSG_DATA, 0, s->cur.id, p, n);
	s->stats.data_bytes_sent += z > 0 ? (uint64_t)z : n;
	s->cur.wire += z > 0 ? (uint64_t)z : n;
}

static void finish_current(struct sender *s, struct wbuf *out, int err)
{
	struct slot *sl = s->cur.slot;
	struct proto_file_end m = { .id = s->cur.id, .size = sl->e.size };
	struct stat st;

	if (!err && (fstat(s->cur.fd, &st) < 0 || !same_file(&sl->e, &st) ||
		     s->cur.read != sl->e.size))
		err = -ESTALE;
	m.status = err ? FILE_ABORTED : FILE_OK;
	hash_final(s->hash, m.digest);
	proto_put_file_end(out, &m);
	if (err == -ESTALE || err == -ENOENT || err == -ENOTDIR)
		unsent(s, sl->tag, &sl->e, err);
	if (err == -ESTALE) {
		log_info("mirror %s: '%s' changed while being sent, sending it again",
			 s->opts.mirror, sl->e.path);
		retry_push(s, sl, RETRY_CHANGED);
	} else if (err && err != -ENOENT && err != -ENOTDIR) {
		log_err("mirror %s: cannot read '%s': %s", s->opts.mirror, sl->e.path,
			strerror(-err));
		s->stats.errors++;
		if (s->opts.on_read_error)
			s->opts.on_read_error(s->opts.ctx, &sl->e, err);
	}
	if (!err && sl->mode == NEED_DELTA) {
		s->stats.files_delta++;
		if (sl->e.size > s->cur.wire)
			s->stats.delta_saved += sl->e.size - s->cur.wire;
	} else if (!err) {
		s->stats.files_whole++;
	}
	sl->state = SLOT_DATA_SENT;
	current_clear(s);
}

static int start_current(struct sender *s, struct wbuf *out)
{
	uint64_t id = s->ready[s->ready_head];
	struct slot *sl = slot_of(s, id);

	s->ready_head = (s->ready_head + 1) % SENDER_WINDOW;
	s->ready_n--;
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur.id = id;
	s->cur.slot = sl;
	s->cur.fd = -1;
	s->have_cur = true;
	hash_reset(s->hash);
	if (sl->mode == NEED_DELTA) {
		s->cur.diff = delta_diff_new(sl->sig);
		delta_job_free(sl->sig);
		sl->sig = NULL;
		if (!s->cur.diff) {
			finish_current(s, out, -ENOMEM);
			return 0;
		}
	}
	s->cur.fd = open_checked(s, &sl->e);
	if (s->cur.fd < 0)
		finish_current(s, out, s->cur.fd);
	return 0;
}

/* Read the next piece of the current file; 0, or -errno. */
static int read_more(struct sender *s, size_t *ret_n)
{
	ssize_t n;

	do
		n = pread(s->cur.fd, s->in, READ_STEP, (off_t)s->cur.read);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*ret_n = (size_t)n;
	s->cur.read += (uint64_t)n;
	s->cur.eof = n == 0;
	s->stats.bytes_read += (uint64_t)n;
	hash_update(s->hash, s->in, (size_t)n);
	if (s->cur.read > s->cur.slot->e.size)
		return -ESTALE;       /* grew while being read */
	return 0;
}

static int step_whole(struct sender *s, struct wbuf *out)
{
	size_t n;
	int rc = read_more(s, &n);

	if (rc < 0 || n == 0) {
		finish_current(s, out, rc);
		return 0;
	}
	put_data(s, out, s->in, n);
	/* all announced bytes read: no read for the end of file, growth shows
	 * in finish_current's fstat as well */
	if (s->cur.read == s->cur.slot->e.size)
		finish_current(s, out, 0);
	return 0;
}

static int step_delta(struct sender *s, struct wbuf *out)
{
	size_t n = 0, off = 0, used, produced;
	int rc = read_more(s, &n);

	if (rc < 0) {
		finish_current(s, out, rc);
		return 0;
	}
	do {
		rc = delta_step(s->cur.diff, s->in + off, n - off, s->cur.eof, s->out,
				PROTO_CHUNK, &used, &produced);
		if (rc < 0) {
			finish_current(s, out, rc);
			return 0;
		}
		off += used;
		if (produced > 0)
			put_data(s, out, s->out, produced);
	} while (rc == 0 && (off < n || (s->cur.eof && produced > 0)));
	if (rc == 1)
		finish_current(s, out, 0);
	return 0;
}

/* ---- appends ---- */

static void finish_append(struct sender *s, struct wbuf *out, int err)
{
	struct slot *sl = s->cur.slot;
	struct proto_file_end m = { .id = s->cur.id, .size = sl->e.size };

	m.status = err ? FILE_ABORTED : FILE_OK;
	hash_final(s->hash, m.digest);
	proto_put_file_end(out, &m);
	if (err)      /* shrank or vanished: the close sends it whole */
		log_info("mirror %s: cannot read the appended bytes of '%s': %s, waiting",
			 s->opts.mirror, sl->e.path, strerror(-err));
	else
		s->stats.appends++;
	sl->state = SLOT_DATA_SENT;
	current_clear(s);
}

/* The next piece of [base, e.size); only these bytes are read, so a file
 * that keeps growing does not disturb it. */
static int step_append(struct sender *s, struct wbuf *out)
{
	uint64_t end = s->cur.slot->e.size, want = end - s->cur.read;
	ssize_t n;

	if (want == 0) {
		finish_append(s, out, 0);
		return 0;
	}
	do
		n = pread(s->cur.fd, s->in, want < READ_STEP ? want : READ_STEP,
			  (off_t)s->cur.read);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		finish_append(s, out, n < 0 ? -errno : -ESTALE);
		return 0;
	}
	s->cur.read += (uint64_t)n;
	s->stats.bytes_read += (uint64_t)n;
	hash_update(s->hash, s->in, (size_t)n);
	put_data(s, out, s->in, (size_t)n);
	return 0;
}

/* Open op's file and digest the tail before base: the fd, or -errno
 * (-ESTALE: another inode now, or shorter than the op says). */
static int append_prepare(struct sender *s, const struct sender_op *op, struct proto_append *m)
{
	const char *name;
	struct stat st;
	ssize_t n;
	int dfd = path_open_parent(s->rootfd, op->e.path, op->e.path_len, &name), fd;

	if (dfd < 0)
		return dfd;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	fd = fd < 0 ? -errno : fd;
	close(dfd);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != op->e.ino ||
	    (uint64_t)st.st_size < op->e.size || op->base >= op->e.size) {
		close(fd);
		return -ESTALE;
	}
	m->tail_len = op->base < PROTO_TAIL_MAX ? (uint32_t)op->base : PROTO_TAIL_MAX;
	do
		n = pread(fd, s->in, m->tail_len, (off_t)(op->base - m->tail_len));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)m->tail_len) {
		close(fd);
		return n < 0 ? -errno : -ESTALE;
	}
	hash_buf(s->in, m->tail_len, m->tail);
	return fd;
}

/* Send APPEND and make its content current at once (it is never
 * interleaved).  0, or -ESTALE & co. when it must go as an ENTRY. */
static int append_start(struct sender *s, struct wbuf *out, uint64_t id, struct sender_op *op)
{
	struct proto_append m = { .id = id, .path = op->e.path, .path_len = op->e.path_len,
				  .base = op->base, .length = op->e.size - op->base };
	int fd = append_prepare(s, op, &m);

	if (fd < 0)
		return fd;
	proto_put_append(out, &m);
	struct slot *sl = slot_of(s, id);
	sl->mode = MODE_APPEND;
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur.id = id;
	s->cur.slot = sl;
	s->cur.fd = fd;
	s->cur.read = op->base;
	s->have_cur = true;
	hash_reset(s->hash);
	return 0;
}

/* The file is no longer what the APPEND op says (shrank, replaced, gone):
 * send it as an ENTRY of its state now. */
static void append_fallback(struct sender *s, struct sender_op *op)
{
	struct entry now = { 0 };

	op->kind = SOP_ENTRY;
	if (scan_stat(s->rootfd, op->e.path, op->e.path_len, op->e.xattrs != NULL, &now) == 0) {
		entry_clear(&op->e);
		op->e = now;
	} else {
		entry_clear(&now);      /* gone: the stale entry fails at its content */
	}
}

/* ---- operations ---- */

/* A file that changed while it was read and now has other names goes back
 * to the feed (on_unsent, -ESTALE, e its state now) instead of alone: the
 * sink puts new content in place under one name, which parts that name
 * from the others there (and drops a hardlink to it the sink still holds),
 * so the feed sends the file again with all its names.  True when handed
 * back (op->e cleared). */
static bool retry_hand_back(struct sender *s, uint64_t tag, struct sender_op *op)
{
	if (!s->opts.on_unsent || op->e.type != ENT_FILE || op->e.nlink < 2)
		return false;
	log_info("mirror %s: '%s' has other names now, sending it again with them",
		 s->opts.mirror, op->e.path);
	unsent(s, tag, &op->e, -ESTALE);
	entry_clear(&op->e);
	return true;
}

/* A retry goes out between operations of the feed, but never inside a
 * directory's listing: the sink notes the names of one directory at a
 * time, and an entry elsewhere would cut the list, so that the DIR_DONE
 * pruned the names listed before it. */
static int next_op(struct sender *s, struct sender_op *op)
{
	if (s->retry_n > 0 && !s->listing) {
		struct retry r = s->retry[--s->retry_n];
		int rc = scan_stat(s->rootfd, r.path, r.len, true, &op->e);
		s->next_tries = r.tries;
		s->next_tag = r.tag;
		if (rc == -ENOENT || rc == -ENOTDIR)
			unsent(s, r.tag, &(struct entry){ .path = r.path, .path_len = r.len,
				.type = ENT_FILE, .dev = r.dev, .ino = r.ino, .nlink = r.nlink }, rc);
		free(r.path);
		if (rc < 0)
			return rc == -ENOENT || rc == -ENOTDIR ? 3 : rc;   /* gone: nothing to resend */
		if (r.changed && retry_hand_back(s, r.tag, op))
			return 3;       /* the feed sends it: settled here */
		op->kind = SOP_ENTRY;
		op->tag = r.tag;
		return 1;
	}
	s->next_tries = 0;
	if (s->feed_done)
		return 2;
	int rc = s->feed.next(s->feed.ctx, op);
	if (rc == 2)
		s->feed_done = true;
	if (rc == 1 || rc == 2)
		s->listing = rc == 1 && op->kind == SOP_ENTRY && (op->flags & SOP_LISTING);
	return rc;
}

static void put_op(struct wbuf *out, uint64_t id, const struct sender_op *op)
{
	const struct entry *e = &op->e;

	switch (op->kind) {
	case SOP_ENTRY:
		proto_put_entry_flags(out, id, (op->flags & SOP_LISTED ? ENTRY_LISTED : 0) |
					       (op->flags & SOP_FORCE ? ENTRY_FORCE : 0), e);
		break;
	case SOP_DIR_DONE: proto_put_path(out, MSG_DIR_DONE, id, e->path, e->path_len); break;
	case SOP_DELETE: proto_put_path(out, MSG_DELETE, id, e->path, e->path_len); break;
	case SOP_RENAME: proto_put_rename(out, id, e->path, e->path_len, e->link, e->link_len); break;
	}
}

/* An operation that says a name moved or went: the directory kept for
 * reading content may be one of them. */
static void dir_note_op(struct sender *s, const struct sender_op *op)
{
	if (op->kind == SOP_DELETE || op->kind == SOP_RENAME)
		dir_drop(s);
}

/* Send one operation; 1 if sent, 0 if none available, <0 on error. */
static int send_op(struct sender *s, struct wbuf *out)
{
	struct sender_op op = { 0 };
	int rc;

	while ((rc = next_op(s, &op)) == 3)
		settle(s, s->next_tag);        /* a retried file that is gone */
	if (rc != 1)
		return rc == 2 ? 0 : rc;
	uint64_t id = s->next++;
	struct slot *sl = slot_of(s, id);
	sl->state = SLOT_SENT;
	sl->tries = s->next_tries;
	sl->tag = op.tag;
	if (op.kind == SOP_APPEND && append_start(s, out, id, &op) == 0) {
		sl->state = SLOT_NEEDED;
		sl->is_file = true;
		sl->e = op.e;
		s->stats.ops++;
		return 1;
	}
	if (op.kind == SOP_APPEND)
		append_fallback(s, &op);
	dir_note_op(s, &op);
	put_op(out, id, &op);
	sl->is_file = op.kind == SOP_ENTRY && op.e.type == ENT_FILE;
	if (sl->is_file)
		sl->e = op.e;           /* keep: content may be needed */
	else
		entry_clear(&op.e);
	s->stats.ops++;
	return 1;
}

int sender_produce(struct sender *s, struct wbuf *out, size_t high)
{
	int rc;

	while (out->len < high && !out->err) {
		if (s->have_cur) {
			uint8_t mode = s->cur.slot->mode;
			rc = mode == MODE_APPEND ? step_append(s, out) :
			     mode == NEED_DELTA ? step_delta(s, out) : step_whole(s, out);
		} else if (s->ready_n > 0) {
			rc = start_current(s, out);
		} else if (s->next - s->base < SENDER_WINDOW &&
			   (rc = send_op(s, out)) != 0) {
			/* sent one, or failed */
		} else {
			if (s->feed_done && s->retry_n == 0 && s->base == s->next &&
			    !s->end_sent) {
				uint64_t id = s->next++;
				slot_of(s, id)->state = SLOT_SENT;
				proto_put_id(out, MSG_END, id);
				s->end_sent = true;
			}
			break;
		}
		if (rc < 0)
			return rc;
	}
	if (out->err)
		return out->err;
	return out->len >= high;
}

bool sender_between_files(const struct sender *s)
{
	return !s->have_cur;
}

int sender_scan_feed_next(void *ctx, struct sender_op *op)
{
	struct sender_scan_feed *f = ctx;

	for (;;) {
		memset(op, 0, sizeof(*op));
		int rc = scan_next(f->scan, &op->e);
		if (rc == SCAN_ENTRY || rc == SCAN_DIR_DONE) {
			op->kind = rc == SCAN_ENTRY ? SOP_ENTRY : SOP_DIR_DONE;
			if (rc == SCAN_ENTRY)
				op->flags = op->e.type == ENT_DIR ? SOP_LISTED | SOP_LISTING :
					    SOP_LISTING;
			return 1;
		}
		if (rc == SCAN_END) {
			entry_clear(&op->e);
			return 2;
		}
		log_err("mirror %s: cannot read '%s': %s", f->mirror,
			op->e.path ? op->e.path : "?", strerror(-rc));
		f->errors++;
		entry_clear(&op->e);
	}
}
