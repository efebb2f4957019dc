/* manifest.c - reading bundler manifests at load: a bounded JSON scan that reports the asset
 * paths, and their application to the entries of a generation being built. */
#define _GNU_SOURCE
#include "cachet/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachet/chars.h"

/* ---- the JSON scan (RFC 8259), recursive to CACHET_MANIFEST_DEPTH_MAX levels ---- */

struct scan {
	const char *p, *end;
	unsigned depth;
	int count;
	cachet_manifest_fn *fn;
	void *ctx;
	char buf[CACHET_MANIFEST_PATH_MAX + 1]; /* the string being decoded */
	size_t len;
	bool keep; /* the decoded string fits and holds no escape beyond ASCII */
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int d = cachet_char_hex_value(p[i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void put(struct scan *s, char c)
{
	if (s->len < CACHET_MANIFEST_PATH_MAX && c != '\0')
		s->buf[s->len++] = c;
	else
		s->keep = false;
}

/* A string at s->p (the opening quote), decoded into s->buf when it fits. 0 or -EINVAL. */
static int string(struct scan *s)
{
	s->len = 0;
	s->keep = true;
	s->p++;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"') {
			s->buf[s->len] = '\0';
			return 0;
		}
		if (c < 0x20)
			return -EINVAL; /* control characters must be escaped */
		if (c != '\\') {
			put(s, (char)c);
			continue;
		}
		if (s->p >= s->end)
			return -EINVAL;
		char e = *s->p++;
		const char *plain = strchr("\"\\/bfnrt", e);
		if (e != '\0' && plain) {
			put(s, "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"]);
		} else if (e == 'u' && s->end - s->p >= 4 && hex4(s->p) >= 0) {
			int u = hex4(s->p);
			s->p += 4;
			if (u >= 0x80)
				s->keep =
				    false; /* bundlers write ASCII paths; this is no path of ours */
			else
				put(s, (char)u);
		} else {
			return -EINVAL;
		}
	}
	return -EINVAL;
}

/* true, false, null or a number: skipped (their exact grammar matters not here, only where they
 * end and that they are made of the characters they may hold). */
static int scalar(struct scan *s)
{
	static const char *const words[] = {"true", "false", "null"};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);
		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
			s->p += n;
			return 0;
		}
	}
	const char *start = s->p;
	while (s->p < s->end && strchr("+-.0123456789eE", *s->p) && *s->p != '\0')
		s->p++;
	return s->p > start ? 0 : -EINVAL;
}

static bool key_is(const char *key, const char *name)
{
	return key && strcmp(key, name) == 0;
}

static int value(struct scan *s, const char *key, bool under_files);

/* Whether the container ends here (with `close`, after whitespace), consuming it. */
static bool closes(struct scan *s, char close)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return true;
	}
	return false;
}

/* After a member or element: 1 for another (',' consumed), 0 at the end (`close` consumed),
 * -EINVAL for anything else. */
static int next(struct scan *s, char close)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		return 1;
	}
	return closes(s, close) ? 0 : -EINVAL;
}

/* The members of an object at s->p ('{'). */
static int object(struct scan *s, bool under_files)
{
	char key[32];
	s->p++;
	if (closes(s, '}'))
		return 0;
	for (;;) {
		skip_ws(s);
		if (s->p >= s->end || *s->p != '"' || string(s) < 0)
			return -EINVAL;
		/* only short keys mean anything here; a long one is kept as "" */
		size_t klen = s->keep && s->len < sizeof(key) ? s->len : 0;
		memcpy(key, s->buf, klen);
		key[klen] = '\0';
		skip_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -EINVAL;
		int rc = value(s, key,
		               under_files || key_is(key, "files") || key_is(key, "entrypoints"));
		if (rc < 0)
			return rc;
		if ((rc = next(s, '}')) <= 0)
			return rc;
	}
}

/* The elements of an array at s->p ('['); each is reported as the array itself would be. */
static int array(struct scan *s, const char *key, bool under_files)
{
	s->p++;
	if (closes(s, ']'))
		return 0;
	for (;;) {
		int rc = value(s, key, under_files);
		if (rc < 0)
			return rc;
		if ((rc = next(s, ']')) <= 0)
			return rc;
	}
}

/* One value; key is the member it belongs to (an array's elements share the array's). */
static int value(struct scan *s, const char *key, bool under_files)
{
	int rc;
	skip_ws(s);
	if (s->p >= s->end)
		return -EINVAL;
	switch (*s->p) {
	case '{':
	case '[':
		if (++s->depth > CACHET_MANIFEST_DEPTH_MAX)
			return -EINVAL;
		/* a Vite chunk's own members ("file" of an entry) are what we look for: the key of
		 * the container does not carry into an object */
		rc = *s->p == '{' ? object(s, under_files) : array(s, key, under_files);
		s->depth--;
		return rc;
	case '"':
		if ((rc = string(s)) < 0)
			return rc;
		if (s->keep && s->len > 0 &&
		    (under_files || key_is(key, "file") || key_is(key, "css") ||
		     key_is(key, "assets"))) {
			if (s->fn && (rc = s->fn(s->ctx, s->buf, s->len)) < 0)
				return rc;
			s->count++;
		}
		return 0;
	default:
		return scalar(s);
	}
}

int cachet_manifest_parse(const char *json, size_t len, cachet_manifest_fn *fn, void *ctx)
{
	struct scan *s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct scan){.p = json, .end = json + len, .fn = fn, .ctx = ctx};
	int rc = value(s, NULL, false);
	skip_ws(s);
	if (rc == 0 && s->p != s->end)
		rc = -EINVAL; /* something after the document */
	if (rc == 0)
		rc = s->count;
	free(s);
	return rc;
}

/* ---- applying them ---- */

struct paths {
	char **v;
	size_t n, cap;
};

/* Keeps a manifest path as a store key: "./" and a leading "/" dropped, then one "/" put in
 * front. URLs, "..", and paths with a query are no files of ROOT. */
static int collect(void *ctx, const char *path, size_t len)
{
	struct paths *ps = ctx;
	while (len >= 2 && path[0] == '.' && path[1] == '/') {
		path += 2;
		len -= 2;
	}
	while (len > 0 && path[0] == '/') {
		path++;
		len--;
	}
	if (len == 0 || strstr(path, "..") || strpbrk(path, "?#:"))
		return 0;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		char **v = realloc(ps->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	char *key = malloc(len + 2);
	if (!key)
		return -ENOMEM;
	key[0] = '/';
	memcpy(key + 1, path, len + 1);
	ps->v[ps->n++] = key;
	return 0;
}

static void paths_free(struct paths *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->v[i]);
	free(ps->v);
}

/* Reads root/rel whole into a malloc'd buffer. 0, -ENOENT when absent, or -errno. */
static int read_file(const char *root, const char *rel, char **out, size_t *len)
{
	char path[4096 + 64];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CACHET_MANIFEST_MAX) {
		close(fd);
		return -EFBIG;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (got != st.st_size) {
		free(buf);
		return buf ? -EIO : -ENOMEM;
	}
	*out = buf;
	*len = (size_t)got;
	return 0;
}

/* Adds the paths of one manifest to ps; a malformed or unreadable one adds none. */
static int read_manifest(const char *root, const char *rel, struct paths *ps)
{
	char *json = NULL;
	size_t len = 0, before = ps->n;
	int rc = read_file(root, rel, &json, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0) {
		rc = cachet_manifest_parse(json, len, collect, ps);
		free(json);
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		while (ps->n > before)
			free(ps->v[--ps->n]);
		fprintf(stderr, "cachet: warning: ignoring %s/%s: %s\n", root, rel,
		        rc == -EINVAL ? "not valid JSON" : strerror(-rc));
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_html(const char *path)
{
	const char *dot = strrchr(path, '.');
	return dot && (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0);
}

int cachet_manifest_apply(const char *root, struct cachet_entry *v, size_t n,
                          const struct cachet_cache_policy *p)
{
	static const char *const files[] = {CACHET_MANIFEST_FILES};
	struct paths ps = {0};
	int rc = 0, changed = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++)
		rc = read_manifest(root, files[i], &ps);
	if (rc == 0 && ps.n > 0) {
		qsort(ps.v, ps.n, sizeof(*ps.v), cmp_str);
		for (size_t i = 0; i < n; i++) {
			struct cachet_entry *e = &v[i];
			const char *key = e->path;
			if (e->kind != CACHET_ENTRY_FILE || is_html(e->path) ||
			    !bsearch(&key, ps.v, ps.n, sizeof(*ps.v), cmp_str))
				continue;
			e->cache_control = cachet_cache_policy_listed(p, e->path, e->path_len);
			changed++;
		}
	}
	paths_free(&ps);
	return rc < 0 ? rc : changed;
}
