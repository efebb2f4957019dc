/* test_link_preload.c - the HTML scanner and the Link value: quotes, attribute order, comments,
 * raw text, <base>, origins, missing files, bounds. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/link_preload.h"

/* The files that "exist". */
static const char *const files[] = {
    "/assets/index-yKV9Tz_-.js",
    "/assets/index-aMrppxEQ.css",
    "/a.js",
    "/b.css",
    "/c.js",
    "/d.css",
    "/app/main.js",
    "/sub/y.js",
    "/x.js",
    "/fonts/i.woff2",
    "/e.js",
    "/m.js",
};

static const void *lookup(void *ctx, const char *path, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strlen(files[i]) == len && memcmp(files[i], path, len) == 0)
			return files[i];
	return NULL;
}

/* The Link value of html served at doc, the document placed right before a PROT_NONE page. */
static const char *value(const char *doc, const char *html)
{
	static char out[CACHET_LINK_PRELOAD_MAX + 1];
	size_t len = strlen(html), page = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (len + page - 1) / page * page + page;
	char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + span - page, page, PROT_NONE), 0);
	char *at = m + span - page - len;
	memcpy(at, html, len);
	size_t n = cachet_link_preload_value(at, len, doc, lookup, NULL, out);
	munmap(m, span);
	assert_int_equal(n, strlen(out));
	return out;
}

struct link_case {
	const char *doc, *html, *want;
};

static const struct link_case cases[] = {
    /* 0: what vite build writes */
    {"/index.html",
     "<!doctype html><html><head>\n"
     "<script type=\"module\" crossorigin src=\"/assets/index-yKV9Tz_-.js\"></script>\n"
     "<link rel=\"stylesheet\" crossorigin href=\"/assets/index-aMrppxEQ.css\">\n</head>",
     "</assets/index-yKV9Tz_-.js>; rel=modulepreload; crossorigin, "
     "</assets/index-aMrppxEQ.css>; rel=preload; as=style; crossorigin"},
    /* 1: quotes of every kind, attributes in any order, capitals */
    {"/i.html", "<SCRIPT SRC='/a.js'></SCRIPT><link href=/b.css REL=StyleSheet>",
     "</a.js>; rel=preload; as=script, </b.css>; rel=preload; as=style"},
    {"/i.html", "<link\nhref = \"/b.css\"\ttype=text/css rel = \"icon stylesheet\" / >",
     "</b.css>; rel=preload; as=style"},
    /* 3: comments and raw text hide markup */
    {"/i.html",
     "<!-- <script src=\"/c.js\"></script> --><script>var s = '<link rel=stylesheet "
     "href=/d.css>';</script><style>/* <script src=/e.js> */</style><script src=/a.js>"
     "</script><title><script src=/m.js></title>",
     "</a.js>; rel=preload; as=script"},
    {"/i.html", "<!--> <script src=/a.js></script>", /* "<!-->" is a whole comment */
     "</a.js>; rel=preload; as=script"},
    {"/i.html", "<!-- -- > <script src=/c.js> --!> <script src=/a.js>",
     "</a.js>; rel=preload; as=script"},
    /* 5: <base>, the first one, even after the reference */
    {"/index.html", "<base href=\"/app/\"><script src=\"main.js\"></script>",
     "</app/main.js>; rel=preload; as=script"},
    {"/index.html", "<script src=main.js></script><base href=/app/><base href=/x/>",
     "</app/main.js>; rel=preload; as=script"},
    {"/index.html", "<base href=\"https://cdn.example/\"><script src=\"a.js\"></script>", ""},
    /* 8: relative to the document's directory */
    {"/sub/page.html", "<script src=\"../x.js\"></script><script src=\"./y.js\"></script>",
     "</x.js>; rel=preload; as=script, </sub/y.js>; rel=preload; as=script"},
    /* 9: other origins, and missing files, are left out */
    {"/i.html",
     "<script src=\"https://cdn.example/a.js\"></script><script src=\"//cdn/a.js\"></script>"
     "<link rel=stylesheet href=\"data:text/css,a\"><script src=/missing.js></script>"
     "<script src=\"/../../etc/passwd\"></script><script src=\"#x\"></script>",
     ""},
    /* 10: what is not loaded as it stands */
    {"/i.html",
     "<script nomodule src=/a.js></script><script type=application/ld+json src=/c.js>"
     "</script><link rel=\"alternate stylesheet\" href=/b.css><link rel=stylesheet "
     "media=print href=/d.css><link rel=preload as=image href=/x.js><link rel=icon "
     "href=/e.js><script></script>",
     ""},
    /* 11: preload and modulepreload links; fonts always crossorigin */
    {"/i.html",
     "<link rel=modulepreload href=/m.js><link rel=preload as=font type=font/woff2 "
     "href=/fonts/i.woff2><link rel=preload as=script href=/e.js crossorigin=use-credentials>"
     "<link rel=preload as=style href=/d.css><script type=text/javascript src=/c.js></script>",
     "</m.js>; rel=modulepreload, </fonts/i.woff2>; rel=preload; as=font; crossorigin, "
     "</e.js>; rel=preload; as=script; crossorigin=use-credentials, </d.css>; rel=preload; "
     "as=style, </c.js>; rel=preload; as=script"},
    /* 12: once per file; queries kept; &amp; decoded; unsafe characters refused */
    {"/i.html",
     "<script src=/a.js></script><script src=\"/a.js\"></script><script "
     "src=\"/x.js?v=1&amp;t=2\"></script><script src=\"/c.js?a b\"></script>"
     "<script src=\"/b.css>\"></script>",
     "</a.js>; rel=preload; as=script, </x.js?v=1&t=2>; rel=preload; as=script"},
    /* 15: truncated documents */
    {"/i.html", "<script src=\"/a.js", ""},
    {"/i.html", "<script src=/a.js", ""}, /* a tag cut short is dropped (HTML) */
    {"/i.html", "<!-- <script src=/a.js>", ""},
    {"/i.html", "<script src=/a.js></script><", "</a.js>; rel=preload; as=script"},
    {"/i.html", "<link rel=stylesheet href", ""},
    {"/i.html", "", ""},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = value(cases[i].doc, cases[i].html);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\"\n  want \"%s\"", i, got, cases[i].want);
	}
}

static void test_bounded(void **state)
{
	static char html[64 * 1024];
	size_t n = 0;
	(void)state;
	for (int i = 0; i < 500; i++) /* more references than kept, all to existing files */
		n += (size_t)sprintf(html + n, "<script src=\"/a.js?%d\"></script>", i);
	const char *got = value("/i.html", html);
	assert_true(strlen(got) <= CACHET_LINK_PRELOAD_MAX);
	assert_non_null(strstr(got, "</a.js?0>; rel=preload; as=script"));
}

static int count_kinds(void *ctx, const struct cachet_link_ref *ref)
{
	unsigned *kinds = ctx;
	kinds[ref->kind]++;
	return 0;
}

static void test_scan_reports_base(void **state)
{
	unsigned kinds[8] = {0};
	const char html[] = "<base href=/b/><script src=a.js></script><link rel=stylesheet href=s>";
	(void)state;
	assert_int_equal(cachet_link_preload_scan(html, sizeof(html) - 1, count_kinds, kinds), 3);
	assert_int_equal(kinds[CACHET_LINK_BASE], 1);
	assert_int_equal(kinds[CACHET_LINK_SCRIPT], 1);
	assert_int_equal(kinds[CACHET_LINK_STYLE], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_scan_reports_base),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
