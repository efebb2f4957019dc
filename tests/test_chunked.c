/* test_chunked.c - skipping chunked request bodies (RFC 9112 §7.1): where each body ends, what is
 * refused, and that the answer never depends on how the bytes were split across receives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/chunked.h"

#define MORE  CACHET_CHUNKED_MORE
#define DONE  CACHET_CHUNKED_DONE
#define ERROR CACHET_CHUNKED_ERROR

struct skip_case {
	const char *in;
	int want;
	size_t used; /* ERROR: the offending byte; MORE: all of in. Unused for DONE (see below) */
	size_t len;  /* of in, when it holds a NUL; 0: strlen(in) */
};

/* Every DONE row ends in "NEXT", standing for the next request: the body is all before it, and
 * none of it may be consumed. */
static const struct skip_case cases[] = {
    /* Bodies that end. */
    {"0\r\n\r\nNEXT", DONE, 0, 0},
    {"5\r\nhello\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    {"a\r\n0123456789\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    {"A\r\n0123456789\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    {"000005\r\nhello\r\n000\r\n\r\nNEXT", DONE, 0, 0},
    {"0000000000000000000000000005\r\nhello\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    /* Chunk data is opaque: CRLFs and request-looking bytes inside it are skipped unread. */
    {"4\r\n\r\n\r\n\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    {"21\r\nGET /secret HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    /* Chunk extensions, skipped. */
    {"5;name\r\nhello\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    {"5;name=value\r\nhello\r\n0;x=\"q;\\\"uoted\"\r\n\r\nNEXT", DONE, 0, 0},
    {"5 ;name\r\nhello\r\n0\t;a=b\r\n\r\nNEXT", DONE, 0, 0},
    {"5;a=\xff\xfe\r\nhello\r\n0\r\n\r\nNEXT", DONE, 0, 0},
    /* Trailer fields, skipped. */
    {"0\r\nX-Checksum: abc\r\n\r\nNEXT", DONE, 0, 0},
    {"5\r\nhello\r\n0\r\nA: 1\r\nB:\t2\r\n\r\nNEXT", DONE, 0, 0},
    /* Refused: chunk-size. */
    {"\r\n", ERROR, 0, 0},
    {"x\r\n", ERROR, 0, 0},
    {"-5\r\nhello\r\n0\r\n\r\n", ERROR, 0, 0},
    {"+5\r\nhello\r\n0\r\n\r\n", ERROR, 0, 0},
    {" 5\r\nhello\r\n0\r\n\r\n", ERROR, 0, 0},
    {"0x5\r\nhello\r\n0\r\n\r\n", ERROR, 1, 0},
    {"5g\r\nhello\r\n0\r\n\r\n", ERROR, 1, 0},
    {"5 \r\nhello\r\n0\r\n\r\n", ERROR, 2, 0},
    {"5 x\r\nhello\r\n0\r\n\r\n", ERROR, 2, 0},
    {"10000000000000000\r\n", ERROR, 16, 0}, /* 2^64: does not fit */
    {"ffffffffffffffff0\r\n", ERROR, 16, 0},
    /* Refused: line ends (bare LF and bare CR are how smuggling starts). */
    {"5\nhello\r\n0\r\n\r\n", ERROR, 1, 0},
    {"5\rhello\r\n0\r\n\r\n", ERROR, 2, 0},
    {"5;a\nhello\r\n0\r\n\r\n", ERROR, 3, 0},
    {"5\r\nhello\n0\r\n\r\n", ERROR, 8, 0},
    {"5\r\nhelloX\r\n0\r\n\r\n", ERROR, 8, 0},
    {"5\r\nhello\rX0\r\n\r\n", ERROR, 9, 0},
    {"5\r\nhello\r\n0\r\n\n", ERROR, 13, 0},
    {"5\r\nhello\r\n0\r\n\rX", ERROR, 14, 0},
    {"0\r\nA: 1\n\r\n", ERROR, 7, 0},
    /* Refused: control characters in extensions and trailers, obs-fold, non-field lines. */
    {"5;a\x01\r\nhello\r\n0\r\n\r\n", ERROR, 3, 0},
    {"5;a\x7f\r\nhello\r\n0\r\n\r\n", ERROR, 3, 0},
    {"0\r\nA: 1\x00\r\n\r\n", ERROR, 7, 12},
    {"0\r\nA: 1\r\n folded\r\n\r\n", ERROR, 9, 0},
    {"0\r\n\tA: 1\r\n\r\n", ERROR, 3, 0},
    {"0\r\n: 1\r\n\r\n", ERROR, 3, 0},
    /* Not finished yet: every byte belongs to the body. */
    {"", MORE, 0, 0},
    {"5", MORE, 1, 0},
    {"5\r\nhel", MORE, 6, 0},
    {"5\r\nhello\r\n0\r\n", MORE, 13, 0},
    {"5\r\nhello\r\n0\r\nA: 1\r\n", MORE, 19, 0},
};

/* Runs one case with the input cut into pieces of at most step bytes (0: in one call), as a
 * body arriving in several receives; returns the result and the total of bytes used. */
static int run_split(const char *in, size_t len, size_t step, size_t *used_total)
{
	struct cachet_chunked c;
	size_t off = 0;
	int rc = MORE;

	cachet_chunked_init(&c);
	*used_total = 0;
	do {
		size_t n = step == 0 || len - off < step ? len - off : step;
		size_t used = 12345;
		rc = cachet_chunked_skip(&c, in + off, n, &used);
		assert_true(used <= n);
		if (rc == MORE)
			assert_int_equal(used, n);
		*used_total += used;
		off += n;
	} while (rc == MORE && off < len);
	return rc;
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct skip_case *k = &cases[i];
		size_t len = k->len ? k->len : strlen(k->in);
		size_t want_used = k->want == DONE ? len - 4 : k->used;
		for (size_t step = 0; step <= 7; step++) {
			size_t used = 0;
			int rc = run_split(k->in, len, step, &used);
			if (rc != k->want || used != want_used)
				print_error(
				    "case %zu (%s) step %zu: got %d used %zu, want %d used %zu\n",
				    i, k->in, step, rc, used, k->want, want_used);
			assert_int_equal(rc, k->want);
			assert_int_equal(used, want_used);
		}
	}
}

/* A chunk as large as 64 bits allow is skipped in whatever pieces arrive, one call per piece. */
static void test_huge_chunk(void **state)
{
	static char piece[1 << 16];
	struct cachet_chunked c;
	size_t used = 0;

	(void)state;
	memset(piece, 'x', sizeof(piece));
	cachet_chunked_init(&c);
	assert_int_equal(cachet_chunked_skip(&c, "ffffffffffffffff\r\n", 18, &used), MORE);
	assert_int_equal(used, 18);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(cachet_chunked_skip(&c, piece, sizeof(piece), &used), MORE);
		assert_int_equal(used, sizeof(piece));
	}
	assert_true(c.left == UINT64_MAX - 64u * sizeof(piece));
}

/* A body split right after its last byte, then the next request: nothing of the request is used.
 */
static void test_done_then_nothing_more(void **state)
{
	struct cachet_chunked c;
	size_t used = 0;

	(void)state;
	cachet_chunked_init(&c);
	assert_int_equal(cachet_chunked_skip(&c, "3\r\nabc\r\n0\r\n\r\n", 13, &used), DONE);
	assert_int_equal(used, 13);
	/* A finished body takes no more bytes. */
	assert_int_equal(cachet_chunked_skip(&c, "GET", 3, &used), ERROR);
	assert_int_equal(used, 0);
}

/* Writes head, then fill up to byte `to`, then tail into buf; returns the length. */
static size_t padded(char *buf, const char *head, char fill, size_t to, const char *tail)
{
	size_t n = strlen(head);
	memcpy(buf, head, n);
	memset(buf + n, fill, to - n);
	memcpy(buf + to, tail, strlen(tail));
	return to + strlen(tail);
}

/* Bounds: one size line (extensions included) and one trailer line of CACHET_CHUNKED_LINE_MAX
 * bytes, CRLF counted, pass; one byte more is refused. The trailer section has its own bound. */
static void test_line_bounds(void **state)
{
	size_t cap = CACHET_CHUNKED_TRAILER_MAX + 2 * CACHET_CHUNKED_LINE_MAX;
	char *buf = malloc(cap);
	size_t used = 0, n;
	struct cachet_chunked c;

	(void)state;
	if (buf == NULL)
		abort(); /* not assert_non_null(): not noreturn, -O2 then warns of a NULL memset */
	for (size_t extra = 0; extra <= 1; extra++) {
		/* "1;" + padding + "\r\n" is LINE_MAX (+extra) bytes. */
		n = padded(buf, "1;", 'e', CACHET_CHUNKED_LINE_MAX - 2 + extra,
		           "\r\nz\r\n0\r\n\r\n");
		cachet_chunked_init(&c);
		assert_int_equal(cachet_chunked_skip(&c, buf, n, &used), extra ? ERROR : DONE);

		/* A trailer line "A:" + padding + "\r\n" of LINE_MAX (+extra) bytes. */
		n = padded(buf, "0\r\nA:", 't', 3 + CACHET_CHUNKED_LINE_MAX - 2 + extra,
		           "\r\n\r\n");
		cachet_chunked_init(&c);
		assert_int_equal(cachet_chunked_skip(&c, buf, n, &used), extra ? ERROR : DONE);
	}
	/* Many short trailer lines: the section bound applies, whatever each line's length. */
	n = 0;
	memcpy(buf, "0\r\n", 3);
	n = 3;
	while (n + 8 < cap - 2) {
		memcpy(buf + n, "A: 123\r\n", 8);
		n += 8;
	}
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	cachet_chunked_init(&c);
	assert_int_equal(cachet_chunked_skip(&c, buf, n, &used), ERROR);
	assert_true(used <= 3 + CACHET_CHUNKED_TRAILER_MAX);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_huge_chunk),
	    cmocka_unit_test(test_done_then_nothing_more),
	    cmocka_unit_test(test_line_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
