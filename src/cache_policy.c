/* cache_policy.c - Cache-Control by file name: hashed (bundler output) or globbed -> immutable. */
#include "cachet/cache_policy.h"

#include <fnmatch.h>
#include <string.h>

/* Shortest run of hash characters taken for a hash: 8 hex digits are 32 bits. */
#define HASH_MIN 8

/* Where the last path segment of s[0..len) starts. */
static size_t last_segment(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && s[i - 1] != '/')
		i--;
	return i;
}

static bool is_hash_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_';
}

/* Whether s[0..len) looks like a hash: at least HASH_MIN characters from [0-9A-Za-z_] with a
 * digit, and either lowercase hex only (webpack, Parcel: 5d41402a) or with an uppercase letter
 * (Rollup/Vite base64 and esbuild base32: BkTa_3xQ, 5MHVZ4VQ). What that leaves out is named
 * for people: all digits is a date or build number (photo-20240101.jpg), and lowercase words
 * with digits are words (html5logo.svg, q3summary2024.pdf). Calling one of those immutable would
 * pin a changing file in caches for a year; a real hash left out only loses the long caching. */
static bool is_hash(const char *s, size_t len)
{
	bool digit = false, upper = false, alpha = false, non_hex = false;
	size_t i;

	if (len < HASH_MIN)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!is_hash_char(c))
			return false;
		if (c >= '0' && c <= '9') {
			digit = true;
		} else if (c >= 'A' && c <= 'Z') {
			upper = alpha = true;
		} else if (c >= 'a' && c <= 'z') {
			alpha = true;
			non_hex |= c > 'f';
		} else {
			non_hex = true; /* '_': base64url, not hex */
		}
	}
	return digit && alpha && (upper || !non_hex);
}

/* A '.'/'-' segment is a hash, or holds one after a '_' (font_ab12cd34): '_' is both a base64url
 * character and a name separator, so both readings are tried. */
static bool segment_has_hash(const char *s, size_t len)
{
	size_t part = 0, i;

	if (is_hash(s, len))
		return true;
	for (i = 0; i < len; i++) {
		if (s[i] != '_')
			continue;
		if (is_hash(s + part, i - part))
			return true;
		part = i + 1;
	}
	return part > 0 && is_hash(s + part, len - part); /* the part after the last '_' */
}

/* Length of name without its final extension (all of it when there is no '.'). */
static size_t without_extension(const char *name, size_t len)
{
	size_t i = len;

	while (i > 0 && name[i - 1] != '.')
		i--;
	return i > 0 ? i - 1 : len;
}

bool cachet_cache_policy_hashed_name(const char *name, size_t len)
{
	size_t start = last_segment(name, len), end, seg, i;

	name += start;
	end = without_extension(name, len - start);
	for (seg = 0, i = 0; i <= end; i++) {
		if (i < end && name[i] != '.' && name[i] != '-')
			continue;
		if (segment_has_hash(name + seg, i - seg))
			return true;
		seg = i + 1;
	}
	return false;
}

/*
 * Copies path into buf as a NUL-terminated string starting with '/', for fnmatch(3). False
 * when it does not fit or holds a NUL (a string fnmatch would see cut short).
 */
static bool to_cstr(char buf[CACHET_CACHE_POLICY_PATH_MAX], const char *path, size_t len)
{
	size_t slash = (len == 0 || path[0] != '/') ? 1 : 0;

	if (len + slash >= CACHET_CACHE_POLICY_PATH_MAX || memchr(path, '\0', len))
		return false;
	buf[0] = '/';
	memcpy(buf + slash, path, len);
	buf[slash + len] = '\0';
	return true;
}

static bool glob_matches(const char *const *globs, unsigned n, const char *path, size_t len)
{
	char buf[CACHET_CACHE_POLICY_PATH_MAX];
	const char *name;
	unsigned i;

	if (n == 0 || !to_cstr(buf, path, len))
		return false;
	name = strrchr(buf, '/') + 1;
	for (i = 0; i < n; i++) {
		const char *g = globs[i];

		if (g && fnmatch(g, strchr(g, '/') ? buf : name, 0) == 0)
			return true;
	}
	return false;
}

const char *cachet_cache_policy_for(const struct cachet_cache_policy *p, const char *path,
                                    size_t len)
{
	const char *dflt = p && p->default_value ? p->default_value : CACHET_CACHE_POLICY_DEFAULT;

	if (p && glob_matches(p->revalidate_globs, p->n_revalidate, path, len))
		return dflt;
	if (cachet_cache_policy_hashed_name(path, len) ||
	    (p && glob_matches(p->globs, p->n_globs, path, len)))
		return p && p->immutable_value ? p->immutable_value : CACHET_CACHE_POLICY_IMMUTABLE;
	return dflt;
}
