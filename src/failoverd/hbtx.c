/* hbtx: heartbeat transmission, redundant across CPUs (see hbtx.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "caps.h"
#include "hb.h"
#include "hbtx.h"
#include "log.h"
#include "pos.h"

#define HBTX_START_MS 5000      /* a thread must be ready within this */

struct hbtx;

struct hbtx_thread {
	struct hbtx *t;
	pthread_t th;
	int cpu;
	bool running;
};

struct hbtx {
	struct hbtx_config c;
	pthread_mutex_t mu;             /* tmpl, ready */
	pthread_cond_t cv;
	struct fsm_peer tmpl;
	int ready;                      /* 1 set up, -errno failed; under mu */
	const struct pos *pos;          /* atomic */
	uint64_t seq;                   /* atomic */
	uint64_t due_ns;                /* atomic: next slot, CLOCK_MONOTONIC */
	uint64_t iv_ns;
	int stop;                       /* atomic */
	uint64_t ok, err, late;         /* atomic */
	unsigned n, working;            /* created (to join), sending */
	struct hbtx_thread th[HBTX_MAX];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Build and send one heartbeat from the template; any thread. */
static void send_one(struct hbtx *t)
{
	uint8_t buf[HB_MAX_LEN];
	struct hb_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	pthread_mutex_lock(&t->mu);
	m.node = t->tmpl;
	pthread_mutex_unlock(&t->mu);
	m.node.position = (uint64_t)pos_get(__atomic_load_n(&t->pos, __ATOMIC_ACQUIRE));
	m.seq = __atomic_add_fetch(&t->seq, 1, __ATOMIC_ACQ_REL);
	m.time_ms = wall_ms();
	n = hb_encode(&m, t->c.key, t->c.key_len, buf, sizeof(buf));
	if (n < 0 || sendto(t->c.fd, buf, (size_t)n, MSG_DONTWAIT, t->c.peer,
			    t->c.peer_len) < 0) {
		__atomic_add_fetch(&t->err, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&t->ok, 1, __ATOMIC_RELAXED);
}

/* Claim the slot due (if no other thread did) and send it. */
static void claim(struct hbtx *t, uint64_t due)
{
	uint64_t now = mono_ns(), next = due + t->iv_ns;

	if (now >= next)
		next = now + t->iv_ns;    /* keep the grid only when on time */
	if (!__atomic_compare_exchange_n(&t->due_ns, &due, next, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;                   /* another CPU was first */
	send_one(t);                      /* before logging, which may block */
	if (now > due + t->iv_ns) {
		__atomic_add_fetch(&t->late, 1, __ATOMIC_RELAXED);
		log_info("heartbeat sent %" PRIu64 " ms late (every CPU busy?)",
			 (now - due) / 1000000);
	}
}

static void run_loop(struct hbtx *t)
{
	const uint64_t nap = HBTX_NAP_MS * 1000000ull;
	struct timespec ts;
	uint64_t due, wake;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		due = __atomic_load_n(&t->due_ns, __ATOMIC_ACQUIRE);
		wake = due;
		if (wake > mono_ns() + nap)
			wake = mono_ns() + nap;
		ts.tv_sec = (time_t)(wake / 1000000000u);
		ts.tv_nsec = (long)(wake % 1000000000u);
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
			continue;         /* EINTR */
		if (mono_ns() >= due)
			claim(t, due);
	}
}

/* Pin, schedule, drop capabilities; report to hbtx_start. */
static int setup_self(struct hbtx_thread *h)
{
	struct sched_param sp = { .sched_priority = h->t->c.rt_priority };
	cpu_set_t set;
	int r;

	CPU_ZERO(&set);
	CPU_SET(h->cpu, &set);
	r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (r != 0)
		log_warn("heartbeat thread: CPU %d: %s; runs on any CPU", h->cpu, strerror(r));
	if (h->t->c.realtime &&
	    (r = pthread_setschedparam(pthread_self(), SCHED_RR, &sp)) != 0)
		log_warn("heartbeat thread on CPU %d: SCHED_RR refused: %s", h->cpu,
			 strerror(r));
	return caps_clear_all();
}

static void report(struct hbtx *t, int v)
{
	pthread_mutex_lock(&t->mu);
	t->ready = v;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void *thread_main(void *arg)
{
	struct hbtx_thread *h = arg;
	int r = setup_self(h);

	report(h->t, r < 0 ? r : 1);
	if (r == 0)
		run_loop(h->t);
	return NULL;
}

/* Wait (bounded) for the thread just created to report.  1 or -errno. */
static int wait_ready(struct hbtx *t)
{
	struct timespec dl;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += HBTX_START_MS / 1000;
	pthread_mutex_lock(&t->mu);
	while (t->ready == 0 && r == 0)
		r = pthread_cond_timedwait(&t->cv, &t->mu, &dl);
	r = t->ready ? t->ready : -ETIMEDOUT;
	t->ready = 0;
	pthread_mutex_unlock(&t->mu);
	return r;
}

/* One thread on cpu, every signal blocked (they belong to the loop). */
static int spawn(struct hbtx *t, int cpu)
{
	struct hbtx_thread *h = &t->th[t->n];
	sigset_t all, old;
	int r;

	h->t = t;
	h->cpu = cpu;
	sigfillset(&all);
	if ((r = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0)
		return -r;
	r = pthread_create(&h->th, NULL, thread_main, h);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	h->running = true;
	t->n++;
	r = wait_ready(t);
	if (r < 0) {
		log_warn("heartbeat thread on CPU %d: set-up failed: %s", cpu, strerror(-r));
		return r;
	}
	t->working++;
	return 0;
}

static void spawn_all(struct hbtx *t)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		log_warn("heartbeat threads: sched_getaffinity: %m; one thread");
		CPU_ZERO(&set);
		CPU_SET(0, &set);
	}
	for (int cpu = 0; cpu < CPU_SETSIZE && t->n < HBTX_MAX; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (spawn(t, cpu) < 0)
			break;          /* a thread that failed stops by itself */
	}
}

int hbtx_start(const struct hbtx_config *c, const struct fsm_peer *tmpl, uint64_t seq0,
	       struct hbtx **ret)
{
	struct hbtx *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->c = *c;
	t->tmpl = *tmpl;
	t->seq = seq0;
	t->iv_ns = (uint64_t)c->interval_ms * 1000000u;
	t->due_ns = mono_ns();
	if (pthread_mutex_init(&t->mu, NULL) != 0 || pthread_cond_init(&t->cv, NULL) != 0) {
		free(t);
		return -ENOMEM;
	}
	spawn_all(t);
	if (t->working == 0) {
		hbtx_stop(t);
		return -EAGAIN;
	}
	log_info("heartbeats: %u sender thread%s, one per CPU", t->working,
		 t->working > 1 ? "s" : "");
	*ret = t;
	return 0;
}

void hbtx_update(struct hbtx *t, const struct fsm_peer *tmpl)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->tmpl = *tmpl;
	pthread_mutex_unlock(&t->mu);
}

void hbtx_set_pos(struct hbtx *t, const struct pos *p)
{
	if (t)
		__atomic_store_n(&t->pos, p, __ATOMIC_RELEASE);
}

void hbtx_send_now(struct hbtx *t)
{
	if (t)
		send_one(t);
}

void hbtx_stats(const struct hbtx *t, uint64_t *ret_ok, uint64_t *ret_err,
		uint64_t *ret_late)
{
	*ret_ok = t ? __atomic_load_n(&t->ok, __ATOMIC_RELAXED) : 0;
	*ret_err = t ? __atomic_load_n(&t->err, __ATOMIC_RELAXED) : 0;
	*ret_late = t ? __atomic_load_n(&t->late, __ATOMIC_RELAXED) : 0;
}

unsigned hbtx_threads(const struct hbtx *t)
{
	return t ? t->working : 0;
}

void hbtx_stop(struct hbtx *t)
{
	if (!t)
		return;
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < t->n; i++)
		if (t->th[i].running)
			pthread_join(t->th[i].th, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
