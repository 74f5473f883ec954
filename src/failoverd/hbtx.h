/* hbtx: heartbeat transmission, redundant across CPUs.
 *
 * On a busy machine whose kernel does not preempt kernel code (preempt=
 * none), a real-time thread woken on a CPU that is inside a long system
 * call or softirq waits for it to finish: tens of milliseconds, measured
 * (doc/failover.md).  So the periodic heartbeats are not sent by the
 * event loop but by one thread per allowed CPU (at most HBTX_MAX), each
 * pinned to its CPU at the loop's scheduling (SCHED_RR when realtime is
 * on).  All of them sleep until the same slot of the fixed grid (due,
 * due + interval, ...); the first one to wake claims the slot with a
 * compare-and-swap and sends it, the others go back to sleep.  A CPU
 * stuck in the kernel no longer delays a heartbeat while another CPU is
 * free.
 *
 * The content comes from a template the loop refreshes after every fsm
 * step (hbtx_update: name, state, priority, term) plus the replication
 * position, read from pos at each send.  Sequence numbers come from one
 * atomic counter.  The threads parse no input and hold no capabilities:
 * each drops them itself, after setting its CPU and priority, before
 * hbtx_start() returns. */
#ifndef FAILOVERD_HBTX_H
#define FAILOVERD_HBTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fsm.h"

#define HBTX_MAX 4
#define HBTX_NAP_MS 100         /* longest sleep: the stop flag is seen this often */

struct pos;
struct hbtx;

struct hbtx_config {
	int fd;                         /* UDP socket, borrowed */
	const struct sockaddr *peer;    /* borrowed */
	socklen_t peer_len;
	const uint8_t *key;             /* HMAC key, borrowed */
	size_t key_len;
	uint32_t interval_ms;
	bool realtime;                  /* SCHED_RR threads (else normal) */
	int rt_priority;
};

/* Start the threads (call while CAP_SYS_NICE is held, before the main
 * thread drops its capabilities).  tmpl is the first template, seq0 the
 * first sequence number.  0 or -errno (no thread could start). */
int hbtx_start(const struct hbtx_config *c, const struct fsm_peer *tmpl, uint64_t seq0,
	       struct hbtx **ret);
/* A new template (the loop, after each fsm step). */
void hbtx_update(struct hbtx *t, const struct fsm_peer *tmpl);
/* Where the replication position comes from (NULL: 0); pos must outlive
 * the threads (hbtx_stop first). */
void hbtx_set_pos(struct hbtx *t, const struct pos *p);
/* Send one heartbeat now, from the calling thread (a transition). */
void hbtx_send_now(struct hbtx *t);
/* Counters: sent, failed sends, slots sent more than one interval late. */
void hbtx_stats(const struct hbtx *t, uint64_t *ret_ok, uint64_t *ret_err,
		uint64_t *ret_late);
/* Number of sender threads running. */
unsigned hbtx_threads(const struct hbtx *t);
/* Stop and join the threads (within HBTX_NAP_MS or so), free.  NULL: no-op. */
void hbtx_stop(struct hbtx *t);

#endif
