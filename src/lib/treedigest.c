/* treedigest: content digests of a whole tree.  See treedigest.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "path.h"
#include "scan.h"
#include "treedigest.h"

static int file_digest(int rootfd, const struct entry *e, uint8_t out[HASH_LEN])
{
	const char *name;
	int dfd = path_open_parent(rootfd, e->path, e->path_len, &name);

	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int rc = fd < 0 ? -errno : hash_fd(fd, out);
	if (fd >= 0)
		close(fd);
	close(dfd);
	return rc;
}

/* Fill d from e; 0, or -errno for a file that could not be read. */
static int digest_of(int rootfd, const struct entry *e, struct restlist_digest *d)
{
	memset(d, 0, sizeof(*d));
	d->type = e->type == ENT_HARDLINK ? ENT_FILE : e->type;
	d->path = e->path;
	d->len = e->path_len;
	if (e->type == ENT_SYMLINK) {
		d->size = e->link_len;
		hash_buf(e->link, e->link_len, d->digest);
	} else if (d->type == ENT_FILE) {
		d->size = e->size;
		if (e->type == ENT_HARDLINK) {
			struct entry st = { 0 };
			int rc = scan_stat(rootfd, e->path, e->path_len, false, &st);
			d->size = rc == 0 ? st.size : 0;
			entry_clear(&st);
			if (rc < 0)
				return rc;
		}
		return file_digest(rootfd, e, d->digest);
	}
	return 0;
}

int treedigest_walk(int rootfd, const struct exclude *ex, bool one_fs, treedigest_fn *fn,
		    void *ctx, uint64_t *ret_errors)
{
	struct scan_opts so = { .one_fs = one_fs, .ex = ex };
	struct scan *s = scan_new(rootfd, &so);
	struct entry e = { 0 };
	struct restlist_digest d;
	uint64_t errors = 0;
	int k, rc = 0;

	if (!s)
		return -ENOMEM;
	while (rc == 0 && (k = scan_next(s, &e)) != SCAN_END) {
		if (k == SCAN_ENTRY) {
			int r = digest_of(rootfd, &e, &d);
			if (r == 0)
				rc = fn(ctx, &d);
			else if (r != -ENOENT)
				errors++;
		} else if (k < 0) {
			errors++;
		}
		entry_clear(&e);
	}
	entry_clear(&e);
	scan_free(s);
	*ret_errors = errors;
	return rc;
}
