/* link_preload.h - --link-preload: the scripts and stylesheets an HTML file loads, found at load
 * time, announced in one Link field on its 200s (RFC 8288; CDNs turn it into 103 Early Hints). */
#ifndef CACHET_LINK_PRELOAD_H
#define CACHET_LINK_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "cachet/store.h"

/** Longest Link field value made; references past it are left out (document order is kept, so
 *  the first, usually the entry script and its styles, stay). */
#define CACHET_LINK_PRELOAD_MAX 1536
/** Most references looked at in one document. */
#define CACHET_LINK_PRELOAD_REFS_MAX 64

enum cachet_link_kind {
	CACHET_LINK_BASE,          /* <base href>: what relative references resolve against */
	CACHET_LINK_SCRIPT,        /* <script src> (classic) -> rel=preload; as=script */
	CACHET_LINK_MODULE,        /* <script type=module src>, <link rel=modulepreload> */
	CACHET_LINK_STYLE,         /* <link rel=stylesheet>, <link rel=preload as=style> */
	CACHET_LINK_FONT,          /* <link rel=preload as=font> */
	CACHET_LINK_PRELOAD_SCRIPT /* <link rel=preload as=script> */
};

/** One reference: url[0..url_len) as written in the attribute (entities not decoded). */
struct cachet_link_ref {
	enum cachet_link_kind kind;
	const char *url;
	size_t url_len;
	bool crossorigin;     /* the element has a crossorigin attribute (anonymous) */
	bool use_credentials; /* crossorigin=use-credentials */
};

/** Called for each reference in document order; a negative return stops the scan. */
typedef int cachet_link_fn(void *ctx, const struct cachet_link_ref *ref);

/**
 * Scans the HTML html[0..len) for <base href>, <script src> (no type, a JavaScript type or
 * "module"; not nomodule) and <link href> whose rel is stylesheet (not alternate, media absent or
 * "all"), modulepreload, or preload with as=script|style|font. Tag and attribute names are
 * case-insensitive; values double-quoted, single-quoted or bare; attributes in any order.
 * Comments, and the contents of <script>, <style>, <textarea> and <title>, are skipped. Reads
 * nothing outside html[0..len). Returns the number of references reported (base included) or
 * fn's negative value.
 */
int cachet_link_preload_scan(const char *html, size_t len, cachet_link_fn *fn, void *ctx);

/** Finds the file at store key path[0..len) (NUL-terminated): something that identifies it, or
 *  NULL when there is none. */
typedef const void *cachet_link_lookup_fn(void *ctx, const char *path, size_t len);

/**
 * Makes the Link field value for the HTML document html[0..len) served at store key doc_path:
 * each same-origin reference (an absolute path, or a relative one resolved against <base href>
 * or doc_path's directory; URLs with a scheme or a host are left out, and all relative ones when
 * <base> points elsewhere) whose path lookup finds, once per file, as "</path?query>;
 * rel=preload; as=style" and so on, joined with ", ", with "; crossorigin" where the element
 * had it (always for fonts). Writes it NUL-terminated into out (CACHET_LINK_PRELOAD_MAX + 1).
 * Returns its length (0: none).
 */
size_t cachet_link_preload_value(const char *html, size_t len, const char *doc_path,
                                 cachet_link_lookup_fn *lookup, void *ctx, char *out);

/**
 * At load: gives every HTML file entry of v[0..n) its "Link: ...\r\n" line (e->link, malloc'd,
 * freed with the entries), or none. Returns 0 or -ENOMEM.
 */
int cachet_link_preload_apply(struct cachet_entry *v, size_t n);

#endif
