/* fuzz_http_parse.c - libFuzzer target for cachet_http_parse_request().
 *
 * Checks, for any input: the return value is a length, INCOMPLETE or ERROR; a length never
 * exceeds the input; every span lies inside the head; an error carries one of the documented
 * statuses. It then feeds the same bytes in chunks with last_len, as a connection would, and
 * checks that a head the one-shot parse accepts is INCOMPLETE on every prefix and parses to the
 * same length once whole. A head that announces a chunked body has the body skipped with
 * cachet_chunked_skip(), once whole and once in pieces, which must agree on the result and on
 * where the body ends; the bytes after it are parsed as the next head. A Range header is read
 * against a size taken from the input: the set must be ascending, disjoint and inside the size,
 * and a multipart plan over it must frame exactly the length it announces.
 * libFuzzer hands over a heap copy of exactly `size` bytes, and the fuzz build compiles the
 * library with ASan and coverage (cachet_core_fuzz in meson.build), so a parser reading past the
 * input is caught and coverage feedback comes from src/, not only from this file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/chunked.h"
#include "cachet/http_parse.h"
#include "cachet/multipart.h"
#include "cachet/range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_span(struct cachet_span s, const char *buf, size_t head)
{
	if (s.len == 0)
		return;
	check(s.p >= buf && s.p <= buf + head && s.len <= (size_t)(buf + head - s.p));
}

static void check_list(const struct cachet_field_list *l, const char *buf, size_t head)
{
	check(l->n <= CACHET_FIELD_LINES_MAX);
	for (unsigned i = 0; i < l->n; i++)
		check_span(l->line[i], buf, head);
}

static void check_request(const struct cachet_request *req, const char *buf, size_t head)
{
	check(req->method.len > 0 && req->target.len > 0);
	check(req->target.len <= CACHET_TARGET_MAX);
	check(req->minor_version == 0 || req->minor_version == 1);
	check(req->method_id <= CACHET_METHOD_UNKNOWN);
	check_span(req->method, buf, head);
	check_span(req->target, buf, head);
	check_span(req->host, buf, head);
	check_list(&req->if_none_match, buf, head);
	check_list(&req->if_match, buf, head);
	check_list(&req->accept_encoding, buf, head);
	check_span(req->if_modified_since, buf, head);
	check_span(req->if_unmodified_since, buf, head);
	check_span(req->if_range, buf, head);
	check_span(req->range, buf, head);
	if (req->chunked)
		check(!req->has_content_length && req->minor_version == 1);
}

static int parse(const char *buf, size_t len, size_t last_len, struct cachet_request *req)
{
	int status = 0;
	int rc = cachet_http_parse_request(buf, len, last_len, req, &status);

	if (rc == CACHET_PARSE_ERROR)
		check(status == 400 || status == 414 || status == 431 || status == 501 ||
		      status == 505);
	else if (rc != CACHET_PARSE_INCOMPLETE)
		check(rc > 0 && (size_t)rc <= len);
	if (rc > 0)
		check_request(req, buf, (size_t)rc);
	return rc;
}

/* Feeds buf[0..whole) in chunks of `step` bytes; every prefix must be INCOMPLETE. */
static void feed_in_chunks(const char *buf, size_t whole, size_t step)
{
	struct cachet_request req;
	size_t last = 0;

	for (size_t k = step; k < whole; k += step) {
		check(parse(buf, k, last, &req) == CACHET_PARSE_INCOMPLETE);
		last = k;
	}
	check(parse(buf, whole, last, &req) == (int)whole);
}

/* Skips a chunked body at buf[0..len) in pieces of `step` bytes (0: at once); returns the result
 * and sets *used to the body bytes consumed, checking each call's contract on the way. */
static int skip_chunked(const char *buf, size_t len, size_t step, size_t *used)
{
	struct cachet_chunked c;
	size_t off = 0;
	int rc;

	cachet_chunked_init(&c);
	*used = 0;
	do {
		size_t n = step == 0 || len - off < step ? len - off : step;
		size_t u = SIZE_MAX;
		rc = cachet_chunked_skip(&c, buf + off, n, &u);
		check(rc == CACHET_CHUNKED_MORE || rc == CACHET_CHUNKED_DONE ||
		      rc == CACHET_CHUNKED_ERROR);
		check(u <= n && (rc != CACHET_CHUNKED_MORE || u == n));
		*used += u;
		off += n;
	} while (rc == CACHET_CHUNKED_MORE && off < len);
	return rc;
}

/* The range set of req's Range header for a representation of `len` bytes, and the multipart
 * framing built on it. */
static void check_ranges(const struct cachet_request *req, uint64_t len)
{
	static const unsigned char body[1] = {0};
	struct cachet_range_set set;
	int rc = cachet_range_parse(req->range.p, req->range.len, len, &set);

	check(rc == CACHET_RANGE_NONE || rc == CACHET_RANGE_OK || rc == CACHET_RANGE_UNSATISFIABLE);
	check(rc == CACHET_RANGE_OK ? set.n >= 1 && set.n <= CACHET_RANGES_MAX : set.n == 0);
	for (unsigned i = 0; i < set.n; i++) {
		check(set.first[i] <= set.last[i] && set.last[i] < len);
		check(i == 0 || set.first[i] > set.last[i - 1]);
	}
	if (set.n < 2)
		return;
	const struct cachet_repr rep = {
	    .body = body, .body_len = len, .etag = "\"0123abcd\"", .etag_len = 10};
	struct cachet_multipart mp;
	check(cachet_multipart_plan(&mp, &rep, "text/plain; charset=utf-8", &set));
	char tmp[CACHET_MULTIPART_PART_HEAD_MAX + 64];
	uint64_t total = cachet_multipart_close(&mp, tmp, sizeof(tmp));
	for (unsigned i = 0; i < set.n; i++) {
		size_t h = cachet_multipart_part_head(&mp, i, tmp, sizeof(tmp));
		check(h > 0);
		total += h + (set.last[i] - set.first[i] + 1);
	}
	check(total == mp.body_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct cachet_request req;
	int rc = parse(buf, size, 0, &req);

	if (rc > 0) {
		size_t next = (size_t)rc;
		feed_in_chunks(buf, (size_t)rc, 1 + size % 13);
		if (req.n_range)
			check_ranges(&req, size > 8 ? (uint64_t)data[size - 1] << 8 | data[size - 2]
			                            : 1000);
		if (req.chunked) {
			size_t used = 0, used_pieces = 0;
			int st = skip_chunked(buf + next, size - next, 0, &used);
			check(skip_chunked(buf + next, size - next, 1 + size % 7, &used_pieces) ==
			      st);
			check(used_pieces == used);
			if (st != CACHET_CHUNKED_DONE)
				return 0;
			next += used;
		}
		if (next < size)
			parse(buf + next, size - next, 0, &req); /* a pipelined next head */
	}
	return 0;
}
