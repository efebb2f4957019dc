/* hpack.c - stateless HPACK encoding of preformatted HTTP/1.1 blocks. Runs at load (and for the
 * rare answer whose head is made per request); never on the hot path, which copies the result. */
#include "cachet/hpack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/chars.h"
#include "cachet/span.h"

/* The static table's names (RFC 7541 Appendix A), each at its first index. */
static const char *const static_names[] = {
    NULL,
    ":authority",
    ":method",
    NULL,
    ":path",
    NULL,
    ":scheme",
    NULL,
    ":status",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
};

#define STATUS_NAME_INDEX 8
#define DATE_INDEX        33
#define DATE_LEN          29

/* Fields an HTTP/2 message must not carry (RFC 9113 §8.2.2), lowercase. */
static const char *const connection_fields[] = {"connection", "keep-alive", "proxy-connection",
                                                "transfer-encoding", "upgrade"};

size_t cachet_hpack_int(unsigned char *dst, uint8_t first, unsigned n, uint32_t v)
{
	uint32_t max = (1u << n) - 1;
	if (v < max) {
		dst[0] = (uint8_t)(first | v);
		return 1;
	}
	size_t k = 0;
	dst[k++] = (uint8_t)(first | max);
	v -= max;
	while (v >= 128) {
		dst[k++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
	dst[k++] = (uint8_t)v;
	return k;
}

static unsigned static_name_index(const char *name, size_t len)
{
	for (unsigned i = 1; i < sizeof(static_names) / sizeof(static_names[0]); i++)
		if (static_names[i] && strlen(static_names[i]) == len &&
		    memcmp(static_names[i], name, len) == 0)
			return i;
	return 0;
}

static bool is_connection_field(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(connection_fields) / sizeof(connection_fields[0]); i++)
		if (strlen(connection_fields[i]) == len &&
		    memcmp(connection_fields[i], name, len) == 0)
			return true;
	return false;
}

/* Appends one literal field without indexing (§6.2.2): the name by static index when it has one,
 * else as a literal; values are never Huffman-coded. Returns the new length or -E2BIG. */
static int put_field(unsigned char *dst, size_t at, size_t cap, const char *name, size_t nlen,
                     const char *val, size_t vlen, uint32_t *val_off)
{
	if (at + nlen + vlen + 18 > cap)
		return -E2BIG;
	unsigned idx = static_name_index(name, nlen);
	if (idx) {
		at += cachet_hpack_int(dst + at, 0x00, 4, idx);
	} else {
		dst[at++] = 0x00;
		at += cachet_hpack_int(dst + at, 0x00, 7, (uint32_t)nlen);
		memcpy(dst + at, name, nlen);
		at += nlen;
	}
	at += cachet_hpack_int(dst + at, 0x00, 7, (uint32_t)vlen);
	if (val_off)
		*val_off = (uint32_t)at;
	memcpy(dst + at, val, vlen);
	return (int)(at + vlen);
}

/* ":status" from the status line's three digits: an indexed field for the seven statuses the
 * static table has, else a literal with the indexed name. */
static int put_status(unsigned char *dst, size_t cap, const char *code)
{
	static const char indexed[][4] = {"200", "204", "206", "304", "400", "404", "500"};
	for (unsigned i = 0; i < sizeof(indexed) / sizeof(indexed[0]); i++)
		if (memcmp(code, indexed[i], 3) == 0) {
			dst[0] = (uint8_t)(0x80 | (STATUS_NAME_INDEX + i));
			return 1;
		}
	if (cap < 5)
		return -E2BIG;
	dst[0] = STATUS_NAME_INDEX;
	dst[1] = 3;
	memcpy(dst + 2, code, 3);
	return 5;
}

/* One "Name: value" line (without its CRLF) appended; connection-specific ones skipped. */
static int put_line(const char *line, size_t len, unsigned char *dst, size_t at, size_t cap,
                    uint32_t *date_off)
{
	const char *colon = memchr(line, ':', len);
	if (!colon || colon == line)
		return -EINVAL;
	size_t nlen = (size_t)(colon - line);
	char name[256];
	if (nlen >= sizeof(name))
		return -EINVAL;
	for (size_t i = 0; i < nlen; i++)
		name[i] = cachet_char_lower(line[i]);
	struct cachet_span val =
	    cachet_span_trim_ows((struct cachet_span){colon + 1, (size_t)(line + len - colon - 1)});
	const char *v = val.p, *end = val.p + val.len;
	if (is_connection_field(name, nlen))
		return (int)at;
	uint32_t voff;
	int n = put_field(dst, at, cap, name, nlen, v, (size_t)(end - v), &voff);
	if (n >= 0 && nlen == 4 && memcmp(name, "date", 4) == 0 && end - v == DATE_LEN)
		*date_off = voff;
	return n;
}

int cachet_hpack_encode(const char *text, size_t len, unsigned char *dst, size_t cap,
                        uint32_t *date_off)
{
	size_t off = 0;
	int at = 0;
	*date_off = UINT32_MAX;
	if (len >= 12 && memcmp(text, "HTTP/1.1 ", 9) == 0) {
		if (!cachet_char_is_digit(text[9]) || !cachet_char_is_digit(text[10]) ||
		    !cachet_char_is_digit(text[11]))
			return -EINVAL;
		at = put_status(dst, cap, text + 9);
		if (at < 0)
			return at;
		const char *eol = memchr(text, '\n', len);
		if (!eol)
			return -EINVAL;
		off = (size_t)(eol - text) + 1;
	}
	while (off < len) {
		const char *eol = memchr(text + off, '\n', len - off);
		if (!eol || eol == text + off || eol[-1] != '\r')
			return -EINVAL;
		size_t line_len = (size_t)(eol - 1 - (text + off));
		if (line_len == 0) /* the blank line ends the block */
			break;
		at = put_line(text + off, line_len, dst, (size_t)at, cap, date_off);
		if (at < 0)
			return at;
		off = (size_t)(eol - text) + 1;
	}
	return at;
}

int cachet_hpack_block_build(const char *text, size_t len, struct cachet_hpack_block *b)
{
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	size_t cap = CACHET_HPACK_BOUND(len, lines);
	unsigned char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	int n = cachet_hpack_encode(text, len, buf, cap, &b->date_off);
	if (n < 0) {
		free(buf);
		return n;
	}
	b->data = buf;
	b->len = (uint32_t)n;
	return 0;
}

void cachet_hpack_block_free(struct cachet_hpack_block *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}
