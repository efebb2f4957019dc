/* conditional.h - evaluation of preconditions in the order of RFC 9110 §13.2.2. A pure function. */
#ifndef CACHET_CONDITIONAL_H
#define CACHET_CONDITIONAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachet/http_parse.h"

/** The validators of the representation selected for the response. */
struct cachet_validators {
	const char *etag; /* quoted strong tag */
	size_t etag_len;
	int64_t last_modified; /* seconds since the epoch */
};

enum cachet_cond {
	CACHET_COND_PROCEED,             /* send 200 (or 206 if a Range applies) */
	CACHET_COND_NOT_MODIFIED,        /* 304 */
	CACHET_COND_PRECONDITION_FAILED, /* 412 */
};

/**
 * RFC 9110 §13.2.2 steps 1-4 for a GET or HEAD on an existing resource:
 *   1. If-Match present: strong comparison; false -> 412.
 *   2. else If-Unmodified-Since (one valid date): Last-Modified later than it -> 412.
 *   3. If-None-Match present: weak comparison; true (a match) -> 304.
 *   4. else If-Modified-Since (one valid date): Last-Modified at or before it -> 304
 *      (a date in the future included).
 * An invalid date, or a date field sent on more than one line, is ignored.
 */
enum cachet_cond cachet_conditional_evaluate(const struct cachet_request *req,
                                             const struct cachet_validators *v);

/**
 * RFC 9110 §13.1.5 step 5: whether a Range in req is to be honoured. True when there is no
 * If-Range; else when If-Range is a strong ETag equal to v's, or an HTTP-date exactly equal to
 * Last-Modified. A weak tag, an invalid value or several lines -> false (send the whole 200).
 */
bool cachet_conditional_if_range(const struct cachet_request *req,
                                 const struct cachet_validators *v);

#endif
