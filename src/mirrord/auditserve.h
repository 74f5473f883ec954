/* auditserve: the sink side of the drift audit (doc/PROTOCOL.md, "Drift
 * audit").  A HELLO with PROTO_FEATURE_AUDIT opens a read-only session that
 * does not claim the mirror, so it runs beside the live session: the
 * client sends AUDIT_REQ requests one at a time and this side answers each
 * with AUDIT_LIST batches and AUDIT_END, reading file content for HASH at
 * most at the rate the request carries (its own limiter, so the slave's
 * disk is spared as much as the master's).  Listings are streamed as the
 * directory is read: nothing of them is held here. */
#ifndef MIRRORD_AUDITSERVE_H
#define MIRRORD_AUDITSERVE_H

#include "conf.h"
#include "exclude.h"
#include "stream.h"

#define AUDITSERVE_IDLE_MS 300000     /* between two requests, at most */

/* Serve one audit session on s, right after HELLO.  m's root is opened
 * read-only here; ex (borrowed) is the mirror's excludes.  Answers HELLO_OK
 * or ERROR, logs the outcome.  0 when the client closed, or -errno. */
int auditserve_run(const struct conf_mirror *m, struct stream *s, const char *peer,
		   const struct exclude *ex);

#endif
