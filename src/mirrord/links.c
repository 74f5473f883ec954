/* links: names of files known to the live source.  See links.h.
 *
 * Most inodes the map holds have one name (every file a pass or a send
 * met is noted, so that a hardlink made to it later finds its first
 * name), so such an inode is one allocation: the node and its name.  An
 * inode with a second name gets a group (the arrays links_get returns);
 * those are few.  A single name is shown through the map's one view. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"

/* An inode with two or more names. */
struct group {
	struct links_group g;
	size_t cap;
	struct node *mprev, *mnext;     /* in the list of groups */
};

struct node {
	struct node *next;
	uint64_t dev, ino;
	struct group *grp;              /* NULL: the one name below */
	uint32_t len;
	bool doubt;
	char name[];                    /* NUL-terminated; unused with grp */
};

struct links {
	struct node **b;
	size_t nb, n, max;
	struct node *multi;             /* inodes with more than one name */
	/* links_get of a one-name inode */
	struct links_group view;
	char *view_v;
	size_t view_len;
};

static void multi_unlink(struct links *k, struct node *n)
{
	struct group *m = n->grp;

	if (m->mprev)
		m->mprev->grp->mnext = m->mnext;
	else
		k->multi = m->mnext;
	if (m->mnext)
		m->mnext->grp->mprev = m->mprev;
	m->mprev = m->mnext = NULL;
}

static size_t bucket(const struct links *k, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev << 21) ^ (dev >> 11)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 17) & (k->nb - 1);
}

struct links *links_new(size_t max_inodes)
{
	struct links *k;
	size_t nb = 64;

	if (max_inodes == 0 || max_inodes > (SIZE_MAX >> 4))
		return NULL;
	while (nb < max_inodes)
		nb <<= 1;
	if (!(k = calloc(1, sizeof(*k))) || !(k->b = calloc(nb, sizeof(*k->b)))) {
		free(k);
		return NULL;
	}
	k->nb = nb;
	k->max = max_inodes;
	return k;
}

static void group_free(struct group *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->g.n; i++)
		free(m->g.v[i]);
	free(m->g.v);
	free(m->g.lens);
	free(m->g.doubt);
	free(m);
}

static void node_free(struct node *n)
{
	group_free(n->grp);
	free(n);
}

static size_t node_names(const struct node *n)
{
	return n->grp ? n->grp->g.n : 1;
}

static const char *node_name(const struct node *n, size_t i, size_t *ret_len)
{
	if (n->grp) {
		*ret_len = n->grp->g.lens[i];
		return n->grp->g.v[i];
	}
	*ret_len = n->len;
	return n->name;
}

static bool node_has(const struct node *n, size_t i, const char *path, size_t len)
{
	size_t l;
	const char *p = node_name(n, i, &l);

	return l == len && memcmp(p, path, len) == 0;
}

void links_clear(struct links *k)
{
	for (size_t i = 0; i < k->nb; i++) {
		while (k->b[i]) {
			struct node *n = k->b[i];
			k->b[i] = n->next;
			node_free(n);
		}
	}
	k->n = 0;
	k->multi = NULL;
}

void links_free(struct links *k)
{
	if (!k)
		return;
	links_clear(k);
	free(k->b);
	free(k);
}

size_t links_count(const struct links *k)
{
	return k->n;
}

static struct node **slot(const struct links *k, uint64_t dev, uint64_t ino)
{
	struct node **pp = &k->b[bucket(k, dev, ino)];

	while (*pp && !((*pp)->dev == dev && (*pp)->ino == ino))
		pp = &(*pp)->next;
	return pp;
}

const struct links_group *links_get(struct links *k, uint64_t dev, uint64_t ino)
{
	struct node *n = *slot(k, dev, ino);

	if (!n)
		return NULL;
	if (n->grp)
		return &n->grp->g;
	k->view_v = n->name;
	k->view_len = n->len;
	k->view.v = &k->view_v;
	k->view.lens = &k->view_len;
	k->view.doubt = &n->doubt;
	k->view.n = 1;
	return &k->view;
}

static int group_append(struct group *m, const char *path, size_t len, bool doubt)
{
	struct links_group *g = &m->g;

	if (g->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 2;
		char **v = realloc(g->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->v = v;
		size_t *lens = realloc(g->lens, cap * sizeof(*lens));
		if (!lens)
			return -ENOMEM;
		g->lens = lens;
		bool *d = realloc(g->doubt, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		g->doubt = d;
		m->cap = cap;
	}
	char *p = strndup(path, len);
	if (!p)
		return -ENOMEM;
	g->v[g->n] = p;
	g->doubt[g->n] = doubt;
	g->lens[g->n++] = len;
	return 0;
}

/* A one-name node with name path: its bucket's *pp. */
static int node_new(struct links *k, struct node **pp, uint64_t dev, uint64_t ino,
		    const char *path, size_t len)
{
	struct node *n;

	if (k->n >= k->max)
		return -ENOSPC;
	if (len > UINT32_MAX || !(n = malloc(offsetof(struct node, name) + len + 1)))
		return -ENOMEM;
	n->next = NULL;
	n->dev = dev;
	n->ino = ino;
	n->grp = NULL;
	n->len = (uint32_t)len;
	n->doubt = false;
	memcpy(n->name, path, len);
	n->name[len] = '\0';
	*pp = n;
	k->n++;
	return 0;
}

/* A one-name node gets its second name: into a group. */
static int group_make(struct links *k, struct node *n, const char *path, size_t len)
{
	struct group *m = calloc(1, sizeof(*m));

	if (!m || group_append(m, n->name, n->len, n->doubt) < 0 ||
	    group_append(m, path, len, false) < 0) {
		group_free(m);
		return -ENOMEM;
	}
	n->grp = m;
	m->mnext = k->multi;
	if (k->multi)
		k->multi->grp->mprev = n;
	k->multi = n;
	return 0;
}

int links_add(struct links *k, uint64_t dev, uint64_t ino, const char *path, size_t len)
{
	struct node **pp = slot(k, dev, ino), *n = *pp;

	if (!path || memchr(path, 0, len))
		return -EINVAL;
	if (!n)
		return node_new(k, pp, dev, ino, path, len);
	for (size_t i = 0; i < node_names(n); i++) {
		if (node_has(n, i, path, len)) {
			/* seen again: it is that file */
			*(n->grp ? &n->grp->g.doubt[i] : &n->doubt) = false;
			return 0;
		}
	}
	if (node_names(n) >= LINKS_NAMES_MAX)
		return -E2BIG;
	if (!n->grp)
		return group_make(k, n, path, len);
	return group_append(n->grp, path, len, false);
}

/* Take node *pp out of the map and free it. */
static void node_remove(struct links *k, struct node **pp)
{
	struct node *n = *pp;

	if (n->grp)
		multi_unlink(k, n);
	*pp = n->next;
	node_free(n);
	k->n--;
}

int links_set(struct links *k, uint64_t dev, uint64_t ino, const char *path, size_t len)
{
	struct node **pp = slot(k, dev, ino), *n = *pp;

	if (n && node_names(n) == 1 && node_has(n, 0, path, len))
		return 0;
	if (n)
		node_remove(k, pp);
	return links_add(k, dev, ino, path, len);
}

bool links_doubt(struct links *k, uint64_t dev, uint64_t ino, size_t i)
{
	struct node *n = *slot(k, dev, ino);

	if (!n || i >= node_names(n))
		return false;
	bool *d = n->grp ? &n->grp->g.doubt[i] : &n->doubt;
	if (*d)
		return false;
	*d = true;
	return true;
}

/* A group down to one name stays a group: it had others, and the view
 * of a group is stable while the caller walks it. */
void links_drop(struct links *k, uint64_t dev, uint64_t ino, size_t i)
{
	struct node **pp = slot(k, dev, ino), *n = *pp;

	if (!n || i >= node_names(n))
		return;
	if (!n->grp || n->grp->g.n == 1) {
		node_remove(k, pp);
		return;
	}
	struct links_group *g = &n->grp->g;
	free(g->v[i]);
	memmove(g->v + i, g->v + i + 1, (g->n - i - 1) * sizeof(*g->v));
	memmove(g->lens + i, g->lens + i + 1, (g->n - i - 1) * sizeof(*g->lens));
	memmove(g->doubt + i, g->doubt + i + 1, (g->n - i - 1) * sizeof(*g->doubt));
	g->n--;
}

int links_find_name(const struct links *k, const char *path, size_t len, uint64_t dev,
		    uint64_t ino, uint64_t *ret_dev, uint64_t *ret_ino, size_t *ret_i)
{
	for (const struct node *n = k->multi; n; n = n->grp->mnext) {
		if ((n->dev == dev && n->ino == ino) || n->grp->g.n < 2)
			continue;
		for (size_t i = 0; i < n->grp->g.n; i++) {
			if (node_has(n, i, path, len)) {
				*ret_dev = n->dev;
				*ret_ino = n->ino;
				*ret_i = i;
				return 1;
			}
		}
	}
	return 0;
}

static bool under(const char *p, size_t len, const char *dir, size_t dlen)
{
	return len >= dlen && memcmp(p, dir, dlen) == 0 && (len == dlen || p[dlen] == '/');
}

/* to + what follows from in the name p (len bytes); heap. */
static char *moved(const char *p, size_t len, size_t flen, const char *to, size_t tlen,
		   size_t *ret_len)
{
	size_t n = tlen + len - flen;
	char *q = malloc(n + 1);

	if (!q)
		return NULL;
	memcpy(q, to, tlen);
	memcpy(q + tlen, p + flen, len - flen);
	q[n] = '\0';
	*ret_len = n;
	return q;
}

/* Name i of the group of n moved; the group's arrays stay where they are. */
static int group_move(struct group *m, size_t i, size_t flen, const char *to, size_t tlen)
{
	size_t n;
	char *p = moved(m->g.v[i], m->g.lens[i], flen, to, tlen, &n);

	if (!p)
		return -ENOMEM;
	free(m->g.v[i]);
	m->g.v[i] = p;
	m->g.lens[i] = n;
	m->g.doubt[i] = false;
	return 0;
}

/* The one name of *pp moved: the node is made anew (its name is in it). */
static int node_move(struct node **pp, size_t flen, const char *to, size_t tlen)
{
	struct node *o = *pp, *n;
	size_t len;
	char *p = moved(o->name, o->len, flen, to, tlen, &len);

	if (!p)
		return -ENOMEM;
	n = len <= UINT32_MAX ? malloc(offsetof(struct node, name) + len + 1) : NULL;
	if (!n) {
		free(p);
		return -ENOMEM;
	}
	*n = *o;
	n->len = (uint32_t)len;
	n->doubt = false;
	memcpy(n->name, p, len + 1);
	free(p);
	*pp = n;
	free(o);
	return 0;
}

int links_rename(struct links *k, const char *from, size_t flen, const char *to, size_t tlen)
{
	for (size_t b = 0; b < k->nb; b++) {
		for (struct node **pp = &k->b[b]; *pp; pp = &(*pp)->next) {
			struct node *n = *pp;

			if (!n->grp) {
				if (under(n->name, n->len, from, flen) &&
				    node_move(pp, flen, to, tlen) < 0)
					return -ENOMEM;
				continue;
			}
			for (size_t i = 0; i < n->grp->g.n; i++) {
				if (under(n->grp->g.v[i], n->grp->g.lens[i], from, flen) &&
				    group_move(n->grp, i, flen, to, tlen) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}
