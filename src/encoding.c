/* encoding.c - Accept-Encoding negotiation (RFC 9110 §12.5.3) and coding names. */
#include "cachet/encoding.h"

#include "cachet/chars.h"
#include "cachet/span.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Weights are kept in thousandths: q=1 is 1000, q=0.001 is 1. */
#define Q_ONE 1000
/* The weight of an identity nobody mentioned: acceptable, but below anything listed. */
#define Q_IMPLICIT 1

static const char *const names[CACHET_CODING_COUNT] = {"identity", "gzip", "br", "zstd"};
static const char *const suffixes[CACHET_CODING_COUNT] = {"", ".gz", ".br", ".zst"};

static const enum cachet_coding default_preference[] = {CACHET_CODING_ZSTD, CACHET_CODING_BR,
                                                        CACHET_CODING_GZIP, CACHET_CODING_IDENTITY};

/* What the list said about each coding and about "*". */
struct weights {
	unsigned q[CACHET_CODING_COUNT];
	bool listed[CACHET_CODING_COUNT];
	unsigned star_q;
	bool star_listed;
};

/* The element's coding: a real one, "*", or one we do not know. */
#define TOK_STAR    CACHET_CODING_COUNT
#define TOK_UNKNOWN (CACHET_CODING_COUNT + 1)

const char *cachet_encoding_name(enum cachet_coding c)
{
	return (unsigned)c < CACHET_CODING_COUNT ? names[c] : NULL;
}

const char *cachet_encoding_suffix(enum cachet_coding c)
{
	return (unsigned)c < CACHET_CODING_COUNT ? suffixes[c] : NULL;
}

/* Maps a coding token to its enum value, TOK_STAR or TOK_UNKNOWN. */
static unsigned classify(struct cachet_span tok)
{
	unsigned k;

	if (tok.len == 1 && tok.p[0] == '*')
		return TOK_STAR;
	if (cachet_span_ieq(tok, "x-gzip"))
		return CACHET_CODING_GZIP;
	for (k = 0; k < CACHET_CODING_COUNT; k++) {
		if (cachet_span_ieq(tok, names[k]))
			return k;
	}
	return TOK_UNKNOWN;
}

/* Reads qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); -1 when malformed. */
static int parse_qvalue(struct cachet_span s)
{
	int q, scale = 100;
	size_t i;

	if (s.len == 0 || (s.p[0] != '0' && s.p[0] != '1'))
		return -1;
	q = (s.p[0] - '0') * Q_ONE;
	if (s.len == 1)
		return q;
	if (s.p[1] != '.' || s.len > 5)
		return -1;
	for (i = 2; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		q += (s.p[i] - '0') * scale;
		scale /= 10;
	}
	return q <= Q_ONE ? q : -1;
}

/* Reads what follows the coding token: nothing (q=1) or exactly OWS ";" OWS "q=" qvalue. */
static int parse_weight(struct cachet_span rest)
{
	rest = cachet_span_trim_ows(rest);
	if (rest.len == 0)
		return Q_ONE;
	if (rest.p[0] != ';')
		return -1;
	rest.p++;
	rest.len--;
	rest = cachet_span_trim_ows(rest);
	if (rest.len < 2 || cachet_char_lower(rest.p[0]) != 'q' || rest.p[1] != '=')
		return -1;
	rest.p += 2;
	rest.len -= 2;
	return parse_qvalue(rest);
}

/* Notes weight q for token kind k; a coding listed twice keeps its lowest weight. */
static void record(struct weights *w, unsigned k, unsigned q)
{
	unsigned *slot = k == TOK_STAR ? &w->star_q : &w->q[k];
	bool *seen = k == TOK_STAR ? &w->star_listed : &w->listed[k];

	if (!*seen || q < *slot)
		*slot = q;
	*seen = true;
}

static void read_element(struct weights *w, struct cachet_span e)
{
	struct cachet_span tok = {e.p, 0};
	unsigned k;
	int q;

	while (tok.len < e.len && cachet_char_is_tchar(e.p[tok.len]))
		tok.len++;
	if (tok.len == 0)
		return;
	k = classify(tok);
	if (k == TOK_UNKNOWN)
		return;
	e.p += tok.len;
	e.len -= tok.len;
	q = parse_weight(e);
	record(w, k, q < 0 ? 0 : (unsigned)q);
}

static void read_line(struct weights *w, struct cachet_span line)
{
	size_t start = 0, i;

	for (i = 0; i <= line.len; i++) {
		struct cachet_span e = {line.p + start, i - start};

		if (i < line.len && line.p[i] != ',')
			continue;
		e = cachet_span_trim_ows(e);
		if (e.len)
			read_element(w, e);
		start = i + 1;
	}
}

/* The weight the list gives coding k, named or through "*" or by identity's default. */
static unsigned weight_of(const struct weights *w, unsigned k)
{
	if (w->listed[k])
		return w->q[k];
	if (w->star_listed)
		return w->star_q;
	return k == CACHET_CODING_IDENTITY ? Q_IMPLICIT : 0;
}

/* Scans preference in order; a later coding must weigh strictly more to displace an earlier one. */
static unsigned choose(const struct weights *w, unsigned available, const enum cachet_coding *pref,
                       unsigned n_pref)
{
	unsigned best = CACHET_CODING_IDENTITY, best_q = 0, i;

	available |= 1u << CACHET_CODING_IDENTITY;
	for (i = 0; i < n_pref; i++) {
		unsigned k = (unsigned)pref[i], q;

		if (k >= CACHET_CODING_COUNT || !(available & (1u << k)))
			continue;
		q = weight_of(w, k);
		if (q > best_q) {
			best = k;
			best_q = q;
		}
	}
	/* Identity left out of preference still competes, last; if it was in, this is a no-op. */
	if (weight_of(w, CACHET_CODING_IDENTITY) > best_q)
		best = CACHET_CODING_IDENTITY;
	return best;
}

unsigned cachet_encoding_negotiate(const struct cachet_field_list *accept, unsigned available,
                                   const enum cachet_coding *preference, unsigned n_pref)
{
	struct weights w;
	unsigned i;

	if (accept->n == 0 || accept->dropped)
		return CACHET_CODING_IDENTITY;
	if (!preference) {
		preference = default_preference;
		n_pref = sizeof(default_preference) / sizeof(default_preference[0]);
	}
	memset(&w, 0, sizeof(w));
	for (i = 0; i < accept->n && i < CACHET_FIELD_LINES_MAX; i++)
		read_line(&w, accept->line[i]);
	return choose(&w, available, preference, n_pref);
}

/* Reads one name of a --compress list; -EINVAL when unknown or already in out[0..n). */
static int parse_name(struct cachet_span s, const enum cachet_coding *out, unsigned n)
{
	unsigned k = classify(cachet_span_trim_ows(s)), i;

	if (k >= CACHET_CODING_COUNT || cachet_span_ieq(cachet_span_trim_ows(s), "x-gzip"))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (out[i] == (enum cachet_coding)k)
			return -EINVAL;
	}
	return (int)k;
}

int cachet_encoding_parse_list(const char *list, enum cachet_coding *out, unsigned cap)
{
	struct cachet_span all = {list, strlen(list)};
	size_t start = 0, i;
	unsigned n = 0;

	if (cachet_span_trim_ows(all).len == 0)
		return 0;
	for (i = 0; i <= all.len; i++) {
		struct cachet_span s = {list + start, i - start};
		int k;

		if (i < all.len && list[i] != ',')
			continue;
		k = parse_name(s, out, n);
		if (k < 0)
			return k;
		if (n == cap)
			return -ENOSPC;
		out[n++] = (enum cachet_coding)k;
		start = i + 1;
	}
	return (int)n;
}
