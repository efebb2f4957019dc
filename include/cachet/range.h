/* range.h - single byte-range requests (RFC 9110 §14.1-14.4) and their Content-Range values. */
#ifndef CACHET_RANGE_H
#define CACHET_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* Results of cachet_range_parse(). */
#define CACHET_RANGE_NONE          0 /* ignore the Range header: send the whole 200 */
#define CACHET_RANGE_OK            1 /* send 206 with bytes *first..*last (inclusive) */
#define CACHET_RANGE_UNSATISFIABLE 2 /* send 416, Content-Range: bytes, asterisk, /size */

/** Room for any Content-Range value cachet_range_format*() writes, NUL included. */
#define CACHET_RANGE_FORMAT_MAX 72

/**
 * Reads a Range field value v[0..len) (not NUL-terminated) against a representation of size
 * bytes; call it once a Range header is present and If-Range allows it (RFC 9110 §13.1.5).
 *
 * Only one range is served. A set of several ranges yields CACHET_RANGE_NONE and the whole
 * 200: RFC 9110 §14.2 lets a server ignore Range, multipart/byteranges is rarely worth its
 * cost for static files, and several servers answer the same way.
 *
 * CACHET_RANGE_NONE also covers: a unit other than "bytes" (compared case-insensitively), any
 * syntax error, first-pos > last-pos, and a number too big for uint64_t.
 * CACHET_RANGE_UNSATISFIABLE: first-pos >= size, the suffix "-0", or any range on an empty
 * representation. CACHET_RANGE_OK: *first and *last are set, last clipped to size - 1; a suffix
 * "-n" with n > size selects the whole representation.
 *
 * OWS is accepted around the value, around "=" and around list elements; empty list elements
 * ("bytes=0-5,") are skipped as RFC 9110 §5.6.1 asks. *first and *last are written only on OK.
 */
int cachet_range_parse(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last);

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

/**
 * Writes the Content-Range value of a 416 (RFC 9110 §14.4: "bytes ", an asterisk, "/", size)
 * and a NUL into out. Returns the length as cachet_range_format() does.
 */
size_t cachet_range_format_unsatisfied(char *out, size_t cap, uint64_t size);

#endif
