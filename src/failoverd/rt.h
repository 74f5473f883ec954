/* rt: real-time scheduling for failoverd's loop.
 *
 * rt_start() runs once at start-up, while the process still has
 * CAP_SYS_NICE and CAP_IPC_LOCK (before caps_keep_net()):
 *   - RLIMIT_RTTIME: RT_SOFT_MS of CPU without blocking sends SIGXCPU,
 *     RT_HARD_MS sends SIGKILL, so a bug (or a packet flood that never
 *     lets the loop sleep) cannot hold a CPU for good;
 *   - the SIGXCPU handler drops the process to SCHED_OTHER at once;
 *     rt_poll() logs it and, RT_RETRY_MS later, goes back to real time
 *     (allowed without CAP_SYS_NICE by RLIMIT_RTPRIO, set here);
 *   - mlockall(MCL_CURRENT | MCL_FUTURE), with RLIMIT_MEMLOCK raised to
 *     RT_MEMLOCK_BYTES, so no page fault waits for the disk;
 *   - SCHED_RR at RT_PRIORITY with SCHED_RESET_ON_FORK: hooks and checks
 *     are normal processes.
 * Every step that is refused is logged as a warning and skipped: the
 * daemon runs, only with less protection against a busy machine. */
#ifndef FAILOVERD_RT_H
#define FAILOVERD_RT_H

#include <stdbool.h>
#include <stdint.h>

#define RT_PRIORITY 10
#define RT_SOFT_MS 200
#define RT_HARD_MS 1000
#define RT_RETRY_MS 10000
#define RT_MEMLOCK_BYTES (256ULL << 20)

/* Set up as above.  true when the loop now runs SCHED_RR. */
bool rt_start(void);
/* From the loop (cheap): notice a SIGXCPU demotion, retry real time when
 * due.  now_ms on the monotonic clock. */
void rt_poll(int64_t now_ms);
/* true while the process runs SCHED_RR (for status). */
bool rt_active(void);
/* Times the RLIMIT_RTTIME guard fired. */
uint64_t rt_demotions(void);
/* In a hook child before exec: no real-time or locking limits inherited. */
void rt_child_reset(void);

#endif
