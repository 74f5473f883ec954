/* push: one-shot synchronisation of a mirror to its peer (mirrord --once).
 * Connects, scans the tree and drives a sender session until the sink has
 * acknowledged everything durable. */
#ifndef MIRRORD_PUSH_H
#define MIRRORD_PUSH_H

#include <signal.h>

#include "conf.h"

struct push_result {
	uint64_t ops, files_whole, files_delta, bytes_read, wire_out, wire_in, errors,
		 delta_saved;
	double seconds;
};

/* 0 when the sink converged with no per-file errors, 1 when some files
 * failed, <0 (-errno) when the session failed. */
int push_once(const struct conf *c, const struct conf_mirror *m,
	      volatile sig_atomic_t *stop, struct push_result *ret);

#endif
