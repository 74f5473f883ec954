/* changeset: the requests of a journal-driven restore.  See changeset.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "changeset.h"
#include "journal.h"
#include "path.h"
#include "restlist.h"

struct changeset {
	struct changeset_req *v;
	size_t n, cap;
	struct changeset_rename *r;
	size_t nr, capr;
	char **scans;              /* sorted SCAN paths, for the cover check */
	size_t nscans;
};

struct changeset *changeset_new(void)
{
	return calloc(1, sizeof(struct changeset));
}

void changeset_free(struct changeset *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++)
		free((char *)cs->v[i].path);
	for (size_t i = 0; i < cs->nr; i++) {
		free((char *)cs->r[i].from);
		free((char *)cs->r[i].to);
	}
	free(cs->v);
	free(cs->r);
	free(cs->scans);
	free(cs);
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 256;
	if (c > CHANGESET_MAX)
		c = CHANGESET_MAX;
	if (n >= c)
		return -E2BIG;
	void *p = realloc(*v, c * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int req(struct changeset *cs, uint8_t kind, const char *path, size_t len)
{
	int rc = grow((void **)&cs->v, &cs->cap, cs->n, sizeof(*cs->v));
	char *p;

	if (rc < 0)
		return rc;
	if (!(p = strndup(path, len)))
		return -ENOMEM;
	cs->v[cs->n++] = (struct changeset_req){ kind, p, len };
	return 0;
}

/* path and its parent directory */
static int req_up(struct changeset *cs, uint8_t kind, const char *path, size_t len)
{
	int rc = req(cs, kind, path, len);

	if (rc == 0 && len > 0)
		rc = req(cs, RESTLIST_PATH, path, path_dirlen(path, len));
	return rc;
}

static int rename_add(struct changeset *cs, const char *from, size_t flen, const char *to,
		      size_t tlen)
{
	int rc = grow((void **)&cs->r, &cs->capr, cs->nr, sizeof(*cs->r));
	char *a, *b;

	if (rc < 0)
		return rc;
	a = strndup(from, flen);
	b = strndup(to, tlen);
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	cs->r[cs->nr++] = (struct changeset_rename){ a, b, flen, tlen };
	return 0;
}

int changeset_add(struct changeset *cs, bool from_slave, unsigned op, const char *path,
		  size_t len, const char *path2, size_t len2)
{
	int rc;

	switch (op) {
	case JOURNAL_UPSERT:
	case JOURNAL_CREATE:
	case JOURNAL_DELETE:
	case JOURNAL_REPAIR:         /* this node's drift audit: as an upsert */
	case JOURNAL_LISTDIR:   /* its changed children have records of their own */
		return req_up(cs, RESTLIST_PATH, path, len);
	case JOURNAL_RENAME:
		if (from_slave && (rc = rename_add(cs, path, len, path2, len2)) < 0)
			return rc;
		if ((rc = req_up(cs, from_slave ? RESTLIST_PATH : RESTLIST_SCAN, path, len)) < 0)
			return rc;
		return req_up(cs, RESTLIST_SCAN, path2, len2);
	case JOURNAL_RESCAN:
		return len == 0 ? 1 : req_up(cs, RESTLIST_SCAN, path, len);
	}
	return -EINVAL;
}

static int cmp_req(const void *a, const void *b)
{
	const struct changeset_req *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : (int)y->kind - (int)x->kind;     /* SCAN first */
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is path strictly beneath one of the SCAN paths? */
static bool covered(const struct changeset *cs, const char *path, size_t len)
{
	char *p = strndup(path, len);
	bool hit = false;

	if (!p)
		return false;
	for (size_t i = len; i-- > 0 && !hit;) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		hit = bsearch(&p, cs->scans, cs->nscans, sizeof(*cs->scans), cmp_str) != NULL;
	}
	if (!hit && len > 0) {
		const char *root = "";
		hit = bsearch(&root, cs->scans, cs->nscans, sizeof(*cs->scans), cmp_str) != NULL;
	}
	free(p);
	return hit;
}

int changeset_finish(struct changeset *cs)
{
	char **dropped = calloc(cs->n + 1, sizeof(*dropped));
	size_t k = 0, nd = 0;

	free(cs->scans);
	cs->nscans = 0;
	if (!dropped || !(cs->scans = calloc(cs->n + 1, sizeof(*cs->scans)))) {
		free(dropped);
		return -ENOMEM;
	}
	qsort(cs->v, cs->n, sizeof(*cs->v), cmp_req);
	for (size_t i = 0; i < cs->n; i++)
		if (cs->v[i].kind == RESTLIST_SCAN)
			cs->scans[cs->nscans++] = (char *)cs->v[i].path;   /* sorted */
	for (size_t i = 0; i < cs->n; i++) {
		struct changeset_req *q = &cs->v[i];
		if ((k > 0 && strcmp(cs->v[k - 1].path, q->path) == 0) ||
		    covered(cs, q->path, q->len))
			dropped[nd++] = (char *)q->path;   /* freed once the checks are done */
		else
			cs->v[k++] = *q;
	}
	for (size_t i = 0; i < nd; i++)
		free(dropped[i]);
	free(dropped);
	free(cs->scans);
	cs->scans = NULL;
	cs->nscans = 0;
	cs->n = k;
	return 0;
}

size_t changeset_count(const struct changeset *cs)
{
	return cs->n;
}

const struct changeset_req *changeset_get(const struct changeset *cs, size_t i)
{
	return &cs->v[i];
}

size_t changeset_renames(const struct changeset *cs)
{
	return cs->nr;
}

const struct changeset_rename *changeset_rename_get(const struct changeset *cs, size_t i)
{
	return &cs->r[i];
}
