/* hooks: run the notify hook and the check script.  Children get a clean
 * environment (PATH only), no capabilities, stdin from /dev/null, and are
 * killed (SIGKILL, process group) at their timeout. */
#ifndef FAILOVERD_HOOKS_H
#define FAILOVERD_HOOKS_H

#include <sys/types.h>

/* Start "path arg" (arg may be NULL).  Returns the child's pid or -errno. */
pid_t hooks_spawn(const char *path, const char *arg);

/* Run "path arg" and wait at most timeout_ms.  Returns the exit status
 * (0..255), -ETIMEDOUT (killed), -ECHILD (died on a signal) or -errno. */
int hooks_run(const char *path, const char *arg, unsigned timeout_ms);

/* Kill a spawned child's process group and reap it. */
void hooks_kill(pid_t pid);

#endif
