/* test_span.c - the shared helpers of span.h and chars.h: case-insensitive comparison, digits,
 * the overflow-checked decimal scan, OWS trimming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/chars.h"
#include "cachet/span.h"

static struct cachet_span sp(const char *s)
{
	return (struct cachet_span){s, strlen(s)};
}

static void test_chars(void **state)
{
	(void)state;
	for (int c = -128; c < 128; c++) {
		assert_int_equal(cachet_char_is_digit((char)c), c >= '0' && c <= '9');
		char want = c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;
		assert_int_equal(cachet_char_lower((char)c), want);
	}
}

static void test_ieq_iprefix(void **state)
{
	(void)state;
	assert_true(cachet_span_ieq(sp("Keep-ALIVE"), "keep-alive"));
	assert_true(cachet_span_ieq(sp(""), ""));
	assert_false(cachet_span_ieq(sp("keep-aliv"), "keep-alive"));
	assert_false(cachet_span_ieq(sp("keep-alives"), "keep-alive"));
	/* Only ASCII letters fold: '@' (0x40) is not '`' (0x60), 0xC9 is not 0xE9. */
	assert_false(cachet_span_ieq(sp("@"), "`"));
	assert_false(cachet_span_ieq(sp("\xc9"), "\xe9"));
	assert_true(cachet_span_iprefix(sp("HTTPS://h/"), "https://"));
	assert_true(cachet_span_iprefix(sp("bytes=0-1"), "bytes"));
	assert_false(cachet_span_iprefix(sp("byte"), "bytes"));
	assert_false(cachet_span_iprefix(sp("bytez"), "bytes"));
	/* The span's length bounds the read, not a NUL. */
	struct cachet_span cut = {"bytes", 4};
	assert_false(cachet_span_iprefix(cut, "bytes"));
	assert_false(cachet_span_ieq(cut, "bytes"));
}

static void test_scan_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(cachet_span_scan_u64(sp(""), &v), 0);
	assert_int_equal(cachet_span_scan_u64(sp("x1"), &v), 0);
	assert_int_equal(v, 7); /* untouched without digits */
	assert_int_equal(cachet_span_scan_u64(sp("0"), &v), 1);
	assert_int_equal(v, 0);
	assert_int_equal(cachet_span_scan_u64(sp("123-456"), &v), 3);
	assert_int_equal(v, 123);
	assert_int_equal(cachet_span_scan_u64(sp("000042"), &v), 6);
	assert_int_equal(v, 42);
	assert_int_equal(cachet_span_scan_u64(sp("18446744073709551615"), &v), 20);
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_int_equal(cachet_span_scan_u64(sp("18446744073709551616"), &v), -1);
	assert_int_equal(cachet_span_scan_u64(sp("99999999999999999999"), &v), -1);
	assert_int_equal(v, 7);
	/* The span's length bounds the read. */
	struct cachet_span cut = {"12345", 2};
	assert_int_equal(cachet_span_scan_u64(cut, &v), 2);
	assert_int_equal(v, 12);
}

static void test_trim_ows(void **state)
{
	struct cachet_span t;

	(void)state;
	t = cachet_span_trim_ows(sp(" \t a b\t "));
	assert_int_equal(t.len, 3);
	assert_memory_equal(t.p, "a b", 3);
	t = cachet_span_trim_ows(sp(" \t "));
	assert_int_equal(t.len, 0);
}

static void test_field_lines(void **state)
{
	(void)state;
	struct cachet_field_list l = {0};
	struct cachet_span v = {"x", 1};
	for (unsigned i = 0; i < CACHET_FIELD_LINES_MAX + 3; i++)
		cachet_field_list_add(&l, v);
	assert_int_equal(l.n, CACHET_FIELD_LINES_MAX);
	assert_int_equal(l.dropped, 3);

	struct cachet_span slot = {0};
	unsigned count = 0;
	cachet_field_set_single(&slot, &count, (struct cachet_span){"first", 5});
	cachet_field_set_single(&slot, &count, (struct cachet_span){"second", 6});
	assert_int_equal(count, 2);
	assert_int_equal(slot.len, 5);
	assert_memory_equal(slot.p, "first", 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chars),       cmocka_unit_test(test_ieq_iprefix),
	    cmocka_unit_test(test_scan_u64),    cmocka_unit_test(test_trim_ows),
	    cmocka_unit_test(test_field_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
