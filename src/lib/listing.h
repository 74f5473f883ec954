/* listing: the sink's names of the directories being listed, for the
 * pruning at DIR_DONE, kept per directory.
 *
 * A listing of a directory D is its entry (ENTRY D), later the entries of
 * its children, then DIR_DONE D, at which the sink deletes the children it
 * has that were not listed.  The names are noted per directory, so an
 * operation elsewhere that lands between a listing's entries (a retried
 * file, a change recorded meanwhile) neither cuts the listing's names nor
 * takes their place: pruning with a list that lost names deletes children
 * the source still has, and with them their subtrees.
 *
 * At most LISTING_DIRS directories hold names at once (the least recently
 * noted gives way); a directory whose names gave way while its listing
 * may be under way (a name noted since the last DIR_DONE) is marked, and
 * its DIR_DONE then prunes nothing (LISTING_LOST) unless an entry of the
 * directory itself started it anew.  The marks are the last
 * LISTING_LOST_MAX directories that gave way. */
#ifndef MIRROR_LISTING_H
#define MIRROR_LISTING_H

#include <stdbool.h>
#include <stddef.h>

#define LISTING_DIRS 32
#define LISTING_LOST_MAX 64

struct listing;

struct listing_names {
	char **v;               /* sorted (strcmp), for bsearch */
	size_t n;
};

struct listing *listing_new(void);
void listing_free(struct listing *ls);

/* An entry of path (not the root): its name is one of its directory's.
 * 0, or -ENOMEM. */
int listing_note(struct listing *ls, const char *path, size_t len);
/* An entry of the directory dir itself: a listing of it starts (its
 * children follow), names noted before and a mark are dropped. */
void listing_dir_entry(struct listing *ls, const char *dir, size_t len);
/* The last name noted was one of dir's. */
bool listing_current(const struct listing *ls, const char *dir, size_t len);
/* Forget every directory (a one-shot pass starts at its root). */
void listing_reset(struct listing *ls);

enum listing_end {
	LISTING_EMPTY,          /* no child noted: prune them all */
	LISTING_NAMES,          /* prune those not in *ret */
	LISTING_LOST,           /* names gave way: do not prune */
};
/* DIR_DONE of dir: its names move to *ret (free with listing_names_free;
 * empty unless LISTING_NAMES) and the directory is forgotten. */
enum listing_end listing_done(struct listing *ls, const char *dir, size_t len,
			      struct listing_names *ret);
/* ns has the name of nlen bytes at name (not NUL-terminated). */
bool listing_names_has(const struct listing_names *ns, const char *name, size_t nlen);
void listing_names_free(struct listing_names *ns);

#endif
