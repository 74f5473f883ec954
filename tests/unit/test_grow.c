/* test_grow: the live source's table of open growing files, with a fake
 * clock: when files come due, and how each shipment is decided. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/mirrord/grow.h"

#define P(s) s, strlen(s)

static void expect_due(struct grow *g, uint64_t now, const char *want)
{
	const char *path;
	size_t len;

	assert_int_equal(grow_next_due(g, now, &path, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(path, want, len);
}

static void expect_none(struct grow *g, uint64_t now)
{
	const char *path;
	size_t len;

	assert_int_equal(grow_next_due(g, now, &path, &len), 0);
}

/* decide for a single-name file of inode 7 */
static enum grow_verdict decide(struct grow *g, const char *path, uint64_t size, uint64_t now,
				uint64_t *base)
{
	*base = UINT64_MAX;
	return grow_decide(g, 0, P(path), 7, 1, size, now, base);
}

/* Due at most interval after the first modification, whatever follows;
 * re-armed only by a modification after it was handed out. */
static void test_due_at_most_every_interval(void **state)
{
	struct grow *g = grow_new(4, 1, 250);

	(void)state;
	assert_non_null(g);
	assert_int_equal(grow_wait_ms(g, 0), -1);
	assert_true(grow_modified(g, P("log"), 1000));
	for (uint64_t t = 1020; t < 1250; t += 20) {      /* a busy writer */
		assert_true(grow_modified(g, P("log"), t));
		expect_none(g, t);
	}
	assert_int_equal(grow_wait_ms(g, 1240), 10);
	expect_due(g, 1250, "log");
	expect_none(g, 1250);
	assert_int_equal(grow_wait_ms(g, 1250), -1);       /* quiet: nothing armed */
	expect_none(g, 5000);
	assert_true(grow_modified(g, P("log"), 5000));
	expect_none(g, 5249);
	expect_due(g, 5250, "log");
	/* closed: no more passes, even when armed */
	assert_true(grow_modified(g, P("log"), 6000));
	grow_closed(g, P("log"));
	expect_none(g, 7000);
	assert_int_equal(grow_wait_ms(g, 7000), -1);
	assert_int_equal(grow_count(g), 1);
	grow_forget(g, P("log"));
	assert_int_equal(grow_count(g), 0);
	grow_free(g);
	grow_free(NULL);
	assert_null(grow_new(0, 1, 250));
}

/* The life of a log: first shipment whole, then appends from what the
 * sink holds, a shrink waits, an in-place write goes whole, the close too. */
static void test_decisions(void **state)
{
	struct grow *g = grow_new(4, 1, 100);
	uint64_t base;

	(void)state;
	assert_int_equal(decide(g, "untracked", 10, 0, &base), GROW_SEND);
	assert_true(grow_modified(g, P("log"), 0));
	assert_int_equal(decide(g, "log", 4096, 100, &base), GROW_SEND);  /* nothing known */
	assert_true(base == UINT64_MAX);
	/* in flight: the next pass skips and re-arms itself */
	assert_int_equal(decide(g, "log", 8192, 200, &base), GROW_SKIP);
	expect_due(g, 300, "log");
	grow_answered(g, 0, P("log"), 7, 4096, 0);
	assert_int_equal(decide(g, "log", 8192, 300, &base), GROW_APPEND);
	assert_true(base == 4096);
	grow_answered(g, 0, P("log"), 7, 8192, 0);
	assert_int_equal(decide(g, "log", 9000, 400, &base), GROW_APPEND);
	assert_true(base == 8192);
	grow_answered(g, 0, P("log"), 7, 9000, 0);
	/* shrank while open: nothing until the close */
	assert_int_equal(decide(g, "log", 100, 500, &base), GROW_SKIP);
	assert_int_equal(decide(g, "log", 8999, 500, &base), GROW_SKIP);
	/* same size: written in place, sent the normal way */
	assert_int_equal(decide(g, "log", 9000, 600, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 7, 9000, 0);
	/* closed: always the normal way, even when it grew */
	grow_closed(g, P("log"));
	assert_int_equal(decide(g, "log", 20000, 700, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 7, 20000, 0);
	/* opened again: appends from what the close sent */
	assert_true(grow_modified(g, P("log"), 800));
	assert_int_equal(decide(g, "log", 20001, 900, &base), GROW_APPEND);
	assert_true(base == 20000);
	grow_free(g);
}

/* What the sink answered decides what is known; other inodes and other
 * names never get an append. */
static void test_answers_and_identity(void **state)
{
	struct grow *g = grow_new(4, 1, 100);
	uint64_t base = 0;

	(void)state;
	assert_true(grow_modified(g, P("log"), 0));
	assert_int_equal(decide(g, "log", 100, 0, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 7, 100, -ESTALE);      /* failed: still unknown */
	assert_int_equal(decide(g, "log", 200, 0, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 7, 200, 0);
	/* replaced by another inode at the same path */
	assert_int_equal(grow_decide(g, 0, P("log"), 8, 1, 300, 0, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 8, 300, 0);
	assert_int_equal(grow_decide(g, 0, P("log"), 8, 1, 400, 0, &base), GROW_APPEND);
	assert_true(base == 300);
	grow_answered(g, 0, P("log"), 8, 400, 0);
	/* an answer about the old inode teaches nothing about the new one */
	grow_answered(g, 0, P("log"), 7, 5000, 0);
	assert_int_equal(grow_decide(g, 0, P("log"), 8, 1, 500, 0, &base), GROW_APPEND);
	assert_true(base == 400);
	grow_answered(g, 0, P("log"), 8, 500, 0);
	/* a second name: may travel as a hardlink, never appended */
	assert_int_equal(grow_decide(g, 0, P("log"), 8, 2, 600, 0, &base), GROW_SEND);
	/* a new session forgets what the sink holds */
	grow_reset(g, 0);
	assert_int_equal(grow_decide(g, 0, P("log"), 8, 1, 700, 0, &base), GROW_SEND);
	/* answers for paths not followed are ignored */
	grow_answered(g, 0, P("other"), 1, 1, 0);
	assert_int_equal(grow_count(g), 1);
	grow_free(g);
}

/* Full: the least recently modified file with nothing in flight goes; when
 * every file has a shipment in flight, the new one is not followed. */
static void test_bounded(void **state)
{
	struct grow *g = grow_new(2, 1, 100);
	uint64_t base;

	(void)state;
	assert_true(grow_modified(g, P("a"), 0));
	assert_true(grow_modified(g, P("b"), 1));
	assert_true(grow_modified(g, P("a"), 2));      /* b is now the oldest */
	assert_true(grow_modified(g, P("c"), 3));
	assert_int_equal(grow_count(g), 2);
	assert_int_equal(decide(g, "b", 10, 4, &base), GROW_SEND);   /* b was evicted */
	assert_int_equal(decide(g, "a", 10, 4, &base), GROW_SEND);   /* in flight */
	assert_int_equal(decide(g, "c", 10, 4, &base), GROW_SEND);   /* in flight */
	assert_false(grow_modified(g, P("d"), 5));
	assert_int_equal(grow_count(g), 2);
	grow_answered(g, 0, P("a"), 7, 10, 0);
	assert_true(grow_modified(g, P("d"), 6));      /* a had nothing in flight */
	assert_int_equal(decide(g, "a", 20, 7, &base), GROW_SEND);   /* forgotten */
	assert_int_equal(grow_count(g), 2);
	grow_free(g);
}

/* Several sinks (fan-out): each gets appends from what it holds, with its
 * own shipments in flight, answers and sessions. */
static void test_sinks(void **state)
{
	struct grow *g = grow_new(4, 2, 100);
	uint64_t base = 0;

	(void)state;
	assert_null(grow_new(4, 0, 100));
	assert_true(grow_modified(g, P("log"), 0));
	/* nothing known: both get the file the normal way */
	assert_int_equal(grow_decide(g, 0, P("log"), 7, 1, 100, 0, &base), GROW_SEND);
	assert_int_equal(grow_decide(g, 1, P("log"), 7, 1, 100, 0, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 7, 100, 0);
	/* sink 0 holds 100 bytes; sink 1's shipment is still in flight */
	assert_int_equal(grow_decide(g, 0, P("log"), 7, 1, 300, 0, &base), GROW_APPEND);
	assert_int_equal(base, 100);
	assert_int_equal(grow_decide(g, 1, P("log"), 7, 1, 300, 0, &base), GROW_SKIP);
	grow_answered(g, 1, P("log"), 7, 100, 0);
	grow_answered(g, 0, P("log"), 7, 300, 0);
	assert_int_equal(grow_decide(g, 1, P("log"), 7, 1, 400, 0, &base), GROW_APPEND);
	assert_int_equal(base, 100);            /* its own offset, not sink 0's */
	grow_answered(g, 1, P("log"), 7, 400, 0);
	assert_int_equal(grow_decide(g, 0, P("log"), 7, 1, 500, 0, &base), GROW_APPEND);
	assert_int_equal(base, 300);
	grow_answered(g, 0, P("log"), 7, 500, -ESTALE);   /* refused: unknown again */
	/* a new session with sink 1 forgets only its copy */
	grow_reset(g, 1);
	assert_int_equal(grow_decide(g, 1, P("log"), 7, 1, 600, 0, &base), GROW_SEND);
	assert_int_equal(grow_decide(g, 0, P("log"), 7, 1, 600, 0, &base), GROW_SEND);
	grow_answered(g, 0, P("log"), 7, 600, 0);
	grow_answered(g, 1, P("log"), 7, 600, 0);
	assert_int_equal(grow_decide(g, 0, P("log"), 7, 1, 700, 0, &base), GROW_APPEND);
	grow_answered(g, 0, P("log"), 7, 700, 0);
	/* another inode at the path: no sink holds it */
	assert_int_equal(grow_decide(g, 0, P("log"), 8, 1, 800, 0, &base), GROW_SEND);
	assert_int_equal(grow_decide(g, 1, P("log"), 8, 1, 800, 0, &base), GROW_SEND);
	assert_int_equal(grow_decide(g, 2, P("log"), 8, 1, 900, 0, &base), GROW_SEND);
	grow_answered(g, 2, P("log"), 8, 900, 0);     /* no such sink: ignored */
	grow_free(g);

	/* in flight to one sink only: not evicted */
	g = grow_new(1, 2, 100);
	assert_true(grow_modified(g, P("x"), 0));
	assert_int_equal(grow_decide(g, 1, P("x"), 7, 1, 10, 0, &base), GROW_SEND);
	assert_false(grow_modified(g, P("y"), 1));
	grow_answered(g, 1, P("x"), 7, 10, 0);
	assert_true(grow_modified(g, P("y"), 2));
	assert_int_equal(grow_decide(g, 1, P("x"), 7, 1, 20, 0, &base), GROW_SEND);  /* gone */
	grow_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due_at_most_every_interval),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_answers_and_identity),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_sinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
