/* test_range.c - Range header parsing (RFC 9110 §14.1-14.4) and Content-Range formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/range.h"

#define NONE  CACHET_RANGE_NONE
#define OK    CACHET_RANGE_OK
#define UNSAT CACHET_RANGE_UNSATISFIABLE

struct parse_case {
	const char *v;
	uint64_t size;
	int want;
	uint64_t first, last; /* checked only when want == OK */
};

static const struct parse_case parse_cases[] = {
    /* The three forms. */
    {"bytes=0-0", 1000, OK, 0, 0},
    {"bytes=0-99", 1000, OK, 0, 99},
    {"bytes=5-", 1000, OK, 5, 999},
    {"bytes=-5", 1000, OK, 995, 999},
    {"bytes=0-", 1000, OK, 0, 999},
    {"bytes=999-999", 1000, OK, 999, 999},
    {"bytes=999-", 1000, OK, 999, 999},
    {"bytes=-1", 1000, OK, 999, 999},
    /* Clipping. */
    {"bytes=0-999", 1000, OK, 0, 999},
    {"bytes=0-1000", 1000, OK, 0, 999},
    {"bytes=500-18446744073709551615", 1000, OK, 500, 999},
    {"bytes=-1000", 1000, OK, 0, 999},
    {"bytes=-1001", 1000, OK, 0, 999},
    {"bytes=-18446744073709551615", 1000, OK, 0, 999},
    /* Unsatisfiable. */
    {"bytes=1000-", 1000, UNSAT, 0, 0},
    {"bytes=1000-2000", 1000, UNSAT, 0, 0},
    {"bytes=-0", 1000, UNSAT, 0, 0},
    {"bytes=0-0", 0, UNSAT, 0, 0},
    {"bytes=0-", 0, UNSAT, 0, 0},
    {"bytes=-5", 0, UNSAT, 0, 0},
    {"bytes=18446744073709551615-", 1000, UNSAT, 0, 0},
    /* Unit. */
    {"BYTES=0-5", 1000, OK, 0, 5},
    {"Bytes=0-5", 1000, OK, 0, 5},
    {"items=0-5", 1000, NONE, 0, 0},
    {"byte=0-5", 1000, NONE, 0, 0},
    {"bytesx=0-5", 1000, NONE, 0, 0},
    {"bytes0-5", 1000, NONE, 0, 0},
    {"=0-5", 1000, NONE, 0, 0},
    /* Whitespace and empty list elements. */
    {"  bytes=0-5  ", 1000, OK, 0, 5},
    {"\tbytes=\t0-5\t", 1000, OK, 0, 5},
    {"bytes =0-5", 1000, OK, 0, 5},
    {"bytes= 10-", 1000, OK, 10, 999},
    {"bytes=0-5,", 1000, OK, 0, 5},
    {"bytes=, ,0-5", 1000, OK, 0, 5},
    {"bytes=0 -5", 1000, NONE, 0, 0},
    {"bytes=0- 5", 1000, NONE, 0, 0},
    {"bytes=- 5", 1000, NONE, 0, 0},
    /* Syntax errors. */
    {"", 1000, NONE, 0, 0},
    {"bytes", 1000, NONE, 0, 0},
    {"bytes=", 1000, NONE, 0, 0},
    {"bytes=,", 1000, NONE, 0, 0},
    {"bytes=-", 1000, NONE, 0, 0},
    {"bytes=10-5", 1000, NONE, 0, 0},
    {"bytes=a-5", 1000, NONE, 0, 0},
    {"bytes=0-5x", 1000, NONE, 0, 0},
    {"bytes=0-5 6", 1000, NONE, 0, 0},
    {"bytes=+0-5", 1000, NONE, 0, 0},
    {"bytes=0x10-", 1000, NONE, 0, 0},
    {"bytes=--5", 1000, NONE, 0, 0},
    {"bytes=0--5", 1000, NONE, 0, 0},
    {"bytes=0-5;x", 1000, NONE, 0, 0},
    /* Several ranges: answered with the whole 200. */
    {"bytes=0-99,200-299", 1000, NONE, 0, 0},
    {"bytes=0-0, -1", 1000, NONE, 0, 0},
    {"bytes=0-5,0-5", 1000, NONE, 0, 0},
    {"bytes=2000-,3000-", 1000, NONE, 0, 0},
    /* Numbers beyond 64 bits. */
    {"bytes=18446744073709551616-", 1000, NONE, 0, 0},
    {"bytes=0-18446744073709551616", 1000, NONE, 0, 0},
    {"bytes=-18446744073709551616", 1000, NONE, 0, 0},
    {"bytes=99999999999999999999999999-", 1000, NONE, 0, 0},
    /* Leading zeros are still decimal. */
    {"bytes=0010-0020", 1000, OK, 10, 20},
    {"bytes=-00", 1000, UNSAT, 0, 0},
    /* Large representations. */
    {"bytes=4294967296-", 8589934592ull, OK, 4294967296ull, 8589934591ull},
    {"bytes=-1", UINT64_MAX, OK, UINT64_MAX - 1, UINT64_MAX - 1},
};

static void test_parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		uint64_t first = 12345, last = 67890;
		int r = cachet_range_parse(c->v, strlen(c->v), c->size, &first, &last);

		if (r != c->want)
			fail_msg("case %zu \"%s\": got %d, want %d", i, c->v, r, c->want);
		if (r == OK && (first != c->first || last != c->last))
			fail_msg("case %zu \"%s\": got %llu-%llu", i, c->v,
			         (unsigned long long)first, (unsigned long long)last);
		if (r != OK && (first != 12345 || last != 67890))
			fail_msg("case %zu \"%s\": outputs written on %d", i, c->v, r);
	}
}

static void test_parse_not_terminated(void **state)
{
	/* The length bounds the value: the digits after it are not part of it. */
	const char buf[] = "bytes=0-59999";
	uint64_t first = 0, last = 0;

	(void)state;
	assert_int_equal(cachet_range_parse(buf, 9, 1000, &first, &last), OK);
	assert_int_equal(first, 0);
	assert_int_equal(last, 5);
	assert_int_equal(cachet_range_parse(buf, 0, 1000, &first, &last), NONE);
}

struct format_case {
	uint64_t first, last, size;
	const char *want;
};

static const struct format_case format_cases[] = {
    {0, 99, 1000, "bytes 0-99/1000"},
    {0, 0, 1, "bytes 0-0/1"},
    {995, 999, 1000, "bytes 995-999/1000"},
    {10, 19, 20, "bytes 10-19/20"},
    {0, UINT64_MAX - 1, UINT64_MAX, "bytes 0-18446744073709551614/18446744073709551615"},
    {UINT64_MAX, UINT64_MAX, UINT64_MAX,
     "bytes 18446744073709551615-18446744073709551615/18446744073709551615"},
};

static void test_format_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		const struct format_case *c = &format_cases[i];
		char out[CACHET_RANGE_FORMAT_MAX];
		size_t n = cachet_range_format(out, sizeof(out), c->first, c->last, c->size);

		if (n != strlen(c->want) || strcmp(out, c->want) != 0)
			fail_msg("case %zu: got \"%s\" (%zu), want \"%s\"", i, out, n, c->want);
	}
}

static void test_format_exact_cap(void **state)
{
	const char *want = "bytes 0-99/1000";
	size_t len = strlen(want);
	char out[32];

	(void)state;
	/* len + 1 bytes hold the value and its NUL; one fewer must fail cleanly. */
	assert_int_equal(cachet_range_format(out, len + 1, 0, 99, 1000), len);
	assert_string_equal(out, want);
	memset(out, 'x', sizeof(out));
	assert_int_equal(cachet_range_format(out, len, 0, 99, 1000), 0);
	assert_int_equal(out[0], '\0');
	assert_int_equal(out[len], 'x');
	/* With no room at all nothing is written, not even the NUL. */
	memset(out, 'x', sizeof(out));
	assert_int_equal(cachet_range_format(out, 0, 0, 99, 1000), 0);
	assert_int_equal(out[0], 'x');
}

static void test_format_unsatisfied(void **state)
{
	char out[CACHET_RANGE_FORMAT_MAX];

	(void)state;
	assert_int_equal(cachet_range_format_unsatisfied(out, sizeof(out), 1000), 12);
	assert_string_equal(out, "bytes */1000");
	assert_int_equal(cachet_range_format_unsatisfied(out, sizeof(out), 0), 9);
	assert_string_equal(out, "bytes */0");
	assert_int_equal(cachet_range_format_unsatisfied(out, sizeof(out), UINT64_MAX), 28);
	assert_string_equal(out, "bytes */18446744073709551615");
	assert_int_equal(cachet_range_format_unsatisfied(out, 13, 1000), 12);
	assert_int_equal(cachet_range_format_unsatisfied(out, 12, 1000), 0);
	assert_string_equal(out, "");
}

static void test_parse_then_format(void **state)
{
	const char *v = "bytes=-100";
	uint64_t first = 0, last = 0;
	char out[CACHET_RANGE_FORMAT_MAX];

	(void)state;
	assert_int_equal(cachet_range_parse(v, strlen(v), 250, &first, &last), OK);
	cachet_range_format(out, sizeof(out), first, last, 250);
	assert_string_equal(out, "bytes 150-249/250");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),        cmocka_unit_test(test_parse_not_terminated),
	    cmocka_unit_test(test_format_table),       cmocka_unit_test(test_format_exact_cap),
	    cmocka_unit_test(test_format_unsatisfied), cmocka_unit_test(test_parse_then_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
