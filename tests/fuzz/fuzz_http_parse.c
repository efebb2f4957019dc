/* fuzz_http_parse.c - libFuzzer target for cachet_http_parse_request().
 *
 * Checks, for any input: the return value is a length, INCOMPLETE or ERROR; a length never
 * exceeds the input; every span lies inside the head; an error carries one of the documented
 * statuses. It then feeds the same bytes in chunks with last_len, as a connection would, and
 * checks that a head the one-shot parse accepts is INCOMPLETE on every prefix and parses to the
 * same length once whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/http_parse.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct cachet_request req;
	int rc = parse(buf, size, 0, &req);

	if (rc > 0) {
		feed_in_chunks(buf, (size_t)rc, 1 + size % 13);
		if ((size_t)rc < size)
			parse(buf + rc, size - (size_t)rc, 0, &req); /* a pipelined next head */
	}
	return 0;
}
