/* conditional.c - preconditions (RFC 9110 §13.2.2) and If-Range (§13.1.5), as pure functions of
 * the parsed request and the selected representation's validators. */
#include "cachet/conditional.h"

#include "cachet/etag.h"
#include "cachet/httpdate.h"
#include "cachet/span.h"

/* A single-line date field with a valid HTTP-date; anything else is to be ignored. */
static bool get_date(struct cachet_span s, unsigned n, int64_t *t)
{
	return n == 1 && cachet_httpdate_parse(s.p, s.len, t) == 0;
}

enum cachet_cond cachet_conditional_evaluate(const struct cachet_request *req,
                                             const struct cachet_validators *v)
{
	int64_t t;

	/* Steps 1-2: the client's write-side preconditions. */
	if (req->if_match.n) {
		if (!cachet_etag_list_matches(&req->if_match, v->etag, v->etag_len, true))
			return CACHET_COND_PRECONDITION_FAILED;
	} else if (get_date(req->if_unmodified_since, req->n_if_unmodified_since, &t) &&
	           v->last_modified > t) {
		return CACHET_COND_PRECONDITION_FAILED;
	}

	/* Steps 3-4: cache revalidation; If-None-Match, when present, overrides the date. */
	if (req->if_none_match.n) {
		if (cachet_etag_list_matches(&req->if_none_match, v->etag, v->etag_len, false))
			return CACHET_COND_NOT_MODIFIED;
	} else if (get_date(req->if_modified_since, req->n_if_modified_since, &t) &&
	           v->last_modified <= t) {
		return CACHET_COND_NOT_MODIFIED;
	}
	return CACHET_COND_PROCEED;
}

bool cachet_conditional_if_range(const struct cachet_request *req,
                                 const struct cachet_validators *v)
{
	struct cachet_span s = req->if_range;
	int64_t t;

	if (req->n_if_range == 0)
		return true;
	if (req->n_if_range != 1)
		return false;
	s = cachet_span_trim_ows(s);
	/* An entity-tag starts with DQUOTE or "W/"; an HTTP-date with a day name. A weak tag
	 * fails the strong comparison, as §13.1.5 requires. */
	if ((s.len && s.p[0] == '"') || (s.len > 1 && s.p[0] == 'W' && s.p[1] == '/'))
		return cachet_etag_equal(s.p, s.len, v->etag, v->etag_len, true);
	return cachet_httpdate_parse(s.p, s.len, &t) == 0 && t == v->last_modified;
}
