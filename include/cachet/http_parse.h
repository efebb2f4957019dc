/* http_parse.h - strict HTTP/1.1 request-head parser (RFC 9112), in the shape of picohttpparser:
 * the caller owns the buffer, the result is spans into it, nothing is allocated. */
#ifndef CACHET_HTTP_PARSE_H
#define CACHET_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachet/span.h"

/** Longest request-target accepted; longer gets 414. */
#define CACHET_TARGET_MAX 8192
/** Longest header section (after the request line, through the blank line); longer gets 431. */
#define CACHET_HEADER_BYTES_MAX 16384
/** Most header field lines accepted; more gets 431. The byte limit above is the one that usually
 *  bites; this one bounds the work per request for many tiny lines. */
#define CACHET_HEADER_LINES_MAX 256

/** Returned by cachet_http_parse_request() while the head is not complete yet. */
#define CACHET_PARSE_INCOMPLETE (-11) /* -EAGAIN */
/** Returned by cachet_http_parse_request() for a request that must be refused; see *status. */
#define CACHET_PARSE_ERROR (-74) /* -EBADMSG */

/** What the Expect field asked for (RFC 9110 §10.1.1); ignored in HTTP/1.0. */
enum cachet_expect {
	CACHET_EXPECT_NONE,
	CACHET_EXPECT_CONTINUE, /* 100-continue: the client may wait before sending its body */
	CACHET_EXPECT_OTHER,    /* an expectation cachet cannot meet: 417 */
};

enum cachet_method {
	CACHET_METHOD_GET,
	CACHET_METHOD_HEAD,
	CACHET_METHOD_OTHER,   /* a registered method cachet does not allow: 405 */
	CACHET_METHOD_UNKNOWN, /* a syntactically valid token cachet does not know: 501 */
};

/** One parsed request head. Every span points into the buffer given to the parser. */
struct cachet_request {
	struct cachet_span method;
	struct cachet_span target; /* as sent: origin-form or absolute-form, query included */
	enum cachet_method method_id;
	int minor_version; /* 0 or 1 (HTTP/1.x with x > 1 is read as 1) */
	bool keep_alive;   /* from the version and every Connection line */

	struct cachet_span host; /* empty when absent (allowed only in HTTP/1.0) */
	bool has_content_length;
	bool chunked;   /* a body in the chunked coding follows the head, to be discarded */
	uint8_t expect; /* enum cachet_expect (a byte: it fills padding) */
	uint64_t content_length; /* body bytes that follow the head, to be discarded */

	struct cachet_field_list if_none_match;
	struct cachet_field_list if_match;
	struct cachet_field_list accept_encoding;
	/* Single-valued fields: a second line makes the field invalid (count > 1), to be ignored.
	 */
	struct cachet_span if_modified_since;
	unsigned n_if_modified_since;
	struct cachet_span if_unmodified_since;
	unsigned n_if_unmodified_since;
	struct cachet_span if_range;
	unsigned n_if_range;
	struct cachet_span range;
	unsigned n_range;
	/* For the access log only (first line kept; empty when absent). */
	struct cachet_span referer;
	struct cachet_span user_agent;
};

/**
 * Parses the request head at the start of buf[0..len).
 *
 * last_len is how many bytes of this same request were already offered in an earlier call that
 * returned CACHET_PARSE_INCOMPLETE (0 the first time), so that a head arriving byte by byte is not
 * rescanned from the start.
 *
 * Returns the number of bytes the head occupies (request line through the blank line; leading
 * empty lines included) when complete; CACHET_PARSE_INCOMPLETE when more bytes are needed;
 * CACHET_PARSE_ERROR when the request must be refused, with *status set to 400, 414, 431, 501 or
 * 505 (the connection is then to be closed). A 405 is not an error here: method_id says it.
 *
 * A body follows the head when has_content_length (content_length bytes) or chunked (framed by
 * the chunked coding: see chunked.h); it is the caller's to skip before the next request.
 * Transfer-Encoding is accepted only as chunked alone, in HTTP/1.1, without Content-Length:
 * anything else that leaves the body's end unknown is 400, and another coding before chunked
 * 501.
 */
int cachet_http_parse_request(const char *buf, size_t len, size_t last_len,
                              struct cachet_request *req, int *status);

/** The method token's class: GET, HEAD, another method of RFC 9110 §9 (405), or an unknown one
 *  (501). Case-sensitive (§9.1). Shared by the HTTP/1.1 parser and HTTP/2's :method. */
enum cachet_method cachet_http_method_id(struct cachet_span m);

#endif
