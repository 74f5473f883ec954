/* test_pos: the replication position read from mirrord's status JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pos.h"

static int64_t parse(const char *json)
{
	int64_t v = -1;

	assert_int_equal(pos_parse(json, &v), 0);
	return v;
}

/* The smallest synced_until_ms of the source mirrors; sinks and mirrors
 * whose position is null do not count. */
static void test_sources_only(void **state)
{
	assert_int_equal(parse("{\"node\":\"a\",\"mirrors\":["
			       "{\"name\":\"www\",\"role\":\"source\",\"synced_until_ms\":1700000000123},"
			       "{\"name\":\"db\",\"role\":\"source\",\"synced_until_ms\":1700000000100},"
			       "{\"name\":\"in\",\"role\":\"sink\",\"synced_until_ms\":5}]}"),
			 1700000000100);
	assert_int_equal(parse("{\"mirrors\":[{\"name\":\"in\",\"role\":\"sink\","
			       "\"synced_until_ms\":null}]}"), 0);
	assert_int_equal(parse("{\"mirrors\":[{\"name\":\"w\",\"role\":\"source\","
			       "\"synced_until_ms\":null}]}"), 0);
	assert_int_equal(parse("{\"mirrors\":[]}"), 0);
	/* a mirror name or an error text that looks like a key changes nothing */
	assert_int_equal(parse("{\"mirrors\":[{\"name\":\"\\\"synced_until_ms\\\":1\","
			       "\"role\":\"source\",\"last_error\":\"role source\","
			       "\"synced_until_ms\":1700000000999}]}"), 1700000000999);
}

static void test_garbage(void **state)
{
	int64_t v = 42;
	static const char *const bad[] = {
		"", "{", "[]", "{\"mirrors\":{}}", "{\"node\":\"a\"}", "error unknown command",
		"{\"mirrors\":[{\"role\":\"source\",\"synced_until_ms\":1}]", "null",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pos_parse(bad[i], &v), -EINVAL);
		assert_int_equal(v, 42);              /* untouched */
	}
	/* absurd numbers are ignored, not trusted */
	assert_int_equal(parse("{\"mirrors\":[{\"role\":\"source\",\"synced_until_ms\":-5},"
			       "{\"role\":\"source\",\"synced_until_ms\":1e300},"
			       "{\"role\":\"source\",\"synced_until_ms\":\"7\"}]}"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources_only),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
