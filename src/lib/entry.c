/* entry: ownership helpers for struct entry. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

void entry_clear(struct entry *e)
{
	free(e->path);
	free(e->link);
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

static int dup_bytes(char **dst, const char *src, size_t len)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = malloc(len + 1);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, len);
	(*dst)[len] = '\0';
	return 0;
}

int entry_copy(struct entry *dst, const struct entry *src)
{
	*dst = *src;
	dst->path = dst->link = NULL;
	dst->xattrs = NULL;
	if (dup_bytes(&dst->path, src->path, src->path_len) < 0 ||
	    dup_bytes(&dst->link, src->link, src->link_len) < 0 ||
	    dup_bytes((char **)&dst->xattrs, (const char *)src->xattrs, src->xattrs_len) < 0) {
		entry_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

int entry_set_path(struct entry *e, const char *path, size_t len)
{
	char *p;

	if (dup_bytes(&p, path ? path : "", path ? len : 0) < 0)
		return -ENOMEM;
	free(e->path);
	e->path = p;
	e->path_len = path ? len : 0;
	return 0;
}

const char *entry_type_name(uint8_t type)
{
	static const char *names[] = { "none", "file", "dir", "symlink", "hardlink",
				       "fifo", "chardev", "blockdev", "socket" };
	return type <= ENT_TYPE_MAX ? names[type] : "invalid";
}
