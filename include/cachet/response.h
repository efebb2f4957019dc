/* response.h - choosing the preformatted response for a parsed request, and writing its head.
 * Pure functions over an immutable store generation: no allocation, no formatting. */
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
 * A chosen response. head/body point into the store generation it was chosen from, so the caller
 * must keep that generation referenced until the bytes have been copied or sent.
 */
struct cachet_reply {
	const struct cachet_block *head;
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
 * Copies r's head into dst (room for r->head->len + CACHET_RESPONSE_TAIL_MAX), puts the current
 * Date in, and ends it with the Connection line the request calls for and the blank line. For a
 * multipart answer the block's Content-Type is replaced by the multipart one on the way.
 * Returns the bytes written.
 */
size_t cachet_response_write_head(const struct cachet_reply *r, const struct cachet_request *req,
                                  bool force_close, const char date[CACHET_HTTPDATE_LEN],
                                  char *dst);

#endif
