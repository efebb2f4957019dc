/* response.h - choosing the response for a parsed request, and writing its head from the parts
 * the store generation formatted at load. Pure functions over an immutable generation: no
 * allocation, no formatting on the answers of the hot path (200, 304). */
#ifndef CACHET_RESPONSE_H
#define CACHET_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachet/http_parse.h"
#include "cachet/httpdate.h"
#include "cachet/multipart.h"
#include "cachet/store.h"

/** Room for the per-request lines of a 206: Content-Range and Content-Length; for a multipart
 *  206, Content-Length and what the longer Content-Type adds. */
#define CACHET_RESPONSE_EXTRA_MAX 128

/** Most bytes cachet_response_write_head() may add to a block: the 206 lines, a Connection line
 *  and the blank line. */
#define CACHET_RESPONSE_TAIL_MAX                                                                   \
	(CACHET_RESPONSE_EXTRA_MAX + sizeof("Connection: keep-alive\r\n\r\n") - 1)

/**
 * A chosen response. head, entry, rep and body point into the store generation it was chosen
 * from, so the caller must keep that generation referenced until the bytes have been copied or
 * sent.
 */
struct cachet_reply {
	const struct cachet_block *head;  /* a whole block (errors, redirects, 416), or NULL: */
	const struct cachet_entry *entry; /* a file's answer (200, 206, 304), from its parts */
	const struct cachet_repr *rep;
	const unsigned char *body; /* NULL when there is no body to send (304, HEAD) */
	size_t body_len;
	int status;
	bool close; /* the connection is to be closed after this response */
	/* A 206 with several ranges: the body (parts, close delimiter) is for the caller to send,
	 * from this plan; head is the 206 block, its Content-Type replaced when written. */
	const struct cachet_multipart *multipart;
	uint8_t extra_len;
	char extra[CACHET_RESPONSE_EXTRA_MAX]; /* header lines added to the block (206 only) */
};

/**
 * Picks the response for req from st: normalizes the target, looks it up, checks the method,
 * evaluates the preconditions (RFC 9110 §13.2.2) and returns the block and body to send. This is
 * the request hot path: one path scan, one hash lookup, one ETag compare.
 *
 * mp is where the plan of a multipart/byteranges answer is written (r->multipart then points to
 * it); with mp NULL, a request for several ranges gets the whole 200. Only the identity
 * representation is sent in parts: for a coded one, Content-Encoding would read as applying to
 * the multipart body itself.
 */
void cachet_response_select(const struct cachet_store *st, const struct cachet_request *req,
                            struct cachet_reply *r, struct cachet_multipart *mp);

/** The response for a request the parser refused (status from cachet_http_parse_request()). */
void cachet_response_error(const struct cachet_store *st, int status, bool head_only,
                           struct cachet_reply *r);

/**
 * Writes r's head into dst (room for CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX) with the current
 * Date, and ends it with the Connection line the request calls for and the blank line. For a
 * multipart answer the Content-Type is replaced by the multipart one on the way.
 * Returns the bytes written.
 */
size_t cachet_response_write_head(const struct cachet_reply *r, const struct cachet_request *req,
                                  bool force_close, const char date[CACHET_HTTPDATE_LEN],
                                  char *dst);

/** Room cachet_response_write_h2() may need: a head of at most CACHET_BLOCK_MAX bytes of text as
 *  HPACK, where a line (4 bytes at the least) grows by 3 bytes at the most. */
#define CACHET_RESPONSE_H2_MAX (CACHET_BLOCK_MAX / 4 * 7)

/**
 * Writes the HTTP/2 header block of r (an answer without per-request lines: extra_len 0, no
 * multipart) into dst (room for CACHET_RESPONSE_H2_MAX): exactly what cachet_hpack_encode() makes
 * of the HTTP/1.1 head, without its Connection line. *date_off gets where the Date value starts
 * (UINT32_MAX: none), for a copy of the block to be dated again. Returns the bytes written.
 */
size_t cachet_response_write_h2(const struct cachet_reply *r, const char date[CACHET_HTTPDATE_LEN],
                                unsigned char *dst, uint32_t *date_off);

#endif
