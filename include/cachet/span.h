/* span.h - a borrowed slice of bytes; the type every parser in cachet hands out. */
#ifndef CACHET_SPAN_H
#define CACHET_SPAN_H

#include <stdbool.h>
#include <stddef.h>

/** A view into memory owned by someone else (usually a receive buffer). Never NUL-terminated. */
struct cachet_span {
	const char *p;
	size_t len;
};

/** Upper bound on field lines kept for one list-valued header; extra lines are counted, not kept.
 */
#define CACHET_FIELD_LINES_MAX 8

/**
 * A list-valued header that may arrive on several field lines (RFC 9110 §5.3): the lines are
 * kept apart and are to be read as if joined with commas.
 */
struct cachet_field_list {
	struct cachet_span line[CACHET_FIELD_LINES_MAX];
	unsigned n;       /* lines kept in line[] */
	unsigned dropped; /* lines seen beyond CACHET_FIELD_LINES_MAX */
};

/** Optional whitespace (RFC 9110 §5.6.3): SP or HTAB. */
static inline bool cachet_span_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/** The span without leading and trailing OWS. */
static inline struct cachet_span cachet_span_trim_ows(struct cachet_span s)
{
	while (s.len && cachet_span_is_ows(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && cachet_span_is_ows(s.p[s.len - 1]))
		s.len--;
	return s;
}

#endif
