/* fuzz_bundle.c - libFuzzer target for what is parsed at load from a bundle's own files: the
 * manifest JSON scan (cachet_manifest_parse), the HTML reference scan and Link value
 * (cachet_link_preload_scan, cachet_link_preload_value) and the hashed-name rule
 * (cachet_cache_policy_hashed_name).
 *
 * The input is copied into a heap block of exactly its length, so an over-read is caught.
 * Invariants: the manifest scan returns a count or -EINVAL, and every path it reports is
 * NUL-terminated at its length, non-empty, at most CACHET_MANIFEST_PATH_MAX; the HTML scan
 * reports URLs inside the input; the Link value is at most CACHET_LINK_PRELOAD_MAX bytes, holds
 * no CR, LF or NUL, and starts with '<' when not empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/cache_policy.h"
#include "cachet/link_preload.h"
#include "cachet/manifest.h"

static const char *input;
static size_t input_len;

static int on_path(void *ctx, const char *path, size_t len)
{
	(void)ctx;
	if (len == 0 || len > CACHET_MANIFEST_PATH_MAX || strlen(path) != len)
		abort();
	return 0;
}

static int on_ref(void *ctx, const struct cachet_link_ref *ref)
{
	(void)ctx;
	if (ref->url < input || ref->url + ref->url_len > input + input_len || ref->url_len == 0)
		abort();
	return 0;
}

/* Every path "exists", so that the Link value is as long as it can be. */
static const void *any(void *ctx, const char *path, size_t len)
{
	(void)ctx;
	(void)len;
	return path[1] == 'x' ? NULL : path; /* but "/x..." (the identity must differ per file) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	static char out[CACHET_LINK_PRELOAD_MAX + 1];
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	input = buf;
	input_len = size;
	int rc = cachet_manifest_parse(buf, size, on_path, NULL);
	if (rc < 0 && rc != -22)
		abort();
	rc = cachet_link_preload_scan(buf, size, on_ref, NULL);
	if (rc < 0)
		abort();
	size_t n = cachet_link_preload_value(buf, size, "/sub/index.html", any, NULL, out);
	if (n > CACHET_LINK_PRELOAD_MAX || strlen(out) != n || strpbrk(out, "\r\n") ||
	    (n && out[0] != '<'))
		abort();
	(void)cachet_cache_policy_hashed_name(buf, size);
	free(buf);
	return 0;
}
