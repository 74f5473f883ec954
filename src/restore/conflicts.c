/* conflicts: conflict rules and keeping the master's versions aside. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conflicts.h"
#include "hash.h"
#include "journal.h"
#include "nodecopy.h"
#include "path.h"

#define COPY_STEP (1u << 20)
#define MAX_CONFLICTS 10000000u   /* journal paths and listed conflicts */

struct pset {                      /* sorted once, then searched */
	char **v;
	size_t n, cap;
	bool sorted;
};

struct kept {
	char *path;
	char *where;               /* where the version is, or why it is not kept */
	char *dest;                /* kept in this run's folder here (else NULL) */
};

struct conflicts {
	int rootfd;
	struct conflicts_opts o;
	char *run;                 /* <base>/<stamp> */
	struct pset exact, subtree;
	char **runs;               /* earlier run folders under base, for dedup */
	size_t n_runs;
	bool runs_read;
	struct kept *k;
	size_t n_k, cap_k, now;
};

static int pset_add(struct pset *s, const char *p, size_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		if (cap > MAX_CONFLICTS)
			return -E2BIG;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strndup(p, len)))
		return -ENOMEM;
	s->n++;
	s->sorted = false;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool pset_has(struct pset *s, const char *p)
{
	if (s->n == 0)
		return false;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
		s->sorted = true;
	}
	return bsearch(&p, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

static void pset_free(struct pset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

struct conflicts *conflicts_new(int rootfd, const struct conflicts_opts *o)
{
	struct conflicts *cf = calloc(1, sizeof(*cf));

	if (!cf)
		return NULL;
	cf->rootfd = rootfd;
	cf->o = *o;
	if (asprintf(&cf->run, "%s/%s", o->base, o->stamp) < 0) {
		free(cf);
		return NULL;
	}
	return cf;
}

void conflicts_free(struct conflicts *cf)
{
	if (!cf)
		return;
	pset_free(&cf->exact);
	pset_free(&cf->subtree);
	for (size_t i = 0; i < cf->n_runs; i++)
		free(cf->runs[i]);
	free(cf->runs);
	for (size_t i = 0; i < cf->n_k; i++) {
		free(cf->k[i].path);
		free(cf->k[i].where);
		free(cf->k[i].dest);
	}
	free(cf->k);
	free(cf->run);
	free(cf);
}

int conflicts_add(struct conflicts *cf, const char *path, size_t len, bool subtree)
{
	return pset_add(subtree ? &cf->subtree : &cf->exact, path, len);
}

static bool pset_any_under(const struct pset *s, const char *p, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->v[i], p, len) == 0 && (s->v[i][len] == '\0' || s->v[i][len] == '/'))
			return true;
	return false;
}

int conflicts_renamed(struct conflicts *cf, const char *from, size_t flen, const char *to,
		      size_t tlen)
{
	if (!pset_any_under(&cf->exact, from, flen) && !pset_any_under(&cf->subtree, from, flen))
		return 0;
	return conflicts_add(cf, to, tlen, true);
}

int conflicts_load_journal(struct conflicts *cf, const char *jdir, uint64_t *ret_records)
{
	struct journal *j = NULL;
	struct journal_iter *it = NULL;
	struct journal_stats st;
	struct journal_rec rec;
	struct stat sb;
	char *file = NULL;
	uint64_t n = 0;
	int rc;

	if (asprintf(&file, "%s/journal", jdir) < 0)
		return -ENOMEM;
	rc = stat(file, &sb) < 0 ? -errno : 0;   /* journal_open would create one */
	free(file);
	if (rc < 0)
		return rc;
	if ((rc = journal_open(jdir, &j)) < 0)
		return rc;
	journal_get_stats(j, &st);
	uint64_t from = st.acked_seq + 1 < st.keep_from ? st.keep_from : st.acked_seq + 1;
	if ((rc = journal_iter_new(j, from, &it)) < 0)
		goto out;
	while ((rc = journal_iter_next(it, &rec)) == 1) {
		n++;
		switch (rec.op) {
		case JOURNAL_UPSERT:
		case JOURNAL_CREATE:
		case JOURNAL_REPAIR:
		case JOURNAL_LISTDIR:
			rc = conflicts_add(cf, rec.path, rec.path_len, false);
			break;
		case JOURNAL_RENAME:     /* what moved to path2 may be a whole tree */
			rc = conflicts_add(cf, rec.path2, rec.path2_len, true);
			break;
		case JOURNAL_RESCAN:
			rc = conflicts_add(cf, rec.path, rec.path_len, true);
			break;
		default:                 /* a delete on the master leaves nothing to keep */
			rc = 0;
			break;
		}
		if (rc < 0)
			goto out;
	}
	if (rc == 0)
		*ret_records = n;
out:
	journal_iter_free(it);
	journal_close(j);
	return rc;
}

/* Is path (a file or symlink of the master, st) a conflict?  want is the
 * slave's entry, NULL when the slave has none. */
static bool newer_than(const struct stat *st, const struct entry *want)
{
	return st->st_mtim.tv_sec > want->mtime_sec ||
	       (st->st_mtim.tv_sec == want->mtime_sec &&
		(uint32_t)st->st_mtim.tv_nsec > want->mtime_nsec);
}

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

static bool is_conflict(struct conflicts *cf, const char *path, size_t len,
			const struct entry *want, const struct stat *st)
{
	if (cf->o.by_mtime)
		return !want || newer_than(st, want);
	/* Changed on this node after the slave's last acknowledgement, even
	 * when the daemon died before it could journal it (a write in its
	 * last moments).  ctime, which no one can set back. */
	if (cf->o.changed_after.tv_sec != 0 && ts_after(&st->st_ctim, &cf->o.changed_after) &&
	    (cf->o.run_start.tv_sec == 0 || !ts_after(&st->st_ctim, &cf->o.run_start)))
		return true;
	if (pset_has(&cf->exact, path))
		return true;
	if (cf->subtree.n == 0)
		return false;
	char *p = strndup(path, len);
	bool hit = false;
	if (!p)
		return true;             /* in doubt, keep */
	for (size_t i = len + 1; i-- > 0 && !hit;) {
		if (i == len || p[i] == '/') {
			p[i] = '\0';
			hit = pset_has(&cf->subtree, p);
		}
	}
	if (!hit)
		hit = pset_has(&cf->subtree, "");
	free(p);
	return hit;
}

static int record(struct conflicts *cf, const char *path, const char *where, const char *dest)
{
	if (cf->n_k == cf->cap_k) {
		size_t cap = cf->cap_k ? cf->cap_k * 2 : 64;
		if (cap > MAX_CONFLICTS)
			return -E2BIG;
		struct kept *v = realloc(cf->k, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		cf->k = v;
		cf->cap_k = cap;
	}
	struct kept *k = &cf->k[cf->n_k];
	k->path = strdup(path);
	k->where = strdup(where);
	k->dest = dest ? strdup(dest) : NULL;
	if (!k->path || !k->where || (dest && !k->dest)) {
		free(k->path);
		free(k->where);
		free(k->dest);
		return -ENOMEM;
	}
	cf->n_k++;
	cf->now += dest != NULL;
	return 0;
}

/* mkdir -p of the parent directories of file (an absolute path). */
static int mkparents(const char *file)
{
	char *p = strdup(file);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
	}
	free(p);
	return rc;
}

static int read_runs(struct conflicts *cf)
{
	DIR *d = opendir(cf->o.base);
	struct dirent *de;

	cf->runs_read = true;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char **v = realloc(cf->runs, (cf->n_runs + 1) * sizeof(*v));
		if (!v || !(v[cf->n_runs] = strdup(de->d_name))) {
			if (v)
				cf->runs = v;
			closedir(d);
			return -ENOMEM;
		}
		cf->runs = v;
		cf->n_runs++;
	}
	closedir(d);
	qsort(cf->runs, cf->n_runs, sizeof(*cf->runs), cmp_str);
	return 0;
}

static int digest_at(int dfd, const char *name, uint8_t out[HASH_LEN])
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int rc;

	if (fd < 0)
		return -errno;
	rc = hash_fd(fd, out);
	close(fd);
	return rc;
}

/* Same content as the master's (dfd, name, st) at the absolute path other? */
static bool same_version(int dfd, const char *name, const struct stat *st, const char *other)
{
	struct stat ob;
	uint8_t a[HASH_LEN], b[HASH_LEN];

	if (lstat(other, &ob) < 0 || (ob.st_mode & S_IFMT) != (st->st_mode & S_IFMT))
		return false;
	if (ob.st_dev == st->st_dev && ob.st_ino == st->st_ino)
		return true;
	if (S_ISLNK(st->st_mode)) {
		char x[4097], y[4097];
		ssize_t n = readlinkat(dfd, name, x, sizeof(x) - 1);
		ssize_t m = readlink(other, y, sizeof(y) - 1);
		return n >= 0 && n == m && memcmp(x, y, (size_t)n) == 0;
	}
	if (!S_ISREG(st->st_mode) || ob.st_size != st->st_size)
		return false;
	return digest_at(dfd, name, a) == 0 && digest_at(AT_FDCWD, other, b) == 0 &&
	       memcmp(a, b, HASH_LEN) == 0;
}

/* An earlier (or this) run folder that holds this version of path. */
static const char *kept_before(struct conflicts *cf, int dfd, const char *name,
			       const struct stat *st, const char *path)
{
	for (size_t i = 0; i < cf->n_runs; i++) {
		char *other;
		if (asprintf(&other, "%s/%s/%s", cf->o.base, cf->runs[i], path) < 0)
			return NULL;
		bool same = same_version(dfd, name, st, other);
		free(other);
		if (same)
			return cf->runs[i];
	}
	return NULL;
}

/* Copy the regular file (dfd, name) to (ddfd, dest): new, fsynced, mode
 * and times kept. */
static int copy_file(int dfd, const char *name, const struct stat *st, int ddfd,
		     const char *dest)
{
	int in = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int out = -1, rc = 0;
	char *buf = NULL;

	if (in < 0)
		return -errno;
	out = openat(ddfd, dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || !(buf = malloc(COPY_STEP))) {
		rc = out < 0 ? -errno : -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, COPY_STEP);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR) {
				rc = -errno;
				goto out;
			}
			off += w > 0 ? w : 0;
		}
	}
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (rc == 0 && (fchmod(out, st->st_mode & 07777) < 0 || futimens(out, ts) < 0 ||
			fsync(out) < 0))
		rc = -errno;
out:
	free(buf);
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = -errno;
	close(in);
	if (rc < 0 && out >= 0)
		(void)unlinkat(ddfd, dest, 0);
	return rc;
}

/* Keep one file or symlink (dfd, name) of the master at <run>/<path>. */
static int keep_one(struct conflicts *cf, int dfd, const char *name, const struct stat *st,
		    const char *path, const char *subdir)
{
	const char *earlier;
	char *dest = NULL, where[512];
	int rc;

	if (!cf->runs_read && (rc = read_runs(cf)) < 0)
		return rc;
	if (!subdir && (earlier = kept_before(cf, dfd, name, st, path))) {
		snprintf(where, sizeof(where), "already kept in %s", earlier);
		return record(cf, path, where, NULL);
	}
	if (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode))
		return record(cf, path, "special file, nothing to keep", NULL);
	if (cf->o.dry_run)
		return record(cf, path, "would be kept", NULL);
	for (int i = 0; i < 1000; i++) {
		free(dest);
		if ((i == 0 ? asprintf(&dest, "%s%s/%s", cf->run, subdir ? subdir : "", path) :
			      asprintf(&dest, "%s%s/%s.%d", cf->run, subdir ? subdir : "", path,
				       i)) < 0)
			return -ENOMEM;
		struct stat sb;
		if (lstat(dest, &sb) < 0)
			break;
	}
	if ((rc = mkparents(dest)) < 0)
		goto out;
	if (linkat(dfd, name, AT_FDCWD, dest, 0) == 0) {
		snprintf(where, sizeof(where), "%s", dest);
	} else if (errno != EXDEV && errno != EPERM) {
		rc = -errno;
		goto out;
	} else if (S_ISLNK(st->st_mode)) {
		char t[4097];
		ssize_t n = readlinkat(dfd, name, t, sizeof(t) - 1);
		if (n < 0 || (t[n] = '\0', symlink(t, dest) < 0)) {
			rc = -errno;
			goto out;
		}
		snprintf(where, sizeof(where), "%s (copy)", dest);
	} else if ((rc = copy_file(dfd, name, st, AT_FDCWD, dest)) < 0) {
		goto out;
	} else {
		snprintf(where, sizeof(where), "%s (copy)", dest);
	}
	if ((rc = path_fsync_parent(dest)) == 0)
		rc = record(cf, path, where, subdir ? NULL : dest);
out:
	free(dest);
	return rc;
}

static int keep_at(struct conflicts *cf, int dfd, const char *name, const char *path,
		   size_t len, const struct entry *want, int depth);

struct keep_dir {
	struct conflicts *cf;
	const char *path;
	size_t len;
	int depth;
};

static int keep_child(int dfd, const char *name, void *ctx)
{
	struct keep_dir *k = ctx;
	size_t clen;
	char *child = path_join(k->path, k->len, name, strlen(name), &clen);
	int rc = child ? keep_at(k->cf, dfd, name, child, clen, NULL, k->depth + 1) : -ENOMEM;

	free(child);
	return rc;
}

static int keep_children(struct conflicts *cf, int fd, const char *path, size_t len, int depth)
{
	struct keep_dir k = { cf, path, len, depth };

	return nodecopy_each_child(fd, keep_child, &k);
}

static int keep_at(struct conflicts *cf, int dfd, const char *name, const char *path,
		   size_t len, const struct entry *want, int depth)
{
	struct stat st;

	if (depth > PATH_WIRE_MAX / 2)
		return -ELOOP;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		return keep_children(cf, fd, path, len, depth);
	}
	if (!is_conflict(cf, path, len, want, &st))
		return 0;
	return keep_one(cf, dfd, name, &st, path, NULL);
}

int conflicts_keep(struct conflicts *cf, const char *path, size_t len, const struct entry *want)
{
	const char *name;
	int rc, dfd;

	if (len == 0)
		return -EINVAL;          /* the root is never replaced */
	if ((dfd = path_open_parent(cf->rootfd, path, len, &name)) < 0)
		return dfd == -ENOENT ? 0 : dfd;
	rc = keep_at(cf, dfd, name, path, len, want, 0);
	close(dfd);
	return rc;
}

size_t conflicts_count(const struct conflicts *cf)
{
	return cf->n_k;
}

size_t conflicts_kept_now(const struct conflicts *cf)
{
	return cf->now;
}

const char *conflicts_dir(const struct conflicts *cf)
{
	return cf->run;
}

int conflicts_report(struct conflicts *cf, FILE *out)
{
	char *file = NULL, *tmp = NULL;
	FILE *f = NULL;
	int rc = 0;

	for (size_t i = 0; i < cf->n_k; i++)
		fprintf(out, "conflict: %s -> %s\n", cf->k[i].path, cf->k[i].where);
	if (cf->now == 0 || cf->o.dry_run)
		return 0;
	if (asprintf(&file, "%s/conflicts.txt", cf->run) < 0 ||
	    asprintf(&tmp, "%s/.conflicts.txt.tmp", cf->run) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (!(f = fopen(tmp, "we"))) {
		rc = -errno;
		goto out;
	}
	fprintf(f, "# mirror-restore: versions of the master that the restore replaced or\n"
		   "# removed and that never reached the slave; path<TAB>kept as\n");
	for (size_t i = 0; i < cf->n_k; i++)
		fprintf(f, "%s\t%s\n", cf->k[i].path, cf->k[i].where);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, file) < 0)
		rc = -errno;
	if (rc == 0)
		rc = path_fsync_parent(file);
out:
	if (rc < 0 && tmp)
		(void)unlink(tmp);
	free(file);
	free(tmp);
	return rc;
}

/* Put the kept version src back at path in the tree (temp + rename), after
 * keeping what is there now under <run>/from-slave. */
static int put_back(struct conflicts *cf, const char *src, const char *path, size_t len)
{
	const char *name;
	struct stat st, cur;
	char tmp[64];
	int dfd, rc;

	if (lstat(src, &st) < 0)
		return -errno;
	if ((dfd = path_open_parent(cf->rootfd, path, len, &name)) < 0)
		return dfd;
	rc = fstatat(dfd, name, &cur, AT_SYMLINK_NOFOLLOW) < 0 ? (errno == ENOENT ? 1 : -errno) : 0;
	if (rc == 0 && S_ISDIR(cur.st_mode))
		rc = -EISDIR;            /* the slave has a directory there: leave it */
	else if (rc == 0)
		rc = keep_one(cf, dfd, name, &cur, path, "/from-slave");
	if (rc < 0)
		goto out;
	snprintf(tmp, sizeof(tmp), ".mirror-restore.tmp.%ld", (long)getpid());
	(void)unlinkat(dfd, tmp, 0);
	if (S_ISLNK(st.st_mode)) {
		char t[4097];
		ssize_t n = readlink(src, t, sizeof(t) - 1);
		rc = n < 0 || (t[n] = '\0', symlinkat(t, dfd, tmp) < 0) ? -errno : 0;
	} else {
		rc = copy_file(AT_FDCWD, src, &st, dfd, tmp);
	}
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0) {
		rc = -errno;
		(void)unlinkat(dfd, tmp, 0);
	}
	if (rc == 0 && fsync(dfd) < 0)
		rc = -errno;
out:
	close(dfd);
	return rc;
}

int conflicts_reapply(struct conflicts *cf, size_t *ret_count)
{
	size_t n = cf->n_k, done = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!cf->k[i].dest)
			continue;
		char *path = cf->k[i].path;      /* stable: k may move, strings do not */
		if ((rc = put_back(cf, cf->k[i].dest, path, strlen(path))) == 0)
			done++;
	}
	*ret_count = done;
	return rc;
}
