/* test_encoding.c - Accept-Encoding negotiation, coding names and --compress lists. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/encoding.h"

#define ID   CACHET_CODING_IDENTITY
#define GZ   CACHET_CODING_GZIP
#define BR   CACHET_CODING_BR
#define ZS   CACHET_CODING_ZSTD
#define B(c) (1u << (c))
#define ALL  (B(GZ) | B(BR) | B(ZS))

static struct cachet_field_list make_list(const char *const *lines, unsigned n)
{
	struct cachet_field_list l;
	unsigned i;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < n && i < CACHET_FIELD_LINES_MAX; i++) {
		l.line[i].p = lines[i];
		l.line[i].len = strlen(lines[i]);
	}
	l.n = n;
	return l;
}

struct neg_case {
	const char *lines[3];
	unsigned n;
	unsigned available;
	unsigned want; /* with the default preference zstd, br, gzip, identity */
};

static const struct neg_case neg_cases[] = {
    /* No header, empty header. */
    {{NULL}, 0, ALL, ID},
    {{""}, 1, ALL, ID},
    {{"  "}, 1, ALL, ID},
    {{" , ,"}, 1, ALL, ID},
    /* Plain lists: preference breaks ties among equal weights. */
    {{"gzip"}, 1, ALL, GZ},
    {{"gzip, deflate, br"}, 1, ALL, BR},
    {{"gzip, deflate, br, zstd"}, 1, ALL, ZS},
    {{"gzip, deflate, br, zstd"}, 1, B(GZ) | B(BR), BR},
    {{"gzip, deflate, br, zstd"}, 1, B(GZ), GZ},
    {{"gzip, deflate, br, zstd"}, 1, 0, ID},
    {{"br"}, 1, B(GZ), ID},
    {{"identity"}, 1, ALL, ID},
    {{"deflate, compress"}, 1, ALL, ID},
    /* Weights. */
    {{"gzip;q=0.5, br;q=0.8"}, 1, ALL, BR},
    {{"gzip;q=0.8, br;q=0.5"}, 1, ALL, GZ},
    {{"gzip;q=1, br;q=0.999"}, 1, ALL, GZ},
    {{"gzip;q=0.5, br;q=0.5"}, 1, ALL, BR},
    {{"zstd;q=0, br"}, 1, ALL, BR},
    {{"gzip;q=0.1, identity;q=0.5"}, 1, ALL, ID},
    {{"gzip;q=0.5, identity;q=0.5"}, 1, ALL, GZ},
    {{"gzip;q=0.001"}, 1, ALL, GZ},
    {{"gzip;q=1.000, br;q=1."}, 1, ALL, BR},
    {{"gzip;q=0."}, 1, ALL, ID},
    {{"br;q=0.000"}, 1, ALL, ID},
    {{"gzip ; q=0.5 , br ;q=0.4"}, 1, ALL, GZ},
    {{"gzip;Q=0.5, br;q=0.4"}, 1, ALL, GZ},
    /* Malformed weights refuse that coding, even through "*". */
    {{"gzip;q=2"}, 1, ALL, ID},
    {{"gzip;q=1.001"}, 1, ALL, ID},
    {{"gzip;q=0.0001"}, 1, ALL, ID},
    {{"gzip;q=0.5000, br;q=0.1"}, 1, ALL, BR},
    {{"gzip;q=.5"}, 1, ALL, ID},
    {{"gzip;q=0.5x, br;q=0.1"}, 1, ALL, BR},
    {{"gzip;q = 0.5"}, 1, ALL, ID},
    {{"gzip;level=9"}, 1, ALL, ID},
    {{"gzip;q=-1"}, 1, ALL, ID},
    {{"gzip;"}, 1, ALL, ID},
    {{"gzip br"}, 1, ALL, ID},
    {{"*, br;q=bad"}, 1, ALL, ZS},
    {{"*, zstd;q=bad, br;q=bad"}, 1, ALL, GZ},
    {{"\"gzip\", br"}, 1, ALL, BR},
    /* The wildcard. */
    {{"*"}, 1, ALL, ZS},
    {{"*"}, 1, B(GZ), GZ},
    {{"*"}, 1, 0, ID},
    {{"*;q=0"}, 1, ALL, ID},
    {{"*;q=0, gzip"}, 1, ALL, GZ},
    {{"*;q=0.5, gzip"}, 1, ALL, GZ},
    {{"gzip;q=0.4, *;q=0.5"}, 1, ALL, ZS},
    {{"gzip;q=0.4, *;q=0.5"}, 1, B(GZ), ID},
    {{"zstd;q=0, *"}, 1, B(ZS) | B(BR), BR},
    {{"*;q=0, identity"}, 1, ALL, ID},
    /* Refusing identity: the fallback is identity all the same. */
    {{"identity;q=0"}, 1, ALL, ID},
    {{"identity;q=0, gzip"}, 1, B(BR), ID},
    {{"identity;q=0, gzip;q=0.1"}, 1, ALL, GZ},
    /* Case, x-gzip, whitespace. */
    {{"GZIP"}, 1, ALL, GZ},
    {{"Br, GZip"}, 1, ALL, BR},
    {{"ZSTD;Q=1"}, 1, B(ZS), ZS},
    {{"x-gzip"}, 1, ALL, GZ},
    {{"X-GZIP;q=0.3, identity;q=0.2"}, 1, ALL, GZ},
    {{"\t gzip \t"}, 1, ALL, GZ},
    {{"gzip,br"}, 1, B(GZ), GZ},
    {{"gzip2, xbr, brotli, zst"}, 1, ALL, ID},
    /* Several lines are one list. */
    {{"gzip", "br"}, 2, ALL, BR},
    {{"gzip;q=0.9", "", "br;q=0.2"}, 3, ALL, GZ},
    {{"br", "br;q=0"}, 2, ALL, ID},
    {{"gzip, br", "*;q=0"}, 2, ALL, BR},
    {{"identity;q=0", "zstd"}, 2, B(ZS), ZS},
    /* A coding listed twice keeps its lowest weight. */
    {{"gzip;q=0.9, x-gzip;q=0.1, br;q=0.5"}, 1, ALL, BR},
    {{"gzip, gzip;q=0"}, 1, B(GZ), ID},
    {{"gzip;q=0, gzip"}, 1, B(GZ), ID},
    {{"br;q=0.1, br;q=0.9, gzip;q=0.5"}, 1, ALL, GZ},
};

static void test_negotiate_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(neg_cases) / sizeof(neg_cases[0]); i++) {
		const struct neg_case *c = &neg_cases[i];
		struct cachet_field_list l = make_list(c->lines, c->n);
		unsigned got = cachet_encoding_negotiate(&l, c->available, NULL, 0);

		if (got != c->want)
			fail_msg("case %zu \"%s\" (avail %#x): got %u, want %u", i,
			         c->n ? c->lines[0] : "(none)", c->available, got, c->want);
	}
}

static void test_negotiate_preference(void **state)
{
	const char *eq[] = {"gzip, br, zstd"};
	const char *weighted[] = {"gzip;q=0.5, br;q=0.8"};
	const char *id_first[] = {"identity, gzip;q=0.5"};
	const enum cachet_coding gz_first[] = {GZ, BR, ZS, ID};
	const enum cachet_coding no_br[] = {ZS, GZ};
	const enum cachet_coding bogus[] = {(enum cachet_coding)7, GZ};
	const enum cachet_coding id_top[] = {ID, GZ};
	struct cachet_field_list l = make_list(eq, 1);
	struct cachet_field_list w = make_list(weighted, 1);
	struct cachet_field_list i = make_list(id_first, 1);

	(void)state;
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, gz_first, 4), GZ);
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, no_br, 2), ZS);
	assert_int_equal(cachet_encoding_negotiate(&l, B(BR), no_br, 2), ID);
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, bogus, 2), GZ);
	/* Identity by default weighs less than anything listed, whatever its rank... */
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, id_top, 2), GZ);
	/* ...but listed with an equal weight, its rank decides. */
	assert_int_equal(cachet_encoding_negotiate(&i, ALL, id_top, 2), ID);
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, gz_first, 0), ID);
	/* A weight outranks the preference order. */
	assert_int_equal(cachet_encoding_negotiate(&w, ALL, gz_first, 4), BR);
	/* Identity missing from the preference still wins on weight. */
	assert_int_equal(cachet_encoding_negotiate(&i, ALL, no_br, 2), ID);
}

static void test_negotiate_dropped_lines(void **state)
{
	const char *lines[] = {"gzip"};
	struct cachet_field_list l = make_list(lines, 1);

	(void)state;
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, NULL, 0), GZ);
	l.dropped = 1;
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, NULL, 0), ID);
}

static void test_negotiate_all_lines_read(void **state)
{
	const char *lines[CACHET_FIELD_LINES_MAX];
	struct cachet_field_list l;
	unsigned k;

	(void)state;
	for (k = 0; k < CACHET_FIELD_LINES_MAX; k++)
		lines[k] = "deflate";
	lines[CACHET_FIELD_LINES_MAX - 1] = "br";
	l = make_list(lines, CACHET_FIELD_LINES_MAX);
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, NULL, 0), BR);
}

static void test_negotiate_not_terminated(void **state)
{
	/* The span's length bounds the line: "gzip" must not be read as "gzipx". */
	const char buf[] = "br;q=0.1, gzipx";
	struct cachet_field_list l;

	(void)state;
	memset(&l, 0, sizeof(l));
	l.line[0].p = buf;
	l.line[0].len = strlen(buf) - 1;
	l.n = 1;
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, NULL, 0), GZ);
	l.line[0].len = strlen(buf);
	assert_int_equal(cachet_encoding_negotiate(&l, ALL, NULL, 0), BR);
}

static void test_names_and_suffixes(void **state)
{
	(void)state;
	assert_string_equal(cachet_encoding_name(ID), "identity");
	assert_string_equal(cachet_encoding_name(GZ), "gzip");
	assert_string_equal(cachet_encoding_name(BR), "br");
	assert_string_equal(cachet_encoding_name(ZS), "zstd");
	assert_null(cachet_encoding_name(CACHET_CODING_COUNT));
	assert_string_equal(cachet_encoding_suffix(ID), "");
	assert_string_equal(cachet_encoding_suffix(GZ), ".gz");
	assert_string_equal(cachet_encoding_suffix(BR), ".br");
	assert_string_equal(cachet_encoding_suffix(ZS), ".zst");
	assert_null(cachet_encoding_suffix(CACHET_CODING_COUNT));
}

struct list_case {
	const char *s;
	int want; /* count or -errno */
	enum cachet_coding out[CACHET_CODING_COUNT];
};

static const struct list_case list_cases[] = {
    {"zstd,br,gzip", 3, {ZS, BR, GZ}},
    {"gzip", 1, {GZ}},
    {" br , gzip ", 2, {BR, GZ}},
    {"ZSTD,Br", 2, {ZS, BR}},
    {"gzip,identity,br,zstd", 4, {GZ, ID, BR, ZS}},
    {"", 0, {ID}},
    {"  ", 0, {ID}},
    {"gzip,gzip", -EINVAL, {ID}},
    {"br,zstd,BR", -EINVAL, {ID}},
    {"gzip,,br", -EINVAL, {ID}},
    {"gzip,", -EINVAL, {ID}},
    {",gzip", -EINVAL, {ID}},
    {"deflate", -EINVAL, {ID}},
    {"x-gzip", -EINVAL, {ID}},
    {"*", -EINVAL, {ID}},
    {"gzip br", -EINVAL, {ID}},
    {"zst", -EINVAL, {ID}},
};

static void test_parse_list_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
		const struct list_case *c = &list_cases[i];
		enum cachet_coding out[CACHET_CODING_COUNT];
		int got = cachet_encoding_parse_list(c->s, out, CACHET_CODING_COUNT);
		int k;

		if (got != c->want)
			fail_msg("case %zu \"%s\": got %d, want %d", i, c->s, got, c->want);
		for (k = 0; k < got; k++) {
			if (out[k] != c->out[k])
				fail_msg("case %zu \"%s\": out[%d] = %d", i, c->s, k, out[k]);
		}
	}
}

static void test_parse_list_cap(void **state)
{
	enum cachet_coding out[2];

	(void)state;
	assert_int_equal(cachet_encoding_parse_list("zstd,br", out, 2), 2);
	assert_int_equal(cachet_encoding_parse_list("zstd,br,gzip", out, 2), -ENOSPC);
	assert_int_equal(cachet_encoding_parse_list("zstd", out, 0), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_negotiate_table),
	    cmocka_unit_test(test_negotiate_preference),
	    cmocka_unit_test(test_negotiate_dropped_lines),
	    cmocka_unit_test(test_negotiate_all_lines_read),
	    cmocka_unit_test(test_negotiate_not_terminated),
	    cmocka_unit_test(test_names_and_suffixes),
	    cmocka_unit_test(test_parse_list_table),
	    cmocka_unit_test(test_parse_list_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
