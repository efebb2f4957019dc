/* multipart.c - the framing of multipart/byteranges bodies. Not on the hot path (a request for
 * several ranges is rare), so plain memcpy and length checks; no printf all the same. */
#include "cachet/multipart.h"

#include "cachet/chars.h"

#include <string.h>

/* Longest content type a part header repeats; the mime table's are far shorter. */
#define TYPE_LEN_MAX 255

static const char type_prefix[] = "multipart/byteranges; boundary=";

/* Appends s[0..n) at *p if it fits before end; false (and nothing written) otherwise. */
static bool put(char **p, const char *end, const char *s, size_t n)
{
	if ((size_t)(end - *p) < n)
		return false;
	memcpy(*p, s, n);
	*p += n;
	return true;
}

bool cachet_multipart_plan(struct cachet_multipart *mp, const struct cachet_repr *rep,
                           const char *content_type, const struct cachet_range_set *set)
{
	static const char prefix[] = "cachet-";
	char tmp[CACHET_MULTIPART_PART_HEAD_MAX + TYPE_LEN_MAX];
	size_t n = sizeof(prefix) - 1;

	if (set->n < 2 || strlen(content_type) > TYPE_LEN_MAX)
		return false;
	mp->rep = rep;
	mp->content_type = content_type;
	mp->set = *set;
	memcpy(mp->boundary, prefix, n);
	for (size_t i = 0; i < rep->etag_len && n < CACHET_MULTIPART_BOUNDARY_MAX; i++) {
		if (cachet_char_is_alnum(rep->etag[i]))
			mp->boundary[n++] = rep->etag[i];
	}
	if (n == sizeof(prefix) - 1)
		return false;
	mp->boundary[n] = '\0';
	mp->boundary_len = (uint8_t)n;

	/* The length is what the writers below produce, so it cannot drift from them. */
	mp->body_len = cachet_multipart_close(mp, tmp, sizeof(tmp));
	for (unsigned i = 0; i < set->n; i++) {
		size_t head = cachet_multipart_part_head(mp, i, tmp, sizeof(tmp));
		if (head == 0)
			return false;
		mp->body_len += head + (set->last[i] - set->first[i] + 1);
	}
	return true;
}

size_t cachet_multipart_part_head(const struct cachet_multipart *mp, unsigned i, char *dst,
                                  size_t cap)
{
	char range[CACHET_RANGE_FORMAT_MAX];
	char *p = dst, *end = dst + cap;
	size_t range_len;

	if (i >= mp->set.n)
		return 0;
	range_len = cachet_range_format(range, sizeof(range), mp->set.first[i], mp->set.last[i],
	                                mp->rep->body_len);
	if (range_len == 0)
		return 0;
	if (!put(&p, end, "\r\n--", 4) || !put(&p, end, mp->boundary, mp->boundary_len) ||
	    !put(&p, end, "\r\nContent-Type: ", 16) ||
	    !put(&p, end, mp->content_type, strlen(mp->content_type)) ||
	    !put(&p, end, "\r\nContent-Range: ", 17) || !put(&p, end, range, range_len) ||
	    !put(&p, end, "\r\n\r\n", 4))
		return 0;
	return (size_t)(p - dst);
}

size_t cachet_multipart_close(const struct cachet_multipart *mp, char *dst, size_t cap)
{
	char *p = dst, *end = dst + cap;

	if (!put(&p, end, "\r\n--", 4) || !put(&p, end, mp->boundary, mp->boundary_len) ||
	    !put(&p, end, "--\r\n", 4))
		return 0;
	return (size_t)(p - dst);
}

size_t cachet_multipart_type(const struct cachet_multipart *mp, char *dst)
{
	memcpy(dst, type_prefix, sizeof(type_prefix) - 1);
	memcpy(dst + sizeof(type_prefix) - 1, mp->boundary, mp->boundary_len);
	return sizeof(type_prefix) - 1 + mp->boundary_len;
}
