/* pos: the local mirrord's replication position (see pos.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlsock.h"
#include "json.h"
#include "log.h"
#include "pos.h"

#define POS_STEP_MS 50          /* the stop flag is checked this often */

struct pos {
	const char *path;
	int (*init)(void);
	pthread_t thread;
	int64_t value;          /* atomic */
	int stop;               /* atomic */
	bool reached;           /* thread only: last request answered */
	bool logged_fail;       /* thread only */
};

static bool is_source(const struct json *m)
{
	const char *role = json_str(m, "role", "");

	return strcmp(role, "source") == 0;
}

int pos_parse(const char *text, int64_t *ret)
{
	struct json *j = json_parse(text);
	const struct json *ms = j ? json_get(j, "mirrors") : NULL;
	int64_t best = 0;

	if (!ms || ms->type != JSON_ARRAY) {
		json_free(j);
		return -EINVAL;
	}
	for (const struct json *m = ms->child; m; m = m->next) {
		double v = json_num(m, "synced_until_ms", 0);

		if (m->type != JSON_OBJECT || !is_source(m) || v < 1 || v > 9e15)
			continue;
		if (best == 0 || (int64_t)v < best)
			best = (int64_t)v;
	}
	json_free(j);
	*ret = best;
	return 0;
}

static void note_result(struct pos *p, int rc, int64_t v)
{
	if (rc == 0) {
		if (!p->reached)
			log_info("replication position: mirrord at %s answers (%s)", p->path,
				 v ? "source mirrors" : "no source mirror: position unknown");
		p->reached = true;
		p->logged_fail = false;
		__atomic_store_n(&p->value, v, __ATOMIC_RELEASE);
		return;
	}
	if (!p->logged_fail)
		log_warn("replication position: mirrord at %s: %s; advertising the last "
			 "known position (%" PRId64 "), retrying every %d ms", p->path,
			 strerror(-rc), __atomic_load_n(&p->value, __ATOMIC_ACQUIRE),
			 POS_PERIOD_MS);
	p->logged_fail = true;
	p->reached = false;
}

static void fetch_once(struct pos *p)
{
	char *reply = NULL;
	int64_t v = 0;
	int rc;

	rc = ctlsock_request(p->path, "status", POS_TIMEOUT_MS, &reply);
	if (rc == 0 && pos_parse(reply, &v) < 0)
		rc = -EPROTO;
	free(reply);
	note_result(p, rc, v);
}

static void *pos_thread(void *arg)
{
	struct pos *p = arg;
	const struct timespec step = { 0, POS_STEP_MS * 1000000L };
	int r = p->init ? p->init() : 0;

	if (r < 0) {
		log_err("replication position: thread set-up: %s; advertising none",
			strerror(-r));
		return NULL;
	}
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		fetch_once(p);
		for (int i = 0; i < POS_PERIOD_MS / POS_STEP_MS &&
				!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE); i++)
			(void)nanosleep(&step, NULL);
	}
	return NULL;
}

/* The thread runs at normal priority (not the loop's SCHED_RR) with every
 * signal blocked, so SIGXCPU and SIGTERM always reach the loop's thread. */
static int spawn(struct pos *p)
{
	struct sched_param sp = { .sched_priority = 0 };
	sigset_t all, old;
	pthread_attr_t a;
	int r;

	if ((r = pthread_attr_init(&a)) != 0)
		return -r;
	r = pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	if (r == 0)
		r = pthread_attr_setschedpolicy(&a, SCHED_OTHER);
	if (r == 0)
		r = pthread_attr_setschedparam(&a, &sp);
	sigfillset(&all);
	if (r == 0 && (r = pthread_sigmask(SIG_SETMASK, &all, &old)) == 0) {
		r = pthread_create(&p->thread, &a, pos_thread, p);
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&a);
	return -r;
}

int pos_start(const char *ctl_path, int (*init)(void), struct pos **ret)
{
	struct pos *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->path = ctl_path;
	p->init = init;
	r = spawn(p);
	if (r < 0) {
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int64_t pos_get(const struct pos *p)
{
	return p ? __atomic_load_n(&p->value, __ATOMIC_ACQUIRE) : 0;
}

void pos_stop(struct pos *p)
{
	if (!p)
		return;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pthread_join(p->thread, NULL);
	free(p);
}
