/* verify: compare content digests of both trees.  See verify.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "treedigest.h"
#include "verify.h"

struct rec {
	char *path;
	uint8_t type;
	bool seen;
	uint64_t size;
	uint8_t digest[HASH_LEN];
};

struct set {
	const char *mirror;
	struct rec *v;
	size_t n, cap;
	uint64_t differ;
};

static int add_remote(void *ctx, const struct restlist_digest *d)
{
	struct set *s = ctx;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		if (cap > VERIFY_MAX_ENTRIES)
			return -E2BIG;
		struct rec *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	struct rec *r = &s->v[s->n];
	if (!(r->path = strndup(d->path, d->len)))
		return -ENOMEM;
	r->type = d->type;
	r->size = d->size;
	r->seen = false;
	memcpy(r->digest, d->digest, HASH_LEN);
	s->n++;
	return 0;
}

static int cmp_rec(const void *a, const void *b)
{
	return strcmp(((const struct rec *)a)->path, ((const struct rec *)b)->path);
}

static void differ(struct set *s, const char *what, const char *path, size_t len)
{
	if (s->differ++ < VERIFY_PRINT_MAX)
		printf("mirror %s: verify: %s: %.*s\n", s->mirror, what, (int)len, path);
}

static int check_local(void *ctx, const struct restlist_digest *d)
{
	struct set *s = ctx;
	struct rec key = { .path = strndup(d->path, d->len) };

	if (!key.path)
		return -ENOMEM;
	struct rec *r = bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_rec);
	free(key.path);
	if (!r) {
		differ(s, "only on this node", d->path, d->len);
		return 0;
	}
	r->seen = true;
	if (r->type != d->type)
		differ(s, "type differs", d->path, d->len);
	else if (r->size != d->size || memcmp(r->digest, d->digest, HASH_LEN) != 0)
		differ(s, "content differs", d->path, d->len);
	return 0;
}

int verify_content(const struct conf *c, const struct conf_mirror *m, int rootfd,
		   const struct exclude *ex, uint64_t *ret_differ, uint64_t *ret_entries,
		   char *why, size_t why_len)
{
	struct set s = { .mirror = m->name };
	struct remote_list rl;
	uint64_t errors = 0;
	int rc = remote_digests(c, m, add_remote, &s, &rl, why, why_len);

	if (rc == 0) {
		qsort(s.v, s.n, sizeof(*s.v), cmp_rec);
		if ((rc = treedigest_walk(rootfd, ex, m->one_fs, check_local, &s, &errors)) < 0)
			snprintf(why, why_len, "cannot hash this node's tree: %s", strerror(-rc));
	}
	for (size_t i = 0; rc == 0 && i < s.n; i++)
		if (!s.v[i].seen)
			differ(&s, "only on the slave", s.v[i].path, strlen(s.v[i].path));
	if (rc == 0 && (errors > 0 || rl.last > 0))
		printf("mirror %s: verify: %" PRIu64 " paths could not be read here, %" PRIu64
		       " on the slave\n", m->name, errors, rl.last);
	if (rc == 0) {
		*ret_differ = s.differ + errors + rl.last;
		*ret_entries = s.n;
	}
	for (size_t i = 0; i < s.n; i++)
		free(s.v[i].path);
	free(s.v);
	return rc;
}
