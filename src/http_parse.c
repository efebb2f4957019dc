/* http_parse.c - strict HTTP/1.1 request-head parser (RFC 9112, RFC 9110).
 *
 * The head is located first (the "\r\n\r\n" that ends it) and only a complete head is parsed in
 * full, so bytes arriving one at a time cost one pass for the search. Until then only the limits
 * are enforced, so that a peer cannot make cachet buffer an endless head. Nothing here allocates:
 * the result is spans into the caller's buffer.
 */
#include "cachet/http_parse.h"

#include "cachet/chars.h"
#include "cachet/span.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

/* Longest method accepted; RFC 9110 §9.1 suggests 501 for methods longer than any implemented. */
#define METHOD_MAX 32
/* Longest possible valid request line, CRLF included: method SP target SP "HTTP/x.y" CRLF. */
#define REQUEST_LINE_MAX (METHOD_MAX + 1 + CACHET_TARGET_MAX + 1 + 8 + 2)
/* Empty lines tolerated before the request line (RFC 9112 §2.2 asks for at least one). */
#define LEADING_EMPTY_LINES_MAX 8

/* The class tables are laid out 16 bytes to a row; keep clang-format off them. */
/* clang-format off */
/* tchar (RFC 9110 §5.6.2): the bytes of a token, i.e. method and field-name. */
static const unsigned char tchar[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00-0x0f: controls (HTAB is 0x09) */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10-0x1f: controls */
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 0x20-0x2f: SP ! " # $ % & ' ( ) * + , - . / */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30-0x3f: 0 1 2 3 4 5 6 7 8 9 : ; < = > ? */
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40-0x4f: @ A B C D E F G H I J K L M N O */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 0x50-0x5f: P Q R S T U V W X Y Z [ \ ] ^ _ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60-0x6f: ` a b c d e f g h i j k l m n o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, /* 0x70-0x7f: p q r s t u v w x y z { | } ~ DEL */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80-0x8f: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90-0x9f: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0-0xaf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0-0xbf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0-0xcf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0-0xdf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0-0xef: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0-0xff: obs-text */
};

/* Bytes allowed in a field value (RFC 9110 §5.5): SP, HTAB, VCHAR and obs-text. */
static const unsigned char field_vchar[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, /* 0x00-0x0f: controls (HTAB is 0x09) */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10-0x1f: controls */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: SP ! " # $ % & ' ( ) * + , - . / */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30-0x3f: 0 1 2 3 4 5 6 7 8 9 : ; < = > ? */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40-0x4f: @ A B C D E F G H I J K L M N O */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x50-0x5f: P Q R S T U V W X Y Z [ \ ] ^ _ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60-0x6f: ` a b c d e f g h i j k l m n o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70-0x7f: p q r s t u v w x y z { | } ~ DEL */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80-0x8f: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90-0x9f: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0-0xaf: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0-0xbf: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0-0xcf: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0-0xdf: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0-0xef: obs-text */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0-0xff: obs-text */
};

/* Bytes allowed in a request-target (RFC 9112 §3.2): visible ASCII only; the path module
 * checks the finer URI grammar. */
static const unsigned char target_char[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00-0x0f: controls (HTAB is 0x09) */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10-0x1f: controls */
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: SP ! " # $ % & ' ( ) * + , - . / */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30-0x3f: 0 1 2 3 4 5 6 7 8 9 : ; < = > ? */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40-0x4f: @ A B C D E F G H I J K L M N O */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x50-0x5f: P Q R S T U V W X Y Z [ \ ] ^ _ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60-0x6f: ` a b c d e f g h i j k l m n o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70-0x7f: p q r s t u v w x y z { | } ~ DEL */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80-0x8f: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90-0x9f: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0-0xaf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0-0xbf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0-0xcf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0-0xdf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0-0xef: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0-0xff: obs-text */
};

/* Bytes of a Host reg-name or IPv4 address (RFC 3986 §3.2.2): unreserved, sub-delims, '%'. */
static const unsigned char reg_name_char[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00-0x0f: controls (HTAB is 0x09) */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10-0x1f: controls */
	0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x20-0x2f: SP ! " # $ % & ' ( ) * + , - . / */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, /* 0x30-0x3f: 0 1 2 3 4 5 6 7 8 9 : ; < = > ? */
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40-0x4f: @ A B C D E F G H I J K L M N O */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, /* 0x50-0x5f: P Q R S T U V W X Y Z [ \ ] ^ _ */
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60-0x6f: ` a b c d e f g h i j k l m n o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, /* 0x70-0x7f: p q r s t u v w x y z { | } ~ DEL */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80-0x8f: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90-0x9f: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0-0xaf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0-0xbf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0-0xcf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0-0xdf: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0-0xef: obs-text */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0-0xff: obs-text */
};
/* clang-format on */

/* Where the parser stands inside the head: [p, end) is what is left to read. */
struct cursor {
	const char *p;
	const char *end;
};

/* What the field lines said that is only judged once all of them are read. */
struct field_flags {
	bool host;
	bool transfer_encoding; /* the field is present */
	bool te_chunked;        /* chunked was in it */
	bool te_after_chunked;  /* a coding followed chunked (chunked again included) */
	bool te_other;          /* a coding other than chunked was in it */
	bool conn_close;
	bool conn_keep_alive;
};

enum field_id {
	FIELD_OTHER,
	FIELD_HOST,
	FIELD_CONNECTION,
	FIELD_CONTENT_LENGTH,
	FIELD_TRANSFER_ENCODING,
	FIELD_IF_NONE_MATCH,
	FIELD_IF_MATCH,
	FIELD_ACCEPT_ENCODING,
	FIELD_IF_MODIFIED_SINCE,
	FIELD_IF_UNMODIFIED_SINCE,
	FIELD_IF_RANGE,
	FIELD_RANGE,
	FIELD_REFERER,
	FIELD_USER_AGENT,
	FIELD_EXPECT,
};

static const struct {
	const char *name; /* lower case */
	enum field_id id;
} known_fields[] = {
    {"host", FIELD_HOST},
    {"connection", FIELD_CONNECTION},
    {"content-length", FIELD_CONTENT_LENGTH},
    {"transfer-encoding", FIELD_TRANSFER_ENCODING},
    {"if-none-match", FIELD_IF_NONE_MATCH},
    {"if-match", FIELD_IF_MATCH},
    {"accept-encoding", FIELD_ACCEPT_ENCODING},
    {"if-modified-since", FIELD_IF_MODIFIED_SINCE},
    {"if-unmodified-since", FIELD_IF_UNMODIFIED_SINCE},
    {"if-range", FIELD_IF_RANGE},
    {"range", FIELD_RANGE},
    {"referer", FIELD_REFERER},
    {"user-agent", FIELD_USER_AGENT},
    {"expect", FIELD_EXPECT},
};

static bool is_tchar(char c)
{
	return tchar[(unsigned char)c];
}

/* Line ends must be CRLF (RFC 9112 §2.2); a bare CR or LF is an error wherever it shows. */
static bool at_crlf(const struct cursor *c)
{
	return c->end - c->p >= 2 && c->p[0] == '\r' && c->p[1] == '\n';
}

static struct cachet_span trim_ows(const char *p, const char *end)
{
	return cachet_span_trim_ows((struct cachet_span){.p = p, .len = (size_t)(end - p)});
}

/**
 * Splits the next element off a comma-separated list (RFC 9110 §5.6.1), trimmed of OWS.
 * Returns false when the list is used up; empty elements are handed out as empty spans.
 */
static bool next_element(struct cursor *c, struct cachet_span *elem)
{
	const char *comma;

	if (c->p >= c->end)
		return false;
	comma = memchr(c->p, ',', (size_t)(c->end - c->p));
	if (!comma)
		comma = c->end;
	*elem = trim_ows(c->p, comma);
	c->p = comma < c->end ? comma + 1 : c->end;
	return true;
}

/**
 * Skips the empty lines a client may send before the request line (RFC 9112 §2.2).
 * Returns 0 with *start set, CACHET_PARSE_INCOMPLETE when the buffer ends inside them, or 400.
 */
static int skip_empty_lines(const char *buf, size_t len, size_t *start)
{
	size_t i = 0;

	for (unsigned n = 0; i < len && (buf[i] == '\r' || buf[i] == '\n'); n++) {
		if (buf[i] == '\n' || n == LEADING_EMPTY_LINES_MAX)
			return 400; /* bare LF, or a peer that only ever sends empty lines */
		if (i + 1 == len)
			return CACHET_PARSE_INCOMPLETE;
		if (buf[i + 1] != '\n')
			return 400; /* bare CR */
		i += 2;
	}
	*start = i;
	return i == len ? CACHET_PARSE_INCOMPLETE : 0;
}

/**
 * Finds the end of the head (just past "\r\n\r\n") in buf[start, len), or returns 0. Bytes that
 * an earlier call saw (last_len) were already searched, except the last 3, which might begin
 * the terminator.
 */
static size_t find_head_end(const char *buf, size_t len, size_t start, size_t last_len)
{
	size_t i = last_len > start + 3 ? last_len - 3 : start;

	while (i + 4 <= len) {
		const char *cr = memchr(buf + i, '\r', len - 3 - i);

		if (!cr)
			return 0;
		i = (size_t)(cr - buf);
		if (memcmp(cr, "\r\n\r\n", 4) == 0)
			return i + 4;
		i++;
	}
	return 0;
}

enum cachet_method cachet_http_method_id(struct cachet_span m)
{
	static const char *const other[] = {"POST",    "PUT",   "DELETE", "CONNECT",
	                                    "OPTIONS", "TRACE", "PATCH"};

	/* Methods are case-sensitive (RFC 9110 §9.1). */
	if (m.len == 3 && memcmp(m.p, "GET", 3) == 0)
		return CACHET_METHOD_GET;
	if (m.len == 4 && memcmp(m.p, "HEAD", 4) == 0)
		return CACHET_METHOD_HEAD;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		if (m.len == strlen(other[i]) && memcmp(m.p, other[i], m.len) == 0)
			return CACHET_METHOD_OTHER;
	}
	return CACHET_METHOD_UNKNOWN;
}

/** Reads "method SP": a non-empty token of at most METHOD_MAX bytes. Returns 0 or a status. */
static int parse_method(struct cursor *c, struct cachet_request *req)
{
	const char *start = c->p;

	while (c->p < c->end && is_tchar(*c->p))
		c->p++;
	req->method = (struct cachet_span){.p = start, .len = (size_t)(c->p - start)};
	if (req->method.len == 0)
		return 400;
	if (req->method.len > METHOD_MAX)
		return 501;
	if (c->p == c->end || *c->p != ' ')
		return 400;
	c->p++;
	req->method_id = cachet_http_method_id(req->method);
	return 0;
}

/** Reads "request-target SP" as sent; only the byte class and the length are checked here. */
static int parse_target(struct cursor *c, struct cachet_request *req)
{
	const char *start = c->p;

	while (c->p < c->end && target_char[(unsigned char)*c->p])
		c->p++;
	req->target = (struct cachet_span){.p = start, .len = (size_t)(c->p - start)};
	if (req->target.len == 0)
		return 400;
	if (req->target.len > CACHET_TARGET_MAX)
		return 414;
	if (c->p == c->end || *c->p != ' ')
		return 400; /* a control byte, a second space, or whitespace inside the target */
	c->p++;
	return 0;
}

/** Reads "HTTP/" DIGIT "." DIGIT CRLF (RFC 9112 §2.3); any major version but 1 gets 505. */
static int parse_version(struct cursor *c, struct cachet_request *req)
{
	const char *v = c->p;

	if (c->end - v < 10 || memcmp(v, "HTTP/", 5) != 0 || !cachet_char_is_digit(v[5]) ||
	    v[6] != '.' || !cachet_char_is_digit(v[7]) || v[8] != '\r' || v[9] != '\n')
		return 400;
	if (v[5] != '1')
		return 505;
	/* HTTP/1.x with x > 1 is answered as 1.1, the highest minor we speak (RFC 9110 §6.2). */
	req->minor_version = v[7] == '0' ? 0 : 1;
	c->p += 10;
	return 0;
}

static int parse_request_line(struct cursor *c, struct cachet_request *req)
{
	int st = parse_method(c, req);

	if (st == 0)
		st = parse_target(c, req);
	if (st == 0)
		st = parse_version(c, req);
	return st;
}

/**
 * Validates a Host value: uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2). An empty
 * value is allowed; it is what a client sends when the target has no authority.
 */
static bool host_valid(struct cachet_span h)
{
	const char *p = h.p;
	const char *end = h.p + h.len;

	if (p < end && *p == '[') {
		/* IP-literal: hex digits, ':' and '.', or an IPvFuture; reg-name bytes cover both.
		 */
		for (p++; p < end && *p != ']'; p++) {
			if (!reg_name_char[(unsigned char)*p] && *p != ':')
				return false;
		}
		if (p == end)
			return false;
		p++;
	} else {
		while (p < end && reg_name_char[(unsigned char)*p])
			p++;
	}
	if (p < end && *p == ':') {
		p++;
		while (p < end && cachet_char_is_digit(*p))
			p++; /* port = *DIGIT, so "host:" is valid too */
	}
	return p == end;
}

/** Notes "close" and "keep-alive" among a Connection line's options (RFC 9110 §7.6.1). */
static int apply_connection(struct cachet_span v, struct field_flags *flags)
{
	struct cursor c = {.p = v.p, .end = v.p + v.len};
	struct cachet_span opt;

	while (next_element(&c, &opt)) {
		for (size_t i = 0; i < opt.len; i++) {
			if (!is_tchar(opt.p[i]))
				return 400;
		}
		if (cachet_span_ieq(opt, "close"))
			flags->conn_close = true;
		else if (cachet_span_ieq(opt, "keep-alive"))
			flags->conn_keep_alive = true;
	}
	return 0;
}

/** Reads a span that is 1*DIGIT into *out; false on anything else or on overflow. */
static bool parse_decimal(struct cachet_span s, uint64_t *out)
{
	long n = cachet_span_scan_u64(s, out);

	return n > 0 && (size_t)n == s.len;
}

/**
 * Reads a Content-Length line. A list of identical values, on one line or several, is that value
 * (RFC 9112 §6.3 item 5); differing or malformed values make the framing unknowable, so 400.
 */
static int apply_content_length(struct cachet_span v, struct cachet_request *req)
{
	struct cursor c = {.p = v.p, .end = v.p + v.len};
	struct cachet_span elem;
	bool any = false;

	while (next_element(&c, &elem)) {
		uint64_t n;

		if (elem.len == 0)
			continue; /* empty list elements are to be ignored (RFC 9110 §5.6.1) */
		if (!parse_decimal(elem, &n))
			return 400;
		if (req->has_content_length && n != req->content_length)
			return 400;
		req->has_content_length = true;
		req->content_length = n;
		any = true;
	}
	return any ? 0 : 400;
}

/**
 * Reads a Transfer-Encoding line; several lines are one list, in order (RFC 9112 §6.1). A server
 * that drops request content only needs to know that chunked is there, last, and alone: it frames
 * the body. What is wrong is judged in finish_head(), once every line is in.
 */
static void apply_transfer_encoding(struct cachet_span v, struct field_flags *flags)
{
	struct cursor c = {.p = v.p, .end = v.p + v.len};
	struct cachet_span elem;

	flags->transfer_encoding = true;
	while (next_element(&c, &elem)) {
		if (elem.len == 0)
			continue; /* empty list elements are to be ignored (RFC 9110 §5.6.1) */
		if (flags->te_chunked)
			flags->te_after_chunked = true;
		if (cachet_span_ieq(elem, "chunked"))
			flags->te_chunked = true;
		else
			flags->te_other = true;
	}
}

static enum field_id field_id(struct cachet_span name)
{
	for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++) {
		if (cachet_span_ieq(name, known_fields[i].name))
			return known_fields[i].id;
	}
	return FIELD_OTHER;
}

/** Records one field line in req, or in flags what is only judged at the end. Returns 0 or 400. */
static int apply_field(struct cachet_span name, struct cachet_span v, struct cachet_request *req,
                       struct field_flags *flags)
{
	switch (field_id(name)) {
	case FIELD_HOST:
		if (flags->host || !host_valid(v))
			return 400; /* RFC 9112 §3.2: more than one Host, or an invalid one */
		flags->host = true;
		req->host = v;
		return 0;
	case FIELD_CONNECTION:
		return apply_connection(v, flags);
	case FIELD_CONTENT_LENGTH:
		return apply_content_length(v, req);
	case FIELD_TRANSFER_ENCODING:
		apply_transfer_encoding(v, flags);
		return 0;
	case FIELD_IF_NONE_MATCH:
		cachet_field_list_add(&req->if_none_match, v);
		return 0;
	case FIELD_IF_MATCH:
		cachet_field_list_add(&req->if_match, v);
		return 0;
	case FIELD_ACCEPT_ENCODING:
		cachet_field_list_add(&req->accept_encoding, v);
		return 0;
	case FIELD_IF_MODIFIED_SINCE:
		cachet_field_set_single(&req->if_modified_since, &req->n_if_modified_since, v);
		return 0;
	case FIELD_IF_UNMODIFIED_SINCE:
		cachet_field_set_single(&req->if_unmodified_since, &req->n_if_unmodified_since, v);
		return 0;
	case FIELD_IF_RANGE:
		cachet_field_set_single(&req->if_range, &req->n_if_range, v);
		return 0;
	case FIELD_RANGE:
		cachet_field_set_single(&req->range, &req->n_range, v);
		return 0;
	case FIELD_REFERER:
		if (!req->referer.len)
			req->referer = v;
		return 0;
	case FIELD_USER_AGENT:
		if (!req->user_agent.len)
			req->user_agent = v;
		return 0;
	case FIELD_EXPECT: /* 100-continue is the only expectation defined (RFC 9110 §10.1.1) */
		if (v.len > 0 && req->expect != CACHET_EXPECT_OTHER)
			req->expect = cachet_span_ieq(v, "100-continue") ? CACHET_EXPECT_CONTINUE
			                                                 : CACHET_EXPECT_OTHER;
		return 0;
	case FIELD_OTHER:
		break;
	}
	return 0;
}

/**
 * Reads one field line: field-name ":" OWS field-value OWS CRLF (RFC 9112 §5). The name must
 * touch the colon (§5.1) and a line may not start with whitespace (obs-fold, §5.2).
 */
static int parse_field_line(struct cursor *c, struct cachet_span *name, struct cachet_span *value)
{
	const char *start = c->p;
	const char *v;

	while (c->p < c->end && is_tchar(*c->p))
		c->p++;
	if (c->p == start || c->p == c->end || *c->p != ':')
		return 400;
	*name = (struct cachet_span){.p = start, .len = (size_t)(c->p - start)};
	v = ++c->p;
	while (c->p < c->end && field_vchar[(unsigned char)*c->p])
		c->p++;
	if (!at_crlf(c))
		return 400; /* a control byte in the value, or a bare CR or LF */
	*value = trim_ows(v, c->p);
	c->p += 2;
	return 0;
}

/** Reads field lines up to and including the empty line that ends the head. */
static int parse_fields(struct cursor *c, struct cachet_request *req, struct field_flags *flags)
{
	for (unsigned lines = 0;; lines++) {
		struct cachet_span name, value;
		int st;

		if (at_crlf(c)) {
			c->p += 2;
			return 0;
		}
		if (lines == CACHET_HEADER_LINES_MAX)
			return 431;
		st = parse_field_line(c, &name, &value);
		if (st == 0)
			st = apply_field(name, value, req, flags);
		if (st)
			return st;
	}
}

/**
 * Judges what needs every field line: framing (RFC 9112 §6.1, §6.3), Host (§3.2) and
 * persistence (§9.3).
 */
static int finish_head(struct cachet_request *req, const struct field_flags *flags)
{
	if (flags->transfer_encoding) {
		/* Both framings at once is a smuggling attempt; in HTTP/1.0, TE is faulty framing;
		 * without chunked as the final coding the body's end cannot be found (§6.3 item 4).
		 */
		if (req->has_content_length || req->minor_version == 0 || !flags->te_chunked ||
		    flags->te_after_chunked)
			return 400;
	}
	if (req->minor_version == 1 && !flags->host)
		return 400;
	if (flags->te_other)
		return 501; /* gzip, chunked: framed, but a coding cachet does not implement */
	req->chunked = flags->transfer_encoding;
	if (req->minor_version == 0)
		req->expect = CACHET_EXPECT_NONE; /* RFC 9110 §10.1.1: ignored in HTTP/1.0 */
	if (req->minor_version == 1)
		req->keep_alive = !flags->conn_close;
	else
		req->keep_alive = flags->conn_keep_alive && !flags->conn_close;
	return 0;
}

/** Parses a complete head in [c->p, c->end); on success c->p is just past its empty line. */
static int parse_head(struct cursor *c, struct cachet_request *req)
{
	struct field_flags flags = {0};
	int st = parse_request_line(c, req);

	if (st)
		return st;
	if (c->end - c->p > CACHET_HEADER_BYTES_MAX)
		return 431;
	st = parse_fields(c, req, &flags);
	return st ? st : finish_head(req, &flags);
}

/**
 * Looks for a bare CR or LF among the bytes that arrived since the last call (RFC 9112 §2.2), so
 * a head that can never end in "\r\n\r\n" is refused rather than waited for. A CR that ended
 * the previous bytes is looked at again with what follows it.
 */
static bool has_bare_cr_lf(const char *buf, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return true;
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return true;
	}
	return false;
}

static size_t count_lf(const char *p, const char *end, size_t stop_after)
{
	size_t n = 0;

	while (n <= stop_after && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/**
 * Enforces the limits on a head that has not ended yet, so an endless one is refused as soon
 * as it passes them rather than buffered. The request line is parsed once, when its LF arrives;
 * field lines are recounted only when a new LF arrives. Returns 0 or a status.
 */
static int check_partial(const char *buf, size_t start, size_t len, size_t last_len)
{
	const char *line = buf + start;
	const char *end = buf + len;
	size_t have = len - start;
	size_t m = 0;
	const char *lf;

	while (m < have && m <= METHOD_MAX && is_tchar(line[m]))
		m++;
	if (m > METHOD_MAX)
		return 501;
	if (has_bare_cr_lf(buf, last_len > start ? last_len - 1 : start, len))
		return 400;
	lf = memchr(line, '\n', have < REQUEST_LINE_MAX ? have : REQUEST_LINE_MAX);
	if (!lf)
		return have >= REQUEST_LINE_MAX ? 414 : 0;
	if (lf >= buf + last_len) {
		struct cachet_request scratch;
		struct cursor c = {.p = line, .end = lf + 1};
		int st = parse_request_line(&c, &scratch);

		if (st)
			return st;
	}
	if (end - (lf + 1) > CACHET_HEADER_BYTES_MAX)
		return 431;
	if (end > buf + last_len && memchr(buf + last_len, '\n', len - last_len) &&
	    count_lf(lf + 1, end, CACHET_HEADER_LINES_MAX) > CACHET_HEADER_LINES_MAX)
		return 431;
	return 0;
}

/* The reset below skips the three lists' line arrays in one go: they must stay together. */
static_assert(offsetof(struct cachet_request, if_match) ==
                  offsetof(struct cachet_request, if_none_match) + sizeof(struct cachet_field_list),
              "list fields are contiguous");
static_assert(offsetof(struct cachet_request, if_modified_since) ==
                  offsetof(struct cachet_request, accept_encoding) +
                      sizeof(struct cachet_field_list),
              "list fields are contiguous");

/* Clears what a parse reports, except the lines of the list fields: their counts say how many
 * are valid. Clearing those 384 bytes per request was 17% of the parser's time in the pipelined
 * 304 benchmark (perf annotate: rep stos). */
static void request_reset(struct cachet_request *req)
{
	size_t tail = offsetof(struct cachet_request, if_modified_since);

	memset(req, 0, offsetof(struct cachet_request, if_none_match));
	req->if_none_match.n = req->if_none_match.dropped = 0;
	req->if_match.n = req->if_match.dropped = 0;
	req->accept_encoding.n = req->accept_encoding.dropped = 0;
	memset((char *)req + tail, 0, sizeof(*req) - tail);
}

int cachet_http_parse_request(const char *buf, size_t len, size_t last_len,
                              struct cachet_request *req, int *status)
{
	size_t start = 0;
	int st;

	request_reset(req);
	if (last_len > len)
		last_len = len;
	st = skip_empty_lines(buf, len, &start);
	if (st == 0) {
		size_t head_end = find_head_end(buf, len, start, last_len);

		if (head_end == 0) {
			st = check_partial(buf, start, len, last_len);
			if (st == 0)
				return CACHET_PARSE_INCOMPLETE;
		} else {
			struct cursor c = {.p = buf + start, .end = buf + head_end};

			st = parse_head(&c, req);
			if (st == 0)
				return (int)(c.p - buf);
		}
	}
	if (st == CACHET_PARSE_INCOMPLETE)
		return st;
	*status = st;
	return CACHET_PARSE_ERROR;
}
