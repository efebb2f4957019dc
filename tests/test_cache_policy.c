/* test_cache_policy.c - hashed-name detection and the Cache-Control chosen per path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
    {"runtime.ABCDEFG1.js", false}, /* no bundler writes '.' + base32 (was true) */
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
    {"app..5d41402a..js", false}, /* no bundler form (was true) */
    {"-5d41402a-.js", false},     /* no bundler form (was true) */
    {"photo-20240101.jpg", false},
    {"build-1700000000.js", false},
    {"app.12345678.js", true},  /* Parcel: 8 hex digits may be all digits (was false) */
    {"app.20240101.js", false}, /* ... but not a date */
    {"app.1234567a.js", true},
    {"app.________1.js", false},
    {"app.a_______1.js", false},
    {"app.A_______1.js", false}, /* not hex (was true) */
    {"html5logo.svg", false},
    {"my_html5logo.svg", false},
    {"logo_html5.svg", false},
    {"sprite_5d41402a.png", true},
    {"q3summary2024.pdf", false},
    {"utf8text.txt", false},
    {"5D41402A.js", false}, /* like DSC00123.JPG: a camera name (was true) */
    {"app-5MHVZ4VQ.js", true},
    {"abcdef12.css", true},
    {"abcdefg1.css", false},
    /* The bundlers of issue 12. */
    {"/assets/index-yKV9Tz_-.css", true},
    {"/assets/lazy-aMrppxEQ.js", true},
    {"/assets/index--abc1234.js", true},
    {"/main-5MHVZ4VQ.js", true},
    {"/chunk-ABCDEFGH.js", true},
    {"/static/js/main.1a2b3c4d.js", true},
    {"/static/js/787.1a2b3c4d.chunk.js", true},
    {"/static/js/main.1a2b3c4d.js.LICENSE.txt", true},
    {"/static/media/logo.6ce24c58023cc2f8fd88fe9d219db6c6.svg", true},
    {"/main.0123456789abcdef.js", true},
    {"/index.12345678.js", true},
    {"/_app/immutable/entry/start.js", true},
    {"/_astro/index.css", true},
    {"/base/_astro/x.png", true},
    {"/_nuxt/app.js", true},
    {"/_nuxt/builds/meta/abc.json", true},
    {"/_nuxt/builds/latest.json", false},
    {"/_next/static/chunks/main.js", true},
    {"/_next/image", false},
    {"/x_astro/a.css", false},
    {"x_astro/a.css", false},
    {"_astro/a.css", true},
    {"/_nuxt/builds/x/latest.json", false},
    {"/_astro", false},
    {"/app-0123456789abcdef0123.js", true},
    {"/component---src-pages-index-js-0123456789abcdef0123.js", true},
    {"Inter-SemiBold.woff2", false},
    {"/assets/Inter-SemiBold-Bq1x_a9Z.woff2", true},
    {"DSC00123.JPG", false},
    {"IMG_20240101_123456.jpg", false},
    {"iPhone15Pro.png", false},
    {"hero-1920x1080.jpg", false},
    {"banner-1200x630.png", false},
    {"report-2024-1-1.pdf", false},
    {"report-v2-final.pdf", false},
    {"bg-top-left.png", false},
    {"main.js", false},
    {"/js/main.0123abcd.bundle.js", true},
    {"/js/main.bundle.js", false},
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

/* ---- generated bundler output ---- */

/* xorshift64*: a fixed seed, so a failure names a reproducible name. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rng() % n];
}

#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char HEX[] = "0123456789abcdef";

/* n random characters of alphabet a (of size m) at out, NUL-terminated. */
static void draw(char *out, const char *a, size_t m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = a[rng() % m];
	out[n] = '\0';
}

static const char *const src_names[] = {
    "index",  "main", "vendor",         "lazy",  "About",       "Home.module", "react-dom",
    "chunk",  "logo", "Inter-SemiBold", "hero",  "Dashboard",   "settings",    "utils",
    "button", "app",  "hero-1920x1080", "icons", "Roboto-Bold", "jquery-3.7.1"};
static const char *const code_exts[] = {"js", "css", "js.map", "css.map", "mjs"};
static const char *const asset_exts[] = {"svg", "png", "woff2", "woff", "jpg", "webp", "avif"};

typedef void generate_fn(char *out, size_t cap);

/* Rollup/Vite: assets/[name]-[hash:8 base64url].[ext] */
static void gen_vite(char *out, size_t cap)
{
	char h[16];
	draw(h, B64URL, 64, 8);
	snprintf(out, cap, "/assets/%s-%s.%s", PICK(src_names), h,
	         rng() % 2 ? PICK(code_exts) : PICK(asset_exts));
}

/* webpack 5 / CRA: static/js/[name].[contenthash:8].js, [id].[hash:8].chunk.js,
 * static/media/[name].[hash].[ext] with 8, 16, 20 or 32 hex */
static void gen_webpack(char *out, size_t cap)
{
	static const size_t lens[] = {8, 16, 20, 32};
	char h[40];
	draw(h, HEX, 16, lens[rng() % 4]);
	switch (rng() % 4) {
	case 0:
		snprintf(out, cap, "/static/js/%s.%s.js", PICK(src_names), h);
		break;
	case 1:
		snprintf(out, cap, "/static/js/%u.%s.chunk.js", (unsigned)(rng() % 1000), h);
		break;
	case 2:
		snprintf(out, cap, "/static/css/main.%s.css%s", h, rng() % 2 ? ".map" : "");
		break;
	default:
		snprintf(out, cap, "/static/media/%s.%s.%s", PICK(src_names), h, PICK(asset_exts));
	}
}

/* esbuild, Angular 17+: [name]-[hash:8 base32] */
static void gen_esbuild(char *out, size_t cap)
{
	static const char *const names[] = {"main",   "chunk",      "polyfills",           "styles",
	                                    "worker", "media/logo", "media/Inter-SemiBold"};
	char h[16];
	draw(h, B32, 32, 8);
	snprintf(out, cap, "/%s-%s.%s", PICK(names), h,
	         rng() % 2 ? PICK(code_exts) : PICK(asset_exts));
}

/* Angular (webpack builder): [name].[hash:16 hex] */
static void gen_angular(char *out, size_t cap)
{
	static const char *const names[] = {"main",    "runtime", "polyfills", "styles",
	                                    "scripts", "common",  "592",       "8701"};
	char h[20];
	draw(h, HEX, 16, 16);
	snprintf(out, cap, "/%s.%s.%s", PICK(names), h, rng() % 2 ? "js" : "css");
}

/* Parcel: [name].[hash:8 hex], which may be all digits */
static void gen_parcel(char *out, size_t cap)
{
	char h[16];
	bool digits_only = rng() % 8 == 0; /* over-represented: they are the hard case */
	draw(h, digits_only ? "0123456789" : HEX, digits_only ? 10 : 16, 8);
	snprintf(out, cap, "/%s.%s.%s", PICK(src_names), h,
	         rng() % 2 ? PICK(code_exts) : PICK(asset_exts));
}

/* SvelteKit: _app/immutable/{entry,chunks,nodes,assets}/[name].[hash].[ext] */
static void gen_sveltekit(char *out, size_t cap)
{
	static const char *const dirs[] = {"entry", "chunks", "nodes", "assets"};
	char h[16];
	draw(h, B64URL, 64, 8);
	snprintf(out, cap, "/_app/immutable/%s/%s.%s.%s", PICK(dirs), PICK(src_names), h,
	         PICK(code_exts));
}

/* Astro: _astro/[name].[hash].[ext] */
static void gen_astro(char *out, size_t cap)
{
	char h[16];
	draw(h, B64URL, 64, 8);
	snprintf(out, cap, "/_astro/%s.%s.%s", PICK(src_names), h,
	         rng() % 2 ? PICK(code_exts) : PICK(asset_exts));
}

/* Nuxt 3: _nuxt/[hash].js, _nuxt/[name].[hash].css, _nuxt/builds/meta/<id>.json */
static void gen_nuxt(char *out, size_t cap)
{
	char h[40];
	draw(h, B64URL, 64, 8);
	if (rng() % 3 == 0)
		snprintf(out, cap, "/_nuxt/%s.%s.css", PICK(src_names), h);
	else if (rng() % 2)
		snprintf(out, cap, "/_nuxt/%s.js", h);
	else
		snprintf(out, cap, "/_nuxt/builds/meta/%s.json", h);
}

/* Next.js: _next/static/chunks/[name]-[hash].js, _next/static/<buildId>/_buildManifest.js */
static void gen_next(char *out, size_t cap)
{
	char h[40];
	draw(h, HEX, 16, 16);
	if (rng() % 3 == 0) {
		draw(h, B64URL, 62, 21);
		snprintf(out, cap, "/_next/static/%s/_buildManifest.js", h);
	} else {
		snprintf(out, cap, "/_next/static/%s/%s-%s.%s", rng() % 2 ? "chunks" : "css",
		         PICK(src_names), h, rng() % 2 ? "js" : "css");
	}
}

/* Gatsby: component---src-pages-[page]-js-[hash:20].js, app-[hash:20].js */
static void gen_gatsby(char *out, size_t cap)
{
	static const char *const pages[] = {"index", "about", "blog-post", "404", "contact-us"};
	char h[24];
	draw(h, HEX, 16, 20);
	if (rng() % 2)
		snprintf(out, cap, "/component---src-pages-%s-js-%s.js", PICK(pages), h);
	else
		snprintf(out, cap, "/%s-%s.js",
		         rng() % 2 ? "app" : (rng() % 2 ? "framework" : "webpack-runtime"), h);
}

static const struct {
	const char *bundler;
	generate_fn *gen;
} bundlers[] = {
    {"vite", gen_vite},       {"webpack-cra", gen_webpack}, {"esbuild-angular17", gen_esbuild},
    {"angular", gen_angular}, {"parcel", gen_parcel},       {"sveltekit", gen_sveltekit},
    {"astro", gen_astro},     {"nuxt", gen_nuxt},           {"next", gen_next},
    {"gatsby", gen_gatsby},
};

#define GENERATED_PER_BUNDLER 20000

/* Every bundler's names are taken for hashed at >= 99.5%; the rate is printed per bundler. */
static void test_generated_bundler_names(void **state)
{
	char name[256], missed[256] = "";
	(void)state;
	for (size_t b = 0; b < sizeof(bundlers) / sizeof(bundlers[0]); b++) {
		unsigned hits = 0;
		rng_state = 0x9e3779b97f4a7c15ULL + b;
		for (unsigned i = 0; i < GENERATED_PER_BUNDLER; i++) {
			bundlers[b].gen(name, sizeof(name));
			if (cachet_cache_policy_hashed_name(name, strlen(name)))
				hits++;
			else
				snprintf(missed, sizeof(missed), "%s", name);
		}
		double rate = 100.0 * hits / GENERATED_PER_BUNDLER;
		print_message("# %-18s %6.2f%% immutable of %u generated names%s%s\n",
		              bundlers[b].bundler, rate, GENERATED_PER_BUNDLER,
		              hits < GENERATED_PER_BUNDLER ? ", e.g. missed " : "",
		              hits < GENERATED_PER_BUNDLER ? missed : "");
		if (hits * 1000ULL < GENERATED_PER_BUNDLER * 995ULL)
			fail_msg("%s: %.2f%% < 99.5%%", bundlers[b].bundler, rate);
	}
}

/* ---- ordinary names: never taken for hashed ---- */

static void test_ordinary_names(void **state)
{
	char path[512], line[512];
	unsigned n = 0, wrong = 0;
	(void)state;
	snprintf(path, sizeof(path), "%s/tests/fixtures/ordinary-names.txt", SOURCE_ROOT);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");
		if (len == 0 || line[0] == '#')
			continue;
		n++;
		if (cachet_cache_policy_hashed_name(line, len)) {
			print_message("# taken for hashed: %.*s\n", (int)len, line);
			wrong++;
		}
	}
	fclose(f);
	print_message("# ordinary names: %u of %u taken for hashed\n", wrong, n);
	assert_true(n >= 300);
	assert_int_equal(wrong, 0);
}

#define IMM "public, max-age=31536000, immutable"
#define DEF "no-cache"

static const char *globs[] = {"*.woff2", "/static/*", "/img/logo-?.png", "[Ff]avicon.ico"};
static const char *revalidate[] = {"iPhone15Pro.png", "/legacy/*"};
static const struct cachet_cache_policy with_globs = {.globs = globs, .n_globs = 4};
static const struct cachet_cache_policy no_globs = {0};
static const char *rel[] = {"vendor/*", "img/*.png"};
static const struct cachet_cache_policy rel_globs = {.globs = rel, .n_globs = 2};
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
    {&rel_globs, "/vendor/lib.js", IMM}, /* "vendor/...": relative to ROOT */
    {&rel_globs, "/x/vendor/lib.js", DEF},
    {&rel_globs, "/img/a.png", IMM},
    {&rel_globs, "/img/sub/a.png", IMM}, /* a star crosses slashes (fnmatch flags 0) */
    {&rel_globs, "/a.png", DEF},
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
    {&no_globs, "/img/iPhone15Pro.png", DEF}, /* was IMM under the old rule */
    {&no_globs, "/img/app-5d41402a.png", IMM},
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
	    cmocka_unit_test(test_generated_bundler_names),
	    cmocka_unit_test(test_ordinary_names),
	    cmocka_unit_test(test_for_table),
	    cmocka_unit_test(test_for_length_bound),
	    cmocka_unit_test(test_for_odd_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
