/* manifest.h - bundler manifests (Vite's .vite/manifest.json, webpack/CRA's asset-manifest.json):
 * the files they name are content-hashed, whatever their names look like. Read at load. */
#ifndef CACHET_MANIFEST_H
#define CACHET_MANIFEST_H

#include <stddef.h>

#include "cachet/cache_policy.h"
#include "cachet/store.h"

/** Largest manifest read; a larger one is ignored (a real one is a few KiB per hundred files). */
#define CACHET_MANIFEST_MAX (16u << 20)
/** Deepest nesting of objects and arrays accepted; deeper is malformed for this purpose. */
#define CACHET_MANIFEST_DEPTH_MAX 32
/** Longest string kept as a path (decoded); a longer one is skipped. */
#define CACHET_MANIFEST_PATH_MAX 4096

/** Manifests looked for, relative to ROOT. */
#define CACHET_MANIFEST_FILES ".vite/manifest.json", "asset-manifest.json"

/** Called for each asset path; path is NUL-terminated, as written in the manifest (unescaped).
 *  Returns 0, or a negative value that stops the scan and is returned by it. */
typedef int cachet_manifest_fn(void *ctx, const char *path, size_t len);

/**
 * Scans the JSON document json[0..len) for asset paths: string values of a "file", "css" or
 * "assets" member (Vite: {"src/main.ts": {"file": "assets/index-X.js", "css": [...]}}), and every
 * string value under a "files" or "entrypoints" member (CRA: {"files": {"main.js":
 * "/static/js/main.X.js"}, "entrypoints": [...]}). Keys are never paths.
 *
 * Returns the number of paths reported, -EINVAL when the document is not well-formed JSON (or
 * nests deeper than CACHET_MANIFEST_DEPTH_MAX), or fn's negative value. fn may have been called
 * before a syntax error is found: callers collect first and use the paths only on success.
 */
int cachet_manifest_parse(const char *json, size_t len, cachet_manifest_fn *fn, void *ctx);

/**
 * Reads the manifests under root (CACHET_MANIFEST_FILES; absent ones are skipped, a malformed
 * one is ignored with one warning line on stderr) and gives every FILE entry of v[0..n) they name
 * the immutable Cache-Control of p, except HTML files and paths a revalidate glob of p matches.
 * Manifest paths are taken relative to ROOT ("assets/x.js", "/static/x.js", "./x.js").
 * Returns the number of entries changed, or -ENOMEM.
 */
int cachet_manifest_apply(const char *root, struct cachet_entry *v, size_t n,
                          const struct cachet_cache_policy *p);

#endif
