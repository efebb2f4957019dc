/* test_hpack.c - the stateless HPACK encoder, with libnghttp2's inflater as the oracle: every
 * block a generation holds must decode to the fields of its HTTP/1.1 twin. */
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

#include "cachet/hpack.h"
#include "cachet/store.h"
#include "test_heads.h"

#define FIELDS_MAX 64

struct field {
	char name[64];
	char value[512];
};

struct fields {
	struct field f[FIELDS_MAX];
	unsigned n;
};

/* Decodes block with a fresh inflater (a block must stand alone: no dynamic-table state) and
 * checks that nothing was indexed into the table. */
static void decode(const unsigned char *in, size_t len, struct fields *out)
{
	nghttp2_hd_inflater *inf;
	assert_int_equal(nghttp2_hd_inflate_new(&inf), 0);
	out->n = 0;
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, in, len, 1);
		assert_true(rv >= 0);
		in += rv;
		len -= (size_t)rv;
		if (flags & NGHTTP2_HD_INFLATE_EMIT) {
			assert_true(out->n < FIELDS_MAX);
			assert_true(nv.namelen < sizeof(out->f[0].name));
			assert_true(nv.valuelen < sizeof(out->f[0].value));
			struct field *f = &out->f[out->n++];
			memcpy(f->name, nv.name, nv.namelen);
			f->name[nv.namelen] = '\0';
			memcpy(f->value, nv.value, nv.valuelen);
			f->value[nv.valuelen] = '\0';
		}
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			break;
		}
		if (rv == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT))
			fail_msg("inflater stuck");
	}
	assert_int_equal(len, 0);
	assert_int_equal(nghttp2_hd_inflate_get_dynamic_table_size(inf), 0);
	nghttp2_hd_inflate_del(inf);
}

/* What a block's text says, as HTTP/2 fields: :status first, names lowercased, the
 * connection-specific ones dropped. */
static void expected(const char *text, size_t len, struct fields *out)
{
	static const char *const conn[] = {"connection", "keep-alive", "proxy-connection",
	                                   "transfer-encoding", "upgrade"};
	out->n = 0;
	const char *p = text, *end = text + len;
	if (strncmp(p, "HTTP/1.1 ", 9) == 0) {
		/* snprintf, not strcpy + memcpy: GCC 12 with ASan at -O1 and up misreads the latter
		 * as writing out of bounds (-Warray-bounds) and the sanitizer build fails under
		 * -Werror */
		snprintf(out->f[0].name, sizeof(out->f[0].name), ":status");
		snprintf(out->f[0].value, sizeof(out->f[0].value), "%.3s", p + 9);
		out->n = 1;
		p = strstr(p, "\r\n") + 2;
	}
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		struct field *f = &out->f[out->n];
		size_t nl = (size_t)(colon - p);
		for (size_t i = 0; i < nl; i++)
			f->name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
		f->name[nl] = '\0';
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		memcpy(f->value, v, (size_t)(eol - v));
		f->value[eol - v] = '\0';
		bool skip = false;
		for (size_t i = 0; i < sizeof(conn) / sizeof(conn[0]); i++)
			skip |= strcmp(f->name, conn[i]) == 0;
		if (!skip)
			out->n++;
		p = eol + 2;
	}
}

/* h2[0..len) decodes to the fields of text[0..text_len), in order, names lowercase. */
static void check_same_fields(const unsigned char *h2, size_t len, const char *text,
                              size_t text_len)
{
	struct fields got, want;
	decode(h2, len, &got);
	expected(text, text_len, &want);
	assert_int_equal(got.n, want.n);
	for (unsigned i = 0; i < got.n; i++) {
		assert_string_equal(got.f[i].name, want.f[i].name);
		assert_string_equal(got.f[i].value, want.f[i].value);
		for (const char *c = got.f[i].name; *c; c++)
			assert_false(*c >= 'A' && *c <= 'Z');
	}
}

/* A file's HTTP/2 head, copied together from parts (response.c), is byte for byte the encoding of
 * its HTTP/1.1 head: the parts' twins and the fields written per answer agree. */
static void check_file(const struct cachet_entry *e, unsigned coding, int status)
{
	char text[CACHET_BLOCK_MAX + 1];
	file_head(e, coding, status, text, sizeof(text));
	size_t len = strlen(text);
	unsigned char want[CACHET_HPACK_BOUND(CACHET_BLOCK_MAX, CACHET_BLOCK_MAX / 4)];
	uint32_t date_off;
	int wn = cachet_hpack_encode(text, len, want, sizeof(want), &date_off);
	assert_true(wn > 0);
	unsigned char got[CACHET_RESPONSE_H2_MAX];
	const struct cachet_reply r = {
	    .entry = e, .rep = cachet_entry_repr(e, coding), .status = status};
	uint32_t got_date;
	size_t n = cachet_response_write_h2(&r, TEST_HEADS_DATE, got, &got_date);
	assert_int_equal(n, (size_t)wn);
	assert_memory_equal(got, want, n);
	/* where a copy of the block is dated again (h2.c's memo) */
	assert_int_equal(got_date, date_off);
	assert_memory_equal(got + got_date, TEST_HEADS_DATE, CACHET_HTTPDATE_LEN);
	check_same_fields(got, n, text, len);
}

static void check_block(const struct cachet_block *b)
{
	struct fields got;
	assert_non_null(b->h2.data);
	check_same_fields(b->h2.data, b->h2.len, b->text, b->len);
	/* the Date value sits where date_off says, raw: patching it keeps the block valid */
	assert_int_not_equal(b->h2.date_off, UINT32_MAX);
	assert_memory_equal(b->h2.data + b->h2.date_off, b->text + b->date_off, 29);
	unsigned char copy[8192];
	memcpy(copy, b->h2.data, b->h2.len);
	memcpy(copy + b->h2.date_off, "Sun, 06 Nov 1994 08:49:37 GMT", 29);
	decode(copy, b->h2.len, &got);
	bool found = false;
	for (unsigned i = 0; i < got.n; i++)
		found |= strcmp(got.f[i].name, "date") == 0 &&
		         strcmp(got.f[i].value, "Sun, 06 Nov 1994 08:49:37 GMT") == 0;
	assert_true(found);
}

static void test_encode_text(void **state)
{
	(void)state;
	static const char text[] = "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
	                           "Server: cachet\r\nConnection: close\r\nKeep-Alive: x\r\n"
	                           "X-Custom-Header: v  \r\nContent-Length: 5\r\n";
	unsigned char buf[512];
	uint32_t date_off;
	int n = cachet_hpack_encode(text, sizeof(text) - 1, buf, sizeof(buf), &date_off);
	assert_true(n > 0);
	assert_int_equal(buf[0], 0x88); /* :status 200 is static index 8 */
	struct fields got;
	decode(buf, (size_t)n, &got);
	assert_int_equal(got.n, 5);
	assert_string_equal(got.f[3].name, "x-custom-header");
	assert_string_equal(got.f[3].value, "v");
	assert_string_equal(got.f[4].name, "content-length");
	/* a status without a static entry is a literal with the indexed name */
	static const char t416[] = "HTTP/1.1 416 Range Not Satisfiable\r\n";
	n = cachet_hpack_encode(t416, sizeof(t416) - 1, buf, sizeof(buf), &date_off);
	decode(buf, (size_t)n, &got);
	assert_int_equal(date_off, UINT32_MAX);
	assert_string_equal(got.f[0].value, "416");
	/* too small a buffer, and text that is not a block */
	assert_int_equal(cachet_hpack_encode(text, sizeof(text) - 1, buf, 20, &date_off), -E2BIG);
	assert_int_equal(cachet_hpack_encode("bogus", 5, buf, sizeof(buf), &date_off), -EINVAL);
	assert_int_equal(cachet_hpack_encode("X y\r\n", 5, buf, sizeof(buf), &date_off), -EINVAL);
}

static void test_int(void **state)
{
	(void)state;
	unsigned char b[8];
	assert_int_equal(cachet_hpack_int(b, 0, 5, 10), 1); /* RFC 7541 C.1.1 */
	assert_int_equal(b[0], 10);
	assert_int_equal(cachet_hpack_int(b, 0, 5, 1337), 3); /* C.1.2 */
	assert_int_equal(b[0], 31);
	assert_int_equal(b[1], 154);
	assert_int_equal(b[2], 10);
}

static void put_file(const char *dir, const char *name, const char *body, size_t n)
{
	char p[512];
	int len = snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_true(len > 0 && (size_t)len < sizeof(p));
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fwrite(body, 1, n, f);
	fclose(f);
}

/* Every block of a generation (every representation, redirects, errors) decodes back. */
static void test_store_blocks(void **state)
{
	(void)state;
	char root[] = "/tmp/cachet_test_hpack.XXXXXX";
	assert_non_null(mkdtemp(root));
	char big[4096];
	memset(big, 'a', sizeof(big));
	static const char index_html[] = "<link rel=stylesheet href=/big.css><p>hi</p>";
	put_file(root, "index.html", index_html, sizeof(index_html) - 1);
	put_file(root, "big.css", big, sizeof(big));
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/dir", root);
	assert_int_equal(mkdir(sub, 0755), 0);
	put_file(sub, "index.html", "x", 1);
	enum cachet_coding codings[] = {CACHET_CODING_GZIP, CACHET_CODING_BR};
	struct cachet_store_options opt = {.generation = 1,
	                                   .codings = codings,
	                                   .n_codings = 2,
	                                   .extra_headers = "X-Frame-Options: DENY\r\n",
	                                   .link_preload = true};
	struct cachet_store *st;
	char err[256];
	assert_int_equal(cachet_store_build(root, NULL, &opt, &st, err, sizeof(err)), 0);
	unsigned reprs = 0, redirects = 0;
	for (size_t i = 0; i < st->n_entries; i++) {
		const struct cachet_entry *e = &st->entries[i];
		if (e->kind == CACHET_ENTRY_REDIRECT) {
			check_block(e->redirect);
			redirects++;
		}
		if (e->kind != CACHET_ENTRY_FILE)
			continue;
		for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
			if (!(e->available & (1u << c)))
				continue;
			check_file(e, c, 200);
			check_file(e, c, 304);
			reprs++;
		}
	}
	assert_true(reprs >= 4); /* big.css has variants */
	assert_non_null(cachet_store_lookup(st, "/index.html", 11)->link_lines); /* with a Link */
	assert_int_equal(redirects, 1);
	check_block(&st->unsatisfiable);
	for (unsigned i = 0; i < CACHET_N_ERRORS; i++)
		check_block(&st->errors[i].block);
	cachet_store_unref(st);
	char cmd[64 + sizeof(root)];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_int),
	    cmocka_unit_test(test_encode_text),
	    cmocka_unit_test(test_store_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
