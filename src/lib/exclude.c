/* exclude: rsync-style exclude patterns, matched with fnmatch(3).
 *
 * Each pattern is stored without its leading and trailing '/' and with two
 * flags: dir_only (trailing '/') and whole (leading '/', an inner '/' or a
 * "**": matched against the whole relative path instead of the last
 * component).  fnmatch() runs with FNM_PATHNAME, so '*', '?' and classes
 * never match '/'; "**" is split out and handled here.  A "**" between two
 * slashes also matches zero directories (a, "**", b joined by slashes matches
 * "a/b").
 *
 * exclude_match() tests the path and every ancestor directory of it, so a
 * file beneath an excluded directory is excluded too, whoever asks. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* exclude.h has a slash-star inside its comment; tolerate it (-Wcomment). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "exclude.h"

#define EXCLUDE_PATTERN_MAX 4096   /* bytes in one pattern */
#define EXCLUDE_DSTAR_MAX 4        /* "**" per pattern: bounds the backtracking */
#define EXCLUDE_COUNT_MAX 4096     /* patterns per set */

struct pattern {
	char *glob;       /* NUL-terminated, no leading/trailing '/' */
	size_t len;
	bool dir_only;
	bool whole;
};

struct exclude {
	struct pattern *v;
	size_t n, cap;
};

struct exclude *exclude_new(void)
{
	return calloc(1, sizeof(struct exclude));
}

void exclude_free(struct exclude *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->n; i++)
		free(ex->v[i].glob);
	free(ex->v);
	free(ex);
}

size_t exclude_count(const struct exclude *ex)
{
	return ex ? ex->n : 0;
}

/* Index of the ']' closing the class opened at p[i], or len when unclosed.
 * A ']' right after "[" or "[!" is a member, as in fnmatch(3). */
static size_t class_end(const char *p, size_t len, size_t i)
{
	size_t j = i + 1;

	if (j < len && (p[j] == '!' || p[j] == '^'))
		j++;
	if (j < len && p[j] == ']')
		j++;
	while (j < len && p[j] != ']')
		j++;
	return j;
}

/* Count "**" runs; -1 when a '[' class is never closed or a component is
 * empty ("a//b"). */
static int pattern_scan(const char *p, size_t len)
{
	int dstars = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\' && i + 1 < len) {
			i++;
		} else if (p[i] == '[') {
			size_t j = class_end(p, len, i);

			if (j == len)
				return -1;
			i = j;
		} else if (p[i] == '/' && i + 1 < len && p[i + 1] == '/') {
			return -1;
		} else if (p[i] == '*' && i + 1 < len && p[i + 1] == '*') {
			dstars++;
			while (i + 1 < len && p[i + 1] == '*')
				i++;
		}
	}
	return dstars;
}

static int exclude_grow(struct exclude *ex)
{
	struct pattern *v;
	size_t cap;

	if (ex->n < ex->cap)
		return 0;
	if (ex->n >= EXCLUDE_COUNT_MAX)
		return -ENOSPC;
	cap = ex->cap ? ex->cap * 2 : 8;
	v = realloc(ex->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ex->v = v;
	ex->cap = cap;
	return 0;
}

int exclude_add(struct exclude *ex, const char *pattern)
{
	struct pattern pt = { 0 };
	const char *p = pattern;
	size_t len;
	int dstars, r;

	if (!ex || !p)
		return -EINVAL;
	len = strlen(p);
	if (len == 0 || len > EXCLUDE_PATTERN_MAX)
		return -EINVAL;
	if (p[0] == '/') {
		pt.whole = true;
		p++;
		len--;
	}
	if (len > 0 && p[len - 1] == '/') {
		pt.dir_only = true;
		len--;
	}
	if (len == 0 || p[0] == '/' || p[len - 1] == '/')
		return -EINVAL;
	dstars = pattern_scan(p, len);
	if (dstars < 0 || dstars > EXCLUDE_DSTAR_MAX)
		return -EINVAL;
	if (dstars > 0 || memchr(p, '/', len))
		pt.whole = true;
	r = exclude_grow(ex);
	if (r < 0)
		return r;
	pt.glob = strndup(p, len);
	if (!pt.glob)
		return -ENOMEM;
	pt.len = len;
	ex->v[ex->n++] = pt;
	return 0;
}

/* fnmatch of the pattern bytes pat[0..plen) against s[0..slen); both are
 * copied to NUL-terminated scratch.  Allocation failure counts as no match. */
static bool glob_part(const char *pat, size_t plen, const char *s, size_t slen)
{
	char *buf = malloc(plen + slen + 2);
	bool ok;

	if (!buf)
		return false;
	memcpy(buf, pat, plen);
	buf[plen] = '\0';
	memcpy(buf + plen + 1, s, slen);
	buf[plen + 1 + slen] = '\0';
	ok = fnmatch(buf, buf + plen + 1, FNM_PATHNAME) == 0;
	free(buf);
	return ok;
}

static const char *find_dstar(const char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '*' && p[i + 1] == '*')
			return p + i;
	}
	return NULL;
}

static bool glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* "**" followed by '/' right after a '/' (or at the start) may stand for no
 * directory at all: try pre + rest-without-its-'/'. */
static bool dstar_empty(const char *pat, size_t pre, const char *rest, size_t rlen,
			const char *s, size_t slen)
{
	char *joined;
	bool ok;

	if (rlen == 0 || rest[0] != '/' || (pre > 0 && pat[pre - 1] != '/'))
		return false;
	joined = malloc(pre + rlen);
	if (!joined)
		return false;
	memcpy(joined, pat, pre);
	memcpy(joined + pre, rest + 1, rlen - 1);
	ok = glob_match(joined, pre + rlen - 1, s, slen);
	free(joined);
	return ok;
}

static bool glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
	const char *ds = find_dstar(pat, plen);
	const char *rest;
	size_t pre, rlen;

	if (!ds)
		return glob_part(pat, plen, s, slen);
	pre = (size_t)(ds - pat);
	rest = ds;
	while (rest < pat + plen && *rest == '*')
		rest++;
	rlen = plen - (size_t)(rest - pat);
	if (dstar_empty(pat, pre, rest, rlen, s, slen))
		return true;
	/* pre matches s[0..i) exactly (no '/' crossing inside it); "**" takes
	 * s[i..j); rest matches s[j..).  Try the shortest pre first. */
	for (size_t i = 0; i <= slen; i++) {
		if (!glob_part(pat, pre, s, i))
			continue;
		for (size_t j = i; j <= slen; j++)
			if (glob_match(rest, rlen, s + j, slen - j))
				return true;
	}
	return false;
}

static bool pattern_match(const struct pattern *pt, const char *path, size_t len, bool is_dir)
{
	const char *base;

	if (pt->dir_only && !is_dir)
		return false;
	if (pt->whole)
		return glob_match(pt->glob, pt->len, path, len);
	base = memrchr(path, '/', len);
	base = base ? base + 1 : path;
	return glob_part(pt->glob, pt->len, base, len - (size_t)(base - path));
}

static bool match_one(const struct exclude *ex, const char *path, size_t len, bool is_dir)
{
	for (size_t i = 0; i < ex->n; i++)
		if (pattern_match(&ex->v[i], path, len, is_dir))
			return true;
	return false;
}

bool exclude_match(const struct exclude *ex, const char *path, size_t len, bool is_dir)
{
	if (!ex || ex->n == 0 || len == 0)
		return false;
	/* Ancestors first: "a", "a/b", ... each as a directory. */
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/' && i > 0 && match_one(ex, path, i, true))
			return true;
	return match_one(ex, path, len, is_dir);
}
