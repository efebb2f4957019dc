/* cache_policy.c - Cache-Control by file name: hashed (bundler output) or globbed -> immutable. */
#include "cachet/cache_policy.h"

#include <fnmatch.h>
#include <string.h>

#include "cachet/chars.h"

/*
 * The rule, certain evidence first (see cache_policy.h for the forms):
 *  1. an immutable directory of a framework (_app/immutable/, _astro/, _nuxt/, _next/static/);
 *  2. the exact forms bundlers write: NAME-<8 base64url> (Rollup/Vite, esbuild, Angular 17+),
 *     NAME.<hex> (webpack, CRA, Angular, Parcel, Hugo), NAME-<hex> / NAME_<hex> (Gatsby,
 *     Sprockets), <hex> alone (webpack chunk names).
 * A Vite hash may hold no digit ("lazy-aMrppxEQ.js") or look like the end of a name
 * ("Inter-SemiBold.woff2"): what tells them apart is that a hash is random and a name is made of
 * words, so the 8 characters are taken for words when every piece reads like one (word_like).
 */

#define BASE64URL_HASH_LEN 8 /* Rollup/Vite and esbuild: 8 characters */
#define HEX_HASH_MIN       8
#define HEX_HASH_MAX       64 /* a full SHA-256 (Hugo, Sprockets) */

/* Where the last path segment of s[0..len) starts. */
static size_t last_segment(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && s[i - 1] != '/')
		i--;
	return i;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_alpha(char c)
{
	return is_lower(c) || is_upper(c);
}

static bool is_base64url(char c)
{
	return is_alpha(c) || cachet_char_is_digit(c) || c == '-' || c == '_';
}

/* ---- 1. immutable directories ---- */

/* Directories whose every file is content-addressed by the framework that writes them. A path
 * matches when one of these occurs as whole segments in its directory part. */
static const char *const immutable_dirs[] = {
    "_app/immutable/", /* SvelteKit */
    "_astro/",         /* Astro */
    "_next/static/",   /* Next.js */
    "_nuxt/",          /* Nuxt 3 (but for _nuxt/builds/, below) */
};

static bool starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(s, prefix, n) == 0;
}

static bool in_immutable_dir(const char *path, size_t len)
{
	size_t dir = last_segment(path, len); /* path[0..dir) is the directory part */

	for (size_t i = 0; i < dir; i++) {
		if (i > 0 && path[i - 1] != '/')
			continue; /* only where a segment starts */
		for (size_t k = 0; k < sizeof(immutable_dirs) / sizeof(immutable_dirs[0]); k++) {
			if (!starts_with(path + i, dir - i, immutable_dirs[k]))
				continue;
			/* Nuxt's _nuxt/builds/latest.json names the current build: it changes with
			 * every deploy. Only builds/meta/<id>.json is per build. */
			if (starts_with(path + i, dir - i, "_nuxt/builds/") &&
			    !starts_with(path + i, dir - i, "_nuxt/builds/meta/"))
				continue;
			return true;
		}
	}
	return false;
}

/* ---- 2a. hexadecimal hashes ---- */

/* Whether s[0..n) is lowercase hex; *digits and *letters count its kinds. */
static bool lower_hex(const char *s, size_t n, size_t *digits, size_t *letters)
{
	*digits = *letters = 0;
	for (size_t i = 0; i < n; i++) {
		if (cachet_char_is_digit(s[i]))
			(*digits)++;
		else if (s[i] >= 'a' && s[i] <= 'f')
			(*letters)++;
		else
			return false;
	}
	return true;
}

/* YYYYMMDD from 1900 to 2099: a date, however much it looks like 8 hex digits. */
static bool is_date8(const char *s)
{
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[4] - '0') * 10 + (s[5] - '0');
	int d = (s[6] - '0') * 10 + (s[7] - '0');

	return y >= 1900 && y <= 2099 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/* A hex hash of HEX_HASH_MIN..HEX_HASH_MAX characters. It must mix digits and letters (all
 * digits is a number: a build id, a timestamp), except that Parcel's 8 may be all digits when
 * they are not a date (sep '.': "index.12345678.js"). */
static bool hex_hash(const char *s, size_t n, char sep)
{
	size_t digits, letters;

	if (n < HEX_HASH_MIN || n > HEX_HASH_MAX || !lower_hex(s, n, &digits, &letters))
		return false;
	if (digits > 0 && letters > 0)
		return true;
	return sep == '.' && n == 8 && letters == 0 && !is_date8(s);
}

/* ---- 2b. base64url hashes, and words ---- */

/* How much more often a letter appears in English than at random, as 4 ln(26 f): names are
 * made of words and score high; random letters average about -3 each. */
static const signed char letter_score[26] = {
    3, -4, -1, 0,   5, -2, -3, 2,  2,  -13, -6,  0,  -2,  /* a-m */
    2, 3,  -3, -15, 2, 2,  3,  -1, -5, -2,  -13, -3, -16, /* n-z */
};

static bool is_vowel(char c)
{
	c = (char)(c | 0x20);
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* A syllable-like run of letters (a hump of CamelCase, or a whole lowercase word): a vowel, no
 * more than 4 consonants or 2 vowels in a row. */
static bool pronounceable(const char *s, size_t n)
{
	size_t cons = 0, vows = 0;
	bool vowel = false;

	for (size_t i = 0; i < n; i++) {
		if (is_vowel(s[i])) {
			vowel = true;
			cons = 0;
			if (++vows > 2)
				return false;
		} else {
			vows = 0;
			if (++cons > 4)
				return false;
		}
	}
	return vowel;
}

/* Length of the CamelCase hump at s[0..n): "Semi" of "SemiBold", "XML" of "XMLHttp", "ab" of
 * "abCd". */
static size_t hump(const char *s, size_t n)
{
	size_t i = 1;

	if (is_upper(s[0]) && n > 1 && is_upper(s[1])) {
		while (i < n && is_upper(s[i]) && !(i + 1 < n && is_lower(s[i + 1])))
			i++;
		return i;
	}
	while (i < n && is_lower(s[i]))
		i++;
	return i;
}

/* Two-letter words of file names ("bg-dark", "SignUp", "MyPhoto", "logo-en"), any case. Random
 * two-letter runs are common in hashes, so only these pass. */
static const char short_words[] =
    "ai an as at be bg by de do en es fr go hd id in io is it ja js lg md me my no of ok on or "
    "pc pt px ru sd sm to tv ui up us ux we xl xs zh ";

static bool short_word(const char *s)
{
	for (const char *w = short_words; *w; w += 3)
		if ((s[0] | 0x20) == w[0] && (s[1] | 0x20) == w[1])
			return true;
	return false;
}

/* Whether the letters s[0..n) read as words: "SemiBold", "settings", "iPhone", "XMLHttp", "bg".
 * Random letters rarely do: CamelCase humps, each a short word or pronounceable, an acronym or a
 * single lowercase letter only in front ("XMLHttp", "iPhone"), and an English-like score. All
 * capitals count as words only with a high score: esbuild's base32 hashes are all capitals. */
static bool letters_word_like(const char *s, size_t n)
{
	int score = 0;
	size_t i = 0, humps = 0;
	bool caps = true;

	if (n == 1)
		return is_lower(s[0]); /* "a-b", "x" */
	if (n == 2)
		return short_word(s); /* "bg", "UI", "en" */
	while (i < n) {
		size_t h = hump(s + i, n - i);
		bool acronym = h > 1 && is_upper(s[i + 1]);

		caps &= acronym;
		if (acronym  ? i > 0 || (h > 3 && !pronounceable(s + i, h))
		    : h == 1 ? i > 0 || !is_lower(s[i])
		    : h == 2 ? !short_word(s + i)
		             : !pronounceable(s + i, h))
			return false;
		humps++;
		i += h;
	}
	for (i = 0; i < n; i++)
		score += letter_score[(s[i] | 0x20) - 'a'];
	return humps <= 3 && score >= (caps ? 10 : -4);
}

/* Digits in a name: a number, a version, a size or a model, with one run of digits: "2024",
 * "2x", "1080p", "4k", "1200x630", "v2", "x86", "Q3", "mp3", "ES2015", "RTX4090", "iPhone15". */
static bool number_word_like(const char *s, size_t n)
{
	size_t lead = 0, end, trail;

	while (lead < n && is_alpha(s[lead]))
		lead++;
	for (end = lead; end < n && cachet_char_is_digit(s[end]);)
		end++;
	trail = n - end;
	if (lead == 0 && trail > 1 && s[end] == 'x') { /* 1200x630 */
		size_t k = end + 1;

		while (k < n && cachet_char_is_digit(s[k]))
			k++;
		return k == n;
	}
	for (size_t k = end; k < n; k++)
		if (!is_lower(s[k]))
			return false; /* another run of digits, or capitals after the number */
	if (lead == 0)
		return trail <= 3;
	if (trail > 0)
		return false;
	if (lead == 1)
		return is_upper(s[0]) || strchr("vxhpr", s[0]);
	if (lead <= 3) {
		bool lower = true, upper = true;

		for (size_t k = 0; k < lead; k++) {
			lower &= is_lower(s[k]);
			upper &= is_upper(s[k]);
		}
		return lower || upper;
	}
	/* "Windows11", "iPhone15"; not capitals ("FERONOI4": esbuild's base32) */
	return !(is_upper(s[0]) && is_upper(s[lead - 1])) && letters_word_like(s, lead);
}

/* Whether a piece (between '-' and '_') of a candidate reads as part of a name. */
static bool piece_word_like(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cachet_char_is_digit(s[i]))
			return number_word_like(s, n);
	return n > 0 && letters_word_like(s, n); /* "--" or "-_": random, never in names */
}

/* Whether the 8 characters after a '-' are a Rollup/Vite (base64url) or esbuild (base32) hash
 * rather than the end of a name: not all digits, not a dimension ("1200x630"), and not made of
 * pieces that read as words. */
static bool base64url_hash(const char *s)
{
	size_t i, start = 0, digits = 0, pieces = 0;
	bool words = true;

	for (i = 0; i < BASE64URL_HASH_LEN; i++) {
		if (!is_base64url(s[i]))
			return false;
		digits += cachet_char_is_digit(s[i]);
	}
	if (digits == BASE64URL_HASH_LEN)
		return false;
	for (i = 0; i <= BASE64URL_HASH_LEN && words; i++) {
		if (i < BASE64URL_HASH_LEN && s[i] != '-' && s[i] != '_')
			continue;
		words = piece_word_like(s + start, i - start);
		start = i + 1;
		pieces++;
	}
	/* three pieces in 8 characters: a date ("2024-1-1") or random */
	return !words || (pieces > 2 && digits + pieces - 1 < BASE64URL_HASH_LEN);
}

/* ---- 2. the name ---- */

/* Suffixes a bundler puts after the hash: "main.<h>.chunk.js", "app.<h>.js.map", "a.<h>.min.css",
 * "main.<h>.bundle.js".
 */
static const char *const after_hash[] = {".js",    ".mjs", ".cjs",     ".css",    ".map",
                                         ".chunk", ".min", ".LICENSE", ".bundle", ".worker"};

/* Length of name[0..len) without its final extension, then without up to two of after_hash.
 * A name without '.' is all stem; one starting with '.' (".htaccess") has none. */
static size_t stem_length(const char *name, size_t len)
{
	size_t n = len;

	while (n > 0 && name[n - 1] != '.')
		n--;
	if (n == 0)
		return len;
	n--;
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(after_hash) / sizeof(after_hash[0]); i++) {
			size_t k = strlen(after_hash[i]);

			if (n > k && memcmp(name + n - k, after_hash[i], k) == 0) {
				n -= k;
				break;
			}
		}
	}
	return n;
}

static bool stem_hashed(const char *s, size_t n)
{
	size_t i = n;

	if (n >= BASE64URL_HASH_LEN + 2 && s[n - BASE64URL_HASH_LEN - 1] == '-' &&
	    base64url_hash(s + n - BASE64URL_HASH_LEN))
		return true;
	while (i > 0 && s[i - 1] != '.' && s[i - 1] != '-' && s[i - 1] != '_')
		i--;
	if (i == 0) /* the whole stem: "<hash>.js" */
		return hex_hash(s, n, '-');
	return i > 1 && hex_hash(s + i, n - i, s[i - 1]);
}

bool cachet_cache_policy_hashed_name(const char *path, size_t len)
{
	size_t start = last_segment(path, len);

	if (in_immutable_dir(path, len))
		return true;
	return stem_hashed(path + start, stem_length(path + start, len - start));
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

/* One glob against the path in buf ("/..."), name being its last segment: a glob without '/'
 * matches the name, one starting with '/' the whole path, one with '/' elsewhere the path
 * relative to ROOT ("vendor/x" is "/vendor/x"). */
static bool glob_match_cstr(const char *g, const char *buf, const char *name)
{
	if (!strchr(g, '/'))
		return fnmatch(g, name, 0) == 0;
	return fnmatch(g, g[0] == '/' ? buf : buf + 1, 0) == 0;
}

static bool glob_matches(const char *const *globs, unsigned n, const char *path, size_t len)
{
	char buf[CACHET_CACHE_POLICY_PATH_MAX];
	const char *name;
	unsigned i;

	if (n == 0 || !to_cstr(buf, path, len))
		return false;
	name = strrchr(buf, '/') + 1;
	for (i = 0; i < n; i++)
		if (globs[i] && glob_match_cstr(globs[i], buf, name))
			return true;
	return false;
}

bool cachet_cache_policy_glob_match(const char *glob, const char *path, size_t len)
{
	return glob_matches(&glob, 1, path, len);
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

const char *cachet_cache_policy_listed(const struct cachet_cache_policy *p, const char *path,
                                       size_t len)
{
	if (p && glob_matches(p->revalidate_globs, p->n_revalidate, path, len))
		return p->default_value ? p->default_value : CACHET_CACHE_POLICY_DEFAULT;
	return p && p->immutable_value ? p->immutable_value : CACHET_CACHE_POLICY_IMMUTABLE;
}
