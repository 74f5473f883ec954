/* rt: real-time scheduling for failoverd's loop (see rt.h). */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "log.h"
#include "rt.h"

static volatile sig_atomic_t demoted;   /* set by the SIGXCPU handler */
static bool active, have_orig;
static int64_t retry_at;
static uint64_t n_demotions;
static struct rlimit orig_rtprio, orig_memlock, orig_rttime;

/* RLIMIT_RTTIME fired: the loop ran RT_SOFT_MS without sleeping.  Give the
 * CPU back at once; rt_poll() reports it from the loop. */
static void on_xcpu(int sig)
{
	struct sched_param sp = { .sched_priority = 0 };
	int saved = errno;

	(void)sig;
	(void)sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp);
	demoted = 1;
	errno = saved;
}

static int set_rr(void)
{
	struct sched_param sp = { .sched_priority = RT_PRIORITY };

	return sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp) < 0 ? -errno : 0;
}

static void save_limits(void)
{
	if (getrlimit(RLIMIT_RTPRIO, &orig_rtprio) < 0 ||
	    getrlimit(RLIMIT_MEMLOCK, &orig_memlock) < 0 ||
	    getrlimit(RLIMIT_RTTIME, &orig_rttime) < 0) {
		log_warn("real-time: getrlimit: %m");
		return;
	}
	have_orig = true;
}

/* The guard: without it a runaway real-time loop owns a CPU. */
static bool guard(void)
{
	struct rlimit rt = { RT_SOFT_MS * 1000ULL, RT_HARD_MS * 1000ULL };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_xcpu;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGXCPU, &sa, NULL) < 0) {
		log_warn("real-time: SIGXCPU handler: %m; staying at normal priority");
		return false;
	}
	if (setrlimit(RLIMIT_RTTIME, &rt) < 0) {
		log_warn("real-time: RLIMIT_RTTIME: %m; staying at normal priority");
		return false;
	}
	return true;
}

/* Lets rt_poll() return to SCHED_RR after the capability drop. */
static void allow_return(void)
{
	struct rlimit rp = { RT_PRIORITY, RT_PRIORITY };

	if (orig_rtprio.rlim_cur != RLIM_INFINITY && orig_rtprio.rlim_cur < RT_PRIORITY &&
	    setrlimit(RLIMIT_RTPRIO, &rp) < 0)
		log_info("real-time: RLIMIT_RTPRIO: %m; if the guard fires, the loop "
			 "stays at normal priority");
}

/* MCL_FUTURE only with room to grow: once CAP_IPC_LOCK is dropped, every
 * new mapping counts against RLIMIT_MEMLOCK, and a mapping refused there
 * is a failed malloc.  Without it, what is mapped now (the program, its
 * libraries) stays locked; later heap pages are anonymous memory, which
 * only swap could take away. */
static void lock_memory(void)
{
	struct rlimit ml = { RT_MEMLOCK_BYTES, RT_MEMLOCK_BYTES };
	bool room = orig_memlock.rlim_cur == RLIM_INFINITY ||
		    orig_memlock.rlim_cur >= RT_MEMLOCK_BYTES;

	if (!room && setrlimit(RLIMIT_MEMLOCK, &ml) == 0)
		room = true;
	else if (!room)
		log_warn("real-time: RLIMIT_MEMLOCK to %llu MiB: %m; locking the "
			 "current pages only", (unsigned long long)(RT_MEMLOCK_BYTES >> 20));
	if (mlockall(MCL_CURRENT | (room ? MCL_FUTURE : 0)) < 0)
		log_warn("real-time: mlockall: %m; pages may be faulted in late");
}

bool rt_start(void)
{
	int r;

	save_limits();
	if (!guard())
		return false;
	allow_return();
	lock_memory();
	r = set_rr();
	if (r < 0) {
		log_warn("real-time scheduling (SCHED_RR %d) refused: %s; heartbeats "
			 "may be late on a busy CPU", RT_PRIORITY, strerror(-r));
		return false;
	}
	active = true;
	log_info("scheduling: SCHED_RR priority %d, memory locked, RLIMIT_RTTIME %d/%d ms",
		 RT_PRIORITY, RT_SOFT_MS, RT_HARD_MS);
	return true;
}

void rt_poll(int64_t now_ms)
{
	int r;

	if (demoted) {
		demoted = 0;
		active = false;
		n_demotions++;
		retry_at = now_ms + RT_RETRY_MS;
		log_warn("real-time: the loop ran %d ms without sleeping (a flood, or a "
			 "bug); normal priority for %d s", RT_SOFT_MS, RT_RETRY_MS / 1000);
	}
	if (active || retry_at == 0 || now_ms < retry_at)
		return;
	retry_at = 0;
	r = set_rr();
	if (r < 0) {
		log_warn("real-time: cannot return to SCHED_RR: %s", strerror(-r));
		return;
	}
	active = true;
	log_notice("real-time: back to SCHED_RR priority %d", RT_PRIORITY);
}

bool rt_active(void)
{
	return active;
}

uint64_t rt_demotions(void)
{
	return n_demotions;
}

void rt_child_reset(void)
{
	if (!have_orig)
		return;
	(void)setrlimit(RLIMIT_RTPRIO, &orig_rtprio);
	(void)setrlimit(RLIMIT_RTTIME, &orig_rttime);
	(void)setrlimit(RLIMIT_MEMLOCK, &orig_memlock);
}
