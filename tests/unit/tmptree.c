/* tmptree: temporary trees for the unit tests.  See tmptree.h. */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmptree.h"

const char *tmptree_base(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : P_tmpdir;
}

int tmptree_make(char *dir, const char *name, const char *sub)
{
	char path[TMPTREE_DIR_MAX + 64];

	if (snprintf(dir, TMPTREE_DIR_MAX, "%s/mirrord-test-%s-XXXXXX", tmptree_base(), name) >=
	    TMPTREE_DIR_MAX || !mkdtemp(dir))
		return -1;
	if (!sub)
		return 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, sub) >= (int)sizeof(path))
		return -1;
	return mkdir(path, 0755) == 0 ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* a directory left without permissions by a test: open it up */
	if (flag == FTW_DNR && chmod(path, 0700) == 0)
		return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
	return remove(path) == 0 ? 0 : -1;
}

int tmptree_remove(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void tmptree_shell(const char *dir, const char *sub, const char *cmd)
{
	size_t n = strlen(dir) + (sub ? strlen(sub) : 0) + strlen(cmd) + 16;
	char *buf = malloc(n);

	assert_non_null(buf);
	snprintf(buf, n, "cd '%s%s%s' && %s", dir, sub ? "/" : "", sub ? sub : "", cmd);
	assert_int_equal(system(buf), 0);
	free(buf);
}

char *tmptree_slurp(int dfd, const char *name)
{
	static char buf[4096];
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}
