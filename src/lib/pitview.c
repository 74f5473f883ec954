/* pitview: overrides of "now" that give the tree at an earlier time. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pitview.h"

struct over {
	char *at;                /* path at T */
	size_t alen;
	enum pitview_kind kind;
	char *src;               /* NULL when absent */
	size_t slen;
};

struct pitview {
	struct over *o;
	size_t n, cap;
};

/* path equals p or lies beneath it ("" covers everything). */
static bool covers(const char *p, size_t plen, const char *path, size_t len)
{
	if (plen == 0)
		return true;
	return len >= plen && !memcmp(p, path, plen) && (len == plen || path[plen] == '/');
}

struct pitview *pitview_new(void)
{
	struct pitview *v = calloc(1, sizeof(*v));

	if (v && !(v->o = calloc(16, sizeof(*v->o)))) {
		free(v);
		return NULL;
	}
	if (v) {
		v->cap = 16;
		v->n = 1;         /* "" -> the tree's "" */
		v->o[0] = (struct over){ .at = strdup(""), .kind = PITVIEW_TREE, .src = strdup("") };
		if (!v->o[0].at || !v->o[0].src) {
			pitview_free(v);
			return NULL;
		}
	}
	return v;
}

void pitview_free(struct pitview *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free(v->o[i].at);
		free(v->o[i].src);
	}
	free(v->o);
	free(v);
}

/* Heap a + b[0..blen). */
static char *cat(const char *a, size_t alen, const char *b, size_t blen, size_t *ret_len)
{
	char *s = malloc(alen + blen + 1);

	if (!s)
		return NULL;
	memcpy(s, a, alen);
	memcpy(s + alen, b, blen);
	s[alen + blen] = '\0';
	*ret_len = alen + blen;
	return s;
}

static const struct over *longest(const struct pitview *v, const char *path, size_t len)
{
	const struct over *best = NULL;

	for (size_t i = 0; i < v->n; i++)
		if (covers(v->o[i].at, v->o[i].alen, path, len) &&
		    (!best || v->o[i].alen > best->alen))
			best = &v->o[i];
	return best;
}

int pitview_resolve(const struct pitview *v, const char *path, size_t len,
		    enum pitview_kind *kind, char **src, size_t *slen)
{
	const struct over *o = longest(v, path, len);
	const char *rest = path + o->alen;
	size_t rlen = len - o->alen;

	*kind = o->kind;
	*src = NULL;
	*slen = 0;
	if (o->kind == PITVIEW_ABSENT)
		return 0;
	if (o->alen == 0 && rlen && o->slen) {   /* "" -> X: X + "/" + path */
		char *t = cat(o->src, o->slen, "/", 1, slen);
		if (!t)
			return -ENOMEM;
		*src = cat(t, *slen, rest, rlen, slen);
		free(t);
	} else if (o->slen == 0 && rlen && rest[0] == '/') {   /* X -> "": drop the '/' */
		*src = cat("", 0, rest + 1, rlen - 1, slen);
	} else {
		*src = cat(o->src, o->slen, rest, rlen, slen);
	}
	return *src ? 0 : -ENOMEM;
}

static void drop_beneath(struct pitview *v, const char *p, size_t plen)
{
	size_t j = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (covers(p, plen, v->o[i].at, v->o[i].alen) && v->o[i].alen > 0) {
			free(v->o[i].at);
			free(v->o[i].src);
		} else {
			v->o[j++] = v->o[i];
		}
	}
	v->n = j;
}

/* Add an override (at and src are taken). */
static int push(struct pitview *v, char *at, size_t alen, enum pitview_kind k, char *src,
		size_t slen)
{
	if (!at || (k != PITVIEW_ABSENT && !src)) {
		free(at);
		free(src);
		return -ENOMEM;
	}
	if (v->n == v->cap) {
		void *p = reallocarray(v->o, v->cap * 2, sizeof(*v->o));
		if (!p) {
			free(at);
			free(src);
			return -ENOMEM;
		}
		v->o = p;
		v->cap *= 2;
	}
	v->o[v->n++] = (struct over){ at, alen, k, src, slen };
	return 0;
}

static int set(struct pitview *v, const char *p, size_t plen, enum pitview_kind k,
	       const char *src, size_t slen)
{
	drop_beneath(v, p, plen);
	return push(v, strndup(p, plen), plen, k, src ? strndup(src, slen) : NULL, slen);
}

/* Undo "from was renamed to to": what is at to moves back to from. */
static int undo_rename(struct pitview *v, const char *from, size_t flen, const char *to,
		       size_t tlen)
{
	struct over *sub = calloc(v->n + 1, sizeof(*sub));
	enum pitview_kind k;
	size_t ns = 0, slen;
	char *src;
	int rc;

	if (!sub || (rc = pitview_resolve(v, to, tlen, &k, &src, &slen)) < 0) {
		free(sub);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n; i++) {      /* overrides beneath to, moved */
		const struct over *o = &v->o[i];
		if (o->alen <= tlen || !covers(to, tlen, o->at, o->alen))
			continue;
		sub[ns] = *o;
		sub[ns].at = cat(from, flen, o->at + tlen, o->alen - tlen, &sub[ns].alen);
		sub[ns].src = o->src ? strndup(o->src, o->slen) : NULL;
		ns++;
	}
	rc = set(v, to, tlen, PITVIEW_ABSENT, NULL, 0);
	if (rc == 0)
		rc = set(v, from, flen, k, src, slen);
	free(src);
	for (size_t i = 0; i < ns; i++) {
		if (rc == 0)
			rc = push(v, sub[i].at, sub[i].alen, sub[i].kind, sub[i].src, sub[i].slen);
		else {
			free(sub[i].at);
			free(sub[i].src);
		}
	}
	free(sub);
	return rc;
}

int pitview_undo(struct pitview *v, const struct vindex_rec *r)
{
	switch (r->op) {
	case VINDEX_CREATE:
		return set(v, r->path, r->len, PITVIEW_ABSENT, NULL, 0);
	case VINDEX_OVERWRITE: case VINDEX_DELETE:
		return set(v, r->path, r->len, PITVIEW_STORED, r->stored, strlen(r->stored));
	case VINDEX_RENAME:
		return undo_rename(v, r->path, r->len, r->to, r->tolen);
	default:
		return 0;
	}
}

int pitview_build(const struct vindex *ix, int64_t t_ns, struct pitview **ret)
{
	struct pitview *v;
	int rc = 0;

	if (t_ns < ix->horizon)
		return -ERANGE;
	if (!(v = pitview_new()))
		return -ENOMEM;
	for (size_t i = ix->n; rc == 0 && i-- > 0 && ix->recs[i].t_ns > t_ns;)
		rc = pitview_undo(v, &ix->recs[i]);
	if (rc < 0) {
		pitview_free(v);
		return rc;
	}
	*ret = v;
	return 0;
}

int pitview_children(const struct pitview *v, const char *dir, size_t dlen,
		     int (*fn)(void *ctx, const char *name, size_t nlen), void *ctx)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct over *o = &v->o[i];
		size_t off = dlen ? dlen + 1 : 0;
		if (o->kind == PITVIEW_ABSENT || o->alen <= dlen || !covers(dir, dlen, o->at, o->alen))
			continue;
		if (memchr(o->at + off, '/', o->alen - off))
			continue;      /* deeper */
		int rc = fn(ctx, o->at + off, o->alen - off);
		if (rc < 0)
			return rc;
	}
	return 0;
}
