/* exclude: rsync-style exclude patterns.
 *
 *   "*.swp"      no '/': matched against the last component, at any depth
 *   "/cache/"    leading '/': anchored at the mirror root
 *   "tmp/"       trailing '/': matches directories only
 *   "a/b*.o"     inner '/': matched against the whole relative path
 *   "**"         matches across '/'; '*' and '?' do not; [...] classes
 * A matched directory excludes its whole subtree. */
#ifndef MIRROR_EXCLUDE_H
#define MIRROR_EXCLUDE_H

#include <stdbool.h>
#include <stddef.h>

struct exclude;

struct exclude *exclude_new(void);
void exclude_free(struct exclude *ex);        /* NULL is a no-op */
/* 0, -EINVAL for an empty or malformed pattern, -ENOMEM. */
int exclude_add(struct exclude *ex, const char *pattern);
/* path: wire path (relative, no leading '/'). */
bool exclude_match(const struct exclude *ex, const char *path, size_t len, bool is_dir);
size_t exclude_count(const struct exclude *ex);

#endif
