/* pit: point-in-time restore and the list of kept versions, from a mirror's
 * versions directory (retain.h) and its current tree. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nodecopy.h"
#include "path.h"
#include "pit.h"
#include "pitview.h"
#include "retain.h"
#include "vindex.h"

#define PIT_OK 0
#define PIT_USAGE 2
#define PIT_INCOMPLETE 4
#define TMP_PREFIX ".mirrord.tmp."

/* ---- time ---- */

/* ".123" -> nanoseconds; *end past the digits. */
static long frac_ns(const char *s, const char **end)
{
	long ns = 0, scale = 100000000;

	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
			ns += (*s - '0') * scale;
	*end = s;
	return ns;
}

int pit_parse_time(const char *s, int64_t *ret_ns)
{
	struct tm tm = { 0 };
	const char *p;
	char *end;
	time_t t;

	if (s[0] == '@') {
		errno = 0;
		long long sec = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1)
			return -EINVAL;
		long ns = frac_ns(end, &p);
		if (*p)
			return -EINVAL;
		*ret_ns = (int64_t)sec * 1000000000 + ns;
		return 0;
	}
	p = strptime(s, "%Y-%m-%d", &tm);
	if (!p || (*p != ' ' && *p != 'T') || !(p = strptime(p + 1, "%H:%M:%S", &tm)))
		return -EINVAL;
	long ns = frac_ns(p, &p);
	bool utc = *p == 'Z';
	if (*p && !(utc && p[1] == '\0'))
		return -EINVAL;
	tm.tm_isdst = -1;
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret_ns = (int64_t)t * 1000000000 + ns;
	return 0;
}

static void fmt_time(int64_t t_ns, char *buf, size_t n)
{
	time_t s = (time_t)(t_ns / 1000000000);
	struct tm tm;
	size_t k;

	if (!localtime_r(&s, &tm) || !(k = strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))) {
		snprintf(buf, n, "@%" PRId64, t_ns / 1000000000);
		return;
	}
	snprintf(buf + k, n - k, ".%09ld", (long)(t_ns % 1000000000));
}

/* ---- the sources ---- */

struct pit {
	const char *mirror;
	int rootfd, vfd;
	struct pitview *v;
	unsigned long long files, dirs, bytes, errors;
};

/* The parent fd of a source (tree or versions) and the name in it; for
 * the tree's root, a dup of the root fd and "." */
static int src_parent(const struct pit *pt, enum pitview_kind k, const char *src, size_t slen,
		      const char **name)
{
	int base = k == PITVIEW_TREE ? pt->rootfd : pt->vfd;

	if (slen == 0) {
		int fd = fcntl(base, F_DUPFD_CLOEXEC, 0);
		*name = ".";
		return fd < 0 ? -errno : fd;
	}
	return path_open_parent(base, src, slen, name);
}

/* ---- the names of a directory at T ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(void *ctx, const char *name, size_t len)
{
	struct names *ns = ctx;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 32;
		void *p = reallocarray(ns->v, cap, sizeof(*ns->v));
		if (!p)
			return -ENOMEM;
		ns->v = p;
		ns->cap = cap;
	}
	if (!(ns->v[ns->n] = strndup(name, len)))
		return -ENOMEM;
	ns->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* The source directory's entries (the tree's temporary files left out). */
static int list_dir(int pfd, const char *name, bool tree, struct names *ns)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (tree && !strncmp(de->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1))
			continue;
		rc = names_add(ns, de->d_name, strlen(de->d_name));
	}
	if (rc == 0 && errno)
		rc = -errno;
	closedir(d);
	return rc;
}

/* ---- writing ---- */

static int write_node(struct pit *pt, const char *vp, size_t vlen, int ddfd, const char *dname);

static void node_error(struct pit *pt, const char *vp, const char *what, int err)
{
	log_err("mirror %s: %s: %s: %s", pt->mirror, vp[0] ? vp : "(root)", what, strerror(-err));
	pt->errors++;
}

static int write_children(struct pit *pt, const char *vp, size_t vlen, int pfd,
			  const char *name, bool tree, int dfd)
{
	struct names ns = { 0 };
	int rc = list_dir(pfd, name, tree, &ns);

	if (rc == 0)
		rc = pitview_children(pt->v, vp, vlen, names_add, &ns);
	if (rc < 0) {
		node_error(pt, vp, "cannot list", rc);
		names_free(&ns);
		return 0;
	}
	qsort(ns.v, ns.n, sizeof(*ns.v), cmp_name);
	for (size_t i = 0; i < ns.n; i++) {
		if (i && !strcmp(ns.v[i], ns.v[i - 1]))
			continue;
		size_t clen;
		char *child = path_join(vp, vlen, ns.v[i], strlen(ns.v[i]), &clen);
		rc = child ? write_node(pt, child, clen, dfd, ns.v[i]) : -ENOMEM;
		free(child);
		if (rc < 0)
			break;
	}
	names_free(&ns);
	return rc;
}

static int write_dir(struct pit *pt, const char *vp, size_t vlen, int pfd, const char *name,
		     bool tree, const struct stat *st, int ddfd, const char *dname)
{
	int dfd, rc;

	if (mkdirat(ddfd, dname, 0700) < 0) {
		node_error(pt, vp, "cannot create the directory", -errno);
		return 0;
	}
	dfd = openat(ddfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		node_error(pt, vp, "cannot open the new directory", -errno);
		return 0;
	}
	rc = write_children(pt, vp, vlen, pfd, name, tree, dfd);
	close(dfd);
	if (rc == 0 && (rc = nodecopy_meta(ddfd, dname, st)) < 0) {
		node_error(pt, vp, "cannot set the metadata", rc);
		rc = 0;
	}
	pt->dirs++;
	return rc;
}

/* Write the node that was at vp at T as ddfd/dname.  <0 only on ENOMEM. */
static int write_node(struct pit *pt, const char *vp, size_t vlen, int ddfd, const char *dname)
{
	enum pitview_kind k;
	const char *name;
	struct stat st;
	size_t slen;
	char *src;
	int pfd, rc = pitview_resolve(pt->v, vp, vlen, &k, &src, &slen);

	if (rc < 0 || k == PITVIEW_ABSENT)
		return rc;
	pfd = src_parent(pt, k, src, slen, &name);
	if (pfd < 0 || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		node_error(pt, vp, k == PITVIEW_TREE ? "cannot read it in the tree" :
			   "cannot read its kept version", pfd < 0 ? pfd : -errno);
	} else if (S_ISDIR(st.st_mode)) {
		rc = write_dir(pt, vp, vlen, pfd, name, k == PITVIEW_TREE, &st, ddfd, dname);
	} else if ((rc = nodecopy_one(pfd, name, &st, ddfd, dname)) < 0) {
		node_error(pt, vp, "cannot copy", rc);
		rc = 0;
	} else {
		pt->files += rc == 0;
		pt->bytes += S_ISREG(st.st_mode) ? (unsigned long long)st.st_size : 0;
		rc = 0;
	}
	if (pfd >= 0)
		close(pfd);
	free(src);
	return rc;
}

/* ---- checks ---- */

static bool inside(const char *dir, const char *p)
{
	size_t n = strlen(dir);

	return !strncmp(dir, p, n) && (p[n] == '/' || p[n] == '\0' || (n == 1 && dir[0] == '/'));
}

/* The mirror path of a command-line path: relative, or absolute inside
 * the mirror's tree.  NULL when outside. */
static const char *mirror_path(const struct conf_mirror *m, const char *p)
{
	if (!p)
		return "";
	if (p[0] != '/')
		return p;
	if (!inside(m->path, p))
		return NULL;
	p += strlen(m->path);
	while (*p == '/')
		p++;
	return p;
}

/* The index, read-only, with the time limits of the retention applied. */
static int load_index(const struct conf_mirror *m, int vfd, const char *vdir, struct vindex *ix)
{
	int rc = vindex_load(vfd, RETAIN_INDEX, false, ix);

	if (rc < 0) {
		fprintf(stderr, "mirror-restore: %s/%s: %s\n", vdir, RETAIN_INDEX, strerror(-rc));
		return rc;
	}
	if (m->keep_versions_sec) {
		int64_t cut = (int64_t)time(NULL) - (int64_t)m->keep_versions_sec;
		if (cut * 1000000000 > ix->horizon)
			ix->horizon = cut * 1000000000;
	}
	return 0;
}

static int open_dirs(const struct conf *c, const struct conf_mirror *m, struct pit *pt,
		     char **ret_vdir)
{
	char *vdir = conf_versions_dir(c, m);

	pt->rootfd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pt->vfd = vdir ? open(vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (pt->rootfd < 0 || pt->vfd < 0) {
		fprintf(stderr, "mirror-restore: mirror %s: cannot open %s: %s\n", m->name,
			pt->rootfd < 0 ? m->path : vdir ? vdir : "(versions)", strerror(errno));
		free(vdir);
		return -1;
	}
	*ret_vdir = vdir;
	return 0;
}

static void close_dirs(struct pit *pt)
{
	if (pt->rootfd >= 0)
		close(pt->rootfd);
	if (pt->vfd >= 0)
		close(pt->vfd);
}

/* The target: absolute, outside the tree (unless asked) and the versions,
 * absent or an empty directory.  Opens its parent. */
static int check_target(const struct conf_mirror *m, const char *vdir, const struct pit_args *a,
			int *ret_pfd, char **ret_name)
{
	char *dir, *slash;

	if (a->to[0] != '/' || strstr(a->to, "/../") || strstr(a->to, "/./")) {
		fprintf(stderr, "mirror-restore: --to needs an absolute path without . or ..\n");
		return -1;
	}
	if (inside(vdir, a->to) || (inside(m->path, a->to) && !a->into_tree)) {
		fprintf(stderr, "mirror-restore: --to %s lies inside the %s; %s\n", a->to,
			inside(vdir, a->to) ? "versions directory" : "mirror's tree",
			inside(vdir, a->to) ? "choose another target" :
			"add --into-tree to write there anyway");
		return -1;
	}
	if (!(dir = strdup(a->to)))
		return -1;
	slash = strrchr(dir, '/');
	if (!slash[1]) {
		fprintf(stderr, "mirror-restore: --to %s: name a directory to create\n", a->to);
		free(dir);
		return -1;
	}
	*ret_name = strdup(slash + 1);
	slash[slash == dir] = '\0';
	*ret_pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*ret_pfd < 0 || !*ret_name)
		fprintf(stderr, "mirror-restore: %s: %s\n", dir, strerror(errno));
	free(dir);
	return *ret_pfd < 0 || !*ret_name ? -1 : 0;
}

/* An existing target must be an empty directory (used as is). */
static int target_free(int pfd, const char *name, const char *to)
{
	struct names ns = { 0 };
	struct stat st;
	int rc;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	rc = S_ISDIR(st.st_mode) ? list_dir(pfd, name, false, &ns) : -EEXIST;
	if (rc == 0 && ns.n)
		rc = -ENOTEMPTY;
	names_free(&ns);
	if (rc < 0)
		fprintf(stderr, "mirror-restore: --to %s: %s\n", to,
			rc == -EEXIST ? "exists and is not a directory" :
			rc == -ENOTEMPTY ? "is not empty" : strerror(-rc));
	return rc < 0 ? -1 : 1;
}

static int build_view(struct pit *pt, const struct vindex *ix, int64_t t, const char *when)
{
	int rc = pitview_build(ix, t, &pt->v);
	char h[64];

	if (rc == -ERANGE) {
		fmt_time(ix->horizon, h, sizeof(h));
		fprintf(stderr, "mirror-restore: mirror %s: %s is outside the kept history; "
			"the oldest time that can be restored is %s\n", pt->mirror, when, h);
	} else if (rc < 0) {
		fprintf(stderr, "mirror-restore: %s\n", strerror(-rc));
	}
	return rc;
}

static int run(struct pit *pt, const struct conf_mirror *m, const char *vdir,
	       const struct pit_args *a, const char *path)
{
	struct vindex ix = { 0 };
	int64_t t;
	int pfd = -1, rc = PIT_USAGE, exists;
	char *name = NULL;
	enum pitview_kind k;
	char *src = NULL;
	size_t slen;

	if (pit_parse_time(a->time, &t) < 0) {
		fprintf(stderr, "mirror-restore: --from-version '%s': not @SECONDS or "
			"YYYY-MM-DD HH:MM:SS[.FRACTION][Z]\n", a->time);
		return PIT_USAGE;
	}
	if (check_target(m, vdir, a, &pfd, &name) < 0 || (exists = target_free(pfd, name, a->to)) < 0 ||
	    load_index(m, pt->vfd, vdir, &ix) < 0 || build_view(pt, &ix, t, a->time) < 0)
		goto out;
	if (pitview_resolve(pt->v, path, strlen(path), &k, &src, &slen) < 0 || k == PITVIEW_ABSENT) {
		fprintf(stderr, "mirror-restore: mirror %s: '%s' did not exist at %s\n", m->name,
			path[0] ? path : "(root)", a->time);
		goto out;
	}
	if (exists && unlinkat(pfd, name, AT_REMOVEDIR) < 0) {
		fprintf(stderr, "mirror-restore: --to %s: %s\n", a->to, strerror(errno));
		goto out;
	}
	rc = write_node(pt, path, strlen(path), pfd, name) < 0 || pt->errors ? PIT_INCOMPLETE : PIT_OK;
	printf("mirror-restore: mirror %s: '%s' as at %s written to %s: %llu files, %llu "
	       "directories, %llu bytes, %llu errors\n", m->name, path[0] ? path : "(root)",
	       a->time, a->to, pt->files, pt->dirs, pt->bytes, pt->errors);
out:
	free(src);
	free(name);
	if (pfd >= 0)
		close(pfd);
	vindex_free(&ix);
	return rc;
}

int pit_restore(const struct conf *c, const struct conf_mirror *m, const struct pit_args *a)
{
	struct pit pt = { .mirror = m->name, .rootfd = -1, .vfd = -1 };
	const char *path = mirror_path(m, a->path);
	char *vdir = NULL;
	int rc;

	if (!path || (path[0] && path_check(path, strlen(path)) < 0)) {
		fprintf(stderr, "mirror-restore: '%s' is not a path in mirror %s (%s)\n", a->path,
			m->name, m->path);
		return PIT_USAGE;
	}
	if (open_dirs(c, m, &pt, &vdir) < 0)
		rc = PIT_USAGE;
	else
		rc = run(&pt, m, vdir, a, path);
	pitview_free(pt.v);
	close_dirs(&pt);
	free(vdir);
	return rc;
}

int pit_list(const struct conf *c, const struct conf_mirror *m, const char *p)
{
	struct pit pt = { .mirror = m->name, .rootfd = -1, .vfd = -1 };
	const char *path = mirror_path(m, p);
	struct vindex ix = { 0 };
	char *vdir = NULL, when[64];
	size_t len = path ? strlen(path) : 0;

	if (!path || path_check(path, len) < 0 || len == 0) {
		fprintf(stderr, "mirror-restore: '%s' is not a path in mirror %s\n", p, m->name);
		return PIT_USAGE;
	}
	if (open_dirs(c, m, &pt, &vdir) < 0 || vindex_load(pt.vfd, RETAIN_INDEX, false, &ix) < 0) {
		close_dirs(&pt);
		free(vdir);
		return PIT_USAGE;
	}
	for (size_t i = 0; i < ix.n; i++) {
		const struct vindex_rec *r = &ix.recs[i];
		if ((r->op != VINDEX_OVERWRITE && r->op != VINDEX_DELETE) || r->len != len ||
		    memcmp(r->path, path, len) ||
		    faccessat(pt.vfd, r->stored, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;          /* pruned (the index is compacted later) */
		fmt_time(r->t_ns, when, sizeof(when));
		printf("%s\t%s\t%" PRIu64 "\t%s/%s\n", when,
		       r->op == VINDEX_OVERWRITE ? "overwritten" : "removed", r->size, vdir, r->stored);
	}
	vindex_free(&ix);
	close_dirs(&pt);
	free(vdir);
	return PIT_OK;
}
