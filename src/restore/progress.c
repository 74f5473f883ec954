/* progress: a redraw thread for the TTY. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

struct progress {
	struct progress_src src;
	pthread_t t;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct timespec t0;
};

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void draw(struct progress *p)
{
	uint64_t e = __atomic_load_n(p->src.entries, __ATOMIC_RELAXED);
	uint64_t b = __atomic_load_n(p->src.bytes, __ATOMIC_RELAXED);
	double dt = since(&p->t0), rate = dt > 0 ? b / dt : 0;
	char eta[32] = "--:--";

	if (p->src.expected > e && e > 0 && dt > 1) {
		double left = (double)(p->src.expected - e) * dt / (double)e;
		snprintf(eta, sizeof(eta), "%d:%02d", (int)left / 60, (int)left % 60);
	} else if (p->src.expected && e >= p->src.expected) {
		snprintf(eta, sizeof(eta), "0:00");
	}
	fprintf(stderr, "\r\033[K%s: %llu", p->src.label, (unsigned long long)e);
	if (p->src.expected)
		fprintf(stderr, "/%llu", (unsigned long long)p->src.expected);
	fprintf(stderr, " entries, %.1f MiB, %.1f MiB/s, ETA %s", b / 1048576.0,
		rate / 1048576.0, eta);
	fflush(stderr);
}

static void *run(void *arg)
{
	struct progress *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 500000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &until);
		if (!p->stop)
			draw(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct progress *progress_start(const struct progress_src *src)
{
	struct progress *p;

	if (!isatty(STDERR_FILENO) || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->src = *src;
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->t, NULL, run, p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

void progress_stop(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->t, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	free(p);
}
