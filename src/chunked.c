/* chunked.c - a byte-at-a-time state machine over the chunked coding; chunk data is skipped in
 * one step, so a large body costs one call per receive, not per byte. */
#include "cachet/chunked.h"

#include "cachet/chars.h"

#include <stdbool.h>
#include <string.h>

enum state {
	S_SIZE_FIRST, /* at the first HEXDIG of chunk-size */
	S_SIZE,       /* in chunk-size */
	S_SIZE_BWS,   /* whitespace after chunk-size: only ";" may follow */
	S_EXT,        /* in chunk-ext, up to CR */
	S_SIZE_LF,    /* CR seen at the end of the size line */
	S_DATA,       /* in chunk-data */
	S_DATA_CR,    /* chunk-data done, CRLF expected */
	S_DATA_LF,
	S_TRAILER_START, /* at the start of a trailer line, or of the final CRLF */
	S_TRAILER_LINE,  /* in a trailer field line, up to CR */
	S_TRAILER_LF,
	S_FINAL_LF, /* CR of the final CRLF seen */
	S_DONE,
};

void cachet_chunked_init(struct cachet_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = S_SIZE_FIRST;
}

int cachet_chunked_skip(struct cachet_chunked *c, const char *buf, size_t len, size_t *used)
{
	size_t i = 0;
	int rc = CACHET_CHUNKED_MORE;

	while (i < len && rc == CACHET_CHUNKED_MORE) {
		unsigned char ch = (unsigned char)buf[i];

		if (c->state == S_DATA) { /* the only state that consumes more than a byte */
			size_t k = len - i < c->left ? len - i : (size_t)c->left;
			i += k;
			c->left -= k;
			if (c->left == 0)
				c->state = S_DATA_CR;
			continue;
		}
		/* Every other state is inside a line: bound it, and the trailer section too. */
		if (c->state <= S_SIZE_LF || c->state >= S_TRAILER_START) {
			if (++c->line > CACHET_CHUNKED_LINE_MAX)
				break;
			if (c->state >= S_TRAILER_START &&
			    ++c->section > CACHET_CHUNKED_TRAILER_MAX)
				break;
		}
		switch (c->state) {
		case S_SIZE_FIRST:
		case S_SIZE: {
			int d = cachet_char_hex_value((char)ch);
			if (d >= 0) {
				if (c->left > (UINT64_MAX >> 4))
					goto error; /* does not fit in 64 bits */
				c->left = (c->left << 4) | (uint64_t)d;
				c->state = S_SIZE;
				break;
			}
			if (c->state == S_SIZE_FIRST)
				goto error; /* chunk-size is 1*HEXDIG */
			if (ch == ';')
				c->state = S_EXT;
			else if (ch == ' ' || ch == '\t')
				c->state = S_SIZE_BWS;
			else if (ch == '\r')
				c->state = S_SIZE_LF;
			else
				goto error;
			break;
		}
		case S_SIZE_BWS: /* BWS ";" chunk-ext-name ...: whitespace must lead to an extension
		                  */
			if (ch == ';')
				c->state = S_EXT;
			else if (ch != ' ' && ch != '\t')
				goto error;
			break;
		case S_EXT:
			if (ch == '\r')
				c->state = S_SIZE_LF;
			else if (cachet_char_is_field_ctl((char)ch)) /* CR was handled above */
				goto error;
			break;
		case S_SIZE_LF:
			if (ch != '\n')
				goto error;
			c->line = 0;
			c->state = c->left ? S_DATA : S_TRAILER_START; /* size 0: last-chunk */
			break;
		case S_DATA_CR:
			if (ch != '\r')
				goto error;
			c->state = S_DATA_LF;
			break;
		case S_DATA_LF:
			if (ch != '\n')
				goto error;
			c->state = S_SIZE_FIRST;
			break;
		case S_TRAILER_START:
			if (ch == '\r')
				c->state = S_FINAL_LF;
			else if (cachet_char_is_tchar((char)ch)) /* a field name's first byte */
				c->state = S_TRAILER_LINE;
			else
				goto error; /* obs-fold, or not a field line */
			break;
		case S_TRAILER_LINE:
			if (ch == '\r')
				c->state = S_TRAILER_LF;
			else if (cachet_char_is_field_ctl((char)ch))
				goto error;
			break;
		case S_TRAILER_LF:
			if (ch != '\n')
				goto error;
			c->line = 0;
			c->state = S_TRAILER_START;
			break;
		case S_FINAL_LF:
			if (ch != '\n')
				goto error;
			c->state = S_DONE;
			rc = CACHET_CHUNKED_DONE;
			break;
		default: /* S_DONE: nothing more belongs to this body */
			goto error;
		}
		i++;
	}
	if (rc == CACHET_CHUNKED_MORE && i < len)
		goto error; /* a line or the trailer section ran over its bound */
	*used = i;
	return rc;
error:
	*used = i;
	return CACHET_CHUNKED_ERROR;
}
