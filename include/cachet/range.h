/* range.h - byte-range requests (RFC 9110 §14.1-14.4) and their Content-Range values. */
#ifndef CACHET_RANGE_H
#define CACHET_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* Results of cachet_range_parse(). */
#define CACHET_RANGE_NONE          0 /* ignore the Range header: send the whole 200 */
#define CACHET_RANGE_OK            1 /* send 206 with the ranges of the set */
#define CACHET_RANGE_UNSATISFIABLE 2 /* send 416, Content-Range: bytes, asterisk, /size */

/** Most ranges served in one response; a Range header with more is ignored (the whole 200). */
#define CACHET_RANGES_MAX 16

/** Room for any Content-Range value cachet_range_format*() writes, NUL included. */
#define CACHET_RANGE_FORMAT_MAX 72

/** The satisfiable ranges of a request, in the order asked, each [first, last] inclusive. */
struct cachet_range_set {
	unsigned n;
	uint64_t first[CACHET_RANGES_MAX];
	uint64_t last[CACHET_RANGES_MAX];
};

/**
 * Reads a Range field value v[0..len) (not NUL-terminated) against a representation of size
 * bytes; call it once a Range header is present and If-Range allows it (RFC 9110 §13.1.5).
 *
 * CACHET_RANGE_OK: set holds the satisfiable ranges (1 to CACHET_RANGES_MAX), last clipped to
 * size - 1; a suffix "-n" with n > size selects the whole representation. Ranges that cannot be
 * satisfied (first-pos >= size, the suffix "-0") are left out as long as one can be
 * (RFC 9110 §14.1.1); if none can, or the representation is empty: CACHET_RANGE_UNSATISFIABLE.
 *
 * CACHET_RANGE_NONE, to be answered with the whole 200 (RFC 9110 §14.2 lets a server ignore
 * Range; §14.3 names these as signs of a broken client or an attack): a unit other than "bytes"
 * (compared case-insensitively), any syntax error, first-pos > last-pos, a number too big for
 * uint64_t, more than CACHET_RANGES_MAX ranges, and satisfiable ranges that overlap or are not
 * in ascending order (so the parts of a response never add up to more than the file).
 *
 * OWS is accepted around the value, around "=" and around list elements; empty list elements
 * ("bytes=0-5,") are skipped as RFC 9110 §5.6.1 asks. set->n is 0 unless OK.
 */
int cachet_range_parse(const char *v, size_t len, uint64_t size, struct cachet_range_set *set);

/**
 * Writes the Content-Range value of a 206, "bytes first-last/size", and a NUL into out. Built
 * by hand, without printf, because it runs on every range response. Returns the length written
 * (NUL excluded), or 0 with out left empty (if cap > 0) when cap is too small; a cap of
 * CACHET_RANGE_FORMAT_MAX is always enough.
 */
size_t cachet_range_format(char *out, size_t cap, uint64_t first, uint64_t last, uint64_t size);

/** Writes v in decimal and a NUL into out (a 206's Content-Length). Returns the length, or 0 when
 *  cap is too small, as cachet_range_format() does. */
size_t cachet_range_format_uint(char *out, size_t cap, uint64_t v);

#endif
