/* test_etag.c - ETag generation, comparison and If-(None-)Match list evaluation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/etag.h"

static void test_from_bytes_format(void **state)
{
	char tag[CACHET_ETAG_MAX];
	size_t n = cachet_etag_from_bytes("hello", 5, tag);
	size_t i;

	(void)state;
	assert_int_equal(n, 18);
	assert_int_equal(strlen(tag), 18);
	assert_int_equal(tag[0], '"');
	assert_int_equal(tag[17], '"');
	for (i = 1; i < 17; i++)
		assert_non_null(strchr("0123456789abcdef", tag[i]));
}

static void test_from_bytes_known_value(void **state)
{
	char tag[CACHET_ETAG_MAX];

	(void)state;
	/* XXH3_64bits of the empty input is 0x2d06800538d394c2 (xxHash reference vector). */
	cachet_etag_from_bytes("", 0, tag);
	assert_string_equal(tag, "\"2d06800538d394c2\"");
}

static void test_from_bytes_deterministic(void **state)
{
	char a[CACHET_ETAG_MAX], b[CACHET_ETAG_MAX], c[CACHET_ETAG_MAX];

	(void)state;
	cachet_etag_from_bytes("abcdef", 6, a);
	cachet_etag_from_bytes("abcdef", 6, b);
	cachet_etag_from_bytes("abcdeg", 6, c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
}

struct eq_case {
	const char *a, *b;
	bool weak_eq, strong_eq;
};

/* RFC 9110 §8.8.3.2 table, plus malformed tags that never compare equal. */
static const struct eq_case eq_cases[] = {
    {"W/\"1\"", "W/\"1\"", true, false},
    {"W/\"1\"", "W/\"2\"", false, false},
    {"W/\"1\"", "\"1\"", true, false},
    {"\"1\"", "\"1\"", true, true},
    {"\"1\"", "\"2\"", false, false},
    {"\"\"", "\"\"", true, true},
    {"1", "1", false, false},
    {"\"1", "\"1", false, false},
    {"w/\"1\"", "\"1\"", false, false},
    {"\"1\" ", "\"1\"", false, false},
    {"\"a\"b\"", "\"a\"b\"", false, false},
    {"\"\xc3\xa9\"", "\"\xc3\xa9\"", true, true},
    {"\"a,b\"", "\"a,b\"", true, true},
};

static void test_equal_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(eq_cases) / sizeof(eq_cases[0]); i++) {
		const struct eq_case *c = &eq_cases[i];
		size_t al = strlen(c->a), bl = strlen(c->b);

		if (cachet_etag_equal(c->a, al, c->b, bl, false) != c->weak_eq ||
		    cachet_etag_equal(c->a, al, c->b, bl, true) != c->strong_eq ||
		    cachet_etag_equal(c->b, bl, c->a, al, false) != c->weak_eq ||
		    cachet_etag_equal(c->b, bl, c->a, al, true) != c->strong_eq)
			fail_msg("case %zu: %s vs %s", i, c->a, c->b);
	}
}

static struct cachet_field_list make_list(const char *const *lines, unsigned n)
{
	struct cachet_field_list l;
	unsigned i;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < n; i++) {
		l.line[i].p = lines[i];
		l.line[i].len = strlen(lines[i]);
	}
	l.n = n;
	return l;
}

#define TAG "\"0123456789abcdef\""

struct list_case {
	const char *lines[3];
	unsigned n;
	bool weak_match, strong_match;
};

static const struct list_case list_cases[] = {
    {{TAG}, 1, true, true},
    {{"W/" TAG}, 1, true, false},
    {{"*"}, 1, true, true},
    {{"  *\t"}, 1, true, true},
    {{"", "*"}, 2, true, true},
    {{"*", "*"}, 2, false, false},
    {{"*, " TAG}, 1, false, false},
    {{TAG ", *"}, 1, true, true},
    {{"\"x\", " TAG}, 1, true, true},
    {{"\"x\",W/" TAG}, 1, true, false},
    {{"\"x\", \"y\""}, 1, false, false},
    {{"\"x\"", "\"y\"", TAG}, 3, true, true},
    {{"\"x\"", "", "W/" TAG}, 3, true, false},
    {{" , ,, " TAG " ,"}, 1, true, true},
    {{""}, 1, false, false},
    {{"\"x\" \"y\", " TAG}, 1, false, false},
    {{"x, " TAG}, 1, false, false},
    {{"\"x\"", "bad", TAG}, 3, false, false},
    {{"0123456789abcdef"}, 1, false, false},
    {{"\"0123456789ABCDEF\""}, 1, false, false},
    {{"\"a,b\", " TAG}, 1, true, true},
    {{TAG "x"}, 1, false, false},
    {{"w/" TAG}, 1, false, false},
    {{"W/ " TAG}, 1, false, false},
};

static void test_list_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
		const struct list_case *c = &list_cases[i];
		struct cachet_field_list l = make_list(c->lines, c->n);

		if (cachet_etag_list_matches(&l, TAG, strlen(TAG), false) != c->weak_match ||
		    cachet_etag_list_matches(&l, TAG, strlen(TAG), true) != c->strong_match)
			fail_msg("case %zu: %s", i, c->lines[0]);
	}
}

static void test_list_weak_current_tag(void **state)
{
	const char *lines[] = {"\"x\", " TAG};
	const char *exact[] = {"W/" TAG};
	struct cachet_field_list l = make_list(lines, 1);
	struct cachet_field_list e = make_list(exact, 1);

	(void)state;
	/* A weak current tag can satisfy If-None-Match but never If-Match. */
	assert_true(cachet_etag_list_matches(&l, "W/" TAG, strlen("W/" TAG), false));
	assert_false(cachet_etag_list_matches(&l, "W/" TAG, strlen("W/" TAG), true));
	assert_true(cachet_etag_list_matches(&e, "W/" TAG, strlen("W/" TAG), false));
	assert_false(cachet_etag_list_matches(&e, "W/" TAG, strlen("W/" TAG), true));
}

static void test_list_empty(void **state)
{
	struct cachet_field_list l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_false(cachet_etag_list_matches(&l, TAG, strlen(TAG), false));
	assert_false(cachet_etag_list_matches(&l, TAG, strlen(TAG), true));
}

static void test_list_generated_tag(void **state)
{
	char tag[CACHET_ETAG_MAX];
	const char *lines[1];
	struct cachet_field_list l;
	size_t n = cachet_etag_from_bytes("body", 4, tag);

	(void)state;
	lines[0] = tag;
	l = make_list(lines, 1);
	assert_true(cachet_etag_list_matches(&l, tag, n, true));
	assert_true(cachet_etag_list_matches(&l, tag, n, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_bytes_format),
	    cmocka_unit_test(test_from_bytes_known_value),
	    cmocka_unit_test(test_from_bytes_deterministic),
	    cmocka_unit_test(test_equal_table),
	    cmocka_unit_test(test_list_table),
	    cmocka_unit_test(test_list_weak_current_tag),
	    cmocka_unit_test(test_list_empty),
	    cmocka_unit_test(test_list_generated_tag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
