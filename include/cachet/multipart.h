/* multipart.h - multipart/byteranges bodies (RFC 9110 §14.6): several ranges of one
 * representation in one 206. Only the framing is built here (boundary, part headers, close
 * delimiter, lengths); the ranges' bytes are sent straight from store memory by the worker. */
#ifndef CACHET_MULTIPART_H
#define CACHET_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachet/range.h"
#include "cachet/store.h"

/** Longest boundary: "cachet-" and up to 32 alphanumerics of the ETag. */
#define CACHET_MULTIPART_BOUNDARY_MAX 39
/** Longest Content-Type value of a multipart response: the media type, "; boundary=", boundary. */
#define CACHET_MULTIPART_TYPE_MAX (sizeof("multipart/byteranges; boundary=") - 1 + 39)

/**
 * What a multipart/byteranges response sends: the representation's bytes to take the ranges
 * from, and how they are framed. rep and content_type point into the store generation the
 * response was chosen from: whoever sends the parts keeps that generation pinned until the last
 * one has gone.
 */
struct cachet_multipart {
	const struct cachet_repr *rep;
	const char *content_type; /* the representation's, repeated in each part's header */
	struct cachet_range_set set;
	uint64_t body_len; /* the whole multipart body: every part and the close delimiter */
	uint8_t boundary_len;
	char boundary[CACHET_MULTIPART_BOUNDARY_MAX + 1];
};

/**
 * Fills mp for the ranges in set (at least two) of rep. The boundary is "cachet-" followed by the
 * ETag's letters and digits: it changes with the content, and a file that contains its own
 * hash's digits after "--cachet-" is not a practical worry. Returns false when rep's ETag gives
 * no boundary (then the Range is to be ignored).
 */
bool cachet_multipart_plan(struct cachet_multipart *mp, const struct cachet_repr *rep,
                           const char *content_type, const struct cachet_range_set *set);

/**
 * Writes what goes before part i's bytes into dst: CRLF, "--" boundary, CRLF, the part's
 * Content-Type and Content-Range, and the empty line. Returns the length, or 0 when cap is too
 * small (CACHET_MULTIPART_PART_HEAD_MAX plus the content type's length is always enough).
 */
size_t cachet_multipart_part_head(const struct cachet_multipart *mp, unsigned i, char *dst,
                                  size_t cap);
/** Fixed part of a part head's length, the content type excluded. */
#define CACHET_MULTIPART_PART_HEAD_MAX                                                             \
	(4 + CACHET_MULTIPART_BOUNDARY_MAX + 2 + 14 + 2 + 15 + CACHET_RANGE_FORMAT_MAX + 4)

/** Writes the close delimiter (CRLF "--" boundary "--" CRLF) into dst; length or 0 as above. */
size_t cachet_multipart_close(const struct cachet_multipart *mp, char *dst, size_t cap);

/** Writes "multipart/byteranges; boundary=..." (no NUL) into dst, room for
 *  CACHET_MULTIPART_TYPE_MAX bytes. Returns the length. */
size_t cachet_multipart_type(const struct cachet_multipart *mp, char *dst);

#endif
