/* ownstate: this node's journal and restore position.  See ownstate.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "ownstate.h"

/* journal_open creates a journal: open only one that exists. */
static int open_existing(const char *jdir, struct journal **ret)
{
	char *file = NULL;
	struct stat st;
	int rc;

	if (asprintf(&file, "%s/journal", jdir) < 0)
		return -ENOMEM;
	rc = stat(file, &st) < 0 ? -errno : 0;
	free(file);
	return rc < 0 ? rc : journal_open(jdir, ret);
}

int ownstate_load(const char *jdir, struct changeset *cs, uint64_t *ret_records)
{
	struct journal *j = NULL;
	struct journal_iter *it = NULL;
	struct journal_stats st;
	struct journal_rec rec;
	uint64_t n = 0;
	int rc = open_existing(jdir, &j), whole = 0;

	if (rc < 0)
		return rc;
	journal_get_stats(j, &st);
	uint64_t from = st.acked_seq + 1 < st.keep_from ? st.keep_from : st.acked_seq + 1;
	if ((rc = journal_iter_new(j, from, &it)) < 0)
		goto out;
	while ((rc = journal_iter_next(it, &rec)) == 1) {
		n++;
		int k = changeset_add(cs, false, rec.op, rec.path, rec.path_len, rec.path2,
				      rec.path2_len);
		if (k < 0) {
			rc = k;
			break;
		}
		whole |= k;
	}
	if (rc == 0) {
		*ret_records = n;
		rc = whole;
	}
out:
	journal_iter_free(it);
	journal_close(j);
	return rc;
}

int ownstate_reset(const char *jdir)
{
	struct journal *j = NULL;
	struct journal_stats st;
	int rc = open_existing(jdir, &j);

	if (rc < 0)
		return rc;
	journal_get_stats(j, &st);
	if (st.synced_seq > st.acked_seq)
		rc = journal_ack(j, st.synced_seq);
	journal_close(j);
	return rc;
}

int ownstate_pos_read(const char *jdir, struct ownstate_pos *ret)
{
	char *file = NULL;
	uint64_t id, seq;
	long long sec;
	long nsec;
	FILE *f;
	int rc = 0;

	if (asprintf(&file, "%s/restore.pos", jdir) < 0)
		return -ENOMEM;
	if (!(f = fopen(file, "re"))) {
		rc = -errno;
	} else {
		if (fscanf(f, "%" SCNx64 " %" SCNu64 " %lld.%ld", &id, &seq, &sec, &nsec) != 4 ||
		    nsec < 0 || nsec > 999999999)
			rc = -EBADMSG;
		fclose(f);
	}
	free(file);
	if (rc == 0)
		*ret = (struct ownstate_pos){ id, seq, { (time_t)sec, nsec } };
	return rc;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

int ownstate_pos_write(const char *jdir, const struct ownstate_pos *pos)
{
	char *file = NULL, *tmp = NULL;
	int rc = 0, fd = -1;

	if (asprintf(&file, "%s/restore.pos", jdir) < 0 ||
	    asprintf(&tmp, "%s/restore.pos.tmp", jdir) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (mkdir(jdir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    dprintf(fd, "%016" PRIx64 " %" PRIu64 " %lld.%09ld\n", pos->id, pos->seq,
		    (long long)pos->done.tv_sec, pos->done.tv_nsec) < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, file) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(jdir);
	else if (tmp)
		(void)unlink(tmp);
out:
	free(file);
	free(tmp);
	return rc;
}
