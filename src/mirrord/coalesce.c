/* coalesce: the live source's dirty set.  See coalesce.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coalesce.h"

struct item {
	enum coalesce_kind kind;
	bool created, ready;
	char *path, *to;
	size_t len, to_len;
	uint64_t due;
	struct item *prev, *next;       /* in settling or ready */
	struct item *hnext;             /* hash chain (PATH items only) */
};

struct list {
	struct item *head, *tail;
};

struct move {
	bool used;
	uint32_t cookie;
	char *path;
	size_t len;
	uint64_t expires;
};

struct coalesce {
	size_t max, count;
	uint32_t delay;
	struct item **table;
	size_t mask;
	struct list settling, ready;
	struct move moves[COALESCE_MOVES];
	unsigned move_next;
	struct coalesce_stats stats;
};

/* ---- lists and hash ---- */

static void list_unlink(struct list *l, struct item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		l->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		l->tail = it->prev;
	it->prev = it->next = NULL;
}

static void list_append(struct list *l, struct item *it)
{
	it->prev = l->tail;
	it->next = NULL;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
}

static size_t hash_path(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;      /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct item **slot_of(struct coalesce *c, const char *p, size_t len)
{
	struct item **pp = &c->table[hash_path(p, len) & c->mask];

	while (*pp && !((*pp)->len == len && memcmp((*pp)->path, p, len) == 0))
		pp = &(*pp)->hnext;
	return pp;
}

static void hash_del(struct coalesce *c, struct item *it)
{
	struct item **pp = slot_of(c, it->path, it->len);

	if (*pp == it)
		*pp = it->hnext;
	it->hnext = NULL;
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->path);
	free(it->to);
	free(it);
}

struct coalesce *coalesce_new(size_t max_items, uint32_t delay_ms)
{
	struct coalesce *c;
	size_t n = 64;

	if (max_items == 0 || max_items > (SIZE_MAX >> 4))
		return NULL;
	while (n < max_items * 2)
		n <<= 1;
	if (!(c = calloc(1, sizeof(*c))) || !(c->table = calloc(n, sizeof(*c->table)))) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	c->max = max_items;
	c->delay = delay_ms;
	return c;
}

static void moves_clear(struct coalesce *c)
{
	for (unsigned i = 0; i < COALESCE_MOVES; i++) {
		free(c->moves[i].path);
		memset(&c->moves[i], 0, sizeof(c->moves[i]));
	}
}

void coalesce_clear(struct coalesce *c)
{
	struct list *ls[2] = { &c->settling, &c->ready };

	for (int i = 0; i < 2; i++) {
		while (ls[i]->head) {
			struct item *it = ls[i]->head;
			list_unlink(ls[i], it);
			item_free(it);
		}
	}
	memset(c->table, 0, (c->mask + 1) * sizeof(*c->table));
	c->count = 0;
	moves_clear(c);
}

void coalesce_free(struct coalesce *c)
{
	if (!c)
		return;
	coalesce_clear(c);
	free(c->table);
	free(c);
}

size_t coalesce_count(const struct coalesce *c)
{
	return c->count;
}

const struct coalesce_stats *coalesce_stats(const struct coalesce *c)
{
	return &c->stats;
}

void coalesce_item_clear(struct coalesce_item *it)
{
	free(it->path);
	free(it->to);
	memset(it, 0, sizeof(*it));
}

/* ---- touch ---- */

static void make_ready(struct coalesce *c, struct item *it)
{
	if (it->ready)
		return;
	list_unlink(&c->settling, it);
	it->ready = true;
	list_append(&c->ready, it);
}

/* A new directory must reach the sink before a file closed inside it. */
static void ancestors_ready(struct coalesce *c, const char *path, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (path[i] != '/')
			continue;
		struct item *a = *slot_of(c, path, i);
		if (a && a->created)
			make_ready(c, a);
	}
}

int coalesce_touch(struct coalesce *c, const char *path, size_t len, unsigned flags,
		   uint64_t now)
{
	struct item **pp, *it;

	if (!path || memchr(path, 0, len))
		return -EINVAL;
	c->stats.touches++;
	if (flags & COALESCE_CLOSED)
		ancestors_ready(c, path, len);
	pp = slot_of(c, path, len);
	if ((it = *pp)) {
		c->stats.merged++;
		if (flags & COALESCE_CLOSED)
			make_ready(c, it);
		else if (!it->ready && !it->created) {
			list_unlink(&c->settling, it);
			it->due = now + c->delay;
			list_append(&c->settling, it);
		}
		return 0;
	}
	if (c->count >= c->max)
		return -ENOSPC;
	if (!(it = calloc(1, sizeof(*it))) || !(it->path = malloc(len + 1))) {
		free(it);
		return -ENOMEM;
	}
	memcpy(it->path, path, len);
	it->path[len] = '\0';
	it->len = len;
	it->kind = COALESCE_PATH;
	it->created = flags & COALESCE_CREATED;
	it->due = now + c->delay;
	*pp = it;
	c->count++;
	if (flags & COALESCE_CLOSED) {
		it->ready = true;
		list_append(&c->ready, it);
	} else {
		list_append(&c->settling, it);
	}
	return 0;
}

/* ---- renames ---- */

static bool under(const char *p, size_t len, const char *dir, size_t dlen)
{
	if (dlen == 0)
		return true;
	return len >= dlen && memcmp(p, dir, dlen) == 0 && (len == dlen || p[dlen] == '/');
}

/* from/... -> to/...; 0 or -ENOMEM (the item is left as it was). */
static int rewrite(struct item *it, const char *from, size_t flen, const char *to, size_t tlen)
{
	size_t n = tlen + (it->len - flen);
	char *p = malloc(n + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p, to, tlen);
	memcpy(p + tlen, it->path + flen, it->len - flen);
	p[n] = '\0';
	free(it->path);
	it->path = p;
	it->len = n;
	return 0;
}

static int rename_pending(struct coalesce *c, const char *from, size_t flen, const char *to,
			  size_t tlen)
{
	struct list moved = { 0 };
	struct list *ls[2] = { &c->ready, &c->settling };
	int rc = 0;

	/* take the items under from out of both lists and the hash */
	for (int i = 0; i < 2; i++) {
		for (struct item *it = ls[i]->head, *nx; it; it = nx) {
			nx = it->next;
			if (it->kind != COALESCE_PATH || !under(it->path, it->len, from, flen))
				continue;
			list_unlink(ls[i], it);
			hash_del(c, it);
			list_append(&moved, it);
		}
	}
	/* everything else pending goes out before the rename */
	while (c->settling.head)
		make_ready(c, c->settling.head);
	/* the moved items follow, under their new names; an item already
	 * pending at the new name wins (it is re-stat'ed when sent anyway) */
	while (moved.head) {
		struct item *it = moved.head, **pp;
		list_unlink(&moved, it);
		if ((rc == 0 && (rc = rewrite(it, from, flen, to, tlen)) < 0) || rc < 0 ||
		    *(pp = slot_of(c, it->path, it->len))) {
			c->count--;
			item_free(it);
			continue;
		}
		*pp = it;
		it->ready = false;
		list_append(&c->settling, it);
	}
	return rc;
}

static int do_rename(struct coalesce *c, const char *from, size_t flen, const char *to,
		     size_t tlen, uint64_t now)
{
	struct item *src = *slot_of(c, from, flen), *r;
	bool elide = src && src->created;
	int rc;

	if (!elide && c->count >= c->max)
		return -ENOSPC;
	if ((rc = rename_pending(c, from, flen, to, tlen)) < 0)
		return rc;
	if (elide) {
		c->stats.renames_elided++;
	} else {
		if (!(r = calloc(1, sizeof(*r))) || !(r->path = malloc(flen + 1)) ||
		    !(r->to = malloc(tlen + 1))) {
			item_free(r);
			return -ENOMEM;
		}
		r->kind = COALESCE_RENAME;
		memcpy(r->path, from, flen);
		r->path[flen] = '\0';
		memcpy(r->to, to, tlen);
		r->to[tlen] = '\0';
		r->len = flen;
		r->to_len = tlen;
		r->ready = true;
		r->due = now;
		/* the rename goes before the moved items, which are settling */
		list_append(&c->ready, r);
		c->count++;
		c->stats.renames++;
	}
	if ((rc = coalesce_touch(c, to, tlen, elide ? COALESCE_CREATED : 0, now)) < 0)
		return rc;
	/* from was never sent as a change, but a listing read at send time
	 * (a start-up or reconciliation pass over its directory) may have
	 * sent it; so may an elided rename that made it, over an older from
	 * the sink has: from is sent by its state (absent: a delete) */
	return elide ? coalesce_touch(c, from, flen, 0, now) : 0;
}

static int move_expire(struct coalesce *c, struct move *m, uint64_t now)
{
	int rc = coalesce_touch(c, m->path, m->len, 0, now);

	c->stats.moves_out++;
	free(m->path);
	memset(m, 0, sizeof(*m));
	return rc;
}

int coalesce_moved_from(struct coalesce *c, uint32_t cookie, const char *path, size_t len,
			uint64_t now)
{
	struct move *m = &c->moves[c->move_next++ % COALESCE_MOVES];
	int rc = 0;

	if (!path || memchr(path, 0, len))
		return -EINVAL;
	if (m->used && (rc = move_expire(c, m, now)) < 0)
		return rc;
	if (!(m->path = malloc(len + 1)))
		return coalesce_touch(c, path, len, 0, now);
	memcpy(m->path, path, len);
	m->path[len] = '\0';
	m->len = len;
	m->cookie = cookie;
	m->expires = now + c->delay;
	m->used = true;
	return 0;
}

int coalesce_moved_to(struct coalesce *c, uint32_t cookie, const char *path, size_t len,
		      uint64_t now)
{
	if (!path || memchr(path, 0, len))
		return -EINVAL;
	for (unsigned i = 0; i < COALESCE_MOVES; i++) {
		struct move *m = &c->moves[i];
		if (!m->used || m->cookie != cookie)
			continue;
		int rc = 0;
		if (m->len != len || memcmp(m->path, path, len) != 0)
			rc = do_rename(c, m->path, m->len, path, len, now);
		free(m->path);
		memset(m, 0, sizeof(*m));
		return rc;
	}
	c->stats.moves_in++;
	return coalesce_touch(c, path, len, COALESCE_CREATED, now);
}

bool coalesce_move_pending(const struct coalesce *c, uint32_t cookie)
{
	for (unsigned i = 0; i < COALESCE_MOVES; i++)
		if (c->moves[i].used && c->moves[i].cookie == cookie)
			return true;
	return false;
}

/* ---- output ---- */

int coalesce_pop(struct coalesce *c, uint64_t now, struct coalesce_item *ret)
{
	struct item *it;
	int rc;

	for (unsigned i = 0; i < COALESCE_MOVES; i++)
		if (c->moves[i].used && c->moves[i].expires <= now &&
		    (rc = move_expire(c, &c->moves[i], now)) < 0)
			return rc;
	while (c->settling.head && c->settling.head->due <= now)
		make_ready(c, c->settling.head);
	if (!(it = c->ready.head))
		return 0;
	list_unlink(&c->ready, it);
	if (it->kind == COALESCE_PATH)
		hash_del(c, it);
	c->count--;
	c->stats.popped++;
	*ret = (struct coalesce_item){ .kind = it->kind, .created = it->created,
				       .path = it->path, .len = it->len, .to = it->to,
				       .to_len = it->to_len };
	free(it);
	return 1;
}

int64_t coalesce_wait_ms(const struct coalesce *c, uint64_t now)
{
	int64_t best = -1;

	if (c->ready.head)
		return 0;
	if (c->settling.head)
		best = c->settling.head->due <= now ? 0 : (int64_t)(c->settling.head->due - now);
	for (unsigned i = 0; i < COALESCE_MOVES; i++) {
		if (!c->moves[i].used)
			continue;
		int64_t w = c->moves[i].expires <= now ? 0 : (int64_t)(c->moves[i].expires - now);
		if (best < 0 || w < best)
			best = w;
	}
	return best;
}
