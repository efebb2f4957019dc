/* mime.c - file extension -> Content-Type, from a sorted static table searched by bisection. */
#include "cachet/mime.h"

#include <stdlib.h>
#include <string.h>

#define OCTET_STREAM "application/octet-stream"
#define UTF8         "; charset=utf-8"

/* Longest extension in the table ("webmanifest") plus room; longer ones are unknown anyway. */
#define EXT_MAX 16

struct mime_entry {
	const char *ext; /* lowercase */
	const char *type;
};

/* Sorted by ext (strcmp order) for bsearch. Text types carry the charset. */
static const struct mime_entry table[] = {
    {"apng", "image/apng"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"gif", "image/gif"},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/x-icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript" UTF8},
    {"json", "application/json" UTF8},
    {"map", "application/json" UTF8},
    {"md", "text/markdown" UTF8},
    {"mjs", "text/javascript" UTF8},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"ogg", "audio/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml" UTF8},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json" UTF8},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xml", "application/xml" UTF8},
    {"zip", "application/zip"},
};

static int cmp_entry(const void *key, const void *elem)
{
	const struct mime_entry *e = elem;

	return strcmp(key, e->ext);
}

/* The extension: after the last '.' of the last path segment. Returns its length, or 0. */
static size_t find_ext(const char *name, size_t len, const char **ext)
{
	size_t i = len;

	while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
		i--;
	if (i == 0 || name[i - 1] != '.')
		return 0;
	*ext = name + i;
	return len - i;
}

const char *cachet_mime_type(const char *name, size_t len)
{
	char key[EXT_MAX];
	const char *ext = NULL;
	const struct mime_entry *e;
	size_t n = find_ext(name, len, &ext);
	size_t i;

	if (n == 0 || n >= EXT_MAX)
		return OCTET_STREAM;
	for (i = 0; i < n; i++) {
		char c = ext[i];

		if (c == '\0') /* would cut the key short and match a shorter extension */
			return OCTET_STREAM;
		key[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	key[n] = '\0';
	e = bsearch(key, table, sizeof(table) / sizeof(table[0]), sizeof(table[0]), cmp_entry);
	return e ? e->type : OCTET_STREAM;
}

/* Types whose bytes are not already compressed, parameters stripped. */
static const char *const compressible[] = {
    "application/json",
    "application/manifest+json",
    "application/xml",
    "application/wasm",
    "application/javascript",
    "image/svg+xml",
    "image/x-icon",
    "image/bmp",
    "font/ttf",
    "font/otf",
};

bool cachet_mime_compressible(const char *type)
{
	size_t n = strcspn(type, ";");
	size_t i;

	if (n >= 5 && memcmp(type, "text/", 5) == 0)
		return true;
	for (i = 0; i < sizeof(compressible) / sizeof(compressible[0]); i++)
		if (strlen(compressible[i]) == n && memcmp(type, compressible[i], n) == 0)
			return true;
	return false;
}
