/* promote: the promoted role of a sink mirror (control socket "promote
 * MIRROR" / "demote MIRROR", sent by failoverd on takeover and release).
 *
 * Promoting a mirror this node receives (no peer configured) starts its
 * local journal (localjournal.h) and refuses pushes into it (serve.c asks
 * promote_active()): the node is now the source of truth and the old
 * master must come back through mirror-restore(8).  The role is persisted
 * as the file <state_dir>/<mirror>/promoted/active, so a restarted mirrord
 * stays promoted (its journal then records RESCAN "": what changed while
 * it was down is not known).  A promotion continues the journal of the
 * previous one until a push spends it (promote_pushed), so a demote and a
 * promote without a restore in between lose nothing.  Demoting flushes and stops the journal
 * (its records stay for the failback's final pass), removes the file and
 * accepts pushes again.  A mirror with a peer is this node's live source
 * already: promote and demote leave it as it is.
 *
 * One table per process, safe from any thread. */
#ifndef MIRRORD_PROMOTE_H
#define MIRRORD_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "status.h"

/* Build the table and resume the promotions persisted in state_dir.  c is
 * borrowed until promote_shutdown().  0 or -ENOMEM (a promotion that
 * cannot be resumed is logged, not fatal). */
int promote_init(const struct conf *c);
/* Stop every local journal (they stay promoted on disk). */
void promote_shutdown(void);

/* control_hooks.role: STATUS_SOURCE promotes, STATUS_SINK demotes.  ctx
 * unused.  0, or -errno with a one-line reason in err. */
int promote_role(void *ctx, const char *mirror, enum status_role want, char *err,
		 size_t err_len);
/* The mirror is promoted on this node (it takes no pushes). */
bool promote_active(const char *mirror);
/* A push session into the mirror began (it is not promoted): the old
 * master is the source again, the journal of the last promotion is spent
 * (removed; a later promotion starts a new one). */
void promote_pushed(const char *mirror);
/* Journal everything reported so far (for a CHANGES list).  0, -ENOENT when
 * the mirror is not promoted, or -errno. */
int promote_flush(const char *mirror);

#endif
