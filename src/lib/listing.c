/* listing: the sink's names of the directories being listed (listing.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listing.h"
#include "path.h"

struct slot {
	char *dir;              /* NULL: free */
	size_t dir_len;
	char **v;
	size_t n, cap;
	uint64_t used;          /* when a name was last noted (LRU) */
};

struct lost {
	char *dir;
	size_t len;
};

struct listing {
	struct slot s[LISTING_DIRS];
	struct lost lost[LISTING_LOST_MAX];
	size_t lost_next;       /* the ring's oldest (next overwritten) */
	uint64_t clock;
	uint64_t done_at;       /* clock at the last DIR_DONE */
	const struct slot *last;  /* of the last name noted (freed: dir NULL) */
};

struct listing *listing_new(void)
{
	return calloc(1, sizeof(struct listing));
}

static void slot_free(struct slot *sl)
{
	for (size_t i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	free(sl->dir);
	*sl = (struct slot){ 0 };
}

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return a && alen == blen && memcmp(a, b, blen) == 0;
}

static struct slot *slot_find(struct listing *ls, const char *dir, size_t len)
{
	for (size_t i = 0; i < LISTING_DIRS; i++)
		if (same(ls->s[i].dir, ls->s[i].dir_len, dir, len))
			return &ls->s[i];
	return NULL;
}

static struct lost *lost_find(struct listing *ls, const char *dir, size_t len)
{
	for (size_t i = 0; i < LISTING_LOST_MAX; i++)
		if (same(ls->lost[i].dir, ls->lost[i].len, dir, len))
			return &ls->lost[i];
	return NULL;
}

static void lost_drop(struct lost *lo)
{
	if (!lo)
		return;
	free(lo->dir);
	*lo = (struct lost){ 0 };
}

/* sl's names give way: its directory is marked (the slot's path moves),
 * unless no name of it came since the last DIR_DONE: listings follow one
 * another, so those names are not a listing under way (operations sent
 * between listings, or a listing cut short by a pass that starts over). */
static void evict(struct listing *ls, struct slot *sl)
{
	struct lost *lo = &ls->lost[ls->lost_next];

	if (sl->used <= ls->done_at) {
		slot_free(sl);
		return;
	}
	ls->lost_next = (ls->lost_next + 1) % LISTING_LOST_MAX;
	free(lo->dir);
	*lo = (struct lost){ sl->dir, sl->dir_len };
	sl->dir = NULL;
	slot_free(sl);
}

/* The slot for dir, taken (the least recently used giving way) if none. */
static struct slot *slot_take(struct listing *ls, const char *dir, size_t len)
{
	struct slot *sl = slot_find(ls, dir, len), *old = NULL;

	if (sl)
		return sl;
	for (size_t i = 0; i < LISTING_DIRS && !sl; i++)
		if (!ls->s[i].dir)
			sl = &ls->s[i];
		else if (!old || ls->s[i].used < old->used)
			old = &ls->s[i];
	if (!sl) {
		evict(ls, old);
		sl = old;
	}
	/* dir_len 0 (the root) still needs a non-NULL dir */
	if (!(sl->dir = malloc(len + 1)))
		return NULL;
	memcpy(sl->dir, dir, len);
	sl->dir[len] = '\0';
	sl->dir_len = len;
	return sl;
}

int listing_note(struct listing *ls, const char *path, size_t len)
{
	size_t dlen = path_dirlen(path, len);
	const char *name = path + dlen + (dlen > 0);
	struct slot *sl = slot_take(ls, path, dlen);

	if (!sl)
		return -ENOMEM;
	if (sl->n == sl->cap) {
		size_t cap = sl->cap ? sl->cap * 2 : 64;
		char **v = realloc(sl->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		sl->v = v;
		sl->cap = cap;
	}
	if (!(sl->v[sl->n] = strndup(name, len - (size_t)(name - path))))
		return -ENOMEM;
	sl->n++;
	sl->used = ++ls->clock;
	ls->last = sl;
	return 0;
}

void listing_dir_entry(struct listing *ls, const char *dir, size_t len)
{
	struct slot *sl = slot_find(ls, dir, len);

	if (sl)
		slot_free(sl);
	lost_drop(lost_find(ls, dir, len));
}

bool listing_current(const struct listing *ls, const char *dir, size_t len)
{
	return ls->last && same(ls->last->dir, ls->last->dir_len, dir, len);
}

void listing_reset(struct listing *ls)
{
	for (size_t i = 0; i < LISTING_DIRS; i++)
		slot_free(&ls->s[i]);
	for (size_t i = 0; i < LISTING_LOST_MAX; i++)
		lost_drop(&ls->lost[i]);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum listing_end listing_done(struct listing *ls, const char *dir, size_t len,
			      struct listing_names *ret)
{
	struct slot *sl = slot_find(ls, dir, len);
	struct lost *lo = lost_find(ls, dir, len);
	enum listing_end end = lo ? LISTING_LOST : sl ? LISTING_NAMES : LISTING_EMPTY;

	*ret = (struct listing_names){ 0 };
	ls->done_at = ls->clock;
	if (sl && end == LISTING_NAMES) {
		qsort(sl->v, sl->n, sizeof(*sl->v), cmp_str);
		*ret = (struct listing_names){ sl->v, sl->n };
		sl->v = NULL;
		sl->n = 0;
	}
	if (sl)
		slot_free(sl);
	lost_drop(lo);
	return end;
}

bool listing_names_has(const struct listing_names *ns, const char *name, size_t nlen)
{
	size_t lo = 0, hi = ns->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *v = ns->v[mid];
		int c = strncmp(name, v, nlen);
		if (c == 0 && v[nlen] == '\0')
			return true;
		if (c < 0 || (c == 0 && v[nlen] != '\0'))
			hi = mid;       /* name sorts before v (or is its prefix) */
		else
			lo = mid + 1;
	}
	return false;
}

void listing_names_free(struct listing_names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	*ns = (struct listing_names){ 0 };
}

void listing_free(struct listing *ls)
{
	if (!ls)
		return;
	listing_reset(ls);
	free(ls);
}
