/* range.c - single byte-range parsing (RFC 9110 §14.1-14.4) and Content-Range formatting. */
#include "cachet/range.h"

#include "cachet/chars.h"
#include "cachet/span.h"

#include <stdbool.h>
#include <string.h>

/* Decimal digits of UINT64_MAX. */
#define U64_DIGITS 20

struct cursor {
	const char *p;
	size_t len;
	size_t i;
};

static void skip_ows(struct cursor *c)
{
	while (c->i < c->len && cachet_span_is_ows(c->p[c->i]))
		c->i++;
}

static bool at(const struct cursor *c, char ch)
{
	return c->i < c->len && c->p[c->i] == ch;
}

static struct cachet_span rest(const struct cursor *c)
{
	return (struct cachet_span){c->p + c->i, c->len - c->i};
}

/* Reads 1*DIGIT; false when there is none or the value does not fit in 64 bits. */
static bool scan_u64(struct cursor *c, uint64_t *out)
{
	long n = cachet_span_scan_u64(rest(c), out);

	if (n <= 0)
		return false;
	c->i += (size_t)n;
	return true;
}

/* Case-insensitive match of the range unit "bytes" followed by "=". */
static bool scan_unit(struct cursor *c)
{
	if (!cachet_span_iprefix(rest(c), "bytes"))
		return false;
	c->i += 5;
	skip_ows(c);
	if (!at(c, '='))
		return false;
	c->i++;
	return true;
}

/* One range-spec as written: first-pos "-" [last-pos], or "-" suffix-length. */
struct spec {
	bool suffix;
	bool open; /* "a-": no last-pos */
	uint64_t a, b;
};

static bool scan_spec(struct cursor *c, struct spec *s)
{
	s->suffix = at(c, '-');
	s->open = false;
	if (s->suffix) {
		c->i++;
		return scan_u64(c, &s->b);
	}
	if (!scan_u64(c, &s->a) || !at(c, '-'))
		return false;
	c->i++;
	if (c->i < c->len && cachet_char_is_digit(c->p[c->i]))
		return scan_u64(c, &s->b) && s->a <= s->b;
	s->open = true;
	return true;
}

static int resolve(const struct spec *s, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (size == 0)
		return CACHET_RANGE_UNSATISFIABLE;
	if (s->suffix) {
		if (s->b == 0)
			return CACHET_RANGE_UNSATISFIABLE;
		*first = s->b >= size ? 0 : size - s->b;
		*last = size - 1;
		return CACHET_RANGE_OK;
	}
	if (s->a >= size)
		return CACHET_RANGE_UNSATISFIABLE;
	*first = s->a;
	*last = (s->open || s->b >= size) ? size - 1 : s->b;
	return CACHET_RANGE_OK;
}

static int parse_set(const char *v, size_t len, uint64_t size, struct cachet_range_set *set)
{
	struct cursor c = {v, len, 0};
	unsigned specs = 0;

	set->n = 0;
	skip_ows(&c);
	if (!scan_unit(&c))
		return CACHET_RANGE_NONE;
	/* range-set: elements separated by commas; empty elements and OWS around them skipped */
	while (c.i < c.len) {
		struct spec s;
		uint64_t first, last;

		skip_ows(&c);
		if (at(&c, ',')) {
			c.i++;
			continue;
		}
		if (c.i == c.len)
			break;
		if (++specs > CACHET_RANGES_MAX || !scan_spec(&c, &s))
			return CACHET_RANGE_NONE;
		skip_ows(&c);
		if (c.i < c.len && !at(&c, ','))
			return CACHET_RANGE_NONE;
		if (resolve(&s, size, &first, &last) != CACHET_RANGE_OK)
			continue; /* unsatisfiable alone: the others may still be served */
		if (set->n && first <= set->last[set->n - 1])
			return CACHET_RANGE_NONE; /* overlapping or descending */
		set->first[set->n] = first;
		set->last[set->n] = last;
		set->n++;
	}
	if (specs == 0)
		return CACHET_RANGE_NONE;
	return set->n ? CACHET_RANGE_OK : CACHET_RANGE_UNSATISFIABLE;
}

int cachet_range_parse(const char *v, size_t len, uint64_t size, struct cachet_range_set *set)
{
	int rc = parse_set(v, len, size, set);

	if (rc != CACHET_RANGE_OK)
		set->n = 0;
	return rc;
}

/* Appends v in decimal at out[*pos]; the caller has checked the room. */
static void put_u64(char *out, size_t *pos, uint64_t v)
{
	char tmp[U64_DIGITS];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(tmp));
	while (n)
		out[(*pos)++] = tmp[--n];
}

static void put_str(char *out, size_t *pos, const char *s, size_t n)
{
	memcpy(out + *pos, s, n);
	*pos += n;
}

/* Decimal digits needed for v. */
static size_t digits(uint64_t v)
{
	size_t n = 1;

	while (v >= 10 && n < U64_DIGITS) {
		v /= 10;
		n++;
	}
	return n;
}

/* Empties out (when it has any room) and reports failure. */
static size_t too_small(char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	return 0;
}

size_t cachet_range_format(char *out, size_t cap, uint64_t first, uint64_t last, uint64_t size)
{
	size_t need = 6 + digits(first) + 1 + digits(last) + 1 + digits(size);
	size_t pos = 0;

	if (need >= cap)
		return too_small(out, cap);
	put_str(out, &pos, "bytes ", 6);
	put_u64(out, &pos, first);
	out[pos++] = '-';
	put_u64(out, &pos, last);
	out[pos++] = '/';
	put_u64(out, &pos, size);
	out[pos] = '\0';
	return pos;
}

size_t cachet_range_format_uint(char *out, size_t cap, uint64_t v)
{
	size_t pos = 0;

	if (digits(v) >= cap)
		return too_small(out, cap);
	put_u64(out, &pos, v);
	out[pos] = '\0';
	return pos;
}
