/* response.c - request -> response. The hot path of cachet: everything here is a lookup, a
 * compare or a memcpy. A file's heads (200, 304, 206) are copied together from parts formatted
 * when the generation was built (store.h: cachet_repr, cachet_lines); errors and redirects are
 * whole blocks; only the rare 206 and 416 format a few digits of their own. */
#define _GNU_SOURCE /* memmem */
#include "cachet/response.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "cachet/conditional.h"
#include "cachet/path.h"
#include "cachet/multipart.h"
#include "cachet/range.h"

void cachet_response_error(const struct cachet_store *st, int status, bool head_only,
                           struct cachet_reply *r)
{
	const struct cachet_error *e = cachet_store_error(st, status);
	*r = (struct cachet_reply){.head = &e->block,
	                           .body = head_only ? NULL : (const unsigned char *)e->body,
	                           .body_len = head_only ? 0 : e->body_len,
	                           .status = e->status,
	                           .close = e->block.closes};
}

/* "Content-Range: bytes A-B/N" and "Content-Length: L" with 20-digit values, CRLFs, and the NUL
 * the formatters write, must fit. */
static_assert(CACHET_RESPONSE_EXTRA_MAX >= 15 + 6 + 20 + 1 + 20 + 1 + 20 + 18 + 20 + 2 + 1,
              "room for the 206 lines");

/* Ends r->extra at p with "Content-Length: n" and CRLF, and records its length. end leaves room
 * for the CRLF; the static_asserts keep the buffer large enough for the longest values. */
static void extra_end_with_length(struct cachet_reply *r, char *p, const char *end, uint64_t n)
{
	static const char cl[] = "Content-Length: ";
	memcpy(p, cl, sizeof(cl) - 1);
	p += sizeof(cl) - 1;
	p += cachet_range_format_uint(p, (size_t)(end - p), n);
	memcpy(p, "\r\n", 2);
	r->extra_len = (uint8_t)(p + 2 - r->extra);
}

/* A 206 for bytes first..last of rep: the lines it shares with the 200 block (written from it,
 * see cachet_response_write_head) plus two formatted here (digits by hand: no printf on a request
 * path); at most 15 + 68 + 2 + 16 + 20 + 2 bytes. */
static void reply_partial(const struct cachet_entry *e, const struct cachet_repr *rep,
                          uint64_t first, uint64_t last, struct cachet_reply *r)
{
	static const char cr[] = "Content-Range: ";
	char *p = r->extra, *end = r->extra + sizeof(r->extra) - 2;
	*r = (struct cachet_reply){.entry = e,
	                           .rep = rep,
	                           .status = 206,
	                           .body = rep->body + first,
	                           .body_len = last - first + 1};
	memcpy(p, cr, sizeof(cr) - 1);
	p += sizeof(cr) - 1;
	p += cachet_range_format(p, (size_t)(end - p), first, last, rep->body_len);
	memcpy(p, "\r\n", 2);
	extra_end_with_length(r, p + 2, end, last - first + 1);
}

/* "Content-Length: " with 20 digits and CRLF, and what the multipart Content-Type adds to the
 * block (at most its whole length), must fit in the same room. */
static_assert(CACHET_RESPONSE_EXTRA_MAX >= 16 + 20 + 2 + CACHET_MULTIPART_TYPE_MAX,
              "room for the multipart 206 lines");

/* A 206 with several ranges: the block, a Content-Length for the whole multipart body, and the
 * plan the caller sends the parts from. */
static void reply_multipart(const struct cachet_entry *e, const struct cachet_repr *rep,
                            const struct cachet_multipart *mp, struct cachet_reply *r)
{
	*r = (struct cachet_reply){.entry = e, .rep = rep, .status = 206, .multipart = mp};
	extra_end_with_length(r, r->extra, r->extra + sizeof(r->extra) - 2, mp->body_len);
}

static const char vary_line[] = "Vary: Accept-Encoding\r\n";

/* "Content-Range: bytes *\/N", "Content-Length: 0" and Vary, with the NUL, must fit. */
static_assert(CACHET_RESPONSE_EXTRA_MAX >= 23 + 20 + 2 + 19 + sizeof(vary_line),
              "room for the 416 lines");

/* A 416: the generation's block (status, Date, Server) and the lines of this representation,
 * in the order the block formatted per representation had them. */
static void reply_unsatisfiable(const struct cachet_store *st, const struct cachet_repr *rep,
                                bool vary, struct cachet_reply *r)
{
	static const char cr[] = "Content-Range: bytes */", cl[] = "\r\nContent-Length: 0\r\n";
	*r = (struct cachet_reply){.head = &st->unsatisfiable, .status = 416};
	char *p = r->extra, *end = r->extra + sizeof(r->extra);
	memcpy(p, cr, sizeof(cr) - 1);
	p += sizeof(cr) - 1;
	p += cachet_range_format_uint(p, (size_t)(end - p), rep->body_len);
	memcpy(p, cl, sizeof(cl) - 1);
	p += sizeof(cl) - 1;
	if (vary) {
		memcpy(p, vary_line, sizeof(vary_line) - 1);
		p += sizeof(vary_line) - 1;
	}
	r->extra_len = (uint8_t)(p - r->extra);
}

/* 200, 206 or 416 once the preconditions have passed (RFC 9110 §14.2: Range only on GET, only
 * when If-Range allows it; an invalid header is ignored). content_type is NULL when the
 * representation may not be sent in parts (see cachet_response_select()). */
static void reply_body(const struct cachet_store *st, const struct cachet_entry *e,
                       const struct cachet_repr *rep, const char *content_type,
                       const struct cachet_validators *v, const struct cachet_request *req,
                       struct cachet_reply *r, struct cachet_multipart *mp)
{
	struct cachet_range_set set;
	if (req->method_id == CACHET_METHOD_GET && req->n_range == 1 &&
	    cachet_conditional_if_range(req, v)) {
		switch (cachet_range_parse(req->range.p, req->range.len, rep->body_len, &set)) {
		case CACHET_RANGE_OK:
			if (set.n == 1) {
				reply_partial(e, rep, set.first[0], set.last[0], r);
				return;
			}
			if (mp && content_type &&
			    cachet_multipart_plan(mp, rep, content_type, &set)) {
				reply_multipart(e, rep, mp, r);
				return;
			}
			break; /* several ranges that cannot be sent in parts: the whole 200 */
		case CACHET_RANGE_UNSATISFIABLE:
			/* Vary as the resource's other blocks say it (store.c, repr_blocks) */
			reply_unsatisfiable(
			    st, rep, e->available != 1u << CACHET_CODING_IDENTITY || e->pending, r);
			return;
		default:
			break;
		}
	}
	bool head_only = req->method_id == CACHET_METHOD_HEAD;
	*r = (struct cachet_reply){.entry = e,
	                           .rep = rep,
	                           .status = 200,
	                           .body = head_only ? NULL : rep->body,
	                           .body_len = head_only ? 0 : rep->body_len};
}

static void reply_file(const struct cachet_store *st, const struct cachet_entry *e,
                       const struct cachet_request *req, struct cachet_reply *r,
                       struct cachet_multipart *mp)
{
	unsigned coding = CACHET_CODING_IDENTITY;
	if (e->available != 1u << CACHET_CODING_IDENTITY)
		coding = cachet_encoding_negotiate(&req->accept_encoding, e->available, st->prefs,
		                                   st->n_prefs);
	const struct cachet_repr *rep = cachet_entry_repr(e, coding);
	const struct cachet_validators v = {
	    .etag = rep->etag, .etag_len = rep->etag_len, .last_modified = e->last_modified};
	switch (cachet_conditional_evaluate(req, &v)) {
	case CACHET_COND_NOT_MODIFIED:
		*r = (struct cachet_reply){.entry = e, .rep = rep, .status = 304};
		return;
	case CACHET_COND_PRECONDITION_FAILED:
		cachet_response_error(st, 412, req->method_id == CACHET_METHOD_HEAD, r);
		return;
	case CACHET_COND_PROCEED:
		break;
	}
	reply_body(st, e, rep, coding == CACHET_CODING_IDENTITY ? e->content_type : NULL, &v, req,
	           r, mp);
}

/* RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may hold its body back until it
 * sees 100 Continue. cachet answers at once with the final response instead, and closes after it
 * (as the RFC allows), so the body that may or may not follow is never waited for nor read as a
 * request. */
static bool expects_body(const struct cachet_request *req)
{
	return req->expect == CACHET_EXPECT_CONTINUE &&
	       ((req->has_content_length && req->content_length > 0) || req->chunked);
}

/* --fallback (a single-page app's client-side routes): a missing path whose last segment has
 * no extension ("/dashboard/settings", "/app/") gets the fallback file's own representation,
 * conditionals and variants included. One with an extension stays a 404: answering
 * "/assets/app.0ld1234.js" with HTML after a deploy is the "Unexpected token '<'" failure. Dot
 * segments anywhere keep their 404 (dotfiles are never served). Only GET and HEAD get here. */
static const struct cachet_entry *fallback_for(const struct cachet_store *st, const char *path,
                                               size_t len)
{
	if (!st->fallback)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/' && i + 1 < len && path[i + 1] == '.')
			return NULL;
	for (size_t i = len; i > 0 && path[i - 1] != '/'; i--)
		if (path[i - 1] == '.')
			return NULL;
	return st->fallback;
}

static void select_reply(const struct cachet_store *st, const struct cachet_request *req,
                         struct cachet_reply *r, struct cachet_multipart *mp)
{
	char path[CACHET_PATH_MAX];
	bool head_only = req->method_id == CACHET_METHOD_HEAD;
	if (req->expect == CACHET_EXPECT_OTHER) { /* as nginx: an expectation it cannot meet */
		cachet_response_error(st, 417, head_only, r);
		return;
	}
	if (req->method_id == CACHET_METHOD_UNKNOWN) {
		cachet_response_error(st, 501, head_only, r);
		return;
	}
	if (req->method_id == CACHET_METHOD_OTHER) {
		cachet_response_error(st, 405, head_only, r);
		return;
	}
	int n = cachet_path_normalize(req->target.p, req->target.len, path, sizeof(path));
	if (n < 0) {
		cachet_response_error(st, n == -ENAMETOOLONG ? 414 : 400, head_only, r);
		return;
	}
	const struct cachet_entry *e = cachet_store_lookup(st, path, (size_t)n);
	if (!e && !(e = fallback_for(st, path, (size_t)n))) {
		cachet_response_error(st, 404, head_only, r);
		return;
	}
	if (e->kind == CACHET_ENTRY_REDIRECT) {
		*r = (struct cachet_reply){.head = e->redirect, .status = 301};
		return;
	}
	reply_file(st, e, req, r, mp);
}

void cachet_response_select(const struct cachet_store *st, const struct cachet_request *req,
                            struct cachet_reply *r, struct cachet_multipart *mp)
{
	select_reply(st, req, r, mp);
	if (expects_body(req))
		r->close = true;
}

/* Replaces the Content-Type value in the n bytes of head at dst by the multipart one. The Date
 * line comes before Content-Type in every block, so the Date stays where it was. */
static size_t replace_type_multipart(char *dst, size_t n, const struct cachet_multipart *mp)
{
	static const char ct[] = "\r\nContent-Type: ";
	const char *at = memmem(dst, n, ct, sizeof(ct) - 1);
	const char *eol =
	    at ? memmem(at + sizeof(ct) - 1, n - (size_t)(at + sizeof(ct) - 1 - dst), "\r\n", 2)
	       : NULL;
	if (!eol) /* not a block store.c formats; sent as it is */
		return n;
	char type[CACHET_MULTIPART_TYPE_MAX];
	size_t head = (size_t)(at - dst) + sizeof(ct) - 1, rest = n - (size_t)(eol - dst);
	size_t tn = cachet_multipart_type(mp, type);
	memmove(dst + head + tn, eol, rest);
	memcpy(dst + head, type, tn);
	return head + tn + rest;
}

/* Copies src to d and returns where the copy ends: heads as text and as HPACK alike. */
static void *put(void *d, const void *src, size_t n)
{
	memcpy(d, src, n);
	return (char *)d + n;
}

static char *put_lines(char *d, const struct cachet_lines *l)
{
	return l->len ? put(d, l->text, l->len) : d; /* --add-header lines are mostly none */
}

#define LIT(s) s, sizeof(s) - 1

/* "Content-Encoding: NAME\r\n" by coding, "" for identity. */
static const struct {
	const char *line, *name;
	uint8_t len, name_len;
} encoding_lines[CACHET_CODING_COUNT] = {
    [CACHET_CODING_GZIP] = {"Content-Encoding: gzip\r\n", "gzip", 24, 4},
    [CACHET_CODING_BR] = {"Content-Encoding: br\r\n", "br", 22, 2},
    [CACHET_CODING_ZSTD] = {"Content-Encoding: zstd\r\n", "zstd", 24, 4},
};

/* A file's head: the status line, Date and Server, then its lines in this order (the one its
 * blocks had when they were stored whole, so answers did not change with issue 15):
 *   200: Content-Type, Last-Modified, ETag, Cache-Control [Vary], [Content-Encoding],
 *        Accept-Ranges, [--add-header], [Link], Content-Length
 *   206: the 200's up to --add-header; its Content-Range and Content-Length follow (extra)
 *   304: ETag, Cache-Control [Vary], [--add-header]: RFC 9110 §15.4.5
 * store.c (entry_answers) bounds the 200 to CACHET_BLOCK_MAX bytes. */
static size_t write_file_head(const struct cachet_reply *r, const char date[CACHET_HTTPDATE_LEN],
                              char *dst)
{
	const struct cachet_entry *e = r->entry;
	const struct cachet_repr *p = r->rep;
	char *d = dst;
	if (r->status == 304)
		d = put(d, LIT("HTTP/1.1 304 Not Modified\r\nDate: "));
	else if (r->status == 206)
		d = put(d, LIT("HTTP/1.1 206 Partial Content\r\nDate: "));
	else
		d = put(d, LIT("HTTP/1.1 200 OK\r\nDate: "));
	d = put(d, date, CACHET_HTTPDATE_LEN);
	d = put(d, LIT("\r\nServer: cachet\r\n"));
	if (r->status != 304) {
		d = put_lines(d, e->type_lines);
		d = put(d, LIT("Last-Modified: "));
		d = put(d, e->last_modified_text, CACHET_HTTPDATE_LEN);
		d = put(d, LIT("\r\n"));
	}
	d = put(d, LIT("ETag: "));
	d = put(d, p->etag, p->etag_len);
	d = put(d, LIT("\r\n"));
	d = put_lines(d, e->cache_lines);
	if (r->status == 304)
		return (size_t)(put_lines(d, e->extra_lines) - dst);
	if (p->coding != CACHET_CODING_IDENTITY)
		d = put(d, encoding_lines[p->coding].line, encoding_lines[p->coding].len);
	d = put(d, LIT("Accept-Ranges: bytes\r\n"));
	d = put_lines(d, e->extra_lines);
	if (r->status == 206)
		return (size_t)(d - dst);
	if (e->link_lines)
		d = put_lines(d, e->link_lines);
	d = put(d, LIT("Content-Length: "));
	d = put(d, p->length, p->length_len);
	d = put(d, LIT("\r\n"));
	return (size_t)(d - dst);
}

size_t cachet_response_write_head(const struct cachet_reply *r, const struct cachet_request *req,
                                  bool force_close, const char date[CACHET_HTTPDATE_LEN], char *dst)
{
	static const char tail_close[] = "Connection: close\r\n\r\n";
	static const char tail_keep10[] = "Connection: keep-alive\r\n\r\n";
	const struct cachet_block *b = r->head;
	size_t n;
	if (!b) {
		n = write_file_head(r, date, dst);
	} else {
		n = b->len;
		memcpy(dst, b->text, b->len);
		memcpy(dst + b->date_off, date, CACHET_HTTPDATE_LEN);
	}
	if (r->multipart)
		n = replace_type_multipart(dst, n, r->multipart);
	if (r->extra_len) {
		memcpy(dst + n, r->extra, r->extra_len);
		n += r->extra_len;
	}
	if (r->close || force_close || !req->keep_alive) {
		if (b && b->closes) { /* the block says it already */
			memcpy(dst + n, "\r\n", 2);
			return n + 2;
		}
		memcpy(dst + n, tail_close, sizeof(tail_close) - 1);
		return n + sizeof(tail_close) - 1;
	}
	if (req->minor_version == 0) {
		memcpy(dst + n, tail_keep10, sizeof(tail_keep10) - 1);
		return n + sizeof(tail_keep10) - 1;
	}
	memcpy(dst + n, "\r\n", 2);
	return n + 2;
}

/* Every field a file's head writes per answer has a static-table name (index 15..142: two bytes
 * with a 4-bit prefix) and a value under 127 bytes (one length byte): the bytes
 * cachet_hpack_encode() makes of its line, without a call per integer. */
static_assert(CACHET_ETAG_MAX < 127 && CACHET_LENGTH_DIGITS_MAX < 127, "one length byte");

static unsigned char *put_h2_field(unsigned char *d, enum cachet_hpack_name name, const char *value,
                                   size_t len)
{
	d[0] = 0x0f; /* literal without indexing, name index >= 15 */
	d[1] = (uint8_t)(name - 15);
	d[2] = (uint8_t)len;
	memcpy(d + 3, value, len);
	return d + 3 + len;
}

static unsigned char *put_h2_lines(unsigned char *d, const struct cachet_lines *l)
{
	return l->h2_len ? put(d, l->h2, l->h2_len) : d;
}

/* write_file_head()'s lines, field by field, as HPACK (hpack.h: stateless, so the interned lines'
 * twins can be copied side by side). Only 200 and 304 get here: a 206 has per-request lines. */
static size_t write_file_h2(const struct cachet_reply *r, const char date[CACHET_HTTPDATE_LEN],
                            unsigned char *dst)
{
	const struct cachet_entry *e = r->entry;
	const struct cachet_repr *p = r->rep;
	unsigned char *d = dst;
	*d++ = r->status == 304 ? 0x8b : 0x88; /* :status, static table 11 and 8 */
	d = put_h2_field(d, CACHET_HPACK_DATE, date, CACHET_HTTPDATE_LEN);
	d = put_h2_field(d, CACHET_HPACK_SERVER, LIT("cachet"));
	if (r->status != 304) {
		d = put_h2_lines(d, e->type_lines);
		d = put_h2_field(d, CACHET_HPACK_LAST_MODIFIED, e->last_modified_text,
		                 CACHET_HTTPDATE_LEN);
	}
	d = put_h2_field(d, CACHET_HPACK_ETAG, p->etag, p->etag_len);
	d = put_h2_lines(d, e->cache_lines);
	if (r->status == 304)
		return (size_t)(put_h2_lines(d, e->extra_lines) - dst);
	if (p->coding != CACHET_CODING_IDENTITY)
		d = put_h2_field(d, CACHET_HPACK_CONTENT_ENCODING, encoding_lines[p->coding].name,
		                 encoding_lines[p->coding].name_len);
	d = put_h2_field(d, CACHET_HPACK_ACCEPT_RANGES, LIT("bytes"));
	d = put_h2_lines(d, e->extra_lines);
	if (e->link_lines)
		d = put_h2_lines(d, e->link_lines);
	d = put_h2_field(d, CACHET_HPACK_CONTENT_LENGTH, p->length, p->length_len);
	return (size_t)(d - dst);
}

size_t cachet_response_write_h2(const struct cachet_reply *r, const char date[CACHET_HTTPDATE_LEN],
                                unsigned char *dst, uint32_t *date_off)
{
	const struct cachet_block *b = r->head;
	if (!b) {
		*date_off = 4; /* after :status (one byte) and the Date field's name and length */
		return write_file_h2(r, date, dst);
	}
	*date_off = b->h2.date_off;
	memcpy(dst, b->h2.data, b->h2.len);
	if (b->h2.date_off != UINT32_MAX)
		memcpy(dst + b->h2.date_off, date, CACHET_HTTPDATE_LEN);
	return b->h2.len;
}
