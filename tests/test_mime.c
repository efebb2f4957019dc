/* test_mime.c - extension lookup and the compressible-type predicate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/mime.h"

struct mime_case {
	const char *name;
	const char *type;
	bool compressible;
};

#define BIN "application/octet-stream"

/* Every extension in the table: a table out of order would make bsearch miss some. */
static const struct mime_case cases[] = {
    {"a.apng", "image/apng", false},
    {"a.avif", "image/avif", false},
    {"a.bmp", "image/bmp", true},
    {"a.css", "text/css; charset=utf-8", true},
    {"a.csv", "text/csv; charset=utf-8", true},
    {"a.gif", "image/gif", false},
    {"a.htm", "text/html; charset=utf-8", true},
    {"index.html", "text/html; charset=utf-8", true},
    {"favicon.ico", "image/x-icon", true},
    {"a.jpeg", "image/jpeg", false},
    {"a.jpg", "image/jpeg", false},
    {"app.js", "text/javascript; charset=utf-8", true},
    {"a.json", "application/json; charset=utf-8", true},
    {"app.js.map", "application/json; charset=utf-8", true},
    {"README.md", "text/markdown; charset=utf-8", true},
    {"mod.mjs", "text/javascript; charset=utf-8", true},
    {"a.mp3", "audio/mpeg", false},
    {"a.mp4", "video/mp4", false},
    {"a.ogg", "audio/ogg", false},
    {"a.otf", "font/otf", true},
    {"a.pdf", "application/pdf", false},
    {"a.png", "image/png", false},
    {"a.svg", "image/svg+xml; charset=utf-8", true},
    {"a.ttf", "font/ttf", true},
    {"a.txt", "text/plain; charset=utf-8", true},
    {"a.wasm", "application/wasm", true},
    {"a.wav", "audio/wav", false},
    {"a.webm", "video/webm", false},
    {"site.webmanifest", "application/manifest+json; charset=utf-8", true},
    {"a.webp", "image/webp", false},
    {"a.woff", "font/woff", false},
    {"a.woff2", "font/woff2", false},
    {"a.xml", "application/xml; charset=utf-8", true},
    {"a.zip", "application/zip", false},
    /* Web types nginx's table lacks. */
    {"a.cjs", "text/javascript; charset=utf-8", true},
    {"a.jxl", "image/jxl", false},
    {"a.glb", "model/gltf-binary", false},
    {"a.gltf", "model/gltf+json", true},
    {"a.ktx2", "image/ktx2", false},
    {"a.xhtml", "application/xhtml+xml; charset=utf-8", true},
    /* Case-insensitive. */
    {"INDEX.HTML", "text/html; charset=utf-8", true},
    {"a.Js", "text/javascript; charset=utf-8", true},
    {"/static/IMG.PnG", "image/png", false},
    /* Last dot of the last segment only. */
    {"/a.b/c.tar.gz", BIN, false},
    {"/a.html/b", BIN, false},
    {"/dir.css/", BIN, false},
    {"/a/b.min.css", "text/css; charset=utf-8", true},
    {"/a/.html", "text/html; charset=utf-8", true},
    /* Unknown or none. */
    {"", BIN, false},
    {"Makefile", BIN, false},
    {"a.", BIN, false},
    {".", BIN, false},
    {"a.exe", BIN, false},
    {"a.foo", BIN, false},
    {"a.htmlx", BIN, false},
    {"a.h", BIN, false},
    {"a.averyveryverylongextension", BIN, false},
    {"a.webmanifestxxxx", BIN, false},
};

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mime_case *c = &cases[i];
		const char *t = cachet_mime_type(c->name, strlen(c->name));

		if (strcmp(t, c->type) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, t, c->type);
		if (cachet_mime_compressible(t) != c->compressible)
			fail_msg("%s: compressible(%s) wrong", c->name, t);
	}
}

static void test_length_bounds_name(void **state)
{
	const char buf[] = "a.css.png";

	(void)state;
	/* Only name[0..len) counts. */
	assert_string_equal(cachet_mime_type(buf, 5), "text/css; charset=utf-8");
	assert_string_equal(cachet_mime_type(buf, 4), BIN);
	assert_string_equal(cachet_mime_type(buf, 0), BIN);
}

static void test_embedded_nul(void **state)
{
	(void)state;
	assert_string_equal(cachet_mime_type("a.js\0x", 6), BIN);
}

static void test_compressible_other_strings(void **state)
{
	(void)state;
	assert_true(cachet_mime_compressible("text/plain"));
	assert_true(cachet_mime_compressible("application/javascript"));
	assert_true(cachet_mime_compressible("application/json"));
	assert_false(cachet_mime_compressible(BIN));
	assert_false(cachet_mime_compressible("application/jsonx"));
	assert_false(cachet_mime_compressible("application/js"));
	assert_false(cachet_mime_compressible("text"));
	assert_false(cachet_mime_compressible(""));
}

/* Where cachet deliberately differs from Debian nginx's mime.types (newer registrations). */
static const char *const deviations[][2] = {
    {"js", "text/javascript"},  /* RFC 9239 */
    {"xml", "application/xml"}, /* RFC 7303 */
    {"bmp", "image/bmp"},       /* IANA registration; nginx: image/x-ms-bmp */
};

static const char *deviation(const char *ext)
{
	for (size_t i = 0; i < sizeof(deviations) / sizeof(deviations[0]); i++)
		if (strcmp(deviations[i][0], ext) == 0)
			return deviations[i][1];
	return NULL;
}

/* Compares the type of every extension of the fixture (nginx's "type ext ext;" statements),
 * parameters stripped, to nginx's or to the listed deviation. */
static void test_nginx_fixture(void **state)
{
	char path[512], word[128], type[128] = "";
	unsigned checked = 0;
	(void)state;
	snprintf(path, sizeof(path), "%s/tests/fixtures/nginx-mime.types", SOURCE_ROOT);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	bool in_types = false, have_type = false;
	while (fscanf(f, "%127s", word) == 1) {
		size_t n = strlen(word);
		bool end = word[n - 1] == ';';
		if (!in_types) {
			in_types = strcmp(word, "{") == 0;
			continue;
		}
		if (strcmp(word, "}") == 0)
			break;
		if (end)
			word[--n] = '\0';
		if (!have_type) {
			snprintf(type, sizeof(type), "%s", word);
			have_type = !end;
			continue;
		}
		char name[160];
		snprintf(name, sizeof(name), "a.%s", word);
		const char *got = cachet_mime_type(name, strlen(name));
		const char *want = deviation(word) ? deviation(word) : type;
		size_t glen = strcspn(got, ";");
		if (glen != strlen(want) || memcmp(got, want, glen) != 0)
			fail_msg(".%s: got \"%s\", nginx has \"%s\"", word, got, type);
		checked++;
		if (end)
			have_type = false;
	}
	fclose(f);
	print_message("# %u extensions of nginx's mime.types compared\n", checked);
	assert_true(checked >= 100);
}

static void test_static_storage(void **state)
{
	(void)state;
	assert_ptr_equal(cachet_mime_type("a.png", 5), cachet_mime_type("b.PNG", 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_length_bounds_name),
	    cmocka_unit_test(test_embedded_nul),
	    cmocka_unit_test(test_compressible_other_strings),
	    cmocka_unit_test(test_static_storage),
	    cmocka_unit_test(test_nginx_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
