/* test_h2.c - the HTTP/2 connection logic driven with raw frames, no ring: answers, flow-control
 * accounting, stream states, and each bound against hostile peers. Client header blocks are
 * made with libnghttp2's deflater; the server's are decoded with its inflater. */
#define _GNU_SOURCE
#include <errno.h>
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
#include <nghttp2/nghttp2.h>

#include "cachet/h2.h"
#include "cachet/h2_frame.h"
#include "cachet/store.h"

#define BIG_LEN 100000

/* ---- fixture: a store, an env whose pins are counted, a client ---- */

struct fix {
	char root[64];
	struct cachet_store *st;
	struct cachet_h2_env env;
	int pins;
	int bufs; /* output buffers the connection holds */
	struct cachet_h2 *h;
	nghttp2_hd_deflater *def;
	nghttp2_hd_inflater *inf;
	uint8_t out[1 << 20]; /* everything the server sent, not yet read by the test */
	size_t out_len, out_off;
	char etag[80];
};

static void pin(void *w, struct cachet_store *gen)
{
	struct fix *f = w;
	assert_ptr_equal(gen, f->st);
	f->pins++;
}

static void unpin(void *w, struct cachet_store *gen)
{
	struct fix *f = w;
	assert_ptr_equal(gen, f->st);
	assert_true(f->pins > 0);
	f->pins--;
}

static char *buf_get(void *w)
{
	((struct fix *)w)->bufs++;
	return malloc(32768);
}

static void buf_put(void *w, char *buf)
{
	((struct fix *)w)->bufs--;
	free(buf);
}

static void put_file(const char *dir, const char *name, const char *body, size_t n)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fwrite(body, 1, n, fp);
	fclose(fp);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/cachet_test_h2.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	put_file(f->root, "index.html", "hello", 5);
	char *big = malloc(BIG_LEN);
	for (size_t i = 0; i < BIG_LEN; i++)
		big[i] = (char)('a' + i % 26);
	put_file(f->root, "big.bin", big, BIG_LEN);
	free(big);
	struct cachet_store_options opt = {.generation = 1};
	char err[256];
	assert_int_equal(cachet_store_build(f->root, NULL, &opt, &f->st, err, sizeof(err)), 0);
	const struct cachet_entry *e = cachet_store_lookup(f->st, "/index.html", 11);
	assert_non_null(e);
	memcpy(f->etag, e->repr[0].etag, e->repr[0].etag_len);
	f->env = (struct cachet_h2_env){.worker = f,
	                                .gen = f->st,
	                                .date = "Sun, 06 Nov 1994 08:49:37 GMT",
	                                .now_ms = 1000,
	                                .pin = pin,
	                                .unpin = unpin,
	                                .buf_get = buf_get,
	                                .buf_put = buf_put,
	                                .buf_size = 32768};
	f->h = cachet_h2_new(&f->env);
	assert_non_null(f->h);
	assert_int_equal(nghttp2_hd_deflate_new(&f->def, 4096), 0);
	assert_int_equal(nghttp2_hd_inflate_new(&f->inf), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	cachet_h2_free(f->h);
	assert_int_equal(f->pins, 0); /* every pin released */
	assert_int_equal(f->bufs, 0); /* and every buffer */
	cachet_store_unref(f->st);
	nghttp2_hd_deflate_del(f->def);
	nghttp2_hd_inflate_del(f->inf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Collects the server's output as the worker would send it, all of it at once. */
static void drain(struct fix *f)
{
	while (cachet_h2_has_output(f->h)) {
		unsigned n;
		const struct iovec *iov = cachet_h2_iov(f->h, &n);
		size_t total = 0;
		for (unsigned i = 0; i < n; i++) {
			assert_true(f->out_len + iov[i].iov_len <= sizeof(f->out));
			memcpy(f->out + f->out_len, iov[i].iov_base, iov[i].iov_len);
			f->out_len += iov[i].iov_len;
			total += iov[i].iov_len;
		}
		cachet_h2_sent(f->h, total);
	}
}

/* Feeds bytes; what the output had no room for is offered again after draining. */
static void feed(struct fix *f, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (int rounds = 0; len && rounds < 10000; rounds++) {
		size_t used = cachet_h2_input(f->h, b, len);
		b += used;
		len -= used;
		drain(f);
	}
	assert_int_equal(len, 0);
}

static void send_frame(struct fix *f, uint8_t type, uint8_t flags, uint32_t stream,
                       const void *payload, uint32_t len)
{
	uint8_t buf[CACHET_H2_HEADER_LEN + 70000];
	assert_true(len <= 70000);
	cachet_h2_frame_header(buf, len, type, flags, stream);
	if (len)
		memcpy(buf + CACHET_H2_HEADER_LEN, payload, len);
	feed(f, buf, CACHET_H2_HEADER_LEN + len);
}

static void start(struct fix *f)
{
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, NULL, 0);
}

static size_t encode(struct fix *f, const nghttp2_nv *nv, size_t n, uint8_t *dst, size_t cap)
{
	ssize_t k = nghttp2_hd_deflate_hd(f->def, dst, cap, (nghttp2_nv *)nv, n);
	assert_true(k > 0);
	return (size_t)k;
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE \
	}

static void request(struct fix *f, uint32_t id, const char *method, const char *path,
                    const nghttp2_nv *extra, size_t n_extra, uint8_t flags)
{
	nghttp2_nv nv[16] = {
	    {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
	    NV(":scheme", "http"),
	    {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
	    NV(":authority", "localhost"),
	};
	if (n_extra) /* extra may be NULL: memcpy's arguments must not be, even for 0 bytes */
		memcpy(nv + 4, extra, n_extra * sizeof(*nv));
	uint8_t blk[4096];
	size_t k = encode(f, nv, 4 + n_extra, blk, sizeof(blk));
	send_frame(f, CACHET_H2_HEADERS, flags | CACHET_H2_END_HEADERS, id, blk, (uint32_t)k);
}

static void get(struct fix *f, uint32_t id, const char *path)
{
	request(f, id, "GET", path, NULL, 0, CACHET_H2_END_STREAM);
}

/* ---- reading the server's frames ---- */

struct seen {
	struct cachet_h2_frame f;
	uint8_t payload[20000];
	char status[4];
};

/* The next frame the server sent; false when there is none. HEADERS are decoded for :status. */
static bool next(struct fix *f, struct seen *s)
{
	int n = cachet_h2_frame_next(f->out + f->out_off, f->out_len - f->out_off, 1u << 24, &s->f);
	if (n <= 0)
		return false;
	assert_true(s->f.len <= sizeof(s->payload));
	memcpy(s->payload, s->f.payload, s->f.len);
	s->f.payload = s->payload;
	f->out_off += (size_t)n;
	s->status[0] = '\0';
	if (s->f.type == CACHET_H2_HEADERS) {
		const uint8_t *in = s->payload;
		size_t len = s->f.len;
		for (;;) {
			nghttp2_nv nv;
			int fl = 0;
			ssize_t rv = nghttp2_hd_inflate_hd2(f->inf, &nv, &fl, in, len, 1);
			assert_true(rv >= 0);
			in += rv;
			len -= (size_t)rv;
			if ((fl & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 7 &&
			    memcmp(nv.name, ":status", 7) == 0)
				memcpy(s->status, nv.value, 3), s->status[3] = '\0';
			if (fl & NGHTTP2_HD_INFLATE_FINAL) {
				nghttp2_hd_inflate_end_headers(f->inf);
				break;
			}
		}
	}
	return true;
}

/* Skips frames until one of type (on stream, unless 0); fails if none. */
static void expect(struct fix *f, uint8_t type, uint32_t stream, struct seen *s)
{
	while (next(f, s))
		if (s->f.type == type && (stream == 0 || s->f.stream == stream))
			return;
	fail_msg("no frame of type %u on stream %u", type, stream);
}

static uint32_t goaway_code(struct fix *f)
{
	struct seen s;
	expect(f, CACHET_H2_GOAWAY, 0, &s);
	return cachet_h2_u32(s.payload + 4);
}

static uint32_t rst_code(struct fix *f, uint32_t stream)
{
	struct seen s;
	expect(f, CACHET_H2_RST_STREAM, stream, &s);
	return cachet_h2_u32(s.payload);
}

/* ---- tests ---- */

static void test_handshake(void **state)
{
	struct fix *f = *state;
	start(f);
	struct seen s;
	assert_true(next(f, &s));
	assert_int_equal(s.f.type, CACHET_H2_SETTINGS); /* ours first */
	assert_int_equal(s.f.flags, 0);
	assert_true(next(f, &s));
	assert_int_equal(s.f.type, CACHET_H2_SETTINGS);
	assert_int_equal(s.f.flags, CACHET_H2_ACK);
	uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	send_frame(f, CACHET_H2_PING, 0, 0, ping, 8);
	expect(f, CACHET_H2_PING, 0, &s);
	assert_int_equal(s.f.flags, CACHET_H2_ACK);
	assert_memory_equal(s.payload, ping, 8);
	assert_false(cachet_h2_closing(f->h));
}

static void test_get_small(void **state)
{
	struct fix *f = *state;
	start(f);
	get(f, 1, "/index.html");
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 1, &s);
	assert_string_equal(s.status, "200");
	assert_int_equal(s.f.flags & CACHET_H2_END_STREAM, 0);
	assert_true(next(f, &s)); /* HEADERS then one DATA, adjacent */
	assert_int_equal(s.f.type, CACHET_H2_DATA);
	assert_int_equal(s.f.flags, CACHET_H2_END_STREAM);
	assert_int_equal(s.f.len, 5);
	assert_memory_equal(s.payload, "hello", 5);
	assert_int_equal(cachet_h2_streams(f->h), 0);
	assert_int_equal(f->bufs, 0); /* all sent: the output buffer went back */
}

static void test_304_and_head(void **state)
{
	struct fix *f = *state;
	start(f);
	nghttp2_nv inm = {(uint8_t *)"if-none-match", (uint8_t *)f->etag, 13, strlen(f->etag), 0};
	request(f, 1, "GET", "/index.html", &inm, 1, CACHET_H2_END_STREAM);
	request(f, 3, "HEAD", "/index.html", NULL, 0, CACHET_H2_END_STREAM);
	get(f, 5, "/nope");
	request(f, 7, "POST", "/index.html", NULL, 0, CACHET_H2_END_STREAM);
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 1, &s);
	assert_string_equal(s.status, "304");
	assert_int_equal(s.f.flags, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM);
	expect(f, CACHET_H2_HEADERS, 3, &s);
	assert_string_equal(s.status, "200");
	assert_int_equal(s.f.flags, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM);
	expect(f, CACHET_H2_HEADERS, 5, &s);
	assert_string_equal(s.status, "404");
	expect(f, CACHET_H2_HEADERS, 7, &s);
	assert_string_equal(s.status, "405");
}

static void test_range(void **state)
{
	struct fix *f = *state;
	start(f);
	nghttp2_nv r = NV("range", "bytes=1-3");
	request(f, 1, "GET", "/index.html", &r, 1, CACHET_H2_END_STREAM);
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 1, &s);
	assert_string_equal(s.status, "206");
	expect(f, CACHET_H2_DATA, 1, &s);
	assert_int_equal(s.f.len, 3);
	assert_memory_equal(s.payload, "ell", 3);
	nghttp2_nv r2 = NV("range", "bytes=0-0,2-2");
	request(f, 3, "GET", "/index.html", &r2, 1, CACHET_H2_END_STREAM);
	expect(f, CACHET_H2_HEADERS, 3, &s);
	assert_string_equal(s.status, "206");
	size_t body = 0;
	bool end = false;
	while (!end) {
		expect(f, CACHET_H2_DATA, 3, &s);
		body += s.f.len;
		end = s.f.flags & CACHET_H2_END_STREAM;
	}
	assert_true(body > 2);
	assert_int_equal(cachet_h2_streams(f->h), 0);
}

/* A 1 KiB initial window: the body waits for WINDOW_UPDATEs and never spins meanwhile. */
static void test_flow_control(void **state)
{
	struct fix *f = *state;
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	uint8_t set[6] = {0, 4, 0, 0, 4, 0}; /* INITIAL_WINDOW_SIZE 1024 */
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, set, 6);
	get(f, 1, "/big.bin");
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 1, &s);
	expect(f, CACHET_H2_DATA, 1, &s);
	assert_int_equal(s.f.len, 1024);
	assert_false(next(f, &s));
	assert_true(cachet_h2_stalled(f->h));
	assert_true(f->pins > 0); /* the body's generation stays pinned while it waits */
	size_t got = 1024;
	uint8_t inc[4];
	cachet_h2_put32(inc, 200000);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 1, inc, 4);
	/* the connection window (65535) now limits */
	while (next(f, &s))
		got += s.f.type == CACHET_H2_DATA ? s.f.len : 0;
	assert_int_equal(got, 65535);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 0, inc, 4);
	bool end = false;
	while (next(f, &s)) {
		assert_true(s.f.len <= 16384); /* peer's MAX_FRAME_SIZE */
		got += s.f.len;
		end = s.f.flags & CACHET_H2_END_STREAM;
	}
	assert_int_equal(got, BIG_LEN);
	assert_true(end);
	assert_false(cachet_h2_stalled(f->h));
	assert_int_equal(f->pins, 0);
}

/* SETTINGS_INITIAL_WINDOW_SIZE changes move open streams' windows by the difference, below zero
 * included (§6.9.2): the stream then waits until WINDOW_UPDATEs bring it above zero again. */
static void test_initial_window_change(void **state)
{
	struct fix *f = *state;
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	uint8_t set[6] = {0, 4, 0, 0, 0x03, 0xe8}; /* INITIAL_WINDOW_SIZE 1000 */
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, set, 6);
	get(f, 1, "/big.bin");
	struct seen s;
	size_t got = 0;
	while (next(f, &s))
		got += s.f.type == CACHET_H2_DATA ? s.f.len : 0;
	assert_int_equal(got, 1000);
	uint8_t zero[6] = {0, 4, 0, 0, 0, 0}; /* window now 0 - 1000 = -1000 */
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, zero, 6);
	uint8_t inc[4];
	cachet_h2_put32(inc, 1500);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 1, inc, 4);
	got = 0;
	while (next(f, &s))
		got += s.f.type == CACHET_H2_DATA ? s.f.len : 0;
	assert_int_equal(got, 500);
	uint8_t more[6] = {0, 4, 0, 0, 0x01, 0x00}; /* +256 */
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, more, 6);
	got = 0;
	while (next(f, &s))
		got += s.f.type == CACHET_H2_DATA ? s.f.len : 0;
	assert_int_equal(got, 256);
	assert_true(cachet_h2_stalled(f->h));
}

static void test_window_overflow(void **state)
{
	struct fix *f = *state;
	start(f);
	uint8_t inc[4];
	cachet_h2_put32(inc, 0x7fffffff);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 0, inc, 4);
	assert_int_equal(goaway_code(f), CACHET_H2_FLOW_CONTROL_ERROR);
	assert_true(cachet_h2_closing(f->h));
}

static void test_stalled_expire(void **state)
{
	struct fix *f = *state;
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	uint8_t set[6] = {0, 4, 0, 0, 0, 0}; /* INITIAL_WINDOW_SIZE 0 */
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, set, 6);
	get(f, 1, "/big.bin");
	assert_true(cachet_h2_stalled(f->h));
	f->env.now_ms += 500;
	cachet_h2_expire_stalled(f->h, 1000);
	assert_int_equal(cachet_h2_streams(f->h), 1);
	f->env.now_ms += 600;
	cachet_h2_expire_stalled(f->h, 1000);
	drain(f);
	assert_int_equal(rst_code(f, 1), CACHET_H2_CANCEL);
	assert_int_equal(cachet_h2_streams(f->h), 0);
	assert_int_equal(f->pins, 0);
}

static void test_post_body_credited(void **state)
{
	struct fix *f = *state;
	start(f);
	nghttp2_nv cl = NV("content-length", "100000");
	request(f, 1, "POST", "/index.html", &cl, 1, 0);
	static uint8_t chunk[16384];
	size_t sent = 0;
	while (sent < 100000) {
		uint32_t n =
		    100000 - sent > sizeof(chunk) ? sizeof(chunk) : (uint32_t)(100000 - sent);
		sent += n;
		send_frame(f, CACHET_H2_DATA, sent == 100000 ? CACHET_H2_END_STREAM : 0, 1, chunk,
		           n);
	}
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 1, &s);
	assert_string_equal(s.status, "405");
	assert_false(cachet_h2_closing(f->h)); /* more than 64 KiB went: it was credited */
	get(f, 3, "/index.html");
	expect(f, CACHET_H2_HEADERS, 3, &s);
	assert_int_equal(cachet_h2_streams(f->h), 0);
}

static void test_content_length_mismatch(void **state)
{
	struct fix *f = *state;
	start(f);
	nghttp2_nv cl = NV("content-length", "10");
	request(f, 1, "POST", "/", &cl, 1, 0);
	send_frame(f, CACHET_H2_DATA, CACHET_H2_END_STREAM, 1, "abc", 3);
	assert_int_equal(rst_code(f, 1), CACHET_H2_PROTOCOL_ERROR);
}

static void test_malformed_requests(void **state)
{
	struct fix *f = *state;
	start(f);
	nghttp2_nv upper = NV("X-Upper", "1");
	request(f, 1, "GET", "/", &upper, 1, CACHET_H2_END_STREAM);
	assert_int_equal(rst_code(f, 1), CACHET_H2_PROTOCOL_ERROR);
	nghttp2_nv conn = NV("connection", "keep-alive");
	request(f, 3, "GET", "/", &conn, 1, CACHET_H2_END_STREAM);
	assert_int_equal(rst_code(f, 3), CACHET_H2_PROTOCOL_ERROR);
	nghttp2_nv te = NV("te", "gzip");
	request(f, 5, "GET", "/", &te, 1, CACHET_H2_END_STREAM);
	assert_int_equal(rst_code(f, 5), CACHET_H2_PROTOCOL_ERROR);
	nghttp2_nv late = NV(":method", "GET"); /* a pseudo-header twice */
	request(f, 7, "GET", "/", &late, 1, CACHET_H2_END_STREAM);
	assert_int_equal(rst_code(f, 7), CACHET_H2_PROTOCOL_ERROR);
	nghttp2_nv unknown = NV(":foo", "x");
	request(f, 9, "GET", "/", &unknown, 1, CACHET_H2_END_STREAM);
	assert_int_equal(rst_code(f, 9), CACHET_H2_PROTOCOL_ERROR);
	request(f, 11, "GET", "", NULL, 0, CACHET_H2_END_STREAM); /* empty :path */
	assert_int_equal(rst_code(f, 11), CACHET_H2_PROTOCOL_ERROR);
	/* the connection stays usable */
	get(f, 13, "/index.html");
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 13, &s);
	assert_string_equal(s.status, "200");
	assert_false(cachet_h2_closing(f->h));
}

/* A repeated table-neutral header block (indexed fields, literals without indexing) reuses the
 * last decode (no HPACK work), and only while no other block could have changed the dynamic
 * table in between. */
static void test_repeated_block(void **state)
{
	struct fix *f = *state;
	start(f);
	struct seen s;
	/* :authority "a" enters the dynamic table at index 62 */
	const uint8_t b1[] = {0x82, 0x86, 0x85, 0x41, 0x01, 'a'};
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, 1, b1,
	           sizeof(b1));
	expect(f, CACHET_H2_HEADERS, 1, &s);
	assert_string_equal(s.status, "200");
	const uint8_t again[] = {0x82, 0x86, 0x85, 0xbe}; /* GET http /index.html, :authority a */
	for (uint32_t id = 3; id <= 7; id += 2) {
		send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, id,
		           again, sizeof(again));
		expect(f, CACHET_H2_HEADERS, id, &s);
		assert_string_equal(s.status, "200");
	}
	/* with a literal without indexing (as h2load sends If-None-Match): same bytes, same 304;
	 * another value of the same length decodes anew */
	uint8_t inm[64] = {0x82, 0x86, 0x85, 0xbe, 0x0f, 0x1a};
	size_t el = strlen(f->etag), n = 7 + el;
	inm[6] = (uint8_t)el;
	memcpy(inm + 7, f->etag, el);
	for (uint32_t id = 21; id <= 23; id += 2) {
		send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, id,
		           inm, (uint32_t)n);
		expect(f, CACHET_H2_HEADERS, id, &s);
		assert_string_equal(s.status, "304");
	}
	inm[8] ^= 1; /* a different ETag */
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, 25, inm,
	           (uint32_t)n);
	expect(f, CACHET_H2_HEADERS, 25, &s);
	assert_string_equal(s.status, "200");
	/* :path /nope enters at 62 (:authority moves to 63) */
	const uint8_t b3[] = {0x82, 0x86, 0x44, 0x05, '/', 'n', 'o', 'p', 'e', 0xbf};
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, 29, b3,
	           sizeof(b3));
	expect(f, CACHET_H2_HEADERS, 29, &s);
	assert_string_equal(s.status, "404");
	/* the same bytes as before now name :path twice: decoded again, so malformed */
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, 31, again,
	           sizeof(again));
	assert_int_equal(rst_code(f, 31), CACHET_H2_PROTOCOL_ERROR);
}

/* A repeated block is answered from the answer kept for it only within the generation that answer
 * came from: after a reload the same bytes get the new content. */
static void test_repeated_block_new_generation(void **state)
{
	struct fix *f = *state;
	start(f);
	struct seen s;
	const uint8_t b1[] = {0x82, 0x86, 0x85, 0x41, 0x01, 'a'};
	const uint8_t again[] = {0x82, 0x86, 0x85, 0xbe};
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, 1, b1,
	           sizeof(b1));
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, 3, again,
	           sizeof(again));
	expect(f, CACHET_H2_DATA, 3, &s);
	assert_int_equal(s.f.len, 5);
	assert_memory_equal(s.payload, "hello", 5);
	assert_int_equal(f->pins, 0);
	put_file(f->root, "index.html", "howdy!", 6);
	struct cachet_store_options opt = {.generation = 2};
	struct cachet_store *st2;
	char err[256];
	assert_int_equal(cachet_store_build(f->root, NULL, &opt, &st2, err, sizeof(err)), 0);
	cachet_store_unref(f->st);
	f->st = st2;
	f->env.gen = st2;
	for (uint32_t id = 5; id <= 7; id += 2) {
		send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_HEADERS | CACHET_H2_END_STREAM, id,
		           again, sizeof(again));
		expect(f, CACHET_H2_DATA, id, &s);
		assert_int_equal(s.f.len, 6);
		assert_memory_equal(s.payload, "howdy!", 6);
	}
}

static void test_max_streams(void **state)
{
	struct fix *f = *state;
	start(f);
	uint32_t id = 1;
	for (unsigned i = 0; i < CACHET_H2_MAX_STREAMS; i++, id += 2)
		request(f, id, "GET", "/index.html", NULL, 0, 0); /* left open by the peer */
	assert_int_equal(cachet_h2_streams(f->h), CACHET_H2_MAX_STREAMS);
	request(f, id, "GET", "/index.html", NULL, 0, 0);
	assert_int_equal(rst_code(f, id), CACHET_H2_REFUSED_STREAM);
	/* the HPACK state stayed in step: a later request still decodes */
	send_frame(f, CACHET_H2_RST_STREAM, 0, 1, "\0\0\0\x8", 4);
	get(f, id + 2, "/index.html");
	struct seen s;
	expect(f, CACHET_H2_HEADERS, id + 2, &s);
	assert_string_equal(s.status, "200");
}

static void test_header_list_cap(void **state)
{
	struct fix *f = *state;
	start(f);
	static char big[8000];
	memset(big, 'x', sizeof(big));
	nghttp2_nv nv[3];
	for (int i = 0; i < 3; i++)
		nv[i] = (nghttp2_nv){(uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big),
		                     NGHTTP2_NV_FLAG_NO_INDEX};
	static uint8_t blk[32768];
	nghttp2_nv all[7] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
	                     NV(":authority", "a")};
	memcpy(all + 4, nv, sizeof(nv));
	size_t k = encode(f, all, 7, blk, sizeof(blk));
	/* in a HEADERS and two CONTINUATIONs */
	size_t a = k / 3, b2 = 2 * k / 3;
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_STREAM, 1, blk, (uint32_t)a);
	send_frame(f, CACHET_H2_CONTINUATION, 0, 1, blk + a, (uint32_t)(b2 - a));
	send_frame(f, CACHET_H2_CONTINUATION, CACHET_H2_END_HEADERS, 1, blk + b2,
	           (uint32_t)(k - b2));
	struct seen s;
	expect(f, CACHET_H2_HEADERS, 1, &s);
	assert_string_equal(s.status, "431");
	assert_false(cachet_h2_closing(f->h));
}

/* CVE-2024-27316: CONTINUATION frames without END_HEADERS cannot accumulate without bound. */
static void test_continuation_flood(void **state)
{
	struct fix *f = *state;
	start(f);
	uint8_t blk[256];
	nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/")};
	size_t k = encode(f, nv, 3, blk, sizeof(blk));
	send_frame(f, CACHET_H2_HEADERS, CACHET_H2_END_STREAM, 1, blk, (uint32_t)k);
	static uint8_t junk[16000]; /* literal-free padding: indexed :method GET, over and over */
	memset(junk, 0x82, sizeof(junk));
	for (int i = 0; i < 10 && !cachet_h2_closing(f->h); i++)
		send_frame(f, CACHET_H2_CONTINUATION, 0, 1, junk, sizeof(junk));
	assert_true(cachet_h2_closing(f->h));
	assert_int_equal(goaway_code(f), CACHET_H2_ENHANCE_YOUR_CALM);
}

/* CVE-2023-44487: streams opened and reset at once are cheap, and a peer that keeps at it gets
 * GOAWAY ENHANCE_YOUR_CALM. */
static void test_rapid_reset(void **state)
{
	struct fix *f = *state;
	start(f);
	uint32_t id = 1;
	for (int i = 0; i < 5000 && !cachet_h2_closing(f->h); i++, id += 2) {
		request(f, id, "GET", "/big.bin", NULL, 0, CACHET_H2_END_STREAM);
		send_frame(f, CACHET_H2_RST_STREAM, 0, id, "\0\0\0\x8", 4);
	}
	assert_true(cachet_h2_closing(f->h));
	assert_true(id < 2 * 1200);
	assert_int_equal(goaway_code(f), CACHET_H2_ENHANCE_YOUR_CALM);
}

static void test_ping_flood(void **state)
{
	struct fix *f = *state;
	start(f);
	uint8_t ping[8] = {0};
	for (int i = 0; i < 5000 && !cachet_h2_closing(f->h); i++)
		send_frame(f, CACHET_H2_PING, 0, 0, ping, 8);
	assert_true(cachet_h2_closing(f->h));
	assert_int_equal(goaway_code(f), CACHET_H2_ENHANCE_YOUR_CALM);
	/* in a new second, the count starts again */
}

/* Without the test draining, pings (under the flood rate) cannot grow the output past its
 * buffer: input stops being consumed instead. */
static void test_output_bounded(void **state)
{
	struct fix *f = *state;
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	static uint8_t pings[900 * 17];
	for (int i = 0; i < 900; i++)
		cachet_h2_frame_header(pings + i * 17, 8, CACHET_H2_PING, 0, 0);
	uint8_t set[9];
	cachet_h2_frame_header(set, 0, CACHET_H2_SETTINGS, 0, 0);
	assert_int_equal(cachet_h2_input(f->h, set, 9), 9);
	size_t used = 0;
	for (int i = 0; i < 10; i++) {
		f->env.now_ms += 1000; /* a new second each time: under the flood bound */
		used += cachet_h2_input(f->h, pings, sizeof(pings));
	}
	assert_false(cachet_h2_closing(f->h));
	assert_true(used < 10 * sizeof(pings));
	unsigned n;
	const struct iovec *iov = cachet_h2_iov(f->h, &n);
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	assert_true(total <= 32768);
}

static void test_bad_preface_and_frames(void **state)
{
	struct fix *f = *state;
	feed(f, "GET / HTTP/1.1\r\n\r\nxxxxxx", 24);
	assert_true(cachet_h2_closing(f->h));
	assert_int_equal(goaway_code(f), CACHET_H2_PROTOCOL_ERROR);
}

static void test_oversized_frame(void **state)
{
	struct fix *f = *state;
	start(f);
	uint8_t hdr[9];
	cachet_h2_frame_header(hdr, 16385, CACHET_H2_DATA, 0, 1);
	feed(f, hdr, 9);
	assert_int_equal(goaway_code(f), CACHET_H2_FRAME_SIZE_ERROR);
}

static void test_first_frame_not_settings(void **state)
{
	struct fix *f = *state;
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	uint8_t ping[8] = {0};
	send_frame(f, CACHET_H2_PING, 0, 0, ping, 8);
	assert_int_equal(goaway_code(f), CACHET_H2_PROTOCOL_ERROR);
}

static void test_stream_states(void **state)
{
	struct fix *f = *state;
	start(f);
	get(f, 1, "/index.html");
	/* DATA on a closed stream: STREAM_CLOSED */
	send_frame(f, CACHET_H2_DATA, 0, 1, "x", 1);
	assert_int_equal(rst_code(f, 1), CACHET_H2_STREAM_CLOSED);
	/* a WINDOW_UPDATE for it is still fine */
	uint8_t inc[4];
	cachet_h2_put32(inc, 10);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 1, inc, 4);
	assert_false(cachet_h2_closing(f->h));
	/* HEADERS on an even stream id: PROTOCOL_ERROR for the connection */
	request(f, 2, "GET", "/", NULL, 0, CACHET_H2_END_STREAM);
	assert_int_equal(goaway_code(f), CACHET_H2_PROTOCOL_ERROR);
}

static void test_goaway_graceful(void **state)
{
	struct fix *f = *state;
	feed(f, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	uint8_t set[6] = {0, 4, 0, 0, 0, 0};
	send_frame(f, CACHET_H2_SETTINGS, 0, 0, set, 6);
	get(f, 1, "/big.bin"); /* stalled: in flight */
	cachet_h2_goaway(f->h);
	drain(f);
	struct seen s;
	expect(f, CACHET_H2_GOAWAY, 0, &s);
	assert_int_equal(cachet_h2_u32(s.payload), 1); /* the last stream id */
	assert_false(cachet_h2_closing(f->h));         /* stream 1 still finishes */
	get(f, 3, "/index.html");                      /* refused after GOAWAY */
	assert_int_equal(cachet_h2_streams(f->h), 1);
	uint8_t inc[4];
	cachet_h2_put32(inc, 200000);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 1, inc, 4);
	send_frame(f, CACHET_H2_WINDOW_UPDATE, 0, 0, inc, 4);
	assert_int_equal(cachet_h2_streams(f->h), 0);
	assert_true(cachet_h2_closing(f->h));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_handshake),
	    T(test_get_small),
	    T(test_304_and_head),
	    T(test_range),
	    T(test_flow_control),
	    T(test_initial_window_change),
	    T(test_window_overflow),
	    T(test_stalled_expire),
	    T(test_post_body_credited),
	    T(test_content_length_mismatch),
	    T(test_malformed_requests),
	    T(test_repeated_block),
	    T(test_repeated_block_new_generation),
	    T(test_max_streams),
	    T(test_header_list_cap),
	    T(test_continuation_flood),
	    T(test_rapid_reset),
	    T(test_ping_flood),
	    T(test_output_bounded),
	    T(test_bad_preface_and_frames),
	    T(test_oversized_frame),
	    T(test_first_frame_not_settings),
	    T(test_stream_states),
	    T(test_goaway_graceful),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
