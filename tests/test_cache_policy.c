/* test_cache_policy.c - hashed-name detection and the Cache-Control chosen per path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/cache_policy.h"

struct hash_case {
	const char *name;
	bool want;
};

static const struct hash_case hash_cases[] = {
    /* Bundler output. */
    {"app.5d41402a.js", true},
    {"chunk-B2x9Kq1z.css", true},
    {"main.3f9a1c2e.min.css", true},
    {"logo-1a2b3c4d.svg", true},
    {"index-BkTa_3xQ.js", true},
    {"vendors~main.chunk.js", false},
    {"main.5d41402a9bc4b3e1.js", true},
    {"app.5d41402a.js.map", true},
    {"runtime.ABCDEFG1.js", true},
    {"font_ab12cd34.woff2", true},
    {"12345678.js", false}, /* all digits: a number, not a hash */
    {"a1b2c3d4", true},
    {"/assets/app.5d41402a.js", true},
    {"static/js/main.3f9a1c2e.chunk.js", true},
    /* Ordinary names. */
    {"index.html", false},
    {"app.js", false},
    {"jquery-3.7.1.min.js", false},
    {"bootstrap.min.css", false},
    {"application.js", false},
    {"README", false},
    {"abcdefgh.js", false},
    {"1234567.js", false},
    {"app.1234567.js", false},
    {"app.5d41402a", false},
    {".5d41402a", false},
    {".htaccess", false},
    {"", false},
    {"/", false},
    {"app.5d41+02a.js", false},
    {"app.5d41~402a.js", false},
    {"chunk-B2x-9Kq1z.css", false},
    {"/5d41402a/app.js", false},
    {"app..5d41402a..js", true},
    {"-5d41402a-.js", true},
    {"photo-20240101.jpg", false},
    {"build-1700000000.js", false},
    {"app.12345678.js", false},
    {"app.1234567a.js", true},
    {"app.________1.js", false},
    {"app.a_______1.js", false},
    {"app.A_______1.js", true},
    {"html5logo.svg", false},
    {"my_html5logo.svg", false},
    {"logo_html5.svg", false},
    {"sprite_5d41402a.png", true},
    {"q3summary2024.pdf", false},
    {"utf8text.txt", false},
    {"5D41402A.js", true},
    {"app-5MHVZ4VQ.js", true},
    {"abcdef12.css", true},
    {"abcdefg1.css", false},
};

static void test_hashed_name_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hash_cases) / sizeof(hash_cases[0]); i++) {
		const struct hash_case *c = &hash_cases[i];

		if (cachet_cache_policy_hashed_name(c->name, strlen(c->name)) != c->want)
			fail_msg("case %zu \"%s\": want %d", i, c->name, c->want);
	}
}

static void test_hashed_name_length_bound(void **state)
{
	/* Only name[0..len) is read. */
	const char bare[] = "5d41402a.js";
	const char ext[] = "app.5d41402a.js";

	(void)state;
	assert_false(cachet_cache_policy_hashed_name(bare, 7));
	assert_true(cachet_cache_policy_hashed_name(bare, 8));
	assert_false(cachet_cache_policy_hashed_name(bare, 0));
	/* Cut after the hash, the hash becomes the extension, which never counts. */
	assert_false(cachet_cache_policy_hashed_name(ext, 12));
	assert_true(cachet_cache_policy_hashed_name(ext, 15));
}

#define IMM "public, max-age=31536000, immutable"
#define DEF "no-cache"

static const char *globs[] = {"*.woff2", "/static/*", "/img/logo-?.png", "[Ff]avicon.ico"};
static const char *revalidate[] = {"iPhone15Pro.png", "/legacy/*"};
static const struct cachet_cache_policy with_globs = {.globs = globs, .n_globs = 4};
static const struct cachet_cache_policy no_globs = {0};
static const struct cachet_cache_policy custom = {
    .immutable_value = "max-age=60", .default_value = "no-store", .globs = globs, .n_globs = 1};
/* revalidate globs win over the hash rule and over immutable globs */
static const struct cachet_cache_policy with_revalidate = {.default_value = "no-store",
                                                           .globs = globs,
                                                           .n_globs = 4,
                                                           .revalidate_globs = revalidate,
                                                           .n_revalidate = 2};

struct for_case {
	const struct cachet_cache_policy *p;
	const char *path;
	const char *want;
};

static const struct for_case for_cases[] = {
    /* Hash rule alone. */
    {&no_globs, "/app.5d41402a.js", IMM},
    {&no_globs, "/index.html", DEF},
    {&no_globs, "/", DEF},
    {&no_globs, "/fonts/a.woff2", DEF},
    {NULL, "/assets/chunk-B2x9Kq1z.css", IMM},
    {NULL, "/assets/app.js", DEF},
    /* Globs add to the hash rule. */
    {&with_globs, "/app.5d41402a.js", IMM},
    {&with_globs, "/index.html", DEF},
    {&with_globs, "/fonts/a.woff2", IMM},
    {&with_globs, "/a.woff2", IMM},
    {&with_globs, "/a.woff", DEF},
    {&with_globs, "/a.woff2.bak", DEF},
    {&with_globs, "/static/app.js", IMM},
    {&with_globs, "/static/js/deep/app.js", IMM},
    {&with_globs, "/static", DEF},
    {&with_globs, "/x/static/app.js", DEF},
    {&with_globs, "static/app.js", IMM},
    {&with_globs, "/img/logo-1.png", IMM},
    {&with_globs, "/img/logo-12.png", DEF},
    {&with_globs, "/img/sub/logo-1.png", DEF},
    {&with_globs, "/favicon.ico", IMM},
    {&with_globs, "/dir/Favicon.ico", IMM},
    {&with_globs, "/FAVICON.ICO", DEF},
    {&with_globs, "/.woff2", IMM},
    /* Custom values. */
    {&custom, "/a.woff2", "max-age=60"},
    {&custom, "/app.5d41402a.js", "max-age=60"},
    {&custom, "/index.html", "no-store"},
    {&custom, "/static/app.js", "no-store"},
    /* Revalidate globs. */
    {&no_globs, "/img/iPhone15Pro.png", IMM},
    {&with_revalidate, "/img/iPhone15Pro.png", "no-store"},
    {&with_revalidate, "/legacy/app.5d41402a.js", "no-store"},
    {&with_revalidate, "/legacy/a.woff2", "no-store"},
    {&with_revalidate, "/app.5d41402a.js", IMM},
    {&with_revalidate, "/a.woff2", IMM},
    {&with_revalidate, "/index.html", "no-store"},
};

static void test_for_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(for_cases) / sizeof(for_cases[0]); i++) {
		const struct for_case *c = &for_cases[i];
		const char *got = cachet_cache_policy_for(c->p, c->path, strlen(c->path));

		if (strcmp(got, c->want) != 0)
			fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"", i, c->path, got,
			         c->want);
	}
}

static void test_for_length_bound(void **state)
{
	/* The glob sees path[0..len) only, not the ".woff2" after it. */
	const char buf[] = "/font.woff2";
	const char *g[] = {"*.woff"};
	const struct cachet_cache_policy p = {.globs = g, .n_globs = 1};

	(void)state;
	assert_string_equal(cachet_cache_policy_for(&p, buf, 10), IMM);
	assert_string_equal(cachet_cache_policy_for(&p, buf, 11), DEF);
}

static void test_for_odd_paths(void **state)
{
	static char longp[CACHET_CACHE_POLICY_PATH_MAX + 16];
	const char nul[] = "/a.woff2\0.txt";
	const char *g[] = {NULL, "*"};
	const struct cachet_cache_policy p = {.globs = g, .n_globs = 2};

	(void)state;
	/* A path too long for the glob buffer matches no glob; the hash rule still applies. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	assert_string_equal(cachet_cache_policy_for(&p, longp, strlen(longp)), DEF);
	assert_string_equal(cachet_cache_policy_for(&p, longp, 100), IMM);
	memcpy(longp + sizeof(longp) - 17, "/a.5d41402a.js", 15);
	assert_string_equal(cachet_cache_policy_for(&p, longp, strlen(longp)), IMM);
	/* An embedded NUL defeats the globs rather than cutting the path short. */
	assert_string_equal(cachet_cache_policy_for(&with_globs, nul, sizeof(nul) - 1), DEF);
	assert_string_equal(cachet_cache_policy_for(&p, "", 0), IMM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hashed_name_table),
	    cmocka_unit_test(test_hashed_name_length_bound),
	    cmocka_unit_test(test_for_table),
	    cmocka_unit_test(test_for_length_bound),
	    cmocka_unit_test(test_for_odd_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
