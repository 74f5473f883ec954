/* grow: open growing files of the live source.  See grow.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"

/* What one sink holds of a file. */
struct gsink {
	uint64_t shipped;          /* it holds our first bytes (if known) */
	uint32_t inflight;         /* shipments not answered yet */
	bool known;
};

struct gfile {
	char *path;                /* NULL: free slot */
	size_t len;
	uint64_t ino;
	uint64_t due;              /* next pass (ms), 0 = not armed */
	uint64_t used;             /* order of the last modification */
	bool open;
	struct gsink *s;           /* nsinks of them */
};

struct grow {
	struct gfile *v;
	struct gsink *sinks;       /* max * nsinks, file i's at i * nsinks */
	size_t max, nsinks;
	uint32_t interval_ms;
	uint64_t clock;
};

struct grow *grow_new(size_t max, size_t nsinks, uint32_t interval_ms)
{
	struct grow *g = max && nsinks ? calloc(1, sizeof(*g)) : NULL;

	if (!g)
		return NULL;
	if (!(g->v = calloc(max, sizeof(*g->v))) ||
	    !(g->sinks = calloc(max * nsinks, sizeof(*g->sinks)))) {
		free(g->v);
		free(g);
		return NULL;
	}
	g->max = max;
	g->nsinks = nsinks;
	g->interval_ms = interval_ms;
	for (size_t i = 0; i < max; i++)
		g->v[i].s = g->sinks + i * nsinks;
	return g;
}

static void drop(struct grow *g, struct gfile *f)
{
	struct gsink *s = f->s;

	free(f->path);
	memset(s, 0, g->nsinks * sizeof(*s));
	*f = (struct gfile){ .s = s };
}

static bool busy(const struct grow *g, const struct gfile *f)
{
	for (size_t i = 0; i < g->nsinks; i++)
		if (f->s[i].inflight > 0)
			return true;
	return false;
}

void grow_free(struct grow *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->max; i++)
		free(g->v[i].path);
	free(g->v);
	free(g->sinks);
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
		if (!busy(g, f) && (!best || f->used < best->used))
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
		drop(g, f);
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
		drop(g, f);
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

enum grow_verdict grow_decide(struct grow *g, size_t sink, const char *path, size_t len,
			      uint64_t ino, uint32_t nlink, uint64_t size, uint64_t now,
			      uint64_t *ret_base)
{
	struct gfile *f = sink < g->nsinks ? find(g, path, len) : NULL;

	if (!f || nlink > 1)
		return GROW_SEND;
	if (f->ino != ino) {
		f->ino = ino;           /* another file now: no sink holds it */
		for (size_t i = 0; i < g->nsinks; i++)
			f->s[i].known = false;
	}
	struct gsink *s = &f->s[sink];
	if (f->open && s->inflight > 0) {
		if (f->due == 0)        /* the answer is near: look again next pass */
			f->due = now + g->interval_ms;
		return GROW_SKIP;
	}
	if (f->open && s->known && size < s->shipped)
		return GROW_SKIP;       /* shrank: wait for the close */
	s->inflight++;
	if (f->open && s->known && size > s->shipped) {
		*ret_base = s->shipped;
		return GROW_APPEND;
	}
	return GROW_SEND;
}

void grow_answered(struct grow *g, size_t sink, const char *path, size_t len, uint64_t ino,
		   uint64_t size, int status)
{
	struct gfile *f = sink < g->nsinks ? find(g, path, len) : NULL;

	if (!f)
		return;
	struct gsink *s = &f->s[sink];
	if (s->inflight > 0)
		s->inflight--;
	if (f->ino != ino)
		return;
	s->known = status == 0;
	if (status == 0)
		s->shipped = size;
}

void grow_reset(struct grow *g, size_t sink)
{
	for (size_t i = 0; sink < g->nsinks && i < g->max; i++) {
		g->v[i].s[sink].inflight = 0;
		g->v[i].s[sink].known = false;
	}
}

size_t grow_count(const struct grow *g)
{
	size_t n = 0;

	for (size_t i = 0; i < g->max; i++)
		n += g->v[i].path != NULL;
	return n;
}
