/* test_path.c - request-target normalization: decoding, dot segments, traversal attempts. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS for guard.h */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/path.h"
#include "guard.h"

struct path_case {
	const char *in;
	int ret;         /* expected length, or -errno */
	const char *out; /* expected result when ret >= 0 */
};

#define OK(in, out)                                                                                \
	{                                                                                          \
		in, sizeof(out) - 1, out                                                           \
	}
#define BAD(in)                                                                                    \
	{                                                                                          \
		in, -EINVAL, NULL                                                                  \
	}

static const struct path_case cases[] = {
    /* Plain paths. */
    OK("/", "/"),
    OK("/index.html", "/index.html"),
    OK("/a/b/c", "/a/b/c"),
    OK("/a/b/", "/a/b/"),
    OK("/a/b?x=1", "/a/b"),
    OK("/a/b?", "/a/b"),
    OK("/a/b?x=/../..", "/a/b"),
    OK("/a#frag", "/a"),
    OK("/a#f?q", "/a"),
    OK("/?q", "/"),
    /* Dot segments and slashes. */
    OK("/./", "/"),
    OK("/.", "/"),
    OK("//a//b/", "/a/b/"),
    OK("///", "/"),
    OK("/a/./b", "/a/b"),
    OK("/a/b/..", "/a/"),
    OK("/a/b/.", "/a/b/"),
    OK("/a/b/../c", "/a/c"),
    OK("/a/../b", "/b"),
    OK("/a/..", "/"),
    OK("/a/b/../../c/", "/c/"),
    OK("/.../x", "/.../x"),
    OK("/..a/b..", "/..a/b.."),
    OK("/.hidden", "/.hidden"),
    /* Percent-decoding, once. */
    OK("/a%20b", "/a b"),
    OK("/%41%62", "/Ab"),
    OK("/caf%C3%A9", "/caf\xc3\xa9"),
    OK("/a%2Fb", "/a/b"),
    OK("/a%2fb%2f", "/a/b/"),
    OK("/a/%2e%2e/b", "/b"),
    OK("/a/%2E", "/a/"),
    OK("/%252e%252e/x", "/%2e%2e/x"),
    OK("/%252e%252e", "/%2e%2e"),
    OK("/a%3Fb", "/a?b"),
    OK("/a%23b", "/a#b"),
    OK("/100%25", "/100%"),
    /* Backslash is an ordinary character. */
    OK("/\\..\\", "/\\..\\"),
    OK("/a\\..\\..\\etc", "/a\\..\\..\\etc"),
    /* Traversal in every encoding. */
    BAD("/../etc/passwd"),
    BAD("/.."),
    BAD("/../"),
    BAD("/%2e%2e/"),
    BAD("/%2E%2e%2fetc"),
    BAD("/%2e./x"),
    BAD("/.%2E/x"),
    BAD("/a/%2e%2e/%2e%2e/x"),
    BAD("/..%2f..%2f"),
    BAD("/a/../../b"),
    BAD("/a/b/../../.."),
    BAD("/a%2f..%2f..%2fb"),
    BAD("//../x"),
    /* Control characters and bad escapes. */
    BAD("/a%00b"),
    BAD("/a%00"),
    BAD("/a%0ab"),
    BAD("/a%0D%0Ab"),
    BAD("/a%1f"),
    BAD("/a%7f"),
    BAD("/a\tb"),
    BAD("/a%"),
    BAD("/a%4"),
    BAD("/a%zz"),
    BAD("/a%4g"),
    BAD("/a%%41"),
    /* Forms that are not origin- or http(s) absolute-form. */
    BAD(""),
    BAD("a/b"),
    BAD("*"),
    BAD("ftp://host/a"),
    BAD("http:/host/a"),
    BAD("http://"),
    BAD("http:///a"),
    BAD("http://?q"),
    BAD("httpx://host/a"),
    /* Absolute-form. */
    OK("http://example.com/a/b?q=1", "/a/b"),
    OK("HTTP://Example.COM/a", "/a"),
    OK("https://h:8443/x/../y/", "/y/"),
    OK("HtTpS://h/", "/"),
    OK("http://h", "/"),
    OK("http://h?q=/..", "/"),
    OK("http://h#f", "/"),
    OK("http://user@h/a", "/a"),
    BAD("http://h/../a"),
    BAD("http://h/%2e%2e"),
};

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct path_case *c = &cases[i];
		char out[CACHET_PATH_MAX];
		int r = cachet_path_normalize(c->in, strlen(c->in), out, sizeof(out));

		if (r != c->ret)
			fail_msg("\"%s\": returned %d, want %d", c->in, r, c->ret);
		if (r >= 0 && (strcmp(out, c->out) != 0 || (size_t)r != strlen(out)))
			fail_msg("\"%s\": got \"%s\", want \"%s\"", c->in, out, c->out);
	}
}

static int norm(const char *in, char *out, size_t cap)
{
	return cachet_path_normalize(in, strlen(in), out, cap);
}

static void test_outcap(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(norm("/abcdef", out, 8), 7); /* "/abcdef" + NUL fits exactly */
	assert_string_equal(out, "/abcdef");
	assert_int_equal(norm("/abcdefg", out, 8), -ENAMETOOLONG);
	assert_int_equal(norm("/abcdef/", out, 8), -ENAMETOOLONG); /* the trailing slash too */
	assert_int_equal(norm("/abc/de", out, 8), 7);
	assert_int_equal(norm("/", out, 2), 1);
	assert_string_equal(out, "/");
	assert_int_equal(norm("/", out, 1), -ENAMETOOLONG);
	assert_int_equal(norm("/", out, 0), -ENAMETOOLONG);
	assert_int_equal(norm("/a", out, 2), -ENAMETOOLONG);
	/* Only the final result has to fit: segments popped later do not count. */
	assert_int_equal(norm("/abcdefghijkl/../x", out, 8), 2);
	assert_string_equal(out, "/x");
	assert_int_equal(norm("/abcdef/ghijkl/mnop/../../x", out, 8), -ENAMETOOLONG);
	assert_int_equal(norm("/abc/ghijkl/mnop/../../x", out, 8), 6);
	assert_string_equal(out, "/abc/x");
	/* A ".." above ROOT stays an error even when the output overflowed. */
	assert_int_equal(norm("/abcdefghijkl/../../x", out, 8), -EINVAL);
}

static void test_segment_name_max(void **state)
{
	char in[600], out[CACHET_PATH_MAX];

	(void)state;
	in[0] = '/';
	memset(in + 1, 'a', 255);
	in[256] = '\0';
	assert_int_equal(norm(in, out, sizeof(out)), 256);
	in[256] = 'a';
	in[257] = '\0';
	assert_int_equal(norm(in, out, sizeof(out)), -ENAMETOOLONG);
	/* 255 decoded bytes from 765 encoded ones are fine. */
	in[0] = '/';
	for (int i = 0; i < 195; i++)
		memcpy(in + 1 + 3 * i, "%41", 3);
	in[1 + 3 * 195] = '\0';
	assert_int_equal(norm(in, out, sizeof(out)), 196);
}

static void test_long_path(void **state)
{
	size_t n = 3 * (CACHET_PATH_MAX / 2);
	char *in = test_malloc(n + 1);
	char out[CACHET_PATH_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < n; i += 3)
		memcpy(in + i, "/ab", 3);
	in[n] = '\0';
	assert_int_equal(norm(in, out, sizeof(out)), -ENAMETOOLONG);
	for (i = 0; i < n; i += 3)
		memcpy(in + i, "/..", 3);
	memcpy(in, "/a/", 3);
	assert_int_equal(norm(in, out, sizeof(out)), -EINVAL);
	test_free(in);
}

static void test_no_read_past_len(void **state)
{
	static const char *const in[] = {"/a%2", "/a/b?", "http://h", "/a%", "/..", "https://"};
	char out[64];
	size_t i;

	(void)state;
	/* Each input ends right before an unreadable page: a read beyond len crashes. */
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct guarded g = guard(in[i], strlen(in[i]));

		(void)cachet_path_normalize(g.data, g.len, out, sizeof(out));
		unguard(&g);
	}
}

static void test_result_is_fixed_point(void **state)
{
	char out[CACHET_PATH_MAX], again[CACHET_PATH_MAX];
	size_t i;

	(void)state;
	/* Normalizing a normalized path changes nothing, unless it holds a '%' or '?' or '#'. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = norm(cases[i].in, out, sizeof(out));

		if (r < 0 || strpbrk(out, "%?#"))
			continue;
		assert_int_equal(norm(out, again, sizeof(again)), r);
		assert_string_equal(out, again);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_outcap),
	    cmocka_unit_test(test_segment_name_max),
	    cmocka_unit_test(test_long_path),
	    cmocka_unit_test(test_no_read_past_len),
	    cmocka_unit_test(test_result_is_fixed_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
