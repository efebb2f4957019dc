/* etag.c - entity tags: generation from content with XXH3-64, comparison and list matching
 * per RFC 9110 §8.8.3 and §13.1.1/§13.1.2. */
#include "cachet/etag.h"

#include <stdint.h>
#include <string.h>

#include <xxhash.h>

size_t cachet_etag_from_bytes(const void *data, size_t len, char out[CACHET_ETAG_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = XXH3_64bits(data, len);
	int i;

	out[0] = '"';
	for (i = 16; i >= 1; i--) {
		out[i] = hex[h & 0xf];
		h >>= 4;
	}
	out[17] = '"';
	out[18] = '\0';
	return 18;
}

/* etagc = %x21 / %x23-7E / obs-text: any visible byte but DQUOTE, plus obs-text. */
static bool is_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/*
 * Reads one entity-tag at s[*pos..len). On success advances *pos past the closing quote and
 * returns the opaque-tag (quotes included) in *opaque and whether it was weak in *weak.
 */
static bool scan_tag(const char *s, size_t len, size_t *pos, struct cachet_span *opaque, bool *weak)
{
	size_t i = *pos;
	size_t start;

	*weak = false;
	if (len - i >= 2 && s[i] == 'W' && s[i + 1] == '/') {
		*weak = true;
		i += 2;
	}
	if (i >= len || s[i] != '"')
		return false;
	start = i++;
	while (i < len && is_etagc((unsigned char)s[i]))
		i++;
	if (i >= len || s[i] != '"')
		return false;
	i++;
	opaque->p = s + start;
	opaque->len = i - start;
	*pos = i;
	return true;
}

/* Parses a whole string as exactly one entity-tag. */
static bool parse_tag(const char *s, size_t len, struct cachet_span *opaque, bool *weak)
{
	size_t pos = 0;

	return scan_tag(s, len, &pos, opaque, weak) && pos == len;
}

static bool opaque_equal(const struct cachet_span *a, const struct cachet_span *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

bool cachet_etag_equal(const char *a, size_t alen, const char *b, size_t blen, bool strong)
{
	struct cachet_span oa, ob;
	bool wa, wb;

	if (!parse_tag(a, alen, &oa, &wa) || !parse_tag(b, blen, &ob, &wb))
		return false;
	if (strong && (wa || wb))
		return false;
	return opaque_equal(&oa, &ob);
}

/* "*" counts only as the entire field value: one non-empty line holding just "*". */
static bool is_star(const struct cachet_field_list *list)
{
	bool star = false;
	unsigned i;

	for (i = 0; i < list->n; i++) {
		struct cachet_span t = cachet_span_trim_ows(list->line[i]);

		if (t.len == 0)
			continue;
		if (star || t.len != 1 || t.p[0] != '*')
			return false;
		star = true;
	}
	return star && list->dropped == 0;
}

/* Result of scanning one line: a match, the end of the line, or a malformed element. */
enum scan_result { SCAN_MATCH, SCAN_END, SCAN_BAD };

static enum scan_result scan_line(struct cachet_span line, const struct cachet_span *want,
                                  bool want_weak, bool strong)
{
	size_t pos = 0;

	for (;;) {
		struct cachet_span opaque;
		bool weak;

		/* Empty elements and the OWS around them are skipped. */
		while (pos < line.len && (cachet_span_is_ows(line.p[pos]) || line.p[pos] == ','))
			pos++;
		if (pos == line.len)
			return SCAN_END;
		if (!scan_tag(line.p, line.len, &pos, &opaque, &weak))
			return SCAN_BAD;
		while (pos < line.len && cachet_span_is_ows(line.p[pos]))
			pos++;
		if (pos < line.len && line.p[pos] != ',')
			return SCAN_BAD;
		if (opaque_equal(&opaque, want) && !(strong && (weak || want_weak)))
			return SCAN_MATCH;
	}
}

/* The usual request repeats our own tag verbatim; spot that before any parsing. */
static bool fast_match(const struct cachet_field_list *list, const char *etag, size_t etag_len,
                       bool strong)
{
	const struct cachet_span *l = &list->line[0];
	struct cachet_span opaque;
	bool weak;

	if (list->n != 1 || l->len != etag_len || memcmp(l->p, etag, etag_len) != 0)
		return false;
	return parse_tag(etag, etag_len, &opaque, &weak) && !(strong && weak);
}

bool cachet_etag_list_matches(const struct cachet_field_list *list, const char *etag,
                              size_t etag_len, bool strong)
{
	struct cachet_span want;
	bool want_weak;
	unsigned i;

	if (fast_match(list, etag, etag_len, strong))
		return true;
	if (is_star(list))
		return true;
	if (!parse_tag(etag, etag_len, &want, &want_weak))
		return false;
	for (i = 0; i < list->n; i++) {
		enum scan_result r = scan_line(list->line[i], &want, want_weak, strong);

		if (r == SCAN_MATCH)
			return true;
		if (r == SCAN_BAD)
			return false;
	}
	return false;
}
