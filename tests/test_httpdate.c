/* test_httpdate.c - HTTP-date formatting and parsing, checked against gmtime_r + strftime. */
#define _DEFAULT_SOURCE /* gmtime_r; MAP_ANONYMOUS for guard.h */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cachet/httpdate.h"
#include "guard.h"

#define MAX_TIME INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static int parse_str(const char *s, int64_t *t)
{
	return cachet_httpdate_parse(s, strlen(s), t);
}

/* The oracle: the C library's calendar in the "C" locale (setlocale is never called). */
static void oracle(int64_t t, const char *fmt, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(gmtime_r(&tt, &tm));
	assert_true(strftime(buf, cap, fmt, &tm) > 0);
}

static void check_one(int64_t t)
{
	char got[CACHET_HTTPDATE_LEN + 1] = {0};
	char want[64];
	int64_t back = -1;

	cachet_httpdate_format(t, got);
	oracle(t, "%a, %d %b %Y %H:%M:%S GMT", want, sizeof(want));
	if (strcmp(got, want) != 0)
		fail_msg("format(%lld): got \"%s\", want \"%s\"", (long long)t, got, want);
	if (cachet_httpdate_parse(got, CACHET_HTTPDATE_LEN, &back) != 0 || back != t)
		fail_msg("parse(\"%s\") != %lld", got, (long long)t);

	oracle(t, "%a %b %e %H:%M:%S %Y", want, sizeof(want));
	if (parse_str(want, &back) != 0 || back != t)
		fail_msg("asctime parse(\"%s\") != %lld", want, (long long)t);

	{ /* RFC 850: unambiguous when read at that very time */
		oracle(t, "%A, %d-%b-%y %H:%M:%S GMT", want, sizeof(want));
		if (cachet_httpdate_parse_at(want, strlen(want), t, &back) != 0 || back != t)
			fail_msg("rfc850 parse(\"%s\") != %lld", want, (long long)t);
	}
}

static void test_round_trip_boundaries(void **state)
{
	static const int64_t ts[] = {
	    0,          1,          59,           60,           86399,      86400,
	    951782399,  951782400,  951868800,    978307199,    978307200,  1709164800,
	    2147483647, 2147483648, 4107542399,   4107542400,   4107628800, 3155759999,
	    3155760000, MAX_TIME,   MAX_TIME - 1, 253402214400,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		check_one(ts[i]);
}

static void test_round_trip_random(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	int i;

	(void)state;
	for (i = 0; i < 4000; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		check_one((int64_t)((x >> 11) % (uint64_t)(MAX_TIME + 1)));
	}
}

static void test_round_trip_every_day_edges(void **state)
{
	int64_t d;

	(void)state;
	/* The first and last second of every 7th day from 1970 to 2100: all months, leap years. */
	for (d = 0; d < 47482; d += 7) {
		check_one(d * 86400);
		check_one(d * 86400 + 86399);
	}
}

static void test_clamp(void **state)
{
	char out[CACHET_HTTPDATE_LEN + 1] = {0};

	(void)state;
	cachet_httpdate_format(-5, out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	cachet_httpdate_format(MAX_TIME + 100, out);
	assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_rfc_examples(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(parse_str("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	t = 0;
	assert_int_equal(parse_str("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	t = 0;
	assert_int_equal(parse_str("Sun Nov  6 08:49:37 1994", &t), 0);
	assert_int_equal(t, 784111777);
}

static void test_accepted_variants(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(parse_str(" \tSun, 06 Nov 1994 08:49:37 GMT \t", &t), 0);
	assert_int_equal(t, 784111777);
	/* A leap second is read as :59. */
	assert_int_equal(parse_str("Sat, 31 Dec 2016 23:59:60 GMT", &t), 0);
	assert_int_equal(t, 1483228799);
	/* RFC 850 two-digit years, read today: 00 is 2000 */
	assert_int_equal(parse_str("Saturday, 01-Jan-00 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 946684800);
	/* Leap days. */
	assert_int_equal(parse_str("Tue, 29 Feb 2000 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 951782400);
	assert_int_equal(parse_str("Thu Feb 29 12:00:00 2024", &t), 0);
	assert_int_equal(t, 1709208000);
	/* The day name is validated as a name, not against the date's weekday. */
	assert_int_equal(parse_str("Mon, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
}

static const char *const invalid[] = {
    "",
    "Sun",
    "Sun, 06 Nov 1994 08:49:37",
    "Sun, 06 Nov 1994 08:49:37 GM",
    "Sun, 06 Nov 1994 08:49:37 gmt",
    "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sun, 06 Nov 1994 08:49:37 GMTx",
    "Sun, 06 Nov 1994 08:49:37 GMT x",
    "Sun, 06 Foo 1994 08:49:37 GMT",
    "Sun, 06 nov 1994 08:49:37 GMT",
    "Sun, 30 Feb 2000 08:49:37 GMT",
    "Sun, 29 Feb 1900 08:49:37 GMT",
    "Sun, 29 Feb 2023 08:49:37 GMT",
    "Sun, 31 Apr 2023 08:49:37 GMT",
    "Sun, 32 Jan 2023 08:49:37 GMT",
    "Sun, 00 Jan 2023 08:49:37 GMT",
    "Sun, 06 Nov 1994 24:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:37 GMT",
    "Sun, 06 Nov 1994 08:49:61 GMT",
    "Sun, 6 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 94 08:49:37 GMT",
    "Sun, 06 Nov 1994 8:49:37 GMT",
    "Sun,  06 Nov 1994 08:49:37 GMT",
    "Sun, 06-Nov-1994 08:49:37 GMT",
    "Xyz, 06 Nov 1994 08:49:37 GMT",
    "sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 0x Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08-49-37 GMT",
    "Sunday, 06-Nov-94 08:49:37",
    "Sunday, 06-Nov-94 08:49:37 gmt",
    "Sunday, 06-Nov-1994 08:49:37 GMT",
    "Sunday, 06 Nov 94 08:49:37 GMT",
    "Sun, 06-Nov-94 08:49:37 GMT",
    "Sundae, 06-Nov-94 08:49:37 GMT",
    "Sunday, 30-Feb-94 08:49:37 GMT",
    "Sun Nov 6 08:49:37 1994",
    "Sun Nov  6 08:49:37 1994 GMT",
    "Sun Nov 06 08:49:37 94",
    "Sun Nov  x 08:49:37 1994",
    "Sun Foo  6 08:49:37 1994",
    "Sun Feb 30 08:49:37 1994",
    "Sun Nov  6 08:49:37 199",
    "784111777",
    "Sun, 06 Nov 1994 08:49:37 GMT\r\n",
};

/* RFC 9110 §5.6.7: a two-digit year whose date is more than 50 years ahead of now is in the
 * past century. */
static void test_rfc850_fifty_years(void **state)
{
	static const struct {
		int64_t now;
		const char *date;
		int64_t want;
	} cases[] = {
	    /* now 2026-11-27: up to 2076 is ahead by at most 50 years, 77 is 1977 */
	    {1795737600, "Thursday, 01-Jan-76 00:00:00 GMT", 3345062400},
	    {1795737600, "Friday, 01-Jan-77 00:00:00 GMT", 220924800},
	    {1795737600, "Thursday, 01-Jan-70 00:00:00 GMT", 3155760000},
	    {1795737600, "Tuesday, 31-Dec-69 23:59:59 GMT", 3155759999},
	    {1795737600, "Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
	    /* the whole date counts, not the year alone: 50 years to the second is still ahead,
	     * one second or one month more is in the past */
	    {1795737600, "Friday, 27-Nov-76 00:00:00 GMT", 3373660800},
	    {1795737600, "Friday, 27-Nov-76 00:00:01 GMT", 217900801},
	    {1795737600, "Tuesday, 31-Dec-76 23:59:59 GMT", 220924799},
	    {1795737600 + 43200, "Friday, 27-Nov-76 12:00:00 GMT", 3373704000},
	    {1795737600 + 43200, "Friday, 27-Nov-76 12:00:01 GMT", 217944001},
	    /* now 1995-01-01: 44 is 2044, 45 is 2045 (50 years), 46 is 1946 */
	    {788918400, "Saturday, 01-Jan-44 00:00:00 GMT", 2335219200},
	    {788918400, "Sunday, 01-Jan-45 00:00:00 GMT", 2366841600},
	    {788918400, "Tuesday, 01-Jan-46 00:00:00 GMT", -757382400},
	    /* now 2099-06-01: 00 is 2100, 49 is 2149 (50 years ahead), 50 is 2050 */
	    {4083955200, "Friday, 01-Jan-00 00:00:00 GMT", 4102444800},
	    {4083955200, "Friday, 01-Jan-49 00:00:00 GMT", 5648745600},
	    {4083955200, "Saturday, 01-Jan-50 00:00:00 GMT", 2524608000},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;

		if (cachet_httpdate_parse_at(cases[i].date, strlen(cases[i].date), cases[i].now,
		                             &t) != 0 ||
		    t != cases[i].want)
			fail_msg("case %zu \"%s\" at %lld: got %lld, want %lld", i, cases[i].date,
			         (long long)cases[i].now, (long long)t, (long long)cases[i].want);
	}
}

static void test_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		int64_t t = 12345;

		if (parse_str(invalid[i], &t) != -EINVAL || t != 12345)
			fail_msg("accepted \"%s\"", invalid[i]);
	}
}

static void test_no_read_past_len(void **state)
{
	const char s[] = "Sun, 06 Nov 1994 08:49:37 GMT";
	int64_t t;
	size_t n;

	(void)state;
	/* Every prefix is invalid; each ends right before an unreadable page, so a read beyond
	 * len crashes. */
	for (n = 0; n < sizeof(s) - 1; n++) {
		struct guarded g = guard(s, n);

		assert_int_equal(cachet_httpdate_parse(g.data, g.len, &t), -EINVAL);
		unguard(&g);
	}
}

static void test_cache_refresh(void **state)
{
	struct cachet_httpdate_cache c;
	char want[CACHET_HTTPDATE_LEN];
	struct timespec ts;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_true(cachet_httpdate_cache_refresh(&c));
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	assert_true(ts.tv_sec - c.sec <= 1);
	cachet_httpdate_format(c.sec, want);
	assert_memory_equal(c.text, want, CACHET_HTTPDATE_LEN);
	/* Same second again: nothing to do (unless the second just ticked over). */
	if (ts.tv_sec == c.sec)
		assert_false(cachet_httpdate_cache_refresh(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_boundaries),
	    cmocka_unit_test(test_round_trip_random),
	    cmocka_unit_test(test_round_trip_every_day_edges),
	    cmocka_unit_test(test_clamp),
	    cmocka_unit_test(test_rfc_examples),
	    cmocka_unit_test(test_accepted_variants),
	    cmocka_unit_test(test_rfc850_fifty_years),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_no_read_past_len),
	    cmocka_unit_test(test_cache_refresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
