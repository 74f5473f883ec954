/* tmptree: a temporary directory for the unit tests that work on a real
 * tree (apply, retain, fsmeta, path): made under $TMPDIR, shell commands
 * run inside it, files read back, removed at the end. */
#ifndef MIRROR_TEST_TMPTREE_H
#define MIRROR_TEST_TMPTREE_H

#include <stddef.h>

#define TMPTREE_DIR_MAX 512

/* $TMPDIR, or the system's temporary directory. */
const char *tmptree_base(void);
/* Make "<base>/mirrord-test-<name>-XXXXXX" in dir (TMPTREE_DIR_MAX bytes)
 * and, with sub, the directory sub inside it.  0 or -1. */
int tmptree_make(char *dir, const char *name, const char *sub);
/* Remove dir and everything below it.  0 or -1. */
int tmptree_remove(const char *dir);
/* Run cmd with sh in dir/sub (sub NULL: dir); the test fails unless it
 * succeeds. */
void tmptree_shell(const char *dir, const char *sub, const char *cmd);
/* The first 4 KiB of dfd/name (no symlink followed), NUL-terminated, in a
 * static buffer; NULL when it cannot be read. */
char *tmptree_slurp(int dfd, const char *name);

#endif
