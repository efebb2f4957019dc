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
 * special). A glob without '/' is matched against the last path segment ("*.woff2"), one with
 * '/' against the whole path, which starts with '/' ("/fonts/?*.woff2").
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
 * Whether a file name carries a content hash as bundlers emit it (webpack, Vite, esbuild,
 * Parcel), so that its URL changes with its content and it may be cached for good. Only the
 * last segment of name[0..len) is looked at (a full path may be passed).
 *
 * The name is cut at '.' and '-' into segments; the final extension (after the last '.') is
 * not one. The name is hashed when some segment, or some '_'-separated part of one, has at least
 * 8 characters, all of [0-9A-Za-z_], with at least one digit and at least one letter, and is
 * either lowercase hex or has an uppercase letter. The stem counts like any segment. Rules of
 * thumb this gives: "app.5d41402a.js", "chunk-B2x9Kq1z.css", "index-BkTa_3xQ.js",
 * "font_ab12cd34.woff2" yes; "jquery-3.7.1.min.js", "12345678.js", "photo-20240101.jpg",
 * "html5logo.svg" no. Known misses: a base64url hash holding a '-' is cut in two and may then be
 * too short, and a hex hash of digits only is not recognised (those files are merely
 * revalidated); a mixed-case word with a digit ("iPhone15Pro.png") passes, which is what
 * revalidate_globs are for.
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

#endif
