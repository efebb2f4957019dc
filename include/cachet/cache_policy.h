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
};

/**
 * Whether a file name carries a content hash as bundlers emit it (webpack, Vite, esbuild,
 * Parcel), so that its URL changes with its content and it may be cached for good. Only the
 * last segment of name[0..len) is looked at (a full path may be passed).
 *
 * The name is cut at '.' and '-' into segments; the final extension (after the last '.') is
 * not one. The name is hashed when some segment has at least 8 characters, all of [0-9A-Za-z_],
 * at least one a digit. The stem counts like any segment, so "12345678.js" is hashed and
 * "abcdefgh.js" is not. Rules of thumb this gives: "app.5d41402a.js", "chunk-B2x9Kq1z.css",
 * "logo-1a2b3c4d.svg" yes; "jquery-3.7.1.min.js", "bootstrap.min.css", "application.js" no.
 * Known misses: a base64url hash holding a '-' is cut in two and may then be too short (the file
 * is then merely revalidated); a long number such as a date ("report-20240101.pdf") passes.
 */
bool cachet_cache_policy_hashed_name(const char *name, size_t len);

/**
 * The Cache-Control value for the file at the URL path path[0..len) (decoded, normally
 * starting with '/'; one lacking it is matched as if it had it). The immutable value when the
 * name is hashed (cachet_cache_policy_hashed_name) OR any glob matches: globs add to the hash
 * rule, they do not replace it, so naming a directory does not lose the bundler output. Otherwise
 * the default value. p == NULL means the defaults and no globs. The result is never NULL.
 */
const char *cachet_cache_policy_for(const struct cachet_cache_policy *p, const char *path,
                                    size_t len);

#endif
