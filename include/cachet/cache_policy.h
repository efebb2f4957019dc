/* cache_policy.h - the Cache-Control value a static file is served with. A pure module. */
#ifndef CACHET_CACHE_POLICY_H
#define CACHET_CACHE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/** For files whose URL changes whenever their content does: cache for a year, never revalidate. */
#define CACHET_CACHE_POLICY_IMMUTABLE "public, max-age=31536000, immutable"
/** For everything else: caches may store it but must revalidate (cheap, thanks to the ETag). */
#define CACHET_CACHE_POLICY_DEFAULT "no-cache"

/** Longest path the globs are matched against; a longer one matches no glob. */
#define CACHET_CACHE_POLICY_PATH_MAX 4096

/**
 * Which files are immutable. A NULL value stands for the matching CACHET_CACHE_POLICY_* default;
 * globs[0..n_globs) are fnmatch(3) patterns (flags 0: '*' also crosses '/', a leading '.' is not
 * special). A glob without '/' is matched against the last path segment ("*.woff2"), one
 * starting with '/' against the whole path, which starts with '/' ("/fonts/?*.woff2"), and one
 * with a '/' elsewhere against the path relative to ROOT ("fonts/?*.woff2" is the same glob).
 */
struct cachet_cache_policy {
	const char *immutable_value;
	const char *default_value;
	const char **globs;
	unsigned n_globs;
	/* Same form; a path matching one gets the default value whatever its name or the globs
	 * above say (--cache-revalidate: the way out of a name the hash rule misreads). */
	const char **revalidate_globs;
	unsigned n_revalidate;
};

/**
 * Whether the file at path[0..len) (a URL path, or a bare name) is content-addressed as the
 * bundlers write their output, so that its URL changes with its content and it may be cached for
 * good. What is certain comes first:
 *  1. a framework's immutable directory anywhere in the directory part: `_app/immutable/`
 *     (SvelteKit), `_astro/` (Astro), `_nuxt/` (Nuxt 3; not `_nuxt/builds/` but for
 *     `_nuxt/builds/meta/`), `_next/static/` (Next.js);
 *  2. the name's stem (the name without its extension and without up to two of `.js .mjs .cjs
 *     .css .map .chunk .min .LICENSE .bundle .worker` after the hash, so `main.<h>.chunk.js`,
 * `a-<h>.js.map`):
 *     - ends in `-` + 8 base64url characters (`[A-Za-z0-9_-]`: Rollup/Vite; esbuild and
 *       Angular 17+ use 8 of uppercase base32, a subset), unless those 8 read as the end of
 *       a name: all digits, a dimension (`1200x630`), or pieces (between `-`/`_`) that are each
 *       words (CamelCase humps that are pronounceable and score as English letters, two-letter
 *       words from a short list, capitals only with a high score) or numbers with one run of
 *       digits (`v2`, `1080p`, `iPhone15`, `2024`);
 *     - ends in `.`, `-` or `_` + 8 to 64 lowercase hex digits mixing digits and letters
 *       (webpack/CRA 8/16/20/32, Angular 16, Parcel 8, Gatsby `-`20, Hugo 64); after a `.`,
 *       8 digits alone count (Parcel) unless they are a date (YYYYMMDD, 1900-2099);
 *     - is such a hex run alone (`<contenthash>.js`).
 * Over names generated as each bundler writes them, at least 99.6% are recognised (see
 * tests/test_cache_policy.c, which prints the rate per bundler); over a fixture of several
 * hundred ordinary names (font weights "Inter-SemiBold.woff2", camera names "DSC00123.JPG",
 * dates, versions "jquery-3.7.1.min.js", dimensions "hero-1920x1080.jpg", products
 * "iPhone15Pro.png"), none. A random Vite hash that reads as words ("Overview") is missed: the
 * file is then merely revalidated. Files a bundler manifest names are recognised whatever their
 * name (manifest.h); --cache-immutable and --cache-revalidate cover any other scheme.
 */
bool cachet_cache_policy_hashed_name(const char *name, size_t len);

/**
 * The Cache-Control value for the file at the URL path path[0..len) (decoded, normally
 * starting with '/'; one lacking it is matched as if it had it). The default value when a
 * revalidate glob matches; else the immutable value when the name is hashed
 * (cachet_cache_policy_hashed_name) OR any glob matches: globs add to the hash rule, they do not
 * replace it, so naming a directory does not lose the bundler output. Otherwise the default. p ==
 * NULL means the defaults and no globs. The result is never NULL.
 */
const char *cachet_cache_policy_for(const struct cachet_cache_policy *p, const char *path,
                                    size_t len);

/** Whether one glob (of the forms above) matches path[0..len). At load, to warn about globs
 *  that match no file. */
bool cachet_cache_policy_glob_match(const char *glob, const char *path, size_t len);

/**
 * The Cache-Control value for a file a bundler manifest names (manifest.h): the immutable value,
 * unless a revalidate glob matches path[0..len). Never NULL.
 */
const char *cachet_cache_policy_listed(const struct cachet_cache_policy *p, const char *path,
                                       size_t len);

#endif
