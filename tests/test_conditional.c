/* test_conditional.c - RFC 9110 §13.2.2 evaluation order and If-Range, on hand-built requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/conditional.h"

#define TAG     "\"0123456789abcdef\""
#define WTAG    "W/" TAG
#define LM      INT64_C(784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */
#define BEFORE  "Sat, 05 Nov 1994 08:49:37 GMT"
#define EQUAL   "Sun, 06 Nov 1994 08:49:37 GMT"
#define EQ850   "Sunday, 06-Nov-94 08:49:37 GMT"
#define EQASC   "Sun Nov  6 08:49:37 1994"
#define AFTER   "Sun, 06 Nov 1994 08:49:38 GMT"
#define FUTURE  "Fri, 01 Jan 2100 00:00:00 GMT"
#define BADDATE "Sun, 06 Nov 1994 08:49:37 gmt"

static const struct cachet_validators val = {TAG, sizeof(TAG) - 1, LM};

struct cond_case {
	const char *inm[3]; /* If-None-Match lines; NULL ends */
	const char *im[3];  /* If-Match lines; NULL ends */
	const char *ims;    /* If-Modified-Since, NULL when absent */
	unsigned ims_n;     /* lines of it (1 when 0 and ims is set) */
	const char *ius;    /* If-Unmodified-Since */
	unsigned ius_n;
	enum cachet_cond want;
};

#define PROCEED CACHET_COND_PROCEED
#define N304    CACHET_COND_NOT_MODIFIED
#define N412    CACHET_COND_PRECONDITION_FAILED

static const struct cond_case cases[] = {
    /* 0: no preconditions */
    {.want = PROCEED},
    /* If-None-Match alone (step 3), weak comparison. */
    {.inm = {TAG}, .want = N304},
    {.inm = {WTAG}, .want = N304},
    {.inm = {"\"x\""}, .want = PROCEED},
    {.inm = {"*"}, .want = N304},
    {.inm = {"\"x\", W/\"y\", " WTAG}, .want = N304},
    {.inm = {"\"x\"", "\"y\"", TAG}, .want = N304},
    {.inm = {"\"x\"", "garbage", TAG}, .want = PROCEED},
    {.inm = {"\"0123456789ABCDEF\""}, .want = PROCEED},
    /* If-Modified-Since alone (step 4). */
    {.ims = EQUAL, .want = N304},
    {.ims = EQ850, .want = N304},
    {.ims = EQASC, .want = N304},
    {.ims = AFTER, .want = N304},
    {.ims = FUTURE, .want = N304},
    {.ims = BEFORE, .want = PROCEED},
    {.ims = BADDATE, .want = PROCEED},
    {.ims = "yesterday", .want = PROCEED},
    {.ims = EQUAL, .ims_n = 2, .want = PROCEED},
    /* If-None-Match present: If-Modified-Since is ignored, whichever way it would go. */
    {.inm = {"\"x\""}, .ims = EQUAL, .want = PROCEED},
    {.inm = {"\"x\""}, .ims = FUTURE, .want = PROCEED},
    {.inm = {TAG}, .ims = BEFORE, .want = N304},
    {.inm = {""}, .ims = EQUAL, .want = PROCEED},
    {.inm = {"garbage"}, .ims = EQUAL, .want = PROCEED},
    /* If-Match alone (step 1), strong comparison. */
    {.im = {TAG}, .want = PROCEED},
    {.im = {WTAG}, .want = N412},
    {.im = {"\"x\""}, .want = N412},
    {.im = {"*"}, .want = PROCEED},
    {.im = {"\"x\"", " , " TAG}, .want = PROCEED},
    {.im = {"\"x\", " WTAG}, .want = N412},
    {.im = {""}, .want = N412},
    {.im = {"garbage, " TAG}, .want = N412},
    /* If-Unmodified-Since alone (step 2). */
    {.ius = EQUAL, .want = PROCEED},
    {.ius = AFTER, .want = PROCEED},
    {.ius = FUTURE, .want = PROCEED},
    {.ius = BEFORE, .want = N412},
    {.ius = BADDATE, .want = PROCEED},
    {.ius = BEFORE, .ius_n = 2, .want = PROCEED},
    /* If-Match present: If-Unmodified-Since is ignored. */
    {.im = {TAG}, .ius = BEFORE, .want = PROCEED},
    {.im = {"\"x\""}, .ius = AFTER, .want = N412},
    /* Steps 1-2 come before 3-4: a 412 wins over a 304. */
    {.im = {TAG}, .inm = {TAG}, .want = N304},
    {.im = {"\"x\""}, .inm = {TAG}, .want = N412},
    {.ius = BEFORE, .ims = AFTER, .want = N412},
    {.ius = AFTER, .ims = EQUAL, .want = N304},
    {.im = {TAG}, .ims = EQUAL, .want = N304},
    {.im = {"*"}, .inm = {"*"}, .want = N304},
    {.ius = EQUAL, .inm = {"\"x\""}, .ims = EQUAL, .want = PROCEED},
};

static void fill_list(struct cachet_field_list *l, const char *const lines[3])
{
	unsigned i;

	for (i = 0; i < 3 && lines[i]; i++) {
		l->line[i].p = lines[i];
		l->line[i].len = strlen(lines[i]);
	}
	l->n = i;
}

static void fill_date(struct cachet_span *s, unsigned *n, const char *text, unsigned lines)
{
	if (!text)
		return;
	s->p = text;
	s->len = strlen(text);
	*n = lines ? lines : 1;
}

static void test_evaluate_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cond_case *c = &cases[i];
		struct cachet_request req;
		enum cachet_cond got;

		memset(&req, 0, sizeof(req));
		req.method_id = CACHET_METHOD_GET;
		fill_list(&req.if_none_match, c->inm);
		fill_list(&req.if_match, c->im);
		fill_date(&req.if_modified_since, &req.n_if_modified_since, c->ims, c->ims_n);
		fill_date(&req.if_unmodified_since, &req.n_if_unmodified_since, c->ius, c->ius_n);
		got = cachet_conditional_evaluate(&req, &val);
		if (got != c->want)
			fail_msg("case %zu: got %d, want %d", i, (int)got, (int)c->want);
	}
}

struct range_case {
	const char *if_range; /* NULL when absent */
	unsigned n;           /* lines (1 when 0 and if_range is set) */
	bool want;
};

static const struct range_case range_cases[] = {
    {NULL, 0, true},
    {TAG, 0, true},
    {" " TAG "\t", 0, true},
    {WTAG, 0, false},
    {"\"x\"", 0, false},
    {"\"0123456789abcdee\"", 0, false},
    {EQUAL, 0, true},
    {EQ850, 0, true},
    {EQASC, 0, true},
    {BEFORE, 0, false},
    {AFTER, 0, false},
    {FUTURE, 0, false},
    {BADDATE, 0, false},
    {"garbage", 0, false},
    {"", 0, false},
    {"W/", 0, false},
    {"*", 0, false},
    {TAG ", " TAG, 0, false},
    {TAG, 2, false},
    {EQUAL, 2, false},
    /* A date whose day name begins with 'W' is still read as a date (the weekday is not
     * checked against the date). */
    {"Wed, 06 Nov 1994 08:49:37 GMT", 0, true},
};

static void test_if_range_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const struct range_case *c = &range_cases[i];
		struct cachet_request req;

		memset(&req, 0, sizeof(req));
		fill_date(&req.if_range, &req.n_if_range, c->if_range, c->n);
		if (cachet_conditional_if_range(&req, &val) != c->want)
			fail_msg("case %zu (%s): want %d", i, c->if_range ? c->if_range : "absent",
			         c->want);
	}
}

static void test_weak_current_tag(void **state)
{
	static const struct cachet_validators weak = {WTAG, sizeof(WTAG) - 1, LM};
	struct cachet_request req;

	(void)state;
	/* Should a weak validator ever be selected, If-Match and If-Range must not accept it. */
	memset(&req, 0, sizeof(req));
	fill_list(&req.if_match, (const char *const[3]){WTAG, NULL, NULL});
	assert_int_equal(cachet_conditional_evaluate(&req, &weak), N412);
	memset(&req, 0, sizeof(req));
	fill_list(&req.if_none_match, (const char *const[3]){TAG, NULL, NULL});
	assert_int_equal(cachet_conditional_evaluate(&req, &weak), N304);
	memset(&req, 0, sizeof(req));
	fill_date(&req.if_range, &req.n_if_range, WTAG, 1);
	assert_false(cachet_conditional_if_range(&req, &weak));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_evaluate_table),
	    cmocka_unit_test(test_if_range_table),
	    cmocka_unit_test(test_weak_current_tag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
