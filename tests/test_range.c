/* test_range.c - Range header parsing, single ranges and sets (RFC 9110 §14.1-14.4), and
 * Content-Range formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
    /* Several ranges where only one can be satisfied: that one. */
    {"bytes=0-9,2000-", 1000, OK, 0, 9},
    {"bytes=2000-,5-9,-0", 1000, OK, 5, 9},
    /* Several, none satisfiable: 416. */
    {"bytes=2000-,3000-", 1000, UNSAT, 0, 0},
    {"bytes=1000-,-0", 1000, UNSAT, 0, 0},
    /* Overlapping or descending: the whole 200 (RFC 9110 §14.3). */
    {"bytes=0-5,0-5", 1000, NONE, 0, 0},
    {"bytes=0-5,5-9", 1000, NONE, 0, 0},
    {"bytes=100-199,0-9", 1000, NONE, 0, 0},
    {"bytes=0-,-1", 1000, NONE, 0, 0},
    {"bytes=-10,990-", 1000, NONE, 0, 0},
    /* A syntax error anywhere spoils the whole set. */
    {"bytes=0-5,x", 1000, NONE, 0, 0},
    {"bytes=0-5,7-6", 1000, NONE, 0, 0},
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
		struct cachet_range_set set;
		int r;

		memset(&set, 0xa5, sizeof(set));
		r = cachet_range_parse(c->v, strlen(c->v), c->size, &set);
		if (r != c->want)
			fail_msg("case %zu \"%s\": got %d, want %d", i, c->v, r, c->want);
		if (r == OK && (set.n != 1 || set.first[0] != c->first || set.last[0] != c->last))
			fail_msg("case %zu \"%s\": got %u ranges, %llu-%llu", i, c->v, set.n,
			         (unsigned long long)set.first[0], (unsigned long long)set.last[0]);
		if (r != OK && set.n != 0)
			fail_msg("case %zu \"%s\": %u ranges on %d", i, c->v, set.n, r);
	}
}

static void test_parse_not_terminated(void **state)
{
	/* The length bounds the value: the digits after it are not part of it. */
	const char buf[] = "bytes=0-59999";
	struct cachet_range_set set;

	(void)state;
	assert_int_equal(cachet_range_parse(buf, 9, 1000, &set), OK);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.first[0], 0);
	assert_int_equal(set.last[0], 5);
	assert_int_equal(cachet_range_parse(buf, 0, 1000, &set), NONE);
}

/* Sets of several satisfiable ranges: kept in the order asked, clipped, unsatisfiable ones left
 * out. want is the set written as "first-last first-last ...". */
static void test_parse_sets(void **state)
{
	static const struct {
		const char *v;
		const char *want;
	} cases[] = {
	    {"bytes=0-99,200-299", "0-99 200-299"},
	    {"bytes=0-0, -1", "0-0 999-999"},
	    {"bytes=0-4,5-9", "0-4 5-9"}, /* adjacent, not overlapping: two parts */
	    {"bytes=0-9,500-,2000-", "0-9 500-999"},
	    {"bytes=10-19,30-39,50-59,70-", "10-19 30-39 50-59 70-999"},
	    {"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,"
	     "28-28,30-30",
	     "0-0 2-2 4-4 6-6 8-8 10-10 12-12 14-14 16-16 18-18 20-20 22-22 24-24 26-26 28-28 "
	     "30-30"},
	};
	char got[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cachet_range_set set;
		size_t n = 0;

		assert_int_equal(cachet_range_parse(cases[i].v, strlen(cases[i].v), 1000, &set),
		                 OK);
		got[0] = '\0';
		for (unsigned k = 0; k < set.n; k++)
			n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%llu-%llu", k ? " " : "",
			                      (unsigned long long)set.first[k],
			                      (unsigned long long)set.last[k]);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].v, got, cases[i].want);
	}
	/* One range more than CACHET_RANGES_MAX: the header is ignored. */
	char many[512];
	size_t n = (size_t)snprintf(many, sizeof(many), "bytes=");
	for (unsigned k = 0; k <= CACHET_RANGES_MAX; k++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s%u-%u", k ? "," : "", 2 * k,
		                      2 * k);
	struct cachet_range_set set;
	assert_int_equal(cachet_range_parse(many, n, 1000, &set), NONE);
	assert_int_equal(set.n, 0);
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

static void test_parse_then_format(void **state)
{
	const char *v = "bytes=-100";
	struct cachet_range_set set;
	char out[CACHET_RANGE_FORMAT_MAX];

	(void)state;
	assert_int_equal(cachet_range_parse(v, strlen(v), 250, &set), OK);
	cachet_range_format(out, sizeof(out), set.first[0], set.last[0], 250);
	assert_string_equal(out, "bytes 150-249/250");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),      cmocka_unit_test(test_parse_not_terminated),
	    cmocka_unit_test(test_parse_sets),       cmocka_unit_test(test_format_table),
	    cmocka_unit_test(test_format_exact_cap), cmocka_unit_test(test_parse_then_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
