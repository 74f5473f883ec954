/* changes: the CHANGES list a promoted sink gives mirror-restore(8): the
 * records of its local journal (localjournal.h), read from the file while
 * the journal's thread may be appending, streamed in CHANGE batches after
 * a CHANGES header and closed by CHANGES_END (doc/PROTOCOL.md). */
#ifndef MIRRORD_CHANGES_H
#define MIRRORD_CHANGES_H

#include "conf.h"
#include "stream.h"

/* Send the list of mirror m on s (blocking stream).  0, or -errno when the
 * session broke (logged by the caller). */
int changes_send(const struct conf *c, const struct conf_mirror *m, struct stream *s);

#endif
