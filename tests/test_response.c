/* test_response.c - choosing the response for parsed requests against a small store, and writing
 * its head with the right Connection line. */
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

#include "cachet/http_parse.h"
#include "cachet/httpdate.h"
#include "cachet/response.h"
#include "cachet/store.h"
#include "test_graded.h"
#include "test_heads.h"
#include "test_text.h"

/* ---- fixture: one small store for the whole group ---- */

static char base[64];
static struct cachet_store *store;
static char tag_a[CACHET_ETAG_MAX]; /* ETag of /a.txt, NUL-terminated */

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fail_msg("cannot write %s", p);
	close(fd);
}

static void put_dir(const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if (mkdir(p, 0755) < 0)
		fail_msg("cannot mkdir %s", p);
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(base, "/tmp/cachet_test_response.XXXXXX");
	if (!mkdtemp(base))
		return -1;
	put("a.txt", "alpha text\n");
	put("index.html", "<h1>root</h1>\n");
	put_dir("dir");
	put("dir/index.html", "<h1>dir</h1>\n");
	put("dir/b.css", "b{}\n");
	put_dir("noindex");
	put("noindex/c.txt", "c\n");
	put("404.html", "<h1>not here</h1>\n");
	struct cachet_store_options opt = {.generation = 7};
	char err[256];
	if (cachet_store_build(base, NULL, &opt, &store, err, sizeof(err)) < 0) {
		fprintf(stderr, "store build: %s\n", err);
		return -1;
	}
	const struct cachet_entry *e = cachet_store_lookup(store, "/a.txt", 6);
	if (!e || e->repr[CACHET_CODING_IDENTITY].etag_len >= sizeof(tag_a))
		return -1;
	memcpy(tag_a, e->repr[CACHET_CODING_IDENTITY].etag,
	       e->repr[CACHET_CODING_IDENTITY].etag_len);
	tag_a[e->repr[CACHET_CODING_IDENTITY].etag_len] = '\0';
	return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int group_teardown(void **state)
{
	(void)state;
	cachet_store_unref(store);
	return nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

/* Parses a complete request head; the buffer must outlive the request (spans point into it). */
static void parse_ok(const char *buf, struct cachet_request *req)
{
	int status = 0;
	size_t len = strlen(buf);
	int n = cachet_http_parse_request(buf, len, 0, req, &status);
	if (n != (int)len)
		print_error("parse of '%.*s': %d (status %d)\n", (int)len, buf, n, status);
	assert_int_equal(n, (int)len);
}

static const struct cachet_entry *entry(const char *path)
{
	const struct cachet_entry *e = cachet_store_lookup(store, path, strlen(path));
	if (!e)
		print_error("no entry %s\n", path);
	assert_non_null(e);
	return e;
}

/* ---- cachet_response_select ---- */

enum body_kind {
	B_NONE,  /* body NULL, len 0 */
	B_FILE,  /* the entry's body */
	B_ERROR, /* the error's text body */
};

struct select_case {
	const char *req; /* a printf format: %s is the ETag of /a.txt, %% a % */
	int status;
	const char *key; /* entry whose block is expected (200/304/301) */
	enum body_kind body;
	bool close;
};

#define H     " HTTP/1.1\r\nHost: h\r\n"
#define END   "\r\n"
#define IMS   "If-Modified-Since: "
#define IUS   "If-Unmodified-Since: "
#define INM   "If-None-Match: "
#define IM    "If-Match: "
#define CL0   "Content-Length: 0\r\n"
#define LATER "Fri, 01 Jan 2100 00:00:00 GMT\r\n"
#define EARLY "Thu, 01 Jan 1970 00:00:01 GMT\r\n"

static const struct select_case select_cases[] = {
    /* 0: plain GET and HEAD */
    {"GET /a.txt" H END, 200, "/a.txt", B_FILE, false},
    {"HEAD /a.txt" H END, 200, "/a.txt", B_NONE, false},
    {"GET /dir/b.css" H END, 200, "/dir/b.css", B_FILE, false},
    {"GET /a.txt HTTP/1.0\r\n\r\n", 200, "/a.txt", B_FILE, false},
    /* 4: query strings, fragments of normalization, absolute form */
    {"GET /a.txt?x=1" H END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt?x=/../../etc/passwd" H END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt?" H END, 200, "/a.txt", B_FILE, false},
    {"GET //a.txt" H END, 200, "/a.txt", B_FILE, false},
    {"GET /dir/../a.txt" H END, 200, "/a.txt", B_FILE, false},
    {"GET /./a.txt" H END, 200, "/a.txt", B_FILE, false},
    {"GET /%%61.txt" H END, 200, "/a.txt", B_FILE, false},
    {"GET http://h/a.txt" H END, 200, "/a.txt", B_FILE, false},
    /* 12: If-None-Match (weak comparison) */
    {"GET /a.txt" H INM "%s\r\n" END, 304, "/a.txt", B_NONE, false},
    {"HEAD /a.txt" H INM "%s\r\n" END, 304, "/a.txt", B_NONE, false},
    {"GET /a.txt" H INM "W/%s\r\n" END, 304, "/a.txt", B_NONE, false},
    {"GET /a.txt" H INM "*\r\n" END, 304, "/a.txt", B_NONE, false},
    {"GET /a.txt" H INM "\"other\", %s\r\n" END, 304, "/a.txt", B_NONE, false},
    {"GET /a.txt" H INM "\"other\"\r\n" END, 200, "/a.txt", B_FILE, false},
    {"HEAD /a.txt" H INM "\"other\"\r\n" END, 200, "/a.txt", B_NONE, false},
    {"GET /a.txt" H INM "\"0000000000000000\"\r\n" END, 200, "/a.txt", B_FILE, false},
    /* 20: If-Match (strong comparison) */
    {"GET /a.txt" H IM "\"nope\"\r\n" END, 412, NULL, B_ERROR, false},
    {"HEAD /a.txt" H IM "\"nope\"\r\n" END, 412, NULL, B_NONE, false},
    {"GET /a.txt" H IM "W/%s\r\n" END, 412, NULL, B_ERROR, false},
    {"GET /a.txt" H IM "%s\r\n" END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt" H IM "*\r\n" END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt" H IM "\"nope\"\r\n" INM "%s\r\n" END, 412, NULL, B_ERROR, false},
    /* 26: dates */
    {"GET /a.txt" H IMS LATER END, 304, "/a.txt", B_NONE, false},
    {"GET /a.txt" H IMS EARLY END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt" H IUS EARLY END, 412, NULL, B_ERROR, false},
    {"GET /a.txt" H IUS LATER END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt" H INM "\"other\"\r\n" IMS LATER END, 200, "/a.txt", B_FILE, false},
    /* 31: directories */
    {"GET /" H END, 200, "/index.html", B_FILE, false},
    {"GET /dir/" H END, 200, "/dir/index.html", B_FILE, false},
    {"GET /dir" H END, 301, "/dir", B_NONE, false},
    {"HEAD /dir" H END, 301, "/dir", B_NONE, false},
    {"GET /dir?q=1" H END, 301, "/dir", B_NONE, false},
    {"GET /noindex/" H END, 404, NULL, B_ERROR, false},
    {"GET /noindex" H END, 404, NULL, B_ERROR, false},
    /* 38: missing */
    {"GET /missing.txt" H END, 404, NULL, B_ERROR, false},
    {"HEAD /missing.txt" H END, 404, NULL, B_NONE, false},
    {"GET /a.txt/" H END, 404, NULL, B_ERROR, false},
    {"GET /A.TXT" H END, 404, NULL, B_ERROR, false},
    /* 42: methods */
    {"POST /a.txt" H CL0 END, 405, NULL, B_ERROR, false},
    {"PUT /a.txt" H CL0 END, 405, NULL, B_ERROR, false},
    {"DELETE /a.txt" H END, 405, NULL, B_ERROR, false},
    {"OPTIONS /a.txt" H END, 405, NULL, B_ERROR, false},
    {"POST /missing" H CL0 END, 405, NULL, B_ERROR, false},
    {"FOO /a.txt" H END, 501, NULL, B_ERROR, false},
    {"BREW /a.txt" H END, 501, NULL, B_ERROR, false},
    /* 49: targets that climb or are malformed */
    {"GET /../x" H END, 400, NULL, B_ERROR, true},
    {"GET /../a.txt" H END, 400, NULL, B_ERROR, true},
    {"GET /%%2e%%2e/a.txt" H END, 400, NULL, B_ERROR, true},
    {"GET /dir/../../a.txt" H END, 400, NULL, B_ERROR, true},
    {"GET /%%00" H END, 400, NULL, B_ERROR, true},
    {"HEAD /../x" H END, 400, NULL, B_NONE, true},
    /* 55: Expect (RFC 9110 §10.1.1): answered at once, closed after when a body may follow */
    {"GET /a.txt" H "Expect: 100-continue\r\nContent-Length: 5\r\n" END, 200, "/a.txt", B_FILE,
     true},
    {"GET /a.txt" H "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n" END, 200, "/a.txt",
     B_FILE, true},
    {"POST /a.txt" H "Expect: 100-continue\r\nContent-Length: 5\r\n" END, 405, NULL, B_ERROR, true},
    {"GET /missing" H "Expect: 100-continue\r\nContent-Length: 5\r\n" END, 404, NULL, B_ERROR,
     true},
    {"GET /a.txt" H "Expect: 100-continue\r\n" CL0 END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt" H "Expect: 100-continue\r\n" END, 200, "/a.txt", B_FILE, false},
    {"GET /a.txt" H "Expect: 200-ok\r\n" END, 417, NULL, B_ERROR, true},
    {"HEAD /a.txt" H "Expect: 200-ok\r\n" END, 417, NULL, B_NONE, true},
    {"GET /a.txt HTTP/1.0\r\nExpect: 200-ok\r\n" END, 200, "/a.txt", B_FILE, false},
};

static void check_select(size_t i, const struct select_case *c)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), c->req, tag_a);
	struct cachet_request req;
	parse_ok(buf, &req);
	struct cachet_reply r;
	memset(&r, 0xa5, sizeof(r));
	cachet_response_select(store, &req, &r, NULL);
	if (r.status != c->status || r.close != c->close)
		print_error("case %zu: status %d close %d\n", i, r.status, r.close);
	assert_int_equal(r.status, c->status);
	assert_int_equal(r.close, c->close);
	const struct cachet_entry *e = c->key ? entry(c->key) : NULL;
	switch (c->status) {
	case 200:
	case 304: /* a file's head is written from its parts */
		assert_null(r.head);
		assert_ptr_equal(r.entry, e);
		assert_ptr_equal(r.rep, &e->repr[CACHET_CODING_IDENTITY]);
		break;
	case 301:
		assert_int_equal(e->kind, CACHET_ENTRY_REDIRECT);
		assert_ptr_equal(r.head, e->redirect);
		break;
	default:
		assert_ptr_equal(r.head, &cachet_store_error(store, c->status)->block);
		break;
	}
	switch (c->body) {
	case B_NONE:
		assert_null(r.body);
		assert_int_equal(r.body_len, 0);
		break;
	case B_FILE:
		assert_ptr_equal(r.body, e->repr[CACHET_CODING_IDENTITY].body);
		assert_int_equal(r.body_len, e->repr[CACHET_CODING_IDENTITY].body_len);
		break;
	case B_ERROR: {
		const struct cachet_error *err = cachet_store_error(store, c->status);
		assert_ptr_equal(r.body, err->body);
		assert_int_equal(r.body_len, err->body_len);
		break;
	}
	}
}

static void test_select(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(select_cases) / sizeof(select_cases[0]); i++)
		check_select(i, &select_cases[i]);
}

/* A normalized path longer than CACHET_PATH_MAX (but a target the parser takes): 414, close. */
static void test_select_long_path(void **state)
{
	(void)state;
	static char buf[CACHET_TARGET_MAX + 256];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET /");
	memset(buf + n, 'a', 5000);
	n += 5000;
	snprintf(buf + n, sizeof(buf) - n, H END);
	struct cachet_request req;
	parse_ok(buf, &req);
	struct cachet_reply r;
	cachet_response_select(store, &req, &r, NULL);
	assert_int_equal(r.status, 414);
	assert_true(r.close);
	assert_ptr_equal(r.head, &cachet_store_error(store, 414)->block);
}

/* The reply points into the store; nothing is copied. */
static void test_select_no_copy(void **state)
{
	(void)state;
	struct cachet_request req;
	parse_ok("GET /a.txt" H END, &req);
	struct cachet_reply r1, r2;
	cachet_response_select(store, &req, &r1, NULL);
	cachet_response_select(store, &req, &r2, NULL);
	assert_ptr_equal(r1.rep, r2.rep);
	assert_ptr_equal(r1.body, r2.body);
	assert_ptr_equal(r1.body, entry("/a.txt")->blob->data);
	assert_memory_equal(r1.body, "alpha text\n", 11);
}

/* ---- cachet_response_write_head ---- */

#define DATE "Tue, 15 Nov 1994 08:12:31 GMT"

#define TAIL_PLAIN "\r\n"
#define TAIL_CLOSE "Connection: close\r\n\r\n"
#define TAIL_KEEP  "Connection: keep-alive\r\n\r\n"

/* What r's head is before the tail the sender adds, dated TEST_HEADS_DATE: a block's text, or a
 * file's head (test_heads.h). Returns its length; *date_off is where its Date value starts. */
static size_t reference_head(const struct cachet_reply *r, char *buf, size_t cap, size_t *date_off)
{
	if (r->head) {
		assert_true(r->head->len < cap);
		memcpy(buf, r->head->text, r->head->len);
		*date_off = r->head->date_off;
		return r->head->len;
	}
	file_head(r->entry, r->rep->coding, r->status, buf, cap);
	const char *d = strstr(buf, "\r\nDate: ");
	assert_non_null(d);
	*date_off = (size_t)(d - buf) + 8;
	return strlen(buf);
}

/* Writes r's head and checks what every head must be; returns its length, and in *ref_len the
 * length of the head before its tail. */
static size_t write_checked(const struct cachet_reply *r, const struct cachet_request *req,
                            bool force_close, char *dst, size_t cap, size_t *ref_len)
{
	char ref[CACHET_BLOCK_MAX + 1];
	size_t date_off, len = reference_head(r, ref, sizeof(ref), &date_off);
	*ref_len = len;
	assert_true(len + CACHET_RESPONSE_TAIL_MAX + 1 <= cap);
	memset(dst, '#', cap);
	size_t n = cachet_response_write_head(r, req, force_close, DATE, dst);
	assert_true(n >= len + 2);
	assert_true(n <= len + CACHET_RESPONSE_TAIL_MAX);
	assert_int_equal(dst[n], '#'); /* nothing written past the returned length */
	/* The head's text with the Date put in. */
	assert_memory_equal(dst, ref, date_off);
	assert_memory_equal(dst + date_off, DATE, CACHET_HTTPDATE_LEN);
	size_t after = date_off + CACHET_HTTPDATE_LEN;
	assert_memory_equal(dst + after, ref + after, len - after);
	/* Ends with the blank line, which appears only there. */
	assert_memory_equal(dst + n - 4, "\r\n\r\n", 4);
	assert_int_equal(text_count(dst, n, "\r\n\r\n"), 1);
	assert_true(text_count(dst, n, "Connection:") <= 1);
	return n;
}

struct head_case {
	const char *req;
	bool force_close;
	const char *tail; /* what follows the block */
};

static const struct head_case head_cases[] = {
    /* 200 */
    {"GET /a.txt" H END, false, TAIL_PLAIN},
    {"GET /a.txt" H "Connection: keep-alive\r\n" END, false, TAIL_PLAIN},
    {"GET /a.txt" H "Connection: close\r\n" END, false, TAIL_CLOSE},
    {"GET /a.txt" H "Connection: Close\r\n" END, false, TAIL_CLOSE},
    {"GET /a.txt" H "Connection: foo, close\r\n" END, false, TAIL_CLOSE},
    {"GET /a.txt" H END, true, TAIL_CLOSE},
    {"GET /a.txt HTTP/1.0\r\n\r\n", false, TAIL_CLOSE},
    {"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, TAIL_KEEP},
    {"GET /a.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", false, TAIL_KEEP},
    {"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, TAIL_CLOSE},
    {"HEAD /a.txt" H END, false, TAIL_PLAIN},
    /* 304, 301, 404, 405, 412, 501: the request decides */
    {"GET /a.txt" H INM "*\r\n" END, false, TAIL_PLAIN},
    {"GET /a.txt" H INM "*\r\nConnection: close\r\n" END, false, TAIL_CLOSE},
    {"GET /a.txt HTTP/1.0\r\n" INM "*\r\nConnection: keep-alive\r\n\r\n", false, TAIL_KEEP},
    {"GET /dir" H END, false, TAIL_PLAIN},
    {"GET /dir HTTP/1.0\r\n\r\n", false, TAIL_CLOSE},
    {"GET /missing" H END, false, TAIL_PLAIN},
    {"GET /missing" H END, true, TAIL_CLOSE},
    {"GET /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, TAIL_KEEP},
    {"DELETE /a.txt" H END, false, TAIL_PLAIN},
    {"GET /a.txt" H IM "\"x\"\r\n" END, false, TAIL_PLAIN},
    {"FOO /a.txt" H END, false, TAIL_PLAIN},
    /* 400: the block says close; nothing more is added, whatever the request */
    {"GET /../x" H END, false, TAIL_PLAIN},
    {"GET /../x" H END, true, TAIL_PLAIN},
    {"GET /../x" H "Connection: close\r\n" END, false, TAIL_PLAIN},
    {"GET /../x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, TAIL_PLAIN},
    {"GET /../x HTTP/1.0\r\n\r\n", false, TAIL_PLAIN},
};

static void test_write_head(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
		const struct head_case *c = &head_cases[i];
		struct cachet_request req;
		parse_ok(c->req, &req);
		struct cachet_reply r;
		cachet_response_select(store, &req, &r, NULL);
		char out[4096];
		size_t len, n = write_checked(&r, &req, c->force_close, out, sizeof(out), &len);
		size_t tl = strlen(c->tail);
		if (n != len + tl || memcmp(out + len, c->tail, tl) != 0)
			print_error("case %zu: got tail '%.*s'\n", i, (int)(n - len), out + len);
		assert_int_equal(n, len + tl);
		assert_memory_equal(out + len, c->tail, tl);
		/* The response says close exactly when the connection is to be closed. */
		bool closing = r.close || c->force_close || !req.keep_alive;
		assert_int_equal(text_count(out, n, "Connection: close\r\n"), closing);
		if (r.close) {
			assert_int_equal(text_count(out, n, "Connection:"), 1);
			assert_memory_equal(out + n - strlen(TAIL_CLOSE), TAIL_CLOSE,
			                    strlen(TAIL_CLOSE));
		}
	}
}

/* The date goes where the block says, for each kind of block, and only there. */
static void test_write_head_date(void **state)
{
	(void)state;
	static const char *const reqs[] = {"GET /a.txt" H END, "GET /a.txt" H INM "*\r\n" END,
	                                   "GET /dir" H END, "GET /nothing" H END,
	                                   "GET /../x" H END};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct cachet_request req;
		parse_ok(reqs[i], &req);
		struct cachet_reply r;
		cachet_response_select(store, &req, &r, NULL);
		char out[4096];
		size_t len, n = write_checked(&r, &req, false, out, sizeof(out), &len);
		assert_int_equal(text_count(out, n, "\r\nDate: " DATE "\r\n"), 1);
		assert_int_equal(text_count(out, n, DATE), 1);
		/* The store's own block is untouched (it is shared, read-only). */
		if (r.head)
			assert_int_equal(text_count(r.head->text, r.head->len, DATE), 0);
	}
}

/* A multipart 206: the block with its Content-Type replaced, the Date in place, the
 * Content-Length of the whole multipart body, within the room every head is given. */
static void test_write_head_multipart(void **state)
{
	(void)state;
	struct cachet_request req;
	parse_ok("GET /a.txt" H "Range: bytes=0-1,3-4\r\nConnection: close\r\n" END, &req);
	struct cachet_multipart mp;
	struct cachet_reply r;
	cachet_response_select(store, &req, &r, &mp);
	assert_int_equal(r.status, 206);
	assert_ptr_equal(r.multipart, &mp);
	char out[4096];
	memset(out, '#', sizeof(out));
	size_t n = cachet_response_write_head(&r, &req, false, DATE, out);
	assert_true(n <= CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX);
	assert_int_equal(out[n], '#');
	assert_memory_equal(out, "HTTP/1.1 206 Partial Content\r\nDate: " DATE "\r\n",
	                    strlen("HTTP/1.1 206 Partial Content\r\nDate: " DATE "\r\n"));
	char want[160];
	snprintf(want, sizeof(want), "\r\nContent-Type: multipart/byteranges; boundary=%s\r\n",
	         mp.boundary);
	assert_int_equal(text_count(out, n, want), 1);
	assert_int_equal(text_count(out, n, "Content-Type:"), 1);
	snprintf(want, sizeof(want), "\r\nContent-Length: %llu\r\n",
	         (unsigned long long)mp.body_len);
	assert_int_equal(text_count(out, n, want), 1);
	assert_int_equal(text_count(out, n, "Content-Length:"), 1);
	assert_int_equal(text_count(out, n, "Content-Range:"), 0);
	assert_int_equal(text_count(out, n, "Connection: close\r\n"), 1);
	assert_int_equal(text_count(out, n, "\r\n\r\n"), 1);
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	/* Everything of the block but its Content-Type is there: ETag, Last-Modified, ... */
	const struct cachet_entry *e = entry("/a.txt");
	assert_int_equal(text_count(out, n, "ETag: "), 1);
	assert_int_equal(text_count(out, n, e->content_type), 0);
	/* The next 200 is a plain one: nothing of the multipart stayed behind. */
	char plain[CACHET_BLOCK_MAX + 1];
	file_head(e, CACHET_CODING_IDENTITY, 200, plain, sizeof(plain));
	assert_int_equal(text_count(plain, strlen(plain), "multipart"), 0);
}

/* The 206 and 416 heads are put together per answer from parts the generation shares (issue
 * 15): they must be byte for byte what the blocks formatted per representation were, written here
 * with the formats store.c used for them, for every representation (Vary, Content-Encoding),
 * with --add-header lines and a Link field in the 200 that the 206 leaves out. */
static void test_partial_and_unsatisfiable_heads(void **state)
{
	(void)state;
	static const char extra[] = "Access-Control-Allow-Origin: *\r\nX-Test: 1\r\n";
	static const enum cachet_coding codings[] = {CACHET_CODING_BR, CACHET_CODING_ZSTD,
	                                             CACHET_CODING_GZIP};
	static const char *const accept[] = {"identity", "gzip", "br", "zstd"};
	char page[4096] = "<html><head><link rel=stylesheet href=/dir/b.css>"
	                  "<script src=/x.js></script></head><body>";
	for (int i = 0; i < 60; i++)
		strcat(page, "<p>compressible words, again and again</p>\n");
	put("big.html", page);
	char big[PATH_MAX]; /* with every variant kept (test_graded.h) */
	snprintf(big, sizeof(big), "%s/big.html", base);
	assert_int_equal(graded_sidecars(big, page, strlen(page)), 0);
	struct cachet_store_options opt = {.generation = 9,
	                                   .codings = codings,
	                                   .n_codings = 3,
	                                   .extra_headers = extra,
	                                   .link_preload = true};
	struct cachet_store *st;
	char err[256];
	int rc = cachet_store_build(base, NULL, &opt, &st, err, sizeof(err));
	if (rc < 0)
		print_error("store build: %s\n", err);
	assert_int_equal(rc, 0);
	const char *paths[] = {"/big.html", "/a.txt"};
	for (size_t pi = 0; pi < 2; pi++) {
		const struct cachet_entry *e =
		    cachet_store_lookup(st, paths[pi], strlen(paths[pi]));
		assert_non_null(e);
		bool vary = e->available != 1u << CACHET_CODING_IDENTITY;
		assert_true(pi == 1 || (vary && e->link && e->available == 0xf));
		char lm[CACHET_HTTPDATE_LEN + 1];
		cachet_httpdate_format(e->last_modified, lm);
		lm[CACHET_HTTPDATE_LEN] = '\0';
		for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
			if (!(e->available & (1u << c)))
				continue;
			const struct cachet_repr *rep = cachet_entry_repr(e, c);
			char enc[48] = "", want[4096], got[4096], req_text[256];
			if (c != CACHET_CODING_IDENTITY)
				snprintf(enc, sizeof(enc), "Content-Encoding: %s\r\n", accept[c]);
			struct cachet_request req;
			struct cachet_reply r;
			struct cachet_multipart mp;
			snprintf(req_text, sizeof(req_text),
			         "GET %s" H "Accept-Encoding: %s\r\nRange: bytes=1-3\r\n" END,
			         paths[pi], accept[c]);
			parse_ok(req_text, &req);
			cachet_response_select(st, &req, &r, &mp);
			assert_int_equal(r.status, 206);
			assert_ptr_equal(r.body, rep->body + 1);
			size_t n = cachet_response_write_head(&r, &req, false, DATE, got);
			assert_true(n <= CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX);
			int w = snprintf(
			    want, sizeof(want),
			    "HTTP/1.1 206 Partial Content\r\nDate: " DATE "\r\n"
			    "Server: cachet\r\nContent-Type: %s\r\nLast-Modified: %s\r\n"
			    "ETag: %.*s\r\nCache-Control: %s\r\n%s%sAccept-Ranges: bytes\r\n"
			    "%sContent-Range: bytes 1-3/%zu\r\nContent-Length: 3\r\n\r\n",
			    e->content_type, lm, (int)rep->etag_len, rep->etag, e->cache_control,
			    vary ? "Vary: Accept-Encoding\r\n" : "", enc, extra, rep->body_len);
			if (n != (size_t)w || memcmp(got, want, n) != 0)
				print_error("206 got:\n%.*s\nwant:\n%s\n", (int)n, got, want);
			assert_int_equal(n, (size_t)w);
			assert_memory_equal(got, want, n);

			snprintf(req_text, sizeof(req_text),
			         "GET %s" H "Accept-Encoding: %s\r\nRange: bytes=9999-\r\n" END,
			         paths[pi], accept[c]);
			parse_ok(req_text, &req);
			cachet_response_select(st, &req, &r, &mp);
			assert_int_equal(r.status, 416);
			assert_null(r.body);
			n = cachet_response_write_head(&r, &req, false, DATE, got);
			assert_true(n <= CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX);
			w = snprintf(want, sizeof(want),
			             "HTTP/1.1 416 Range Not Satisfiable\r\nDate: " DATE "\r\n"
			             "Server: cachet\r\nContent-Range: bytes */%zu\r\n"
			             "Content-Length: 0\r\n%s\r\n",
			             rep->body_len, vary ? "Vary: Accept-Encoding\r\n" : "");
			if (n != (size_t)w || memcmp(got, want, n) != 0)
				print_error("416 got:\n%.*s\nwant:\n%s\n", (int)n, got, want);
			assert_int_equal(n, (size_t)w);
			assert_memory_equal(got, want, n);
		}
	}
	cachet_store_unref(st);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/big.html", base);
	unlink(p);
}

/* ---- cachet_response_error ---- */

static const int error_statuses[] = {CACHET_ERROR_STATUSES};

static void check_error_reply(int status, bool head_only, int want_status)
{
	struct cachet_reply r;
	memset(&r, 0xa5, sizeof(r));
	cachet_response_error(store, status, head_only, &r);
	const struct cachet_error *e = cachet_store_error(store, want_status);
	assert_int_equal(r.status, want_status);
	assert_ptr_equal(r.head, &e->block);
	if (head_only) {
		assert_null(r.body);
		assert_int_equal(r.body_len, 0);
	} else {
		assert_ptr_equal(r.body, e->body);
		assert_int_equal(r.body_len, e->body_len);
	}
	/* r.close and the block's own "Connection: close" go together: write_head relies on it. */
	bool block_closes =
	    text_count(e->block.text, e->block.len, "\r\nConnection: close\r\n") == 1;
	if (r.close != block_closes)
		print_error("status %d: close %d, block says close %d\n", status, r.close,
		            block_closes);
	assert_int_equal(r.close, block_closes);
}

static void test_error_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_statuses) / sizeof(error_statuses[0]); i++) {
		check_error_reply(error_statuses[i], false, error_statuses[i]);
		check_error_reply(error_statuses[i], true, error_statuses[i]);
	}
}

/* A status without a block of its own gets the 500, which closes the connection. */
static void test_error_reply_unknown_status(void **state)
{
	(void)state;
	static const int others[] = {413, 999};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		check_error_reply(others[i], false, 500);
		struct cachet_request req;
		parse_ok("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req);
		struct cachet_reply r;
		cachet_response_error(store, others[i], false, &r);
		char out[4096];
		size_t len, n = write_checked(&r, &req, false, out, sizeof(out), &len);
		assert_int_equal(text_count(out, n, "Connection:"), 1);
	}
}

/* A parser refusal: the worker sends the error with r.close forced on and closes; the head must
 * then say "Connection: close" exactly once, whatever the status. */
static void test_parse_error_heads_say_close(void **state)
{
	(void)state;
	static const struct {
		const char *raw;
		int status;
	} cases[] = {
	    {"GET /a.txt HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", 400},
	    {"GET /a.txt HTTP/2.0\r\nHost: h\r\n\r\n", 505},
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ /a.txt HTTP/1.1\r\nHost: h\r\n\r\n", 501},
	    {"GET /a.txt HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	    {"GET /a.txt HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	};
	unsigned bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cachet_request req;
		int status = 0;
		int rc =
		    cachet_http_parse_request(cases[i].raw, strlen(cases[i].raw), 0, &req, &status);
		assert_int_equal(rc, CACHET_PARSE_ERROR);
		assert_int_equal(status, cases[i].status);
		/* As worker.c answer() does. */
		req.keep_alive = false;
		req.minor_version = 1;
		struct cachet_reply r;
		cachet_response_error(store, status, false, &r);
		r.close = true;
		char out[4096];
		size_t len, n = write_checked(&r, &req, false, out, sizeof(out), &len);
		if (text_count(out, n, "Connection: close\r\n") != 1) {
			print_error("status %d: head without Connection: close:\n%.*s", status,
			            (int)n, out);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- --fallback and --error-page ---- */

/* head: the block the answer must be, or the representation a file's answer must be of. */
static void expect_reply(const struct cachet_store *st, const char *req_text, int status,
                         const void *head, const void *body, size_t body_len)
{
	struct cachet_request req;
	struct cachet_reply r;
	parse_ok(req_text, &req);
	cachet_response_select(st, &req, &r, NULL);
	if (r.status != status)
		fail_msg("%s: status %d, want %d", req_text, r.status, status);
	if (head)
		assert_ptr_equal(r.head ? (const void *)r.head : (const void *)r.rep, head);
	assert_int_equal(r.body_len, body_len);
	if (body_len)
		assert_memory_equal(r.body, body, body_len);
}

static void test_fallback_and_error_page(void **state)
{
	(void)state;
	struct cachet_store_options opt = {
	    .generation = 8, .fallback = "/index.html", .error_page = "/404.html"};
	struct cachet_store *st;
	char err[256], buf[512];
	assert_int_equal(cachet_store_build(base, NULL, &opt, &st, err, sizeof(err)), 0);
	const struct cachet_entry *idx = cachet_store_lookup(st, "/index.html", 11);
	const struct cachet_repr *rep = &idx->repr[CACHET_CODING_IDENTITY];
	const struct cachet_error *nf = cachet_store_error(st, 404);
	static const char page[] = "<h1>not here</h1>\n";
	assert_ptr_equal(st->fallback, idx);
	/* client-side routes: the fallback's own 200, 304 */
	expect_reply(st, "GET /dashboard/settings" H END, 200, rep, rep->body, rep->body_len);
	expect_reply(st, "GET /app/" H END, 200, rep, rep->body, rep->body_len);
	expect_reply(st, "GET /noindex/" H END, 200, rep, rep->body, rep->body_len);
	expect_reply(st, "GET /route?x=1.js" H END, 200, rep, rep->body, rep->body_len);
	expect_reply(st, "HEAD /dashboard" H END, 200, rep, NULL, 0);
	snprintf(buf, sizeof(buf), "GET /dashboard" H INM "%.*s\r\n" END, (int)rep->etag_len,
	         rep->etag);
	expect_reply(st, buf, 304, rep, NULL, 0);
	/* what stays as it was: files, redirects, extensions, dot paths, methods, traversal */
	expect_reply(st, "GET /dir" H END, 301, cachet_store_lookup(st, "/dir", 4)->redirect, NULL,
	             0);
	expect_reply(st, "GET /a.txt" H END, 200, NULL, "alpha text\n", 11);
	expect_reply(st, "GET /assets/app.0ld1234.js" H END, 404, &nf->block, page,
	             sizeof(page) - 1);
	expect_reply(st, "GET /missing.txt" H END, 404, &nf->block, page, sizeof(page) - 1);
	expect_reply(st, "HEAD /missing.txt" H END, 404, &nf->block, NULL, 0);
	expect_reply(st, "GET /.git/config" H END, 404, &nf->block, page, sizeof(page) - 1);
	expect_reply(st, "GET /a/.hidden/x" H END, 404, &nf->block, page, sizeof(page) - 1);
	expect_reply(st, "POST /dashboard" H CL0 END, 405, NULL, "405 Method Not Allowed\n", 23);
	expect_reply(st, "GET /../x" H END, 400, NULL, "400 Bad Request\n", 16);
	/* the 404 page: its type and length, no Cache-Control */
	assert_non_null(strstr(nf->block.text, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(nf->block.text, "Content-Type: text/html; charset=utf-8\r\n"));
	assert_non_null(strstr(nf->block.text, "Content-Length: 18\r\n"));
	assert_null(strstr(nf->block.text, "Cache-Control"));
	cachet_store_unref(st);
	/* without the options: a plain 404 */
	expect_reply(store, "GET /dashboard" H END, 404, NULL, "404 Not Found\n", 14);
}

static void test_missing_fallback_fails_build(void **state)
{
	(void)state;
	struct cachet_store *st = NULL;
	char err[256];
	struct cachet_store_options opt = {.generation = 9, .fallback = "/nope.html"};
	assert_int_equal(cachet_store_build(base, NULL, &opt, &st, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--fallback /nope.html: no such file"));
	opt = (struct cachet_store_options){.generation = 9, .error_page = "/dir"};
	assert_int_equal(cachet_store_build(base, NULL, &opt, &st, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--error-page 404= /dir"));
	opt = (struct cachet_store_options){.generation = 9, .fallback = "/dir/"};
	assert_int_equal(cachet_store_build(base, NULL, &opt, &st, err, sizeof(err)), 0);
	assert_ptr_equal(st->fallback, cachet_store_lookup(st, "/dir/index.html", 15));
	cachet_store_unref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_select),
	    cmocka_unit_test(test_select_long_path),
	    cmocka_unit_test(test_select_no_copy),
	    cmocka_unit_test(test_write_head),
	    cmocka_unit_test(test_write_head_date),
	    cmocka_unit_test(test_write_head_multipart),
	    cmocka_unit_test(test_partial_and_unsatisfiable_heads),
	    cmocka_unit_test(test_error_replies),
	    cmocka_unit_test(test_error_reply_unknown_status),
	    cmocka_unit_test(test_parse_error_heads_say_close),
	    cmocka_unit_test(test_fallback_and_error_page),
	    cmocka_unit_test(test_missing_fallback_fails_build),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
