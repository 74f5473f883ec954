/* watchbudget: the inotify watch budget of this user, and what a tree needs.
 *
 * The watcher (watch.h) needs one inotify watch per directory.  The kernel
 * caps the watches one user holds, over all its processes:
 * fs.inotify.max_user_watches (the initial user namespace's value) and, in
 * a user namespace (a container), user.max_inotify_watches of that
 * namespace and of every namespace above it.  When the cap is reached,
 * adding a watch fails with ENOSPC and the directory is not followed.
 * This module lets the daemon see that coming: it reads the caps, counts
 * the watches this user already holds and the directories a tree has, and
 * works out the value to raise the limit to.
 *
 * Counting the watches in use: every inotify descriptor of a process shows
 * one "inotify wd:" line per watch in /proc/PID/fdinfo/FD.  Only processes
 * of the same effective uid in the same user namespace count, and only
 * those this process may inspect (all of them as root; its own otherwise),
 * so the figure is a lower bound: the kernel's ENOSPC stays the final word.
 *
 * Counting directories: a walk with readdir (d_type; an lstat only where
 * the filesystem does not fill it), skipping excluded paths and their
 * subtrees exactly as the watcher does.  It follows the tree onto other
 * filesystems, as the watcher does.
 *
 * No logging here; callers decide what to say. */
#ifndef MIRRORD_WATCHBUDGET_H
#define MIRRORD_WATCHBUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exclude;

struct watchbudget {
	uint64_t max;           /* the binding cap: the lowest of those below */
	uint64_t max_global;    /* fs.inotify.max_user_watches */
	uint64_t max_userns;    /* user.max_inotify_watches of our namespace */
	bool userns_binds;      /* the namespace's cap is the lower one */
	uint64_t used;          /* watches held by this uid (lower bound) */
	uint64_t processes;     /* processes whose watches were counted */
};

/* Read the caps and count the watches in use.  0, or -errno when a cap
 * cannot be read (no /proc: the budget is unknown). */
int watchbudget_read(struct watchbudget *ret);

/* Watches left for this user (0 when the cap is reached or exceeded). */
uint64_t watchbudget_free(const struct watchbudget *b);

/* Number of directories under root (root included) that the watcher would
 * watch with excludes ex (NULL: none).  0 and *ret_dirs, or -errno for the
 * root; unreadable subdirectories are counted, not entered. */
int watchbudget_count_dirs(const char *root, const struct exclude *ex, uint64_t *ret_dirs);

/* The value to raise the binding cap to so that need more watches fit
 * beside those in use, with room for the tree to grow by half: a multiple
 * of 1024, never below the current cap plus 1024. */
uint64_t watchbudget_suggest(const struct watchbudget *b, uint64_t need);

/* Count the "inotify wd:" lines of one fdinfo text (pure, for tests). */
uint64_t watchbudget_count_fdinfo(const char *text, size_t len);

#endif
