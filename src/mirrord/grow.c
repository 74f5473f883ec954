/* grow: open growing files of the live source.  See grow.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"

struct gfile {
	char *path;                /* NULL: free slot */
	size_t len;
	uint64_t ino;
	uint64_t shipped;          /* the sink holds our first bytes (if known) */
	uint64_t due;              /* next pass (ms), 0 = not armed */
	uint64_t used;             /* order of the last modification */
	uint32_t inflight;         /* shipments not answered yet */
	bool open, known;
};

struct grow {
	struct gfile *v;
	size_t max;
	uint32_t interval_ms;
	uint64_t clock;
};

struct grow *grow_new(size_t max, uint32_t interval_ms)
{
	struct grow *g = max ? calloc(1, sizeof(*g)) : NULL;

	if (!g)
		return NULL;
	if (!(g->v = calloc(max, sizeof(*g->v)))) {
		free(g);
		return NULL;
	}
	g->max = max;
	g->interval_ms = interval_ms;
	return g;
}

static void drop(struct gfile *f)
{
	free(f->path);
	memset(f, 0, sizeof(*f));
}

void grow_free(struct grow *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->max; i++)
		drop(&g->v[i]);
	free(g->v);
	free(g);
}

static struct gfile *find(const struct grow *g, const char *path, size_t len)
{
	for (size_t i = 0; i < g->max; i++) {
		struct gfile *f = &g->v[i];
		if (f->path && f->len == len && memcmp(f->path, path, len) == 0)
			return f;
	}
	return NULL;
}

/* A free slot, else the least recently modified with nothing in flight. */
static struct gfile *victim(const struct grow *g)
{
	struct gfile *best = NULL;

	for (size_t i = 0; i < g->max; i++) {
		struct gfile *f = &g->v[i];
		if (!f->path)
			return f;
		if (f->inflight == 0 && (!best || f->used < best->used))
			best = f;
	}
	return best;
}

bool grow_modified(struct grow *g, const char *path, size_t len, uint64_t now)
{
	struct gfile *f = find(g, path, len);

	if (!f) {
		char *p = malloc(len + 1);
		if (!p || !(f = victim(g))) {
			free(p);
			return false;
		}
		drop(f);
		memcpy(p, path, len);
		p[len] = '\0';
		f->path = p;
		f->len = len;
	}
	f->open = true;
	f->used = ++g->clock;
	if (f->due == 0)
		f->due = now + g->interval_ms;
	return true;
}

void grow_closed(struct grow *g, const char *path, size_t len)
{
	struct gfile *f = find(g, path, len);

	if (f) {
		f->open = false;
		f->due = 0;
	}
}

void grow_forget(struct grow *g, const char *path, size_t len)
{
	struct gfile *f = find(g, path, len);

	if (f)
		drop(f);
}

int grow_next_due(struct grow *g, uint64_t now, const char **ret_path, size_t *ret_len)
{
	for (size_t i = 0; i < g->max; i++) {
		struct gfile *f = &g->v[i];
		if (f->path && f->open && f->due && f->due <= now) {
			f->due = 0;
			*ret_path = f->path;
			*ret_len = f->len;
			return 1;
		}
	}
	return 0;
}

int64_t grow_wait_ms(const struct grow *g, uint64_t now)
{
	int64_t t = -1;

	for (size_t i = 0; i < g->max; i++) {
		const struct gfile *f = &g->v[i];
		if (!f->path || !f->open || !f->due)
			continue;
		int64_t w = f->due > now ? (int64_t)(f->due - now) : 0;
		if (t < 0 || w < t)
			t = w;
	}
	return t;
}

enum grow_verdict grow_decide(struct grow *g, const char *path, size_t len, uint64_t ino,
			      uint32_t nlink, uint64_t size, uint64_t now, uint64_t *ret_base)
{
	struct gfile *f = find(g, path, len);

	if (!f || nlink > 1)
		return GROW_SEND;
	if (f->ino != ino) {
		f->ino = ino;           /* another file now: nothing known about it */
		f->known = false;
	}
	if (f->open && f->inflight > 0) {
		if (f->due == 0)        /* the answer is near: look again next pass */
			f->due = now + g->interval_ms;
		return GROW_SKIP;
	}
	if (f->open && f->known && size < f->shipped)
		return GROW_SKIP;       /* shrank: wait for the close */
	f->inflight++;
	if (f->open && f->known && size > f->shipped) {
		*ret_base = f->shipped;
		return GROW_APPEND;
	}
	return GROW_SEND;
}

void grow_answered(struct grow *g, const char *path, size_t len, uint64_t ino, uint64_t size,
		   int status)
{
	struct gfile *f = find(g, path, len);

	if (!f)
		return;
	if (f->inflight > 0)
		f->inflight--;
	if (f->ino != ino)
		return;
	f->known = status == 0;
	if (status == 0)
		f->shipped = size;
}

void grow_reset(struct grow *g)
{
	for (size_t i = 0; i < g->max; i++) {
		g->v[i].inflight = 0;
		g->v[i].known = false;
	}
}

size_t grow_count(const struct grow *g)
{
	size_t n = 0;

	for (size_t i = 0; i < g->max; i++)
		n += g->v[i].path != NULL;
	return n;
}
