/* hooks: notify hook and check script (see hooks.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "caps.h"
#include "hooks.h"
#include "notify.h"
#include "rt.h"

static void child(const char *path, const char *arg)
{
	char *const envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			       NULL };
	char *const argv[] = { (char *)path, (char *)arg, NULL };
	sigset_t none;
	int fd;

	(void)setpgid(0, 0);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != STDIN_FILENO) {
		(void)dup2(fd, STDIN_FILENO);
		(void)close(fd);
	}
	rt_child_reset();
	if (caps_clear_all() < 0)
		_exit(126);
	execve(path, argv, envp);
	_exit(127);
}

pid_t hooks_spawn(const char *path, const char *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		child(path, arg);
	(void)setpgid(pid, pid);
	return pid;
}

void hooks_kill(pid_t pid)
{
	hooks_signal(pid);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void hooks_signal(pid_t pid)
{
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
}

int hooks_child_setup(void)
{
	rt_child_reset();
	return caps_clear_all() < 0 ? -1 : 0;
}

pid_t hooks_spawn_notify(const char *path, const char *state, const struct notify_msg *m)
{
	return notify_spawn(path, state, m, hooks_child_setup);
}
