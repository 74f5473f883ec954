/* sinkfail: the directories a live source reconciles again because the
 * sink could not apply a change beneath them (FAILED, doc/PROTOCOL.md).
 *
 * A failure is noted under the nearest directory that still exists here
 * above the path that failed; the caller rescans it when it comes due.
 * Failures under a directory whose rescan is still to come ride on that
 * rescan.  Each directory is rescanned at most SINKFAIL_TRIES times, each
 * try later than the last (SINKFAIL_FIRST_MS, then four times longer), so a
 * path the sink can never write (EACCES there) is not sent again forever;
 * it is given up (the caller logs it) and tried again only when
 * SINKFAIL_FORGET_MS passed without a failure.  At most SINKFAIL_MAX
 * directories are kept. */
#ifndef MIRROR_SINKFAIL_H
#define MIRROR_SINKFAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SINKFAIL_TRIES 5
#define SINKFAIL_FIRST_MS 200
#define SINKFAIL_FORGET_MS 600000
#define SINKFAIL_MAX 256

enum sinkfail_verdict {
	SINKFAIL_RETRY = 0,      /* a rescan of dir is (or was already) due */
	SINKFAIL_GIVEN_UP = 1,   /* its tries are spent: log it */
	SINKFAIL_QUIET = 2,      /* given up before, already logged */
};

struct sinkfail;

struct sinkfail *sinkfail_new(void);
void sinkfail_free(struct sinkfail *sf);     /* NULL is a no-op */

/* A failure beneath dir (now: monotonic ms).  An enum sinkfail_verdict,
 * or -ENOSPC (the table is full of directories still to rescan: the
 * caller reconciles the whole tree) or -ENOMEM. */
int sinkfail_note(struct sinkfail *sf, const char *dir, size_t len, uint64_t now);

/* The next directory whose rescan is due at now: true with *ret_dir
 * (NUL-terminated, valid until the next call) and *ret_len. */
bool sinkfail_due(struct sinkfail *sf, uint64_t now, const char **ret_dir, size_t *ret_len);

/* Milliseconds until the next rescan is due, -1 when none is waiting. */
int64_t sinkfail_wait_ms(const struct sinkfail *sf, uint64_t now);

/* Rescans are waiting to be made. */
bool sinkfail_waiting(const struct sinkfail *sf);

#endif
