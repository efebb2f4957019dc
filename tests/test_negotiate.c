/* test_negotiate.c - cachet_response_select() against a store with coded variants: which
 * representation Accept-Encoding picks, ranges (206/416 and their extra lines) on the selected
 * representation, If-Range, HEAD, and preconditions (304/412) compared with the variant's ETag. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/encoding.h"
#include "cachet/http_parse.h"
#include "cachet/httpdate.h"
#include "cachet/response.h"
#include "cachet/store.h"
#include "test_graded.h"
#include "test_heads.h"
#include "test_text.h"

#define MTIME 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define ID    CACHET_CODING_IDENTITY
#define GZ    CACHET_CODING_GZIP
#define BR    CACHET_CODING_BR
#define ZS    CACHET_CODING_ZSTD
#define ALL   ((1u << ID) | (1u << GZ) | (1u << BR) | (1u << ZS))

/* ---- fixture: one store with codings zstd, br, gzip ---- */

static char base[64];
static struct cachet_store *store;
static const enum cachet_coding codings[] = {ZS, BR, GZ};

static void put_bytes(const char *rel, const char *data, size_t len)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		fail_msg("cannot write %s", p);
	close(fd);
	struct timespec ts[2] = {{.tv_sec = MTIME}, {.tv_sec = MTIME}};
	if (utimensat(AT_FDCWD, p, ts, 0) < 0)
		fail_msg("cannot set the mtime of %s", p);
}

/* A compressible text of about lines * 50 bytes; graded: with sidecars that make it keep all three
 * variants (test_graded.h). */
static void put_text(const char *rel, unsigned lines, bool graded)
{
	static char buf[65536];
	size_t n = 0;
	for (unsigned i = 0; i < lines && n + 100 < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		                      "export function f%u(a, b) { return a * %u + b; }\n", i, i);
	put_bytes(rel, buf, n);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if (graded && graded_sidecars(p, buf, n) < 0)
		fail_msg("cannot grade the sidecars of %s", p);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int build(const enum cachet_coding *c, unsigned n, struct cachet_store **out)
{
	struct cachet_store_options opt = {.generation = 1, .codings = c, .n_codings = n};
	char err[256];
	if (cachet_store_build(base, NULL, &opt, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "store build: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(base, "/tmp/cachet_test_negotiate.XXXXXX");
	if (!mkdtemp(base))
		return -1;
	put_text("a.js", 100, true);
	put_text("b.css", 60, false);
	static char png[4000];
	memcpy(png, "\x89PNG\r\n\x1a\n", 8);
	put_bytes("img.png", png, sizeof(png)); /* compresses well, but an image: no variants */
	put_bytes("tiny.txt", "tiny\n", 5);
	put_bytes("empty.txt", "", 0);
	return build(codings, 3, &store);
}

static int group_teardown(void **state)
{
	(void)state;
	cachet_store_unref(store);
	return nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

static const struct cachet_entry *entry_in(const struct cachet_store *st, const char *path)
{
	const struct cachet_entry *e = cachet_store_lookup(st, path, strlen(path));
	if (!e)
		print_error("no entry %s\n", path);
	assert_non_null(e);
	return e;
}

static const struct cachet_entry *entry(const char *path)
{
	return entry_in(store, path);
}

/* The ETag of a representation, NUL-terminated, in a static buffer (one of four in turn). */
static const char *tag(const char *path, unsigned c)
{
	static char bufs[4][CACHET_ETAG_MAX + 1];
	static unsigned next;
	const struct cachet_repr *r = cachet_entry_repr(entry(path), c);
	assert_true(r->etag_len > 2 && r->etag_len < sizeof(bufs[0]));
	char *b = bufs[next++ % 4];
	memcpy(b, r->etag, r->etag_len);
	b[r->etag_len] = '\0';
	return b;
}

/* Parses "METHOD PATH HTTP/1.1", Host, the given header lines (each ending in CRLF) and the
 * blank line, and selects from st. buf must outlive the reply's use of the request. */
static void select_in(const struct cachet_store *st, char *buf, size_t cap, const char *method,
                      const char *path, const char *lines, struct cachet_request *req,
                      struct cachet_reply *r)
{
	int len = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: h\r\n%s\r\n", method, path, lines);
	assert_true(len > 0 && (size_t)len < cap);
	int status = 0;
	int n = cachet_http_parse_request(buf, (size_t)len, 0, req, &status);
	if (n != len)
		print_error("parse of '%s': %d (status %d)\n", buf, n, status);
	assert_int_equal(n, len);
	static struct cachet_multipart mp; /* read through r->multipart by the multipart tests */
	memset(r, 0xa5, sizeof(*r));
	cachet_response_select(st, req, r, &mp);
}

static void do_select(const char *method, const char *path, const char *lines,
                      struct cachet_reply *r)
{
	static char buf[4096];
	struct cachet_request req;
	select_in(store, buf, sizeof(buf), method, path, lines, &req, r);
}

/* r is the 200 of representation c of path (body expected unless HEAD). */
static void expect_ok(const struct cachet_reply *r, const char *path, unsigned c, bool head)
{
	const struct cachet_repr *rep = cachet_entry_repr(entry(path), c);
	if (r->status != 200 || r->rep != rep)
		print_error("%s: expected the 200 of coding %u, got status %d\n", path, c,
		            r->status);
	assert_int_equal(r->status, 200);
	assert_null(r->head);
	assert_ptr_equal(r->entry, entry(path));
	assert_ptr_equal(r->rep, rep);
	assert_int_equal(r->extra_len, 0);
	if (head) {
		assert_null(r->body);
		assert_int_equal(r->body_len, 0);
	} else {
		assert_ptr_equal(r->body, rep->body);
		assert_int_equal(r->body_len, rep->body_len);
	}
}

/* ---- the store itself ---- */

static void test_variants_built(void **state)
{
	(void)state;
	const struct cachet_entry *a = entry("/a.js");
	assert_int_equal(a->available, ALL);
	for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
		assert_non_null(cachet_entry_repr(a, c)->body);
		assert_int_equal(cachet_entry_repr(a, c)->coding, c);
		if (c != ID)
			assert_true(cachet_entry_repr(a, c)->body_len < a->repr[ID].body_len);
		for (unsigned d = 0; d < c; d++) {
			/* distinct strong tags */
			assert_false(cachet_entry_repr(a, c)->etag_len ==
			                 cachet_entry_repr(a, d)->etag_len &&
			             memcmp(cachet_entry_repr(a, c)->etag,
			                    cachet_entry_repr(a, d)->etag,
			                    cachet_entry_repr(a, c)->etag_len) == 0);
		}
		assert_int_equal(cachet_entry_repr(a, c)->etag[0], '"');
	}
	assert_memory_equal(cachet_entry_repr(a, GZ)->body, "\x1f\x8b", 2);
	assert_memory_equal(cachet_entry_repr(a, ZS)->body, "\x28\xb5\x2f\xfd", 4);
	assert_int_equal(entry("/img.png")->available, 1u << ID);
	assert_int_equal(entry("/tiny.txt")->available, 1u << ID);
	assert_int_equal(entry("/empty.txt")->available, 1u << ID);
}

/* The 206 head of representation r of e, without the per-request lines. */
static size_t partial_text(const struct cachet_entry *e, const struct cachet_repr *r, char *out,
                           size_t cap)
{
	const struct cachet_reply p = {.entry = e, .rep = r, .status = 206};
	return reply_head(&p, out, cap);
}

/* The entry of store whose representation rep is. */
static const struct cachet_entry *owner(const struct cachet_repr *rep)
{
	for (size_t i = 0; i < store->n_entries; i++) {
		const struct cachet_entry *e = &store->entries[i];
		size_t n = (size_t)__builtin_popcount(e->available);
		if (e->kind == CACHET_ENTRY_FILE && rep >= e->repr && rep < e->repr + n)
			return e;
	}
	abort();
}

/* What each block of a resource with variants says. */
static void test_blocks(void **state)
{
	(void)state;
	static const char *const names[] = {NULL, "gzip", "br", "zstd"};
	const struct cachet_entry *a = entry("/a.js");
	for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
		const struct cachet_repr *r = cachet_entry_repr(a, c);
		char line[128], cr[64];
		/* the 206 and 416 heads are written per answer (response.c): checked as written */
		char pt[CACHET_BLOCK_MAX], ut[CACHET_BLOCK_MAX], sel[160];
		size_t pn = partial_text(a, r, pt, sizeof(pt)), un;
		char okt[CACHET_BLOCK_MAX + 1], nmt[CACHET_BLOCK_MAX + 1];
		size_t okn = strlen(file_head(a, c, 200, okt, sizeof(okt)));
		size_t nmn = strlen(file_head(a, c, 304, nmt, sizeof(nmt)));
		snprintf(sel, sizeof(sel), "Accept-Encoding: %s\r\nRange: bytes=99999-\r\n",
		         c == ID ? "identity" : names[c]);
		struct cachet_reply u;
		do_select("GET", "/a.js", sel, &u);
		un = reply_head(&u, ut, sizeof(ut));
		const char *texts[] = {okt, pt, nmt, ut};
		const size_t lens[] = {okn, pn, nmn, un};
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(text_count(texts[i], lens[i], "Vary: Accept-Encoding\r\n"),
			                 1);
		snprintf(line, sizeof(line), "ETag: %s\r\n", tag("/a.js", c));
		assert_int_equal(text_count(okt, okn, line), 1);
		assert_int_equal(text_count(pt, pn, line), 1);
		assert_int_equal(text_count(nmt, nmn, line), 1);
		assert_int_equal(text_count(okt, okn, "Cache-Control: no-cache\r\n"), 1);
		assert_int_equal(text_count(pt, pn, "Cache-Control: no-cache\r\n"), 1);
		assert_int_equal(text_count(nmt, nmn, "Cache-Control: no-cache\r\n"), 1);
		assert_int_equal(text_count(okt, okn, "Accept-Ranges: bytes\r\n"), 1);
		/* the 206 gets Content-Length per request, never from the 200 block */
		assert_int_equal(text_count(pt, pn, "Content-Length"), 0);
		assert_int_equal(text_count(pt, pn, "Content-Range"), 0);
		snprintf(cr, sizeof(cr), "Content-Range: bytes */%zu\r\n", r->body_len);
		assert_int_equal(text_count(ut, un, cr), 1);
		if (c == ID) {
			assert_int_equal(text_count(okt, okn, "Content-Encoding"), 0);
			assert_int_equal(text_count(pt, pn, "Content-Encoding"), 0);
		} else {
			snprintf(line, sizeof(line), "Content-Encoding: %s\r\n", names[c]);
			assert_int_equal(text_count(okt, okn, line), 1);
			assert_int_equal(text_count(pt, pn, line), 1);
		}
		snprintf(line, sizeof(line), "Content-Length: %zu\r\n", r->body_len);
		assert_int_equal(text_count(okt, okn, line), 1);
	}
	char pt[CACHET_BLOCK_MAX + 1];
	const struct cachet_entry *p = entry("/img.png");
	file_head(p, ID, 200, pt, sizeof(pt));
	assert_int_equal(text_count(pt, strlen(pt), "Vary"), 0);
	file_head(p, ID, 304, pt, sizeof(pt));
	assert_int_equal(text_count(pt, strlen(pt), "Vary"), 0);
	struct cachet_reply u;
	char ut[CACHET_BLOCK_MAX];
	do_select("GET", "/img.png", "Range: bytes=99999-\r\n", &u);
	assert_int_equal(u.status, 416);
	size_t un = reply_head(&u, ut, sizeof(ut));
	assert_int_equal(text_count(ut, un, "Vary"), 0);
}

/* ---- negotiation ---- */

struct neg_case {
	const char *lines; /* header lines, each ending in CRLF */
	unsigned coding;
};

#define AE "Accept-Encoding: "

static const struct neg_case neg_cases[] = {
    {"", ID},
    {AE "\r\n", ID},
    {AE "identity\r\n", ID},
    {AE "gzip\r\n", GZ},
    {AE "br\r\n", BR},
    {AE "zstd\r\n", ZS},
    {AE "gzip, br, zstd\r\n", ZS},
    {AE "gzip, br\r\n", BR},
    {AE "gzip, deflate\r\n", GZ},
    {AE "deflate, compress\r\n", ID},
    {AE "GZIP\r\n", GZ},
    {AE "x-gzip\r\n", GZ},
    {AE "*\r\n", ZS},
    {AE "*, zstd;q=0\r\n", BR},
    {AE "*;q=0.5, gzip\r\n", GZ},
    {AE "*;q=0\r\n", ID},
    {AE "gzip;q=1, br;q=0.5\r\n", GZ},
    {AE "gzip;q=0.8, br;q=0.9, zstd;q=0.7\r\n", BR},
    {AE "zstd;q=0.5, br;q=0.5, gzip;q=0.5\r\n", ZS},
    {AE "br;q=0, gzip\r\n", GZ},
    {AE "zstd;q=0, br;q=0, gzip;q=0\r\n", ID},
    {AE "gzip;q=0.5, identity;q=1\r\n", ID},
    {AE "identity;q=0, gzip;q=0.1\r\n", GZ},
    {AE "gzip;q=0.001\r\n", GZ},
    {AE "gzip, gzip;q=0\r\n", ID},
    {AE "zstd;q=2, gzip\r\n", GZ},
    {AE "br;q=0.5x, gzip;q=0.1\r\n", GZ},
    {AE "gzip\r\n" AE "br\r\n", BR},
    {AE "gzip, br\r\n" AE "br;q=0\r\n", GZ},
    {AE "gzip\r\n" AE "gzip\r\n" AE "gzip\r\n" AE "gzip\r\n" AE "gzip\r\n" AE "gzip\r\n" AE
        "gzip\r\n" AE "gzip\r\n" AE "gzip\r\n",
     ID}, /* a ninth line was dropped: identity */
};

static void test_negotiation(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(neg_cases) / sizeof(neg_cases[0]); i++) {
		struct cachet_reply r;
		do_select("GET", "/a.js", neg_cases[i].lines, &r);
		if (r.rep != cachet_entry_repr(entry("/a.js"), neg_cases[i].coding))
			print_error("case %zu (%s): not the coding %u\n", i, neg_cases[i].lines,
			            neg_cases[i].coding);
		expect_ok(&r, "/a.js", neg_cases[i].coding, false);
		do_select("HEAD", "/a.js", neg_cases[i].lines, &r);
		expect_ok(&r, "/a.js", neg_cases[i].coding, true);
	}
}

/* Files without variants are identity whatever is asked. */
static void test_negotiation_no_variants(void **state)
{
	(void)state;
	static const char *const paths[] = {"/img.png", "/tiny.txt", "/empty.txt"};
	for (size_t i = 0; i < 3; i++) {
		struct cachet_reply r;
		do_select("GET", paths[i], AE "zstd, br, gzip\r\n", &r);
		expect_ok(&r, paths[i], ID, false);
		do_select("GET", paths[i], AE "*\r\n", &r);
		expect_ok(&r, paths[i], ID, false);
	}
}

/* The --compress order is the preference; codings not offered are never built or chosen. */
static void test_preference_order(void **state)
{
	(void)state;
	static const enum cachet_coding gz_br[] = {GZ, BR};
	struct cachet_store *st;
	assert_int_equal(build(gz_br, 2, &st), 0);
	const struct cachet_entry *a = entry_in(st, "/a.js");
	assert_int_equal(a->available, (1u << ID) | (1u << GZ) | (1u << BR));
	static const struct neg_case cases[] = {
	    {AE "br, gzip\r\n", GZ}, {AE "zstd, br, gzip\r\n", GZ},     {AE "br\r\n", BR},
	    {AE "zstd\r\n", ID},     {AE "br;q=1, gzip;q=0.9\r\n", BR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[512];
		struct cachet_request req;
		struct cachet_reply r;
		select_in(st, buf, sizeof(buf), "GET", "/a.js", cases[i].lines, &req, &r);
		assert_int_equal(r.status, 200);
		if (r.rep != cachet_entry_repr(a, cases[i].coding))
			print_error("case %zu (%s): not the coding %u\n", i, cases[i].lines,
			            cases[i].coding);
		assert_ptr_equal(r.rep, cachet_entry_repr(a, cases[i].coding));
	}
	cachet_store_unref(st);

	/* No codings: identity only, and no Vary. */
	assert_int_equal(build(NULL, 0, &st), 0);
	a = entry_in(st, "/a.js");
	assert_int_equal(a->available, 1u << ID);
	char at[CACHET_BLOCK_MAX + 1];
	file_head(a, ID, 200, at, sizeof(at));
	assert_int_equal(text_count(at, strlen(at), "Vary"), 0);
	char buf[512];
	struct cachet_request req;
	struct cachet_reply r;
	select_in(st, buf, sizeof(buf), "GET", "/a.js", AE "zstd, br, gzip\r\n", &req, &r);
	assert_ptr_equal(r.rep, &a->repr[ID]);
	cachet_store_unref(st);
}

/* ---- ranges ---- */

#define END_N (-1) /* last = size - 1 */

struct range_case {
	unsigned coding;   /* Accept-Encoding: the coding's name; ID: no header */
	const char *range; /* value; a %zu in it is replaced by the representation's size */
	int status;
	int64_t first; /* negative: size + first */
	int64_t last;  /* END_N: size - 1; other negative: size + last */
};

static const struct range_case range_cases[] = {
    {ID, "bytes=0-0", 206, 0, 0},          {ID, "bytes=0-99", 206, 0, 99},
    {ID, "bytes=100-199", 206, 100, 199},  {ID, "bytes=5-", 206, 5, END_N},
    {ID, "bytes=-1", 206, -1, END_N},      {ID, "bytes=-200", 206, -200, END_N},
    {ID, "bytes=0-999999", 206, 0, END_N}, {ID, "bytes=-999999", 206, 0, END_N},
    {ID, "BYTES = 7-8 ", 206, 7, 8},       {ID, "bytes=%zu-", 416, 0, 0},
    {ID, "bytes=-0", 416, 0, 0},           {ID, "bytes=999999-", 416, 0, 0},
    {ID, "bytes=5-2", 200, 0, 0},          {ID, "bytes=0-5,2-3", 200, 0, 0},
    {ID, "bytes=0-5,1000000-", 206, 0, 5}, {ID, "items=0-5", 200, 0, 0},
    {ID, "bytes=abc", 200, 0, 0},          {ID, "bytes=", 200, 0, 0},
    {GZ, "bytes=0-19", 206, 0, 19},        {GZ, "bytes=-15", 206, -15, END_N},
    {GZ, "bytes=30-", 206, 30, END_N},     {GZ, "bytes=%zu-", 416, 0, 0},
    {GZ, "bytes=0-1,3-4", 200, 0, 0},      {BR, "bytes=1-1", 206, 1, 1},
    {BR, "bytes=%zu-", 416, 0, 0},         {ZS, "bytes=10-", 206, 10, END_N},
    {ZS, "bytes=-3", 206, -3, END_N},
};

static const char *ae_line(unsigned c)
{
	switch (c) {
	case GZ:
		return AE "gzip\r\n";
	case BR:
		return AE "br\r\n";
	case ZS:
		return AE "zstd\r\n";
	default:
		return "";
	}
}

/* r is the 206 of bytes first..last of rep. */
static void expect_partial(const struct cachet_reply *r, const struct cachet_repr *rep,
                           uint64_t first, uint64_t last)
{
	char want[CACHET_RESPONSE_EXTRA_MAX];
	int n = snprintf(want, sizeof(want),
	                 "Content-Range: bytes %llu-%llu/%zu\r\nContent-Length: "
	                 "%llu\r\n",
	                 (unsigned long long)first, (unsigned long long)last, rep->body_len,
	                 (unsigned long long)(last - first + 1));
	assert_int_equal(r->status, 206);
	assert_ptr_equal(r->rep, rep); /* the 206 is written from it */
	assert_ptr_equal(r->body, rep->body + first);
	assert_int_equal(r->body_len, last - first + 1);
	if (r->extra_len != n || memcmp(r->extra, want, (size_t)n) != 0)
		print_error("extra '%.*s', expected '%s'\n", (int)r->extra_len, r->extra, want);
	assert_int_equal(r->extra_len, n);
	assert_memory_equal(r->extra, want, (size_t)n);
	assert_false(r->close);
}

static void expect_unsatisfiable(const struct cachet_reply *r, const struct cachet_repr *rep)
{
	assert_int_equal(r->status, 416);
	assert_ptr_equal(r->head, &store->unsatisfiable);
	assert_null(r->body);
	assert_int_equal(r->body_len, 0);
	/* its own lines, and Vary when the resource's blocks say it */
	char want[CACHET_RESPONSE_EXTRA_MAX];
	int n =
	    snprintf(want, sizeof(want), "Content-Range: bytes */%zu\r\nContent-Length: 0\r\n%s",
	             rep->body_len,
	             text_count(owner(rep)->cache_lines->text, owner(rep)->cache_lines->len, "Vary")
	                 ? "Vary: Accept-Encoding\r\n"
	                 : "");
	if (r->extra_len != n || memcmp(r->extra, want, (size_t)n) != 0)
		print_error("extra '%.*s', expected '%s'\n", (int)r->extra_len, r->extra, want);
	assert_int_equal(r->extra_len, n);
	assert_memory_equal(r->extra, want, (size_t)n);
	assert_false(r->close);
}

static void test_ranges(void **state)
{
	(void)state;
	const struct cachet_entry *a = entry("/a.js");
	for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const struct range_case *c = &range_cases[i];
		const struct cachet_repr *rep = cachet_entry_repr(a, c->coding);
		int64_t size = (int64_t)rep->body_len;
		char value[64], lines[256];
		snprintf(value, sizeof(value), c->range, rep->body_len);
		snprintf(lines, sizeof(lines), "%sRange: %s\r\n", ae_line(c->coding), value);
		struct cachet_reply r;
		do_select("GET", "/a.js", lines, &r);
		if (r.status != c->status)
			print_error("case %zu (%s): status %d\n", i, lines, r.status);
		assert_int_equal(r.status, c->status);
		if (c->status == 206) {
			int64_t first = c->first < 0 ? size + c->first : c->first;
			int64_t last = c->last == END_N ? size - 1
			               : c->last < 0    ? size + c->last
			                                : c->last;
			expect_partial(&r, rep, (uint64_t)first, (uint64_t)last);
		} else if (c->status == 416) {
			expect_unsatisfiable(&r, rep);
		} else {
			expect_ok(&r, "/a.js", c->coding, false);
		}
	}
}

/* A range past the coded size but inside the identity size: 416 against the coded size. */
static void test_range_past_coded_end(void **state)
{
	(void)state;
	const struct cachet_entry *a = entry("/a.js");
	char lines[128];
	snprintf(lines, sizeof(lines), AE "gzip\r\nRange: bytes=%zu-%zu\r\n",
	         cachet_entry_repr(a, GZ)->body_len, cachet_entry_repr(a, GZ)->body_len + 10);
	assert_true(cachet_entry_repr(a, GZ)->body_len + 10 < a->repr[ID].body_len);
	struct cachet_reply r;
	do_select("GET", "/a.js", lines, &r);
	expect_unsatisfiable(&r, cachet_entry_repr(a, GZ));
	/* Any range on an empty file is unsatisfiable. */
	do_select("GET", "/empty.txt", "Range: bytes=0-\r\n", &r);
	expect_unsatisfiable(&r, &entry("/empty.txt")->repr[ID]);
}

static void test_range_head_ignored(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "Range: bytes=0-9\r\n",
	    "Range: bytes=999999-\r\n",
	    AE "gzip\r\nRange: bytes=0-9\r\n",
	};
	static const unsigned want[] = {ID, ID, GZ};
	for (size_t i = 0; i < 3; i++) {
		struct cachet_reply r;
		do_select("HEAD", "/a.js", lines[i], &r);
		expect_ok(&r, "/a.js", want[i], true);
	}
	/* Two Range lines: ignored. */
	struct cachet_reply r;
	do_select("GET", "/a.js", "Range: bytes=0-9\r\nRange: bytes=0-9\r\n", &r);
	expect_ok(&r, "/a.js", ID, false);
}

/* Several ranges: a multipart 206 from the identity representation only. */
static void test_multipart_select(void **state)
{
	(void)state;
	const struct cachet_entry *a = entry("/a.js");
	const struct cachet_repr *id = &a->repr[ID];
	struct cachet_reply r;

	do_select("GET", "/a.js", "Range: bytes=0-5, 10-15,-2\r\n", &r);
	assert_int_equal(r.status, 206);
	assert_ptr_equal(r.rep, id); /* the 206 is written from it */
	assert_null(r.body);
	assert_int_equal(r.body_len, 0);
	assert_false(r.close);
	const struct cachet_multipart *mp = r.multipart;
	assert_non_null(mp);
	assert_ptr_equal(mp->rep, id);
	assert_string_equal(mp->content_type, a->content_type);
	assert_int_equal(mp->set.n, 3);
	assert_int_equal(mp->set.first[1], 10);
	assert_int_equal(mp->set.last[2], id->body_len - 1);
	char want[64];
	int n = snprintf(want, sizeof(want), "Content-Length: %llu\r\n",
	                 (unsigned long long)mp->body_len);
	assert_int_equal(r.extra_len, n);
	assert_memory_equal(r.extra, want, (size_t)n);

	/* A coded representation, HEAD, or an If-Range that does not match: the whole 200. */
	do_select("GET", "/a.js", AE "gzip\r\nRange: bytes=0-1,3-4\r\n", &r);
	expect_ok(&r, "/a.js", GZ, false);
	assert_null(r.multipart);
	do_select("HEAD", "/a.js", "Range: bytes=0-1,3-4\r\n", &r);
	expect_ok(&r, "/a.js", ID, true);
	do_select("GET", "/a.js", "Range: bytes=0-1,3-4\r\nIf-Range: \"other\"\r\n", &r);
	expect_ok(&r, "/a.js", ID, false);
	assert_null(r.multipart);
	/* One range: no multipart, even with a plan to fill. */
	do_select("GET", "/a.js", "Range: bytes=0-1\r\n", &r);
	expect_partial(&r, id, 0, 1);
	assert_null(r.multipart);
}

/* ---- If-Range ---- */

static void test_if_range(void **state)
{
	(void)state;
	const struct cachet_entry *a = entry("/a.js");
	char lm[CACHET_HTTPDATE_LEN + 1], other[CACHET_HTTPDATE_LEN + 1];
	cachet_httpdate_format(a->last_modified, lm);
	lm[CACHET_HTTPDATE_LEN] = '\0';
	cachet_httpdate_format(a->last_modified + 1, other);
	other[CACHET_HTTPDATE_LEN] = '\0';
	assert_int_equal(a->last_modified, MTIME);
	struct {
		unsigned coding;
		char value[CACHET_ETAG_MAX + 8];
		bool partial;
	} cases[16];
	size_t n = 0;
	static const unsigned cs[] = {ID, GZ, BR, ZS};
	for (size_t i = 0; i < 4; i++) {
		unsigned c = cs[i], o = cs[(i + 1) % 4];
		cases[n].coding = c;
		snprintf(cases[n].value, sizeof(cases[n].value), "%s", tag("/a.js", c));
		cases[n++].partial = true;
		cases[n].coding = c;
		snprintf(cases[n].value, sizeof(cases[n].value), "W/%s", tag("/a.js", c));
		cases[n++].partial = false;
		cases[n].coding = c;
		snprintf(cases[n].value, sizeof(cases[n].value), "%s", tag("/a.js", o));
		cases[n++].partial = false;
		cases[n].coding = c;
		snprintf(cases[n].value, sizeof(cases[n].value), "%s", c == ID ? lm : other);
		cases[n++].partial = c == ID;
	}
	for (size_t i = 0; i < n; i++) {
		char lines[256];
		snprintf(lines, sizeof(lines), "%sRange: bytes=0-9\r\nIf-Range: %s\r\n",
		         ae_line(cases[i].coding), cases[i].value);
		struct cachet_reply r;
		do_select("GET", "/a.js", lines, &r);
		if (r.status != (cases[i].partial ? 206 : 200))
			print_error("case %zu (%s): status %d\n", i, lines, r.status);
		if (cases[i].partial)
			expect_partial(&r, cachet_entry_repr(a, cases[i].coding), 0, 9);
		else
			expect_ok(&r, "/a.js", cases[i].coding, false);
	}
	/* The date equal to Last-Modified for a coded variant too. */
	char lines[256];
	snprintf(lines, sizeof(lines), AE "br\r\nRange: bytes=2-3\r\nIf-Range: %s\r\n", lm);
	struct cachet_reply r;
	do_select("GET", "/a.js", lines, &r);
	expect_partial(&r, cachet_entry_repr(a, BR), 2, 3);
	/* If-Range and an unsatisfiable range: 416 only when If-Range holds. */
	snprintf(lines, sizeof(lines), "Range: bytes=999999-\r\nIf-Range: %s\r\n",
	         tag("/a.js", ID));
	do_select("GET", "/a.js", lines, &r);
	expect_unsatisfiable(&r, &a->repr[ID]);
	do_select("GET", "/a.js", "Range: bytes=999999-\r\nIf-Range: \"x\"\r\n", &r);
	expect_ok(&r, "/a.js", ID, false);
}

/* ---- preconditions against the selected variant ---- */

struct cond_case {
	unsigned coding; /* selected by Accept-Encoding */
	const char *fmt; /* header lines; %1$s .. %4$s: tags of identity, gzip, br, zstd */
	int status;      /* 200, 206 (bytes 0-9), 304 or 412 */
};

static const struct cond_case cond_cases[] = {
    {ID, "If-None-Match: %1$s\r\n", 304},
    {GZ, "If-None-Match: %2$s\r\n", 304},
    {BR, "If-None-Match: %3$s\r\n", 304},
    {ZS, "If-None-Match: %4$s\r\n", 304},
    {GZ, "If-None-Match: W/%2$s\r\n", 304},
    {GZ, "If-None-Match: \"x\", %2$s\r\n", 304},
    {GZ, "If-None-Match: *\r\n", 304},
    {GZ, "If-None-Match: %1$s\r\n", 200},
    {GZ, "If-None-Match: %1$s, %3$s, %4$s\r\n", 200},
    {ID, "If-None-Match: %2$s\r\n", 200},
    {ZS, "If-None-Match: %3$s\r\n", 200},
    {GZ, "If-None-Match: %2$s\r\nRange: bytes=0-9\r\n", 304},
    {GZ, "If-None-Match: %1$s\r\nRange: bytes=0-9\r\n", 206},
    {ID, "If-Match: %1$s\r\n", 200},
    {GZ, "If-Match: %2$s\r\n", 200},
    {GZ, "If-Match: *\r\n", 200},
    {GZ, "If-Match: \"a\"\r\nIf-Match: %2$s\r\n", 200},
    {GZ, "If-Match: %1$s\r\n", 412},
    {ID, "If-Match: %2$s\r\n", 412},
    {GZ, "If-Match: W/%2$s\r\n", 412},
    {BR, "If-Match: %2$s, %4$s\r\n", 412},
    {GZ, "If-Match: %1$s\r\nIf-None-Match: %2$s\r\n", 412},
    {GZ, "If-Match: %2$s\r\nIf-None-Match: %2$s\r\n", 304},
    {GZ, "If-Match: %2$s\r\nRange: bytes=0-9\r\n", 206},
    {GZ, "If-Match: %1$s\r\nRange: bytes=0-9\r\n", 412},
    {GZ, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n", 412},
    {GZ, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 200},
    {GZ, "If-Unmodified-Since: nonsense\r\n", 200},
    {GZ, "If-Match: %2$s\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n", 200},
    {GZ, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\nIf-None-Match: %2$s\r\n", 412},
    {GZ, "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 304},
    {GZ, "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nRange: bytes=0-9\r\n", 304},
};

static void test_preconditions(void **state)
{
	(void)state;
	const struct cachet_entry *a = entry("/a.js");
	char t[4][CACHET_ETAG_MAX + 1];
	static const unsigned cs[] = {ID, GZ, BR, ZS};
	for (size_t i = 0; i < 4; i++)
		snprintf(t[i], sizeof(t[i]), "%s", tag("/a.js", cs[i]));
	for (size_t i = 0; i < sizeof(cond_cases) / sizeof(cond_cases[0]); i++) {
		const struct cond_case *c = &cond_cases[i];
		char cond[512], lines[640];
		snprintf(cond, sizeof(cond), c->fmt, t[0], t[1], t[2], t[3]);
		snprintf(lines, sizeof(lines), "%s%s", ae_line(c->coding), cond);
		for (int head = 0; head < 2; head++) {
			struct cachet_reply r;
			do_select(head ? "HEAD" : "GET", "/a.js", lines, &r);
			int want = c->status == 206 && head ? 200 : c->status;
			if (r.status != want)
				print_error("case %zu (%s%s): status %d, expected %d\n", i,
				            head ? "HEAD " : "", lines, r.status, want);
			assert_int_equal(r.status, want);
			const struct cachet_repr *rep = cachet_entry_repr(a, c->coding);
			switch (want) {
			case 200:
				expect_ok(&r, "/a.js", c->coding, head);
				break;
			case 206:
				expect_partial(&r, rep, 0, 9);
				break;
			case 304:
				assert_ptr_equal(r.rep, rep);
				assert_null(r.head);
				assert_null(r.body);
				assert_int_equal(r.body_len, 0);
				assert_int_equal(r.extra_len, 0);
				break;
			default: {
				const struct cachet_error *e = cachet_store_error(store, 412);
				assert_ptr_equal(r.head, &e->block);
				if (head) {
					assert_null(r.body);
				} else {
					assert_ptr_equal(r.body, e->body);
					assert_int_equal(r.body_len, e->body_len);
				}
				assert_false(r.close);
				break;
			}
			}
		}
	}
}

/* Preconditions and ranges on a missing file: 404, whatever they say. */
static void test_missing_404(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "If-Match: \"x\"\r\n",  "If-Match: *\r\n",
	    "If-None-Match: *\r\n", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
	    "Range: bytes=0-5\r\n", AE "gzip\r\nRange: bytes=0-5\r\nIf-Range: \"x\"\r\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct cachet_reply r;
		do_select("GET", "/missing.js", lines[i], &r);
		assert_int_equal(r.status, 404);
		assert_ptr_equal(r.head, &cachet_store_error(store, 404)->block);
		assert_int_equal(r.extra_len, 0);
	}
}

/* The 206 head as written: block, then the two lines, then the blank line. */
static void test_partial_written_head(void **state)
{
	(void)state;
	struct cachet_request req;
	struct cachet_reply r;
	static char buf[512];
	select_in(store, buf, sizeof(buf), "GET", "/a.js", AE "zstd\r\nRange: bytes=3-12\r\n", &req,
	          &r);
	const struct cachet_repr *rep = cachet_entry_repr(entry("/a.js"), ZS);
	expect_partial(&r, rep, 3, 12);
	static char out[4096], ok[CACHET_BLOCK_MAX + 1];
	size_t n =
	    cachet_response_write_head(&r, &req, false, "Tue, 15 Nov 1994 08:12:31 GMT", out);
	/* the 206's lines are the 200's up to its --add-header lines (none here: up to
	 * Accept-Ranges), under its own status line */
	file_head(r.entry, ZS, 200, ok, sizeof(ok));
	const char *from = strstr(ok, "\r\nServer: "), *to = strstr(ok, "Accept-Ranges: bytes\r\n");
	assert_non_null(from);
	assert_non_null(to);
	size_t lines = (size_t)(to - from) + strlen("Accept-Ranges: bytes\r\n");
	size_t h =
	    sizeof("HTTP/1.1 206 Partial Content\r\nDate: ") - 1 + CACHET_HTTPDATE_LEN + lines;
	assert_int_equal(n, h + r.extra_len + 2);
	assert_true(n <= CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX);
	assert_memory_equal(out + h - lines, from, lines);
	assert_memory_equal(out + h, r.extra, r.extra_len);
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	assert_int_equal(text_count(out, n, "Content-Length:"), 1);
	assert_int_equal(text_count(out, n, "Content-Encoding: zstd\r\n"), 1);
	assert_int_equal(text_count(out, n, "HTTP/1.1 206 Partial Content\r\n"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_variants_built),
	    cmocka_unit_test(test_blocks),
	    cmocka_unit_test(test_negotiation),
	    cmocka_unit_test(test_negotiation_no_variants),
	    cmocka_unit_test(test_preference_order),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_range_past_coded_end),
	    cmocka_unit_test(test_multipart_select),
	    cmocka_unit_test(test_range_head_ignored),
	    cmocka_unit_test(test_if_range),
	    cmocka_unit_test(test_preconditions),
	    cmocka_unit_test(test_missing_404),
	    cmocka_unit_test(test_partial_written_head),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
