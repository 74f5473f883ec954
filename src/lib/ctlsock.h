/* ctlsock: the unix stream sockets of the control protocol (mirrord's and
 * failoverd's), server and client side.  Requests and replies are lines;
 * see mirrorctl(8).  Returns fds or negative errno; never logs. */
#ifndef MIRROR_CTLSOCK_H
#define MIRROR_CTLSOCK_H

#include <stddef.h>

#define CTLSOCK_LINE_MAX 256          /* longest request line */
#define CTLSOCK_REPLY_MAX (4u << 20)  /* longest reply a client accepts */

/* Listen at path (mode 0600, parent directories created 0755 when
 * missing).  A stale socket left by a dead daemon is removed; a socket
 * that still answers gives -EADDRINUSE, anything else at path -EEXIST.
 * The fd is O_CLOEXEC and non-blocking. */
int ctlsock_listen(const char *path, int backlog);

/* Send one request line (without "\n") to the socket at path and read one
 * reply line within timeout_ms in total.  On success *ret_reply is a
 * malloc'ed NUL-terminated line without its "\n" (the caller frees it).
 * -ENOENT / -ECONNREFUSED: nobody listens; -ETIMEDOUT; -EMSGSIZE when the
 * reply exceeds CTLSOCK_REPLY_MAX; -EPROTO when it ends without a newline. */
int ctlsock_request(const char *path, const char *req, int timeout_ms, char **ret_reply);

/* failoverd's status line is "key=value key=value key=\"quoted text\"":
 * the value of key into out (always terminated), 0, or -ENOENT. */
int ctlsock_kv_get(const char *line, const char *key, char *out, size_t len);
/* Iterate over the pairs: *pos starts at 0.  1 with key and value
 * (terminated, truncated to their buffers), 0 at the end. */
int ctlsock_kv_next(const char *line, size_t *pos, char *key, size_t key_len,
		   char *val, size_t val_len);

#endif
