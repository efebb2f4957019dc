/* test_http_parse.c - unit tests for the strict request-head parser (src/http_parse.c).
 *
 * Every input is copied to the very end of a readable mapping followed by a PROT_NONE page, so a
 * parser that reads one byte past what it was given crashes instead of passing by luck.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c17 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/http_parse.h"
#include "guard.h"

/* The parser's result for one guarded input, kept mapped so spans can be read. */
struct result {
	struct guarded g;
	struct cachet_request req;
	int rc;
	int status;
};

static void parse_n(struct result *r, const char *s, size_t n)
{
	r->g = guard(s, n);
	r->status = -1;
	memset(&r->req, 0xA5, sizeof(r->req)); /* garbage: the parser must reset every field */
	r->rc = cachet_http_parse_request(r->g.data, n, 0, &r->req, &r->status);
}

static void parse(struct result *r, const char *s)
{
	parse_n(r, s, strlen(s));
}

static void assert_span(struct cachet_span sp, const char *want)
{
	assert_int_equal(sp.len, strlen(want));
	assert_memory_equal(sp.p, want, sp.len);
}

/* A request of a given size built in a heap buffer, for the limit tests. */
static char *build(size_t cap)
{
	char *s = calloc(1, cap);

	/* abort(), not assert_non_null(): cmocka's assertions are not noreturn, so at -O2 GCC sees
	 * a NULL path into the callers' sprintf (-Wformat-overflow). */
	if (s == NULL)
		abort();
	return s;
}

/* Referer and User-Agent are kept for the access log: the first line of each, empty when absent. */
static void test_log_fields(void **state)
{
	struct result r;

	(void)state;
	parse(&r, "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nreferer: http://b/\r\n"
	          "User-Agent: second\r\n\r\n");
	assert_true(r.rc > 0);
	assert_span(r.req.user_agent, "curl/8");
	assert_span(r.req.referer, "http://b/");
	parse(&r, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(r.req.user_agent.len, 0);
	assert_int_equal(r.req.referer.len, 0);
}

static void test_simple_get(void **state)
{
	const char *in = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct result r;

	(void)state;
	parse(&r, in);
	assert_int_equal(r.rc, (int)strlen(in));
	assert_int_equal(r.status, -1);
	assert_span(r.req.method, "GET");
	assert_int_equal(r.req.method_id, CACHET_METHOD_GET);
	assert_span(r.req.target, "/index.html?q=1");
	assert_int_equal(r.req.minor_version, 1);
	assert_true(r.req.keep_alive);
	assert_span(r.req.host, "example.com");
	assert_false(r.req.has_content_length);
	assert_int_equal(r.req.content_length, 0);
	assert_int_equal(r.req.if_none_match.n, 0);
	assert_int_equal(r.req.if_none_match.dropped, 0);
	assert_int_equal(r.req.n_range, 0);
	assert_null(r.req.range.p);
	unguard(&r.g);
}

static void test_head_http10_no_host(void **state)
{
	const char *in = "HEAD / HTTP/1.0\r\n\r\n";
	struct result r;

	(void)state;
	parse(&r, in);
	assert_int_equal(r.rc, (int)strlen(in));
	assert_int_equal(r.req.method_id, CACHET_METHOD_HEAD);
	assert_int_equal(r.req.minor_version, 0);
	assert_false(r.req.keep_alive);
	assert_int_equal(r.req.host.len, 0);
	unguard(&r.g);
}

static void test_methods(void **state)
{
	static const struct {
		const char *method;
		enum cachet_method id;
	} cases[] = {
	    {"GET", CACHET_METHOD_GET},       {"HEAD", CACHET_METHOD_HEAD},
	    {"POST", CACHET_METHOD_OTHER},    {"PUT", CACHET_METHOD_OTHER},
	    {"DELETE", CACHET_METHOD_OTHER},  {"CONNECT", CACHET_METHOD_OTHER},
	    {"OPTIONS", CACHET_METHOD_OTHER}, {"TRACE", CACHET_METHOD_OTHER},
	    {"PATCH", CACHET_METHOD_OTHER},   {"get", CACHET_METHOD_UNKNOWN},
	    {"Head", CACHET_METHOD_UNKNOWN},  {"PROPFIND", CACHET_METHOD_UNKNOWN},
	    {"GETS", CACHET_METHOD_UNKNOWN},  {"X-Y_Z!~", CACHET_METHOD_UNKNOWN},
	};
	char in[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;

		snprintf(in, sizeof(in), "%s / HTTP/1.1\r\nHost: h\r\n\r\n", cases[i].method);
		parse(&r, in);
		assert_int_equal(r.rc, (int)strlen(in));
		assert_span(r.req.method, cases[i].method);
		assert_int_equal(r.req.method_id, cases[i].id);
		unguard(&r.g);
	}
}

/* Requests that must be refused, with the status each must get. */
static const struct {
	const char *in;
	int status;
} error_cases[] = {
    /* request line */
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400},           /* bare LF after the version */
    {"GET / HTTP/1.1\rHost: h\r\n\r\n", 400},           /* bare CR */
    {"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},       /* bare LF as an empty line */
    {"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},       /* bare CR as an empty line */
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},        /* empty method */
    {"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},         /* non-token method */
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},        /* two spaces */
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},        /* trailing space */
    {"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},        /* HTAB as separator */
    {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},      /* space inside the target */
    {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400},     /* HTAB inside the target */
    {"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},    /* control byte in the target */
    {"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},    /* DEL in the target */
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400}, /* non-ASCII in the target */
    {"GET HTTP/1.1\r\nHost: h\r\n\r\n", 400},           /* no target */
    {"GET /\r\nHost: h\r\n\r\n", 400},                  /* HTTP/0.9-style line */
    {"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},         /* wrong protocol name */
    {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},         /* protocol name is case-sensitive */
    {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},        /* two-digit minor */
    {"GET / HTTP/11\r\nHost: h\r\n\r\n", 400},          /* no dot */
    {"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400},         /* non-digit minor */
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},         /* unsupported major */
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505},
    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\nHost: h\r\n\r\n", 501}, /* 33 bytes */
    /* field lines */
    {"GET / HTTP/1.1\r\n\r\n", 400},                       /* HTTP/1.1 without Host */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400}, /* two Hosts, even equal */
    {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},                     /* invalid Host value */
    {"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400},                     /* userinfo is not allowed */
    {"GET / HTTP/1.1\r\nHost: h:8x\r\n\r\n", 400},                    /* bad port */
    {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},                    /* unclosed IP-literal */
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},                      /* space before the colon */
    {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},                     /* HTAB before the colon */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", 400}, /* obs-fold */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\tfolded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},                  /* first line starts with SP */
    {"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},            /* empty field name */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n", 400},            /* no colon */
    {"GET / HTTP/1.1\r\nHost: h\r\nX(A): v\r\n\r\n", 400},        /* non-token name */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n", 400},    /* control byte in a value */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fz\r\n\r\n", 400},    /* DEL in a value */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rz\r\n\r\n", 400},      /* bare CR in a value */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nX-B: b\r\n\r\n", 400}, /* bare LF ending a field */
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
    /* framing */
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
     501},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400},
    /* chunked not last, twice, or absent: the body's end is unknowable (RFC 9112 §6.3 item 4) */
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400}, /* no Host */
    {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400}, /* TE in 1.0 is faulty */
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: ,\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close; x\r\n\r\n", 400}, /* non-token option */
    /* leading empty lines: a few are tolerated, an endless stream is not */
    {"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct result r;

		parse(&r, error_cases[i].in);
		if (r.rc != CACHET_PARSE_ERROR || r.status != error_cases[i].status)
			print_error("case %zu: rc %d status %d\n", i, r.rc, r.status);
		assert_int_equal(r.rc, CACHET_PARSE_ERROR);
		assert_int_equal(r.status, error_cases[i].status);
		unguard(&r.g);
	}
}

/* An embedded NUL cannot sit in a string literal table; test it on its own. */
static void test_nul_bytes(void **state)
{
	static const char in_value[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";
	static const char in_target[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char in_name[] = "GET / HTTP/1.1\r\nHost: h\r\nX\0A: b\r\n\r\n";
	struct result r;

	(void)state;
	parse_n(&r, in_value, sizeof(in_value) - 1);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 400);
	unguard(&r.g);
	parse_n(&r, in_target, sizeof(in_target) - 1);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 400);
	unguard(&r.g);
	parse_n(&r, in_name, sizeof(in_name) - 1);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 400);
	unguard(&r.g);
}

static void test_incomplete(void **state)
{
	static const char *const cases[] = {
	    "",
	    "\r",
	    "\r\n",
	    "\r\n\r",
	    "G",
	    "GET / HTTP/1.1",
	    "GET / HTTP/1.1\r",
	    "GET / HTTP/1.1\r\n",
	    "GET / HTTP/1.1\r\nHost: h",
	    "GET / HTTP/1.1\r\nHost: h\r\n",
	    "GET / HTTP/1.1\r\nHost: h\r\n\r",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;

		parse(&r, cases[i]);
		assert_int_equal(r.rc, CACHET_PARSE_INCOMPLETE);
		assert_int_equal(r.status, -1);
		unguard(&r.g);
	}
}

static void test_versions(void **state)
{
	static const struct {
		const char *version;
		int minor;
	} cases[] = {
	    {"HTTP/1.0", 0},
	    {"HTTP/1.1", 1},
	    {"HTTP/1.2", 1},
	    {"HTTP/1.9", 1},
	};
	char in[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;

		snprintf(in, sizeof(in), "GET / %s\r\nHost: h\r\n\r\n", cases[i].version);
		parse(&r, in);
		assert_int_equal(r.rc, (int)strlen(in));
		assert_int_equal(r.req.minor_version, cases[i].minor);
		unguard(&r.g);
	}
}

/* "GET <target> HTTP/1.1\r\nHost: h\r\n\r\n" with a target of n bytes. */
static char *request_with_target(size_t n)
{
	char *s = build(n + 64);

	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', n - 1);
	strcpy(s + 4 + n, " HTTP/1.1\r\nHost: h\r\n\r\n");
	return s;
}

static void test_target_limit(void **state)
{
	char *ok = request_with_target(CACHET_TARGET_MAX);
	char *too_long = request_with_target(CACHET_TARGET_MAX + 1);
	static char endless[CACHET_TARGET_MAX + 100] = "GET ";
	struct result r;

	(void)state;
	parse(&r, ok);
	assert_int_equal(r.rc, (int)strlen(ok));
	assert_int_equal(r.req.target.len, CACHET_TARGET_MAX);
	unguard(&r.g);
	parse(&r, too_long);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 414);
	unguard(&r.g);
	/* Still arriving, no end of line in sight: refused before the line is complete, but only
	 * once it is longer than any valid request line (method, target, version) could be. */
	memset(endless + 4, 'a', CACHET_TARGET_MAX + 100 - 4);
	parse_n(&r, endless, CACHET_TARGET_MAX + 32);
	assert_int_equal(r.rc, CACHET_PARSE_INCOMPLETE);
	unguard(&r.g);
	parse_n(&r, endless, CACHET_TARGET_MAX + 100);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 414);
	unguard(&r.g);
	/* Request line complete, head not: the long target is refused at once. */
	parse_n(&r, too_long, strlen(too_long) - 4);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 414);
	unguard(&r.g);
	free(ok);
	free(too_long);
}

/* A request whose header section is exactly `section` bytes, made of one X-Pad field. */
static char *request_with_section(size_t section)
{
	static const char line[] = "GET / HTTP/1.1\r\n";
	static const char host[] = "Host: h\r\n";
	size_t pad = section - (sizeof(host) - 1) - strlen("X-Pad: \r\n") - 2;
	char *s = build(section + 64);
	char *p = s;

	p += sprintf(p, "%s%sX-Pad: ", line, host);
	memset(p, 'x', pad);
	p += pad;
	strcpy(p, "\r\n\r\n");
	return s;
}

static void test_header_bytes_limit(void **state)
{
	char *ok = request_with_section(CACHET_HEADER_BYTES_MAX);
	char *too_big = request_with_section(CACHET_HEADER_BYTES_MAX + 1);
	char *way_too_big = request_with_section(CACHET_HEADER_BYTES_MAX + 2);
	struct result r;

	(void)state;
	parse(&r, ok);
	assert_int_equal(r.rc, (int)strlen(ok));
	unguard(&r.g);
	parse(&r, too_big);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 431);
	unguard(&r.g);
	/* Still arriving: refused as soon as the bytes so far pass the limit. */
	parse_n(&r, way_too_big, strlen(way_too_big) - 2); /* MAX bytes so far */
	assert_int_equal(r.rc, CACHET_PARSE_INCOMPLETE);
	unguard(&r.g);
	parse_n(&r, way_too_big, strlen(way_too_big) - 1); /* MAX + 1 bytes so far */
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 431);
	unguard(&r.g);
	/* A head that ends exactly at the limit is never refused on the way. */
	parse_n(&r, ok, strlen(ok) - 1);
	assert_int_equal(r.rc, CACHET_PARSE_INCOMPLETE);
	unguard(&r.g);
	free(ok);
	free(too_big);
	free(way_too_big);
}

/* "GET / HTTP/1.1" with n field lines (Host first), complete or without the final CRLF. */
static char *request_with_lines(unsigned n, bool complete)
{
	char *s = build(32 + 16 * (size_t)n);
	char *p = s + sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\n");

	for (unsigned i = 1; i < n; i++)
		p += sprintf(p, "X-%u: v\r\n", i);
	if (complete)
		strcpy(p, "\r\n");
	return s;
}

static void test_header_lines_limit(void **state)
{
	char *ok = request_with_lines(CACHET_HEADER_LINES_MAX, true);
	char *too_many = request_with_lines(CACHET_HEADER_LINES_MAX + 1, true);
	char *partial_ok = request_with_lines(CACHET_HEADER_LINES_MAX, false);
	char *partial_many = request_with_lines(CACHET_HEADER_LINES_MAX + 1, false);
	struct result r;

	(void)state;
	parse(&r, ok);
	assert_int_equal(r.rc, (int)strlen(ok));
	unguard(&r.g);
	parse(&r, too_many);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 431);
	unguard(&r.g);
	parse(&r, partial_ok);
	assert_int_equal(r.rc, CACHET_PARSE_INCOMPLETE);
	unguard(&r.g);
	parse(&r, partial_many);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 431);
	unguard(&r.g);
	free(ok);
	free(too_many);
	free(partial_ok);
	free(partial_many);
}

static void test_partial_long_method(void **state)
{
	char in[64];
	struct result r;

	(void)state;
	memset(in, 'M', 33);
	parse_n(&r, in, 33);
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 501);
	unguard(&r.g);
	parse_n(&r, in, 32);
	assert_int_equal(r.rc, CACHET_PARSE_INCOMPLETE);
	unguard(&r.g);
}

/* A bad request line is refused as soon as it is complete, not when the head ends. */
static void test_partial_bad_request_line(void **state)
{
	struct result r;

	(void)state;
	parse(&r, "GET / HTTP/2.0\r\nHost: h\r\n");
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 505);
	unguard(&r.g);
	parse(&r, "GET /a b HTTP/1.1\r\n");
	assert_int_equal(r.rc, CACHET_PARSE_ERROR);
	assert_int_equal(r.status, 400);
	unguard(&r.g);
}

/* Spans compared by offset, so results over two different buffers can be compared. */
static void assert_same_span(struct cachet_span a, const char *abase, struct cachet_span b,
                             const char *bbase)
{
	assert_int_equal(a.len, b.len);
	if (a.len)
		assert_int_equal(a.p - abase, b.p - bbase);
}

static void assert_same_list(const struct cachet_field_list *a, const char *abase,
                             const struct cachet_field_list *b, const char *bbase)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->dropped, b->dropped);
	for (unsigned i = 0; i < a->n; i++)
		assert_same_span(a->line[i], abase, b->line[i], bbase);
}

static void assert_same_request(const struct cachet_request *a, const char *abase,
                                const struct cachet_request *b, const char *bbase)
{
	assert_same_span(a->method, abase, b->method, bbase);
	assert_same_span(a->target, abase, b->target, bbase);
	assert_int_equal(a->method_id, b->method_id);
	assert_int_equal(a->minor_version, b->minor_version);
	assert_int_equal(a->keep_alive, b->keep_alive);
	assert_same_span(a->host, abase, b->host, bbase);
	assert_int_equal(a->has_content_length, b->has_content_length);
	assert_int_equal(a->content_length, b->content_length);
	assert_int_equal(a->chunked, b->chunked);
	assert_same_list(&a->if_none_match, abase, &b->if_none_match, bbase);
	assert_same_list(&a->if_match, abase, &b->if_match, bbase);
	assert_same_list(&a->accept_encoding, abase, &b->accept_encoding, bbase);
	assert_same_span(a->if_modified_since, abase, b->if_modified_since, bbase);
	assert_int_equal(a->n_if_modified_since, b->n_if_modified_since);
	assert_same_span(a->if_unmodified_since, abase, b->if_unmodified_since, bbase);
	assert_int_equal(a->n_if_unmodified_since, b->n_if_unmodified_since);
	assert_same_span(a->if_range, abase, b->if_range, bbase);
	assert_int_equal(a->n_if_range, b->n_if_range);
	assert_same_span(a->range, abase, b->range, bbase);
	assert_int_equal(a->n_range, b->n_range);
}

static const char *const valid_requests[] = {
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "\r\n\r\nHEAD /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nIf-None-Match: \"a\", \"b\"\r\n"
    "If-None-Match: W/\"c\"\r\nAccept-Encoding: gzip, br\r\nRange: bytes=0-9\r\n"
    "If-Range: \"a\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    "Content-Length: 0\r\nConnection: close\r\nUser-Agent: t \xe9\r\n\r\n",
    "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\n\r\n",
};

/**
 * Feeds req one byte at a time, as a slow client would, from a buffer that ends at a guard page
 * each time, and checks INCOMPLETE until the last byte and then the one-shot result.
 */
static void feed_byte_by_byte(const char *in)
{
	size_t n = strlen(in);
	struct result whole;
	size_t last = 0;

	parse(&whole, in);
	assert_int_equal(whole.rc, (int)n);
	for (size_t k = 0; k <= n; k++) {
		struct guarded g = guard(in, k);
		struct cachet_request req;
		int status = -1;
		int rc = cachet_http_parse_request(g.data, k, last, &req, &status);

		if (k < n) {
			assert_int_equal(rc, CACHET_PARSE_INCOMPLETE);
			assert_int_equal(status, -1);
			last = k;
		} else {
			assert_int_equal(rc, (int)n);
			assert_same_request(&req, g.data, &whole.req, whole.g.data);
		}
		unguard(&g);
	}
	unguard(&whole.g);
}

static void test_fragmented(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_requests) / sizeof(valid_requests[0]); i++)
		feed_byte_by_byte(valid_requests[i]);
}

/* Byte-by-byte arrival of a request that must be refused: never anything but INCOMPLETE first. */
static void test_fragmented_error(void **state)
{
	const char *in = "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n";
	size_t n = strlen(in);

	(void)state;
	for (size_t k = 0; k <= n; k++) {
		struct guarded g = guard(in, k);
		struct cachet_request req;
		int status = -1;
		int rc = cachet_http_parse_request(g.data, k, k ? k - 1 : 0, &req, &status);

		assert_int_equal(rc, k < n ? CACHET_PARSE_INCOMPLETE : CACHET_PARSE_ERROR);
		assert_int_equal(status, k < n ? -1 : 400);
		unguard(&g);
	}
}

static void test_pipelined(void **state)
{
	const char *first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *second = "HEAD /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	char in[256];
	struct result r;
	struct cachet_request req;
	int status = -1;
	int rc;

	(void)state;
	snprintf(in, sizeof(in), "%s%s", first, second);
	parse(&r, in);
	assert_int_equal(r.rc, (int)strlen(first));
	assert_span(r.req.target, "/one");
	assert_true(r.req.keep_alive);
	rc = cachet_http_parse_request(r.g.data + r.rc, r.g.len - (size_t)r.rc, 0, &req, &status);
	assert_int_equal(rc, (int)strlen(second));
	assert_int_equal(req.method_id, CACHET_METHOD_HEAD);
	assert_span(req.target, "/two");
	assert_false(req.keep_alive);
	unguard(&r.g);
}

static void test_absolute_form(void **state)
{
	struct result r;

	(void)state;
	parse(&r, "GET http://example.com:80/a%20b?x=1#f HTTP/1.1\r\nHost: example.com:80\r\n\r\n");
	assert_true(r.rc > 0);
	assert_span(r.req.target, "http://example.com:80/a%20b?x=1#f");
	assert_span(r.req.host, "example.com:80");
	unguard(&r.g);
}

static void test_list_fields(void **state)
{
	struct result r;

	(void)state;
	parse(&r, "GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n"
	          "if-none-match: \"b\", \"c\"\r\nIF-NONE-MATCH:W/\"d\"\r\n"
	          "If-Match: *\r\nAccept-Encoding: gzip\r\n\r\n");
	assert_true(r.rc > 0);
	assert_int_equal(r.req.if_none_match.n, 3);
	assert_int_equal(r.req.if_none_match.dropped, 0);
	assert_span(r.req.if_none_match.line[0], "\"a\"");
	assert_span(r.req.if_none_match.line[1], "\"b\", \"c\"");
	assert_span(r.req.if_none_match.line[2], "W/\"d\"");
	assert_int_equal(r.req.if_match.n, 1);
	assert_span(r.req.if_match.line[0], "*");
	assert_int_equal(r.req.accept_encoding.n, 1);
	assert_span(r.req.accept_encoding.line[0], "gzip");
	unguard(&r.g);
}

static void test_list_overflow(void **state)
{
	char in[1024];
	char *p = in + sprintf(in, "GET / HTTP/1.1\r\nHost: h\r\n");
	struct result r;

	(void)state;
	for (int i = 0; i < 10; i++)
		p += sprintf(p, "If-None-Match: \"e%d\"\r\n", i);
	strcpy(p, "\r\n");
	parse(&r, in);
	assert_true(r.rc > 0);
	assert_int_equal(r.req.if_none_match.n, CACHET_FIELD_LINES_MAX);
	assert_int_equal(r.req.if_none_match.dropped, 2);
	assert_span(r.req.if_none_match.line[0], "\"e0\"");
	assert_span(r.req.if_none_match.line[7], "\"e7\"");
	unguard(&r.g);
}

static void test_single_fields(void **state)
{
	struct result r;

	(void)state;
	parse(&r, "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nrange: bytes=2-3\r\n"
	          "If-Modified-Since: a\r\nIf-Unmodified-Since: b\r\nIf-Range: \"c\"\r\n\r\n");
	assert_true(r.rc > 0);
	assert_span(r.req.range, "bytes=0-1");
	assert_int_equal(r.req.n_range, 2);
	assert_span(r.req.if_modified_since, "a");
	assert_int_equal(r.req.n_if_modified_since, 1);
	assert_span(r.req.if_unmodified_since, "b");
	assert_int_equal(r.req.n_if_unmodified_since, 1);
	assert_span(r.req.if_range, "\"c\"");
	assert_int_equal(r.req.n_if_range, 1);
	unguard(&r.g);
}

static void test_connection_matrix(void **state)
{
	static const struct {
		const char *version;
		const char *fields;
		bool keep_alive;
	} cases[] = {
	    {"1.1", "", true},
	    {"1.1", "Connection: close\r\n", false},
	    {"1.1", "Connection: CLOSE\r\n", false},
	    {"1.1", "Connection: keep-alive\r\n", true},
	    {"1.1", "Connection: Upgrade, close\r\n", false},
	    {"1.1", "Connection: x\r\nConnection: close\r\n", false},
	    {"1.1", "Connection: closed\r\n", true},
	    {"1.1", "Connection: ,, ,\r\n", true},
	    {"1.0", "", false},
	    {"1.0", "Connection: keep-alive\r\n", true},
	    {"1.0", "Connection: Keep-Alive\r\n", true},
	    {"1.0", "Connection: close\r\n", false},
	    {"1.0", "Connection: keep-alive, close\r\n", false},
	    {"1.0", "Connection: keep-alive\r\nConnection: close\r\n", false},
	    {"1.0", "Connection: te,keep-alive\r\n", true},
	};
	char in[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;

		snprintf(in, sizeof(in), "GET / HTTP/%s\r\nHost: h\r\n%s\r\n", cases[i].version,
		         cases[i].fields);
		parse(&r, in);
		assert_int_equal(r.rc, (int)strlen(in));
		if (r.req.keep_alive != cases[i].keep_alive)
			print_error("case %zu\n", i);
		assert_int_equal(r.req.keep_alive, cases[i].keep_alive);
		unguard(&r.g);
	}
}

static void test_content_length(void **state)
{
	static const struct {
		const char *fields;
		uint64_t value;
	} cases[] = {
	    {"Content-Length: 5\r\n", 5},
	    {"Content-Length: 0\r\n", 0},
	    {"Content-Length: 5, 5\r\n", 5},
	    {"Content-Length: 5,5 ,5\r\n", 5},
	    {"Content-Length: 5\r\ncontent-length: 5\r\n", 5},
	    {"Content-Length: 007\r\nContent-Length: 7\r\n", 7},
	    {"Content-Length: 18446744073709551615\r\n", UINT64_MAX},
	};
	char in[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;

		snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", cases[i].fields);
		parse(&r, in);
		assert_int_equal(r.rc, (int)strlen(in));
		assert_true(r.req.has_content_length);
		assert_true(r.req.content_length == cases[i].value);
		unguard(&r.g);
	}
}

/* Expect (RFC 9110 §10.1.1): 100-continue in any case, anything else "other", ignored in 1.0. */
static void test_expect(void **state)
{
	static const struct {
		const char *version, *fields;
		enum cachet_expect want;
	} cases[] = {
	    {"1.1", "", CACHET_EXPECT_NONE},
	    {"1.1", "Expect: 100-continue\r\n", CACHET_EXPECT_CONTINUE},
	    {"1.1", "expect:   100-Continue \r\n", CACHET_EXPECT_CONTINUE},
	    {"1.1", "Expect: 200-ok\r\n", CACHET_EXPECT_OTHER},
	    {"1.1", "Expect: 100-continue, x\r\n", CACHET_EXPECT_OTHER},
	    {"1.1", "Expect: x\r\nExpect: 100-continue\r\n", CACHET_EXPECT_OTHER},
	    {"1.1", "Expect:\r\n", CACHET_EXPECT_NONE},
	    {"1.0", "Expect: 100-continue\r\n", CACHET_EXPECT_NONE},
	    {"1.0", "Expect: 200-ok\r\n", CACHET_EXPECT_NONE},
	};
	char in[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;

		snprintf(in, sizeof(in), "GET / HTTP/%s\r\nHost: h\r\n%s\r\n", cases[i].version,
		         cases[i].fields);
		parse(&r, in);
		assert_int_equal(r.rc, (int)strlen(in));
		if (r.req.expect != cases[i].want)
			fail_msg("case %zu: expect %d, want %d", i, r.req.expect, cases[i].want);
		unguard(&r.g);
	}
}

/* Transfer-Encoding that frames a body cachet can skip: chunked alone, last, in HTTP/1.1. */
static void test_transfer_encoding(void **state)
{
	static const char *const fields[] = {
	    "Transfer-Encoding: chunked\r\n",
	    "transfer-encoding: CHUNKED\r\n",
	    "Transfer-Encoding:  chunked \t\r\n",
	    "Transfer-Encoding: chunked,\r\n",
	    "Transfer-Encoding: , chunked\r\n",
	    "Transfer-Encoding: \r\nTransfer-Encoding: chunked\r\n",
	};
	char in[256];
	struct result r;

	(void)state;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields[i]);
		parse(&r, in);
		if (r.rc != (int)strlen(in))
			print_error("%s: rc %d status %d\n", fields[i], r.rc, r.status);
		assert_int_equal(r.rc, (int)strlen(in));
		assert_true(r.req.chunked);
		assert_false(r.req.has_content_length);
		unguard(&r.g);
	}
	parse(&r, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n");
	assert_false(r.req.chunked);
	unguard(&r.g);
}

static void test_leading_empty_lines(void **state)
{
	const char *in = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct result r;

	(void)state;
	parse(&r, in);
	assert_int_equal(r.rc, (int)strlen(in));
	assert_ptr_equal(r.req.method.p, r.g.data + 4);
	assert_span(r.req.method, "GET");
	unguard(&r.g);
}

static void test_ows_trimming(void **state)
{
	struct result r;

	(void)state;
	parse(&r, "GET / HTTP/1.1\r\nHost: \t example.com \t \r\nRange:bytes=1-2\r\n"
	          "If-Match:  \"x\" \"y\"  \r\nIf-None-Match:\r\nX-A: \xff\xfe v\r\n\r\n");
	assert_true(r.rc > 0);
	assert_span(r.req.host, "example.com");
	assert_span(r.req.range, "bytes=1-2");
	assert_span(r.req.if_match.line[0], "\"x\" \"y\"");
	assert_int_equal(r.req.if_none_match.n, 1);
	assert_int_equal(r.req.if_none_match.line[0].len, 0);
	unguard(&r.g);
}

static void test_host_forms(void **state)
{
	static const char *const hosts[] = {
	    "",          "example.com", "example.com:8080",      "127.0.0.1", "[::1]",
	    "[::1]:443", "h:",          "xn--bcher-kva.example", "a%20b",
	};
	char in[256];

	(void)state;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct result r;

		snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
		parse(&r, in);
		assert_int_equal(r.rc, (int)strlen(in));
		assert_span(r.req.host, hosts[i]);
		unguard(&r.g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_get),
	    cmocka_unit_test(test_log_fields),
	    cmocka_unit_test(test_head_http10_no_host),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_incomplete),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_target_limit),
	    cmocka_unit_test(test_header_bytes_limit),
	    cmocka_unit_test(test_header_lines_limit),
	    cmocka_unit_test(test_partial_long_method),
	    cmocka_unit_test(test_partial_bad_request_line),
	    cmocka_unit_test(test_fragmented),
	    cmocka_unit_test(test_fragmented_error),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_absolute_form),
	    cmocka_unit_test(test_list_fields),
	    cmocka_unit_test(test_list_overflow),
	    cmocka_unit_test(test_single_fields),
	    cmocka_unit_test(test_connection_matrix),
	    cmocka_unit_test(test_content_length),
	    cmocka_unit_test(test_expect),
	    cmocka_unit_test(test_transfer_encoding),
	    cmocka_unit_test(test_leading_empty_lines),
	    cmocka_unit_test(test_ows_trimming),
	    cmocka_unit_test(test_host_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
