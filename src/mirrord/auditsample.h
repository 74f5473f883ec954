/* auditsample: which files the drift audit hashes in a pass, and the
 * cursor that makes the sample roll over the tree pass after pass.
 *
 * Every path has a key on a ring of 2^64 positions (the first 8 bytes of
 * the XXH3-128 of its path, so both the position and the order are stable
 * across restarts and independent of readdir order).  A pass hashes the
 * files whose key lies in [cursor, cursor + span); the next pass starts
 * where this one ended, so consecutive passes cover the ring without gap
 * or overlap and a full lap covers every file once (the files that exist
 * throughout it).  span comes from a fraction (ppm) or from a byte budget
 * and the tree's size at the last pass.
 *
 * The cursor, the lap and the last tree size persist in
 * state_dir/<mirror>/audit (one "key value" per line, written atomically),
 * so coverage survives restarts.  Only a pass that completed advances. */
#ifndef MIRRORD_AUDITSAMPLE_H
#define MIRRORD_AUDITSAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auditsample {
	uint64_t cursor;        /* where the next pass starts on the ring */
	uint64_t lap_done;      /* ring covered in the current lap */
	uint64_t laps;          /* full laps completed */
	uint64_t tree_bytes;    /* file bytes seen by the last complete pass */
	uint64_t passes;        /* complete passes */
	uint64_t last_end;      /* unix seconds at the end of the last one */
};

/* The ring position of a path. */
uint64_t auditsample_key(const char *path, size_t len);
/* The span of one pass: ppm > 0 as a fraction (1000000 = all), else a
 * budget of bytes against the tree's size (unknown size 0: everything). */
uint64_t auditsample_span(uint32_t ppm, uint64_t bytes, uint64_t tree_bytes);
/* Is key within [from, from + span) on the ring?  UINT64_MAX spans all. */
bool auditsample_in(uint64_t from, uint64_t span, uint64_t key);
/* A pass over [cursor, cursor + span) completed over a tree of tree_bytes:
 * move the cursor on, count the lap.  true when a lap was completed. */
bool auditsample_advance(struct auditsample *s, uint64_t span, uint64_t tree_bytes);

/* Load from file (a missing file gives zeros: 0); 0 or -errno (a file that
 * does not parse is -EINVAL; the caller starts afresh). */
int auditsample_load(const char *file, struct auditsample *ret);
/* Write atomically (temporary file, fsync, rename).  0 or -errno. */
int auditsample_save(const char *file, const struct auditsample *s);

#endif
