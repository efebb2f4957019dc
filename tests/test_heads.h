/* test_heads.h - the heads a file's answers get, as text, for the unit tests that check what a
 * generation says (a file's heads are not stored whole: response.c copies them together). */
#ifndef CACHET_TEST_HEADS_H
#define CACHET_TEST_HEADS_H

#include <stdlib.h>
#include <string.h>

#include "cachet/response.h"
#include "cachet/store.h"

#define TEST_HEADS_DATE "Thu, 01 Jan 1970 00:00:00 GMT"

/* The head written for reply r, dated TEST_HEADS_DATE, without the blank line that ends it,
 * NUL-terminated in buf (cap bytes). Returns its length. */
static inline size_t reply_head(const struct cachet_reply *r, char *buf, size_t cap)
{
	char head[CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX];
	const struct cachet_request req = {.keep_alive = true, .minor_version = 1};
	size_t n = cachet_response_write_head(r, &req, false, TEST_HEADS_DATE, head);
	/* abort(), not assert_*(): cmocka's assertions are not noreturn, so at -O2 GCC follows the
	 * failed-check path into the callers' printf of the result (-Wformat-overflow). */
	if (n < 2 || n - 2 >= cap || memcmp(head + n - 2, "\r\n", 2) != 0)
		abort();
	memcpy(buf, head, n - 2);
	buf[n - 2] = '\0';
	return n - 2;
}

/* The head of e's answer with status (200, 206 or 304) in coding (a representation it has), as
 * reply_head() writes it; returns buf. */
static inline const char *file_head(const struct cachet_entry *e, unsigned coding, int status,
                                    char *buf, size_t cap)
{
	if (!e || !e->repr || !(e->available & (1u << coding)))
		abort();
	const struct cachet_reply r = {
	    .entry = e, .rep = cachet_entry_repr(e, coding), .status = status};
	reply_head(&r, buf, cap);
	return buf;
}

#endif
