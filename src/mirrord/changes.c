/* changes: serve a promoted sink's journal as a CHANGES list. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "changes.h"
#include "journal.h"
#include "localjournal.h"
#include "log.h"
#include "promote.h"
#include "proto.h"
#include "restlist.h"

#define READ_STEP (1u << 20)

struct reader {
	int fd;
	uint8_t *buf;
	size_t have, used;
	uint64_t off, count, last;
	struct wbuf batch;
};

/* Header fields, or the status of a node that cannot list. */
static int open_list(const struct conf *c, const struct conf_mirror *m, struct reader *rd,
		     struct restlist_head *h)
{
	char *dir = localjournal_dir(c, m->name), *file = NULL, *inc = NULL;
	struct stat st;
	int rc = 0;

	memset(h, 0, sizeof(*h));
	h->first = 1;
	if (!dir || asprintf(&file, "%s/journal", dir) < 0 ||
	    asprintf(&inc, "%s/%s", dir, LOCALJOURNAL_INCOMPLETE) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rd->fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		h->status = RESTLIST_NOT_PROMOTED;
		rc = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	uint64_t keep_from = 0;
	if ((rc = journal_read_header(rd->fd, &h->journal_id, &keep_from)) < 0)
		goto out;
	h->status = stat(inc, &st) == 0 || keep_from > 1 ? RESTLIST_INCOMPLETE : RESTLIST_COMPLETE;
	rd->off = JOURNAL_HDR_LEN;
out:
	free(dir);
	free(file);
	free(inc);
	return rc;
}

static int send_batch(struct stream *s, struct reader *rd)
{
	if (rd->batch.err)
		return rd->batch.err;
	proto_put_raw(stream_out(s), MSG_CHANGE, rd->batch.data, rd->batch.len);
	wbuf_reset(&rd->batch);
	return stream_flush(s);
}

/* Read more of the file; bytes added, 0 at its end, -errno. */
static ssize_t fill(struct reader *rd)
{
	memmove(rd->buf, rd->buf + rd->used, rd->have - rd->used);
	rd->have -= rd->used;
	rd->used = 0;
	ssize_t n;
	do
		n = pread(rd->fd, rd->buf + rd->have, READ_STEP - rd->have, (off_t)rd->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rd->have += (size_t)n;
	rd->off += (uint64_t)n;
	return n;
}

/* Stream every record that decodes; the first that does not (a tail
 * being written) ends the list. */
static int send_records(struct stream *s, struct reader *rd)
{
	struct journal_rec rec;
	int rc = 0;

	for (;;) {
		int k = journal_rec_decode(rd->buf + rd->used, rd->have - rd->used, &rec);
		if (k == -EAGAIN) {
			ssize_t n = fill(rd);
			if (n <= 0)
				return (int)n;
			continue;
		}
		if (k < 0)
			return 0;
		rd->used += (size_t)k;
		struct restlist_change ch = { rec.seq, (uint8_t)rec.op, rec.path, rec.path2,
					      rec.path_len, rec.path2_len };
		restlist_put_change(&rd->batch, &ch);
		rd->count++;
		rd->last = rec.seq;
		if (restlist_batch_full(&rd->batch) && (rc = send_batch(s, rd)) < 0)
			return rc;
	}
}

int changes_send(const struct conf *c, const struct conf_mirror *m, struct stream *s)
{
	struct reader rd = { .fd = -1 };
	struct restlist_head h;
	uint8_t hb[32];
	struct wbuf w;
	int rc = promote_flush(m->name);

	if (rc < 0 && rc != -ENOENT)
		log_warn("mirror %s: cannot flush the promoted journal: %s; listing what it "
			 "holds", m->name, strerror(-rc));
	wbuf_init(&rd.batch, PROTO_BATCH_MAX);
	wbuf_init(&w, sizeof(hb));
	if ((rc = open_list(c, m, &rd, &h)) < 0)
		goto out;
	restlist_put_head(&w, &h);
	proto_put_raw(stream_out(s), MSG_CHANGES, w.data, w.len);
	if (rd.fd >= 0 && !(rd.buf = malloc(READ_STEP)))
		rc = -ENOMEM;
	if (rc == 0 && rd.fd >= 0 && (rc = send_records(s, &rd)) == 0 && rd.batch.len > 0)
		rc = send_batch(s, &rd);
	if (rc == 0) {
		wbuf_reset(&w);
		wbuf_put_u64(&w, rd.count);
		wbuf_put_u64(&w, rd.last);
		proto_put_raw(stream_out(s), MSG_CHANGES_END, w.data, w.len);
		rc = stream_flush(s);
	}
	log_info("mirror %s: listed %llu changes since the promotion (journal %016llx, %s)",
		 m->name, (unsigned long long)rd.count, (unsigned long long)h.journal_id,
		 h.status == RESTLIST_COMPLETE ? "complete" : h.status == RESTLIST_INCOMPLETE ?
		 "incomplete" : "never promoted");
out:
	wbuf_free(&w);
	wbuf_free(&rd.batch);
	free(rd.buf);
	if (rd.fd >= 0)
		close(rd.fd);
	return rc;
}
