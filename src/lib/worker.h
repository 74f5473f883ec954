/* worker: one background thread that runs one job at a time.
 *
 * The owner hands it a job (worker_start), goes on with its own work, and
 * collects the job's result with worker_wait() (blocking) once
 * worker_done() says it finished, or whenever it needs the job's effects.
 * There is never more than one job: starting another before the last one
 * was collected is refused.  The thread is created by worker_new() with
 * every signal blocked (signals stay with the program's own threads) and
 * joined by worker_free().  Used by apply.c to put a batch of renames in
 * place while the receiver goes on reading. */
#ifndef MIRROR_WORKER_H
#define MIRROR_WORKER_H

#include <stdbool.h>

struct worker;

/* NULL when the thread cannot be created (the caller then does the work
 * itself); errno is set. */
struct worker *worker_new(void);
/* Waits for a job still running (its result is lost), then joins the
 * thread.  NULL is a no-op. */
void worker_free(struct worker *w);

/* Run fn(arg) on the thread.  0, or -EBUSY while the last job has not been
 * collected by worker_wait(). */
int worker_start(struct worker *w, int (*fn)(void *arg), void *arg);
/* True when a job was started and has finished (worker_wait() will not
 * block); false when none was started or it is still running. */
bool worker_done(struct worker *w);
/* True from worker_start() until worker_wait() collected the job. */
bool worker_busy(const struct worker *w);
/* Wait for the job and return what fn returned; the worker is free again.
 * 0 when there was no job. */
int worker_wait(struct worker *w);

#endif
