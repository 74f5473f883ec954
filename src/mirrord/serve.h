/* serve: the sink role.  Listens on [node] listen, authenticates the
 * mirror name in HELLO against the configured mirrors, and runs one receiver
 * session per connection, each in its own thread (at most SERVE_MAX_SESSIONS,
 * at most one per mirror). */
#ifndef MIRRORD_SERVE_H
#define MIRRORD_SERVE_H

#include <signal.h>

#include "conf.h"

#define SERVE_MAX_SESSIONS 32
#define SERVE_HANDSHAKE_MS 10000
#define SERVE_IDLE_MS 300000

/* Runs until *stop becomes non-zero.  c is borrowed for the whole run.
 * Returns 0, or -errno when the listening socket cannot be set up. */
int serve_run(const struct conf *c, volatile sig_atomic_t *stop);

#endif
