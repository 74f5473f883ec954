/* remote: mirror-restore's connection to the slave's mirrord: TLS as
 * [security] says, then HELLO with feature bits (PROTO_FEATURE_PULL,
 * PROTO_FEATURE_DEMOTE; doc/PROTOCOL.md) that the slave must echo.
 *
 * session_connect() does the same for a plain source session but sends no
 * features and does not return the sink's; once it takes a features
 * argument, this file becomes a call to it. */
#ifndef RESTORE_REMOTE_H
#define RESTORE_REMOTE_H

#include <stdint.h>

#include "conf.h"
#include "stream.h"

/* Connect to m's peer and ask for features within timeout_ms.  Returns the
 * stream (blocking; frames checked as a sink when PULL was asked for), or
 * NULL with *ret_err and a one-line reason in why. */
struct stream *remote_connect(const struct conf *c, const struct conf_mirror *m,
			      uint64_t features, int timeout_ms, int *ret_err, char *why,
			      size_t why_len);

#endif
