/* path.c - request-target -> normalized path: decoding and dot-segment removal in one pass, so
 * that the path checked is exactly the path used. */
#include "cachet/path.h"

#include "cachet/chars.h"
#include "cachet/span.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Longest file-name component on Linux (NAME_MAX); a longer one cannot name a file. */
#define SEGMENT_MAX 255

/* The output under construction: out[0..len) holds "/seg/seg" (empty for the root). */
struct builder {
	char *out;
	size_t cap;
	size_t len;
	/*
	 * Segments that did not fit in out. They may still be popped by a later "..", so running
	 * out of room is only an error if some of them remain at the end.
	 */
	size_t overflow;
};

/*
 * Finds where the path of an absolute-form target starts (RFC 9112 §3.2.2): "http" or "https",
 * "://", a non-empty authority up to '/', '?', '#' or the end. Returns the offset, or -1.
 */
static long absolute_path_start(const char *t, size_t len)
{
	const struct cachet_span s = {t, len};
	size_t i;

	if (cachet_span_iprefix(s, "https://"))
		i = 8;
	else if (cachet_span_iprefix(s, "http://"))
		i = 7;
	else
		return -1;
	if (i == len || t[i] == '/' || t[i] == '?' || t[i] == '#')
		return -1; /* an http(s) URI must have a host */
	while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
		i++;
	return (long)i;
}

/* Pops the last segment; false if there is none (a ".." above ROOT). */
static bool pop_segment(struct builder *b)
{
	if (b->overflow) {
		b->overflow--;
		return true;
	}
	if (b->len == 0)
		return false;
	while (b->out[--b->len] != '/')
		;
	return true;
}

static void push_segment(struct builder *b, const char *seg, size_t n)
{
	/* Room for '/', the segment and the final NUL. */
	if (b->overflow || b->cap < 2 || b->len + 1 + n > b->cap - 1) {
		b->overflow++;
		return;
	}
	b->out[b->len++] = '/';
	memcpy(b->out + b->len, seg, n);
	b->len += n;
}

/* Ends one decoded segment: resolves "." and "..", drops empty ones ("//"). */
static int end_segment(struct builder *b, const char *seg, size_t n)
{
	if (n == 0 || (n == 1 && seg[0] == '.'))
		return 0;
	if (n == 2 && seg[0] == '.' && seg[1] == '.')
		return pop_segment(b) ? 0 : -EINVAL;
	push_segment(b, seg, n);
	return 0;
}

/* Decodes one byte at p[*i..end), advancing *i. Returns the byte (0..255) or -EINVAL. */
static int decode_byte(const char *p, size_t *i, size_t end)
{
	int c = (unsigned char)p[*i];

	if (c == '%') {
		int hi, lo;

		if (end - *i < 3)
			return -EINVAL;
		hi = cachet_char_hex_value(p[*i + 1]);
		lo = cachet_char_hex_value(p[*i + 2]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		c = hi << 4 | lo;
		*i += 2;
	}
	(*i)++;
	/* Control bytes have no business in a file name and could fool logs and terminals. */
	if (c < 0x20 || c == 0x7f)
		return -EINVAL;
	return c;
}

static int finish(struct builder *b, bool trailing_slash)
{
	if (b->overflow)
		return -ENAMETOOLONG;
	if (b->len == 0 || trailing_slash) {
		if (b->len + 2 > b->cap)
			return -ENAMETOOLONG;
		b->out[b->len++] = '/';
	}
	b->out[b->len] = '\0';
	return (int)b->len;
}

/* Walks p[0..end) (which starts with '/') segment by segment. */
static int normalize(const char *p, size_t end, struct builder *b)
{
	char seg[SEGMENT_MAX];
	size_t n = 0;
	size_t i = 0;
	int err;

	while (i < end) {
		int c = decode_byte(p, &i, end);

		if (c < 0)
			return c;
		if (c == '/') { /* raw or %2F: either way a separator */
			err = end_segment(b, seg, n);
			if (err)
				return err;
			n = 0;
			continue;
		}
		if (n == SEGMENT_MAX)
			return -ENAMETOOLONG;
		seg[n++] = (char)c;
	}
	/* The last segment: a trailing "/", "/." or "/.." names a directory. */
	err = end_segment(b, seg, n);
	if (err)
		return err;
	return finish(b, n == 0 || (n == 1 && seg[0] == '.') ||
	                     (n == 2 && seg[0] == '.' && seg[1] == '.'));
}

int cachet_path_normalize(const char *target, size_t len, char *out, size_t outcap)
{
	struct builder b = {.out = out, .cap = outcap, .len = 0, .overflow = 0};
	size_t start = 0, end;

	if (len == 0)
		return -EINVAL;
	if (target[0] != '/') {
		long s = absolute_path_start(target, len);

		if (s < 0)
			return -EINVAL;
		start = (size_t)s;
	}
	/* The query and any fragment are not part of the path; cut them before decoding. */
	for (end = start; end < len && target[end] != '?' && target[end] != '#'; end++)
		;
	if (start == end) /* absolute-form with an empty path: "http://host?q" */
		return finish(&b, false);
	return normalize(target + start, end - start, &b);
}
