/* pitview: a mirror tree as it was at an earlier time, from the versions
 * log (vindex.h).  Pure logic, no I/O.
 *
 * The view starts as "every path is where it is now in the tree" and undoes
 * the logged changes made after T, newest first:
 *   C path      -> path did not exist (absent)
 *   O/D path    -> path was the stored node (a stored directory brings its
 *                  subtree along)
 *   R from, to  -> what is now at to (and beneath) was at from; to was
 *                  absent (a node replaced by the rename was logged as D
 *                  just before, and is undone right after)
 * The result is a short list of overrides, the longest matching one wins.
 * A reader resolves a path at T to its source, lists a directory source
 * and adds pitview_children() for names that exist only in overrides. */
#ifndef MIRROR_PITVIEW_H
#define MIRROR_PITVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "vindex.h"

enum pitview_kind {
	PITVIEW_ABSENT = 0,      /* did not exist at T */
	PITVIEW_TREE,            /* src is a path in the current tree */
	PITVIEW_STORED,          /* src is a path in the versions directory */
};

struct pitview;

/* The view at t_ns.  -ERANGE when t_ns is before the index's horizon
 * (history incomplete), -ENOMEM. */
int pitview_build(const struct vindex *ix, int64_t t_ns, struct pitview **ret);
struct pitview *pitview_new(void);
/* Undo one record (newest first).  0 or -ENOMEM. */
int pitview_undo(struct pitview *v, const struct vindex_rec *r);
void pitview_free(struct pitview *v);

/* Where path was at T: kind, and *src (heap, NUL-terminated; NULL when
 * absent).  0 or -ENOMEM. */
int pitview_resolve(const struct pitview *v, const char *path, size_t len,
		    enum pitview_kind *kind, char **src, size_t *slen);
/* Call fn for each name directly beneath dir that an override (not an
 * absent one) puts there; names may repeat names of the source listing. */
int pitview_children(const struct pitview *v, const char *dir, size_t dlen,
		     int (*fn)(void *ctx, const char *name, size_t nlen), void *ctx);

#endif
