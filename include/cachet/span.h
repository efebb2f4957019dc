/* span.h - a borrowed slice of bytes; the type every parser in cachet hands out. */
#ifndef CACHET_SPAN_H
#define CACHET_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cachet/chars.h"

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

/** The span starts with `lower`, a lower-case literal, ignoring ASCII case. */
static inline bool cachet_span_iprefix(struct cachet_span s, const char *lower)
{
	size_t n = strlen(lower);

	if (s.len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (cachet_char_lower(s.p[i]) != lower[i])
			return false;
	}
	return true;
}

/** The span is `lower`, a lower-case literal, ignoring ASCII case (RFC 9110 §5.1: field names,
 *  codings, connection options are case-insensitive). */
static inline bool cachet_span_ieq(struct cachet_span s, const char *lower)
{
	return s.len == strlen(lower) && cachet_span_iprefix(s, lower);
}

/** Appends a line of a list-valued field (If-None-Match, Accept-Encoding, ...); lines beyond
 *  CACHET_FIELD_LINES_MAX are counted, not kept, so the caller can refuse or ignore them. */
static inline void cachet_field_list_add(struct cachet_field_list *l, struct cachet_span v)
{
	if (l->n < CACHET_FIELD_LINES_MAX)
		l->line[l->n++] = v;
	else
		l->dropped++;
}

/** A single-valued field keeps its first line; *count lets the caller ignore a repeated one. */
static inline void cachet_field_set_single(struct cachet_span *slot, unsigned *count,
                                           struct cachet_span v)
{
	if ((*count)++ == 0)
		*slot = v;
}

/**
 * Reads the 1*DIGIT at the start of s into *out. Returns the digits read (> 0), 0 when s does
 * not start with a digit, -1 when the value does not fit in 64 bits (*out then untouched).
 * Callers that need the whole span to be the number compare the result with s.len.
 */
static inline long cachet_span_scan_u64(struct cachet_span s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < s.len && cachet_char_is_digit(s.p[i])) {
		unsigned d = (unsigned)(s.p[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		i++;
	}
	if (i > 0)
		*out = v;
	return (long)i;
}

#endif
