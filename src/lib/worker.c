/* worker: one background thread, one job at a time. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "worker.h"

struct worker {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*fn)(void *arg);   /* the job handed over, NULL once taken */
	void *arg;
	bool busy;              /* started and not yet collected (owner only) */
	atomic_bool finished;   /* the job returned; rc holds its result */
	int rc;
	bool quit;
};

static void *run(void *p)
{
	struct worker *w = p;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->fn && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->fn)
			break;
		int (*fn)(void *) = w->fn;
		void *arg = w->arg;
		w->fn = NULL;
		pthread_mutex_unlock(&w->lock);
		int rc = fn(arg);
		pthread_mutex_lock(&w->lock);
		w->rc = rc;
		atomic_store(&w->finished, true);
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct worker *worker_new(void)
{
	struct worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int rc;

	if (!w)
		return NULL;
	atomic_init(&w->finished, false);
	if ((rc = pthread_mutex_init(&w->lock, NULL)) != 0) {
		free(w);
		errno = rc;
		return NULL;
	}
	if ((rc = pthread_cond_init(&w->cond, NULL)) != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		errno = rc;
		return NULL;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->th, NULL, run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		errno = rc;
		return NULL;
	}
	return w;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	(void)worker_wait(w);
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int worker_start(struct worker *w, int (*fn)(void *arg), void *arg)
{
	if (w->busy)
		return -EBUSY;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->finished, false);
	w->fn = fn;
	w->arg = arg;
	w->busy = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

bool worker_done(struct worker *w)
{
	return w->busy && atomic_load(&w->finished);
}

bool worker_busy(const struct worker *w)
{
	return w->busy;
}

int worker_wait(struct worker *w)
{
	int rc;

	if (!w->busy)
		return 0;
	pthread_mutex_lock(&w->lock);
	while (!atomic_load(&w->finished))
		pthread_cond_wait(&w->cond, &w->lock);
	rc = w->rc;
	w->busy = false;
	pthread_mutex_unlock(&w->lock);
	return rc;
}
