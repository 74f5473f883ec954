/* pull: the reverse sessions the sink role serves for mirror-restore(8).
 *
 * A HELLO with PROTO_FEATURE_PULL asks this node to send its copy of the
 * mirror back over the same connection: this side runs a sender over a scan
 * of its tree while the client (the returning master) runs the receiver.
 * PROTO_FEATURE_DEMOTE asks this node's failoverd to release the VIP
 * ("demote" on "<[node] control_socket>-failoverd") before anything else.
 * PROTO_FEATURE_CHANGES lists the paths changed on this node since its
 * promotion (changes.h); PROTO_FEATURE_PATHS, with PULL, has the client
 * name the paths to send first (pathfeed.h); PROTO_FEATURE_DIGESTS sends the
 * content digest of every file (treedigest.h).  doc/PROTOCOL.md describes
 * them all. */
#ifndef MIRRORD_PULL_H
#define MIRRORD_PULL_H

#include <stdint.h>

#include "conf.h"
#include "exclude.h"
#include "proto.h"
#include "stream.h"

/* The HELLO features that make a session a reverse one (served here). */
#define PULL_FEATURES (PROTO_FEATURE_PULL | PROTO_FEATURE_DEMOTE | PROTO_FEATURE_CHANGES | \
		       PROTO_FEATURE_DIGESTS)

/* Serve one reverse session on s, right after HELLO (the mirror is claimed
 * by the caller).  rootfd is m's root (or -errno when it could not be
 * opened), ex its excludes; all borrowed.  Answers HELLO_OK (echoing the
 * features it performed) or ERROR; logs the outcome with peer and mirror.
 * 0 when the pass completed, or -errno. */
int pull_run(const struct conf *c, const struct conf_mirror *m, int rootfd, struct stream *s,
	     const char *peer, const struct exclude *ex, uint64_t features);

#endif
