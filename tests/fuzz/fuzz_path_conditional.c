/* fuzz_path_conditional.c - libFuzzer target for cachet_path_normalize(),
 * cachet_conditional_evaluate() and cachet_conditional_if_range().
 *
 * Input: lines separated by '\n'. Line 0 is a request-target. Every later line starts with a tag
 * byte naming a field, the rest is its value (CR, NUL and any byte allowed):
 *   N  an If-None-Match line        M  an If-Match line
 *   S  If-Modified-Since            U  If-Unmodified-Since
 *   R  If-Range                     V  picks the validators: V0, V1, V2 (else from the size)
 * Field lines beyond CACHET_FIELD_LINES_MAX are counted as dropped, as the parser does. Every
 * value is copied into its own heap block of exactly its length, so an over-read is caught: the
 * fuzz build compiles the library itself with ASan (cachet_core_fuzz in meson.build); without
 * that, only reads made by this file would be checked.
 *
 * Path invariants: the result is a length or -EINVAL / -ENAMETOOLONG; a length fits the buffer,
 * the text is NUL-terminated there, starts with '/', has no "//", "/./", "/../", does not end in
 * "/." or "/..", holds no control byte; normalizing it again (when it holds no '%', '?', '#')
 * gives itself; a small buffer agrees with a large one.
 *
 * Conditional invariants (RFC 9110 §13.2.2, §13.1.5):
 *   - the result is one of the three enum values;
 *   - 412 only with If-Match or If-Unmodified-Since; 304 only with If-None-Match or
 *     If-Modified-Since; neither field family -> PROCEED;
 *   - If-Modified-Since is ignored when If-None-Match is present; If-Unmodified-Since when
 *     If-Match is present;
 *   - 412 exactly when steps 1-2 alone give 412 (If-None-Match / If-Modified-Since cannot cause
 *     or prevent it);
 *   - If-None-Match: * -> 304 unless steps 1-2 give 412; never a 412 they do not give;
 *   - If-Match: * or If-Match: <our tag> -> never 412 (If-Unmodified-Since then ignored);
 *     If-Match: W/<our tag> alone -> 412 (strong comparison);
 *   - If-None-Match: <our tag> or W/<our tag> -> 304 unless steps 1-2 give 412;
 *   - a single valid If-Modified-Since alone: 304 exactly when Last-Modified <= the date;
 *     a single valid If-Unmodified-Since alone: 412 exactly when Last-Modified > the date;
 *   - If-Range: absent -> true; several lines -> false; true only for our strong tag or a date
 *     equal to Last-Modified; our tag and our Last-Modified as IMF-fixdate -> true; W/<tag> ->
 *     false.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/conditional.h"
#include "cachet/etag.h"
#include "cachet/http_parse.h"
#include "cachet/httpdate.h"
#include "cachet/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* ------------------------------------------------------------------------------------------ */
/* path */

static int has(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int normalize_into(const char *t, size_t len, size_t cap, char **out)
{
	char *o = malloc(cap ? cap : 1);
	int rc;

	check(o != NULL);
	rc = cachet_path_normalize(t, len, o, cap);
	check(rc == -EINVAL || rc == -ENAMETOOLONG || rc >= 0);
	if (rc >= 0) {
		size_t n = (size_t)rc;

		check(n < cap);
		check(o[n] == '\0');
		check(strlen(o) == n);
		check(n >= 1 && o[0] == '/');
		check(!has(o, "//") && !has(o, "/./") && !has(o, "/../"));
		check(!ends_with(o, n, "/.") && !ends_with(o, n, "/.."));
		for (size_t i = 0; i < n; i++)
			check((unsigned char)o[i] >= 0x20 && o[i] != 0x7f);
	}
	*out = o;
	return rc;
}

static void fuzz_path(const char *t, size_t len, unsigned small)
{
	char *big, *tiny, *again;
	int rc = normalize_into(t, len, CACHET_PATH_MAX + 1, &big);

	/* The same target with a small buffer: the same result when it fits, else ENAMETOOLONG. */
	int rc2 = normalize_into(t, len, small, &tiny);
	if (rc >= 0 && (size_t)rc < small) {
		check(rc2 == rc && memcmp(big, tiny, (size_t)rc + 1) == 0);
	} else if (rc >= 0) {
		check(rc2 == -ENAMETOOLONG);
	} else if (rc == -EINVAL) {
		/* A '..' above ROOT hidden by overflowed segments still fails somehow. */
		check(rc2 < 0);
	}
	free(tiny);

	/* Idempotent: what the store holds normalizes to itself. */
	if (rc >= 0 && !strpbrk(big, "%?#")) {
		int rc3 = normalize_into(big, (size_t)rc, CACHET_PATH_MAX + 1, &again);

		check(rc3 == rc && memcmp(again, big, (size_t)rc + 1) == 0);
		free(again);
	}
	free(big);
}

/* ------------------------------------------------------------------------------------------ */
/* conditional */

/* Heap copies of the field values, freed at the end of each input. */
#define MAX_VALUES 4096
/* Field lines read from one input; the rest is ignored (room is left for the checks' own). */
#define MAX_LINES 1024
static char *values[MAX_VALUES];
static unsigned n_values;

static struct cachet_span dup_span(const char *p, size_t len)
{
	char *c;

	check(n_values < MAX_VALUES);
	c = malloc(len ? len : 1);
	check(c != NULL);
	memcpy(c, p, len);
	values[n_values++] = c;
	return (struct cachet_span){c, len};
}

static void free_values(void)
{
	for (unsigned i = 0; i < n_values; i++)
		free(values[i]);
	n_values = 0;
}

static void list_add(struct cachet_field_list *l, struct cachet_span s)
{
	if (l->n < CACHET_FIELD_LINES_MAX)
		l->line[l->n++] = s;
	else
		l->dropped++;
}

static void list_set1(struct cachet_field_list *l, const char *s)
{
	memset(l, 0, sizeof *l);
	list_add(l, dup_span(s, strlen(s)));
}

static enum cachet_cond eval(const struct cachet_request *r, const struct cachet_validators *v)
{
	enum cachet_cond c = cachet_conditional_evaluate(r, v);

	check(c == CACHET_COND_PROCEED || c == CACHET_COND_NOT_MODIFIED ||
	      c == CACHET_COND_PRECONDITION_FAILED);
	return c;
}

static int single_date(struct cachet_span s, unsigned n, int64_t *t)
{
	return n == 1 && cachet_httpdate_parse(s.p, s.len, t) == 0;
}

static void fuzz_conditional(const struct cachet_request *req, const struct cachet_validators *v)
{
	struct cachet_request r, steps12;
	enum cachet_cond c = eval(req, v), c12;
	int has_pre = req->if_match.n || req->n_if_unmodified_since;
	int has_rev = req->if_none_match.n || req->n_if_modified_since;
	char wtag[CACHET_ETAG_MAX + 4];
	int64_t t;

	if (c == CACHET_COND_PRECONDITION_FAILED)
		check(has_pre);
	if (c == CACHET_COND_NOT_MODIFIED)
		check(has_rev);
	if (!has_pre && !has_rev)
		check(c == CACHET_COND_PROCEED);

	/* Deterministic. */
	check(eval(req, v) == c);

	/* Steps 1-2 alone. */
	steps12 = *req;
	memset(&steps12.if_none_match, 0, sizeof steps12.if_none_match);
	steps12.n_if_modified_since = 0;
	steps12.if_modified_since = (struct cachet_span){NULL, 0};
	c12 = eval(&steps12, v);
	check(c12 != CACHET_COND_NOT_MODIFIED);
	check((c == CACHET_COND_PRECONDITION_FAILED) == (c12 == CACHET_COND_PRECONDITION_FAILED));

	/* If-Modified-Since ignored when If-None-Match is present. */
	if (req->if_none_match.n) {
		r = *req;
		r.n_if_modified_since = 0;
		r.if_modified_since = (struct cachet_span){NULL, 0};
		check(eval(&r, v) == c);
	}
	/* If-Unmodified-Since ignored when If-Match is present. */
	if (req->if_match.n) {
		r = *req;
		r.n_if_unmodified_since = 0;
		r.if_unmodified_since = (struct cachet_span){NULL, 0};
		check(eval(&r, v) == c);
	}

	/* If-None-Match: * -> 304 unless steps 1-2 fail. */
	r = *req;
	list_set1(&r.if_none_match, "*");
	check(eval(&r, v) == (c12 == CACHET_COND_PRECONDITION_FAILED
	                          ? CACHET_COND_PRECONDITION_FAILED
	                          : CACHET_COND_NOT_MODIFIED));
	/* If-None-Match: our tag, or its weak form -> the same. */
	r = *req;
	memset(&r.if_none_match, 0, sizeof r.if_none_match);
	list_add(&r.if_none_match, dup_span(v->etag, v->etag_len));
	check(eval(&r, v) == (c12 == CACHET_COND_PRECONDITION_FAILED
	                          ? CACHET_COND_PRECONDITION_FAILED
	                          : CACHET_COND_NOT_MODIFIED));
	wtag[0] = 'W';
	wtag[1] = '/';
	memcpy(wtag + 2, v->etag, v->etag_len);
	r = *req;
	memset(&r.if_none_match, 0, sizeof r.if_none_match);
	list_add(&r.if_none_match, dup_span(wtag, v->etag_len + 2));
	check(eval(&r, v) == (c12 == CACHET_COND_PRECONDITION_FAILED
	                          ? CACHET_COND_PRECONDITION_FAILED
	                          : CACHET_COND_NOT_MODIFIED));

	/* If-Match: * or our tag -> never 412, whatever If-Unmodified-Since says. */
	r = *req;
	list_set1(&r.if_match, "*");
	check(eval(&r, v) != CACHET_COND_PRECONDITION_FAILED);
	r = *req;
	memset(&r.if_match, 0, sizeof r.if_match);
	list_add(&r.if_match, dup_span(v->etag, v->etag_len));
	check(eval(&r, v) != CACHET_COND_PRECONDITION_FAILED);
	/* If-Match: W/<our tag> alone -> 412 (strong comparison). */
	r = *req;
	memset(&r.if_match, 0, sizeof r.if_match);
	list_add(&r.if_match, dup_span(wtag, v->etag_len + 2));
	check(eval(&r, v) == CACHET_COND_PRECONDITION_FAILED);

	/* A valid single If-Modified-Since alone. */
	r = *req;
	memset(&r.if_match, 0, sizeof r.if_match);
	memset(&r.if_none_match, 0, sizeof r.if_none_match);
	r.n_if_unmodified_since = 0;
	if (single_date(r.if_modified_since, r.n_if_modified_since, &t))
		check(eval(&r, v) ==
		      (v->last_modified <= t ? CACHET_COND_NOT_MODIFIED : CACHET_COND_PROCEED));
	else
		check(eval(&r, v) == CACHET_COND_PROCEED);
	/* A valid single If-Unmodified-Since alone. */
	r = *req;
	memset(&r.if_match, 0, sizeof r.if_match);
	memset(&r.if_none_match, 0, sizeof r.if_none_match);
	r.n_if_modified_since = 0;
	if (single_date(r.if_unmodified_since, r.n_if_unmodified_since, &t))
		check(eval(&r, v) == (v->last_modified > t ? CACHET_COND_PRECONDITION_FAILED
		                                           : CACHET_COND_PROCEED));
	else
		check(eval(&r, v) == CACHET_COND_PROCEED);
}

static struct cachet_span trim(struct cachet_span s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

static void fuzz_if_range(const struct cachet_request *req, const struct cachet_validators *v)
{
	struct cachet_request r = *req;
	bool ok = cachet_conditional_if_range(req, v);
	char date[CACHET_HTTPDATE_LEN];
	char wtag[CACHET_ETAG_MAX + 4];
	int64_t t;

	check(cachet_conditional_if_range(req, v) == ok);
	if (req->n_if_range == 0)
		check(ok);
	if (req->n_if_range > 1)
		check(!ok);
	if (ok && req->n_if_range == 1) {
		struct cachet_span s = trim(req->if_range);

		check((s.len == v->etag_len && memcmp(s.p, v->etag, s.len) == 0) ||
		      (cachet_httpdate_parse(s.p, s.len, &t) == 0 && t == v->last_modified));
	}

	r.n_if_range = 1;
	r.if_range = dup_span(v->etag, v->etag_len);
	check(cachet_conditional_if_range(&r, v));
	cachet_httpdate_format(v->last_modified, date);
	r.if_range = dup_span(date, sizeof date);
	check(cachet_conditional_if_range(&r, v));
	wtag[0] = 'W';
	wtag[1] = '/';
	memcpy(wtag + 2, v->etag, v->etag_len);
	r.if_range = dup_span(wtag, v->etag_len + 2);
	check(!cachet_conditional_if_range(&r, v));
	r.n_if_range = 2;
	r.if_range = dup_span(v->etag, v->etag_len);
	check(!cachet_conditional_if_range(&r, v));
}

/* ------------------------------------------------------------------------------------------ */

static const int64_t LAST_MODIFIED[] = {
    784111777,  /* Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example */
    1700000000, /* Tue, 14 Nov 2023 22:13:20 GMT */
    0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *end = in + size;
	const char *nl = memchr(in, '\n', size);
	const char *p;
	struct cachet_request req;
	struct cachet_validators v;
	char *etag;
	unsigned which = (unsigned)(size % 3);

	/* Line 0: the target, in a block of its own. */
	{
		size_t tlen = nl ? (size_t)(nl - in) : size;
		struct cachet_span t = dup_span(in, tlen);

		fuzz_path(t.p, t.len, 1 + (unsigned)(size % 97));
	}

	memset(&req, 0, sizeof req);
	unsigned lines = 0;

	for (p = nl ? nl + 1 : end; p < end && lines < MAX_LINES; lines++) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);

		if (n >= 1) {
			struct cachet_span s = dup_span(p + 1, n - 1);

			switch (p[0]) {
			case 'N':
				list_add(&req.if_none_match, s);
				break;
			case 'M':
				list_add(&req.if_match, s);
				break;
			case 'S':
				req.if_modified_since = s;
				req.n_if_modified_since++;
				break;
			case 'U':
				req.if_unmodified_since = s;
				req.n_if_unmodified_since++;
				break;
			case 'R':
				req.if_range = s;
				req.n_if_range++;
				break;
			case 'V':
				if (n >= 2 && p[1] >= '0' && p[1] <= '2')
					which = (unsigned)(p[1] - '0');
				break;
			default:
				break;
			}
		}
		p = e ? e + 1 : end;
	}

	etag = malloc(18);
	check(etag != NULL);
	memcpy(etag, "\"0123456789abcdef\"", 18);
	v.etag = etag;
	v.etag_len = 18;
	v.last_modified = LAST_MODIFIED[which];

	fuzz_conditional(&req, &v);
	fuzz_if_range(&req, &v);

	free(etag);
	free_values();
	return 0;
}
