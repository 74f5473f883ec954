/* auditsample: the rolling content sample of the drift audit.  See
 * auditsample.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditsample.h"
#include "hash.h"

uint64_t auditsample_key(const char *path, size_t len)
{
	uint8_t d[HASH_LEN];
	uint64_t k = 0;

	hash_buf(path, len, d);
	for (int i = 0; i < 8; i++)
		k = k << 8 | d[i];
	return k;
}

uint64_t auditsample_span(uint32_t ppm, uint64_t bytes, uint64_t tree_bytes)
{
	double f;

	if (ppm > 0)
		f = ppm / 1e6;
	else if (tree_bytes == 0 || bytes >= tree_bytes)
		f = 1.0;
	else
		f = (double)bytes / (double)tree_bytes;
	if (f >= 1.0)
		return UINT64_MAX;
	uint64_t span = (uint64_t)(f * 18446744073709551616.0);
	return span ? span : 1;
}

bool auditsample_in(uint64_t from, uint64_t span, uint64_t key)
{
	return span == UINT64_MAX || key - from < span;
}

bool auditsample_advance(struct auditsample *s, uint64_t span, uint64_t tree_bytes)
{
	bool lap = false;

	s->passes++;
	s->tree_bytes = tree_bytes;
	if (span == UINT64_MAX) {
		s->laps++;
		s->lap_done = 0;
		return true;     /* everything was hashed; the cursor stays */
	}
	s->cursor += span;
	if (s->lap_done + span < s->lap_done || s->lap_done + span == 0) {
		s->laps++;
		lap = true;
	}
	s->lap_done += span;
	return lap;
}

int auditsample_load(const char *file, struct auditsample *ret)
{
	struct auditsample s = { 0 };
	char key[32];
	uint64_t v;
	int n, rc = 0;
	FILE *f = fopen(file, "re");

	memset(ret, 0, sizeof(*ret));
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while ((n = fscanf(f, "%31s %" SCNu64, key, &v)) == 2) {
		if (!strcmp(key, "cursor"))
			s.cursor = v;
		else if (!strcmp(key, "lap_done"))
			s.lap_done = v;
		else if (!strcmp(key, "laps"))
			s.laps = v;
		else if (!strcmp(key, "tree_bytes"))
			s.tree_bytes = v;
		else if (!strcmp(key, "passes"))
			s.passes = v;
		else if (!strcmp(key, "last_end"))
			s.last_end = v;
	}
	if (n != EOF || ferror(f))
		rc = -EINVAL;
	fclose(f);
	if (rc == 0)
		*ret = s;
	return rc;
}

int auditsample_save(const char *file, const struct auditsample *s)
{
	char *tmp = NULL;
	int rc = 0;

	if (asprintf(&tmp, "%s.tmp", file) < 0)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		free(tmp);
		return rc;
	}
	fprintf(f, "cursor %" PRIu64 "\nlap_done %" PRIu64 "\nlaps %" PRIu64
		"\ntree_bytes %" PRIu64 "\npasses %" PRIu64 "\nlast_end %" PRIu64 "\n", s->cursor,
		s->lap_done, s->laps, s->tree_bytes, s->passes, s->last_end);
	if (fflush(f) != 0 || ferror(f) || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, file) < 0)
		rc = -errno;
	if (rc < 0)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}
