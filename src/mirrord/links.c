/* links: names of files known to the live source.  See links.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"

struct node {
	uint64_t dev, ino;
	struct node *next;
	struct node *mprev, *mnext;     /* in the list of groups (2+ names) */
	struct links_group g;
	size_t cap;
};

struct links {
	struct node **b;
	size_t nb, n, max;
	struct node *multi;             /* inodes with more than one name */
};

static void multi_update(struct links *k, struct node *n)
{
	bool in = n->mprev || k->multi == n;

	if (n->g.n >= 2 && !in) {
		n->mnext = k->multi;
		if (k->multi)
			k->multi->mprev = n;
		k->multi = n;
	} else if (n->g.n < 2 && in) {
		if (n->mprev)
			n->mprev->mnext = n->mnext;
		else
			k->multi = n->mnext;
		if (n->mnext)
			n->mnext->mprev = n->mprev;
		n->mprev = n->mnext = NULL;
	}
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

static void node_free(struct node *n)
{
	for (size_t i = 0; i < n->g.n; i++)
		free(n->g.v[i]);
	free(n->g.v);
	free(n->g.lens);
	free(n->g.doubt);
	free(n);
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

const struct links_group *links_get(const struct links *k, uint64_t dev, uint64_t ino)
{
	struct node *n = *slot(k, dev, ino);

	return n ? &n->g : NULL;
}

static int name_append(struct node *n, const char *path, size_t len)
{
	if (n->g.n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 2;
		char **v = realloc(n->g.v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		n->g.v = v;
		size_t *lens = realloc(n->g.lens, cap * sizeof(*lens));
		if (!lens)
			return -ENOMEM;
		n->g.lens = lens;
		bool *doubt = realloc(n->g.doubt, cap * sizeof(*doubt));
		if (!doubt)
			return -ENOMEM;
		n->g.doubt = doubt;
		n->cap = cap;
	}
	char *p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, path, len);
	p[len] = '\0';
	n->g.v[n->g.n] = p;
	n->g.doubt[n->g.n] = false;
	n->g.lens[n->g.n++] = len;
	return 0;
}

int links_add(struct links *k, uint64_t dev, uint64_t ino, const char *path, size_t len)
{
	struct node **pp = slot(k, dev, ino), *n = *pp;

	if (!path || memchr(path, 0, len))
		return -EINVAL;
	for (size_t i = 0; n && i < n->g.n; i++) {
		if (n->g.lens[i] == len && memcmp(n->g.v[i], path, len) == 0) {
			n->g.doubt[i] = false;     /* seen again: it is that file */
			return 0;
		}
	}
	if (n && n->g.n >= LINKS_NAMES_MAX)
		return -E2BIG;
	if (!n) {
		if (k->n >= k->max)
			return -ENOSPC;
		if (!(n = calloc(1, sizeof(*n))))
			return -ENOMEM;
		n->dev = dev;
		n->ino = ino;
		int rc = name_append(n, path, len);
		if (rc < 0) {
			node_free(n);
			return rc;
		}
		*pp = n;
		k->n++;
		return 0;
	}
	int rc = name_append(n, path, len);
	multi_update(k, n);
	return rc;
}

int links_set(struct links *k, uint64_t dev, uint64_t ino, const char *path, size_t len)
{
	struct node **pp = slot(k, dev, ino), *n = *pp;

	if (n && n->g.n == 1 && n->g.lens[0] == len && memcmp(n->g.v[0], path, len) == 0)
		return 0;
	if (n) {
		size_t names = n->g.n;
		n->g.n = 0;             /* out of the list of groups */
		multi_update(k, n);
		n->g.n = names;
		*pp = n->next;
		node_free(n);
		k->n--;
	}
	return links_add(k, dev, ino, path, len);
}

bool links_doubt(struct links *k, uint64_t dev, uint64_t ino, size_t i)
{
	struct node *n = *slot(k, dev, ino);

	if (!n || i >= n->g.n || n->g.doubt[i])
		return false;
	n->g.doubt[i] = true;
	return true;
}

void links_drop(struct links *k, uint64_t dev, uint64_t ino, size_t i)
{
	struct node **pp = slot(k, dev, ino), *n = *pp;

	if (!n || i >= n->g.n)
		return;
	free(n->g.v[i]);
	memmove(n->g.v + i, n->g.v + i + 1, (n->g.n - i - 1) * sizeof(*n->g.v));
	memmove(n->g.lens + i, n->g.lens + i + 1, (n->g.n - i - 1) * sizeof(*n->g.lens));
	memmove(n->g.doubt + i, n->g.doubt + i + 1, (n->g.n - i - 1) * sizeof(*n->g.doubt));
	n->g.n--;
	multi_update(k, n);
	if (n->g.n == 0) {
		*pp = n->next;
		node_free(n);
		k->n--;
	}
}

int links_find_name(const struct links *k, const char *path, size_t len, uint64_t dev,
		    uint64_t ino, uint64_t *ret_dev, uint64_t *ret_ino, size_t *ret_i)
{
	for (const struct node *n = k->multi; n; n = n->mnext) {
		if (n->dev == dev && n->ino == ino)
			continue;
		for (size_t i = 0; i < n->g.n; i++) {
			if (n->g.lens[i] == len && memcmp(n->g.v[i], path, len) == 0) {
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

static int name_move(struct links_group *g, size_t i, const char *from, size_t flen,
		     const char *to, size_t tlen)
{
	size_t n = tlen + g->lens[i] - flen;
	char *p = malloc(n + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p, to, tlen);
	memcpy(p + tlen, g->v[i] + flen, g->lens[i] - flen);
	p[n] = '\0';
	free(g->v[i]);
	g->v[i] = p;
	g->lens[i] = n;
	g->doubt[i] = false;
	return 0;
}

int links_rename(struct links *k, const char *from, size_t flen, const char *to, size_t tlen)
{
	for (size_t b = 0; b < k->nb; b++) {
		for (struct node *n = k->b[b]; n; n = n->next) {
			for (size_t i = 0; i < n->g.n; i++) {
				if (under(n->g.v[i], n->g.lens[i], from, flen) &&
				    name_move(&n->g, i, from, flen, to, tlen) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}
