/* test_multipart.c - multipart/byteranges framing (RFC 9110 §14.6): boundary, part headers, the
 * close delimiter, and a body length that matches the bytes actually framed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/multipart.h"

static const unsigned char body[] = "0123456789abcdefghijklmnopqrstuvwxyz"; /* 36 bytes */
#define ETAG "\"4555529aaa4a98a2\""

static struct cachet_repr repr(const char *etag)
{
	return (struct cachet_repr){
	    .body = body, .body_len = sizeof(body) - 1, .etag = etag, .etag_len = strlen(etag)};
}

static struct cachet_range_set set_of(unsigned n, const uint64_t *first, const uint64_t *last)
{
	struct cachet_range_set s = {.n = n};
	for (unsigned i = 0; i < n; i++) {
		s.first[i] = first[i];
		s.last[i] = last[i];
	}
	return s;
}

/* Builds the whole multipart body the way the worker sends it: each part's head, its bytes, then
 * the close delimiter. Returns its length. */
static size_t assemble(const struct cachet_multipart *mp, char *dst, size_t cap)
{
	size_t n = 0;
	for (unsigned i = 0; i < mp->set.n; i++) {
		size_t h = cachet_multipart_part_head(mp, i, dst + n, cap - n);
		assert_true(h > 0);
		n += h;
		size_t len = mp->set.last[i] - mp->set.first[i] + 1;
		assert_true(n + len <= cap);
		memcpy(dst + n, mp->rep->body + mp->set.first[i], len);
		n += len;
	}
	size_t c = cachet_multipart_close(mp, dst + n, cap - n);
	assert_true(c > 0);
	return n + c;
}

static void test_two_parts(void **state)
{
	(void)state;
	const struct cachet_repr rep = repr(ETAG);
	const uint64_t first[] = {0, 30}, last[] = {4, 35};
	const struct cachet_range_set set = set_of(2, first, last);
	struct cachet_multipart mp;
	assert_true(cachet_multipart_plan(&mp, &rep, "text/plain; charset=utf-8", &set));
	assert_string_equal(mp.boundary, "cachet-4555529aaa4a98a2");
	assert_int_equal(mp.boundary_len, strlen(mp.boundary));

	static const char want[] = "\r\n--cachet-4555529aaa4a98a2\r\n"
	                           "Content-Type: text/plain; charset=utf-8\r\n"
	                           "Content-Range: bytes 0-4/36\r\n\r\n"
	                           "01234"
	                           "\r\n--cachet-4555529aaa4a98a2\r\n"
	                           "Content-Type: text/plain; charset=utf-8\r\n"
	                           "Content-Range: bytes 30-35/36\r\n\r\n"
	                           "uvwxyz"
	                           "\r\n--cachet-4555529aaa4a98a2--\r\n";
	char got[1024];
	size_t n = assemble(&mp, got, sizeof(got));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(got, want, n);
	assert_int_equal(mp.body_len, n);

	char type[CACHET_MULTIPART_TYPE_MAX];
	size_t t = cachet_multipart_type(&mp, type);
	assert_int_equal(t, strlen("multipart/byteranges; boundary=cachet-4555529aaa4a98a2"));
	assert_memory_equal(type, "multipart/byteranges; boundary=cachet-4555529aaa4a98a2", t);
}

/* The boundary keeps only letters and digits of the ETag (quotes, slashes, dashes go), at most 32.
 */
static void test_boundary_from_etag(void **state)
{
	(void)state;
	const uint64_t first[] = {0, 2}, last[] = {0, 2};
	const struct cachet_range_set set = set_of(2, first, last);
	struct cachet_multipart mp;

	struct cachet_repr rep = repr("W/\"ab-CD_09\"");
	assert_true(cachet_multipart_plan(&mp, &rep, "x/y", &set));
	assert_string_equal(mp.boundary, "cachet-WabCD09");

	rep = repr("\"0123456789abcdef0123456789abcdef0123456789\"");
	assert_true(cachet_multipart_plan(&mp, &rep, "x/y", &set));
	assert_int_equal(mp.boundary_len, CACHET_MULTIPART_BOUNDARY_MAX);
	assert_string_equal(mp.boundary, "cachet-0123456789abcdef0123456789abcdef");

	rep = repr("\"---\"");
	assert_false(cachet_multipart_plan(&mp, &rep, "x/y", &set));
}

/* Refused plans: fewer than two ranges, an absurdly long content type. */
static void test_plan_refused(void **state)
{
	(void)state;
	const struct cachet_repr rep = repr(ETAG);
	const uint64_t first[] = {0, 2}, last[] = {0, 2};
	struct cachet_multipart mp;
	struct cachet_range_set one = set_of(1, first, last);
	assert_false(cachet_multipart_plan(&mp, &rep, "x/y", &one));

	char type[300];
	memset(type, 'a', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	struct cachet_range_set two = set_of(2, first, last);
	assert_false(cachet_multipart_plan(&mp, &rep, type, &two));
	type[255] = '\0';
	assert_true(cachet_multipart_plan(&mp, &rep, type, &two));
}

/* The writers need exactly the room they report, write nothing into less, and say 0. */
static void test_exact_room(void **state)
{
	(void)state;
	const struct cachet_repr rep = repr(ETAG);
	const uint64_t first[] = {3, 10}, last[] = {7, 35};
	const struct cachet_range_set set = set_of(2, first, last);
	struct cachet_multipart mp;
	assert_true(cachet_multipart_plan(&mp, &rep, "image/png", &set));

	char full[512], small[512];
	size_t need = cachet_multipart_part_head(&mp, 1, full, sizeof(full));
	assert_true(need > 0 && need <= CACHET_MULTIPART_PART_HEAD_MAX + strlen("image/png"));
	assert_int_equal(cachet_multipart_part_head(&mp, 1, small, need), need);
	assert_memory_equal(small, full, need);
	assert_int_equal(cachet_multipart_part_head(&mp, 1, small, need - 1), 0);
	assert_int_equal(cachet_multipart_part_head(&mp, 2, small, sizeof(small)),
	                 0); /* no part 2 */

	need = cachet_multipart_close(&mp, full, sizeof(full));
	assert_int_equal(need, 4 + mp.boundary_len + 4);
	assert_int_equal(cachet_multipart_close(&mp, small, need - 1), 0);
}

/* Sixteen ranges, the most a set holds: the length still matches the assembled body. */
static void test_many_parts(void **state)
{
	(void)state;
	const struct cachet_repr rep = repr(ETAG);
	uint64_t first[CACHET_RANGES_MAX], last[CACHET_RANGES_MAX];
	for (unsigned i = 0; i < CACHET_RANGES_MAX; i++)
		first[i] = last[i] = 2 * i;
	const struct cachet_range_set set = set_of(CACHET_RANGES_MAX, first, last);
	struct cachet_multipart mp;
	assert_true(cachet_multipart_plan(&mp, &rep, "application/octet-stream", &set));
	char got[8192];
	size_t n = assemble(&mp, got, sizeof(got) - 1);
	assert_int_equal(mp.body_len, n);
	got[n] = '\0';
	/* one delimiter per part and one close delimiter, nothing else with the boundary */
	size_t count = 0;
	for (const char *p = got; (p = strstr(p, "--cachet-4555529aaa4a98a2")) != NULL; p++)
		count++;
	assert_int_equal(count, CACHET_RANGES_MAX + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_parts),    cmocka_unit_test(test_boundary_from_etag),
	    cmocka_unit_test(test_plan_refused), cmocka_unit_test(test_exact_room),
	    cmocka_unit_test(test_many_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
