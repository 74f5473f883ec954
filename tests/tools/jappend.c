/* jappend: append records to a mirror journal as the live source would,
 * for tests that need a master with changes the slave never acknowledged.
 *
 *   jappend DIR OP PATH [PATH2]...   OP: upsert create delete rename rescan
 *
 * Every record is synced; nothing is acknowledged. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "journal.h"

int main(int argc, char **argv)
{
	static const struct { const char *name; enum journal_op op; int args; } ops[] = {
		{ "upsert", JOURNAL_UPSERT, 1 }, { "create", JOURNAL_CREATE, 1 },
		{ "delete", JOURNAL_DELETE, 1 }, { "rename", JOURNAL_RENAME, 2 },
		{ "rescan", JOURNAL_RESCAN, 1 },
	};
	struct journal *j;
	int rc, i = 2;

	if (argc < 4) {
		fprintf(stderr, "usage: jappend DIR OP PATH [PATH2] [OP PATH...]\n");
		return 2;
	}
	if ((rc = journal_open(argv[1], &j)) < 0) {
		fprintf(stderr, "jappend: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	while (i < argc) {
		size_t k = 0;
		while (k < sizeof(ops) / sizeof(ops[0]) && strcmp(ops[k].name, argv[i]) != 0)
			k++;
		if (k == sizeof(ops) / sizeof(ops[0]) || i + ops[k].args >= argc) {
			fprintf(stderr, "jappend: bad record at '%s'\n", argv[i]);
			journal_close(j);
			return 2;
		}
		const char *p2 = ops[k].args == 2 ? argv[i + 2] : NULL;
		rc = journal_append(j, ops[k].op, argv[i + 1], strlen(argv[i + 1]), p2,
				    p2 ? strlen(p2) : 0, NULL);
		if (rc < 0) {
			fprintf(stderr, "jappend: %s %s: %s\n", argv[i], argv[i + 1], strerror(-rc));
			journal_close(j);
			return 1;
		}
		i += 1 + ops[k].args;
	}
	rc = journal_sync(j);
	journal_close(j);
	if (rc < 0) {
		fprintf(stderr, "jappend: sync: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
