/* chunked.h - skips a request body sent in the chunked transfer coding (RFC 9112 §7.1), as its
 * bytes arrive. cachet serves no method that takes content, so the body is framed and dropped,
 * never decoded into memory; what matters is finding exactly where it ends, so that the bytes
 * after it are read as the next request and none of the chunk data ever is. */
#ifndef CACHET_CHUNKED_H
#define CACHET_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/** Longest chunk-size line (size, extensions, CRLF) or trailer field line accepted. */
#define CACHET_CHUNKED_LINE_MAX 4096
/** Longest trailer section accepted, as for a request head (CACHET_HEADER_BYTES_MAX). */
#define CACHET_CHUNKED_TRAILER_MAX 16384

/** cachet_chunked_skip() results. */
#define CACHET_CHUNKED_MORE  0     /* every byte given was part of the body; it goes on */
#define CACHET_CHUNKED_DONE  1     /* the body ended inside the bytes given */
#define CACHET_CHUNKED_ERROR (-74) /* -EBADMSG: not a chunked body; the connection is to close */

/** Where a body stands. Zero it (or call cachet_chunked_init()) before the first byte. */
struct cachet_chunked {
	uint64_t left;    /* chunk-data bytes still to skip in the current chunk */
	uint32_t section; /* trailer section bytes so far */
	uint16_t line;    /* bytes in the current size or trailer line */
	uint8_t state;    /* private */
};

/** Readies c for a new body. */
void cachet_chunked_init(struct cachet_chunked *c);

/**
 * Skips the chunked body bytes at the start of buf[0..len), which may hold any part of it,
 * continuing from c. Sets *used to the bytes that belong to the body: all of len with
 * CACHET_CHUNKED_MORE, up to and including the CRLF that ends the trailer section with
 * CACHET_CHUNKED_DONE (what follows is the next request), and up to the offending byte with
 * CACHET_CHUNKED_ERROR.
 *
 * Strict, because a lenient chunk parser in front of a strict one is how requests get smuggled:
 * every line ends in CRLF (no bare LF or CR), chunk-size is 1*HEXDIG and must fit in 64 bits,
 * chunk extensions (skipped) and trailer fields (skipped) may hold no control character other
 * than HTAB, a trailer line must start with a token character (no obs-fold), and a size line or
 * trailer line longer than CACHET_CHUNKED_LINE_MAX or a trailer section longer than
 * CACHET_CHUNKED_TRAILER_MAX is an error. Chunk data is skipped unread, of any size.
 */
int cachet_chunked_skip(struct cachet_chunked *c, const char *buf, size_t len, size_t *used);

#endif
