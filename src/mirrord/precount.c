/* precount: count a tree's paths beside a pass.  See precount.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "entry.h"
#include "index.h"
#include "precount.h"

struct precount {
	pthread_t th;
	int fd;
	struct scan_opts so;
	uint64_t n;
	int state;                 /* 0 counting, 1 done, <0 -errno (atomic) */
	bool cancel;               /* atomic */
};

static void *count_thread(void *arg)
{
	struct precount *pc = arg;
	struct scan *s = scan_new(pc->fd, &pc->so);
	struct entry e = { 0 };
	uint64_t n = 0;
	int rc = s ? 0 : -ENOMEM;

	while (s && !__atomic_load_n(&pc->cancel, __ATOMIC_RELAXED)) {
		rc = scan_next(s, &e);
		entry_clear(&e);
		if (rc == SCAN_END)
			break;
		n += rc == SCAN_ENTRY;   /* an unreadable path is skipped, as by the pass */
	}
	scan_free(s);
	pc->n = n;
	if (__atomic_load_n(&pc->cancel, __ATOMIC_RELAXED))
		rc = -ECANCELED;
	__atomic_store_n(&pc->state, rc == SCAN_END ? 1 : rc < 0 ? rc : -EIO, __ATOMIC_RELEASE);
	return NULL;
}

int precount_start(int rootfd, const struct scan_opts *so, struct precount **ret)
{
	struct precount *pc = calloc(1, sizeof(*pc));
	int rc;

	if (!pc)
		return -ENOMEM;
	pc->so = *so;
	pc->so.xattrs = false;
	pc->so.one_level = false;
	pc->so.names_only = true;      /* a count needs no stat where readdir gives the type */
	pc->so.gate = NULL;        /* another thread: the pass waits, not this */
	/* an open file description of its own: readdir offsets are not shared */
	if ((pc->fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		free(pc);
		return rc;
	}
	if ((rc = pthread_create(&pc->th, NULL, count_thread, pc)) != 0) {
		close(pc->fd);
		free(pc);
		return -rc;
	}
	*ret = pc;
	return 0;
}

int precount_result(struct precount *pc, uint64_t *ret_n)
{
	int st = __atomic_load_n(&pc->state, __ATOMIC_ACQUIRE);

	if (st == 1)
		*ret_n = pc->n;
	return st;
}

void precount_free(struct precount *pc)
{
	if (!pc)
		return;
	__atomic_store_n(&pc->cancel, true, __ATOMIC_RELAXED);
	pthread_join(pc->th, NULL);
	close(pc->fd);
	free(pc);
}

uint64_t precount_index_rows(const char *dir)
{
	struct index_meta im = { 0 };
	struct index *ix = NULL;
	char *path = NULL;

	/* the file treeidx_new() names; opened, read and closed before the
	 * live source's start-up opens it */
	if (asprintf(&path, "%s/index", dir) < 0)
		return 0;
	if (index_open(path, &ix) == 0 && index_meta(ix, &im) < 0)
		im.rows = 0;
	index_close(ix);
	free(path);
	return im.rows;
}
