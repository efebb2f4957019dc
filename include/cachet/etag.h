/* etag.h - entity tags: made from content bytes with XXH3, compared per RFC 9110 §8.8.3. */
#ifndef CACHET_ETAG_H
#define CACHET_ETAG_H

#include <stdbool.h>
#include <stddef.h>

#include "cachet/span.h"

/** Room for any ETag cachet makes, quotes and variant suffix included, plus a NUL. */
#define CACHET_ETAG_MAX 48

/**
 * Writes the strong ETag of data[0..len) into out: a double quote, 16 lowercase hex digits of
 * XXH3-64, a double quote, NUL. The same bytes give the same tag on any machine, whatever the
 * file's mtime or inode. Returns the tag's length (18).
 */
size_t cachet_etag_from_bytes(const void *data, size_t len, char out[CACHET_ETAG_MAX]);

/**
 * Compares two entity-tags (each with optional W/ prefix and quotes). Strong comparison: both
 * strong and opaque-tags equal. Weak comparison: opaque-tags equal, W/ ignored.
 */
bool cachet_etag_equal(const char *a, size_t alen, const char *b, size_t blen, bool strong);

/**
 * Evaluates a list header (If-None-Match with strong=false, If-Match with strong=true) against
 * the current representation's tag. "*" matches (the resource exists). Lines are read as one
 * comma-separated list; empty list elements are skipped; a malformed element ends the scan
 * without a match, so a broken header can only ever cost a full response, never a wrong 304.
 */
bool cachet_etag_list_matches(const struct cachet_field_list *list, const char *etag,
                              size_t etag_len, bool strong);

#endif
