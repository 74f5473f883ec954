/* outcome: a restore run's result as a notification (kind "restore", a
 * one-shot event through the [node] notify hook; doc/notify.md). */
#ifndef RESTORE_OUTCOME_H
#define RESTORE_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct outcome {
	const char *const *mirrors;     /* the mirrors restored */
	size_t n_mirrors;
	int exit_code;                  /* mirror-restore's exit status */
	bool ok;                        /* restored (with or without conflicts) */
	bool failback;                  /* --failback was asked */
	size_t conflicts;
	uint64_t created, changed, removed, bytes;
	double seconds;
};

/* Run c's [node] notify hook, if any, for o and wait for it (at most its
 * notify_timeout_ms). */
void outcome_notify(const struct conf *c, const struct outcome *o);

#endif
