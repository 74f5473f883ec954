/* remote: the list sessions mirror-restore opens to the slave's mirrord
 * (doc/PROTOCOL.md, "Journal-driven restore"): CHANGES, the paths changed
 * there since its promotion, and DIGESTS, the content digest of every
 * entry of its tree.  Records are handed to a callback as they arrive;
 * their paths live until it returns.  Program-side: failures are returned
 * with a one-line reason in why, the caller logs. */
#ifndef RESTORE_REMOTE_H
#define RESTORE_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "restlist.h"

struct remote_list {
	struct restlist_head head;    /* CHANGES only */
	uint64_t count;               /* records received */
	uint64_t last;                /* CHANGES: last sequence; DIGESTS: errors */
	uint64_t bytes_in;            /* on the wire */
};

/* Return 0 to go on, <0 to abort the session with that value. */
typedef int remote_change_fn(void *ctx, const struct restlist_change *c);
typedef int remote_digest_fn(void *ctx, const struct restlist_digest *d);

/* 0 and *ret, -ECONNREFUSED / -ETIMEDOUT / ... when the slave could not be
 * reached, -EPROTONOSUPPORT when its mirrord cannot list, -errno. */
int remote_changes(const struct conf *c, const struct conf_mirror *m, remote_change_fn *fn,
		   void *ctx, struct remote_list *ret, char *why, size_t why_len);
int remote_digests(const struct conf *c, const struct conf_mirror *m, remote_digest_fn *fn,
		   void *ctx, struct remote_list *ret, char *why, size_t why_len);

#endif
