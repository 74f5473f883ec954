/* hooks: run the notify hook and the check script.  Children get a clean
 * environment (PATH only; the notify hook also the MIRRORD_* variables of
 * notify.h), no capabilities, stdin from /dev/null (the notify hook: the
 * JSON payload of doc/notify.md), and are
 * killed (SIGKILL, process group) at their timeout.  Nothing here waits
 * for a running hook: failoverd's loop tracks the child and its timeout, so
 * heartbeats go on while a hook runs. */
#ifndef FAILOVERD_HOOKS_H
#define FAILOVERD_HOOKS_H

#include <sys/types.h>

/* Start "path arg" (arg may be NULL).  Returns the child's pid or -errno. */
pid_t hooks_spawn(const char *path, const char *arg);

struct notify_msg;
/* Start the [failover] notify hook: "path state", m as JSON on stdin and
 * in the environment.  The child's pid or -errno. */
pid_t hooks_spawn_notify(const char *path, const char *state, const struct notify_msg *m);
/* What a hook's child does before exec: no real-time scheduling, no
 * capabilities (also for the [node] notify hook, notify_set_child_setup). */
int hooks_child_setup(void);

/* Kill a spawned child's process group and reap it (blocks until it is
 * gone: SIGKILL cannot be ignored, so that is short). */
void hooks_kill(pid_t pid);

/* Kill a spawned child's process group; the caller reaps it (failoverd's
 * event loop does, through its child source). */
void hooks_signal(pid_t pid);

#endif
