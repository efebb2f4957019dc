/* test_manifest.c - the bounded JSON scan of bundler manifests, malformed input, and their
 * application at load. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachet/manifest.h"
#include "cachet/store.h"

struct got {
	char all[2048]; /* the paths, each followed by '|' */
};

static int record(void *ctx, const char *path, size_t len)
{
	struct got *g = ctx;
	assert_int_equal(strlen(path), len);
	strncat(g->all, path, sizeof(g->all) - strlen(g->all) - 2);
	strcat(g->all, "|");
	return 0;
}

/* Parses s placed right before a PROT_NONE page, so a read past its end faults. */
static int parse_guarded(const char *s, struct got *g)
{
	size_t len = strlen(s), page = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (len + page - 1) / page * page + page;
	char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + span - page, page, PROT_NONE), 0);
	char *at = m + span - page - len;
	memcpy(at, s, len);
	memset(g, 0, sizeof(*g));
	int rc = cachet_manifest_parse(at, len, record, g);
	munmap(m, span);
	return rc;
}

static void test_vite(void **state)
{
	struct got g;
	(void)state;
	const char *doc =
	    "{\n"
	    "  \"index.html\": {\n"
	    "    \"file\": \"assets/index-yKV9Tz_-.js\", \"name\": \"index\", \"src\": "
	    "\"index.html\",\n"
	    "    \"isEntry\": true, \"imports\": [\"_vendor-B2x9Kq1z.js\"],\n"
	    "    \"css\": [\"assets/index-aMrppxEQ.css\"],\n"
	    "    \"assets\": [\"assets/logo-Bq1x_a9Z.svg\"], \"n\": -1.5e3, \"x\": null\n"
	    "  },\n"
	    "  \"_vendor-B2x9Kq1z.js\": {\"file\": \"assets/vendor-B2x9Kq1z.js\"}\n"
	    "}\n";
	assert_int_equal(parse_guarded(doc, &g), 4);
	assert_string_equal(g.all, "assets/index-yKV9Tz_-.js|assets/index-aMrppxEQ.css|"
	                           "assets/logo-Bq1x_a9Z.svg|assets/vendor-B2x9Kq1z.js|");
}

static void test_cra(void **state)
{
	struct got g;
	(void)state;
	const char *doc =
	    "{\"files\":{\"main.css\":\"/static/css/main.073c9b0a.css\","
	    "\"main.js\":\"/static/js/main.1a2b3c4d.js\",\"index.html\":\"/index.html\"},"
	    "\"entrypoints\":[\"static/css/main.073c9b0a.css\"]}";
	assert_int_equal(parse_guarded(doc, &g), 4);
	assert_string_equal(g.all, "/static/css/main.073c9b0a.css|/static/js/main.1a2b3c4d.js|"
	                           "/index.html|static/css/main.073c9b0a.css|");
}

static void test_escapes(void **state)
{
	struct got g;
	(void)state;
	assert_int_equal(parse_guarded("{\"file\":\"a\\/b\\u002ec\\\"d\"}", &g), 1);
	assert_string_equal(g.all, "a/b.c\"d|");
	/* beyond ASCII: not a path of ours, skipped, but the document is fine */
	assert_int_equal(parse_guarded("{\"file\":\"\\u00e9.js\",\"css\":\"\xc3\xa9.css\"}", &g),
	                 1);
	assert_string_equal(g.all, "\xc3\xa9.css|");
	/* keys are never paths, nor values of other members */
	assert_int_equal(parse_guarded("{\"file\":{\"src\":\"x.js\",\"name\":\"y\"}}", &g), 0);
	assert_int_equal(parse_guarded("[\"a.js\", {\"file\": \"b.js\"}]", &g), 1);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "{\"file\"",
	    "{\"file\":",
	    "{\"file\":\"a.js\"",
	    "{\"file\":\"a.js\",}",
	    "{\"file\" \"a.js\"}",
	    "{file:\"a.js\"}",
	    "[1,]",
	    "[1 2]",
	    "{\"file\":\"a\\x.js\"}",
	    "{\"file\":\"a\\u12.js\"}",
	    "{\"file\":\"a\\",
	    "{\"file\":\"a\nb\"}",
	    "{\"file\":\"a.js\"} x",
	    "{\"file\":tru}",
	    "{\"file\":@}",
	    "\"unterminated",
	};
	struct got g;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_guarded(bad[i], &g) != -EINVAL)
			fail_msg("case %zu '%s' was not refused", i, bad[i]);
}

static void test_depth_and_length_bounds(void **state)
{
	char doc[4 * CACHET_MANIFEST_DEPTH_MAX + 64];
	struct got g;
	size_t n = 0;
	(void)state;
	for (int i = 0; i < CACHET_MANIFEST_DEPTH_MAX; i++)
		doc[n++] = '[';
	doc[n++] = '1';
	for (int i = 0; i < CACHET_MANIFEST_DEPTH_MAX; i++)
		doc[n++] = ']';
	doc[n] = '\0';
	assert_int_equal(parse_guarded(doc, &g), 0);
	memmove(doc + 1, doc, n + 1);
	doc[0] = '[';
	strcat(doc, "]");
	assert_int_equal(parse_guarded(doc, &g), -EINVAL); /* one level too deep */
	/* a path longer than the bound is skipped, not cut */
	size_t big = CACHET_MANIFEST_PATH_MAX + 10;
	char *s = malloc(big + 32);
	assert_non_null(s);
	strcpy(s, "{\"file\":\"");
	memset(s + 9, 'a', big);
	strcpy(s + 9 + big, "\",\"css\":\"b.css\"}");
	assert_int_equal(parse_guarded(s, &g), 1);
	assert_string_equal(g.all, "b.css|");
	free(s);
}

static int stop_cb(void *ctx, const char *path, size_t len)
{
	(void)ctx;
	(void)path;
	(void)len;
	return -ENOMEM;
}

static void test_callback_error_stops(void **state)
{
	(void)state;
	assert_int_equal(cachet_manifest_parse("{\"file\":\"a\"}", 12, stop_cb, NULL), -ENOMEM);
}

/* ---- applied at load ---- */

static char base[64];

static void put(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	for (char *q = strchr(p + strlen(base) + 1, '/'); q; q = strchr(q + 1, '/')) {
		*q = '\0';
		mkdir(p, 0755);
		*q = '/';
	}
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static const char *policy(const struct cachet_store *st, const char *path)
{
	const struct cachet_entry *e = cachet_store_lookup(st, path, strlen(path));
	if (!e)
		fail_msg("no entry %s", path);
	return e->cache_control;
}

#define IMM "public, max-age=31536000, immutable"

static void test_applied_at_load(void **state)
{
	(void)state;
	strcpy(base, "/tmp/cachet_test_manifest.XXXXXX");
	assert_non_null(mkdtemp(base));
	put("index.html", "<html></html>");
	put("assets/entry.js", "x"); /* a name no rule recognises */
	put("assets/style.css", "y");
	put("assets/plain.js", "z");
	put("static/js/app.js", "w");
	put("legacy/old.js", "v");
	put(".vite/manifest.json", "{\"index.html\":{\"file\":\"assets/entry.js\","
	                           "\"css\":[\"assets/style.css\"],\"src\":\"index.html\"},"
	                           "\"l\":{\"file\":\"legacy/old.js\"}}");
	put("asset-manifest.json", "{\"files\":{\"a.js\":\"./static/js/app.js\","
	                           "\"index.html\":\"/index.html\",\"x\":\"../../etc/passwd\"}}");
	const char *reval[] = {"/legacy/*"};
	struct cachet_cache_policy p = {.revalidate_globs = reval, .n_revalidate = 1};
	struct cachet_store_options opt = {.generation = 1, .cache = &p};
	struct cachet_store *st;
	char err[256];
	assert_int_equal(cachet_store_build(base, NULL, &opt, &st, err, sizeof(err)), 0);
	assert_string_equal(policy(st, "/assets/entry.js"), IMM);
	assert_string_equal(policy(st, "/assets/style.css"), IMM);
	assert_string_equal(policy(st, "/static/js/app.js"), IMM);
	assert_string_equal(policy(st, "/assets/plain.js"), "no-cache");
	assert_string_equal(policy(st, "/index.html"), "no-cache");    /* HTML entries excepted */
	assert_string_equal(policy(st, "/legacy/old.js"), "no-cache"); /* revalidate wins */
	cachet_store_unref(st);
	/* a malformed manifest is ignored (a warning), the build goes on */
	put(".vite/manifest.json", "{\"index.html\":{\"file\":\"assets/entry.js\"");
	assert_int_equal(cachet_store_build(base, NULL, &opt, &st, err, sizeof(err)), 0);
	assert_string_equal(policy(st, "/assets/entry.js"), "no-cache");
	assert_string_equal(policy(st, "/static/js/app.js"), IMM);
	cachet_store_unref(st);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vite),
	    cmocka_unit_test(test_cra),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_depth_and_length_bounds),
	    cmocka_unit_test(test_callback_error_stops),
	    cmocka_unit_test(test_applied_at_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
