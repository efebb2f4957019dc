/* link_preload.c - finding an HTML document's scripts and stylesheets at load time, for one Link
 * field (--link-preload). A tolerant tokenizer in the spirit of the HTML standard's, reduced to
 * what is needed here: tags, attributes, comments and raw-text elements. */
#define _GNU_SOURCE
#include "cachet/link_preload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/chars.h"
#include "cachet/path.h"
#include "cachet/span.h"

/* ---- the tokenizer ---- */

/* The attributes of one start tag that matter here; the first occurrence of each wins (as in
 * HTML, where a repeated attribute is ignored). */
struct attrs {
	struct cachet_span src, href, rel, type, as, media, crossorigin;
	bool has_crossorigin, nomodule;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* s without leading and trailing ASCII whitespace. */
static struct cachet_span trim(struct cachet_span s)
{
	while (s.len && is_space(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_space(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Whether the whitespace-separated token list s holds tok (case-insensitive). */
static bool has_token(struct cachet_span s, const char *tok)
{
	size_t i = 0;
	while (i < s.len) {
		while (i < s.len && is_space(s.p[i]))
			i++;
		size_t start = i;
		while (i < s.len && !is_space(s.p[i]))
			i++;
		if (i > start && cachet_span_ieq((struct cachet_span){s.p + start, i - start}, tok))
			return true;
	}
	return false;
}

/* Where needle (lowercase) starts in [p, end), case-insensitively, or NULL. */
static const char *find_nocase(const char *p, const char *end, const char *needle)
{
	for (; p < end; p++)
		if (cachet_span_iprefix((struct cachet_span){p, (size_t)(end - p)}, needle))
			return p;
	return NULL;
}

static void attr_set(struct attrs *a, struct cachet_span name, struct cachet_span value,
                     bool has_value)
{
	struct {
		const char *name;
		struct cachet_span *slot;
	} known[] = {{"src", &a->src},   {"href", &a->href}, {"rel", &a->rel},
	             {"type", &a->type}, {"as", &a->as},     {"media", &a->media}};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (cachet_span_ieq(name, known[i].name)) {
			if (!known[i].slot->p && has_value)
				*known[i].slot = value;
			return;
		}
	}
	if (cachet_span_ieq(name, "crossorigin") && !a->has_crossorigin) {
		a->has_crossorigin = true;
		a->crossorigin = has_value ? value : (struct cachet_span){"", 0};
	} else if (cachet_span_ieq(name, "nomodule")) {
		a->nomodule = true;
	}
}

/* Reads the attributes after a tag name at *pp up to and past the '>'. False when the document
 * ends first: HTML drops a tag cut short (eof-in-tag). */
static bool read_attrs(const char **pp, const char *end, struct attrs *a)
{
	const char *p = *pp;
	memset(a, 0, sizeof(*a));
	while (p < end) {
		while (p < end && (is_space(*p) || *p == '/'))
			p++;
		if (p >= end || *p == '>')
			break;
		const char *n0 = p;
		do /* an attribute name may start with '=' (HTML: unexpected-equals-sign) */
			p++;
		while (p < end && !is_space(*p) && *p != '/' && *p != '>' && *p != '=');
		struct cachet_span name = {n0, (size_t)(p - n0)}, value = {NULL, 0};
		while (p < end && is_space(*p))
			p++;
		bool has_value = p < end && *p == '=';
		if (has_value) {
			p++;
			while (p < end && is_space(*p))
				p++;
			if (p < end && (*p == '"' || *p == '\'')) {
				const char *close = memchr(p + 1, *p, (size_t)(end - p - 1));
				if (!close)
					close = end; /* unterminated: the value runs to the end */
				value = (struct cachet_span){p + 1, (size_t)(close - p - 1)};
				p = close < end ? close + 1 : end;
			} else {
				const char *v0 = p;
				while (p < end && !is_space(*p) && *p != '>')
					p++;
				value = (struct cachet_span){v0, (size_t)(p - v0)};
			}
		}
		attr_set(a, name, value, has_value);
	}
	*pp = p < end ? p + 1 : end;
	return p < end;
}

static int report(cachet_link_fn *fn, void *ctx, enum cachet_link_kind kind, struct cachet_span url,
                  const struct attrs *a, int *count)
{
	url = trim(url);
	if (!url.p || url.len == 0)
		return 0;
	struct cachet_link_ref ref = {.kind = kind, .url = url.p, .url_len = url.len};
	ref.crossorigin = a->has_crossorigin;
	ref.use_credentials =
	    a->has_crossorigin && cachet_span_ieq(trim(a->crossorigin), "use-credentials");
	(*count)++;
	return fn ? fn(ctx, &ref) : 0;
}

static bool javascript_type(struct cachet_span t)
{
	t = trim(t);
	if (t.len == 0)
		return true;
	return find_nocase(t.p, t.p + t.len, "javascript") ||
	       find_nocase(t.p, t.p + t.len, "ecmascript");
}

/* What one <script> or <link> start tag refers to. */
static int element(struct cachet_span tag, const struct attrs *a, cachet_link_fn *fn, void *ctx,
                   int *count)
{
	if (cachet_span_ieq(tag, "base"))
		return a->href.p ? report(fn, ctx, CACHET_LINK_BASE, a->href, a, count) : 0;
	if (cachet_span_ieq(tag, "script")) {
		if (!a->src.p || a->nomodule)
			return 0;
		if (cachet_span_ieq(trim(a->type), "module"))
			return report(fn, ctx, CACHET_LINK_MODULE, a->src, a, count);
		return javascript_type(a->type)
		           ? report(fn, ctx, CACHET_LINK_SCRIPT, a->src, a, count)
		           : 0;
	}
	if (!cachet_span_ieq(tag, "link") || !a->href.p)
		return 0;
	if (has_token(a->rel, "stylesheet") && !has_token(a->rel, "alternate") &&
	    (!a->media.p || cachet_span_ieq(trim(a->media), "all") || trim(a->media).len == 0))
		return report(fn, ctx, CACHET_LINK_STYLE, a->href, a, count);
	if (has_token(a->rel, "modulepreload"))
		return report(fn, ctx, CACHET_LINK_MODULE, a->href, a, count);
	if (has_token(a->rel, "preload")) {
		struct cachet_span as = trim(a->as);
		if (cachet_span_ieq(as, "style"))
			return report(fn, ctx, CACHET_LINK_STYLE, a->href, a, count);
		if (cachet_span_ieq(as, "script"))
			return report(fn, ctx, CACHET_LINK_PRELOAD_SCRIPT, a->href, a, count);
		if (cachet_span_ieq(as, "font"))
			return report(fn, ctx, CACHET_LINK_FONT, a->href, a, count);
	}
	return 0;
}

/* Past the end of a comment whose "<!" is just before p: at "-->" or "--!>" (HTML's tokenizer;
 * from p, so that "<!-->" and "<!--->" close at once), or the end of the document. */
static const char *comment_end(const char *p, const char *end)
{
	for (; (p = find_nocase(p, end, "--")) != NULL; p++) {
		if (end - p >= 3 && p[2] == '>')
			return p + 3;
		if (end - p >= 4 && p[2] == '!' && p[3] == '>')
			return p + 4;
	}
	return end;
}

/* Elements whose content is text, not markup: a "<link" inside them is no element. */
static const char *const raw_text[] = {"script", "style", "textarea", "title", "xmp", "noscript"};

int cachet_link_preload_scan(const char *html, size_t len, cachet_link_fn *fn, void *ctx)
{
	const char *p = html, *end = html + len;
	int count = 0;
	while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			p = comment_end(p + 2, end);
			continue;
		}
		if (end - p < 2 || !is_alpha(p[1])) {
			/* "</x>", "<!doctype>", "<?x>", a lone '<': markup without references */
			const char *gt =
			    (end - p >= 2 && (p[1] == '/' || p[1] == '!' || p[1] == '?'))
			        ? memchr(p, '>', (size_t)(end - p))
			        : p;
			p = gt ? gt + 1 : end;
			continue;
		}
		const char *n0 = ++p;
		while (p < end && !is_space(*p) && *p != '/' && *p != '>')
			p++;
		struct cachet_span tag = {n0, (size_t)(p - n0)};
		struct attrs a;
		if (!read_attrs(&p, end, &a))
			break;
		int rc = element(tag, &a, fn, ctx, &count);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < sizeof(raw_text) / sizeof(raw_text[0]); i++) {
			char close[16];
			if (!cachet_span_ieq(tag, raw_text[i]))
				continue;
			snprintf(close, sizeof(close), "</%s", raw_text[i]);
			const char *c = find_nocase(p, end, close);
			p = c ? c : end;
			break;
		}
	}
	return count;
}

/* ---- the Link value ---- */

struct collected {
	struct cachet_link_ref refs[CACHET_LINK_PRELOAD_REFS_MAX];
	size_t n;
	struct cachet_span base;
	bool have_base;
};

static int collect(void *ctx, const struct cachet_link_ref *ref)
{
	struct collected *c = ctx;
	if (ref->kind == CACHET_LINK_BASE) {
		if (!c->have_base) /* the first <base href> is the document's */
			c->base = (struct cachet_span){ref->url, ref->url_len};
		c->have_base = true;
	} else if (c->n < CACHET_LINK_PRELOAD_REFS_MAX) {
		c->refs[c->n++] = *ref;
	}
	return 0;
}

/* A character a URL in a Link field may hold as it is (RFC 3986 unreserved, reserved, '%'). */
static bool url_char(char c)
{
	return cachet_char_is_alnum(c) || (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c));
}

/* Copies url into out (cap bytes) with "&amp;" decoded. False when it does not fit or holds a
 * character no URL in a header may hold. */
static bool unescape(struct cachet_span url, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < url.len; i++) {
		char c = url.p[i];
		if (c == '&' && url.len - i >= 5 && memcmp(url.p + i, "&amp;", 5) == 0)
			i += 4;
		else if (!url_char(c))
			return false;
		if (n + 1 >= cap)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* Whether url has a scheme ("https:", "data:") or a host ("//cdn"): another origin, or none. */
static bool foreign(const char *url)
{
	if (url[0] == '/' && url[1] == '/')
		return true;
	size_t i = 0;
	while (is_alpha(url[i]) || (i > 0 && (cachet_char_is_digit(url[i]) || url[i] == '+' ||
	                                      url[i] == '-' || url[i] == '.')))
		i++;
	return i > 0 && url[i] == ':';
}

/* Resolves url (unescaped) against the directory dir ("/a/b/"), into out as an absolute path
 * with its query. False for another origin or a reference to the document itself. */
static bool resolve(const char *url, const char *dir, char *out, size_t cap)
{
	if (foreign(url) || url[0] == '#' || url[0] == '?' || url[0] == '\0')
		return false;
	size_t n = strlen(url), d = url[0] == '/' ? 0 : strlen(dir);
	if (d + n + 1 > cap)
		return false;
	memcpy(out, dir, d);
	memcpy(out + d, url, n + 1);
	char *hash = strchr(out, '#');
	if (hash)
		*hash = '\0';
	return true;
}

/* The directory part of a path, through its last '/'. */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) + 1 : 0;
	if (n == 0 || n >= cap) {
		memcpy(out, "/", 2);
		return;
	}
	memcpy(out, path, n);
	out[n] = '\0';
}

static const char *params(const struct cachet_link_ref *r)
{
	switch (r->kind) {
	case CACHET_LINK_MODULE:
		return "rel=modulepreload";
	case CACHET_LINK_STYLE:
		return "rel=preload; as=style";
	case CACHET_LINK_FONT:
		return "rel=preload; as=font"; /* fonts are fetched in CORS mode: crossorigin below
		                                */
	default:
		return "rel=preload; as=script";
	}
}

/* Appends one "<url>; params" to out (length *n) if it fits. */
static void append(char *out, size_t *n, const char *url, const struct cachet_link_ref *r)
{
	const char *co = r->use_credentials ? "; crossorigin=use-credentials"
	                 : r->crossorigin || r->kind == CACHET_LINK_FONT ? "; crossorigin"
	                                                                 : "";
	size_t need = (*n ? 2 : 0) + 1 + strlen(url) + 3 + strlen(params(r)) + strlen(co);
	if (*n + need > CACHET_LINK_PRELOAD_MAX)
		return;
	*n += (size_t)sprintf(out + *n, "%s<%s>; %s%s", *n ? ", " : "", url, params(r), co);
}

size_t cachet_link_preload_value(const char *html, size_t len, const char *doc_path,
                                 cachet_link_lookup_fn *lookup, void *ctx, char *out)
{
	struct collected c = {0};
	char dir[CACHET_PATH_MAX], url[CACHET_PATH_MAX], abs[CACHET_PATH_MAX], key[CACHET_PATH_MAX];
	const void *seen[CACHET_LINK_PRELOAD_REFS_MAX];
	size_t n = 0, n_seen = 0;
	out[0] = '\0';
	cachet_link_preload_scan(html, len, collect, &c);
	dir_of(doc_path, dir, sizeof(dir));
	if (c.have_base) {
		if (!unescape(trim(c.base), url, sizeof(url)) ||
		    !resolve(url, dir, abs, sizeof(abs)))
			return 0; /* a base elsewhere: every relative reference goes there too */
		abs[strcspn(abs, "?")] = '\0';
		dir_of(abs, dir, sizeof(dir));
	}
	for (size_t i = 0; i < c.n; i++) {
		const struct cachet_link_ref *r = &c.refs[i];
		if (!unescape((struct cachet_span){r->url, r->url_len}, url, sizeof(url)) ||
		    !resolve(url, dir, abs, sizeof(abs)))
			continue;
		int k = cachet_path_normalize(abs, strlen(abs), key, sizeof(key));
		const void *file = k > 0 ? lookup(ctx, key, (size_t)k) : NULL;
		bool dup = false;
		for (size_t j = 0; j < n_seen && !dup; j++)
			dup = seen[j] == file;
		if (!file || dup)
			continue;
		seen[n_seen++] = file;
		/* the URL as the browser will request it: made absolute, dot segments resolved, its
		 * query kept (a different query is a different URL to a cache). Percent-encoded
		 * paths are left as written: the key is decoded. */
		if (!strchr(abs, '%')) {
			const char *q = strchr(abs, '?');
			snprintf(url, sizeof(url), "%s%s", key, q ? q : "");
			append(out, &n, url, r);
		} else {
			append(out, &n, abs, r);
		}
	}
	return n;
}

/* ---- applied at load ---- */

struct sorted {
	const char **paths;
	size_t n;
};

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const void *sorted_find(void *ctx, const char *path, size_t len)
{
	const struct sorted *s = ctx;
	(void)len; /* path is NUL-terminated */
	return bsearch(&path, s->paths, s->n, sizeof(*s->paths), cmp_path);
}

int cachet_link_preload_apply(struct cachet_entry *v, size_t n)
{
	struct sorted s = {.paths = malloc((n ? n : 1) * sizeof(char *))};
	char value[CACHET_LINK_PRELOAD_MAX + 1];
	if (!s.paths)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == CACHET_ENTRY_FILE)
			s.paths[s.n++] = v[i].path;
	qsort(s.paths, s.n, sizeof(*s.paths), cmp_path);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cachet_entry *e = &v[i];
		if (e->kind != CACHET_ENTRY_FILE || strncmp(e->content_type, "text/html", 9) != 0)
			continue;
		size_t len = cachet_link_preload_value((const char *)e->blob->data, e->blob->len,
		                                       e->path, sorted_find, &s, value);
		if (len == 0)
			continue;
		e->link = malloc(len + sizeof("Link: \r\n"));
		if (!e->link)
			rc = -ENOMEM;
		else
			sprintf(e->link, "Link: %s\r\n", value);
	}
	free(s.paths);
	return rc;
}
