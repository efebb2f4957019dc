/* encoding.h - content codings: Accept-Encoding negotiation (RFC 9110 §12.5.3) and their names. */
#ifndef CACHET_ENCODING_H
#define CACHET_ENCODING_H

#include "cachet/span.h"

/** The content codings cachet can serve; a value is also a bit index in an "available" mask. */
enum cachet_coding {
	CACHET_CODING_IDENTITY,
	CACHET_CODING_GZIP,
	CACHET_CODING_BR,
	CACHET_CODING_ZSTD,
	CACHET_CODING_COUNT
};

/**
 * Picks the coding to send for a resource whose precompressed variants are the bits
 * (1u << coding) of available (identity is always available, whether its bit is set or not).
 * accept is the Accept-Encoding field, its lines read as one comma-separated list.
 *
 * The chosen coding is the available one with the highest weight q > 0; ties go to the one that
 * comes first in preference[0..n_pref) (a NULL preference means zstd, br, gzip, identity).
 * Codings missing from preference are not chosen, except identity, which then ranks last.
 * Matching is case-insensitive; "x-gzip" means gzip; unknown codings are ignored; "*" gives
 * its weight to every coding not listed by name.
 *
 * Identity is acceptable unless the list refuses it ("identity;q=0", or "*;q=0" with no
 * identity element). When identity is acceptable only by that default it weighs the least
 * possible (q=0.001), so a client that lists some coding gets it.
 *
 * Decisions:
 *  - No Accept-Encoding (accept->n == 0) -> identity. An empty field value -> identity.
 *  - A known coding whose weight is malformed ("gzip;q=2", "br;q=0.5x", other parameters) is
 *    taken as q=0: refused, even through "*", because we cannot tell what the client meant.
 *    An element that is not a token at all is skipped.
 *  - A coding listed more than once gets its lowest weight (any refusal wins).
 *  - Lines beyond CACHET_FIELD_LINES_MAX were not kept (accept->dropped > 0): identity, since
 *    a lost line might have refused the coding we would pick.
 *  - Nothing acceptable is available -> identity anyway, not 406: RFC 9110 §12.5.3 allows it,
 *    and for a static asset an uncompressed body beats an error page.
 * Returns an enum cachet_coding value.
 */
unsigned cachet_encoding_negotiate(const struct cachet_field_list *accept, unsigned available,
                                   const enum cachet_coding *preference, unsigned n_pref);

/**
 * The token for c as sent in Content-Encoding and accepted in lists: "identity", "gzip", "br",
 * "zstd"; NULL for a value out of range. Callers must not send "identity" in Content-Encoding.
 */
const char *cachet_encoding_name(enum cachet_coding c);

/**
 * The file-name suffix of c's precompressed variant: ".gz", ".br", ".zst", and "" for identity
 * (the file itself); NULL for a value out of range. Use it to look for "x.css.br" next to "x.css".
 */
const char *cachet_encoding_suffix(enum cachet_coding c);

/**
 * Parses a NUL-terminated list of coding names, such as the value of "--compress zstd,br,gzip",
 * into out[0..cap) in the order given, which then serves as the preference for negotiation.
 * Names are those of cachet_encoding_name(), compared case-insensitively, with optional OWS
 * around each. Returns the count (0 for an empty or all-blank string); -EINVAL for an unknown
 * name, an empty element ("gzip,,br") or a name given twice; -ENOSPC when out is too small
 * (never with cap >= CACHET_CODING_COUNT).
 */
int cachet_encoding_parse_list(const char *list, enum cachet_coding *out, unsigned cap);

#endif
