/* serve: the sink role.  Listens on [node] listen, runs TLS (as [security]
 * says), checks the mirror name in HELLO against the configured mirrors, and
 * runs one receiver session per connection, each in its own thread (at most
 * SERVE_MAX_SESSIONS, of which at most SERVE_MAX_HANDSHAKES before HELLO;
 * at most one per mirror).  TLS and HELLO must complete within
 * SESSION_HANDSHAKE_MS in total; a session idle for SESSION_IDLE_MS is
 * closed; a session silent for SERVE_SILENT_MS is replaced when a new
 * session for the same mirror completes its handshake. */
#ifndef MIRRORD_SERVE_H
#define MIRRORD_SERVE_H

#include <signal.h>

#include "conf.h"

#define SERVE_MAX_SESSIONS 32
#define SERVE_MAX_HANDSHAKES 16
#define SERVE_SILENT_MS 5000      /* sources PING every 2 s */
#define SERVE_REPLACE_MS 2000     /* beyond that, how long a new session waits */

/* Runs until *stop becomes non-zero.  c is borrowed for the whole run.
 * Returns 0, or -errno when [security] or the listening socket cannot be
 * set up (logged). */
int serve_run(const struct conf *c, volatile sig_atomic_t *stop);

#endif
