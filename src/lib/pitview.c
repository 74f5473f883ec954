/* pitview: overrides of "now" that give the tree at an earlier time.
 *
 * The overrides live in a tree of path components (a node per name, its
 * children sorted for binary search), so that undoing a record, and
 * resolving a path, walks the path's components once: the cost does not
 * grow with the number of records, and dropping or moving everything
 * beneath a path is cutting or moving one subtree. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pitview.h"

struct pnode {
	char *name;
	size_t nlen;
	bool has;                /* an override at this path */
	enum pitview_kind kind;
	char *src;               /* NULL when absent */
	size_t slen;
	struct pnode **kids;     /* sorted by name */
	size_t nk, ck;
};

struct pitview {
	struct pnode root;       /* "" -> the tree's "" */
};

/* ---- nodes ---- */

static void kids_free(struct pnode *n);

static void node_free(struct pnode *n)
{
	kids_free(n);
	free(n->name);
	free(n->src);
	free(n);
}

static void kids_free(struct pnode *n)
{
	for (size_t i = 0; i < n->nk; i++)
		node_free(n->kids[i]);
	free(n->kids);
	n->kids = NULL;
	n->nk = n->ck = 0;
}

static int cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the child name, or where it would go (*found false). */
static size_t kid_find(const struct pnode *n, const char *name, size_t len, bool *found)
{
	size_t lo = 0, hi = n->nk;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp(n->kids[mid]->name, n->kids[mid]->nlen, name, len);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct pnode *kid_add(struct pnode *n, size_t at, const char *name, size_t len)
{
	struct pnode *k;

	if (n->nk == n->ck) {
		size_t c = n->ck ? n->ck * 2 : 4;
		void *p = reallocarray(n->kids, c, sizeof(*n->kids));
		if (!p)
			return NULL;
		n->kids = p;
		n->ck = c;
	}
	if (!(k = calloc(1, sizeof(*k))) || !(k->name = strndup(name, len))) {
		free(k);
		return NULL;
	}
	k->nlen = len;
	memmove(n->kids + at + 1, n->kids + at, (n->nk - at) * sizeof(*n->kids));
	n->kids[at] = k;
	n->nk++;
	return k;
}

/* Length of the component of path starting at i. */
static size_t comp_len(const char *path, size_t len, size_t i)
{
	const char *e = memchr(path + i, '/', len - i);

	return e ? (size_t)(e - path - i) : len - i;
}

/* The node of path, created (with its parents) when missing; NULL on ENOMEM. */
static struct pnode *make(struct pitview *v, const char *path, size_t len)
{
	struct pnode *n = &v->root;

	for (size_t i = 0; n && i < len;) {
		size_t clen = comp_len(path, len, i), at;
		bool found;

		at = kid_find(n, path + i, clen, &found);
		n = found ? n->kids[at] : kid_add(n, at, path + i, clen);
		i += clen + 1;
	}
	return n;
}

/* The node of path, or NULL.  With best, the deepest node on the way that
 * holds an override, and the length of its path. */
static struct pnode *find(const struct pitview *v, const char *path, size_t len,
			  const struct pnode **best, size_t *blen)
{
	struct pnode *n = (struct pnode *)&v->root;

	for (size_t i = 0; n && i < len;) {
		size_t clen = comp_len(path, len, i), at;
		bool found;

		at = kid_find(n, path + i, clen, &found);
		n = found ? n->kids[at] : NULL;
		i += clen;
		if (n && n->has && best) {
			*best = n;
			*blen = i;
		}
		i++;
	}
	return n;
}

/* ---- the view ---- */

struct pitview *pitview_new(void)
{
	struct pitview *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->root.has = true;
	v->root.kind = PITVIEW_TREE;
	if (!(v->root.src = strdup("")) || !(v->root.name = strdup(""))) {
		pitview_free(v);
		return NULL;
	}
	return v;
}

void pitview_free(struct pitview *v)
{
	if (!v)
		return;
	kids_free(&v->root);
	free(v->root.name);
	free(v->root.src);
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

int pitview_resolve(const struct pitview *v, const char *path, size_t len,
		    enum pitview_kind *kind, char **src, size_t *slen)
{
	const struct pnode *best = &v->root;
	size_t alen = 0;

	(void)find(v, path, len, &best, &alen);
	*kind = best->kind;
	*src = NULL;
	*slen = 0;
	if (best->kind == PITVIEW_ABSENT)
		return 0;
	/* the root maps to the tree's root: path itself; else src + "/rest" */
	*src = best == &v->root ? cat(path, len, "", 0, slen) :
	       cat(best->src, best->slen, path + alen, len - alen, slen);
	return *src ? 0 : -ENOMEM;
}

/* path (never the root) now resolves to kind/src; nothing beneath it is
 * overridden any more.  Returns the node. */
static struct pnode *set(struct pitview *v, const char *p, size_t plen, enum pitview_kind k,
			 const char *src, size_t slen)
{
	struct pnode *n = make(v, p, plen);
	char *s = src ? strndup(src, slen) : NULL;

	if (!n || (src && !s)) {
		free(s);
		return NULL;
	}
	kids_free(n);
	free(n->src);
	n->has = true;
	n->kind = k;
	n->src = s;
	n->slen = s ? slen : 0;
	return n;
}

/* Undo "from was renamed to to": what is at to moves back to from. */
static int undo_rename(struct pitview *v, const char *from, size_t flen, const char *to,
		       size_t tlen)
{
	struct pnode *tn = find(v, to, tlen, NULL, NULL), *fn, **kids = NULL;
	size_t nk = 0, ck = 0, slen;
	enum pitview_kind k;
	char *src;

	if (pitview_resolve(v, to, tlen, &k, &src, &slen) < 0)
		return -ENOMEM;
	if (tn) {                                /* the overrides beneath to move */
		kids = tn->kids;
		nk = tn->nk;
		ck = tn->ck;
		tn->kids = NULL;
		tn->nk = tn->ck = 0;
	}
	fn = set(v, to, tlen, PITVIEW_ABSENT, NULL, 0) ? set(v, from, flen, k, src, slen) : NULL;
	free(src);
	if (!fn) {
		for (size_t i = 0; i < nk; i++)
			node_free(kids[i]);
		free(kids);
		return -ENOMEM;
	}
	fn->kids = kids;
	fn->nk = nk;
	fn->ck = ck;
	return 0;
}

int pitview_undo(struct pitview *v, const struct vindex_rec *r)
{
	switch (r->op) {
	case VINDEX_CREATE:
		return set(v, r->path, r->len, PITVIEW_ABSENT, NULL, 0) ? 0 : -ENOMEM;
	case VINDEX_OVERWRITE: case VINDEX_DELETE:
		return set(v, r->path, r->len, PITVIEW_STORED, r->stored,
			   strlen(r->stored)) ? 0 : -ENOMEM;
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
	const struct pnode *n = find(v, dir, dlen, NULL, NULL);

	for (size_t i = 0; n && i < n->nk; i++) {
		const struct pnode *k = n->kids[i];
		if (!k->has || k->kind == PITVIEW_ABSENT)
			continue;
		int rc = fn(ctx, k->name, k->nlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}
