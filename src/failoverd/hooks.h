/* hooks: run the notify hook and the check script.  Children get a clean
 * environment (PATH only), no capabilities, stdin from /dev/null, and are
 * killed (SIGKILL, process group) at their timeout.  Nothing here waits
 * for a running hook: failoverd's loop tracks the child and its timeout, so
 * heartbeats go on while a hook runs. */
#ifndef FAILOVERD_HOOKS_H
#define FAILOVERD_HOOKS_H

#include <sys/types.h>

/* Start "path arg" (arg may be NULL).  Returns the child's pid or -errno. */
pid_t hooks_spawn(const char *path, const char *arg);

/* Kill a spawned child's process group and reap it (blocks until it is
 * gone: SIGKILL cannot be ignored, so that is short). */
void hooks_kill(pid_t pid);

/* Kill a spawned child's process group; the caller reaps it (failoverd's
 * event loop does, through its child source). */
void hooks_signal(pid_t pid);

#endif
