/* sinkfail: directories to rescan after the sink failed beneath them. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sinkfail.h"

struct dir_try {
	char *dir;
	size_t len;
	unsigned tries;         /* rescans asked for */
	uint64_t due_at;        /* ms; 0 when no rescan is waiting */
	uint64_t last_at;       /* ms of the last failure noted */
	bool logged;            /* given up, and said so */
};

struct sinkfail {
	struct dir_try v[SINKFAIL_MAX];
	size_t n;
	char *handed;           /* the dir sinkfail_due() returned last */
};

struct sinkfail *sinkfail_new(void)
{
	return calloc(1, sizeof(struct sinkfail));
}

void sinkfail_free(struct sinkfail *sf)
{
	if (!sf)
		return;
	for (size_t i = 0; i < sf->n; i++)
		free(sf->v[i].dir);
	free(sf->handed);
	free(sf);
}

static void drop(struct sinkfail *sf, size_t i)
{
	free(sf->v[i].dir);
	sf->v[i] = sf->v[--sf->n];
}

static struct dir_try *find(struct sinkfail *sf, const char *dir, size_t len)
{
	for (size_t i = 0; i < sf->n; i++)
		if (sf->v[i].len == len && memcmp(sf->v[i].dir, dir, len) == 0)
			return &sf->v[i];
	return NULL;
}

/* Room for one more: forget what is old, else the oldest not waiting. */
static bool make_room(struct sinkfail *sf, uint64_t now)
{
	size_t oldest = SIZE_MAX;

	for (size_t i = sf->n; i-- > 0;)
		if (sf->v[i].due_at == 0 && now >= sf->v[i].last_at + SINKFAIL_FORGET_MS)
			drop(sf, i);
	if (sf->n < SINKFAIL_MAX)
		return true;
	for (size_t i = 0; i < sf->n; i++)
		if (sf->v[i].due_at == 0 &&
		    (oldest == SIZE_MAX || sf->v[i].last_at < sf->v[oldest].last_at))
			oldest = i;
	if (oldest == SIZE_MAX)
		return false;
	drop(sf, oldest);
	return true;
}

static uint64_t delay_ms(unsigned tries)
{
	uint64_t ms = SINKFAIL_FIRST_MS;

	while (tries-- > 1)
		ms *= 4;
	return ms;
}

int sinkfail_note(struct sinkfail *sf, const char *dir, size_t len, uint64_t now)
{
	struct dir_try *t = find(sf, dir, len);

	if (t && t->due_at == 0 && now >= t->last_at + SINKFAIL_FORGET_MS) {
		t->tries = 0;           /* quiet for long: a fresh start */
		t->logged = false;
	}
	if (!t) {
		if (!make_room(sf, now))
			return -ENOSPC;
		t = &sf->v[sf->n];
		memset(t, 0, sizeof(*t));
		if (!(t->dir = strndup(dir, len)))
			return -ENOMEM;
		t->len = len;
		sf->n++;
	}
	t->last_at = now;
	if (t->due_at != 0)
		return SINKFAIL_RETRY;  /* the rescan to come covers it */
	if (t->tries >= SINKFAIL_TRIES) {
		bool logged = t->logged;
		t->logged = true;
		return logged ? SINKFAIL_QUIET : SINKFAIL_GIVEN_UP;
	}
	t->tries++;
	t->due_at = now + delay_ms(t->tries);
	return SINKFAIL_RETRY;
}

bool sinkfail_due(struct sinkfail *sf, uint64_t now, const char **ret_dir, size_t *ret_len)
{
	for (size_t i = 0; i < sf->n; i++) {
		struct dir_try *t = &sf->v[i];
		if (t->due_at == 0 || t->due_at > now)
			continue;
		char *d = strndup(t->dir, t->len);
		if (!d)
			return false;   /* tried again at the next turn */
		t->due_at = 0;
		free(sf->handed);
		sf->handed = d;
		*ret_dir = d;
		*ret_len = t->len;
		return true;
	}
	return false;
}

int64_t sinkfail_wait_ms(const struct sinkfail *sf, uint64_t now)
{
	int64_t w = -1;

	for (size_t i = 0; i < sf->n; i++) {
		uint64_t due = sf->v[i].due_at;
		if (due == 0)
			continue;
		int64_t d = due > now ? (int64_t)(due - now) : 0;
		if (w < 0 || d < w)
			w = d;
	}
	return w;
}

bool sinkfail_waiting(const struct sinkfail *sf)
{
	for (size_t i = 0; i < sf->n; i++)
		if (sf->v[i].due_at != 0)
			return true;
	return false;
}
