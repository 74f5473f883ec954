/* control: mirrord's control socket, metrics file and systemd
 * notifications, served by one thread of their own.
 *
 * The socket is a unix stream socket at [node] control_socket (mode 0600,
 * see ctlsock.h).  A client sends request lines (at most CTLSOCK_LINE_MAX
 * bytes, at most CONTROL_MAX_REQUESTS per connection, within
 * CONTROL_CLIENT_MS) and gets one reply line for each:
 *   status              -> one JSON object (see mirrorctl(8))
 *   promote MIRROR      -> "ok" | "error <text>"
 *   demote MIRROR       -> "ok" | "error <text>"
 *   pause MIRROR        -> "ok" | "error <text>"
 *   resume MIRROR       -> "ok" | "error <text>"
 * One client is served at a time; nothing a client sends or fails to read
 * can stop the daemon or the thread.
 *
 * The same thread writes [node] metrics_file every CONTROL_METRICS_MS
 * (metrics.h), runs the reload hook when *reload becomes non-zero (SIGHUP),
 * and talks to systemd: READY=1 once control_ready() was called, STATUS= with a one-line
 * summary, WATCHDOG=1 at half the watchdog interval, STOPPING=1. */
#ifndef MIRRORD_CONTROL_H
#define MIRRORD_CONTROL_H

#include <signal.h>
#include <stddef.h>

#include "conf.h"
#include "status.h"

#define CONTROL_CLIENT_MS 2000
#define CONTROL_MAX_REQUESTS 16
#define CONTROL_METRICS_MS 5000

struct control_hooks {
	/* promote (want STATUS_SOURCE) or demote (want STATUS_SINK) a mirror,
	 * after the request was recorded in the status table.  Called in the
	 * control thread; 0, or -errno with a reason in err (one line).
	 * NULL: the request is only recorded (role switching belongs to the
	 * promotion code, which reads status_requested_role()). */
	int (*role)(void *ctx, const char *mirror, enum status_role want,
		    char *err, size_t err_len);
	/* SIGHUP: re-read the configuration.  *metrics_file (heap string or
	 * NULL, owned by the control thread) may be replaced by the hook.
	 * 0, or -errno when the old configuration stays in force. */
	int (*reload)(void *ctx, char **metrics_file);
	void *ctx;
};

struct control;

/* Bind the socket (failure is fatal for the daemon: -errno, logged) and
 * start the thread.  c is borrowed for the thread's life; stop and reload
 * are polled (and the thread unblocks SIGHUP for itself, so block it in
 * the other threads). */
int control_start(const struct conf *c, const struct control_hooks *hooks,
		  volatile sig_atomic_t *stop, volatile sig_atomic_t *reload,
		  struct control **ret);
/* Tell systemd READY=1 (from the control thread): call when the daemon
 * is about to serve. */
void control_ready(struct control *ctl);
/* After *stop was set: join the thread, remove the socket, free.  NULL is
 * a no-op. */
void control_stop(struct control *ctl);

#endif
