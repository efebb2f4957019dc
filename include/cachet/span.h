/* span.h - a borrowed slice of bytes; the type every parser in cachet hands out. */
#ifndef CACHET_SPAN_H
#define CACHET_SPAN_H

#include <stddef.h>

/** A view into memory owned by someone else (usually a receive buffer). Never NUL-terminated. */
struct cachet_span {
	const char *p;
	size_t len;
};

/** Upper bound on field lines kept for one list-valued header; extra lines are counted, not kept. */
#define CACHET_FIELD_LINES_MAX 8

/**
 * A list-valued header that may arrive on several field lines (RFC 9110 §5.3): the lines are
 * kept apart and are to be read as if joined with commas.
 */
struct cachet_field_list {
	struct cachet_span line[CACHET_FIELD_LINES_MAX];
	unsigned n;	  /* lines kept in line[] */
	unsigned dropped; /* lines seen beyond CACHET_FIELD_LINES_MAX */
};

#endif
