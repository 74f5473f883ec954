/* vindex: the versions log, one escaped text line per record. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vindex.h"

#define VINDEX_READ_MAX (1ull << 32)   /* a larger index is refused */

/* ---- escaping ---- */

static bool must_escape(unsigned char c)
{
	return c <= ' ' || c == '%' || c == 0x7f;
}

/* Escaped size of s[0..n), or of "." when s is NULL. */
static size_t esc_len(const char *s, size_t n)
{
	size_t k = 0;

	if (!s)
		return 1;
	for (size_t i = 0; i < n; i++)
		k += must_escape((unsigned char)s[i]) ? 3 : 1;
	return k ? k : 1;
}

static char *esc_put(char *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	if (!s || n == 0) {
		*o++ = '.';
		return o;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (must_escape(c)) {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	return o;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode field s[0..n) into a heap string; "." is NULL (absent). */
static int unesc(const char *s, size_t n, char **ret, size_t *ret_len)
{
	char *o, *p;

	*ret = NULL;
	*ret_len = 0;
	if (n == 1 && s[0] == '.')
		return 0;
	if (!(o = p = malloc(n + 1)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*p++ = s[i];
			continue;
		}
		int hi = i + 2 < n ? unhex(s[i + 1]) : -1, lo = i + 2 < n ? unhex(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(o);
			return -EINVAL;
		}
		*p++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*p = '\0';
	*ret = o;
	*ret_len = (size_t)(p - o);
	return 0;
}

/* ---- one record ---- */

char *vindex_format(const struct vindex_rec *r, size_t *ret_len)
{
	size_t slen = r->stored ? strlen(r->stored) : 0;
	size_t cap = 64 + esc_len(r->path, r->len) + esc_len(r->stored, slen) +
		     esc_len(r->to, r->tolen);
	char *buf = malloc(cap), *o;
	int k;

	if (!buf)
		return NULL;
	k = snprintf(buf, cap, "%" PRId64 " %c %" PRIu64 " ", r->t_ns, r->op, r->size);
	o = esc_put(buf + k, r->path, r->len);
	*o++ = ' ';
	o = esc_put(o, r->stored, slen);
	*o++ = ' ';
	o = esc_put(o, r->to, r->tolen);
	*o++ = '\n';
	*ret_len = (size_t)(o - buf);
	return buf;
}

void vindex_rec_clear(struct vindex_rec *r)
{
	free(r->path);
	free(r->stored);
	free(r->to);
	*r = (struct vindex_rec){ 0 };
}

static bool op_ok(char op)
{
	return op == VINDEX_OVERWRITE || op == VINDEX_DELETE || op == VINDEX_CREATE ||
	       op == VINDEX_RENAME || op == VINDEX_HORIZON;
}

/* Does every field a record of this op needs hold something? */
static bool fields_ok(const struct vindex_rec *r)
{
	switch (r->op) {
	case VINDEX_OVERWRITE: case VINDEX_DELETE:
		return r->path && r->stored && !r->to;
	case VINDEX_CREATE:
		return r->path && !r->stored && !r->to;
	case VINDEX_RENAME:
		return r->path && r->to && !r->stored;
	default:
		return !r->path && !r->stored && !r->to;
	}
}

int vindex_parse(const char *line, size_t n, struct vindex_rec *r)
{
	const char *f[6];
	size_t fl[6], k = 0, i = 0, slen;
	char *end;
	int rc;

	*r = (struct vindex_rec){ 0 };
	while (k < 6 && i < n) {
		f[k] = line + i;
		while (i < n && line[i] != ' ')
			i++;
		fl[k] = (size_t)(line + i - f[k]);
		k++;
		i += i < n;
	}
	if (k != 6 || i < n || fl[1] != 1 || !op_ok(f[1][0]) || fl[0] == 0 || fl[0] > 20)
		return -EINVAL;
	errno = 0;
	r->t_ns = strtoll(f[0], &end, 10);
	if (errno || end != f[0] + fl[0])
		return -EINVAL;
	r->op = f[1][0];
	r->size = strtoull(f[2], &end, 10);
	if (errno || end != f[2] + fl[2] || fl[2] == 0 || f[2][0] == '-')
		return -EINVAL;
	rc = unesc(f[3], fl[3], &r->path, &r->len);
	if (rc == 0)
		rc = unesc(f[4], fl[4], &r->stored, &slen);
	if (rc == 0)
		rc = unesc(f[5], fl[5], &r->to, &r->tolen);
	if (rc == 0 && !fields_ok(r))
		rc = -EINVAL;
	if (rc < 0)
		vindex_rec_clear(r);
	return rc;
}

/* ---- the in-memory list ---- */

static char *dup_or_null(const char *s, size_t n)
{
	return s ? strndup(s, n) : NULL;
}

int vindex_add(struct vindex *v, const struct vindex_rec *r)
{
	struct vindex_rec c = *r;

	if (r->op == VINDEX_HORIZON) {
		if (r->t_ns > v->horizon)
			v->horizon = r->t_ns;
		return 0;
	}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p = reallocarray(v->recs, cap, sizeof(*v->recs));
		if (!p)
			return -ENOMEM;
		v->recs = p;
		v->cap = cap;
	}
	c.path = dup_or_null(r->path, r->len);
	c.stored = r->stored ? strdup(r->stored) : NULL;
	c.to = dup_or_null(r->to, r->tolen);
	if ((r->path && !c.path) || (r->stored && !c.stored) || (r->to && !c.to)) {
		vindex_rec_clear(&c);
		return -ENOMEM;
	}
	v->recs[v->n++] = c;
	return 0;
}

int vindex_parse_all(struct vindex *v, const char *buf, size_t n, size_t *ret_good)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(buf + i, '\n', n - i);
		struct vindex_rec r;
		int rc;

		if (!nl)
			break;            /* a cut last line */
		if (vindex_parse(buf + i, (size_t)(nl - buf - i), &r) == 0) {
			rc = vindex_add(v, &r);
			vindex_rec_clear(&r);
			if (rc < 0)
				return rc;
		} else {
			v->bad++;
		}
		i = (size_t)(nl - buf) + 1;
	}
	*ret_good = i;
	return 0;
}

void vindex_free(struct vindex *v)
{
	for (size_t i = 0; i < v->n; i++)
		vindex_rec_clear(&v->recs[i]);
	free(v->recs);
	*v = (struct vindex){ 0 };
}

/* ---- files ---- */

static int read_all(int fd, char **ret, size_t *ret_n)
{
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size >= VINDEX_READ_MAX)
		return -EFBIG;
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int e = k < 0 ? -errno : 0;
			if (e == 0)
				break;   /* shorter than it was: take what is there */
			free(buf);
			return e;
		}
		got += (size_t)k;
	}
	*ret = buf;
	*ret_n = got;
	return 0;
}

int vindex_load(int dirfd, const char *name, bool repair, struct vindex *v)
{
	int fd = openat(dirfd, name, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
	size_t n = 0, good = 0;
	char *buf = NULL;
	int rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = read_all(fd, &buf, &n);
	if (rc == 0)
		rc = vindex_parse_all(v, buf, n, &good);
	if (rc == 0 && repair && good < n && ftruncate(fd, (off_t)good) < 0)
		rc = -errno;
	free(buf);
	close(fd);
	return rc;
}

int vindex_append(int fd, const struct vindex_rec *r)
{
	size_t n;
	char *line = vindex_format(r, &n);
	ssize_t k;
	int rc = 0;

	if (!line)
		return -ENOMEM;
	do
		k = write(fd, line, n);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		rc = -errno;
	} else if ((size_t)k != n) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end >= k && ftruncate(fd, end - k) < 0)
			rc = -errno;
		rc = rc ? rc : -EIO;
	}
	free(line);
	return rc;
}

static int write_recs(int fd, const struct vindex *v)
{
	struct vindex_rec h = { .t_ns = v->horizon, .op = VINDEX_HORIZON };
	int rc = vindex_append(fd, &h);

	for (size_t i = 0; rc == 0 && i < v->n; i++)
		rc = vindex_append(fd, &v->recs[i]);
	return rc;
}

int vindex_rewrite(int dirfd, const char *name, const struct vindex *v)
{
	char *tmp = NULL;
	int fd, rc;

	if (asprintf(&tmp, "%s.new", name) < 0)
		return -ENOMEM;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0) {
		rc = -errno;
		free(tmp);
		return rc;
	}
	rc = write_recs(fd, v);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dirfd, tmp, 0);
	free(tmp);
	return rc;
}
