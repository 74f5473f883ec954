/* cursors: acknowledgement cursors of a mirror's sinks.  See cursors.h. */
#include "config.h"

#include <stdlib.h>

#include "cursors.h"

struct cursor {
	uint64_t seq;
	bool dropped;
};

struct cursors {
	size_t n;
	uint64_t max;
	struct cursor *v;
};

struct cursors *cursors_new(size_t n, uint64_t seq, uint64_t max)
{
	struct cursors *c = calloc(1, sizeof(*c));

	if (!c || !(c->v = calloc(n ? n : 1, sizeof(*c->v)))) {
		free(c);
		return NULL;
	}
	c->n = n;
	c->max = max ? max : 1;
	cursors_reset(c, seq);
	return c;
}

void cursors_free(struct cursors *c)
{
	if (!c)
		return;
	free(c->v);
	free(c);
}

void cursors_ack(struct cursors *c, size_t i, uint64_t seq)
{
	if (i < c->n && !c->v[i].dropped && seq > c->v[i].seq)
		c->v[i].seq = seq;
}

size_t cursors_drop_behind(struct cursors *c, uint64_t synced, uint64_t *ret_mask)
{
	size_t dropped = 0;
	uint64_t mask = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct cursor *k = &c->v[i];
		if (k->dropped || synced <= k->seq || synced - k->seq <= c->max)
			continue;
		k->dropped = true;
		dropped++;
		if (i < 64)
			mask |= 1ull << i;
	}
	if (ret_mask)
		*ret_mask = mask;
	return dropped;
}

size_t cursors_drop_slowest(struct cursors *c, uint64_t synced, uint64_t *ret_mask)
{
	uint64_t floor = cursors_floor(c, synced), mask = 0;
	size_t dropped = 0;

	for (size_t i = 0; floor < synced && i < c->n; i++) {
		if (c->v[i].dropped || c->v[i].seq != floor)
			continue;
		c->v[i].dropped = true;
		dropped++;
		if (i < 64)
			mask |= 1ull << i;
	}
	if (ret_mask)
		*ret_mask = mask;
	return dropped;
}

uint64_t cursors_floor(const struct cursors *c, uint64_t synced)
{
	uint64_t floor = synced;

	for (size_t i = 0; i < c->n; i++)
		if (!c->v[i].dropped && c->v[i].seq < floor)
			floor = c->v[i].seq;
	return floor;
}

void cursors_rejoin(struct cursors *c, size_t i, uint64_t seq)
{
	if (i < c->n)
		c->v[i] = (struct cursor){ seq, false };
}

void cursors_reset(struct cursors *c, uint64_t seq)
{
	for (size_t i = 0; i < c->n; i++)
		c->v[i] = (struct cursor){ seq, false };
}

uint64_t cursors_get(const struct cursors *c, size_t i)
{
	return i < c->n ? c->v[i].seq : 0;
}

bool cursors_dropped(const struct cursors *c, size_t i)
{
	return i < c->n && c->v[i].dropped;
}

size_t cursors_count(const struct cursors *c)
{
	return c->n;
}
